//! Unit and socket tests of the mock provider's routing and server.
use super::*;
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// One raw HTTP/1.1 exchange with `connection: close`: status, lower-cased headers and the
/// body (de-chunked).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: mock\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let mut rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked");
    if !chunked {
        return (status, headers, rest.to_vec());
    }
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let len = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        if len == 0 {
            return (status, headers, body);
        }
        body.extend_from_slice(&rest[eol + 2..eol + 2 + len]);
        rest = &rest[eol + 2 + len + 2..];
    }
}

fn content_type(headers: &[(String, String)]) -> &str {
    headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str())
        .unwrap()
}

const ANTHROPIC: &[(&str, &str)] = &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")];
const GEMINI: &[(&str, &str)] = &[("x-goog-api-key", "k")];

fn openai_body(stream: bool) -> Value {
    json!({ "model": "m", "stream": stream, "messages": [{ "role": "user", "content": "hi there" }] })
}

fn anthropic_body(stream: bool) -> Value {
    json!({ "model": "m", "max_tokens": 10, "stream": stream, "messages": [{ "role": "user", "content": "hi there" }] })
}

fn gemini_body() -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi there" }] }] })
}

fn config(chunks: usize) -> MockConfig {
    MockConfig {
        chunks,
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn routes_dispatch_to_each_dialect() {
    let recorder = Recorder::default();
    let (addr, _stop) = spawn(config(4), Some(recorder.clone())).await.unwrap();
    let text = script::pieces(&script::greeting("hi there"), 4).concat();

    let (status, h, body) = http(
        addr,
        "POST",
        "/v1/chat/completions",
        &[],
        &openai_body(false),
    )
    .await;
    assert_eq!((status, content_type(&h)), (200, "application/json"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], text.as_str());
    let (status, h, body) = http(
        addr,
        "POST",
        "/v1/chat/completions",
        &[],
        &openai_body(true),
    )
    .await;
    assert_eq!((status, content_type(&h)), (200, "text/event-stream"));
    assert!(body.ends_with(b"data: [DONE]\n\n"));

    let (status, h, body) = http(
        addr,
        "POST",
        "/v1/messages",
        ANTHROPIC,
        &anthropic_body(false),
    )
    .await;
    assert_eq!((status, content_type(&h)), (200, "application/json"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["content"][0]["text"], text.as_str());
    let (status, h, body) = http(
        addr,
        "POST",
        "/anthropic/v1/messages",
        ANTHROPIC,
        &anthropic_body(true),
    )
    .await;
    assert_eq!((status, content_type(&h)), (200, "text/event-stream"));
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with("event: message_start\ndata: {"), "{body}");
    assert!(
        body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{body}"
    );
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        &anthropic_body(false),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"],
        "authentication_error"
    );

    let (status, h, body) = http(
        addr,
        "POST",
        "/v1beta/models/gemini-mock:generateContent",
        GEMINI,
        &gemini_body(),
    )
    .await;
    assert_eq!((status, content_type(&h)), (200, "application/json"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        text.as_str()
    );
    assert_eq!(v["modelVersion"], "gemini-mock");
    let (status, h, body) = http(
        addr,
        "POST",
        "/v1beta/models/gemini-mock:streamGenerateContent?alt=sse",
        GEMINI,
        &gemini_body(),
    )
    .await;
    assert_eq!((status, content_type(&h)), (200, "text/event-stream"));
    let body = String::from_utf8(body).unwrap();
    assert_eq!(body.matches("data: ").count(), 4);
    assert!(body.ends_with("}\r\n\r\n"));
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1beta/models/gemini-mock:generateContent",
        &[],
        &gemini_body(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["status"],
        "PERMISSION_DENIED"
    );

    let (status, _, _) = http(addr, "GET", "/v1/models", &[], &Value::Null).await;
    assert_eq!(status, 200);
    let (status, _, body) = http(addr, "POST", "/v1/nothing", &[], &Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"],
        "not_found"
    );
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1beta/models/g:countTokens",
        GEMINI,
        &gemini_body(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["status"],
        "NOT_FOUND"
    );
    let (status, _, body) = http(addr, "GET", "/v1/messages", ANTHROPIC, &Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"],
        "not_found_error"
    );

    let seen = recorder.requests();
    assert_eq!(seen.len(), 12);
    assert_eq!(seen[2].header("X-Api-Key"), Some("k"));
}

#[tokio::test]
async fn injected_failures_use_each_dialects_error_shape() {
    let (addr, _stop) = spawn(
        MockConfig {
            failure_rate: 1.0,
            ..config(4)
        },
        None,
    )
    .await
    .unwrap();
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1/chat/completions",
        &[],
        &openai_body(false),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"],
        "server_error"
    );
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1/messages",
        ANTHROPIC,
        &anthropic_body(true),
    )
    .await;
    assert_eq!(status, 500);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("api_error"))
    );
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        GEMINI,
        &gemini_body(),
    )
    .await;
    assert_eq!(status, 500);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["error"],
        json!({ "code": 500, "message": "simulated failure", "status": "INTERNAL" })
    );
}

#[tokio::test]
async fn chunk_delay_spaces_every_dialects_events() {
    let (addr, _stop) = spawn(
        MockConfig {
            chunk_delay_ms: 40,
            ..config(3)
        },
        None,
    )
    .await
    .unwrap();
    // Gemini sends 3 events (2 gaps), Anthropic 3 + 6 (8 gaps).
    let started = std::time::Instant::now();
    http(
        addr,
        "POST",
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        GEMINI,
        &gemini_body(),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(80));
    let started = std::time::Instant::now();
    http(
        addr,
        "POST",
        "/v1/messages",
        ANTHROPIC,
        &anthropic_body(true),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(320));
}

fn request(path: &str, headers: &[(&str, &str)], body: Value) -> Recorded {
    Recorded {
        method: "POST".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_string().into_bytes(),
    }
}

fn whole(req: Recorded) -> Value {
    match answer(&req, 7, 1, 0) {
        Answer::Whole { status: 200, body } => serde_json::from_slice(&body).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// The same conversations in the three dialects: (text or tool name, arguments) of each
/// answer, and the usage numbers.
#[test]
fn the_three_dialects_say_the_same_thing() {
    let schema = json!({ "type": "object", "properties": { "city": { "type": "string" }, "days": { "type": "integer" } } });
    // A plain question.
    let o = whole(request(
        "/v1/chat/completions",
        &[],
        json!({ "model": "m",
        "messages": [{ "role": "system", "content": "be brief" }, { "role": "user", "content": "what is up" }] }),
    ));
    let a = whole(request(
        "/v1/messages",
        ANTHROPIC,
        json!({ "model": "m", "max_tokens": 50, "system": "be brief",
        "messages": [{ "role": "user", "content": [{ "type": "text", "text": "what is up" }] }] }),
    ));
    let g = whole(request(
        "/v1beta/models/m:generateContent",
        GEMINI,
        json!({
        "systemInstruction": { "parts": [{ "text": "be brief" }] },
        "contents": [{ "role": "user", "parts": [{ "text": "what is up" }] }] }),
    ));
    let text = o["choices"][0]["message"]["content"].clone();
    assert_eq!(
        text,
        script::pieces(&script::greeting("what is up"), 7).concat()
    );
    assert_eq!(a["content"][0]["text"], text);
    assert_eq!(g["candidates"][0]["content"]["parts"][0]["text"], text);
    assert_eq!(o["usage"]["prompt_tokens"], a["usage"]["input_tokens"]);
    assert_eq!(
        o["usage"]["prompt_tokens"],
        g["usageMetadata"]["promptTokenCount"]
    );
    assert_eq!(o["usage"]["completion_tokens"], 7);
    assert_eq!(a["usage"]["output_tokens"], 7);
    assert_eq!(g["usageMetadata"]["candidatesTokenCount"], 7);

    // A question with tools: the same call.
    let o = whole(request(
        "/v1/chat/completions",
        &[],
        json!({ "model": "m",
        "tools": [{ "type": "function", "function": { "name": "weather", "parameters": schema } }],
        "messages": [{ "role": "user", "content": "weather?" }] }),
    ));
    let a = whole(request(
        "/v1/messages",
        ANTHROPIC,
        json!({ "model": "m", "max_tokens": 50,
        "tools": [{ "name": "weather", "input_schema": schema }],
        "messages": [{ "role": "user", "content": "weather?" }] }),
    ));
    let g = whole(request(
        "/v1beta/models/m:generateContent",
        GEMINI,
        json!({
        "tools": [{ "functionDeclarations": [{ "name": "weather", "parameters": schema }] }],
        "contents": [{ "role": "user", "parts": [{ "text": "weather?" }] }] }),
    ));
    let call = &o["choices"][0]["message"]["tool_calls"][0]["function"];
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({ "city": "test", "days": 1 }));
    assert_eq!(a["content"][0]["name"], call["name"]);
    assert_eq!(a["content"][0]["input"], args);
    let g_call = &g["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(g_call["name"], call["name"]);
    assert_eq!(g_call["args"], args);

    // The tool's result: the same text.
    let o = whole(request(
        "/v1/chat/completions",
        &[],
        json!({ "model": "m",
        "tools": [{ "type": "function", "function": { "name": "weather", "parameters": schema } }],
        "messages": [
            { "role": "user", "content": "weather?" },
            { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_mock_1", "type": "function",
                "function": { "name": "weather", "arguments": "{}" } }] },
            { "role": "tool", "tool_call_id": "call_mock_1", "content": "sunny and warm" }] }),
    ));
    let a = whole(request(
        "/v1/messages",
        ANTHROPIC,
        json!({ "model": "m", "max_tokens": 50,
        "tools": [{ "name": "weather", "input_schema": schema }],
        "messages": [
            { "role": "user", "content": "weather?" },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_mock_1", "name": "weather", "input": {} }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_mock_1", "content": "sunny and warm" }] }] }),
    ));
    let g = whole(request(
        "/v1beta/models/m:generateContent",
        GEMINI,
        json!({
        "tools": [{ "functionDeclarations": [{ "name": "weather", "parameters": schema }] }],
        "contents": [
            { "role": "user", "parts": [{ "text": "weather?" }] },
            { "role": "model", "parts": [{ "functionCall": { "name": "weather", "args": {} } }] },
            { "role": "user", "parts": [{ "functionResponse": { "name": "weather", "response": { "result": "sunny and warm" } } }] }] }),
    ));
    let text = o["choices"][0]["message"]["content"].clone();
    assert_eq!(text, "The tool said: sunny and warm The");
    assert_eq!(a["content"][0]["text"], text);
    assert_eq!(g["candidates"][0]["content"]["parts"][0]["text"], text);
}

#[test]
fn failure_injection_matches_its_rate() {
    let failures = (0..10_000).filter(|i| unit_random(*i) < 0.25).count();
    assert!((2300..2700).contains(&failures), "{failures}");
}
