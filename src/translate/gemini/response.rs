//! Gemini `GenerateContentResponse` (a whole answer) -> OpenAI `chat.completion`.

use serde_json::{json, Value};

use super::{
    answer_id, answer_model, finish_reason, gemini_error_message, prompt_blocked, tool_call, Usage,
};
use crate::translate::TranslateError;

fn upstream(msg: impl Into<String>) -> TranslateError {
    TranslateError::Upstream(msg.into())
}

/// Translate a whole Gemini answer into an OpenAI `chat.completion`.
///
/// Only the first candidate is reported. `model` is reported unless the answer names its
/// `modelVersion`. `Err(Upstream)` when the answer is not a `GenerateContentResponse`.
pub fn response_to_openai(resp: &Value, model: &str) -> Result<Value, TranslateError> {
    if !resp.is_object() {
        return Err(upstream("the answer is not a JSON object"));
    }
    if let Some(message) = gemini_error_message(resp) {
        return Err(upstream(format!("Gemini reported an error: {message}")));
    }
    let candidates = match resp.get("candidates") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(c)) => c.as_slice(),
        Some(_) => return Err(upstream("`candidates` is not an array")),
    };
    let choice = match candidates.first() {
        Some(candidate) => candidate_choice(candidate)?,
        None if prompt_blocked(resp) => json!({
            "index": 0,
            "message": {"role": "assistant", "content": null, "refusal": null},
            "logprobs": null,
            "finish_reason": "content_filter",
        }),
        None => return Err(upstream("the answer has no candidate and no block reason")),
    };
    let usage = Usage::from_metadata(resp.get("usageMetadata").unwrap_or(&Value::Null));
    Ok(json!({
        "id": answer_id(resp),
        "object": "chat.completion",
        "created": crate::clock::unix_s(),
        "model": answer_model(resp, model),
        "choices": [choice],
        "usage": usage.to_openai(),
    }))
}

/// One candidate -> one OpenAI choice (index 0).
fn candidate_choice(candidate: &Value) -> Result<Value, TranslateError> {
    let parts = match candidate.get("content").and_then(|c| c.get("parts")) {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(p)) => p.as_slice(),
        Some(_) => return Err(upstream("`content.parts` is not an array")),
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in parts {
        if let Some(call) = part.get("functionCall") {
            calls.push(tool_call(call, calls.len())?);
        } else if let Some(t) = part.get("text").and_then(Value::as_str) {
            if part.get("thought").and_then(Value::as_bool) != Some(true) {
                text.push_str(t);
            }
        }
        // Other parts (inline data, executable code, ...) have no OpenAI counterpart.
    }
    let reason = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
    });
    let has_calls = !calls.is_empty();
    if has_calls {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(json!({
        "index": 0,
        "message": message,
        "logprobs": null,
        "finish_reason": finish_reason(reason, has_calls),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(resp: Value) -> Value {
        let mut out = response_to_openai(&resp, "gemini-2.5-flash").unwrap();
        assert!(out["created"].as_u64().unwrap() > 1_700_000_000);
        out.as_object_mut().unwrap().remove("created");
        out
    }

    #[test]
    fn text_answer_skips_thoughts_and_reports_usage() {
        let out = answer(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Let me think", "thought": true},
                {"text": "Hello"}, {"text": ", world"},
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4,
                "thoughtsTokenCount": 6, "totalTokenCount": 20, "cachedContentTokenCount": 8},
            "modelVersion": "gemini-2.5-pro",
            "responseId": "resp-1",
        }));
        assert_eq!(
            out,
            json!({
                "id": "resp-1",
                "object": "chat.completion",
                "model": "gemini-2.5-pro",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world", "refusal": null},
                    "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20,
                    "prompt_tokens_details": {"cached_tokens": 8},
                    "completion_tokens_details": {"reasoning_tokens": 6}},
            })
        );
    }

    #[test]
    fn function_calls_become_tool_calls() {
        let out = answer(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "now"}},
            ]}, "finishReason": "STOP"}],
        }));
        assert_eq!(out["id"], "chatcmpl-gemini");
        assert_eq!(out["model"], "gemini-2.5-flash");
        assert_eq!(
            out["choices"][0],
            json!({"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
                "tool_calls": [
                    {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_1", "type": "function", "function": {"name": "now", "arguments": "{}"}},
                ]}, "logprobs": null, "finish_reason": "tool_calls"})
        );
        assert_eq!(out["usage"]["total_tokens"], 0);
    }

    #[test]
    fn finish_reasons_of_whole_answers() {
        let reason = |r: &str| {
            answer(
                json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": r}]}),
            )["choices"][0]["finish_reason"]
                .clone()
        };
        assert_eq!(reason("MAX_TOKENS"), "length");
        assert_eq!(reason("SAFETY"), "content_filter");
        assert_eq!(reason("RECITATION"), "content_filter");
        assert_eq!(reason("OTHER"), "stop");
        // A candidate stopped by a filter may carry no content at all.
        let out = answer(json!({"candidates": [{"finishReason": "PROHIBITED_CONTENT"}]}));
        assert_eq!(out["choices"][0]["message"]["content"], "");
        assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
    }

    #[test]
    fn blocked_prompt_is_a_content_filter_choice() {
        let out = answer(json!({
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
            "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
            "modelVersion": "gemini-2.0-flash",
        }));
        assert_eq!(
            out["choices"],
            json!([{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null},
                "logprobs": null, "finish_reason": "content_filter"}])
        );
        assert_eq!(out["usage"]["prompt_tokens"], 12);
        assert_eq!(out["usage"]["completion_tokens"], 0);
    }

    #[test]
    fn malformed_answers_are_upstream_errors() {
        for bad in [
            json!([]),
            json!({"candidates": {}}),
            json!({"candidates": []}),
            json!({"candidates": [{"content": {"parts": "x"}}]}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}),
            json!({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
        ] {
            assert!(
                matches!(
                    response_to_openai(&bad, "m"),
                    Err(TranslateError::Upstream(_))
                ),
                "{bad}"
            );
        }
    }
}
