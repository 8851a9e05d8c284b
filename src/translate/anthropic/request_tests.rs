//! Unit tests of `anthropic::request`.
use super::*;

fn from_openai(req: Value) -> Value {
    request_from_openai(&req, "claude-up").unwrap()
}

fn to_openai(req: Value) -> Value {
    request_to_openai(&req, "gpt-up").unwrap()
}

fn invalid_from(req: Value) -> String {
    match request_from_openai(&req, "m") {
        Err(TranslateError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn invalid_to(req: Value) -> String {
    match request_to_openai(&req, "m") {
        Err(TranslateError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn minimal_request_gets_the_upstream_model_and_default_max_tokens() {
    let out = from_openai(json!({
        "model": "alias", "messages": [{"role": "user", "content": "hi"}]
    }));
    assert_eq!(
        out,
        json!({"model": "claude-up", "max_tokens": DEFAULT_MAX_TOKENS,
               "messages": [{"role": "user", "content": "hi"}]})
    );
}

#[test]
fn system_and_developer_messages_join_into_top_level_system() {
    let out = from_openai(json!({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Late rule."}
    ]}));
    assert_eq!(
        out["system"],
        json!("Be brief.\n\nUse metric units.\n\nLate rule.")
    );
    assert_eq!(out["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[test]
fn consecutive_same_role_messages_merge_into_blocks() {
    let out = from_openai(json!({"messages": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "three"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "four"}
    ]}));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
            {"role": "assistant", "content": "three"},
            {"role": "user", "content": "four"}
        ])
    );
}

#[test]
fn images_map_both_kinds_of_url() {
    let out = from_openai(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}
    ]}]}));
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
        ])
    );
    // And back.
    let back = to_openai(json!({"max_tokens": 10, "messages": [out["messages"][0].clone()]}));
    assert_eq!(
        back["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
        ])
    );
}

#[test]
fn bad_images_and_unknown_parts_are_refused() {
    for part in [
        json!({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}),
        json!({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}),
        json!({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}),
        json!({"type": "file", "file": {"file_id": "f"}}),
    ] {
        invalid_from(json!({"messages": [{"role": "user", "content": [part]}]}));
    }
}

#[test]
fn tool_calls_and_results_round_trip() {
    let openai = json!({
        "model": "alias",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Thanks"}
        ],
        "max_tokens": 100
    });
    let anthropic = from_openai(openai.clone());
    assert_eq!(
        anthropic["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "21C"},
                {"type": "text", "text": "Thanks"}
            ]}
        ])
    );
    let back = request_to_openai(&anthropic, "alias").unwrap();
    let mut expected = openai;
    expected["messages"][3]["content"] = json!("21C");
    assert_eq!(back, expected);
}

#[test]
fn tool_calls_without_text_and_with_empty_arguments() {
    let out = from_openai(json!({"messages": [
        {"role": "user", "content": "now?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "clock", "arguments": ""}}
        ]}
    ]}));
    assert_eq!(
        out["messages"][1]["content"],
        json!([{"type": "tool_use", "id": "c", "name": "clock", "input": {}}])
    );
}

#[test]
fn unparsable_tool_arguments_are_refused() {
    let msg = invalid_from(json!({"messages": [
        {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}
        ]}
    ]}));
    assert!(
        msg.contains("messages[0].tool_calls[0].function.arguments"),
        "{msg}"
    );
    invalid_from(json!({"messages": [
        {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
        ]}
    ]}));
}

#[test]
fn tools_and_tool_choice_variants() {
    let base = json!({
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {"type": "function", "function": {"name": "a", "description": "A", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "b"}}
        ]
    });
    let out = from_openai(base.clone());
    assert_eq!(
        out["tools"],
        json!([
            {"name": "a", "description": "A", "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}}},
            {"name": "b", "input_schema": {"type": "object", "properties": {}}}
        ])
    );
    assert!(out.get("tool_choice").is_none());
    for (choice, parallel, expected) in [
        (json!("auto"), None, json!({"type": "auto"})),
        (json!("required"), None, json!({"type": "any"})),
        (json!("none"), None, json!({"type": "none"})),
        (
            json!({"type": "function", "function": {"name": "a"}}),
            None,
            json!({"type": "tool", "name": "a"}),
        ),
        (
            json!("required"),
            Some(false),
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (json!("none"), Some(false), json!({"type": "none"})),
        (
            json!(null),
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (json!("auto"), Some(true), json!({"type": "auto"})),
    ] {
        let mut req = base.clone();
        req["tool_choice"] = choice.clone();
        if let Some(p) = parallel {
            req["parallel_tool_calls"] = json!(p);
        }
        assert_eq!(
            from_openai(req)["tool_choice"],
            expected,
            "{choice} {parallel:?}"
        );
    }
    // parallel_tool_calls without tools adds nothing.
    let out = from_openai(json!({
        "messages": [{"role": "user", "content": "hi"}], "parallel_tool_calls": false
    }));
    assert!(out.get("tool_choice").is_none());
    invalid_from(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "custom", "custom": {"name": "x"}}]
    }));
}

#[test]
fn tool_choice_variants_map_back() {
    for (choice, expected, parallel) in [
        (json!({"type": "auto"}), json!("auto"), None),
        (json!({"type": "any"}), json!("required"), None),
        (json!({"type": "none"}), json!("none"), None),
        (
            json!({"type": "tool", "name": "a", "disable_parallel_tool_use": true}),
            json!({"type": "function", "function": {"name": "a"}}),
            Some(false),
        ),
    ] {
        let out = to_openai(json!({
            "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "a", "input_schema": {"type": "object"}}],
            "tool_choice": choice
        }));
        assert_eq!(out["tool_choice"], expected);
        assert_eq!(
            out.get("parallel_tool_calls").and_then(Value::as_bool),
            parallel
        );
        assert_eq!(
            out["tools"],
            json!([{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}])
        );
    }
    invalid_to(json!({
        "max_tokens": 5, "messages": [],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}]
    }));
}

#[test]
fn sampling_stop_stream_and_user() {
    let out = from_openai(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 50, "max_completion_tokens": 70,
        "temperature": 0.2, "top_p": 0.9, "stop": "END", "stream": true,
        "user": "u-1", "seed": 4, "frequency_penalty": 0.5, "presence_penalty": 0.1,
        "logit_bias": {"1": 2}, "logprobs": false, "stream_options": {"include_usage": true},
        "store": false, "service_tier": "auto", "metadata": {"k": "v"}, "n": 1,
        "reasoning_effort": "low", "response_format": {"type": "text"}, "whatever": 1
    }));
    assert_eq!(
        out,
        json!({
            "model": "claude-up", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 70, "temperature": 0.2, "top_p": 0.9,
            "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u-1"}
        })
    );
    let out = from_openai(json!({
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50, "stop": ["a", "b"]
    }));
    assert_eq!(out["max_tokens"], json!(50));
    assert_eq!(out["stop_sequences"], json!(["a", "b"]));
    invalid_from(json!({"messages": [{"role": "user", "content": "hi"}], "stop": 3}));
    invalid_from(json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}));
}

#[test]
fn response_format_json_and_n_above_one_are_refused() {
    for rf in [
        json!({"type": "json_object"}),
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
    ] {
        let msg = invalid_from(json!({
            "messages": [{"role": "user", "content": "hi"}], "response_format": rf
        }));
        assert!(
            msg.contains("is not supported by Anthropic providers"),
            "{msg}"
        );
    }
    let msg = invalid_from(json!({"messages": [{"role": "user", "content": "hi"}], "n": 2}));
    assert!(msg.contains("n other than 1"), "{msg}");
}

#[test]
fn malformed_openai_requests_are_refused() {
    invalid_from(json!([]));
    invalid_from(json!({"model": "x"}));
    invalid_from(json!({"messages": []}));
    invalid_from(json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}));
    invalid_from(json!({"messages": [{"role": "tool", "content": "x"}]}));
    invalid_from(json!({"messages": [{"content": "x"}]}));
}

#[test]
fn anthropic_request_maps_system_params_and_stream() {
    let out = to_openai(json!({
        "model": "claude", "max_tokens": 256,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.5, "top_p": 0.8, "top_k": 40, "stop_sequences": ["X"],
        "metadata": {"user_id": "u-9"}, "stream": true, "thinking": {"type": "enabled", "budget_tokens": 1024}
    }));
    assert_eq!(
        out,
        json!({
            "model": "gpt-up", "max_tokens": 256,
            "messages": [
                {"role": "system", "content": "Be brief.\n\nBe kind."},
                {"role": "user", "content": "hi"}
            ],
            "temperature": 0.5, "top_p": 0.8, "stop": ["X"], "user": "u-9",
            "stream": true, "stream_options": {"include_usage": true}
        })
    );
    let out = to_openai(json!({
        "max_tokens": 1, "system": "S", "messages": [{"role": "user", "content": "hi"}], "stream": false
    }));
    assert_eq!(
        out["messages"],
        json!([{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}])
    );
    assert!(out.get("stream").is_none());
}

#[test]
fn tool_results_come_before_the_rest_and_thinking_is_dropped() {
    let out = to_openai(json!({"max_tokens": 10, "messages": [
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}
        ]},
        {"role": "user", "content": [
            {"type": "text", "text": "see:"},
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok"}, {"type": "text", "text": "!"}], "is_error": false},
            {"type": "text", "text": "next"}
        ]}
    ]}));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "t1", "content": "ok!"},
            {"role": "user", "content": [{"type": "text", "text": "see:"}, {"type": "text", "text": "next"}]}
        ])
    );
}

#[test]
fn malformed_anthropic_requests_are_refused() {
    let msg = invalid_to(json!({"messages": [{"role": "user", "content": "hi"}]}));
    assert!(msg.contains("max_tokens"), "{msg}");
    let msg = invalid_to(json!({"max_tokens": 3}));
    assert!(msg.contains("messages"), "{msg}");
    invalid_to(json!({"max_tokens": 3, "messages": [{"role": "system", "content": "x"}]}));
    invalid_to(
        json!({"max_tokens": 3, "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "x"}}
        ]}]}),
    );
    invalid_to(
        json!({"max_tokens": 3, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {"type": "url", "url": "https://x"}}]}
        ]}]}),
    );
}
