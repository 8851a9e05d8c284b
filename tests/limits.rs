//! Rate limits and budgets end to end: the real binary, a recording mock upstream, and a real
//! redis-server shared by two gateway instances where the issue asks for many.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A config: provider `p` at `base`, model `m` (priced only for output, so a request's real
/// cost equals its worst case when the mock answers exactly `max_tokens` tokens), key `test`
/// of team `t` with `key_extra` (limits, budget), and `extra` sections.
fn config(base: &str, key_extra: &str, extra: &str) -> String {
    format!(
        "providers:\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: p, model: up-m }}]\nprices:\n  up-m: {{ input: 0, output: 1000 }}\nkeys:\n  - {{ name: test, team: t, key: {KEY}{key_extra} }}\n  - {{ name: other, team: t, key: tg-other }}\n{extra}",
        provider("p", base, "")
    )
}

fn redis_state(redis: &RedisServer, on_error: &str) -> String {
    format!(
        "state: {{ backend: redis, redis_url: '{}', on_error: {on_error}, timeout_ms: 200 }}\n",
        redis.url()
    )
}

async fn usage_of(gw: &Gateway, query: &str) -> Value {
    reqwest::get(format!("http://{}/admin/usage?{query}", gw.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The usage once `requests` requests are settled: they are, in `logging`, just after the
/// client has its answer.
async fn settled_usage(gw: &Gateway, query: &str, requests: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let usage = usage_of(gw, query).await;
        if usage["requests"] == requests || Instant::now() > deadline {
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ten_tokens() -> Value {
    json!({ "model": "m", "max_tokens": 10, "messages": [{ "role": "user", "content": "hello" }] })
}

#[tokio::test]
async fn rpm_refuses_with_429_retry_after_and_headers_in_both_shapes() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(
        &up.base_url(),
        ", limits: { rpm: 120, window_s: 1 }",
        "",
    ))
    .await;
    // 120 per minute over a 1 s window: 2 per second.
    for left in [1, 0] {
        let r = post_chat(&gw, KEY, &ten_tokens()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit-requests"], "2");
        assert_eq!(
            r.headers()["x-ratelimit-remaining-requests"],
            left.to_string().as_str()
        );
    }
    let r = post_chat(&gw, KEY, &ten_tokens()).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["x-ratelimit-remaining-requests"], "0");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let body = json!({ "model": "m", "max_tokens": 10, "messages": [{ "role": "user", "content": "hi" }] });
    let r = post_messages(&gw, KEY, &body).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    // Another key of the same team is not limited; the refused requests never went upstream.
    assert_eq!(
        post_chat(&gw, "tg-other", &ten_tokens()).await.status(),
        200
    );
    assert_eq!(up.requests().len(), 3);
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains(r#"tollgate_ratelimited_total{limit="rpm",scope="key"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_team_limit_binds_all_its_keys_and_concurrency_is_released_when_clients_leave() {
    let up = Upstream::start(MockConfig {
        chunks: 50,
        chunk_delay_ms: 100,
        ..MockConfig::default()
    })
    .await;
    let gw = Gateway::start(&config(
        &up.base_url(),
        "",
        "teams:\n  - { name: t, limits: { max_concurrent: 1 } }\n",
    ))
    .await;
    // A slow stream holds the team's only slot...
    let stream = post_chat(&gw, KEY, &chat_body("m", true, "slow")).await;
    assert_eq!(stream.status(), 200);
    let r = post_chat(&gw, "tg-other", &ten_tokens()).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team \"t\""),
        "{body}"
    );
    // ...until its client goes away mid-stream: the slot comes back without the answer ending.
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = post_chat(&gw, "tg-other", &ten_tokens()).await;
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 200 concurrent requests against a budget that fits 50 at worst-case cost, spread over
/// `gateways`: the budget is never exceeded and all but at most one request's worth is used.
async fn budget_holds(gateways: &[Gateway]) {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let url = gateways[i % gateways.len()].url("/v1/chat/completions");
            let client = client.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(KEY)
                    .json(&ten_tokens())
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").is_some();
                let body: Value = r.json().await.unwrap();
                (status, retry, body)
            })
        })
        .collect();
    let (mut ok, mut refused) = (0u64, 0u64);
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            429 => {
                assert_eq!(body["error"]["code"], "budget_exceeded");
                assert!(retry, "a daily budget says when it resets");
                refused += 1;
            }
            s => panic!("unexpected {s}: {body}"),
        }
    }
    let usage = settled_usage(&gateways[0], "key=test", ok).await;
    let spent = usage["cost_usd"].as_f64().unwrap();
    assert!(spent <= 0.5 + 1e-9, "overspent: {usage}");
    assert!(spent >= 0.5 - 0.01 - 1e-9, "underused: {usage}");
    assert_eq!(ok + refused, 200);
    assert_eq!(usage["requests"], ok);
    assert!(usage["budget"]["remaining_usd"].as_f64().unwrap() >= -1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budget_accuracy_under_concurrency_on_one_instance() {
    let up = Upstream::start(MockConfig::default()).await;
    // Each request: 10 output tokens at 1000 USD/M = 0.01 USD; 50 fit in 0.5 USD.
    let gw = Gateway::start(&config(
        &up.base_url(),
        ", budget: { usd: 0.5, period: daily }",
        "",
    ))
    .await;
    budget_holds(std::slice::from_ref(&gw)).await;
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains(r#"tollgate_budget_remaining_usd{name="test",scope="key"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budget_accuracy_under_concurrency_across_two_instances_sharing_redis() {
    let redis = RedisServer::start();
    let up = Upstream::start(MockConfig::default()).await;
    let conf = config(
        &up.base_url(),
        ", budget: { usd: 0.5, period: daily }",
        &redis_state(&redis, "fail_closed"),
    );
    let gateways = [Gateway::start(&conf).await, Gateway::start(&conf).await];
    budget_holds(&gateways).await;
}

#[tokio::test]
async fn spend_survives_a_restart_with_redis() {
    let redis = RedisServer::start();
    let up = Upstream::start(MockConfig::default()).await;
    let conf = config(
        &up.base_url(),
        ", budget: { usd: 1, period: monthly }",
        &redis_state(&redis, "fail_open"),
    );
    let gw = Gateway::start(&conf).await;
    for _ in 0..3 {
        assert_eq!(post_chat(&gw, KEY, &ten_tokens()).await.status(), 200);
    }
    let before = settled_usage(&gw, "key=test", 3).await;
    assert!(
        (before["cost_usd"].as_f64().unwrap() - 0.03).abs() < 1e-9,
        "{before}"
    );
    drop(gw);
    let gw = Gateway::start(&conf).await;
    let after = usage_of(&gw, "key=test").await;
    assert_eq!(after["requests"], 3);
    assert_eq!(after["cost_usd"], before["cost_usd"]);
    assert_eq!(after["budget"]["remaining_usd"].as_f64().unwrap(), 0.97);
    let team = usage_of(&gw, "team=t").await;
    assert_eq!(team["requests"], 3, "{team}");
    assert_eq!(team["period"], "total");
}

/// What one window of `drive` served: the requests (and their tokens) certainly admitted in
/// it, and those that may have been.
#[derive(Debug, Default, Clone, Copy)]
struct Served {
    requests: u64,
    tokens: u64,
    maybe_requests: u64,
    maybe_tokens: u64,
}

/// Drive `rate` requests per second through `gateways` for `windows` windows of `window`,
/// returning per window what was served.
///
/// The limit counts a request at its admission, which the test cannot see: it lies between
/// the moment the request was handed to the client and the moment its answer came back. A
/// request whose whole span lies in one window was certainly admitted in it; one whose span
/// crosses a window's edge (a delayed client or gateway) is only possibly in each window it
/// touches. So an exact limit shows as `requests` at most the limit and `requests +
/// maybe_requests` at least nearly the limit, however loaded the machine is.
async fn drive(gateways: &[Gateway], rate: u32, window: Duration, windows: u32) -> Vec<Served> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let total = rate as u64 * window.as_secs() * windows as u64;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::new();
    for i in 0..total {
        let due = started + gap * i as u32;
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let url = gateways[i as usize % gateways.len()].url("/v1/chat/completions");
        let client = client.clone();
        let sent = started.elapsed();
        tasks.push(tokio::spawn(async move {
            let body = json!({ "model": "m", "max_tokens": 4, "messages": [{ "role": "user", "content": "a short question" }] });
            let r = client.post(url).bearer_auth(KEY).json(&body).send().await.unwrap();
            let done = started.elapsed();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (sent, done, status, body)
        }));
    }
    let mut per_window = vec![Served::default(); windows as usize];
    let window_of = |t: Duration| (t.as_secs_f64() / window.as_secs_f64()) as usize;
    for t in tasks {
        let (sent, done, status, body) = t.await.unwrap();
        match status {
            200 => {
                let tokens = body["usage"]["total_tokens"].as_u64().unwrap();
                let (first, last) = (window_of(sent), window_of(done));
                for w in per_window.iter_mut().take(last + 1).skip(first) {
                    if first == last {
                        w.requests += 1;
                        w.tokens += tokens;
                    } else {
                        w.maybe_requests += 1;
                        w.maybe_tokens += tokens;
                    }
                }
            }
            429 => {}
            s => panic!("unexpected {s}: {body}"),
        }
    }
    per_window
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpm_is_exact_across_two_instances_sharing_redis() {
    let redis = RedisServer::start();
    let up = Upstream::start(MockConfig::default()).await;
    // 3000 per minute over 2 s windows: 100 per window, driven at three times that.
    let conf = config(
        &up.base_url(),
        ", limits: { rpm: 3000, window_s: 2 }",
        &redis_state(&redis, "fail_closed"),
    );
    let gateways = [Gateway::start(&conf).await, Gateway::start(&conf).await];
    let served = drive(&gateways, 150, Duration::from_secs(2), 3).await;
    for (w, s) in served.iter().enumerate() {
        assert!(s.requests <= 100, "window {w}: {served:?}");
        assert!(
            s.requests + s.maybe_requests >= 98,
            "window {w}: {served:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tpm_is_exact_across_two_instances_sharing_redis() {
    let redis = RedisServer::start();
    let up = Upstream::start(MockConfig {
        chunks: 4,
        ..MockConfig::default()
    })
    .await;
    // 60000 tokens per minute over 2 s windows: 2000 per window. Each request uses about 20
    // tokens; 300 requests per window are sent, three times what fits.
    let conf = config(
        &up.base_url(),
        ", limits: { tpm: 60000, window_s: 2 }",
        &redis_state(&redis, "fail_closed"),
    );
    let gateways = [Gateway::start(&conf).await, Gateway::start(&conf).await];
    let probe = post_chat(
        &gateways[0],
        KEY,
        &json!({ "model": "m", "max_tokens": 4, "messages": [{ "role": "user", "content": "a short question" }] }),
    )
    .await;
    let per_request = probe.json::<Value>().await.unwrap()["usage"]["total_tokens"]
        .as_u64()
        .unwrap();
    // Let the probe's tokens leave the window before measuring.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let rate = (3 * 2000 / per_request / 2) as u32;
    let served = drive(&gateways, rate, Duration::from_secs(2), 3).await;
    for (w, s) in served.iter().enumerate() {
        let context = format!("window {w}: {served:?} ({per_request} tokens per request)");
        assert!(s.tokens <= 2040, "{context}");
        assert!(s.tokens + s.maybe_tokens >= 1960, "{context}");
    }
}

#[tokio::test]
async fn a_redis_outage_fails_open_or_closed_as_configured_and_heals() {
    let mut redis = RedisServer::start();
    let up = Upstream::start(MockConfig::default()).await;
    let limited = ", limits: { rpm: 1000 }";
    let open = Gateway::start(&config(
        &up.base_url(),
        limited,
        &redis_state(&redis, "fail_open"),
    ))
    .await;
    let closed = Gateway::start(&config(
        &up.base_url(),
        limited,
        &redis_state(&redis, "fail_closed"),
    ))
    .await;
    assert_eq!(post_chat(&open, KEY, &ten_tokens()).await.status(), 200);
    assert_eq!(post_chat(&closed, KEY, &ten_tokens()).await.status(), 200);
    redis.stop();
    let started = Instant::now();
    assert_eq!(post_chat(&open, KEY, &ten_tokens()).await.status(), 200);
    let r = post_chat(&closed, KEY, &ten_tokens()).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "state_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A key without limits is served either way.
    assert_eq!(
        post_chat(&closed, "tg-other", &ten_tokens()).await.status(),
        200
    );
    let metrics = open.metrics_text().await;
    assert!(
        metrics.contains("tollgate_state_backend_errors_total{backend=\"redis\"}"),
        "{metrics}"
    );
    assert!(open.log_text().contains("state backend redis"), "warned");
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if post_chat(&closed, KEY, &ten_tokens()).await.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "fail_closed never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
