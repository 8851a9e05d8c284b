//! End-to-end: the Anthropic Messages route and translation edges the SDK test does not
//! reach: error shapes, provider errors across formats, broken translated streams, straight
//! passthrough to Anthropic providers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn messages_body(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model, "max_tokens": 64, "stream": stream,
        "messages": [{ "role": "user", "content": "Hello there" }]
    })
}

/// Providers `oa` (OpenAI format) and `an` (Anthropic) at the given base URLs; models `m-oa`
/// and `m-an` on them, upstream model names unchanged. `oa_extra`: more fields for `oa`.
fn two_formats(openai_base: &str, anthropic_base: &str, oa_extra: &str) -> String {
    format!(
        "providers:
  - {{ name: oa, type: openai_compatible, base_url: '{openai_base}', api_key: {PROVIDER_KEY}{oa_extra} }}
  - {{ name: an, type: anthropic, base_url: '{anthropic_base}', api_key: {PROVIDER_KEY} }}
models:
  - {{ name: m-oa, targets: [{{ provider: oa, model: m-oa }}] }}
  - {{ name: m-an, targets: [{{ provider: an, model: m-an }}] }}
keys:
  - {{ name: test, key: {KEY} }}
"
    )
}

/// A gateway whose `oa` and `an` providers are both the mock `up`, speaking each format.
async fn both_on(up: &Upstream) -> Gateway {
    Gateway::start(&two_formats(
        &up.base_url(),
        &format!("http://{}", up.addr),
        "",
    ))
    .await
}

async fn anthropic_error(resp: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(resp.status().as_u16(), status);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    v["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn messages_route_errors_come_in_the_anthropic_shape() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = both_on(&up).await;
    let c = reqwest::Client::new();
    let url = gw.url("/v1/messages");
    anthropic_error(
        c.post(&url)
            .json(&messages_body("m-an", false))
            .send()
            .await
            .unwrap(),
        401,
        "authentication_error",
    )
    .await;
    let mut no_max = messages_body("m-an", false);
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let msg = anthropic_error(
        c.post(&url)
            .header("x-api-key", KEY)
            .json(&no_max)
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.contains("max_tokens"));
    anthropic_error(
        c.post(&url)
            .header("x-api-key", KEY)
            .json(&messages_body("nope", false))
            .send()
            .await
            .unwrap(),
        404,
        "not_found_error",
    )
    .await;
    anthropic_error(
        c.post(&url)
            .header("x-api-key", KEY)
            .body("{oops")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request_error",
    )
    .await;
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn anthropic_clients_go_straight_through_to_anthropic_providers() {
    let up = Upstream::start(MockConfig {
        chunks: 4,
        ..MockConfig::default()
    })
    .await;
    let gw = both_on(&up).await;
    let body = serde_json::to_vec(&messages_body("m-an", true)).unwrap();
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", KEY)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("event: message_start") && text.contains("event: message_stop"),
        "{text}"
    );
    let seen = up.requests();
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(
        seen[0].body, body,
        "same format and model: the client's bytes, untouched"
    );
}

#[tokio::test]
async fn anthropic_betas_reach_anthropic_providers_and_no_others() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = both_on(&up).await;
    let c = reqwest::Client::new();
    let betas = "interleaved-thinking-2025-05-14, context-1m-2025-08-07";
    for model in ["m-an", "m-oa"] {
        let resp = c
            .post(gw.url("/v1/messages"))
            .header("x-api-key", KEY)
            .header("anthropic-beta", betas)
            .json(&messages_body(model, false))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{model}");
    }
    // An OpenAI client's betas count too when an Anthropic provider answers it.
    let resp = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("anthropic-beta", "output-128k-2025-02-19")
        .json(&chat_body("m-an", true, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("[DONE]"));
    let seen: Vec<(String, Option<String>)> = up
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.header("anthropic-beta").map(String::from)))
        .collect();
    let normalised = "context-1m-2025-08-07,interleaved-thinking-2025-05-14";
    assert_eq!(
        seen,
        [
            ("/v1/messages".to_string(), Some(normalised.to_string())),
            ("/v1/chat/completions".to_string(), None),
            (
                "/v1/messages".to_string(),
                Some("output-128k-2025-02-19".to_string())
            ),
        ]
    );
    // A name that cannot be a beta is the client's mistake, answered before any provider.
    let msg = anthropic_error(
        c.post(gw.url("/v1/messages"))
            .header("x-api-key", KEY)
            .header("anthropic-beta", "context 1m")
            .json(&messages_body("m-an", false))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request_error",
    )
    .await;
    assert!(msg.contains("anthropic-beta"), "{msg}");
    assert_eq!(up.requests().len(), 3);
}

#[tokio::test]
async fn a_provider_400_keeps_its_status_and_message_in_the_clients_shape() {
    let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"temperature: must be at most 1"}}"#;
    let addr = raw_upstream(json_response("400 Bad Request", body), false).await;
    let gw = Gateway::start(&two_formats(
        "http://127.0.0.1:9/v1",
        &format!("http://{addr}"),
        "",
    ))
    .await;
    let resp = post_chat(&gw, KEY, &chat_body("m-an", false, "x")).await;
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["message"], "temperature: must be at most 1",
        "{v}"
    );
    assert_eq!(v["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn a_provider_refusing_our_key_is_a_502_for_either_client() {
    let body =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let addr = raw_upstream(json_response("401 Unauthorized", body), false).await;
    let gw = Gateway::start(&two_formats(
        "http://127.0.0.1:9/v1",
        &format!("http://{addr}"),
        "",
    ))
    .await;
    let c = reqwest::Client::new();
    let resp = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&chat_body("m-an", false, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_error");
    let resp = post_messages(&gw, KEY, &messages_body("m-an", false)).await;
    let msg = anthropic_error(resp, 502, "api_error").await;
    assert!(msg.contains("rejected the gateway's credentials"), "{msg}");
    assert!(
        gw.log_text().contains("invalid x-api-key"),
        "the provider's reason is logged"
    );
}

#[tokio::test]
async fn a_translated_stream_that_breaks_ends_with_an_anthropic_error_event() {
    let event = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";
    let raw = sse_response(event, false);
    // The OpenAI-format provider sends one event, then goes silent past its idle timeout.
    let addr = raw_upstream(raw, true).await;
    let yaml = two_formats(
        &format!("http://{addr}/v1"),
        "http://127.0.0.1:9",
        ", timeouts: { idle_ms: 300 }",
    );
    let gw = Gateway::start(&yaml).await;
    let resp = post_messages(&gw, KEY, &messages_body("m-oa", true)).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(text.contains("\"text\":\"Hi\""), "{text}");
    assert!(text.contains("event: error"), "{text}");
    assert!(!text.contains("message_stop"), "{text}");
}

#[tokio::test]
async fn embeddings_on_a_provider_without_them_are_refused() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = both_on(&up).await;
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/embeddings"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({ "model": "m-an", "input": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(up.requests().is_empty());
}

/// A raw Anthropic-format upstream whose stream ends cleanly (the chunked body is complete)
/// but without `message_stop`: cut short by something in between, not a complete answer.
#[tokio::test]
async fn a_stream_that_ends_without_its_end_marker_is_not_shown_as_complete() {
    let events = [
        ("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m-an","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Partial"}}"#),
    ]
    .iter()
    .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
    .collect::<String>();
    let raw = sse_response(&events, true);
    let addr = raw_upstream(raw, false).await;
    let gw = Gateway::start(&two_formats(
        "http://127.0.0.1:9/v1",
        &format!("http://{addr}"),
        "",
    ))
    .await;
    let text = post_chat(&gw, KEY, &chat_body("m-an", true, "x"))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("Partial"), "{text}");
    assert!(text.contains("data: {\"error\":{"), "{text}");
    assert!(
        !text.contains("[DONE]") && !text.contains("\"finish_reason\":\"stop\""),
        "{text}"
    );
}

#[tokio::test]
async fn informational_heads_before_the_answer_are_skipped() {
    let body = r#"{"id":"c1","object":"chat.completion","created":1,"model":"m-oa","choices":[{"index":0,"message":{"role":"assistant","content":"after hints"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
    let raw = format!(
        "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let addr = raw_upstream(raw.into_bytes(), false).await;
    let gw = Gateway::start(&two_formats(
        &format!("http://{addr}/v1"),
        "http://127.0.0.1:9",
        "",
    ))
    .await;
    let resp = post_chat(&gw, KEY, &chat_body("m-oa", false, "x")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("after hints"));
}

#[tokio::test]
async fn a_break_inside_an_event_still_gives_a_separate_error_event() {
    // The provider stops halfway through an event, then goes silent.
    let partial = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"obj";
    let raw = sse_response(partial, false);
    let addr = raw_upstream(raw, true).await;
    let yaml = two_formats(
        &format!("http://{addr}/v1"),
        "http://127.0.0.1:9",
        ", timeouts: { idle_ms: 300 }",
    );
    let gw = Gateway::start(&yaml).await;
    // Asking for usage itself, the client gets the provider's bytes as they come.
    let mut body = chat_body("m-oa", true, "x");
    body["stream_options"] = serde_json::json!({ "include_usage": true });
    let text = post_chat(&gw, KEY, &body).await.text().await.unwrap();
    assert!(
        text.contains("\"obj\n\ndata: {\"error\":{"),
        "the error event starts after a blank line: {text:?}"
    );
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(
        events.last().unwrap().starts_with("data: {\"error\""),
        "{events:?}"
    );
}
