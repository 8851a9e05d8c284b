//! End-to-end: failover before the first byte, on each trigger, with a 1 MiB prompt; no
//! failover on a provider's 400; passive ejection and 503 at once when every target is
//! cooling down; health in /admin/providers and tollgate_provider_up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Model `m`: target `bad` at `bad_url` first, then `good` on the mock.
fn bad_then_good(bad_url: &str, bad_extra: &str, good: &Upstream) -> String {
    format!(
        "providers:\n{}\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: bad, model: same }}, {{ provider: good, model: same }}]\nkeys:\n  - {{ name: test, key: {KEY} }}\n",
        provider("bad", bad_url, bad_extra),
        provider("good", &good.base_url(), "")
    )
}

fn raw_status(status: &str, extra_headers: &str) -> Vec<u8> {
    let body = r#"{"error":{"message":"try later","type":"server_error","code":null}}"#;
    format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra_headers}content-length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[tokio::test]
async fn every_trigger_fails_over_with_the_whole_prompt() {
    let prompt: String = (0..(1 << 20))
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let hanging = Upstream::start(MockConfig {
        latency_ms: 60_000,
        ..MockConfig::default()
    })
    .await;
    let triggers: Vec<(&str, String, &str)> = vec![
        ("refused", format!("http://{}/v1", dead_addr()), ""),
        (
            "reset",
            format!("http://{}/v1", raw_upstream(Vec::new(), false).await),
            "",
        ),
        (
            "hang",
            hanging.base_url(),
            "    timeouts: { first_byte_ms: 300 }\n",
        ),
        (
            "429",
            format!(
                "http://{}/v1",
                raw_upstream(
                    raw_status("429 Too Many Requests", "retry-after: 30\r\n"),
                    false
                )
                .await
            ),
            "",
        ),
        (
            "503",
            format!(
                "http://{}/v1",
                raw_upstream(raw_status("503 Service Unavailable", ""), false).await
            ),
            "",
        ),
    ];
    for (name, url, extra) in triggers {
        let good = Upstream::start(MockConfig::default()).await;
        let gw = Gateway::start(&bad_then_good(&url, extra, &good)).await;
        for stream in [false, true] {
            let body = serde_json::to_vec(&chat_body("m", stream, &prompt)).unwrap();
            let resp = reqwest::Client::new()
                .post(gw.url("/v1/chat/completions"))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                200,
                "{name} stream={stream}: {}",
                gw.log_text()
            );
            assert_eq!(resp.headers()["x-tollgate-provider"], "good", "{name}");
            let attempts = resp.headers()["x-tollgate-attempts"]
                .to_str()
                .unwrap()
                .to_string();
            resp.text().await.unwrap();
            // The first request tries `bad` and fails over; after a 429 with retry-after the
            // second goes straight to `good`, as it may after `bad` was ejected.
            assert!(
                attempts == "2" || (stream && attempts == "1"),
                "{name} stream={stream}: {attempts}"
            );
        }
        let seen = good.requests();
        let got: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(
            got["messages"][0]["content"].as_str().unwrap().len(),
            prompt.len(),
            "{name}: prompt intact"
        );
        let metrics = gw.metrics_text().await;
        assert!(
            metrics.contains("tollgate_failovers_total{from=\"bad\""),
            "{name}: {metrics}"
        );
    }
}

#[tokio::test]
async fn a_providers_400_is_not_retried_elsewhere() {
    let good = Upstream::start(MockConfig::default()).await;
    let bad = raw_upstream(raw_status("400 Bad Request", ""), false).await;
    let gw = Gateway::start(&bad_then_good(&format!("http://{bad}/v1"), "", &good)).await;
    let resp = post_chat(&gw, KEY, &chat_body("m", false, "x")).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-tollgate-attempts"], "1");
    assert!(good.requests().is_empty());
}

#[tokio::test]
async fn when_every_target_cools_down_the_answer_is_503_at_once() {
    let a = raw_upstream(raw_status("503 Service Unavailable", ""), false).await;
    let b = raw_upstream(raw_status("500 Internal Server Error", ""), false).await;
    let yaml = format!(
        "providers:\n{}\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: a, model: x }}, {{ provider: b, model: x }}]\nkeys:\n  - {{ name: test, key: {KEY} }}\n",
        provider("a", &format!("http://{a}/v1"), ""),
        provider("b", &format!("http://{b}/v1"), "")
    );
    let gw = Gateway::start(&yaml).await;
    let c = reqwest::Client::new();
    // Two failures each eject both (the policy's unhealthy_after is 2).
    for _ in 0..2 {
        let resp = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body("m", false, "x"))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_server_error());
    }
    let started = Instant::now();
    let resp = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&chat_body("m", false, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["x-tollgate-attempts"], "0");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "no_healthy_provider");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "no waiting on a timeout"
    );

    let admin: serde_json::Value = reqwest::get(format!("http://{}/admin/providers", gw.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let providers = admin["providers"].as_array().unwrap();
    assert!(
        providers
            .iter()
            .all(|p| p["up"] == false && p["ejections"].as_u64() >= Some(1)),
        "{admin}"
    );
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains("tollgate_provider_up{provider=\"a\"} 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_ejected_target_is_tried_again_after_its_cool_down() {
    let good = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&bad_then_good(
        &format!("http://{}/v1", dead_addr()),
        "",
        &good,
    ))
    .await;
    let c = reqwest::Client::new();
    for _ in 0..2 {
        c.post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body("m", false, "x"))
            .send()
            .await
            .unwrap();
    }
    // `bad` is ejected: the next request goes straight to `good`.
    let resp = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&chat_body("m", false, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-tollgate-attempts"], "1");
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains("tollgate_provider_up{provider=\"bad\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_provider_up{provider=\"good\"} 1"),
        "{metrics}"
    );
    // After the cool-down (500 ms for a first ejection) it is half-open: tried again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body("m", false, "x"))
            .send()
            .await
            .unwrap();
        if resp.headers()["x-tollgate-attempts"] == "2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ejected target was never tried again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_latency_strategy_moves_traffic_to_the_faster_upstream() {
    let slow = Upstream::start(MockConfig {
        latency_ms: 150,
        ..MockConfig::default()
    })
    .await;
    let fast = Upstream::start(MockConfig::default()).await;
    let yaml = format!(
        "providers:\n{}\n{}\nmodels:\n  - name: m\n    strategy: latency\n    targets: [{{ provider: slow, model: x }}, {{ provider: fast, model: x }}]\nkeys:\n  - {{ name: test, key: {KEY} }}\n",
        provider("slow", &slow.base_url(), ""),
        provider("fast", &fast.base_url(), "")
    );
    let gw = Gateway::start(&yaml).await;
    let c = reqwest::Client::new();
    let mut to_fast = 0;
    for _ in 0..40 {
        let resp = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body("m", false, "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        if resp.headers()["x-tollgate-provider"] == "fast" {
            to_fast += 1;
        }
    }
    // Each is measured once, then the fast one takes all but the exploring picks.
    assert!(to_fast >= 34, "{to_fast} of 40 went to the fast upstream");
    assert!(
        slow.requests().len() >= 2,
        "the slow one is still explored now and then"
    );
}

/// Poll `/admin/providers` (bounded) until provider `name` is `up`.
async fn until_up(gw: &Gateway, name: &str, up: bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: serde_json::Value = reqwest::get(format!("http://{}/admin/providers", gw.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let p = v["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap();
        if p["up"] == up {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became up={up}: {p}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn active_checks_see_a_provider_go_down_and_come_back_without_traffic() {
    let serve = |listener: tokio::net::TcpListener, recorder: Recorder| {
        let (stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(
            tollgate::mock_provider::MockServer::new(MockConfig::default(), Some(recorder))
                .serve(listener, rx),
        );
        stop
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recorder = Recorder::default();
    let stop = serve(listener, recorder.clone());
    let yaml = format!(
        "providers:\n{}\nmodels:\n  - {{ name: m, targets: [{{ provider: checked, model: x }}] }}\nkeys:\n  - {{ name: test, key: {KEY} }}\n",
        provider("checked", &format!("http://{addr}/v1"), "    health_check: { path: /v1/models, interval_s: 1, unhealthy_after: 1, healthy_after: 1 }\n")
    );
    let gw = Gateway::start(&yaml).await;

    // The checks reach the provider with its key, and it is up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recorder
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/v1/models")
    {
        assert!(Instant::now() < deadline, "no health check arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let check = recorder
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/models")
        .unwrap();
    assert_eq!(
        check.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    let p = until_up(&gw, "checked", true).await;
    assert_eq!(p["active_check"], true);

    // It goes away: the checks alone mark it down, and the gateway is not ready.
    stop.send(true).unwrap();
    let p = until_up(&gw, "checked", false).await;
    assert_eq!(p["active_check"], false);
    assert_eq!(
        reqwest::get(format!("http://{}/readyz", gw.admin))
            .await
            .unwrap()
            .status(),
        503
    );
    let resp = post_chat(&gw, KEY, &chat_body("m", false, "x")).await;
    assert_eq!(
        resp.status(),
        503,
        "no request waits on a provider known to be down"
    );

    // It comes back on the same address: re-admitted by the next checks.
    let _stop = serve(
        tokio::net::TcpListener::bind(addr).await.unwrap(),
        recorder.clone(),
    );
    until_up(&gw, "checked", true).await;
    assert_eq!(
        post_chat(&gw, KEY, &chat_body("m", false, "x"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_stream_reset_midway_ends_with_an_error_event_and_counts_as_failed() {
    let event = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";
    // The upstream sends one event and closes the connection in the middle of its body.
    let addr = raw_upstream(sse_response(event, false), false).await;
    let good = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&bad_then_good(&format!("http://{addr}/v1"), "", &good)).await;
    let mut body = chat_body("m", true, "x");
    body["stream_options"] = serde_json::json!({ "include_usage": true });
    let resp = post_chat(&gw, KEY, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-tollgate-provider"],
        "bad",
        "the client had bytes: no failover"
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("Hi") && text.contains("data: {\"error\"") && !text.contains("[DONE]"),
        "{text}"
    );
    assert!(good.requests().is_empty());
    // `logging` runs just after the client's last byte: wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = gw.metrics_text().await;
        if metrics.contains("provider=\"bad\",route=\"chat_completions\",status=\"broken\"} 1") {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn failover_crosses_provider_types_translating_the_body_for_each() {
    let good = Upstream::start(MockConfig::default()).await;
    let dead = dead_addr();
    let yaml = format!(
        "providers:\n  - {{ name: claude, type: anthropic, base_url: 'http://{dead}', api_key: {PROVIDER_KEY} }}\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: claude, model: claude-x }}, {{ provider: good, model: gpt-x }}]\nkeys:\n  - {{ name: test, key: {KEY} }}\n",
        provider("good", &good.base_url(), "")
    );
    let gw = Gateway::start(&yaml).await;
    // An Anthropic client: its request goes to the Anthropic provider as is, and, that one
    // being down, to the OpenAI-format one translated; the answer comes back in its shape.
    let body = serde_json::json!({ "model": "m", "max_tokens": 50, "messages": [{ "role": "user", "content": "hi" }] });
    let resp = post_messages(&gw, KEY, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-provider"], "good");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message", "{v}");
    let sent: serde_json::Value = serde_json::from_slice(&good.requests()[0].body).unwrap();
    assert_eq!(sent["model"], "gpt-x");
    assert_eq!(sent["messages"][0]["content"], "hi");
}
