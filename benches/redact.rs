//! Criterion benchmarks of redaction: a 32 KB prompt with a few matches, with many and with none
//! (`CompiledPolicy::redact`, and `redact_request` on a whole OpenAI body), and a streamed
//! answer per event (`SseRedactor::on_event` on OpenAI chunks of 20-byte deltas, the same
//! events 16 at a time through `SseRedactor::on_burst` as the gateway feeds them, and
//! `StreamRedactor::push` on the bare deltas), and the prompt-injection guardrail on the
//! 32 KB prompt. Goals: a 32 KB prompt in well under a
//! millisecond; a streamed event in a few microseconds.
//!
//! cargo bench --bench redact -- --warm-up-time 1 --measurement-time 3

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;
use tollgate::redact::{
    redact_request, CompiledPolicy, Counts, Direction, InjectionGuard, Placeholders, SseRedactor,
    StreamRedactor,
};
use tollgate::sse::SseEvent;
use tollgate::translate::ApiFormat;

const CONFIG: &str = r"
policies:
  default:
    request:  { email: placeholder, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: mask, secret: block }
    response: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: mask, secret: mask }
    custom:
      - { name: employee_id, pattern: 'EMP-\d{6}', action: mask, direction: both }
    deny_words: { words: [project-zeus], action: block }
";

const ENGLISH: &str = "The gateway forwards each request to the provider that serves the model, \
counts the tokens of the answer, and charges the key that asked. When the provider reports \
usage, that count is the truth; when it does not, the gateway estimates it with the same \
tokenizer the model uses. Streams arrive as server-sent events, a few words at a time, and \
every event passes through the decoder before it reaches the client. Prices change a few \
times a year (see section 4.2, revision 2024-05), so the table is dated and can be overridden. ";

fn policy() -> Arc<CompiledPolicy> {
    common::default_policy(CONFIG)
}

/// How many matches a prompt holds.
#[derive(Clone, Copy, PartialEq)]
enum Matches {
    None,
    /// Three emails and phone numbers, and a card.
    Few,
    /// An email and a phone number in every paragraph (about 50 of each), and a card: the
    /// load test's `big` prompt.
    Dense,
}

/// About 32 KB of prose, with `matches`.
fn prompt(matches: Matches) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < 32 * 1024 {
        s.push_str(ENGLISH);
        if matches == Matches::Dense || (matches == Matches::Few && i % 20 == 5) {
            s.push_str("Write to jane.doe@example.com or call +1-202-555-0143. ");
        }
        if matches != Matches::None && i == 40 {
            s.push_str("Card 4111 1111 1111 1111. ");
        }
        i += 1;
    }
    s
}

fn request(c: &mut Criterion) {
    let p = policy();
    let mut group = c.benchmark_group("redact_request_32kb");
    let texts = [
        ("few_matches", prompt(Matches::Few)),
        ("dense_matches", prompt(Matches::Dense)),
        ("no_match", prompt(Matches::None)),
    ];
    for (name, text) in texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("text/{name}"), |b| {
            b.iter(|| {
                let mut ph = Placeholders::default();
                let mut counts = Counts::default();
                let out = p.redact(Direction::Request, black_box(&text), &mut ph, &mut counts);
                black_box(out.map(|c| c.len()).unwrap_or(0))
            })
        });
        let body = serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": text},
            ]
        });
        group.bench_function(format!("openai_body/{name}"), |b| {
            b.iter_batched(
                || body.clone(),
                |mut body| {
                    let mut ph = Placeholders::default();
                    let mut counts = Counts::default();
                    let r = redact_request(&p, ApiFormat::OpenAi, &mut body, &mut ph, &mut counts);
                    black_box((r.is_ok(), body))
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// `ENGLISH` (with an email and a card) cut into 20-byte deltas.
fn deltas() -> Vec<String> {
    let text = format!("{ENGLISH}Mail jane.doe@example.com, card 4111 1111 1111 1111. {ENGLISH}");
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(20).map(|c| c.iter().collect()).collect()
}

fn openai_events(deltas: &[String]) -> Vec<SseEvent> {
    let mut evs: Vec<SseEvent> = deltas
        .iter()
        .map(|d| {
            SseEvent::data(
                serde_json::json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,
                    "model":"gpt-4o","choices":[{"index":0,"delta":{"content":d},"logprobs":null,
                    "finish_reason":null}]})
                .to_string(),
            )
        })
        .collect();
    evs.push(SseEvent::data(
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
    ));
    evs.push(SseEvent::data("[DONE]"));
    evs
}

fn stream(c: &mut Criterion) {
    let p = policy();
    let deltas = deltas();
    let events = openai_events(&deltas);
    let mut group = c.benchmark_group("redact_stream_per_event");
    group.throughput(Throughput::Elements(deltas.len() as u64));
    group.bench_function("stream_redactor_push_20_bytes", |b| {
        b.iter(|| {
            let mut s = StreamRedactor::new(Arc::clone(&p), Direction::Response, 128);
            let mut out = String::new();
            for d in &deltas {
                let _ = s.push(black_box(d), &mut out);
            }
            let _ = s.finish(&mut out);
            out.len()
        })
    });
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("sse_redactor_openai_events", |b| {
        b.iter(|| {
            let mut r = SseRedactor::new(
                ApiFormat::OpenAi,
                Arc::clone(&p),
                Placeholders::default(),
                128,
            );
            let mut out = Vec::new();
            let mut n = 0;
            for ev in &events {
                out.clear();
                let _ = r.on_event(black_box(ev), &mut out);
                n += out.len();
            }
            let _ = r.finish(&mut out);
            n
        })
    });
    // As the gateway feeds a stream: the events one read from the provider returned (16
    // here), together.
    group.bench_function("sse_redactor_openai_bursts_of_16", |b| {
        b.iter(|| {
            let mut r = SseRedactor::new(
                ApiFormat::OpenAi,
                Arc::clone(&p),
                Placeholders::default(),
                128,
            );
            let (mut outcomes, mut out) = (Vec::new(), Vec::new());
            let mut n = 0;
            for burst in events.chunks(16) {
                out.clear();
                let _ = r.on_burst(black_box(burst), |_, _| false, &mut outcomes, &mut out);
                n += out.len();
            }
            let _ = r.finish(&mut out);
            n
        })
    });
    group.finish();
}

/// The prompt-injection guardrail on the same 32 KB prompt: normalising the text, then the
/// phrase automaton. The guard reads every request's system, user and tool text.
fn guard(c: &mut Criterion) {
    let g = match InjectionGuard::new(&[]) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("bench guard: {e}");
            std::process::exit(1);
        }
    };
    let mut group = c.benchmark_group("guard_32kb");
    // The same prose in Greek letters: not ASCII, so normalised character by character.
    let greek: String = prompt(Matches::None)
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(u32::from(c) - u32::from('a') + 0x3B1).unwrap_or(c),
            c => c,
        })
        .collect();
    // English with typographic quotes: not ASCII, but no letter beyond it.
    let typographic = prompt(Matches::Few)
        .replace('(', "\u{201C}")
        .replace(')', "\u{201D}");
    let texts = [
        ("ascii", prompt(Matches::Few)),
        ("typographic", typographic),
        ("greek", greek),
    ];
    for (name, text) in texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("check/{name}"), |b| {
            b.iter(|| black_box(g.check(black_box(&text)).is_some()))
        });
    }
    group.finish();
}

/// Reading one event for the redactor and usage tracking (`sse::view`): the redacting stream's
/// largest share of user-space time. The shape is what OpenAI sends for a content delta.
fn view(c: &mut Criterion) {
    let event = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795375181,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" the quick brown"},"logprobs":null,"finish_reason":null}],"usage":null}"#;
    let mut group = c.benchmark_group("sse_view");
    group.throughput(Throughput::Bytes(event.len() as u64));
    group.bench_function("openai_content_delta", |b| {
        b.iter(|| {
            tollgate::sse::view::read_openai(black_box(event), |_, chunk| {
                chunk.map_or(0, |c| c.choices.len())
            })
        })
    });
    group.finish();
}

criterion_group!(benches, request, guard, stream, view);
criterion_main!(benches);
