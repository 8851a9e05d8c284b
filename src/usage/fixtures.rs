//! Test fixtures: one answer in each provider format, both as the whole (non-streamed) body
//! and as the SSE stream that produces it, built from the same counts and text.

use serde_json::{json, Value};

use crate::sse::{encode, SseEvent};

/// One answer, whole and streamed, and the text a stream tracker should keep from it.
pub(crate) struct Fixture {
    pub whole: String,
    pub stream: Vec<u8>,
    pub kept_text: String,
}

/// A tool call the answer makes: its name and its arguments as compact JSON.
#[derive(Clone, Copy)]
pub(crate) struct Tool<'a> {
    pub name: &'a str,
    pub args: &'a str,
}

fn wire(events: &[SseEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for ev in events {
        encode(ev, &mut out);
    }
    out
}

fn data(v: Value) -> SseEvent {
    SseEvent::data(v.to_string())
}

fn named(name: &str, v: Value) -> SseEvent {
    SseEvent::named(name, v.to_string())
}

/// `args` split in two fragments, as providers stream tool arguments.
fn halves(args: &str) -> (&str, &str) {
    let mut mid = args.len() / 2;
    while !args.is_char_boundary(mid) {
        mid += 1;
    }
    args.split_at(mid)
}

/// OpenAI chat completion: `prompt` includes `cached`. The stream was asked for usage
/// (`stream_options.include_usage`): every chunk has `"usage": null` but the last, which
/// has `"choices": []`.
pub(crate) fn openai(
    prompt: u64,
    cached: u64,
    completion: u64,
    deltas: &[&str],
    tool: Option<Tool>,
) -> Fixture {
    let text: String = deltas.concat();
    let usage = json!({
        "prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    });
    let mut message = json!({"role": "assistant", "content": text, "refusal": null});
    if let Some(t) = tool {
        message["tool_calls"] = json!([{"id": "call_1", "type": "function",
            "function": {"name": t.name, "arguments": t.args}}]);
    }
    let whole = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": "stop"}],
        "usage": usage, "service_tier": "default", "system_fingerprint": "fp_1"
    });
    let chunk = |delta: Value, finish: Value| {
        data(json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            "usage": null
        }))
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    for d in deltas {
        events.push(chunk(json!({"content": d}), Value::Null));
    }
    let mut kept = text.clone();
    if let Some(t) = tool {
        let (a, b) = halves(t.args);
        events.push(chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": t.name, "arguments": a}}]}),
            Value::Null,
        ));
        events.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]}),
            Value::Null,
        ));
        kept.push_str(t.args);
    }
    events.push(chunk(json!({}), json!("stop")));
    events.push(data(json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-2024-08-06", "choices": [], "usage": usage
    })));
    events.push(SseEvent::data("[DONE]"));
    Fixture {
        whole: whole.to_string(),
        stream: wire(&events),
        kept_text: kept,
    }
}

/// Anthropic message: `input` is the fresh part; cache writes and reads beside it. The
/// stream reports input and cache counts in `message_start` with an output placeholder of
/// 1, and the output in `message_delta` (with the input fields again when `delta_repeats`,
/// as newer API versions do). `output` should be at least 1, as it always is.
pub(crate) fn anthropic(
    counts: [u64; 4],
    deltas: &[&str],
    tool: Option<Tool>,
    delta_repeats: bool,
) -> Fixture {
    let [input, creation, read, output] = counts;
    let text: String = deltas.concat();
    let usage = |out: u64| {
        json!({"input_tokens": input, "cache_creation_input_tokens": creation,
               "cache_read_input_tokens": read, "output_tokens": out,
               "service_tier": "standard"})
    };
    let mut content = vec![json!({"type": "text", "text": text})];
    if let Some(t) = tool {
        let input: Value = serde_json::from_str(t.args).unwrap_or(Value::Null);
        content.push(json!({"type": "tool_use", "id": "toolu_1", "name": t.name, "input": input}));
    }
    let whole = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": content, "stop_reason": "end_turn", "stop_sequence": null, "usage": usage(output)
    });
    let mut events = vec![
        named(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": usage(1)}}),
        ),
        named(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
        ),
        named("ping", json!({"type": "ping"})),
    ];
    for d in deltas {
        events.push(named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": d}}),
        ));
    }
    events.push(named(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    let mut kept = text.clone();
    if let Some(t) = tool {
        events.push(named(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block":
                {"type": "tool_use", "id": "toolu_1", "name": t.name, "input": {}}}),
        ));
        let (a, b) = halves(t.args);
        for part in [a, b] {
            events.push(named(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1,
                       "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
        events.push(named(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ));
        kept.push_str(t.args);
    }
    let delta_usage = if delta_repeats {
        usage(output)
    } else {
        json!({"output_tokens": output})
    };
    events.push(named(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": delta_usage}),
    ));
    events.push(named("message_stop", json!({"type": "message_stop"})));
    Fixture {
        whole: whole.to_string(),
        stream: wire(&events),
        kept_text: kept,
    }
}

/// Gemini response: `prompt` includes `cached`; output is `candidates` + `thoughts`. The
/// answer starts with a thought summary (not kept). Every streamed chunk carries a
/// `usageMetadata` with the prompt count and the running candidates count; the cached
/// count appears on the first chunk only and the thoughts count on the last, so only a
/// field-by-field merge gives the whole answer's usage.
pub(crate) fn gemini(counts: [u64; 4], deltas: &[&str], tool: Option<Tool>) -> Fixture {
    let [prompt, cached, candidates, thoughts] = counts;
    let text: String = deltas.concat();
    let meta = |cand: u64, cached: u64, thoughts: u64| {
        let mut m = json!({"promptTokenCount": prompt, "candidatesTokenCount": cand,
            "totalTokenCount": prompt + cand + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]});
        if cached > 0 {
            m["cachedContentTokenCount"] = json!(cached);
        }
        if thoughts > 0 {
            m["thoughtsTokenCount"] = json!(thoughts);
        }
        m
    };
    let args: Option<Value> = tool.and_then(|t| serde_json::from_str(t.args).ok());
    let mut parts = vec![
        json!({"text": "Let me think about it.", "thought": true}),
        json!({"text": text}),
    ];
    if let (Some(t), Some(a)) = (tool, &args) {
        parts.push(json!({"functionCall": {"name": t.name, "args": a}}));
    }
    let whole = json!({
        "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": meta(candidates, cached, thoughts),
        "modelVersion": "gemini-2.5-flash", "responseId": "r1"
    });
    let chunk = |parts: Value, finish: Option<&str>, meta: Value| {
        let mut cand = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            cand["finishReason"] = json!(f);
        }
        data(json!({"candidates": [cand], "usageMetadata": meta,
                    "modelVersion": "gemini-2.5-flash", "responseId": "r1"}))
    };
    let mut events = vec![chunk(
        json!([{"text": "Let me think about it.", "thought": true}]),
        None,
        meta(0, cached, 0),
    )];
    for (i, d) in deltas.iter().enumerate() {
        let running = (i as u64 + 1).min(candidates);
        events.push(chunk(json!([{"text": d}]), None, meta(running, 0, 0)));
    }
    let mut kept = text.clone();
    let last_parts = match (tool, &args) {
        (Some(t), Some(a)) => {
            kept.push_str(&a.to_string());
            json!([{"functionCall": {"name": t.name, "args": a}}])
        }
        _ => json!([{"text": ""}]),
    };
    events.push(chunk(
        last_parts,
        Some("STOP"),
        meta(candidates, 0, thoughts),
    ));
    Fixture {
        whole: whole.to_string(),
        stream: wire(&events),
        kept_text: kept,
    }
}
