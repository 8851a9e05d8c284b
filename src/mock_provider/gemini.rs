//! The mock in Google's Gemini format (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent`), as pure functions from a request to response bytes: the key and
//! field checks with Google's error shape, the whole `GenerateContentResponse`, and a stream
//! of them (SSE with `alt=sse`, else one JSON array sent in pieces, as Google does). What the
//! answer is comes from `script`.

use super::script::{Answer, Conversation, Last, Reply, Tool, ToolChoice};
use super::Recorded;
use serde_json::{json, Map, Value};

/// Which method a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Generate,
    /// `streamGenerateContent`: SSE events with `alt=sse`, else a streamed JSON array.
    Stream {
        sse: bool,
    },
}

/// The model and method of a Gemini path (`.../models/{model}:{method}?query`), if it is one.
pub fn route(path: &str) -> Option<(String, Method)> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let (_, rest) = path.rsplit_once("/models/")?;
    let (model, verb) = rest.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let method = match verb {
        "generateContent" => Method::Generate,
        "streamGenerateContent" => Method::Stream {
            sse: query.split('&').any(|kv| kv == "alt=sse"),
        },
        _ => return None,
    };
    Some((model.to_string(), method))
}

/// Google's error body: `{"error":{"code","message","status"}}`, the status named after the
/// code.
pub fn error(code: u16, message: &str) -> Vec<u8> {
    let status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    json!({ "error": { "code": code, "message": message, "status": status } })
        .to_string()
        .into_bytes()
}

fn fail(code: u16, message: &str) -> Answer {
    Answer::Whole {
        status: code,
        body: error(code, message),
    }
}

/// The whole exchange for a Gemini path: checks, then the answer. `None` when the path is not
/// a Gemini generate path.
pub fn answer(req: &Recorded, chunks: usize, id: u64) -> Option<Answer> {
    let (model, method) = route(&req.path)?;
    if req
        .header("x-goog-api-key")
        .is_none_or(|k| k.trim().is_empty())
    {
        return Some(fail(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        ));
    }
    let conversation = match parse_generate(&req.body) {
        Ok(c) => c,
        Err(e) => return Some(fail(400, &e)),
    };
    let ask = GenerateAsk {
        model,
        conversation,
    };
    Some(match method {
        Method::Generate => Answer::Whole {
            status: 200,
            body: response(&ask, chunks, id),
        },
        Method::Stream { sse: true } => Answer::Stream {
            content_type: "text/event-stream",
            events: sse_events(&ask, chunks, id),
        },
        Method::Stream { sse: false } => Answer::Stream {
            content_type: "application/json",
            events: json_array_pieces(&ask, chunks, id),
        },
    })
}

/// The parts of a generate request the mock looks at; the model comes from the path.
pub struct GenerateAsk {
    pub model: String,
    pub conversation: Conversation,
}

/// A field under its protobuf JSON name (`camelCase`) or its original one (`snake_case`):
/// Google accepts both.
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

pub fn parse_generate(body: &[u8]) -> Result<Conversation, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON payload received. {e}"))?;
    let contents = match v.get("contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => return Err("* GenerateContentRequest.contents: contents is not specified\n".into()),
    };
    let mut conversation = Conversation {
        prompt_chars: field(&v, "systemInstruction", "system_instruction")
            .map(|s| parts_text(s).len())
            .unwrap_or(0),
        tools: tools(&v),
        tool_choice: tool_choice(&v),
        max_tokens: v
            .pointer("/generationConfig/maxOutputTokens")
            .and_then(Value::as_u64)
            .map(|n| n as usize),
        ..Conversation::default()
    };
    for content in contents {
        let text = parts_text(content);
        let results = function_responses(content);
        conversation.prompt_chars += text.len() + results.iter().map(String::len).sum::<usize>();
        if is_user(content) && (results.is_empty() || has_text(content)) {
            conversation.last_user_text = text;
        }
    }
    conversation.last = match contents.last() {
        Some(c) => match function_responses(c).pop() {
            Some(result) => Last::ToolResult(result),
            None if is_user(c) => Last::UserText,
            None => Last::Other,
        },
        None => Last::Other,
    };
    Ok(conversation)
}

/// A content's role is `user` when it says so or says nothing (single-turn requests).
fn is_user(content: &Value) -> bool {
    content
        .get("role")
        .and_then(Value::as_str)
        .is_none_or(|r| r == "user")
}

fn parts(content: &Value) -> &[Value] {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The text parts of a content, joined with spaces.
fn parts_text(content: &Value) -> String {
    parts(content)
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

fn has_text(content: &Value) -> bool {
    parts(content).iter().any(|p| p.get("text").is_some())
}

/// The `functionResponse` parts of a content, each as text: a string response as is, an
/// object with a single string field (`{"result": "..."}`, `{"content": "..."}`) as that
/// string, anything else as compact JSON.
fn function_responses(content: &Value) -> Vec<String> {
    parts(content)
        .iter()
        .filter_map(|p| field(p, "functionResponse", "function_response"))
        .map(|r| match r.get("response") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) if o.len() == 1 => match o.values().next() {
                Some(Value::String(s)) => s.clone(),
                _ => Value::Object(o.clone()).to_string(),
            },
            Some(other) => other.to_string(),
            None => String::new(),
        })
        .collect()
}

/// `tools: [{functionDeclarations: [{name, parameters | parametersJsonSchema}]}]`, in order.
fn tools(v: &Value) -> Vec<Tool> {
    v.get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| field(t, "functionDeclarations", "function_declarations"))
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|d| {
                    Some(Tool {
                        name: d.get("name")?.as_str()?.to_string(),
                        schema: d
                            .get("parameters")
                            .or_else(|| field(d, "parametersJsonSchema", "parameters_json_schema"))
                            .cloned()
                            .unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `toolConfig.functionCallingConfig`: mode `NONE`, or the first of `allowedFunctionNames`.
fn tool_choice(v: &Value) -> ToolChoice {
    let Some(config) = field(v, "toolConfig", "tool_config")
        .and_then(|t| field(t, "functionCallingConfig", "function_calling_config"))
    else {
        return ToolChoice::Auto;
    };
    let mode = config.get("mode").and_then(Value::as_str).unwrap_or("");
    if mode.eq_ignore_ascii_case("none") {
        return ToolChoice::None;
    }
    field(config, "allowedFunctionNames", "allowed_function_names")
        .and_then(Value::as_array)
        .and_then(|names| names.first())
        .and_then(Value::as_str)
        .map(|n| ToolChoice::Named(n.to_string()))
        .unwrap_or_default()
}

fn usage(ask: &GenerateAsk, output_tokens: usize) -> Value {
    let prompt = ask.conversation.input_tokens();
    json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt + output_tokens,
    })
}

/// One `GenerateContentResponse` with one candidate holding `parts`; `last` adds the
/// `finishReason` and the usage.
fn chunk(ask: &GenerateAsk, id: u64, parts: Value, last: Option<usize>) -> Value {
    let mut candidate = Map::new();
    candidate.insert("content".into(), json!({ "role": "model", "parts": parts }));
    if last.is_some() {
        candidate.insert("finishReason".into(), json!("STOP"));
    }
    candidate.insert("index".into(), json!(0));
    let mut response = Map::new();
    response.insert("candidates".into(), json!([candidate]));
    if let Some(output_tokens) = last {
        response.insert("usageMetadata".into(), usage(ask, output_tokens));
    }
    response.insert("modelVersion".into(), json!(ask.model));
    response.insert("responseId".into(), json!(format!("mock-{id}")));
    Value::Object(response)
}

fn function_call(name: &str, arguments: &Value) -> Value {
    json!([{ "functionCall": { "name": name, "args": arguments } }])
}

/// The whole answer: one candidate with one text part, or one `functionCall` part.
pub fn response(ask: &GenerateAsk, chunks: usize, id: u64) -> Vec<u8> {
    let reply = ask.conversation.reply(chunks);
    let parts = match &reply {
        Reply::Text(pieces) => json!([{ "text": pieces.concat() }]),
        Reply::ToolCall { name, arguments } => function_call(name, arguments),
    };
    chunk(ask, id, parts, Some(reply.output_tokens()))
        .to_string()
        .into_bytes()
}

/// The responses of a stream: one per text piece (the last with `finishReason` and usage), or
/// one with the whole `functionCall`.
pub fn stream_responses(ask: &GenerateAsk, chunks: usize, id: u64) -> Vec<Value> {
    let reply = ask.conversation.reply(chunks);
    let output_tokens = reply.output_tokens();
    match &reply {
        Reply::Text(pieces) => pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let last = (i + 1 == pieces.len()).then_some(output_tokens);
                chunk(ask, id, json!([{ "text": p }]), last)
            })
            .collect(),
        Reply::ToolCall { name, arguments } => vec![chunk(
            ask,
            id,
            function_call(name, arguments),
            Some(output_tokens),
        )],
    }
}

/// The stream as SSE frames: `data: <response>\r\n\r\n`, unnamed.
pub fn sse_events(ask: &GenerateAsk, chunks: usize, id: u64) -> Vec<Vec<u8>> {
    stream_responses(ask, chunks, id)
        .iter()
        .map(|r| format!("data: {r}\r\n\r\n").into_bytes())
        .collect()
}

/// The stream without `alt=sse`: one JSON array, sent a response at a time
/// (`[{...}`, `,\r\n{...}`, ..., `]`).
pub fn json_array_pieces(ask: &GenerateAsk, chunks: usize, id: u64) -> Vec<Vec<u8>> {
    let responses = stream_responses(ask, chunks, id);
    let count = responses.len();
    responses
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let open = if i == 0 { "[" } else { ",\r\n" };
            let close = if i + 1 == count { "]" } else { "" };
            format!("{open}{r}{close}").into_bytes()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::script;
    use super::*;

    fn request(path: &str, key: Option<&str>, body: Value) -> Recorded {
        Recorded {
            method: "POST".into(),
            path: path.into(),
            headers: key
                .map(|k| vec![("x-goog-api-key".to_string(), k.to_string())])
                .unwrap_or_default(),
            body: body.to_string().into_bytes(),
        }
    }

    const GENERATE: &str = "/v1beta/models/gemini-mock:generateContent";
    const STREAM: &str = "/v1beta/models/gemini-mock:streamGenerateContent?alt=sse";

    fn whole(body: Value, chunks: usize) -> Value {
        match answer(&request(GENERATE, Some("k"), body), chunks, 3) {
            Some(Answer::Whole { status: 200, body }) => serde_json::from_slice(&body).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn streamed(body: Value, chunks: usize) -> Vec<Value> {
        let Some(Answer::Stream {
            content_type,
            events,
        }) = answer(&request(STREAM, Some("k"), body), chunks, 3)
        else {
            panic!("stream expected")
        };
        assert_eq!(content_type, "text/event-stream");
        events
            .iter()
            .map(|e| {
                let text = std::str::from_utf8(e).unwrap();
                let data = text.strip_prefix("data: ").unwrap();
                let data = data.strip_suffix("\r\n\r\n").unwrap();
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }

    fn hello() -> Value {
        json!({
            "systemInstruction": { "parts": [{ "text": "be brief" }] },
            "contents": [{ "role": "user", "parts": [{ "text": "hi there" }] }],
        })
    }

    #[test]
    fn routes_name_model_and_method() {
        assert_eq!(
            route("/v1beta/models/gemini-2.0-flash:generateContent"),
            Some(("gemini-2.0-flash".into(), Method::Generate))
        );
        assert_eq!(
            route("/v1beta/models/m:streamGenerateContent?alt=sse"),
            Some(("m".into(), Method::Stream { sse: true }))
        );
        assert_eq!(
            route("/v1beta/models/m:streamGenerateContent"),
            Some(("m".into(), Method::Stream { sse: false }))
        );
        assert_eq!(route("/v1beta/models/m:countTokens"), None);
        assert_eq!(route("/v1beta/models/:generateContent"), None);
        assert_eq!(route("/v1/chat/completions"), None);
    }

    #[test]
    fn whole_response_has_gemini_shape() {
        let r = whole(hello(), 6);
        let text = script::pieces(&script::greeting("hi there"), 6).concat();
        assert_eq!(
            r,
            json!({
                "candidates": [{
                    "content": { "role": "model", "parts": [{ "text": text }] },
                    "finishReason": "STOP",
                    "index": 0,
                }],
                "usageMetadata": { "promptTokenCount": 7, "candidatesTokenCount": 6, "totalTokenCount": 13 },
                "modelVersion": "gemini-mock",
                "responseId": "mock-3",
            })
        );
    }

    #[test]
    fn stream_sends_one_piece_per_event_and_finishes_last() {
        let events = streamed(hello(), 5);
        assert_eq!(events.len(), 5);
        let mut text = String::new();
        for (i, e) in events.iter().enumerate() {
            let parts = e["candidates"][0]["content"]["parts"].as_array().unwrap();
            assert_eq!(parts.len(), 1);
            text.push_str(parts[0]["text"].as_str().unwrap());
            assert_eq!(e["candidates"][0]["content"]["role"], "model");
            assert_eq!(e["responseId"], "mock-3");
            let last = i == 4;
            assert_eq!(e["candidates"][0].get("finishReason").is_some(), last);
            assert_eq!(e.get("usageMetadata").is_some(), last);
        }
        assert_eq!(events[4]["candidates"][0]["finishReason"], "STOP");
        assert_eq!(events[4]["usageMetadata"]["candidatesTokenCount"], 5);
        assert_eq!(
            whole(hello(), 5)["candidates"][0]["content"]["parts"][0]["text"],
            text.as_str()
        );
    }

    #[test]
    fn stream_without_sse_is_one_json_array() {
        let Some(Answer::Stream {
            content_type,
            events,
        }) = answer(
            &request(
                "/v1beta/models/gemini-mock:streamGenerateContent",
                Some("k"),
                hello(),
            ),
            3,
            3,
        )
        else {
            panic!()
        };
        assert_eq!(content_type, "application/json");
        let array: Value = serde_json::from_slice(&events.concat()).unwrap();
        assert_eq!(array.as_array().unwrap().len(), 3);
    }

    fn with_tools(mut body: Value) -> Value {
        body["tools"] = json!([{ "functionDeclarations": [
            { "name": "get_weather", "parameters": {
                "type": "OBJECT",
                "properties": { "city": {"type": "STRING"}, "days": {"type": "INTEGER"} },
                "required": ["city"] } },
            { "name": "other" }
        ] }]);
        body
    }

    #[test]
    fn tools_are_called_in_one_part() {
        let call =
            json!([{ "functionCall": { "name": "get_weather", "args": { "city": "test" } } }]);
        let r = whole(with_tools(hello()), 4);
        assert_eq!(r["candidates"][0]["content"]["parts"], call);
        assert_eq!(r["candidates"][0]["finishReason"], "STOP");
        assert_eq!(r["usageMetadata"]["candidatesTokenCount"], 10);
        let events = streamed(with_tools(hello()), 4);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["candidates"][0]["content"]["parts"], call);
        assert_eq!(events[0]["candidates"][0]["finishReason"], "STOP");
        assert_eq!(events[0]["usageMetadata"]["candidatesTokenCount"], 10);

        let mut none = with_tools(hello());
        none["toolConfig"] = json!({ "functionCallingConfig": { "mode": "NONE" } });
        assert!(whole(none, 4)["candidates"][0]["content"]["parts"][0]["text"].is_string());
        let mut named = with_tools(hello());
        named["tool_config"] = json!({ "function_calling_config": { "mode": "ANY", "allowed_function_names": ["other"] } });
        assert_eq!(
            whole(named, 4)["candidates"][0]["content"]["parts"][0]["functionCall"],
            json!({ "name": "other", "args": {} })
        );
    }

    #[test]
    fn a_function_response_is_answered_in_text() {
        let mut body = with_tools(hello());
        body["contents"] = json!([
            { "role": "user", "parts": [{ "text": "weather?" }] },
            { "role": "model", "parts": [{ "functionCall": { "name": "get_weather", "args": { "city": "test" } } }] },
            { "role": "user", "parts": [{ "functionResponse": { "name": "get_weather", "response": { "result": "sunny" } } }] }
        ]);
        let events = streamed(body.clone(), 4);
        let text: String = events
            .iter()
            .map(|e| {
                e["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(text, "The tool said: sunny");
        body["contents"][2]["parts"][0]["functionResponse"]["response"] = json!({ "temp": 21 });
        let r = whole(body, 5);
        assert_eq!(
            r["candidates"][0]["content"]["parts"][0]["text"],
            r#"The tool said: {"temp":21} The"#
        );
    }

    #[test]
    fn key_and_contents_are_checked_with_google_errors() {
        let check = |req: Recorded, code: u16, status: &str| {
            let Some(Answer::Whole { status: s, body }) = answer(&req, 4, 1) else {
                panic!("whole expected")
            };
            assert_eq!(s, code);
            let e: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(e["error"]["code"], code);
            assert_eq!(e["error"]["status"], status);
            assert!(e["error"]["message"].is_string());
        };
        check(request(GENERATE, None, hello()), 403, "PERMISSION_DENIED");
        check(request(STREAM, Some(""), hello()), 403, "PERMISSION_DENIED");
        check(
            request(GENERATE, Some("k"), json!({})),
            400,
            "INVALID_ARGUMENT",
        );
        check(
            request(GENERATE, Some("k"), json!({ "contents": [] })),
            400,
            "INVALID_ARGUMENT",
        );
        let mut bad = request(GENERATE, Some("k"), json!({}));
        bad.body = b"{".to_vec();
        check(bad, 400, "INVALID_ARGUMENT");
        assert!(answer(&request("/v1/messages", Some("k"), hello()), 4, 1).is_none());
    }
}
