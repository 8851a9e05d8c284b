#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Golden tests of the OpenAI <-> Anthropic translation: each direction of requests, whole
//! answers and streams against fixtures in `tests/fixtures/anthropic/` written from the
//! providers' documented formats, compared field by field (volatile `created` removed).
//! Streams are read from `.sse` wire text through `SseDecoder`, and must translate the same
//! however the bytes are split.

use std::path::PathBuf;

use serde_json::Value;
use tollgate::sse::{SseDecoder, SseEvent};
use tollgate::translate::anthropic::{
    request_from_openai, request_to_openai, response_from_openai, response_to_openai,
    StreamFromOpenAi, StreamToOpenAi, DEFAULT_MAX_TOKENS,
};
use tollgate::translate::StreamTranslator;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/anthropic")
        .join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Drop fields that differ on every run.
fn strip_volatile(v: &mut Value) {
    if let Some(m) = v.as_object_mut() {
        m.remove("created");
    }
}

/// Compare two values field by field, naming the first path that differs.
fn diff(actual: &Value, expected: &Value, path: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                match a.get(k) {
                    None => return Some(format!("{path}.{k}: missing, expected {ev}")),
                    Some(av) => {
                        if let Some(d) = diff(av, ev, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                }
            }
            a.keys()
                .find(|k| !e.contains_key(*k))
                .map(|k| format!("{path}.{k}: unexpected field {}", a[k.as_str()]))
        }
        (Value::Array(a), Value::Array(e)) => {
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                if let Some(d) = diff(av, ev, &format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (a.len() != e.len()).then(|| format!("{path}: {} items, expected {}", a.len(), e.len()))
        }
        _ => (actual != expected).then(|| format!("{path}: got {actual}, expected {expected}")),
    }
}

fn assert_same(mut actual: Value, mut expected: Value, what: &str) {
    strip_volatile(&mut actual);
    strip_volatile(&mut expected);
    if let Some(d) = diff(&actual, &expected, what) {
        panic!(
            "{d}\nactual: {}",
            serde_json::to_string_pretty(&actual).unwrap()
        );
    }
    assert_eq!(actual, expected);
}

#[test]
fn request_from_openai_matches_fixture() {
    let out = request_from_openai(
        &json("request_from_openai.in.json"),
        "claude-sonnet-4-5-20250929",
    )
    .unwrap();
    assert_same(
        out,
        json("request_from_openai.expected.json"),
        "request_from_openai",
    );
}

#[test]
fn request_to_openai_matches_fixture() {
    let out = request_to_openai(&json("request_to_openai.in.json"), "gpt-4o-2024-08-06").unwrap();
    assert_same(
        out,
        json("request_to_openai.expected.json"),
        "request_to_openai",
    );
}

#[test]
fn response_to_openai_matches_fixture() {
    let out = response_to_openai(&json("response_to_openai.in.json"), "fallback").unwrap();
    assert!(out["created"].as_u64().is_some());
    assert_same(
        out,
        json("response_to_openai.expected.json"),
        "response_to_openai",
    );
}

#[test]
fn response_from_openai_matches_fixture() {
    let out = response_from_openai(&json("response_from_openai.in.json"), "fallback").unwrap();
    assert_same(
        out,
        json("response_from_openai.expected.json"),
        "response_from_openai",
    );
}

#[test]
fn a_request_without_max_tokens_gets_the_default() {
    let mut req = json("request_from_openai.in.json");
    let obj = req.as_object_mut().unwrap();
    obj.remove("max_tokens");
    obj.remove("max_completion_tokens");
    let out = request_from_openai(&req, "m").unwrap();
    assert_eq!(out["max_tokens"], Value::from(DEFAULT_MAX_TOKENS));
}

#[test]
fn requests_round_trip_through_the_hub() {
    // Anthropic -> OpenAI -> Anthropic keeps everything except what has no OpenAI
    // counterpart (thinking blocks, cache_control, top_k).
    let original = json("request_to_openai.in.json");
    let openai = request_to_openai(&original, "hub").unwrap();
    let back = request_from_openai(&openai, "gpt-smart").unwrap();
    assert_eq!(back["messages"][0], original["messages"][0]);
    assert_eq!(
        back["messages"][1]["content"][1],
        original["messages"][1]["content"][2]
    );
    assert_eq!(back["tools"], original["tools"]);
    assert_eq!(back["tool_choice"], original["tool_choice"]);
    assert_eq!(back["system"], "You are a weather assistant.");
}

// ---------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------

/// An event as compared: its name and its data, parsed (`[DONE]` kept as a string), with
/// volatile fields removed.
fn normalize(events: &[SseEvent]) -> Vec<(Option<String>, Value)> {
    events
        .iter()
        .map(|e| {
            let mut data: Value = if e.data == "[DONE]" {
                Value::String(e.data.clone())
            } else {
                serde_json::from_str(&e.data)
                    .unwrap_or_else(|err| panic!("not JSON ({err}): {}", e.data))
            };
            strip_volatile(&mut data);
            (e.event.clone(), data)
        })
        .collect()
}

fn decode(wire: &[u8]) -> Vec<SseEvent> {
    let mut d = SseDecoder::default();
    let mut out = Vec::new();
    d.feed(wire, &mut out).unwrap();
    d.finish(&mut out).unwrap();
    out
}

/// Feed `chunks` through a decoder and `t` as a proxy would: events are translated as soon as
/// they are decoded.
fn translate_chunks(mut t: impl StreamTranslator, chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::default();
    let mut decoded = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoded.clear();
        decoder.feed(chunk, &mut decoded).unwrap();
        for e in &decoded {
            t.on_event(e, &mut out).unwrap();
        }
    }
    decoded.clear();
    decoder.finish(&mut decoded).unwrap();
    for e in &decoded {
        t.on_event(e, &mut out).unwrap();
    }
    t.finish(&mut out).unwrap();
    out
}

fn assert_events(actual: &[SseEvent], expected: &[SseEvent], what: &str) {
    let (a, e) = (normalize(actual), normalize(expected));
    for (i, (av, ev)) in a.iter().zip(&e).enumerate() {
        assert_eq!(av.0, ev.0, "{what}: event {i} name");
        if let Some(d) = diff(&av.1, &ev.1, &format!("{what}: event {i}")) {
            panic!("{d}\nactual: {}", actual[i].data);
        }
    }
    assert_eq!(a.len(), e.len(), "{what}: number of events");
    assert_eq!(a, e);
}

/// Every split of the wire text into two chunks, and byte by byte, translates the same.
fn assert_split_invariant<T: StreamTranslator>(make: impl Fn() -> T, wire: &[u8], what: &str) {
    let whole = normalize(&translate_chunks(make(), &[wire]));
    for i in 0..=wire.len() {
        let (a, b) = wire.split_at(i);
        let split = normalize(&translate_chunks(make(), &[a, b]));
        assert_eq!(split, whole, "{what}: split at byte {i}");
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(
        normalize(&translate_chunks(make(), &bytes)),
        whole,
        "{what}: byte by byte"
    );
}

#[test]
fn stream_to_openai_matches_fixture() {
    let out = translate_chunks(
        StreamToOpenAi::new("fallback", true),
        &[&bytes("stream_to_openai.in.sse")],
    );
    assert!(out.iter().all(|e| e.event.is_none()));
    assert_events(
        &out,
        &decode(&bytes("stream_to_openai.expected.sse")),
        "stream_to_openai",
    );
}

#[test]
fn stream_from_openai_matches_fixture() {
    let out = translate_chunks(
        StreamFromOpenAi::new("fallback"),
        &[&bytes("stream_from_openai.in.sse")],
    );
    // Anthropic events are named, and the name repeats the data's `type`.
    for e in &out {
        let data: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(e.event.as_deref(), data["type"].as_str());
    }
    assert_events(
        &out,
        &decode(&bytes("stream_from_openai.expected.sse")),
        "stream_from_openai",
    );
}

#[test]
fn stream_to_openai_is_the_same_however_the_bytes_are_split() {
    assert_split_invariant(
        || StreamToOpenAi::new("fallback", true),
        &bytes("stream_to_openai.in.sse"),
        "stream_to_openai",
    );
}

#[test]
fn stream_from_openai_is_the_same_however_the_bytes_are_split() {
    assert_split_invariant(
        || StreamFromOpenAi::new("fallback"),
        &bytes("stream_from_openai.in.sse"),
        "stream_from_openai",
    );
}

#[test]
fn a_cut_stream_is_an_error_unless_it_had_said_how_it_ends() {
    // Anthropic without message_stop: cut short. finish() refuses to close it like a
    // complete answer (the proxy then ends the client's stream with an error event).
    let text = String::from_utf8(bytes("stream_to_openai.in.sse")).unwrap();
    let cut = text.find("event: message_stop").unwrap();
    let mut decoder = tollgate::sse::SseDecoder::default();
    let mut events = Vec::new();
    decoder.feed(&text.as_bytes()[..cut], &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    let mut t = StreamToOpenAi::new("fallback", true);
    let mut out = Vec::new();
    for e in &events {
        t.on_event(e, &mut out).unwrap();
    }
    assert!(
        t.finish(&mut out).is_err(),
        "stream_to_openai without message_stop"
    );
    assert!(out.iter().all(|e| e.data != "[DONE]"));

    // OpenAI without [DONE] but after its finish_reason: complete, closed the same way.

    let text = String::from_utf8(bytes("stream_from_openai.in.sse")).unwrap();
    let cut = text.find("data: [DONE]").unwrap();
    let out = translate_chunks(
        StreamFromOpenAi::new("fallback"),
        &[&text.as_bytes()[..cut]],
    );
    assert_events(
        &out,
        &decode(&bytes("stream_from_openai.expected.sse")),
        "stream_from_openai without [DONE]",
    );
}
