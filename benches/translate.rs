//! Criterion benchmarks of translation: whole requests, and streams per event (SSE decode,
//! translate, SSE encode: the whole per-event cost on the answer path). Goal: under 2 µs per
//! streamed event on the 2-core test machine. Results go to load-tests/RESULTS.md.
//!
//! cargo bench --bench translate

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use tollgate::sse::{self, SseDecoder};
use tollgate::translate::{anthropic, gemini, StreamTranslator};

const EVENTS: usize = 100;

fn openai_request() -> Value {
    json!({
        "model": "gpt-4o",
        "messages": [
            { "role": "system", "content": "You are a helpful assistant. Answer briefly." },
            { "role": "user", "content": "What is the weather in Paris today? I am planning a walk along the Seine." },
            { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function",
              "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }] },
            { "role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C, light wind from the west" },
            { "role": "user", "content": [{ "type": "text", "text": "And tomorrow?" }] }
        ],
        "tools": [{ "type": "function", "function": { "name": "get_weather", "description": "Weather for a city",
          "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] } } }],
        "temperature": 0.3, "max_tokens": 512, "stream": true
    })
}

fn anthropic_request() -> Value {
    json!({
        "model": "claude-x", "max_tokens": 512, "system": "You are a helpful assistant.", "stream": true,
        "messages": [
            { "role": "user", "content": "What is the weather in Paris today?" },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "city": "Paris" } }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 21 C" }] }
        ],
        "tools": [{ "name": "get_weather", "description": "Weather for a city",
          "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } } }]
    })
}

fn requests(c: &mut Criterion) {
    let oa = openai_request();
    let an = anthropic_request();
    c.bench_function("request_openai_to_anthropic", |b| {
        b.iter(|| anthropic::request_from_openai(black_box(&oa), "claude-x"))
    });
    c.bench_function("request_openai_to_gemini", |b| {
        b.iter(|| gemini::request_from_openai(black_box(&oa)))
    });
    c.bench_function("request_anthropic_to_openai", |b| {
        b.iter(|| anthropic::request_to_openai(black_box(&an), "gpt-4o"))
    });
}

/// A stream of `EVENTS` text deltas in each provider format, as the wire carries it.
fn anthropic_stream() -> Vec<u8> {
    let mut s = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n");
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

fn openai_stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..EVENTS {
        s.push_str(&format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" word{i}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"));
    }
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n");
    s.push_str("data: [DONE]\n\n");
    s.into_bytes()
}

fn gemini_stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..EVENTS {
        s.push_str(&format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\" word{i}\"}}],\"role\":\"model\"}},\"index\":0}}],\"modelVersion\":\"gemini-2.5-flash\"}}\r\n\r\n"));
    }
    s.push_str("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\".\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":25,\"candidatesTokenCount\":100,\"totalTokenCount\":125}}\r\n\r\n");
    s.into_bytes()
}

/// Decode, translate and encode a whole stream, fed in 512-byte chunks as a socket might.
fn run_stream(wire: &[u8], mut translator: impl StreamTranslator) -> usize {
    let mut decoder = SseDecoder::default();
    let (mut upstream, mut client, mut out) =
        (Vec::new(), Vec::new(), Vec::with_capacity(wire.len() * 2));
    for chunk in wire.chunks(512) {
        let _ = decoder.feed(chunk, &mut upstream);
        for ev in upstream.drain(..) {
            let _ = translator.on_event(&ev, &mut client);
        }
        for ev in client.drain(..) {
            sse::encode(&ev, &mut out);
        }
    }
    let _ = decoder.finish(&mut upstream);
    let _ = translator.finish(&mut client);
    for ev in client.drain(..) {
        sse::encode(&ev, &mut out);
    }
    out.len()
}

fn streams(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream_per_event");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let (an, oa, ge) = (anthropic_stream(), openai_stream(), gemini_stream());
    group.bench_function("anthropic_to_openai", |b| {
        b.iter(|| {
            run_stream(
                black_box(&an),
                anthropic::StreamToOpenAi::new("claude-x", true),
            )
        })
    });
    group.bench_function("openai_to_anthropic", |b| {
        b.iter(|| run_stream(black_box(&oa), anthropic::StreamFromOpenAi::new("gpt-4o")))
    });
    group.bench_function("gemini_to_openai", |b| {
        b.iter(|| {
            run_stream(
                black_box(&ge),
                gemini::StreamToOpenAi::new("gemini-2.5-flash", true),
            )
        })
    });
    group.bench_function("sse_decode_only", |b| {
        b.iter(|| {
            let mut d = SseDecoder::default();
            let mut evs = Vec::new();
            for chunk in black_box(&oa).chunks(512) {
                let _ = d.feed(chunk, &mut evs);
            }
            evs.len()
        })
    });
    group.finish();
}

criterion_group!(benches, requests, streams);
criterion_main!(benches);
