//! The exact-match response cache end to end: hits after misses, streamed replays of stored
//! answers, bypass, expiry, strict scoping, and a cache shared through Redis.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn config(base: &str, extra: &str) -> String {
    format!(
        "{}{extra}",
        config_for(base, "").replace(
            "keys:\n",
            "keys:\n  - { name: limited, key: tg-limited, limits: { tpm: 100000 } }\n  - { name: second, key: tg-second }\n"
        )
    )
}

async fn ask(
    gw: &Gateway,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-tollgate-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, cache, r.text().await.unwrap())
}

/// One client for every request of these tests: its kept-alive connection means a request
/// starts only after the previous one was logged, and the cache is written in `logging`.
/// Per test thread, as each test runs its own runtime, which owns the client's connections.
fn client() -> reqwest::Client {
    thread_local!(static CLIENT: reqwest::Client = reqwest::Client::new());
    CLIENT.with(reqwest::Client::clone)
}

async fn post(gw: &Gateway, key: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn question(text: &str) -> Value {
    chat_body("m", false, text)
}

#[tokio::test]
async fn a_hit_after_a_miss_serves_the_same_answer_without_the_provider() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), "cache: { ttl_s: 600 }\n")).await;
    let (s1, c1, b1) = ask(&gw, KEY, &question("what is a gateway"), &[]).await;
    let (s2, c2, b2) = ask(&gw, KEY, &question("what is a gateway"), &[]).await;
    assert_eq!(
        (s1, c1.as_str(), s2, c2.as_str()),
        (200, "miss", 200, "hit")
    );
    assert_eq!(b1, b2);
    assert_eq!(up.requests().len(), 1);
    // A hit is not billed: the key's usage counts only the request the provider answered.
    let usage: Value = reqwest::get(format!("http://{}/admin/usage?key=test", gw.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage["requests"], 1);
    let metrics = gw.metrics_text().await;
    for result in ["hit", "miss"] {
        assert!(
            metrics.contains(&format!(
                "tollgate_cache_requests_total{{result=\"{result}\"}} 1"
            )),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn answers_never_cross_keys_models_or_parameters() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), "cache: {}\n")).await;
    let base = question("same words");
    assert_eq!(ask(&gw, KEY, &base, &[]).await.1, "miss");
    assert_eq!(ask(&gw, KEY, &base, &[]).await.1, "hit");
    // Another key, another model, another parameter, another message: all misses.
    assert_eq!(ask(&gw, "tg-second", &base, &[]).await.1, "miss");
    assert_eq!(
        ask(&gw, KEY, &chat_body("same", false, "same words"), &[])
            .await
            .1,
        "miss"
    );
    let mut warm = base.clone();
    warm["temperature"] = json!(0.9);
    assert_eq!(ask(&gw, KEY, &warm, &[]).await.1, "miss");
    let mut tools = base.clone();
    tools["max_tokens"] = json!(3);
    assert_eq!(ask(&gw, KEY, &tools, &[]).await.1, "miss");
    // What does not change the answer does not change the key.
    let mut user = base.clone();
    user["user"] = json!("someone-else");
    assert_eq!(ask(&gw, KEY, &user, &[]).await.1, "hit");
    // Anthropic betas change what a provider answers: another list is another entry, the same
    // list in another order or spelling is the same one.
    let betas = [(
        "anthropic-beta",
        "context-1m-2025-08-07,output-128k-2025-02-19",
    )];
    let reordered = [(
        "anthropic-beta",
        " output-128k-2025-02-19 , context-1m-2025-08-07",
    )];
    assert_eq!(ask(&gw, KEY, &base, &betas).await.1, "miss");
    assert_eq!(ask(&gw, KEY, &base, &reordered).await.1, "hit");
    assert_eq!(up.requests().len(), 6);
}

#[tokio::test]
async fn a_stored_answer_is_replayed_as_sse_to_a_streaming_client() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), "cache: { streaming: true }\n")).await;
    let (_, _, whole) = ask(&gw, KEY, &question("stream me"), &[]).await;
    let whole: Value = serde_json::from_str(&whole).unwrap();
    let mut body = chat_body("m", true, "stream me");
    body["stream_options"] = json!({ "include_usage": true });
    let r = post(&gw, KEY, &body).await;
    assert_eq!(r.headers()["x-tollgate-cache"], "hit");
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let mut content = String::new();
    let mut usage = Value::Null;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(line).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        if let Some(c) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(c);
        }
        if !chunk["usage"].is_null() {
            usage = chunk["usage"].clone();
        }
    }
    assert_eq!(
        content,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(usage, whole["usage"]);
    assert_eq!(up.requests().len(), 1);
    // Streamed answers are not stored: a second streamed question still goes upstream.
    let r = post(&gw, KEY, &chat_body("m", true, "never stored")).await;
    assert_eq!(r.headers()["x-tollgate-cache"], "miss");
    r.text().await.unwrap();
    let r = post(&gw, KEY, &chat_body("m", true, "never stored")).await;
    assert_eq!(r.headers()["x-tollgate-cache"], "miss");
}

#[tokio::test]
async fn anthropic_clients_get_their_own_format_back_whole_and_streamed() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), "cache: {}\n")).await;
    let body = |stream: bool| {
        json!({ "model": "m", "max_tokens": 50, "stream": stream,
            "messages": [{ "role": "user", "content": "hello claude" }] })
    };
    let first = post_messages(&gw, KEY, &body(false)).await;
    assert_eq!(first.headers()["x-tollgate-cache"], "miss");
    let first: Value = first.json().await.unwrap();
    let again = post_messages(&gw, KEY, &body(false)).await;
    assert_eq!(again.headers()["x-tollgate-cache"], "hit");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let streamed = post_messages(&gw, KEY, &body(true)).await;
    assert_eq!(streamed.headers()["x-tollgate-cache"], "hit");
    let text = streamed.text().await.unwrap();
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(
        text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{text}"
    );
    let first_text = first["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(&serde_json::to_string(first_text).unwrap()),
        "{text}"
    );
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn no_cache_bypasses_the_lookup_and_no_store_the_store() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), "cache: {}\n")).await;
    let q = question("fresh please");
    assert_eq!(ask(&gw, KEY, &q, &[]).await.1, "miss");
    assert_eq!(
        ask(&gw, KEY, &q, &[("cache-control", "no-cache")]).await.1,
        "bypass"
    );
    assert_eq!(up.requests().len(), 2);
    assert_eq!(ask(&gw, KEY, &q, &[]).await.1, "hit");
    let other = question("do not keep");
    assert_eq!(
        ask(&gw, KEY, &other, &[("cache-control", "no-store")])
            .await
            .1,
        "bypass"
    );
    assert_eq!(ask(&gw, KEY, &other, &[]).await.1, "miss");
    assert_eq!(up.requests().len(), 4);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), "cache: { ttl_s: 1 }\n")).await;
    let q = question("short lived");
    assert_eq!(ask(&gw, KEY, &q, &[]).await.1, "miss");
    assert_eq!(ask(&gw, KEY, &q, &[]).await.1, "hit");
    // The TTL is the thing under test: there is nothing to poll but the clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ask(&gw, KEY, &q, &[]).await.1, "miss");
}

#[tokio::test]
async fn a_hit_counts_no_tokens_against_tpm_and_failures_are_not_stored() {
    let up = Upstream::start(MockConfig {
        failure_rate: 0.0,
        ..MockConfig::default()
    })
    .await;
    let gw = Gateway::start(&config(&up.base_url(), "cache: {}\n")).await;
    let q = question("limited and cached");
    let (_, c, _) = ask(&gw, "tg-limited", &q, &[]).await;
    assert_eq!(c, "miss");
    let r = post(&gw, "tg-limited", &q).await;
    assert_eq!(r.headers()["x-tollgate-cache"], "hit");
    // A hit is answered before limits: it reports no rate-limit headers and reserves nothing.
    assert!(r.headers().get("x-ratelimit-remaining-tokens").is_none());
    // An error answer is never stored.
    let dead = Gateway::start(&config(
        &format!("http://{}/v1", dead_addr()),
        "cache: {}\n",
    ))
    .await;
    let q = question("to a dead provider");
    assert_eq!(ask(&dead, KEY, &q, &[]).await.0, 502);
    assert_eq!(ask(&dead, KEY, &q, &[]).await.1, "miss");
}

#[tokio::test]
async fn instances_sharing_redis_share_the_cache() {
    let redis = RedisServer::start();
    let up = Upstream::start(MockConfig::default()).await;
    let conf = config(
        &up.base_url(),
        &format!(
            "state: {{ backend: redis, redis_url: '{}' }}\ncache: {{ ttl_s: 60 }}\n",
            redis.url()
        ),
    );
    let (a, b) = (Gateway::start(&conf).await, Gateway::start(&conf).await);
    let q = question("shared between instances");
    let (_, c1, b1) = ask(&a, KEY, &q, &[]).await;
    // Stored in `logging`, just after the answer: wait until the entry is in Redis (asking B
    // before would be a miss that stores B's own answer).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while redis.cli(&["--scan", "--pattern", "tg:c:*"]).is_empty() {
        assert!(std::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, c2, b2) = ask(&b, KEY, &q, &[]).await;
    assert_eq!((c1.as_str(), c2.as_str()), ("miss", "hit"));
    assert_eq!(b1, b2);
    let ttl: i64 = redis
        .cli(&["--scan", "--pattern", "tg:c:*"])
        .lines()
        .map(|k| redis.cli(&["TTL", k]).parse::<i64>().unwrap())
        .next()
        .unwrap();
    assert!((1..=60).contains(&ttl), "{ttl}");
}
