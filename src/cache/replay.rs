//! Replaying a stored whole answer as a stream.
//!
//! A cached answer is stored whole (non-streamed), in the client's format. A streaming
//! client gets it back as the SSE events the provider would have streamed for it: the same
//! ids, model, text, tool calls, stop reason and usage, in few events (each piece of text
//! or tool input in one delta). Pure: no I/O, no clocks.
//!
//! What a whole answer does not carry cannot be replayed: OpenAI `logprobs` (chunks say
//! `null`), `audio` and `annotations`; Anthropic `citations` (the text is kept).

use serde_json::{json, Map, Value};

use crate::sse::SseEvent;
use crate::translate::{openai_chunk, openai_content_text, openai_stream_end, ApiFormat};

/// The stream of `whole` in `format` (the client's). `include_usage`: an OpenAI client
/// asked for the usage chunk (`stream_options.include_usage`); Anthropic streams always
/// carry usage. `None` for a format that is never a client's (Gemini).
pub fn replay(format: ApiFormat, whole: &Value, include_usage: bool) -> Option<Vec<SseEvent>> {
    match format {
        ApiFormat::OpenAi => Some(replay_openai(whole, include_usage)),
        ApiFormat::Anthropic => Some(replay_anthropic(whole)),
        ApiFormat::Gemini => None,
    }
}

/// The wire bytes of `events`, each with its blank line.
pub fn encode_all(events: &[SseEvent]) -> Vec<u8> {
    let size = events.iter().map(|e| e.data.len() + 48).sum();
    let mut out = Vec::with_capacity(size);
    for e in events {
        crate::sse::encode(e, &mut out);
    }
    out
}

/// A `chat.completion` as `chat.completion.chunk` events (unnamed), per choice in order:
/// `{role: "assistant", content: ""}`, the content (if any) in one delta, each tool call
/// whole (`{index, id, type, function: {name, arguments}}`), the refusal (if any), then an
/// empty delta with the `finish_reason` (`"stop"` if the answer has none); then the usage
/// chunk (`choices: []`) when `include_usage` and the answer has usage; then `[DONE]`.
/// Every chunk has the answer's `id`, `created`, `model`, and `system_fingerprint` and
/// `service_tier` when the answer has them.
pub fn replay_openai(completion: &Value, include_usage: bool) -> Vec<SseEvent> {
    let id = completion.get("id").and_then(Value::as_str).unwrap_or("");
    let created = completion
        .get("created")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let model = completion
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("");
    let extras: Vec<(&str, &Value)> = ["system_fingerprint", "service_tier"]
        .into_iter()
        .filter_map(|k| completion.get(k).map(|v| (k, v)))
        .collect();
    let chunk = |index: u64, delta: Value, finish: Option<&str>| {
        let mut c = openai_chunk(id, created, model, delta, finish);
        if let Some(obj) = c.as_object_mut() {
            for (k, v) in &extras {
                obj.insert((*k).to_string(), (*v).clone());
            }
        }
        if let Some(choice) = c.pointer_mut("/choices/0") {
            choice["index"] = json!(index);
        }
        SseEvent::data(c.to_string())
    };

    let mut out = Vec::new();
    let choices = completion.get("choices").and_then(Value::as_array);
    for (position, choice) in choices.into_iter().flatten().enumerate() {
        let index = choice
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let message = choice.get("message");
        out.push(chunk(
            index,
            json!({"role": "assistant", "content": ""}),
            None,
        ));
        let content = message
            .and_then(|m| m.get("content"))
            .map(openai_content_text)
            .unwrap_or_default();
        if !content.is_empty() {
            out.push(chunk(index, json!({ "content": content }), None));
        }
        let calls = message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array);
        for (k, call) in calls.into_iter().flatten().enumerate() {
            out.push(chunk(
                index,
                json!({ "tool_calls": [tool_call_delta(k, call)] }),
                None,
            ));
        }
        let refusal = message
            .and_then(|m| m.get("refusal"))
            .and_then(Value::as_str);
        if let Some(refusal) = refusal.filter(|r| !r.is_empty()) {
            out.push(chunk(index, json!({ "refusal": refusal }), None));
        }
        let finish = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop");
        out.push(chunk(index, json!({}), Some(finish)));
    }
    let usage = completion.get("usage").filter(|u| u.is_object());
    let usage = usage.filter(|_| include_usage).cloned();
    openai_stream_end(id, created, model, usage, &mut out);
    out
}

/// One whole tool call as a stream delta: the call with `index` first. A `function` call
/// gets exactly `{index, id, type, function: {name, arguments}}`; another kind (`custom`)
/// is passed as it is, with `index` added.
fn tool_call_delta(k: usize, call: &Value) -> Value {
    match call.get("function") {
        Some(f) => json!({
            "index": k,
            "id": call.get("id").cloned().unwrap_or(Value::Null),
            "type": call.get("type").and_then(Value::as_str).unwrap_or("function"),
            "function": {
                "name": f.get("name").cloned().unwrap_or(Value::Null),
                "arguments": f.get("arguments").and_then(Value::as_str).unwrap_or(""),
            },
        }),
        None => {
            let mut m = Map::new();
            m.insert("index".into(), json!(k));
            if let Some(obj) = call.as_object() {
                m.extend(obj.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Value::Object(m)
        }
    }
}

/// Anthropic's event: named by its `type`, as the API names every event.
fn named(data: Value) -> SseEvent {
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_string();
    SseEvent::named(name, data.to_string())
}

/// An Anthropic `message` as the named events of its stream, in the API's order:
/// `message_start` (the message with `content: []`, `stop_reason` and `stop_sequence`
/// null, its usage with `output_tokens` at most 1); per content block `content_block_start`,
/// its deltas, `content_block_stop` (one `ping` after the first start, or after
/// `message_start` when there is no block); `message_delta` (`stop_reason`,
/// `stop_sequence`, `usage: {output_tokens}`); `message_stop`.
///
/// Blocks: `text` starts empty and comes in one `text_delta`; `tool_use`, `server_tool_use`
/// and `mcp_tool_use` start with `input: {}` and come in one `input_json_delta` (the input
/// serialised); `thinking` starts empty and comes in a `thinking_delta` and a
/// `signature_delta`; any other block (`redacted_thinking`, tool results, newer kinds)
/// comes whole in its `content_block_start`.
pub fn replay_anthropic(message: &Value) -> Vec<SseEvent> {
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(4 + 4 * blocks.len());

    let usage = message.get("usage").and_then(Value::as_object);
    let output_tokens = usage
        .and_then(|u| u.get("output_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut start = message.as_object().cloned().unwrap_or_default();
    start.insert("content".into(), json!([]));
    start.insert("stop_reason".into(), Value::Null);
    start.insert("stop_sequence".into(), Value::Null);
    let mut start_usage = usage.cloned().unwrap_or_default();
    start_usage.insert("output_tokens".into(), json!(output_tokens.min(1)));
    start.insert("usage".into(), Value::Object(start_usage));
    out.push(named(
        json!({"type": "message_start", "message": Value::Object(start)}),
    ));

    let mut pinged = false;
    for (index, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        let text_of = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or("");
        let mut head = block.as_object().cloned().unwrap_or_default();
        let mut deltas = Vec::new();
        match kind {
            "text" => {
                head = Map::new();
                head.insert("type".into(), json!("text"));
                head.insert("text".into(), json!(""));
                let text = text_of("text");
                if !text.is_empty() {
                    deltas.push(json!({"type": "text_delta", "text": text}));
                }
            }
            "tool_use" | "server_tool_use" | "mcp_tool_use" => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                head.insert("input".into(), json!({}));
                deltas.push(json!({"type": "input_json_delta", "partial_json": input.to_string()}));
            }
            "thinking" => {
                head.insert("thinking".into(), json!(""));
                head.remove("signature");
                let thinking = text_of("thinking");
                if !thinking.is_empty() {
                    deltas.push(json!({"type": "thinking_delta", "thinking": thinking}));
                }
                if let Some(sig) = block.get("signature").and_then(Value::as_str) {
                    deltas.push(json!({"type": "signature_delta", "signature": sig}));
                }
            }
            _ => {}
        }
        out.push(named(json!({
            "type": "content_block_start", "index": index, "content_block": Value::Object(head),
        })));
        if !pinged {
            out.push(named(json!({"type": "ping"})));
            pinged = true;
        }
        for delta in deltas {
            out.push(named(
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        out.push(named(json!({"type": "content_block_stop", "index": index})));
    }
    if !pinged {
        out.push(named(json!({"type": "ping"})));
    }

    out.push(named(json!({
        "type": "message_delta",
        "delta": {
            "stop_reason": message.get("stop_reason").cloned().unwrap_or(Value::Null),
            "stop_sequence": message.get("stop_sequence").cloned().unwrap_or(Value::Null),
        },
        "usage": {"output_tokens": output_tokens},
    })));
    out.push(named(json!({"type": "message_stop"})));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sse::SseDecoder;
    use crate::translate::anthropic::{
        response_from_openai, response_to_openai, StreamFromOpenAi, StreamToOpenAi,
    };
    use crate::translate::StreamTranslator;
    use crate::usage::{from_value, StreamUsage};
    use std::collections::BTreeMap;

    // --- Fixtures: whole answers as the providers give them.

    fn openai_text() -> Value {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
            "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello \"there\"\nsecond line", "refusal": null},
                         "logprobs": null, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
                      "prompt_tokens_details": {"cached_tokens": 10}},
        })
    }

    fn openai_tools() -> Value {
        json!({
            "id": "chatcmpl-2", "object": "chat.completion", "created": 1700000001, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}},
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        })
    }

    fn openai_two_choices_and_refusal() -> Value {
        json!({
            "id": "chatcmpl-3", "object": "chat.completion", "created": 5, "model": "gpt-4o",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"},
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
        })
    }

    fn anthropic_text_and_tool() -> Value {
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "text", "text": "Let me check \"that\".\n"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris", "days": [1, 2]}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 100, "output_tokens": 25},
        })
    }

    fn anthropic_thinking() -> Value {
        json!({
            "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-opus-4-1",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "42"},
                {"type": "tool_use", "id": "toolu_2", "name": "noop", "input": {}},
            ],
            "stop_reason": "stop_sequence", "stop_sequence": "END",
            "usage": {"input_tokens": 9, "output_tokens": 4},
        })
    }

    fn anthropic_empty() -> Value {
        json!({
            "id": "msg_3", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 0},
        })
    }

    // --- Stream -> whole, as a client would rebuild it.

    fn parse(e: &SseEvent) -> Value {
        serde_json::from_str(&e.data).unwrap()
    }

    #[derive(Default)]
    struct Choice {
        role: Option<String>,
        content: String,
        refusal: String,
        calls: Vec<Value>,
        finish: Option<String>,
    }

    /// A `chat.completion` rebuilt from chunks; panics on anything after `[DONE]` or a
    /// missing `[DONE]`.
    fn openai_whole(events: &[SseEvent]) -> Value {
        let (last, chunks) = events.split_last().unwrap();
        assert_eq!(last, &SseEvent::data("[DONE]"));
        let mut head = json!({});
        let mut choices: BTreeMap<u64, Choice> = BTreeMap::new();
        let mut usage = None;
        for e in chunks {
            assert_eq!(e.event, None);
            let c = parse(e);
            assert_eq!(c["object"], "chat.completion.chunk");
            for k in ["id", "created", "model", "system_fingerprint"] {
                if let Some(v) = c.get(k) {
                    head[k] = v.clone();
                }
            }
            if let Some(u) = c.get("usage").filter(|u| !u.is_null()) {
                assert_eq!(c["choices"], json!([]), "usage comes in its own chunk");
                usage = Some(u.clone());
            }
            for ch in c["choices"].as_array().unwrap() {
                let acc = choices.entry(ch["index"].as_u64().unwrap()).or_default();
                assert!(acc.finish.is_none(), "a delta after finish_reason");
                let d = &ch["delta"];
                if let Some(r) = d["role"].as_str() {
                    acc.role = Some(r.to_string());
                }
                acc.content.push_str(d["content"].as_str().unwrap_or(""));
                acc.refusal.push_str(d["refusal"].as_str().unwrap_or(""));
                for call in d["tool_calls"].as_array().into_iter().flatten() {
                    let k = call["index"].as_u64().unwrap() as usize;
                    if k == acc.calls.len() {
                        acc.calls
                            .push(json!({"id": call["id"], "type": call["type"],
                            "function": {"name": call["function"]["name"], "arguments": ""}}));
                    }
                    let args = call["function"]["arguments"].as_str().unwrap_or("");
                    let slot = &mut acc.calls[k]["function"]["arguments"];
                    *slot = json!(format!("{}{args}", slot.as_str().unwrap()));
                }
                if let Some(f) = ch["finish_reason"].as_str() {
                    acc.finish = Some(f.to_string());
                }
            }
        }
        head["choices"] = choices
            .into_iter()
            .map(|(i, c)| {
                let mut m = json!({"role": c.role.unwrap(),
                    "content": if c.content.is_empty() { Value::Null } else { json!(c.content) }});
                if !c.calls.is_empty() {
                    m["tool_calls"] = json!(c.calls);
                }
                if !c.refusal.is_empty() {
                    m["refusal"] = json!(c.refusal);
                }
                json!({"index": i, "message": m, "finish_reason": c.finish.unwrap()})
            })
            .collect();
        if let Some(u) = usage {
            head["usage"] = u;
        }
        head
    }

    /// A `message` rebuilt from Anthropic events, checking each event's name is its type and
    /// that blocks open, take deltas and close in order.
    fn anthropic_whole(events: &[SseEvent]) -> Value {
        let mut msg = Value::Null;
        let mut partial: Vec<String> = Vec::new();
        let mut open: Option<usize> = None;
        let mut stopped = false;
        for e in events {
            assert!(!stopped, "an event after message_stop");
            let d = parse(e);
            assert_eq!(e.event.as_deref(), d["type"].as_str());
            match d["type"].as_str().unwrap() {
                "message_start" => {
                    msg = d["message"].clone();
                    assert_eq!(msg["content"], json!([]));
                    assert!(msg["stop_reason"].is_null() && msg["stop_sequence"].is_null());
                    assert!(msg["usage"]["output_tokens"].as_u64().unwrap() <= 1);
                }
                "content_block_start" => {
                    let i = d["index"].as_u64().unwrap() as usize;
                    assert_eq!(open, None);
                    assert_eq!(i, partial.len());
                    msg["content"]
                        .as_array_mut()
                        .unwrap()
                        .push(d["content_block"].clone());
                    partial.push(String::new());
                    open = Some(i);
                }
                "content_block_delta" => {
                    let i = d["index"].as_u64().unwrap() as usize;
                    assert_eq!(open, Some(i));
                    let block = &mut msg["content"][i];
                    let delta = &d["delta"];
                    let mut append = |key: &str, s: &Value| {
                        let cur = block[key].as_str().unwrap_or("").to_string();
                        block[key] = json!(cur + s.as_str().unwrap());
                    };
                    match delta["type"].as_str().unwrap() {
                        "text_delta" => append("text", &delta["text"]),
                        "thinking_delta" => append("thinking", &delta["thinking"]),
                        "signature_delta" => append("signature", &delta["signature"]),
                        "input_json_delta" => {
                            partial[i].push_str(delta["partial_json"].as_str().unwrap())
                        }
                        other => panic!("unexpected delta {other}"),
                    }
                }
                "content_block_stop" => {
                    let i = d["index"].as_u64().unwrap() as usize;
                    assert_eq!(open.take(), Some(i));
                    if !partial[i].is_empty() {
                        msg["content"][i]["input"] = serde_json::from_str(&partial[i]).unwrap();
                    }
                }
                "message_delta" => {
                    msg["stop_reason"] = d["delta"]["stop_reason"].clone();
                    msg["stop_sequence"] = d["delta"]["stop_sequence"].clone();
                    // Counts in message_delta are cumulative: each one given replaces.
                    for (k, v) in d["usage"].as_object().unwrap() {
                        msg["usage"][k] = v.clone();
                    }
                }
                "message_stop" => stopped = true,
                "ping" => {}
                other => panic!("unexpected event {other}"),
            }
        }
        assert!(stopped && open.is_none());
        msg
    }

    fn translate(t: &mut dyn StreamTranslator, events: &[SseEvent]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for e in events {
            t.on_event(e, &mut out).unwrap();
        }
        t.finish(&mut out).unwrap();
        out
    }

    fn stream_usage(format: ApiFormat, events: &[SseEvent]) -> Option<crate::usage::Usage> {
        let mut u = StreamUsage::new(format);
        for e in events {
            u.on_event(e);
        }
        u.reported()
    }

    /// `whole` without what a stream does not carry (logprobs, object) and with the
    /// `content: null` a rebuilt message has for no text.
    fn openai_comparable(whole: &Value) -> Value {
        let mut w = whole.clone();
        w.as_object_mut().unwrap().remove("object");
        for ch in w["choices"].as_array_mut().unwrap() {
            ch.as_object_mut().unwrap().remove("logprobs");
            let m = ch["message"].as_object_mut().unwrap();
            if m.get("refusal") == Some(&Value::Null) {
                m.remove("refusal");
            }
        }
        w
    }

    // --- OpenAI

    #[test]
    fn openai_replay_rebuilds_the_whole_answer() {
        for whole in [
            openai_text(),
            openai_tools(),
            openai_two_choices_and_refusal(),
        ] {
            let events = replay_openai(&whole, true);
            assert_eq!(openai_whole(&events), openai_comparable(&whole));
            // The first chunk of each choice is the role with empty content.
            assert_eq!(
                parse(&events[0])["choices"][0]["delta"],
                json!({"role": "assistant", "content": ""})
            );
        }
        let events = replay_openai(&openai_text(), false);
        assert!(parse(&events[0]).get("system_fingerprint").is_some());
        assert_eq!(
            parse(&events[1])["choices"][0]["delta"]["content"],
            "Hello \"there\"\nsecond line"
        );
    }

    #[test]
    fn openai_usage_chunk_only_when_asked_and_stream_usage_agrees() {
        for whole in [
            openai_text(),
            openai_tools(),
            openai_two_choices_and_refusal(),
        ] {
            let with = replay_openai(&whole, true);
            let without = replay_openai(&whole, false);
            assert_eq!(with.len(), without.len() + 1);
            let usage_chunk = parse(&with[with.len() - 2]);
            assert_eq!(usage_chunk["choices"], json!([]));
            assert_eq!(usage_chunk["usage"], whole["usage"]);
            assert!(without.iter().all(|e| !e.data.contains("\"usage\"")));
            assert_eq!(without.last(), Some(&SseEvent::data("[DONE]")));
            assert_eq!(
                stream_usage(ApiFormat::OpenAi, &with),
                from_value(ApiFormat::OpenAi, &whole)
            );
            assert!(stream_usage(ApiFormat::OpenAi, &without).is_none());
        }
    }

    #[test]
    fn openai_replay_translates_to_anthropic_like_the_whole_answer() {
        for whole in [openai_text(), openai_tools()] {
            let events = translate(
                &mut StreamFromOpenAi::new("m"),
                &replay_openai(&whole, true),
            );
            let streamed = anthropic_whole(&events);
            let direct = response_from_openai(&whole, "m").unwrap();
            for k in ["id", "content", "stop_reason", "usage"] {
                assert_eq!(streamed[k], direct[k], "{k}");
            }
        }
    }

    // --- Anthropic

    #[test]
    fn anthropic_replay_rebuilds_the_whole_message() {
        for whole in [
            anthropic_text_and_tool(),
            anthropic_thinking(),
            anthropic_empty(),
        ] {
            let events = replay_anthropic(&whole);
            assert_eq!(anthropic_whole(&events), whole);
            let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
            assert_eq!(names.first(), Some(&"message_start"));
            assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
        }
        let names: Vec<String> = replay_anthropic(&anthropic_text_and_tool())
            .into_iter()
            .map(|e| e.event.unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let events = replay_anthropic(&anthropic_text_and_tool());
        assert_eq!(
            parse(&events[5])["content_block"],
            json!({"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}})
        );
        assert_eq!(
            parse(&events[1])["content_block"],
            json!({"type": "text", "text": ""})
        );
    }

    #[test]
    fn anthropic_stream_usage_agrees_with_the_whole_answer() {
        for whole in [
            anthropic_text_and_tool(),
            anthropic_thinking(),
            anthropic_empty(),
        ] {
            assert_eq!(
                stream_usage(ApiFormat::Anthropic, &replay_anthropic(&whole)),
                from_value(ApiFormat::Anthropic, &whole)
            );
        }
    }

    #[test]
    fn anthropic_replay_translates_to_openai_like_the_whole_answer() {
        for whole in [
            anthropic_text_and_tool(),
            anthropic_thinking(),
            anthropic_empty(),
        ] {
            let events = translate(
                &mut StreamToOpenAi::new("m", true),
                &replay_anthropic(&whole),
            );
            let streamed = openai_whole(&events);
            let direct = response_to_openai(&whole, "m").unwrap();
            let (s, d) = (&streamed["choices"][0], &direct["choices"][0]);
            assert_eq!(s["finish_reason"], d["finish_reason"]);
            assert_eq!(
                s["message"]["content"].as_str().unwrap_or(""),
                d["message"]["content"].as_str().unwrap_or("")
            );
            assert_eq!(s["message"]["tool_calls"], d["message"]["tool_calls"]);
            assert_eq!(streamed["usage"], direct["usage"]);
        }
    }

    // --- Both

    #[test]
    fn dispatch_and_wire_form() {
        assert!(replay(ApiFormat::Gemini, &json!({}), true).is_none());
        for (format, whole) in [
            (ApiFormat::OpenAi, openai_tools()),
            (ApiFormat::Anthropic, anthropic_thinking()),
        ] {
            let events = replay(format, &whole, true).unwrap();
            let wire = encode_all(&events);
            let mut decoded = Vec::new();
            let mut d = SseDecoder::default();
            d.feed(&wire, &mut decoded).unwrap();
            d.finish(&mut decoded).unwrap();
            assert_eq!(decoded, events);
        }
        let wire = encode_all(&replay_anthropic(&anthropic_empty()));
        assert!(wire.starts_with(b"event: message_start\ndata: {"));
        assert!(wire.ends_with(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        assert!(encode_all(&replay_openai(&openai_text(), false)).ends_with(b"data: [DONE]\n\n"));
    }

    #[test]
    fn odd_answers_do_not_panic() {
        for v in [
            json!(null),
            json!([]),
            json!({"choices": "x", "content": 3}),
        ] {
            let o = replay_openai(&v, true);
            assert_eq!(o.last(), Some(&SseEvent::data("[DONE]")));
            let a = replay_anthropic(&v);
            assert_eq!(
                a.last().and_then(|e| e.event.as_deref()),
                Some("message_stop")
            );
        }
    }
}
