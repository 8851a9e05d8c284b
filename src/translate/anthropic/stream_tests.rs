//! Unit tests of `anthropic::stream`.
use super::*;

fn run(t: &mut dyn StreamTranslator, events: &[SseEvent]) -> Vec<SseEvent> {
    let mut out = Vec::new();
    for e in events {
        t.on_event(e, &mut out).unwrap();
    }
    t.finish(&mut out).unwrap();
    out
}

fn a(name: &str, data: Value) -> SseEvent {
    SseEvent::named(name, data.to_string())
}

fn o(data: Value) -> SseEvent {
    SseEvent::data(data.to_string())
}

/// Parsed data of each event, `created` removed; `[DONE]` as a string.
fn datas(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut v: Value =
                serde_json::from_str(&e.data).unwrap_or_else(|_| Value::String(e.data.clone()));
            if let Some(m) = v.as_object_mut() {
                m.remove("created");
            }
            v
        })
        .collect()
}

fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "msg_1", "object": "chat.completion.chunk", "model": "claude-x",
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
}

fn anthropic_stream() -> Vec<SseEvent> {
    vec![
        a(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-x", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
        ),
        a(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        a("ping", json!({"type": "ping"})),
        a(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        ),
        a(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        a(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
        ),
        a(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        a(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
        ),
        a(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
        ),
        a(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        a(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 7}}),
        ),
        a("message_stop", json!({"type": "message_stop"})),
    ]
}

#[test]
fn anthropic_stream_becomes_openai_chunks_with_usage() {
    let out = run(&mut StreamToOpenAi::new("alias", true), &anthropic_stream());
    assert!(out.iter().all(|e| e.event.is_none()));
    assert_eq!(
        datas(&out),
        vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "Hi"}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                Value::Null
            ),
            chunk(json!({}), json!("tool_calls")),
            json!({"id": "msg_1", "object": "chat.completion.chunk", "model": "claude-x", "choices": [],
                   "usage": {"prompt_tokens": 15, "completion_tokens": 7, "total_tokens": 22,
                             "prompt_tokens_details": {"cached_tokens": 5}}}),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn without_include_usage_there_is_no_usage_chunk() {
    let out = run(
        &mut StreamToOpenAi::new("alias", false),
        &anthropic_stream(),
    );
    assert_eq!(out.len(), 7);
    assert_eq!(out.last(), Some(&SseEvent::data("[DONE]")));
}

#[test]
fn a_stream_that_lacked_message_stop_is_an_error_not_a_complete_answer() {
    let mut events = anthropic_stream();
    events.truncate(4);
    let mut t = StreamToOpenAi::new("alias", false);
    let mut out = Vec::new();
    for e in &events {
        t.on_event(e, &mut out).unwrap();
    }
    assert!(matches!(
        t.finish(&mut out),
        Err(TranslateError::Upstream(_))
    ));
    assert!(
        !datas(&out).contains(&json!("[DONE]")),
        "no end marker for a cut stream"
    );
    // After message_stop, finish adds nothing.
    let mut t = StreamToOpenAi::new("alias", true);
    let mut out = Vec::new();
    for e in anthropic_stream() {
        t.on_event(&e, &mut out).unwrap();
    }
    let n = out.len();
    t.finish(&mut out).unwrap();
    assert_eq!(out.len(), n);
}

#[test]
fn anthropic_error_event_ends_the_stream() {
    let mut events = anthropic_stream();
    events.truncate(4);
    events.push(a(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    events.push(a("message_stop", json!({"type": "message_stop"})));
    let out = run(&mut StreamToOpenAi::new("alias", true), &events);
    assert_eq!(
        datas(&out).last(),
        Some(
            &json!({"error": {"message": "Overloaded", "type": "overloaded_error", "code": null, "param": null}})
        )
    );
    assert_eq!(out.len(), 3);
}

#[test]
fn usage_merges_field_by_field() {
    let events = vec![
        a(
            "message_start",
            json!({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 40, "output_tokens": 1, "cache_creation_input_tokens": 2}}}),
        ),
        a(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"input_tokens": 0, "output_tokens": 9, "cache_read_input_tokens": null}}),
        ),
        a("message_stop", json!({"type": "message_stop"})),
    ];
    let out = run(&mut StreamToOpenAi::new("alias", true), &events);
    let d = datas(&out);
    assert_eq!(d[1]["choices"][0]["finish_reason"], json!("length"));
    assert_eq!(
        d[2]["usage"],
        json!({"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51,
               "prompt_tokens_details": {"cached_tokens": 0}})
    );
}

#[test]
fn anthropic_stream_errors_and_unknowns() {
    let mut t = StreamToOpenAi::new("alias", false);
    let mut out = Vec::new();
    assert!(matches!(
        t.on_event(&SseEvent::named("message_start", "{not json"), &mut out),
        Err(TranslateError::Upstream(_))
    ));
    // Unknown events and thinking deltas are skipped; model falls back to the given one.
    t.on_event(&a("brand_new", json!({"type": "brand_new"})), &mut out)
        .unwrap();
    t.on_event(&a("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "x"}})), &mut out).unwrap();
    assert!(out.is_empty());
    assert!(matches!(
        t.on_event(&a("content_block_delta", json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{"}})), &mut out),
        Err(TranslateError::Upstream(_))
    ));
    assert!(t.finish(&mut out).is_err(), "no message_stop: cut short");
    t.on_event(
        &a(
            "message_start",
            json!({"type": "message_start", "message": {"id": "m"}}),
        ),
        &mut out,
    )
    .unwrap();
    assert_eq!(datas(&out)[0]["model"], json!("alias"));
}

fn o_chunk(delta: Value, finish: Value) -> SseEvent {
    o(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
             "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]}),
    )
}

fn openai_stream() -> Vec<SseEvent> {
    vec![
        o_chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        o_chunk(json!({"content": "Hel"}), Value::Null),
        o_chunk(json!({"content": "lo"}), Value::Null),
        o_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
            Value::Null,
        ),
        o_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]}),
            Value::Null,
        ),
        o_chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
            Value::Null,
        ),
        o_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
            Value::Null,
        ),
        o_chunk(json!({}), json!("tool_calls")),
        o(
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x", "choices": [],
                 "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 10}}}),
        ),
        SseEvent::data("[DONE]"),
    ]
}

#[test]
fn openai_stream_becomes_anthropic_events() {
    let out = run(&mut StreamFromOpenAi::new("alias"), &openai_stream());
    let names: Vec<&str> = out.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let d = datas(&out);
    for (e, v) in out.iter().zip(&d) {
        assert_eq!(v["type"].as_str(), e.event.as_deref());
    }
    assert_eq!(
        d[0],
        json!({"type": "message_start", "message": {"id": "msg_chatcmpl-1", "type": "message", "role": "assistant",
               "content": [], "model": "gpt-x", "stop_reason": null, "stop_sequence": null,
               "usage": {"input_tokens": 0, "output_tokens": 0}}})
    );
    assert_eq!(
        d[1],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        d[3],
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}})
    );
    assert_eq!(
        d[5],
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}})
    );
    assert_eq!(
        d[6],
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}})
    );
    assert_eq!(d[7], json!({"type": "content_block_stop", "index": 1}));
    assert_eq!(d[8]["content_block"]["id"], json!("call_2"));
    assert_eq!(
        d[9],
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}})
    );
    // A late fragment of the first call goes to its own block.
    assert_eq!(
        d[10],
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ":1}"}})
    );
    assert_eq!(
        d[12],
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 20, "output_tokens": 12, "cache_read_input_tokens": 10, "cache_creation_input_tokens": 0}})
    );
    assert_eq!(d[13], json!({"type": "message_stop"}));
}

#[test]
fn finish_without_done_closes_only_after_a_finish_reason() {
    let mut events = openai_stream();
    events.truncate(3);
    let mut cut = StreamFromOpenAi::new("alias");
    let mut out = Vec::new();
    for e in &events {
        cut.on_event(e, &mut out).unwrap();
    }
    assert!(
        matches!(cut.finish(&mut out), Err(TranslateError::Upstream(_))),
        "no finish_reason: cut short"
    );
    assert!(out
        .iter()
        .all(|e| e.event.as_deref() != Some("message_stop")));
    events.push(o_chunk(json!({}), json!("stop")));
    let out = run(&mut StreamFromOpenAi::new("alias"), &events);
    let names: Vec<&str> = out.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(datas(&out)[5]["delta"]["stop_reason"], json!("end_turn"));
    // An empty stream is cut short too.
    assert!(StreamFromOpenAi::new("alias")
        .finish(&mut Vec::new())
        .is_err());
    let mut t = StreamFromOpenAi::new("alias");
    let mut out = Vec::new();
    for e in openai_stream() {
        t.on_event(&e, &mut out).unwrap();
    }
    let n = out.len();
    t.finish(&mut out).unwrap();
    assert_eq!(out.len(), n);
}

#[test]
fn openai_error_chunk_and_malformed_json() {
    let mut events = openai_stream();
    events.truncate(2);
    events.push(o(
        json!({"error": {"message": "boom", "type": "server_error", "code": null, "param": null}}),
    ));
    events.push(SseEvent::data("[DONE]"));
    let out = run(&mut StreamFromOpenAi::new("alias"), &events);
    assert_eq!(out.len(), 4);
    assert_eq!(out.last().unwrap().event.as_deref(), Some("error"));
    assert_eq!(
        datas(&out).last(),
        Some(&json!({"type": "error", "error": {"type": "api_error", "message": "boom"}}))
    );
    let mut t = StreamFromOpenAi::new("alias");
    assert!(matches!(
        t.on_event(&SseEvent::data("{\"choices\":"), &mut Vec::new()),
        Err(TranslateError::Upstream(_))
    ));
}

#[test]
fn an_azure_prompt_filter_chunk_does_not_start_the_message() {
    let mut events = vec![o(
        json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
    )];
    events.extend(openai_stream());
    let out = run(&mut StreamFromOpenAi::new("alias"), &events);
    let d = datas(&out);
    assert_eq!(d[0]["message"]["id"], json!("msg_chatcmpl-1"));
    assert_eq!(d[0]["message"]["model"], json!("gpt-x"));
    assert_eq!(
        out,
        run(&mut StreamFromOpenAi::new("alias"), &openai_stream())
    );
}

#[test]
fn finish_reasons_map_in_the_stream() {
    for (finish, stop) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
    ] {
        let events = vec![
            o_chunk(json!({"content": "x"}), json!(finish)),
            SseEvent::data("[DONE]"),
        ];
        let out = run(&mut StreamFromOpenAi::new("alias"), &events);
        let d = datas(&out);
        assert_eq!(d[d.len() - 2]["delta"]["stop_reason"], json!(stop));
    }
}

#[test]
fn chained_both_ways_the_content_survives() {
    // Anthropic -> OpenAI -> Anthropic keeps text, tool call, stop reason and usage.
    let mut chain = crate::translate::Chain::new(
        StreamToOpenAi::new("alias", true),
        StreamFromOpenAi::new("alias"),
    );
    let out = run(&mut chain, &anthropic_stream());
    let d = datas(&out);
    let names: Vec<&str> = out.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(d[0]["message"]["id"], json!("msg_1"));
    assert_eq!(
        d[4]["content_block"],
        json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})
    );
    assert_eq!(d[8]["delta"]["stop_reason"], json!("tool_use"));
    assert_eq!(d[8]["usage"]["input_tokens"], json!(10));
    assert_eq!(d[8]["usage"]["cache_read_input_tokens"], json!(5));
    assert_eq!(d[8]["usage"]["output_tokens"], json!(7));
}

#[test]
fn server_tool_blocks_are_dropped_not_taken_for_a_broken_stream() {
    // A web search the provider runs itself: its input arrives as input_json_delta on a
    // server_tool_use block, which an OpenAI client has no counterpart for.
    let events = vec![
        a(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude", "stop_reason": null, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ),
        a(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}}),
        ),
        a(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"query\": \"weather\"}"}}),
        ),
        a(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        a(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        a(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Sunny."}}),
        ),
        a(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        a(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
        ),
        a("message_stop", json!({"type": "message_stop"})),
    ];
    let out = run(&mut StreamToOpenAi::new("m", false), &events);
    let text: String = datas(&out)
        .iter()
        .filter_map(|d| {
            d.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, "Sunny.");
    assert!(!datas(&out)
        .iter()
        .any(|d| d.pointer("/choices/0/delta/tool_calls").is_some()));
    // A JSON delta for a block that never started is still a malformed stream.
    let mut t = StreamToOpenAi::new("m", false);
    let stray = a(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 5, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
    );
    assert!(t.on_event(&stray, &mut Vec::new()).is_err());
}
