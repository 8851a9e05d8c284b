//! Criterion benchmarks of what limits, budgets and the cache add to a request on the memory
//! backend: building a request's ask from its key's and team's rules, admitting it and
//! settling it (rpm, tpm and a budget on both scopes), settling a request whose scopes have no
//! limits (usage only), and the cache key of a typical chat request.
//!
//! cargo bench --bench limits -- --warm-up-time 1 --measurement-time 3

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tollgate::cache::key::cache_key;
use tollgate::config::{BudgetConfig, LimitsConfig, Period};
use tollgate::limits::Rules;
use tollgate::state::memory::Memory;
use tollgate::state::{Ask, Backend, Outcome};
use tollgate::translate::ApiFormat;

const NOW: u64 = 1_795_336_200;

fn limited(id: &str) -> Rules {
    Rules::new(
        id.into(),
        Some(LimitsConfig {
            rpm: Some(u64::MAX / 120),
            tpm: Some(u64::MAX / 120),
            max_concurrent: Some(1000),
            window_s: Some(1),
        }),
        Some(BudgetConfig {
            usd: 1e9,
            period: Period::Daily,
        }),
    )
}

fn outcome() -> Outcome {
    Outcome {
        tokens: 120,
        cost_nanos: 3000,
        input_tokens: 100,
        cached_input_tokens: 0,
        output_tokens: 20,
        counted: true,
    }
}

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let memory = Memory::new(1000);
    let rules = [limited("key:bench"), limited("team:bench")];
    let mut n = 0u64;
    c.bench_function("limits/admit_and_settle_key_and_team", |b| {
        b.iter(|| {
            n += 1;
            let ask = Ask {
                request_id: format!("r{n}"),
                tokens: 100,
                cost_nanos: 5000,
                scopes: rules.iter().map(|r| r.ask(NOW)).collect(),
            };
            rt.block_on(async {
                black_box(memory.admit(&ask).await.ok());
                black_box(memory.settle(&ask, &outcome()).await.ok());
            })
        })
    });
    let plain = [
        Rules::new("key:plain".into(), None, None),
        Rules::new("team:plain".into(), None, None),
    ];
    c.bench_function("limits/usage_only_settle", |b| {
        b.iter(|| {
            let ask = Ask {
                request_id: "u".into(),
                tokens: 0,
                cost_nanos: 0,
                scopes: plain.iter().map(|r| r.ask(NOW)).collect(),
            };
            rt.block_on(async { black_box(memory.settle(&ask, &outcome()).await.ok()) })
        })
    });
    let body = serde_json::json!({
        "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 256, "stream": true,
        "messages": [
            { "role": "system", "content": "You are a helpful assistant for a support team. ".repeat(4) },
            { "role": "user", "content": "How do I reset my password? I tried the link in the email and it expired. ".repeat(8) }
        ]
    });
    c.bench_function("cache/key_of_a_1kb_chat_request", |b| {
        b.iter(|| {
            black_box(cache_key(
                "support-bot",
                ApiFormat::OpenAi,
                "gpt-4o-mini",
                None,
                &body,
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
