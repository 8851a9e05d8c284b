//! OpenAI Chat Completions <-> Google Gemini `generateContent`: the public entry points and
//! the pieces the whole-answer and stream translators share (finish reasons, usage, ids).
//!
//! - `request`: OpenAI chat request -> Gemini `generateContent` body.
//! - `response`: Gemini `GenerateContentResponse` -> OpenAI `chat.completion`.
//! - `stream`: Gemini `streamGenerateContent?alt=sse` events -> OpenAI `chat.completion.chunk`
//!   events.
//!
//! The mapping, with what is dropped and what is refused, is in `docs/translation-gemini.md`.

mod request;
mod response;
mod stream;

pub use request::request_from_openai;
pub use response::response_to_openai;
pub use stream::StreamToOpenAi;

use serde_json::{json, Map, Value};

/// The `id` of an OpenAI answer when Gemini sent no `responseId`.
const DEFAULT_ID: &str = "chatcmpl-gemini";

/// The id an OpenAI answer reports: Gemini's `responseId`, else a fixed placeholder.
fn answer_id(resp: &Value) -> String {
    resp.get("responseId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_ID)
        .to_string()
}

/// The model an OpenAI answer reports: Gemini's `modelVersion`, else the routed model.
fn answer_model(resp: &Value, model: &str) -> String {
    resp.get("modelVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(model)
        .to_string()
}

/// OpenAI `finish_reason` for a Gemini `finishReason`. `STOP` becomes `tool_calls` when the
/// answer carried function calls; the content filters become `content_filter`; anything else
/// (`OTHER`, `LANGUAGE`, `MALFORMED_FUNCTION_CALL`, unknown values) becomes `stop`.
fn finish_reason(reason: &str, has_tool_calls: bool) -> &'static str {
    match reason {
        "STOP" if has_tool_calls => "tool_calls",
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    }
}

/// The prompt was refused before generation: no candidate, `promptFeedback.blockReason` set.
fn prompt_blocked(resp: &Value) -> bool {
    resp.get("promptFeedback")
        .and_then(|f| f.get("blockReason"))
        .is_some_and(|r| !r.is_null())
}

/// The token counts of Gemini's `usageMetadata` that the OpenAI usage is built from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    prompt: u64,
    candidates: u64,
    thoughts: u64,
    total: u64,
    cached: u64,
}

impl Usage {
    /// Read `usageMetadata` (absent fields are 0).
    fn from_metadata(meta: &Value) -> Usage {
        let mut u = Usage::default();
        u.merge(meta);
        u
    }

    /// Fold a later `usageMetadata` in, field by field: a present, non-zero count replaces
    /// the one held; a missing or zero count leaves it.
    fn merge(&mut self, meta: &Value) {
        let fields: [(&str, &mut u64); 5] = [
            ("promptTokenCount", &mut self.prompt),
            ("candidatesTokenCount", &mut self.candidates),
            ("thoughtsTokenCount", &mut self.thoughts),
            ("totalTokenCount", &mut self.total),
            ("cachedContentTokenCount", &mut self.cached),
        ];
        for (name, slot) in fields {
            if let Some(n) = meta.get(name).and_then(Value::as_u64).filter(|n| *n > 0) {
                *slot = n;
            }
        }
    }

    /// OpenAI `usage`: thoughts count as completion tokens (and are reported again as
    /// `reasoning_tokens`); the total is Gemini's, or the sum when Gemini gave none.
    fn to_openai(self) -> Value {
        let completion = self.candidates.saturating_add(self.thoughts);
        let total = if self.total > 0 {
            self.total
        } else {
            self.prompt.saturating_add(completion)
        };
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": completion,
            "total_tokens": total,
            "prompt_tokens_details": {"cached_tokens": self.cached},
            "completion_tokens_details": {"reasoning_tokens": self.thoughts},
        })
    }
}

/// The message of a Gemini error object (`{"error":{"code","message","status"}}`), if `resp`
/// is one.
fn gemini_error_message(resp: &Value) -> Option<String> {
    let err = resp.get("error")?;
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| err.get("status").and_then(Value::as_str))
        .unwrap_or("the provider reported an error");
    Some(message.to_string())
}

/// Gemini `functionCall` part -> OpenAI tool call `{id, type, function:{name, arguments}}`.
fn tool_call(call: &Value, index: usize) -> Result<Value, crate::translate::TranslateError> {
    let name = call.get("name").and_then(Value::as_str).ok_or_else(|| {
        crate::translate::TranslateError::Upstream("a functionCall has no name".into())
    })?;
    let args = match call.get("args") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(a) => a.clone(),
    };
    Ok(json!({
        "id": format!("call_{index}"),
        "type": "function",
        "function": {"name": name, "arguments": args.to_string()},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_map() {
        assert_eq!(finish_reason("STOP", false), "stop");
        assert_eq!(finish_reason("STOP", true), "tool_calls");
        assert_eq!(finish_reason("MAX_TOKENS", true), "length");
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
        ] {
            assert_eq!(finish_reason(r, false), "content_filter", "{r}");
        }
        for r in ["OTHER", "LANGUAGE", "MALFORMED_FUNCTION_CALL", "NEW_REASON"] {
            assert_eq!(finish_reason(r, false), "stop", "{r}");
        }
    }

    #[test]
    fn usage_counts_thoughts_as_completion_and_reports_cached_tokens() {
        let u = Usage::from_metadata(&json!({
            "promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
            "totalTokenCount": 150, "cachedContentTokenCount": 64
        }));
        assert_eq!(
            u.to_openai(),
            json!({
                "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 64},
                "completion_tokens_details": {"reasoning_tokens": 30}
            })
        );
    }

    #[test]
    fn usage_without_total_sums_and_absent_fields_are_zero() {
        let u = Usage::from_metadata(&json!({"promptTokenCount": 7, "candidatesTokenCount": 3}));
        let v = u.to_openai();
        assert_eq!(v["total_tokens"], 10);
        assert_eq!(v["prompt_tokens_details"]["cached_tokens"], 0);
        assert_eq!(v["completion_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(
            Usage::from_metadata(&Value::Null).to_openai()["total_tokens"],
            0
        );
    }

    #[test]
    fn usage_merge_keeps_real_values_over_missing_or_zero_ones() {
        let mut u =
            Usage::from_metadata(&json!({"promptTokenCount": 9, "cachedContentTokenCount": 4}));
        u.merge(&json!({"promptTokenCount": 0, "candidatesTokenCount": 5, "totalTokenCount": 14}));
        assert_eq!(
            u,
            Usage {
                prompt: 9,
                candidates: 5,
                thoughts: 0,
                total: 14,
                cached: 4
            }
        );
    }
}
