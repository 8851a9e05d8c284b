//! End-to-end: the proxy path over real sockets, from client to a recording mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn provider_key_replaces_virtual_key_in_both_directions() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config_for(&up.base_url(), "")).await;
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("x-api-key", KEY)
        .json(&chat_body("m", false, "hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = format!("{:?}", resp.headers());
    assert_eq!(resp.headers()["x-tollgate-provider"], "p");
    assert_eq!(resp.headers()["x-tollgate-model"], "up-m");
    assert_eq!(resp.headers()["x-tollgate-attempts"], "1");
    assert!(resp.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("tg-"));
    let body = resp.text().await.unwrap();
    assert!(!headers.contains(PROVIDER_KEY) && !body.contains(PROVIDER_KEY));

    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    assert_eq!(r.header("host"), Some(up.addr.to_string().as_str()));
    assert_eq!(r.header("x-api-key"), None);
    let everything = format!("{:?}{}", r.headers, String::from_utf8_lossy(&r.body));
    assert!(
        !everything.contains(KEY),
        "the virtual key reached the upstream: {everything}"
    );
    let sent: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(sent["model"], "up-m");
    assert_eq!(sent["messages"][0]["content"], "hello");
    assert!(!gw.log_text().contains(PROVIDER_KEY));
}

/// A raw upstream answering `status` with an error that echoes the Authorization header.
async fn echoing_upstream(status: &str) -> String {
    let body = r#"{"error":{"message":"Incorrect API key provided: {AUTH}","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    let len = body
        .replace("{AUTH}", &format!("Bearer {PROVIDER_KEY}"))
        .len();
    let response = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n{body}");
    format!(
        "http://{}/v1",
        raw_upstream(response.into_bytes(), false).await
    )
}

#[tokio::test]
async fn a_provider_echoing_its_key_in_an_error_is_scrubbed() {
    // A 400 passes through to the client, with the key replaced.
    let gw = Gateway::start(&config_for(&echoing_upstream("400 Bad Request").await, "")).await;
    let resp = post_chat(&gw, KEY, &chat_body("m", false, "x")).await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("Incorrect API key provided: Bearer ***"),
        "{text}"
    );
    assert!(!text.contains(PROVIDER_KEY));

    // A 401 is the gateway's fault (502); the provider's reason is logged, scrubbed too.
    let gw = Gateway::start(&config_for(&echoing_upstream("401 Unauthorized").await, "")).await;
    let resp = post_chat(&gw, KEY, &chat_body("m", false, "x")).await;
    assert_eq!(resp.status(), 502);
    assert!(!resp.text().await.unwrap().contains(PROVIDER_KEY));
    let log = gw.log_text();
    assert!(
        log.contains("Incorrect API key provided: Bearer ***"),
        "{log}"
    );
    assert!(!log.contains(PROVIDER_KEY));
}

#[tokio::test]
async fn streamed_events_reach_the_client_as_they_are_produced() {
    let up = Upstream::start(MockConfig {
        chunks: 5,
        chunk_delay_ms: 200,
        ..MockConfig::default()
    })
    .await;
    let gw = Gateway::start(&config_for(&up.base_url(), "")).await;
    let started = Instant::now();
    let mut resp = post_chat(&gw, KEY, &chat_body("m", true, "stream please")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut first_event = None;
    let mut text = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        if first_event.is_none() && chunk.starts_with(b"data: ") {
            first_event = Some(started.elapsed());
        }
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let last = started.elapsed();
    let first = first_event.expect("an event");
    // The mock sends 8 events 200 ms apart: the last leaves about 1.4 s after the first.
    assert!(last >= Duration::from_millis(1400), "{last:?}");
    assert!(
        first + Duration::from_millis(1000) < last,
        "first event at {first:?}, last at {last:?}"
    );
    assert_eq!(text.matches("data: ").count(), 8);
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_one_mebibyte_prompt_reaches_the_upstream_intact() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config_for(&up.base_url(), "")).await;
    let prompt: String = (0..(1 << 20) + 4321)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let client = reqwest::Client::new();
    // Model unchanged upstream: the gateway sends the client's exact bytes.
    let body = serde_json::to_vec(&chat_body("same", false, &prompt)).unwrap();
    let resp = client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Model renamed: the body is re-encoded, the prompt must survive.
    let resp = client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&chat_body("m", true, &prompt))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, body);
    let renamed: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(renamed["messages"][0]["content"].as_str().unwrap(), prompt);
    assert_eq!(renamed["model"], "up-m");
}

#[tokio::test]
async fn embeddings_and_models_routes() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config_for(&up.base_url(), "")).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(gw.url("/v1/embeddings"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({ "model": "m", "input": ["reset my password", "weather"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(up.requests()[0].path, "/v1/embeddings");

    let list: serde_json::Value = client
        .get(gw.url("/v1/models"))
        .bearer_auth("tg-narrow")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["other"]);
    let list: serde_json::Value = client
        .get(gw.url("/v1/models"))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    assert_eq!(
        up.requests().len(),
        1,
        "listing models costs no upstream call"
    );
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event_and_no_done() {
    let event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    // The upstream sends one event and then goes silent; the idle timeout breaks it.
    let addr = raw_upstream(sse_response(event, false), true).await;
    let gw = Gateway::start(&config_for(
        &format!("http://{addr}/v1"),
        "    timeouts: { idle_ms: 300 }\n",
    ))
    .await;
    let resp = post_chat(&gw, KEY, &chat_body("m", true, "x")).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with(event), "{text}");
    assert!(text.contains("data: {\"error\":{"), "{text}");
    assert!(text.contains("upstream_error"));
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn sigterm_lets_an_open_stream_finish_then_exits() {
    let up = Upstream::start(MockConfig {
        chunks: 6,
        chunk_delay_ms: 150,
        ..MockConfig::default()
    })
    .await;
    let mut gw = Gateway::start(&config_for(&up.base_url(), "")).await;
    let mut resp = post_chat(&gw, KEY, &chat_body("m", true, "x")).await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    gw.signal("-TERM");
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the stream was cut: {text}"
    );
    let status = tokio::task::spawn_blocking(move || {
        let s = gw.wait_exit(Duration::from_secs(10));
        (s, gw)
    })
    .await
    .unwrap();
    let (exit, gw) = status;
    assert!(
        exit.is_some_and(|s| s.success()),
        "gateway did not exit after draining:\n{}",
        gw.log_text()
    );
    assert!(
        std::net::TcpStream::connect(gw.api).is_err(),
        "still accepting after SIGTERM"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_model_provider_key_and_status() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config_for(&up.base_url(), "")).await;
    let client = reqwest::Client::new();
    client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&chat_body("m", false, "x"))
        .send()
        .await
        .unwrap();
    client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("nope")
        .json(&chat_body("m", false, "x"))
        .send()
        .await
        .unwrap();
    // `logging` runs just after each answer's last byte: wait for both.
    let text = gw
        .metrics_when(|t| t.contains("status=\"200\"} 1") && t.contains("status=\"401\"} 1"))
        .await;
    assert!(
        text.contains(r#"tollgate_requests_total{key="test",model="m",provider="p",route="chat_completions",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"tollgate_requests_total{key="",model="",provider="",route="chat_completions",status="401"} 1"#));
    assert!(text.contains(r#"tollgate_request_duration_seconds_bucket{model="m",provider="p",route="chat_completions",le="0.001"}"#));
    assert!(
        text.contains(r#"tollgate_time_to_first_token_seconds_count{model="m",provider="p"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"tollgate_overhead_seconds_count{route="chat_completions"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"tollgate_overhead_seconds_bucket{route="chat_completions",le="0.0001"}"#)
    );
    assert!(!text.contains(KEY) && !text.contains(PROVIDER_KEY));
    let ready = reqwest::get(format!("http://{}/readyz", gw.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
