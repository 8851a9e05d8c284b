//! The whole per-request CPU path without sockets: what one non-streamed chat request costs
//! the gateway with every feature on (key lookup, parsing, the guardrail, request redaction,
//! the cache key, the prompt estimate, limits and budget admission, the upstream body, the
//! answer's usage and redaction, pricing, settlement, the audit record), next to the bare path
//! (key lookup, parsing, the upstream body). The difference is what the features add per
//! request; the load test measures the rest (sockets, Pingora, the kernel).
//!
//! cargo bench --bench request_path -- --warm-up-time 1 --measurement-time 3

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::collections::HashMap;
use tollgate::audit::Record;
use tollgate::limits::Rules;
use tollgate::proxy::admission::{parse, resolve_model};
use tollgate::proxy::Route;
use tollgate::redact::{Counts, Placeholders};
use tollgate::snapshot::Snapshot;
use tollgate::state::memory::Memory;
use tollgate::state::{usd_to_nanos, Ask, Backend, Outcome};
use tollgate::translate::ApiFormat;

const CONFIG: &str = r#"
providers:
  - { name: p, type: openai_compatible, base_url: "http://127.0.0.1:9/v1", api_key: sk-bench }
models:
  - name: m
    targets: [{ provider: p, model: gpt-4o-mini }]
keys:
  - { name: bench, team: t, key: tg-bench-key, limits: { rpm: 100000000, tpm: 1000000000, max_concurrent: 100000 }, budget: { usd: 1000000000, period: monthly } }
teams:
  - { name: t, limits: { rpm: 100000000 } }
redaction:
  default_policy: default
  policies:
    default:
      request:  { email: placeholder, phone: mask, credit_card: mask, ssn: mask, iban: mask, secret: block }
      response: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, secret: mask }
guardrails:
  prompt_injection: { action: block }
cache: {}
"#;

const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! Your order ships tomorrow; we will write to [EMAIL_1] with the tracking number.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":19,"total_tokens":50}}"#;

fn request() -> Bytes {
    Bytes::from(
        serde_json::json!({
            "model": "m",
            "messages": [
                { "role": "system", "content": "You are the support assistant of a shop." },
                { "role": "user", "content": "Where is my order 81723? Write to jane.doe@example.com please." }
            ]
        })
        .to_string(),
    )
}

fn bench(c: &mut Criterion) {
    let Ok(loaded) = tollgate::config::load_str(CONFIG, &|_| None) else {
        return;
    };
    let Ok(snapshot) = Snapshot::compile(&loaded.config, &HashMap::new()) else {
        return;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let memory = Memory::new(1000);
    let raw = request();
    c.bench_function("request_path/bare", |b| {
        b.iter(|| {
            let key = snapshot.keys.lookup(black_box("tg-bench-key"));
            let parsed = parse(Route::ChatCompletions, raw.clone()).ok();
            black_box((key, parsed.map(|p| p.body_for("gpt-4o-mini"))))
        })
    });
    let mut n = 0u64;
    if all_features(&snapshot, &memory, &rt, &raw, 0).is_none() {
        eprintln!("request_path: a step of the all-features path did not run; not measured");
        return;
    }
    c.bench_function("request_path/all_features", |b| {
        b.iter(|| {
            n += 1;
            all_features(&snapshot, &memory, &rt, &raw, n)
        })
    });
}

/// One request through every feature; `None` if a step did not run as configured.
fn all_features(
    snapshot: &Snapshot,
    memory: &Memory,
    rt: &tokio::runtime::Runtime,
    raw: &Bytes,
    n: u64,
) -> Option<()> {
    let key = snapshot.keys.lookup(black_box("tg-bench-key"))?;
    let Ok(mut parsed) = parse(Route::ChatCompletions, raw.clone()) else {
        return None;
    };
    let Ok(model) = resolve_model(snapshot, &key, &parsed.model) else {
        return None;
    };
    if let Some((guard, _)) = &snapshot.injection_guard {
        black_box(guard.check_request(ApiFormat::OpenAi, &parsed.json));
    }
    let digest =
        tollgate::cache::key::cache_key(&key.name, ApiFormat::OpenAi, "m", None, &parsed.json);
    let (mut placeholders, mut counts) = (Placeholders::default(), Counts::default());
    let policy = key.redaction.clone()?;
    if let Ok(true) = tollgate::redact::redact_request(
        &policy,
        ApiFormat::OpenAi,
        &mut parsed.json,
        &mut placeholders,
        &mut counts,
    ) {
        parsed.raw = Bytes::from(serde_json::to_vec(&parsed.json).unwrap_or_default());
    }
    let estimate = tollgate::usage::estimate_prompt(ApiFormat::OpenAi, "gpt-4o-mini", &parsed.json);
    let scopes: Vec<_> = ["key:bench", "team:t"]
        .iter()
        .filter_map(|id| snapshot.scopes.get(*id))
        .map(|r: &std::sync::Arc<Rules>| r.ask(1_795_336_200))
        .collect();
    let ask = Ask {
        request_id: format!("tg-bench-{n}"),
        tokens: estimate,
        cost_nanos: tollgate::limits::worst_case_nanos(model.worst_price, estimate, 4096),
        scopes,
    };
    rt.block_on(async { black_box(memory.admit(&ask).await.ok()) });
    black_box(parsed.body_for("gpt-4o-mini").ok());
    // The answer: usage, redaction with the placeholders restored, re-encoding.
    let usage = tollgate::usage::from_answer(ApiFormat::OpenAi, ANSWER.as_bytes());
    if let Ok(mut answer) = serde_json::from_str::<serde_json::Value>(ANSWER) {
        if let Ok(true) = tollgate::redact::redact_answer(
            ApiFormat::OpenAi,
            &policy,
            &mut answer,
            &placeholders,
            &mut counts,
        ) {
            black_box(serde_json::to_vec(&answer).ok());
        }
    }
    let usage = usage.unwrap_or_default();
    let cost = model.worst_price.map_or(0.0, |p| p.cost(&usage));
    let outcome = Outcome {
        tokens: usage.input + usage.output,
        cost_nanos: usd_to_nanos(cost),
        input_tokens: usage.input,
        cached_input_tokens: usage.cached_input,
        output_tokens: usage.output,
        counted: true,
    };
    rt.block_on(async { black_box(memory.settle(&ask, &outcome).await.ok()) });
    let record = Record {
        ts: tollgate::state::period::rfc3339_ms(1_795_336_200_000),
        request_id: ask.request_id.clone(),
        key: Some(key.name.clone()),
        team: key.team.clone(),
        route: "chat_completions",
        model: Some("m".into()),
        provider: Some("p".into()),
        upstream_model: Some("gpt-4o-mini".into()),
        status: 200,
        attempts: 1,
        input_tokens: usage.input,
        output_tokens: usage.output,
        token_source: Some("provider"),
        cost_usd: cost,
        cache: Some("miss"),
        redactions: counts.by_entity(),
        ..Record::default()
    };
    black_box((digest, serde_json::to_vec(&record).ok()));
    Some(())
}

criterion_group!(benches, bench);
criterion_main!(benches);
