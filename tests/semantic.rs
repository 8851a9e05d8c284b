//! The semantic cache end to end: a question asked in other words is answered from the cache,
//! an unrelated one is not, nothing crosses keys, models, system prompts or parameters, a hit
//! replays as SSE to a streaming client, entries expire, a failing embedding provider only
//! means a miss, and instances sharing Redis share entries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Model `m` (chat) and `other` on provider `p`; `emb` (embeddings) on `embed_base`.
fn config(base: &str, embed_base: &str, semantic: &str, extra: &str) -> String {
    format!(
        "providers:\n{}\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: p, model: up-m }}]\n  - name: other\n    targets: [{{ provider: p, model: up-other }}]\n  - name: emb\n    targets: [{{ provider: e, model: text-embedding-3-small }}]\nkeys:\n  - {{ name: test, key: {KEY} }}\n  - {{ name: second, key: tg-second }}\n  - {{ name: chat-only, key: tg-chat-only, models: [m] }}\ncache:\n  ttl_s: 600\n  semantic: {{ embedding_model: emb, threshold: 0.75{semantic} }}\n{extra}",
        provider("p", base, ""),
        provider("e", embed_base, ""),
    )
}

fn client() -> reqwest::Client {
    thread_local!(static CLIENT: reqwest::Client = reqwest::Client::new());
    CLIENT.with(reqwest::Client::clone)
}

struct Answer {
    cache: String,
    similarity: Option<f64>,
    body: String,
}

async fn ask(gw: &Gateway, key: &str, body: Value) -> Answer {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    if status != 200 {
        panic!("{status} from {}: {}", gw.api, r.text().await.unwrap());
    }
    let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    let cache = header("x-tollgate-cache").unwrap_or_default();
    let similarity = header("x-tollgate-similarity").map(|s| s.parse().unwrap());
    Answer {
        cache,
        similarity,
        body: r.text().await.unwrap(),
    }
}

fn question(text: &str) -> Value {
    chat_body("m", false, text)
}

fn chat_requests(up: &Upstream) -> usize {
    up.requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .count()
}

#[tokio::test]
async fn a_rephrased_question_is_answered_from_the_cache_and_an_unrelated_one_is_not() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), &up.base_url(), "", "")).await;
    let first = ask(&gw, KEY, question("How do I reset my password?")).await;
    assert_eq!(first.cache, "miss");
    let again = ask(&gw, KEY, question("How can I reset my password")).await;
    assert_eq!(again.cache, "semantic-hit");
    let similarity = again.similarity.unwrap();
    assert!((0.75..=1.0).contains(&similarity), "{similarity}");
    assert_eq!(again.body, first.body, "the stored answer, as it was");
    assert_eq!(chat_requests(&up), 1);
    let unrelated = ask(&gw, KEY, question("What is the capital of France?")).await;
    assert_eq!(unrelated.cache, "miss");
    assert_eq!(chat_requests(&up), 2);
    // The embedding calls went through the gateway like any request of the key.
    let embeddings = r#"tollgate_requests_total{key="test",model="emb",provider="e",route="embeddings",status="200"} 3"#;
    let metrics = gw.metrics_when(|m| m.contains(embeddings)).await;
    assert!(metrics.contains(r#"tollgate_cache_requests_total{result="semantic_hit"} 1"#));
}

#[tokio::test]
async fn nothing_crosses_keys_models_system_prompts_or_parameters() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), &up.base_url(), "", "")).await;
    assert_eq!(
        ask(&gw, KEY, question("How do I reset my password?"))
            .await
            .cache,
        "miss"
    );
    let rephrased = "How can I reset my password";
    assert_eq!(
        ask(&gw, "tg-second", question(rephrased)).await.cache,
        "miss"
    );
    assert_eq!(
        ask(&gw, KEY, chat_body("other", false, rephrased))
            .await
            .cache,
        "miss"
    );
    let with_system = json!({ "model": "m", "messages": [
        { "role": "system", "content": "Answer in French." },
        { "role": "user", "content": rephrased } ] });
    assert_eq!(ask(&gw, KEY, with_system).await.cache, "miss");
    let mut cooler = question(rephrased);
    cooler["temperature"] = json!(0.1);
    assert_eq!(ask(&gw, KEY, cooler).await.cache, "miss");
    let mut capped = question(rephrased);
    capped["max_tokens"] = json!(5);
    assert_eq!(ask(&gw, KEY, capped).await.cache, "miss");
    // Requests that do not qualify are never answered by it: tools, a hot temperature.
    let mut tools = question(rephrased);
    tools["tools"] = json!([{ "type": "function", "function": { "name": "f", "parameters": { "type": "object" } } }]);
    assert_eq!(ask(&gw, KEY, tools).await.cache, "miss");
    let mut hot = question(rephrased);
    hot["temperature"] = json!(1.5);
    assert_eq!(ask(&gw, KEY, hot).await.cache, "miss");
    // And the original scope still answers.
    assert_eq!(
        ask(&gw, KEY, question(rephrased)).await.cache,
        "semantic-hit"
    );
}

#[tokio::test]
async fn a_hit_is_replayed_as_sse_to_a_streaming_client() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), &up.base_url(), "", "")).await;
    let first = ask(&gw, KEY, question("How do I reset my password?")).await;
    let whole: Value = serde_json::from_str(&first.body).unwrap();
    let streamed = ask(
        &gw,
        KEY,
        chat_body("m", true, "How can I reset my password"),
    )
    .await;
    assert_eq!(streamed.cache, "semantic-hit");
    assert!(
        streamed.body.ends_with("data: [DONE]\n\n"),
        "{}",
        streamed.body
    );
    let mut text = String::new();
    for d in streamed
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
    {
        if d != "[DONE]" {
            let v: Value = serde_json::from_str(d).unwrap();
            text.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(
        text,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(chat_requests(&up), 1);
}

#[tokio::test]
async fn entries_expire() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start(&config(&up.base_url(), &up.base_url(), ", ttl_s: 1", "")).await;
    ask(&gw, KEY, question("How do I reset my password?")).await;
    assert_eq!(
        ask(&gw, KEY, question("How can I reset my password"))
            .await
            .cache,
        "semantic-hit"
    );
    // The time to live is the thing under test.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ask(&gw, KEY, question("how do i reset my password"))
            .await
            .cache,
        "miss"
    );
}

#[tokio::test]
async fn a_failing_embedding_call_is_only_a_miss() {
    let up = Upstream::start(MockConfig::default()).await;
    let dead = format!("http://{}/v1", dead_addr());
    let gw = Gateway::start(&config(&up.base_url(), &dead, "", "")).await;
    for _ in 0..2 {
        let a = ask(&gw, KEY, question("How do I reset my password?")).await;
        assert!(a.body.contains("chat.completion"), "{}", a.body);
    }
    // A key that may not use the embedding model is served too, without the semantic cache.
    let up2 = Upstream::start(MockConfig::default()).await;
    let gw2 = Gateway::start(&config(&up2.base_url(), &up2.base_url(), "", "")).await;
    ask(
        &gw2,
        "tg-chat-only",
        question("How do I reset my password?"),
    )
    .await;
    let a = ask(
        &gw2,
        "tg-chat-only",
        question("How can I reset my password"),
    )
    .await;
    assert_eq!(a.cache, "miss");
    assert_eq!(chat_requests(&up2), 2);
}

#[tokio::test]
async fn instances_sharing_redis_share_entries() {
    let redis = RedisServer::start();
    let up = Upstream::start(MockConfig::default()).await;
    let state = format!(
        "state: {{ backend: redis, redis_url: '{}' }}\n",
        redis.url()
    );
    let conf = config(&up.base_url(), &up.base_url(), "", &state);
    let (a, b) = (Gateway::start(&conf).await, Gateway::start(&conf).await);
    let first = ask(&a, KEY, question("How do I reset my password?")).await;
    // Stored in `logging`, just after the answer: wait until it is in Redis.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while redis.cli(&["--scan", "--pattern", "tg:sem:e:*"]).is_empty() {
        assert!(std::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = ask(&b, KEY, question("How can I reset my password")).await;
    assert_eq!(other.cache, "semantic-hit");
    assert_eq!(other.body, first.body);
}
