//! Criterion benchmarks of the pieces every request runs through before the provider is
//! called: key lookup, body parsing and validation, and the upstream body for a renamed
//! model. Run with `cargo bench --bench hot_path`; later capabilities add their pieces here.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tollgate::auth::{digest, KeyIndex, VirtualKey};
use tollgate::proxy::admission::parse;
use tollgate::proxy::Route;

fn body(prompt_bytes: usize) -> Bytes {
    let prompt = "lorem ipsum ".repeat(prompt_bytes / 12 + 1);
    let v = serde_json::json!({
        "model": "demo",
        "stream": true,
        "messages": [
            { "role": "system", "content": "You are helpful." },
            { "role": "user", "content": prompt }
        ]
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

fn key_lookup(c: &mut Criterion) {
    let mut idx = KeyIndex::default();
    for i in 0..10_000 {
        let key = VirtualKey {
            name: format!("k{i}"),
            team: None,
            models: None,
            redaction: None,
        };
        idx.insert(digest(&format!("tg-key-{i}")), key);
    }
    c.bench_function("key_lookup_10k_keys", |b| {
        b.iter(|| idx.lookup(black_box("tg-key-4242")))
    });
}

fn parse_requests(c: &mut Criterion) {
    for (name, size) in [("parse_small_prompt", 200), ("parse_32k_prompt", 32 * 1024)] {
        let raw = body(size);
        c.bench_function(name, |b| {
            b.iter(|| parse(Route::ChatCompletions, black_box(raw.clone())))
        });
    }
    let parsed = parse(Route::ChatCompletions, body(32 * 1024));
    if let Ok(parsed) = parsed {
        c.bench_function("upstream_body_renamed_model_32k", |b| {
            b.iter(|| parsed.body_for(black_box("gpt-4o")))
        });
    }
}

criterion_group!(benches, key_lookup, parse_requests);
criterion_main!(benches);
