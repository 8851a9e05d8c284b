//! End-to-end: every row of the error table the gateway can produce, in the OpenAI shape,
//! with no upstream call for what the gateway refused, and normal service afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Assert an OpenAI-shaped error with `status` and `code`.
async fn expect_error(resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status, "expected {code}");
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: serde_json::Value = resp.json().await.unwrap();
    let e = &v["error"];
    assert_eq!(e["code"], code, "{v}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(e.as_object().unwrap().contains_key("param"), "{v}");
}

async fn works(gw: &Gateway) {
    let resp = post_chat(gw, KEY, &chat_body("m", false, "still there?")).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn refused_requests_never_reach_the_upstream() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw =
        Gateway::start_with(&config_for(&up.base_url(), ""), "  max_body_bytes: 2097152").await;
    let c = reqwest::Client::new();
    let chat = gw.url("/v1/chat/completions");
    let post = |key: &str| {
        c.post(&chat)
            .bearer_auth(key)
            .header("content-type", "application/json")
    };

    expect_error(
        post(KEY).body("{\"model\": \"m\", ").send().await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        post(KEY)
            .body(r#"{"messages":[{"role":"user","content":"x"}]}"#)
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        post(KEY).body(r#"{"model":"m"}"#).send().await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        post(KEY)
            .body(r#"{"model":["m"],"messages":[]}"#)
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        post(KEY)
            .body(b"{\"model\":\"m\",\"messages\":[{\"content\":\"\xff\xfe\"}]}".to_vec())
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        c.post(&chat)
            .json(&chat_body("m", false, "x"))
            .send()
            .await
            .unwrap(),
        401,
        "invalid_api_key",
    )
    .await;
    expect_error(
        post("tg-unknown")
            .json(&chat_body("m", false, "x"))
            .send()
            .await
            .unwrap(),
        401,
        "invalid_api_key",
    )
    .await;
    expect_error(
        c.get(gw.url("/v1/models")).send().await.unwrap(),
        401,
        "invalid_api_key",
    )
    .await;
    expect_error(
        post("tg-narrow")
            .json(&chat_body("m", false, "x"))
            .send()
            .await
            .unwrap(),
        403,
        "model_not_allowed",
    )
    .await;
    expect_error(
        post(KEY)
            .json(&chat_body("no-such-model", false, "x"))
            .send()
            .await
            .unwrap(),
        404,
        "model_not_found",
    )
    .await;
    let big = "x".repeat(3 << 20);
    expect_error(
        post(KEY)
            .json(&chat_body("m", false, &big))
            .send()
            .await
            .unwrap(),
        413,
        "request_too_large",
    )
    .await;
    expect_error(
        c.get(gw.url("/v1/nothing"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;

    // A chunked upload with no declared length is counted and cut at the limit.
    let mut raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer {KEY}\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..40 {
        raw.extend_from_slice(format!("{:x}\r\n{}\r\n", 100_000, "y".repeat(100_000)).as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let answer = tokio::task::spawn_blocking({
        let addr = gw.api;
        move || raw_exchange(addr, &raw, false, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("request_too_large"));

    // A body shorter than its declared length, then the client stops sending.
    let truncated = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer {KEY}\r\ncontent-length: 1000\r\n\r\n{{\"model\":\"m\""
    );
    let answer = tokio::task::spawn_blocking({
        let addr = gw.api;
        move || raw_exchange(addr, truncated.as_bytes(), true, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    assert!(
        up.requests().is_empty(),
        "a refused request reached the upstream"
    );
    works(&gw).await;
    assert_eq!(up.requests().len(), 1);
}

/// Model `m` on provider `p` at `bad_url`; model `good` on a working upstream.
fn with_a_good_model(bad_url: &str, bad_extra: &str, good: &Upstream) -> String {
    format!(
        "providers:\n{}\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: p, model: up-m }}]\n  - name: good\n    targets: [{{ provider: ok, model: up-good }}]\nkeys:\n  - {{ name: test, key: {KEY} }}\n",
        provider("p", bad_url, bad_extra),
        provider("ok", &good.base_url(), "")
    )
}

async fn serves_good(gw: &Gateway, good: &Upstream) {
    let before = good.requests().len();
    let resp = post_chat(gw, KEY, &chat_body("good", true, "still there?")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    assert_eq!(good.requests().len(), before + 1);
}

#[tokio::test]
async fn an_upstream_refusing_connections_is_a_502() {
    let good = Upstream::start(MockConfig::default()).await;
    let dead = dead_addr();
    let gw = Gateway::start(&with_a_good_model(&format!("http://{dead}/v1"), "", &good)).await;
    for stream in [false, true] {
        let resp = post_chat(&gw, KEY, &chat_body("m", stream, "x")).await;
        assert_eq!(resp.headers()["x-tollgate-provider"], "p");
        assert_eq!(resp.headers()["x-tollgate-attempts"], "1");
        expect_error(resp, 502, "upstream_error").await;
    }
    serves_good(&gw, &good).await;
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_504_after_first_byte_ms() {
    let good = Upstream::start(MockConfig::default()).await;
    let hanging = Upstream::start(MockConfig {
        latency_ms: 60_000,
        ..MockConfig::default()
    })
    .await;
    let yaml = with_a_good_model(
        &hanging.base_url(),
        "    timeouts: { first_byte_ms: 400 }\n",
        &good,
    );
    let gw = Gateway::start(&yaml).await;
    let started = Instant::now();
    let resp = post_chat(&gw, KEY, &chat_body("m", true, "x")).await;
    let took = started.elapsed();
    expect_error(resp, 504, "upstream_timeout").await;
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(hanging.requests().len(), 1);
    serves_good(&gw, &good).await;
}

#[tokio::test]
async fn a_model_whose_providers_are_all_disabled_is_a_503() {
    let yaml = "providers:\n  - { name: off, type: openai, api_key: '' }\nmodels:\n  - name: m\n    targets: [{ provider: off, model: gpt-4o }]\nkeys:\n  - { name: test, key: tg-test-key }\n";
    let gw = Gateway::start(yaml).await;
    let resp = post_chat(&gw, KEY, &chat_body("m", false, "x")).await;
    expect_error(resp, 503, "no_healthy_provider").await;
    let ready = reqwest::get(format!("http://{}/readyz", gw.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let list: serde_json::Value = reqwest::Client::new()
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["data"],
        serde_json::json!([]),
        "a model nobody can serve is not listed"
    );
}
