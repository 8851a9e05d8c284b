//! Tests of the usage in whole answers, per provider shape, from bytes and from a parsed
//! value alike.

use serde_json::{json, Value};

use super::{from_answer, from_value, Usage};
use crate::translate::ApiFormat;

fn u(input: u64, cached_input: u64, output: u64) -> Usage {
    Usage {
        input,
        cached_input,
        output,
    }
}

/// `from_answer` on the bytes and `from_value` on the parsed body, which must agree.
fn both(format: ApiFormat, body: &Value) -> Option<Usage> {
    let from_bytes = from_answer(format, body.to_string().as_bytes());
    assert_eq!(from_bytes, from_value(format, body), "{body}");
    from_bytes
}

#[test]
fn openai_splits_cached_tokens_out_of_the_prompt() {
    let body = json!({"id": "c", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                  "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 12}}});
    assert_eq!(both(ApiFormat::OpenAi, &body), Some(u(176, 1024, 40)));
}

#[test]
fn openai_without_details_or_with_null_details() {
    let plain = json!({"usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}});
    assert_eq!(both(ApiFormat::OpenAi, &plain), Some(u(9, 0, 3)));
    let null = json!({"usage": {"prompt_tokens": 9, "completion_tokens": 3,
                                "prompt_tokens_details": null}});
    assert_eq!(both(ApiFormat::OpenAi, &null), Some(u(9, 0, 3)));
    // A cached count above the prompt (a broken server) saturates instead of wrapping.
    let odd = json!({"usage": {"prompt_tokens": 5, "completion_tokens": 1,
                               "prompt_tokens_details": {"cached_tokens": 8}}});
    assert_eq!(both(ApiFormat::OpenAi, &odd), Some(u(0, 8, 1)));
}

#[test]
fn openai_embeddings_usage_has_no_output() {
    let body = json!({"object": "list", "data": [{"object": "embedding", "index": 0,
        "embedding": [0.1, 0.2]}], "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8}});
    assert_eq!(both(ApiFormat::OpenAi, &body), Some(u(8, 0, 0)));
}

#[test]
fn no_usage_null_usage_zero_usage_and_garbage_are_none() {
    for format in [ApiFormat::OpenAi, ApiFormat::Anthropic, ApiFormat::Gemini] {
        for body in [
            json!({"choices": []}),
            json!({"usage": null, "usageMetadata": null}),
            json!({"usage": {}, "usageMetadata": {}}),
            json!({"usage": {"prompt_tokens": 0, "input_tokens": 0},
                   "usageMetadata": {"promptTokenCount": 0}}),
            json!({"error": {"message": "overloaded"}}),
            json!([]),
            json!("usage"),
        ] {
            assert_eq!(both(format, &body), None, "{format:?} {body}");
        }
        for bytes in [&b""[..], b"not json", b"{\"usage\":", b"\xff\xfe"] {
            assert_eq!(from_answer(format, bytes), None, "{format:?}");
        }
    }
}

#[test]
fn odd_count_types_count_as_zero_without_losing_the_rest() {
    let body = json!({"usage": {"prompt_tokens": "12", "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": -3}, "total_tokens": {"x": [1]}}});
    assert_eq!(both(ApiFormat::OpenAi, &body), Some(u(0, 0, 7)));
    let floats = json!({"usage": {"input_tokens": 10.0, "output_tokens": 2.9,
                                  "cache_read_input_tokens": [1, 2]}});
    assert_eq!(both(ApiFormat::Anthropic, &floats), Some(u(10, 0, 2)));
    // A usage that is not an object at all is no usage.
    assert_eq!(both(ApiFormat::OpenAi, &json!({"usage": 5})), None);
}

#[test]
fn anthropic_counts_cache_writes_as_input_and_reads_as_cached() {
    let body = json!({"id": "msg_1", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 8,
                  "cache_read_input_tokens": 100, "output_tokens": 30,
                  "cache_creation": {"ephemeral_5m_input_tokens": 8, "ephemeral_1h_input_tokens": 0},
                  "service_tier": "standard"}});
    assert_eq!(both(ApiFormat::Anthropic, &body), Some(u(20, 100, 30)));
}

#[test]
fn anthropic_without_or_with_null_cache_fields() {
    let plain = json!({"usage": {"input_tokens": 25, "output_tokens": 7}});
    assert_eq!(both(ApiFormat::Anthropic, &plain), Some(u(25, 0, 7)));
    let nulls = json!({"usage": {"input_tokens": 25, "output_tokens": 7,
        "cache_creation_input_tokens": null, "cache_read_input_tokens": null}});
    assert_eq!(both(ApiFormat::Anthropic, &nulls), Some(u(25, 0, 7)));
    // OpenAI's field names mean nothing in an Anthropic answer.
    let wrong = json!({"usage": {"prompt_tokens": 25, "completion_tokens": 7}});
    assert_eq!(both(ApiFormat::Anthropic, &wrong), None);
}

#[test]
fn gemini_counts_thoughts_as_output_and_splits_cached_tokens() {
    let body = json!({"candidates": [{"content": {"parts": [
            {"text": "Let me think", "thought": true}, {"text": "Hello"}], "role": "model"},
            "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30, "totalTokenCount": 150, "cachedContentTokenCount": 64,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}]},
        "modelVersion": "gemini-2.5-flash"});
    assert_eq!(both(ApiFormat::Gemini, &body), Some(u(36, 64, 50)));
    let plain = json!({"usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3,
                                         "totalTokenCount": 10}});
    assert_eq!(both(ApiFormat::Gemini, &plain), Some(u(7, 0, 3)));
    // A blocked prompt: no candidates, the prompt is still counted.
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"},
                         "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}});
    assert_eq!(both(ApiFormat::Gemini, &blocked), Some(u(12, 0, 0)));
}

#[test]
fn gemini_array_bodies_merge_field_by_field() {
    let body = json!([
        {"candidates": [], "usageMetadata": {"promptTokenCount": 9, "cachedContentTokenCount": 4}},
        {"candidates": []},
        {"candidates": [], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 5,
                                             "thoughtsTokenCount": 2}}
    ]);
    assert_eq!(both(ApiFormat::Gemini, &body), Some(u(5, 4, 7)));
    assert_eq!(
        from_answer(ApiFormat::Gemini, format!("  \n{body}").as_bytes()),
        Some(u(5, 4, 7))
    );
}

#[test]
fn other_formats_usage_is_not_read() {
    let openai = json!({"usage": {"prompt_tokens": 9, "completion_tokens": 3}});
    assert_eq!(both(ApiFormat::Gemini, &openai), None);
    let gemini = json!({"usageMetadata": {"promptTokenCount": 9}});
    assert_eq!(both(ApiFormat::OpenAi, &gemini), None);
}

#[test]
fn huge_counts_saturate() {
    let body = json!({"usage": {"input_tokens": u64::MAX, "cache_creation_input_tokens": 5,
                                "output_tokens": 1e300}});
    assert_eq!(
        both(ApiFormat::Anthropic, &body),
        Some(u(u64::MAX, 0, u64::MAX))
    );
}
