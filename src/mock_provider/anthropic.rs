//! The mock in Anthropic's Messages format (`POST /v1/messages`), as pure functions from a
//! request to response bytes: the header and field checks with Anthropic's error shape, the
//! whole `message`, and the named SSE events of a stream (`message_start`,
//! `content_block_start`, `ping`, `content_block_delta`s, `content_block_stop`,
//! `message_delta`, `message_stop`). What the answer is comes from `script`.

use super::script::{self, Answer, Conversation, Last, Reply, Tool, ToolChoice};
use super::Recorded;
use serde_json::{json, Value};

/// The id of the mock's (only) tool call in every Anthropic answer.
pub const TOOL_USE_ID: &str = "toolu_mock_1";

/// The parts of a Messages request the mock looks at.
pub struct MessagesAsk {
    pub model: String,
    pub stream: bool,
    pub conversation: Conversation,
}

/// Anthropic's error body: `{"type":"error","error":{"type":kind,"message":message}}`.
pub fn error(kind: &str, message: &str) -> Vec<u8> {
    json!({ "type": "error", "error": { "type": kind, "message": message } })
        .to_string()
        .into_bytes()
}

fn fail(status: u16, kind: &str, message: &str) -> Answer {
    Answer::Whole {
        status,
        body: error(kind, message),
    }
}

/// The whole exchange for `POST /v1/messages`: checks, then the answer (whole or streamed).
pub fn answer(req: &Recorded, chunks: usize, id: u64) -> Answer {
    if let Err(e) = check_headers(req) {
        return e;
    }
    match parse_messages(&req.body) {
        Ok(ask) if ask.stream => Answer::Stream {
            content_type: "text/event-stream",
            events: stream_events(&ask, chunks, id),
        },
        Ok(ask) => Answer::Whole {
            status: 200,
            body: message(&ask, chunks, id),
        },
        Err(e) => fail(400, "invalid_request_error", &e),
    }
}

/// A non-empty `x-api-key` (else 401) and an `anthropic-version` (else 400).
pub fn check_headers(req: &Recorded) -> Result<(), Answer> {
    if req.header("x-api-key").is_none_or(|k| k.trim().is_empty()) {
        return Err(fail(
            401,
            "authentication_error",
            "x-api-key header is required",
        ));
    }
    if req
        .header("anthropic-version")
        .is_none_or(|v| v.trim().is_empty())
    {
        return Err(fail(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ));
    }
    Ok(())
}

pub fn parse_messages(body: &[u8]) -> Result<MessagesAsk, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let model = match v.get("model") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err("model: Input should be a valid string".into()),
        None => return Err("model: Field required".into()),
    };
    match v.get("max_tokens") {
        Some(n) if n.is_u64() => {}
        Some(_) => return Err("max_tokens: Input should be a valid integer".into()),
        None => return Err("max_tokens: Field required".into()),
    }
    let messages = match v.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err("messages: at least one message is required".into()),
        Some(_) => return Err("messages: Input should be a valid list".into()),
        None => return Err("messages: Field required".into()),
    };
    let mut conversation = Conversation {
        prompt_chars: blocks_text(v.get("system")).len(),
        tools: tools(&v),
        tool_choice: tool_choice(v.get("tool_choice")),
        max_tokens: v
            .get("max_tokens")
            .and_then(Value::as_u64)
            .map(|n| n as usize),
        ..Conversation::default()
    };
    for m in messages {
        let content = m.get("content");
        let text = blocks_text(content);
        let results = tool_results(content);
        conversation.prompt_chars += text.len() + results.iter().map(String::len).sum::<usize>();
        if m.get("role").and_then(Value::as_str) == Some("user")
            && (results.is_empty() || has_text(content))
        {
            conversation.last_user_text = text;
        }
    }
    conversation.last = match messages.last() {
        Some(m) if m.get("role").and_then(Value::as_str) == Some("user") => {
            match tool_results(m.get("content")).pop() {
                Some(result) => Last::ToolResult(result),
                None => Last::UserText,
            }
        }
        _ => Last::Other,
    };
    Ok(MessagesAsk {
        model,
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        conversation,
    })
}

/// Client tools (`{name, input_schema}`, `type` absent or `custom`); server tools such as
/// `web_search_20250305` are not the mock's to call.
fn tools(v: &Value) -> Vec<Tool> {
    v.get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter(|t| {
                    t.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|k| k == "custom")
                })
                .filter_map(|t| {
                    Some(Tool {
                        name: t.get("name")?.as_str()?.to_string(),
                        schema: t.get("input_schema").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tool_choice(choice: Option<&Value>) -> ToolChoice {
    let Some(choice) = choice else {
        return ToolChoice::Auto;
    };
    match choice.get("type").and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("tool") => choice
            .get("name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Named(n.to_string()))
            .unwrap_or_default(),
        _ => ToolChoice::Auto,
    }
}

/// The text of a content (or `system`) value: the string itself, or its text blocks joined
/// with spaces.
fn blocks_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn has_text(content: Option<&Value>) -> bool {
    match content {
        Some(Value::String(_)) => true,
        Some(Value::Array(blocks)) => blocks
            .iter()
            .any(|b| b.get("type").and_then(Value::as_str) == Some("text")),
        _ => false,
    }
}

/// The text of each `tool_result` block of a content, in order.
fn tool_results(content: Option<&Value>) -> Vec<String> {
    match content {
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .map(|b| blocks_text(b.get("content")))
            .collect(),
        _ => Vec::new(),
    }
}

fn usage(ask: &MessagesAsk, output_tokens: usize) -> Value {
    json!({
        "input_tokens": ask.conversation.input_tokens(),
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

fn stop_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "end_turn",
        Reply::ToolCall { .. } => "tool_use",
    }
}

/// The whole answer: a `message` with one text block, or one `tool_use` block.
pub fn message(ask: &MessagesAsk, chunks: usize, id: u64) -> Vec<u8> {
    let reply = ask.conversation.reply(chunks);
    let block = match &reply {
        Reply::Text(pieces) => json!({ "type": "text", "text": pieces.concat() }),
        Reply::ToolCall { name, arguments } => {
            json!({ "type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": arguments })
        }
    };
    json!({
        "id": format!("msg_mock_{id}"),
        "type": "message",
        "role": "assistant",
        "model": ask.model,
        "content": [block],
        "stop_reason": stop_reason(&reply),
        "stop_sequence": null,
        "usage": usage(ask, reply.output_tokens()),
    })
    .to_string()
    .into_bytes()
}

/// One named SSE event: `event: <type>\ndata: <data>\n\n`, where `data.type` is the name.
fn event(data: Value) -> Vec<u8> {
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_string();
    format!("event: {name}\ndata: {data}\n\n").into_bytes()
}

/// Every event of a streamed answer, each a complete frame.
pub fn stream_events(ask: &MessagesAsk, chunks: usize, id: u64) -> Vec<Vec<u8>> {
    let reply = ask.conversation.reply(chunks);
    let mut events = Vec::with_capacity(chunks + 6);
    events.push(event(json!({
        "type": "message_start",
        "message": {
            "id": format!("msg_mock_{id}"),
            "type": "message",
            "role": "assistant",
            "model": ask.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage(ask, 1),
        },
    })));
    let (block, deltas): (Value, Vec<Value>) = match &reply {
        Reply::Text(pieces) => (
            json!({ "type": "text", "text": "" }),
            pieces
                .iter()
                .map(|p| json!({ "type": "text_delta", "text": p }))
                .collect(),
        ),
        Reply::ToolCall { name, arguments } => (
            json!({ "type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {} }),
            script::argument_fragments(arguments)
                .into_iter()
                .map(|f| json!({ "type": "input_json_delta", "partial_json": f }))
                .collect(),
        ),
    };
    events.push(event(
        json!({ "type": "content_block_start", "index": 0, "content_block": block }),
    ));
    events.push(event(json!({ "type": "ping" })));
    for delta in deltas {
        events.push(event(
            json!({ "type": "content_block_delta", "index": 0, "delta": delta }),
        ));
    }
    events.push(event(json!({ "type": "content_block_stop", "index": 0 })));
    events.push(event(json!({
        "type": "message_delta",
        "delta": { "stop_reason": stop_reason(&reply), "stop_sequence": null },
        "usage": { "output_tokens": reply.output_tokens() },
    })));
    events.push(event(json!({ "type": "message_stop" })));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn request(headers: &[(&str, &str)], body: Value) -> Recorded {
        Recorded {
            method: "POST".into(),
            path: "/v1/messages".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    const GOOD: &[(&str, &str)] = &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")];

    fn whole(body: Value, chunks: usize) -> Value {
        match answer(&request(GOOD, body), chunks, 7) {
            Answer::Whole { status: 200, body } => serde_json::from_slice(&body).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    /// (event name, data) of every event of a streamed answer.
    fn streamed(body: Value, chunks: usize) -> Vec<(String, Value)> {
        let Answer::Stream {
            content_type,
            events,
        } = answer(&request(GOOD, body), chunks, 7)
        else {
            panic!("stream expected")
        };
        assert_eq!(content_type, "text/event-stream");
        events
            .iter()
            .map(|e| {
                let text = std::str::from_utf8(e).unwrap();
                assert!(text.ends_with("\n\n"));
                let (head, data) = text.trim_end().split_once('\n').unwrap();
                let name = head.strip_prefix("event: ").unwrap().to_string();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], name.as_str());
                (name, data)
            })
            .collect()
    }

    fn hello(stream: bool) -> Value {
        json!({
            "model": "claude-mock",
            "max_tokens": 100,
            "stream": stream,
            "system": "be brief",
            "messages": [{ "role": "user", "content": [{ "type": "text", "text": "hi there" }] }],
        })
    }

    #[test]
    fn whole_message_has_anthropic_shape() {
        let m = whole(hello(false), 6);
        assert_eq!(m["id"], "msg_mock_7");
        assert_eq!(m["type"], "message");
        assert_eq!(m["role"], "assistant");
        assert_eq!(m["model"], "claude-mock");
        assert_eq!(m["stop_reason"], "end_turn");
        assert_eq!(m["stop_sequence"], Value::Null);
        assert_eq!(m["content"][0]["type"], "text");
        let text = script::pieces(&script::greeting("hi there"), 6).concat();
        assert_eq!(m["content"][0]["text"], text.as_str());
        // "be brief" + "hi there" = 16 characters: 4 + 3 tokens.
        assert_eq!(
            m["usage"],
            json!({"input_tokens": 7, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
        );
    }

    #[test]
    fn stream_events_come_in_order_and_spell_the_whole_text() {
        let events = streamed(hello(true), 4);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let start = &events[0].1["message"];
        assert_eq!(start["content"], json!([]));
        assert_eq!(start["usage"]["output_tokens"], 1);
        assert_eq!(start["usage"]["input_tokens"], 7);
        assert_eq!(
            events[1].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        let text: String = events
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, d)| {
                assert_eq!(d["delta"]["type"], "text_delta");
                d["delta"]["text"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(whole(hello(false), 4)["content"][0]["text"], text.as_str());
        assert_eq!(
            events[8].1["delta"],
            json!({"stop_reason": "end_turn", "stop_sequence": null})
        );
        assert_eq!(events[8].1["usage"], json!({"output_tokens": 4}));
    }

    fn with_tools(mut body: Value) -> Value {
        body["tools"] = json!([
            { "type": "web_search_20250305", "name": "web_search" },
            { "name": "get_weather", "description": "w", "input_schema": {
                "type": "object",
                "properties": { "city": {"type": "string"}, "days": {"type": "integer"} },
                "required": ["city"] } },
            { "name": "other", "input_schema": { "type": "object" } }
        ]);
        body
    }

    #[test]
    fn tools_are_called_with_arguments_from_the_schema() {
        let m = whole(with_tools(hello(false)), 4);
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(
            m["content"],
            json!([{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {"city": "test"}}])
        );
        assert_eq!(m["usage"]["output_tokens"], 10);

        let events = streamed(with_tools(hello(true)), 4);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
        assert_eq!(
            events[1].1["content_block"],
            json!({"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}})
        );
        let json: String = events
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, d)| {
                assert_eq!(d["delta"]["type"], "input_json_delta");
                d["delta"]["partial_json"].as_str().unwrap().to_string()
            })
            .collect();
        assert!((2..=3).contains(&(names.len() - 7)));
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            json!({"city": "test"})
        );
        let delta = &events[events.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert_eq!(delta["usage"]["output_tokens"], 10);
        assert_eq!(names.last(), Some(&"message_stop"));

        let mut none = with_tools(hello(false));
        none["tool_choice"] = json!({"type": "none"});
        assert_eq!(whole(none, 4)["stop_reason"], "end_turn");
        let mut named = with_tools(hello(false));
        named["tool_choice"] = json!({"type": "tool", "name": "other"});
        assert_eq!(whole(named, 4)["content"][0]["name"], "other");
    }

    #[test]
    fn a_tool_result_is_answered_in_text() {
        let mut body = with_tools(hello(false));
        body["messages"] = json!([
            { "role": "user", "content": "weather?" },
            { "role": "assistant", "content": [
                { "type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {"city": "test"} }] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_mock_1",
                  "content": [{ "type": "text", "text": "sunny, 21 C" }] }] }
        ]);
        let m = whole(body.clone(), 20);
        assert_eq!(m["stop_reason"], "end_turn");
        let text = m["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("The tool said: sunny, 21 C The"), "{text}");
        body["messages"][2]["content"][0]["content"] = json!("cloudy");
        let events = streamed(
            {
                body["stream"] = json!(true);
                body
            },
            4,
        );
        let text: String = events
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "The tool said: cloudy");
    }

    #[test]
    fn headers_and_fields_are_checked_with_anthropic_errors() {
        let check = |headers: &[(&str, &str)], body: Value, status: u16, kind: &str, msg: &str| {
            let Answer::Whole { status: s, body } = answer(&request(headers, body), 4, 1) else {
                panic!("whole expected")
            };
            assert_eq!(s, status);
            let e: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(e["type"], "error");
            assert_eq!(e["error"]["type"], kind);
            assert!(e["error"]["message"].as_str().unwrap().contains(msg), "{e}");
        };
        check(
            &[("anthropic-version", "2023-06-01")],
            hello(false),
            401,
            "authentication_error",
            "x-api-key",
        );
        check(
            &[("x-api-key", ""), ("anthropic-version", "v")],
            hello(false),
            401,
            "authentication_error",
            "x-api-key",
        );
        check(
            &[("x-api-key", "k")],
            hello(false),
            400,
            "invalid_request_error",
            "anthropic-version",
        );
        for field in ["model", "max_tokens", "messages"] {
            let mut body = hello(false);
            body.as_object_mut().unwrap().remove(field);
            check(
                GOOD,
                body,
                400,
                "invalid_request_error",
                &format!("{field}: Field required"),
            );
        }
        let Answer::Whole { status, .. } = answer(
            &Recorded {
                body: b"{not json".to_vec(),
                ..request(GOOD, json!({}))
            },
            4,
            1,
        ) else {
            panic!()
        };
        assert_eq!(status, 400);
    }
}
