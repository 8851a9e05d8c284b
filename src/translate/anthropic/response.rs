//! Whole (non-streamed) answers: Anthropic message <-> OpenAI chat.completion.

use serde_json::{json, Value};

use super::{
    finish_reason_from_stop, message_id, model_at, stop_reason_from_finish, str_at, Usage,
};
use crate::translate::{openai_content_text, TranslateError};

fn upstream(msg: impl Into<String>) -> TranslateError {
    TranslateError::Upstream(msg.into())
}

/// Anthropic message -> OpenAI chat.completion.
pub fn response_to_openai(resp: &Value, model: &str) -> Result<Value, TranslateError> {
    if str_at(resp, "type") == Some("error") {
        let msg = resp
            .get("error")
            .and_then(|e| str_at(e, "message"))
            .unwrap_or("an error answer");
        return Err(upstream(format!(
            "the provider answered with an error: {msg}"
        )));
    }
    let blocks = resp
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| upstream("the Anthropic message has no content array"))?;
    let created = crate::clock::unix_s();
    let mut text = String::new();
    let mut has_text = false;
    let mut calls = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        match str_at(block, "type") {
            Some("text") => {
                has_text = true;
                text.push_str(str_at(block, "text").unwrap_or(""));
            }
            Some("tool_use") => {
                let id = str_at(block, "id")
                    .ok_or_else(|| upstream(format!("content[{i}]: a tool_use block has no id")))?;
                let name = str_at(block, "name").ok_or_else(|| {
                    upstream(format!("content[{i}]: a tool_use block has no name"))
                })?;
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            // thinking, redacted_thinking, server tool blocks: no OpenAI counterpart.
            _ => {}
        }
    }
    let content = if !has_text && !calls.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    let mut message = json!({"role": "assistant", "content": content, "refusal": null});
    if !calls.is_empty() {
        if let Some(m) = message.as_object_mut() {
            m.insert("tool_calls".into(), Value::Array(calls));
        }
    }
    let id = str_at(resp, "id")
        .map(str::to_string)
        .unwrap_or_else(|| format!("chatcmpl-tollgate-{created}"));
    Ok(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model_at(resp).unwrap_or(model),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason_from_stop(str_at(resp, "stop_reason")),
        }],
        "usage": Usage::from_anthropic(resp.get("usage")).to_openai(),
    }))
}

/// OpenAI chat.completion -> Anthropic message.
pub fn response_from_openai(resp: &Value, model: &str) -> Result<Value, TranslateError> {
    if let Some(err) = resp.get("error").filter(|e| !e.is_null()) {
        let msg = str_at(err, "message").unwrap_or("an error answer");
        return Err(upstream(format!(
            "the provider answered with an error: {msg}"
        )));
    }
    let choice = resp
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| upstream("the chat.completion has no choices"))?;
    let message = choice
        .get("message")
        .ok_or_else(|| upstream("choices[0] has no message"))?;

    let mut content = Vec::new();
    let mut text = message
        .get("content")
        .map(openai_content_text)
        .unwrap_or_default();
    if text.is_empty() {
        if let Some(refusal) = str_at(message, "refusal") {
            text = refusal.to_string();
        }
    }
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (i, call) in calls.iter().enumerate() {
            let at = format!("choices[0].message.tool_calls[{i}]");
            let id = str_at(call, "id").ok_or_else(|| upstream(format!("{at} has no id")))?;
            let function = call.get("function");
            let name = function
                .and_then(|f| str_at(f, "name"))
                .ok_or_else(|| upstream(format!("{at} has no function name")))?;
            let args = function.and_then(|f| str_at(f, "arguments")).unwrap_or("");
            let input = if args.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str::<Value>(args).map_err(|e| {
                    upstream(format!("{at}.function.arguments is not valid JSON: {e}"))
                })?
            };
            content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
    }
    let created = resp.get("created").and_then(Value::as_u64).unwrap_or(0);
    Ok(json!({
        "id": message_id(str_at(resp, "id"), created),
        "type": "message",
        "role": "assistant",
        "model": model_at(resp).unwrap_or(model),
        "content": content,
        "stop_reason": stop_reason_from_finish(str_at(choice, "finish_reason")),
        "stop_sequence": null,
        "usage": Usage::from_openai(resp.get("usage")).to_anthropic(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anthropic_answer() -> Value {
        json!({
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "...", "signature": "s"},
                {"type": "text", "text": "Let me "},
                {"type": "text", "text": "check."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris", "days": 2}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 30, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 8}
        })
    }

    #[test]
    fn anthropic_answer_maps_text_tools_finish_and_usage() {
        let out = response_to_openai(&anthropic_answer(), "alias").unwrap();
        assert!(out["created"].as_u64().unwrap() > 1_600_000_000);
        let mut out = out;
        out.as_object_mut().unwrap().remove("created");
        assert_eq!(
            out,
            json!({
                "id": "msg_01",
                "object": "chat.completion",
                "model": "claude-sonnet-4-5",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Let me check.",
                        "refusal": null,
                        "tool_calls": [{"id": "toolu_1", "type": "function",
                            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\",\"days\":2}"}}]
                    },
                    "logprobs": null,
                    "finish_reason": "tool_calls"
                }],
                "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                          "prompt_tokens_details": {"cached_tokens": 100}}
            })
        );
    }

    #[test]
    fn content_is_null_only_for_tool_calls_without_text() {
        let mut a = anthropic_answer();
        a["content"] = json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]);
        let out = response_to_openai(&a, "m").unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            json!("{}")
        );
        a["content"] = json!([]);
        a["stop_reason"] = json!("max_tokens");
        let out = response_to_openai(&a, "m").unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], json!(""));
        assert!(out["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(out["choices"][0]["finish_reason"], json!("length"));
    }

    #[test]
    fn missing_model_uses_the_given_one_and_finish_reasons_map() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("refusal", "content_filter"),
            ("pause_turn", "stop"),
        ] {
            let a = json!({"id": "m", "content": [{"type": "text", "text": "x"}], "stop_reason": stop,
                           "usage": {"input_tokens": 1, "output_tokens": 2}});
            let out = response_to_openai(&a, "given").unwrap();
            assert_eq!(out["model"], json!("given"));
            assert_eq!(out["choices"][0]["finish_reason"], json!(finish));
            assert_eq!(
                out["usage"]["prompt_tokens_details"]["cached_tokens"],
                json!(0)
            );
            assert_eq!(out["usage"]["total_tokens"], json!(3));
        }
    }

    #[test]
    fn malformed_anthropic_answers_are_upstream_errors() {
        for bad in [
            json!({"id": "m"}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
            json!({"content": [{"type": "tool_use", "name": "f", "input": {}}]}),
        ] {
            assert!(matches!(
                response_to_openai(&bad, "m"),
                Err(TranslateError::Upstream(_))
            ));
        }
    }

    fn openai_answer() -> Value {
        json!({
            "id": "chatcmpl-9",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "On it.", "refusal": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                "logprobs": null,
                "finish_reason": "tool_calls"
            }],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                      "prompt_tokens_details": {"cached_tokens": 1024}}
        })
    }

    #[test]
    fn openai_answer_maps_text_tools_stop_reason_and_cached_usage() {
        assert_eq!(
            response_from_openai(&openai_answer(), "alias").unwrap(),
            json!({
                "id": "msg_chatcmpl-9",
                "type": "message",
                "role": "assistant",
                "model": "gpt-4o-2024-08-06",
                "content": [
                    {"type": "text", "text": "On it."},
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}}
                ],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": {"input_tokens": 176, "output_tokens": 40,
                          "cache_read_input_tokens": 1024, "cache_creation_input_tokens": 0}
            })
        );
    }

    #[test]
    fn openai_stop_reasons_refusals_and_empty_text() {
        for (finish, stop) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("content_filter", "refusal"),
        ] {
            let mut a = openai_answer();
            a["choices"][0]["finish_reason"] = json!(finish);
            a["choices"][0]["message"] = json!({"role": "assistant", "content": ""});
            a.as_object_mut().unwrap().remove("model");
            let out = response_from_openai(&a, "given").unwrap();
            assert_eq!(out["stop_reason"], json!(stop));
            assert_eq!(out["content"], json!([]));
            assert_eq!(out["model"], json!("given"));
        }
        let mut a = openai_answer();
        a["choices"][0]["message"] =
            json!({"role": "assistant", "content": null, "refusal": "I can't help with that."});
        let out = response_from_openai(&a, "m").unwrap();
        assert_eq!(
            out["content"],
            json!([{"type": "text", "text": "I can't help with that."}])
        );
    }

    #[test]
    fn malformed_openai_answers_are_upstream_errors() {
        let mut bad_args = openai_answer();
        bad_args["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] =
            json!("{\"city\":");
        for bad in [
            json!({"id": "x", "choices": []}),
            json!({"id": "x"}),
            json!({"choices": [{"index": 0}]}),
            json!({"error": {"message": "nope"}}),
            bad_args,
        ] {
            assert!(matches!(
                response_from_openai(&bad, "m"),
                Err(TranslateError::Upstream(_))
            ));
        }
    }
}
