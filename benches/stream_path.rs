//! Criterion benchmark of a streamed answer's CPU path without sockets: `Tap::burst`, what the
//! gateway runs on every burst of a passthrough stream (splitting events, SSE decoding,
//! reading each event for usage and redaction, hiding the usage chunk the client did not ask
//! for, and rebuilding the burst). The answer is the mock provider's own: 100 OpenAI content
//! deltas, as the load test's stream scenario gets them, in bursts of 13 events (what one
//! read returned there, about 8 per answer). Goal: well under the 60 µs per answer the
//! profile gave `Tap::burst` in `load-tests/RESULTS.md` (session 6).
//!
//! cargo bench --bench stream_path -- --warm-up-time 1 --measurement-time 3

mod common;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;
use tollgate::mock_provider::answers::{chat_stream_events, parse_chat};
use tollgate::proxy::body::{Burst, Tap};
use tollgate::redact::{CompiledPolicy, Placeholders, SseRedactor};
use tollgate::translate::ApiFormat;
use tollgate::usage::StreamUsage;

/// The load test's policy (`load-tests/run.sh`), response side.
const CONFIG: &str = r"
policies:
  default:
    request:  { email: placeholder, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: off, secret: block }
    response: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: off, secret: mask }
";

/// Events per burst: the load test's 102 events arrived in about 8 reads.
const EVENTS_PER_BURST: usize = 13;

fn policy() -> Arc<CompiledPolicy> {
    common::default_policy(CONFIG)
}

/// The mock's answer to the load test's stream request, with the usage chunk the gateway asks
/// for, cut into bursts.
fn bursts() -> Vec<Bytes> {
    let body = br#"{"model":"mock-1","stream":true,"stream_options":{"include_usage":true},
        "messages":[{"role":"user","content":"Say hello to the load test"}]}"#;
    let ask = match parse_chat(body) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench request: {e}");
            std::process::exit(1);
        }
    };
    chat_stream_events(&ask, 100, 1, 1_700_000_000)
        .chunks(EVENTS_PER_BURST)
        .map(|events| Bytes::from(events.concat()))
        .collect()
}

/// One whole answer through a fresh `Tap`; the bytes the client would get.
fn answer(bursts: &[Bytes], redactor: Option<SseRedactor>) -> usize {
    let mut tap = Tap::new(true, redactor);
    let mut usage = StreamUsage::new(ApiFormat::OpenAi);
    let mut sent = 0;
    for (i, data) in bursts.iter().enumerate() {
        let burst = Burst {
            data: Some(data.clone()),
            end: i + 1 == bursts.len(),
            error: None,
        };
        match tap.burst(black_box(&burst), Some(&mut usage)) {
            Ok(out) => sent += out.map_or(0, |b| b.len()),
            Err(e) => {
                eprintln!("bench answer: {e}");
                std::process::exit(1);
            }
        }
    }
    sent
}

fn bench(c: &mut Criterion) {
    let p = policy();
    let bursts = bursts();
    let span = p.max_span_chars();
    let mut group = c.benchmark_group("stream_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tap_100_events/usage_and_redaction", |b| {
        b.iter(|| {
            let redactor = SseRedactor::new(
                ApiFormat::OpenAi,
                Arc::clone(&p),
                Placeholders::default(),
                span,
            );
            answer(&bursts, Some(redactor))
        })
    });
    group.bench_function("tap_100_events/usage_only", |b| {
        b.iter(|| answer(&bursts, None))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
