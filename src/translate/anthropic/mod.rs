//! OpenAI Chat Completions <-> Anthropic Messages: requests, whole answers and streams.
//!
//! `request` maps requests both ways, `response` whole answers, `stream` the SSE events.
//! This file holds what they share: the stop-reason and usage mappings. The mapping table,
//! with what is dropped and what is refused, is `docs/translation-anthropic.md`.

mod request;
mod response;
mod stream;

pub use request::{request_from_openai, request_to_openai};
pub use response::{response_from_openai, response_to_openai};
pub use stream::{StreamFromOpenAi, StreamToOpenAi};

use serde_json::{json, Value};

/// Default max_tokens when an OpenAI request sets neither max_tokens nor max_completion_tokens (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Anthropic `stop_reason` -> OpenAI `finish_reason`.
fn finish_reason_from_stop(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything newer.
        _ => "stop",
    }
}

/// OpenAI `finish_reason` -> Anthropic `stop_reason`.
fn stop_reason_from_finish(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Token counts in Anthropic's terms: `input` excludes the cached part of the prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

fn u64_at(v: Option<&Value>, key: &str) -> u64 {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

impl Usage {
    /// From an Anthropic `usage` object (missing or null fields count as 0).
    fn from_anthropic(usage: Option<&Value>) -> Self {
        Usage {
            input: u64_at(usage, "input_tokens"),
            output: u64_at(usage, "output_tokens"),
            cache_read: u64_at(usage, "cache_read_input_tokens"),
            cache_creation: u64_at(usage, "cache_creation_input_tokens"),
        }
    }

    /// From an OpenAI `usage` object: the cached part of `prompt_tokens` becomes `cache_read`.
    fn from_openai(usage: Option<&Value>) -> Self {
        let prompt = u64_at(usage, "prompt_tokens");
        let cached = u64_at(
            usage.and_then(|u| u.get("prompt_tokens_details")),
            "cached_tokens",
        );
        Usage {
            input: prompt.saturating_sub(cached),
            output: u64_at(usage, "completion_tokens"),
            cache_read: cached,
            cache_creation: 0,
        }
    }

    /// Field by field: a zero never overwrites a count already known.
    fn merge(&mut self, other: Usage) {
        for (mine, theirs) in [
            (&mut self.input, other.input),
            (&mut self.output, other.output),
            (&mut self.cache_read, other.cache_read),
            (&mut self.cache_creation, other.cache_creation),
        ] {
            if theirs > 0 {
                *mine = theirs;
            }
        }
    }

    fn prompt_tokens(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_creation)
    }

    fn to_openai(self) -> Value {
        let prompt = self.prompt_tokens();
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": self.output,
            "total_tokens": prompt.saturating_add(self.output),
            "prompt_tokens_details": {"cached_tokens": self.cache_read},
        })
    }

    fn to_anthropic(self) -> Value {
        json!({
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation_input_tokens": self.cache_creation,
        })
    }
}

/// An Anthropic message id from an OpenAI one: `msg_` prefixed unless it has it already;
/// made up from `created` when there is none.
fn message_id(openai_id: Option<&str>, created: u64) -> String {
    match openai_id {
        Some(id) if id.starts_with("msg_") => id.to_string(),
        Some(id) if !id.is_empty() => format!("msg_{id}"),
        _ => format!("msg_tollgate_{created}"),
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The `model` an answer names, if it names one (Azure sends `""` in its first chunk).
fn model_at(v: &Value) -> Option<&str> {
    str_at(v, "model").filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        for (stop, finish) in [
            (Some("end_turn"), "stop"),
            (Some("stop_sequence"), "stop"),
            (Some("max_tokens"), "length"),
            (Some("model_context_window_exceeded"), "length"),
            (Some("tool_use"), "tool_calls"),
            (Some("refusal"), "content_filter"),
            (Some("pause_turn"), "stop"),
            (Some("something_new"), "stop"),
            (None, "stop"),
        ] {
            assert_eq!(finish_reason_from_stop(stop), finish, "{stop:?}");
        }
    }

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        for (finish, stop) in [
            (Some("stop"), "end_turn"),
            (Some("length"), "max_tokens"),
            (Some("tool_calls"), "tool_use"),
            (Some("function_call"), "tool_use"),
            (Some("content_filter"), "refusal"),
            (Some("other"), "end_turn"),
            (None, "end_turn"),
        ] {
            assert_eq!(stop_reason_from_finish(finish), stop, "{finish:?}");
        }
    }

    #[test]
    fn anthropic_usage_counts_cache_reads_and_writes_as_prompt_tokens() {
        let u = Usage::from_anthropic(Some(&json!({
            "input_tokens": 10, "output_tokens": 5,
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20
        })));
        assert_eq!(
            u.to_openai(),
            json!({"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
                   "prompt_tokens_details": {"cached_tokens": 100}})
        );
    }

    #[test]
    fn openai_usage_splits_cached_tokens_out_of_input() {
        let u = Usage::from_openai(Some(&json!({
            "prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 100}
        })));
        assert_eq!(
            u.to_anthropic(),
            json!({"input_tokens": 30, "output_tokens": 5,
                   "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0})
        );
        assert_eq!(Usage::from_openai(None), Usage::default());
    }

    #[test]
    fn merging_usage_never_loses_a_known_count() {
        let mut u = Usage {
            input: 10,
            output: 1,
            cache_read: 3,
            cache_creation: 0,
        };
        u.merge(Usage::from_anthropic(Some(
            &json!({"output_tokens": 42, "input_tokens": 0, "cache_read_input_tokens": null}),
        )));
        assert_eq!(
            u,
            Usage {
                input: 10,
                output: 42,
                cache_read: 3,
                cache_creation: 0
            }
        );
    }

    #[test]
    fn message_ids_get_the_msg_prefix_once() {
        assert_eq!(message_id(Some("chatcmpl-1"), 5), "msg_chatcmpl-1");
        assert_eq!(message_id(Some("msg_1"), 5), "msg_1");
        assert_eq!(message_id(None, 5), "msg_tollgate_5");
    }
}
