//! Criterion benchmarks of usage accounting: per streamed event (SSE decode of 512-byte
//! chunks plus `StreamUsage::on_event`), and tokenizer throughput (`count_tokens` on
//! 50-token deltas one at a time, and on a 10 KB text). Goals: under 1 µs per streamed
//! event; under 2 µs per token (50,000 tokens/s under 10% of one core).
//!
//! cargo bench --bench usage -- --warm-up-time 1 --measurement-time 3

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tollgate::sse::{SseDecoder, SseEvent};
use tollgate::translate::ApiFormat;
use tollgate::usage::{count_tokens, StreamUsage};

const EVENTS: usize = 100;

const ENGLISH: &str = "The gateway forwards each request to the provider that serves the model, \
counts the tokens of the answer, and charges the key that asked. When the provider reports \
usage, that count is the truth; when it does not, the gateway estimates it with the same \
tokenizer the model uses. Streams arrive as server-sent events, a few words at a time, and \
every event passes through the decoder before it reaches the client. Prices change a few \
times a year, so the table is dated and the configuration can override any entry. A slow \
path on every event would cost more than the network itself, which is why the text is kept \
and counted once, at the end, only when nobody else counted it. ";

/// An OpenAI stream of `EVENTS` content chunks, a finish chunk, the usage-only chunk and
/// `[DONE]`, as the wire carries it.
fn openai_stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..EVENTS {
        s.push_str(&format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"system_fingerprint\":\"fp_1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" word{i}\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"));
    }
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":100,\"total_tokens\":125,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n");
    s.push_str("data: [DONE]\n\n");
    s.into_bytes()
}

/// An Anthropic stream of `EVENTS` text deltas with its framing events.
fn anthropic_stream() -> Vec<u8> {
    let mut s = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n");
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for i in 0..EVENTS {
        s.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\" word{i}\"}}}}\n\n"));
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":100}}\n\n");
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s.into_bytes()
}

fn event_count(wire: &[u8]) -> u64 {
    let mut d = SseDecoder::default();
    let mut evs = Vec::new();
    let _ = d.feed(wire, &mut evs);
    let _ = d.finish(&mut evs);
    evs.len() as u64
}

/// Decode `wire` in 512-byte chunks and feed every event to a tracker.
fn track(wire: &[u8], format: ApiFormat) -> Option<tollgate::usage::Usage> {
    let mut decoder = SseDecoder::default();
    let mut tracker = StreamUsage::new(format);
    let mut events: Vec<SseEvent> = Vec::new();
    for chunk in wire.chunks(512) {
        let _ = decoder.feed(chunk, &mut events);
        for ev in events.drain(..) {
            black_box(tracker.on_event(&ev));
        }
    }
    let _ = decoder.finish(&mut events);
    for ev in events.drain(..) {
        black_box(tracker.on_event(&ev));
    }
    tracker.reported()
}

fn decode_only(wire: &[u8]) -> usize {
    let mut decoder = SseDecoder::default();
    let mut events: Vec<SseEvent> = Vec::new();
    let mut n = 0;
    for chunk in wire.chunks(512) {
        let _ = decoder.feed(chunk, &mut events);
        n += events.drain(..).map(|e| e.data.len()).sum::<usize>();
    }
    n
}

fn streams(c: &mut Criterion) {
    let (oa, an) = (openai_stream(), anthropic_stream());
    let mut group = c.benchmark_group("usage_stream_per_event");
    group.throughput(Throughput::Elements(event_count(&oa)));
    group.bench_function("openai_decode_and_track", |b| {
        b.iter(|| track(black_box(&oa), ApiFormat::OpenAi))
    });
    group.bench_function("openai_decode_only", |b| {
        b.iter(|| decode_only(black_box(&oa)))
    });
    group.throughput(Throughput::Elements(event_count(&an)));
    group.bench_function("anthropic_decode_and_track", |b| {
        b.iter(|| track(black_box(&an), ApiFormat::Anthropic))
    });
    group.bench_function("anthropic_decode_only", |b| {
        b.iter(|| decode_only(black_box(&an)))
    });
    group.finish();
}

/// `ENGLISH` cut into deltas of about 50 tokens each (whole words).
fn deltas_of_50_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in text.split_inclusive(' ') {
        cur.push_str(word);
        if count_tokens("gpt-4o", &cur) >= 50 {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn tokenizer(c: &mut Criterion) {
    let text = ENGLISH.repeat(4);
    let deltas = deltas_of_50_tokens(&text);
    let delta_tokens: u64 = deltas.iter().map(|d| count_tokens("gpt-4o", d)).sum();
    let mut ten_kb = String::new();
    while ten_kb.len() < 10 * 1024 {
        ten_kb.push_str(ENGLISH);
    }
    let ten_kb_tokens = count_tokens("gpt-4o", &ten_kb);

    let mut group = c.benchmark_group("tokenizer_tokens");
    group.throughput(Throughput::Elements(delta_tokens));
    for model in ["gpt-4o", "claude-sonnet-4-5"] {
        group.bench_function(format!("deltas_of_50_tokens/{model}"), |b| {
            b.iter(|| {
                deltas
                    .iter()
                    .map(|d| count_tokens(model, black_box(d)))
                    .sum::<u64>()
            })
        });
    }
    // The all-features load test's prompt: what a rate-limited request tokenizes at admission.
    let short = "Say hello to the load test";
    group.throughput(Throughput::Elements(count_tokens("gpt-4o", short)));
    for model in ["gpt-4o", "claude-sonnet-4-5"] {
        group.bench_function(format!("short_prompt/{model}"), |b| {
            b.iter(|| count_tokens(model, black_box(short)))
        });
    }
    group.throughput(Throughput::Elements(ten_kb_tokens));
    for model in ["gpt-4o", "claude-sonnet-4-5"] {
        group.bench_function(format!("text_10kb/{model}"), |b| {
            b.iter(|| count_tokens(model, black_box(&ten_kb)))
        });
    }
    group.finish();
}

criterion_group!(benches, streams, tokenizer);
criterion_main!(benches);
