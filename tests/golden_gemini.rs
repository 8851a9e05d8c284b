//! Golden tests for the OpenAI <-> Gemini translation: fixture pairs under
//! `tests/fixtures/gemini/` (requests, whole answers, SSE streams) compared field by field,
//! and every split of each stream through `SseDecoder` and the translator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::Value;
use tollgate::sse::{SseDecoder, SseEvent};
use tollgate::translate::gemini::{request_from_openai, response_to_openai, StreamToOpenAi};
use tollgate::translate::StreamTranslator;

/// OpenAI request `<name>.openai.json` -> Gemini body `<name>.gemini.json`.
const REQUESTS: &[&str] = &["request_chat", "request_structured"];

/// Gemini answer `<name>.gemini.json` -> OpenAI answer `<name>.openai.json`, with the
/// routed model passed to the translator.
const RESPONSES: &[(&str, &str)] = &[
    ("response_text", "gemini-flash-latest"),
    ("response_tool_call", "gemini-2.5-pro"),
    ("response_blocked", "gemini-1.5-flash"),
];

/// Gemini stream `<name>.gemini.sse` -> OpenAI stream `<name>.openai.sse`, with the routed
/// model and `stream_options.include_usage`.
const STREAMS: &[(&str, &str, bool)] = &[
    ("stream_text", "gemini-flash-latest", true),
    ("stream_tool_call", "gemini-2.5-pro", false),
    ("stream_error", "gemini-2.5-flash", true),
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gemini")
        .join(name)
}

fn read_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

fn read_json(name: &str) -> Value {
    serde_json::from_slice(&read_bytes(name))
        .unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

/// Every path where `got` and `want` differ, as `path: got != want` lines.
fn diff(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), gv, wv, out),
                    None => out.push(format!("{path}.{k}: missing, want {wv}")),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {gv}"));
                }
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                diff(&format!("{path}[{i}]"), gv, wv, out);
            }
        }
        _ if got == want => {}
        _ => out.push(format!("{path}: got {got}, want {want}")),
    }
}

fn assert_same(what: &str, got: &Value, want: &Value) {
    let mut diffs = Vec::new();
    diff("$", got, want, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{what} differs:\n  {}",
        diffs.join("\n  ")
    );
}

/// Remove the fields that change from run to run (`created`), checking they are there.
fn strip_volatile(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        if !obj.contains_key("error") {
            let created = obj.remove("created");
            assert!(
                created.as_ref().and_then(Value::as_u64).is_some(),
                "`created` missing or not a number in {v}"
            );
        }
    }
}

#[test]
fn requests_translate_to_the_recorded_gemini_bodies() {
    for name in REQUESTS {
        let input = read_json(&format!("{name}.openai.json"));
        let want = read_json(&format!("{name}.gemini.json"));
        let got = request_from_openai(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same(name, &got, &want);
    }
}

#[test]
fn answers_translate_to_the_recorded_openai_answers() {
    for (name, model) in RESPONSES {
        let input = read_json(&format!("{name}.gemini.json"));
        let want = read_json(&format!("{name}.openai.json"));
        let mut got = response_to_openai(&input, model).unwrap_or_else(|e| panic!("{name}: {e}"));
        strip_volatile(&mut got);
        assert_same(name, &got, &want);
    }
}

/// Decode `chunks` and translate as a proxy would: each decoded event goes to the
/// translator as soon as the decoder yields it.
fn pipeline(chunks: &[&[u8]], model: &str, include_usage: bool) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::default();
    let mut translator = StreamToOpenAi::new(model, include_usage);
    let mut events = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut events).unwrap();
        for ev in events.drain(..) {
            translator.on_event(&ev, &mut out).unwrap();
        }
    }
    decoder.finish(&mut events).unwrap();
    for ev in events.drain(..) {
        translator.on_event(&ev, &mut out).unwrap();
    }
    translator.finish(&mut out).unwrap();
    out
}

/// OpenAI stream events as values: `[DONE]` as a string, chunks without `created`. Checks
/// that every event is unnamed and that `created` is the same across the stream.
fn normalize(events: &[SseEvent]) -> Vec<Value> {
    let mut created = None;
    events
        .iter()
        .map(|ev| {
            assert_eq!(ev.event, None, "OpenAI events are unnamed");
            if ev.data == "[DONE]" {
                return Value::String(ev.data.clone());
            }
            let mut v: Value = serde_json::from_str(&ev.data)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", ev.data));
            if let Some(c) = v.get("created").cloned() {
                assert_eq!(*created.get_or_insert(c.clone()), c, "`created` changed");
            }
            strip_volatile(&mut v);
            v
        })
        .collect()
}

fn expected_stream(name: &str) -> Vec<Value> {
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    decoder
        .feed(&read_bytes(&format!("{name}.openai.sse")), &mut events)
        .unwrap();
    decoder.finish(&mut events).unwrap();
    events
        .into_iter()
        .map(|ev| {
            if ev.data == "[DONE]" {
                Value::String(ev.data)
            } else {
                serde_json::from_str(&ev.data).unwrap()
            }
        })
        .collect()
}

#[test]
fn streams_translate_to_the_recorded_openai_streams() {
    for (name, model, include_usage) in STREAMS {
        let input = read_bytes(&format!("{name}.gemini.sse"));
        let got = normalize(&pipeline(&[&input], model, *include_usage));
        let want = expected_stream(name);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_same(&format!("{name} event {i}"), g, w);
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{name}: {} events, want {}",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn every_split_of_each_stream_yields_the_same_events() {
    for (name, model, include_usage) in STREAMS {
        let input = read_bytes(&format!("{name}.gemini.sse"));
        let whole = normalize(&pipeline(&[&input], model, *include_usage));
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            let got = normalize(&pipeline(&[a, b], model, *include_usage));
            assert_eq!(got, whole, "{name}: split at byte {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let got = normalize(&pipeline(&bytes, model, *include_usage));
        assert_eq!(got, whole, "{name}: byte by byte");
    }
}

#[test]
fn every_fixture_is_used() {
    let mut used: Vec<String> = Vec::new();
    for name in REQUESTS {
        used.push(format!("{name}.openai.json"));
        used.push(format!("{name}.gemini.json"));
    }
    for (name, _) in RESPONSES {
        used.push(format!("{name}.gemini.json"));
        used.push(format!("{name}.openai.json"));
    }
    for (name, _, _) in STREAMS {
        used.push(format!("{name}.gemini.sse"));
        used.push(format!("{name}.openai.sse"));
    }
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            used.contains(&file),
            "fixture {file} is not in any test table"
        );
    }
}
