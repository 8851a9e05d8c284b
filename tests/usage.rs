//! End-to-end: usage and spend. Provider usage per format, the hidden usage chunk, estimates
//! for broken streams, settlement exactly once (client gone, failover), prices and
//! `GET /admin/usage`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Providers of each format on the mock at `a`, models `m-oa`, `m-an`, `m-ge`, priced so
/// costs are easy to check: 1 USD per 1M input, 2 per 1M output, 0.5 per 1M cached.
fn config(a: std::net::SocketAddr, extra_providers: &str, extra_models: &str) -> String {
    format!(
        "providers:
  - {{ name: oa, type: openai_compatible, base_url: 'http://{a}/v1', api_key: {PROVIDER_KEY} }}
  - {{ name: an, type: anthropic, base_url: 'http://{a}', api_key: {PROVIDER_KEY} }}
  - {{ name: ge, type: gemini, base_url: 'http://{a}', api_key: {PROVIDER_KEY} }}
{extra_providers}
models:
  - {{ name: m-oa, targets: [{{ provider: oa, model: up-oa }}] }}
  - {{ name: m-an, targets: [{{ provider: an, model: up-an }}] }}
  - {{ name: m-ge, targets: [{{ provider: ge, model: up-ge }}] }}
{extra_models}
keys:
  - {{ name: test, team: blue, key: {KEY} }}
prices:
  up-oa: {{ input: 1, output: 2, cached_input: 0.5 }}
  up-an: {{ input: 1, output: 2, cached_input: 0.5 }}
  up-ge: {{ input: 1, output: 2, cached_input: 0.5 }}
  m-fo: {{ input: 1, output: 2 }}
"
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

/// A provider option: a stream that stalls for 300 ms is broken.
const IDLE_300: &str = ", timeouts: { idle_ms: 300 }";

/// A gateway with one provider at `addr`, `oa` (OpenAI-compatible, model `m-oa` as `gpt-4o`)
/// or `an` (Anthropic, `m-an` as `up-an`), with `options` on the provider, the key `test`,
/// then `extra` configuration.
async fn one_provider(
    addr: std::net::SocketAddr,
    name: &str,
    options: &str,
    extra: &str,
) -> Gateway {
    let (kind, base, upstream) = match name {
        "an" => ("anthropic", format!("http://{addr}"), "up-an"),
        _ => ("openai_compatible", format!("http://{addr}/v1"), "gpt-4o"),
    };
    Gateway::start(&format!(
        "providers:\n  - {{ name: {name}, type: {kind}, base_url: '{base}', api_key: {PROVIDER_KEY}{options} }}\nmodels:\n  - {{ name: m-{name}, targets: [{{ provider: {name}, model: {upstream} }}] }}\nkeys:\n  - {{ name: test, key: {KEY} }}\n{extra}"
    ))
    .await
}

/// Wait (bounded) until the key has settled `n` requests; settlement happens in `logging`,
/// just after the client has its last byte.
async fn settled(gw: &Gateway, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let u = usage_of(gw, "key=test").await;
        if u["requests"].as_u64() == Some(n) {
            return u;
        }
        assert!(Instant::now() < deadline, "not settled: {u}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sum a counter over the label values given.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// `tollgate_tokens_total` for one direction and source.
fn tokens(text: &str, direction: &str, source: &str) -> f64 {
    metric(
        text,
        "tollgate_tokens_total",
        &[("direction", direction), ("source", source)],
    )
}

fn without_ids(text: &str) -> String {
    let id = regex::Regex::new(r#""(id|created)":("[^"]*"|\d+)"#).unwrap();
    id.replace_all(text, "").into_owned()
}

#[tokio::test]
async fn the_usage_chunk_the_gateway_asked_for_is_hidden_from_a_client_that_did_not() {
    let up = Upstream::start(MockConfig {
        chunks: 5,
        ..MockConfig::default()
    })
    .await;
    let gw = Gateway::start(&config(up.addr, "", "")).await;
    let c = reqwest::Client::new();
    let plain = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&chat_body("m-oa", true, "count me"))
        .send()
        .await
        .unwrap();
    let plain = plain.text().await.unwrap();
    let mut asked = chat_body("m-oa", true, "count me");
    asked["stream_options"] = json!({ "include_usage": true });
    let asked = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&asked)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let seen = up.requests();
    for r in &seen {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body["stream_options"]["include_usage"], true,
            "the gateway always asks for usage"
        );
    }
    assert!(
        asked.contains("\"choices\":[],"),
        "the client that asked gets the usage chunk: {asked}"
    );
    assert!(
        !plain.contains("\"choices\":[],"),
        "the client that did not never sees it: {plain}"
    );
    // Byte for byte, the rest is the same stream (ids and timestamps aside).
    let usage_event = asked
        .split("\n\n")
        .find(|e| e.contains("\"choices\":[],"))
        .unwrap();
    let expected = asked.replace(&format!("{usage_event}\n\n"), "");
    assert_eq!(without_ids(&plain), without_ids(&expected));
    assert!(plain.ends_with("data: [DONE]\n\n"));

    let u = settled(&gw, 2).await;
    // The mock: prompt = ceil(8 chars / 4) + 3 = 5 tokens; 5 pieces = 5 output tokens.
    assert_eq!(
        (u["input_tokens"].as_u64(), u["output_tokens"].as_u64()),
        (Some(10), Some(10)),
        "{u}"
    );
    let m = gw.metrics_text().await;
    assert_eq!(
        metric(
            &m,
            "tollgate_tokens_total",
            &[
                ("provider", "oa"),
                ("direction", "output"),
                ("source", "provider")
            ]
        ),
        10.0
    );
}

#[tokio::test]
async fn every_provider_format_is_counted_from_its_own_usage_streamed_or_not() {
    let up = Upstream::start(MockConfig {
        chunks: 7,
        ..MockConfig::default()
    })
    .await;
    let gw = Gateway::start(&config(up.addr, "", "")).await;
    let c = reqwest::Client::new();
    let mut n = 0;
    for model in ["m-oa", "m-an", "m-ge"] {
        for stream in [false, true] {
            let resp = c
                .post(gw.url("/v1/chat/completions"))
                .bearer_auth(KEY)
                .json(&chat_body(model, stream, "twelve chars"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap();
            n += 1;
            let u = settled(&gw, n).await;
            // Each answer: 6 input tokens (ceil(12/4) + 3), 7 output tokens, at 1 and 2 USD/1M.
            assert_eq!(
                u["input_tokens"].as_u64(),
                Some(6 * n),
                "{model} stream={stream}: {u}"
            );
            assert_eq!(
                u["output_tokens"].as_u64(),
                Some(7 * n),
                "{model} stream={stream}: {u}"
            );
            let cost = u["cost_usd"].as_f64().unwrap();
            assert!(
                (cost - n as f64 * (6.0 + 14.0) / 1e6).abs() < 1e-12,
                "{model} stream={stream}: {u}"
            );
        }
    }
    let team = usage_of(&gw, "team=blue").await;
    assert_eq!(team["requests"].as_u64(), Some(6));
    let m = gw.metrics_text().await;
    for p in ["oa", "an", "ge"] {
        assert_eq!(
            metric(
                &m,
                "tollgate_tokens_total",
                &[
                    ("provider", p),
                    ("direction", "input"),
                    ("source", "provider")
                ]
            ),
            12.0,
            "{p}"
        );
        assert_eq!(
            metric(
                &m,
                "tollgate_tokens_total",
                &[("provider", p), ("source", "estimate")]
            ),
            0.0,
            "{p}"
        );
    }
    assert!(metric(&m, "tollgate_cost_usd_total", &[("team", "blue")]) > 0.0);
}

#[tokio::test]
async fn a_stream_that_breaks_is_billed_for_what_was_delivered() {
    let events: String = ["Hello", " there,", " friend"]
        .iter()
        .map(|t| format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up-oa\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}},\"finish_reason\":null}}]}}\n\n"))
        .collect();
    let raw = sse_response(&events, false);
    let addr = raw_upstream(raw, true).await;
    let gw = one_provider(addr, "oa", IDLE_300, "").await;
    let text = post_chat(
        &gw,
        KEY,
        &chat_body("m-oa", true, "Say hello to a friend, please."),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        text.contains("\"error\"") && !text.contains("[DONE]"),
        "{text}"
    );
    let u = settled(&gw, 1).await;
    // "Hello there, friend" is 4 tokens in o200k_base; the prompt is estimated too.
    assert_eq!(u["output_tokens"].as_u64(), Some(4), "{u}");
    assert!(u["input_tokens"].as_u64().unwrap() > 5, "{u}");
    let m = gw.metrics_text().await;
    assert_eq!(tokens(&m, "output", "estimate"), 4.0);
    assert_eq!(
        tokens(&m, "input", "estimate"),
        u["input_tokens"].as_f64().unwrap()
    );
    // gpt-4o is in the built-in price table.
    assert!(u["cost_usd"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_settled_once() {
    let up = Upstream::start(MockConfig {
        chunks: 30,
        chunk_delay_ms: 50,
        ..MockConfig::default()
    })
    .await;
    let gw = Gateway::start(&config(up.addr, "", "")).await;
    let mut resp = post_chat(&gw, KEY, &chat_body("m-oa", true, "long answer please")).await;
    let mut got = 0;
    while got < 3 {
        let chunk = resp.chunk().await.unwrap().unwrap();
        got += chunk.windows(6).filter(|w| w == b"data: ").count();
    }
    drop(resp);
    let u = settled(&gw, 1).await;
    let out = u["output_tokens"].as_u64().unwrap();
    assert!(
        (1..30).contains(&out),
        "billed for what was delivered, not the whole answer: {u}"
    );
    // Nothing settles it a second time, even after the upstream's stream would have ended.
    let counted = |m: &str| metric(m, "tollgate_requests_total", &[("key", "test")]) > 0.0;
    let m = gw.metrics_when(counted).await;
    assert_eq!(
        metric(&m, "tollgate_requests_total", &[("key", "test")]),
        1.0
    );
    assert_eq!(
        usage_of(&gw, "key=test").await["requests"].as_u64(),
        Some(1)
    );
}

#[tokio::test]
async fn a_request_that_failed_over_is_billed_once_to_the_provider_that_answered() {
    let up = Upstream::start(MockConfig {
        chunks: 4,
        ..MockConfig::default()
    })
    .await;
    let dead = dead_addr();
    let gw = Gateway::start(&config(
        up.addr,
        &format!("  - {{ name: dead, type: openai_compatible, base_url: 'http://{dead}/v1', api_key: {PROVIDER_KEY} }}"),
        "  - { name: m-fo, targets: [{ provider: dead, model: m-fo }, { provider: oa, model: m-fo }] }",
    ))
    .await;
    for stream in [false, true] {
        let resp = post_chat(&gw, KEY, &chat_body("m-fo", stream, "x")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-tollgate-provider"], "oa");
        assert_eq!(resp.headers()["x-tollgate-attempts"], "2");
        resp.text().await.unwrap();
    }
    let u = settled(&gw, 2).await;
    assert_eq!(u["output_tokens"].as_u64(), Some(8), "{u}");
    let m = gw.metrics_text().await;
    assert_eq!(
        metric(&m, "tollgate_tokens_total", &[("provider", "dead")]),
        0.0
    );
    assert_eq!(
        metric(
            &m,
            "tollgate_tokens_total",
            &[("provider", "oa"), ("direction", "output")]
        ),
        8.0
    );
    assert_eq!(
        metric(&m, "tollgate_cost_usd_total", &[("provider", "dead")]),
        0.0
    );
}

#[tokio::test]
async fn admin_usage_needs_the_token_and_names_a_known_scope() {
    let up = Upstream::start(MockConfig::default()).await;
    let gw = Gateway::start_with(&config(up.addr, "", ""), "  admin_token: s3cret-admin").await;
    let url = |q: &str| format!("http://{}/admin/usage?{q}", gw.admin);
    let c = reqwest::Client::new();
    assert_eq!(c.get(url("key=test")).send().await.unwrap().status(), 401);
    assert_eq!(
        c.get(url("key=test"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let ok = c
        .get(url("key=test"))
        .bearer_auth("s3cret-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let v: Value = ok.json().await.unwrap();
    assert_eq!(
        (v["scope"].as_str(), v["requests"].as_u64()),
        (Some("key"), Some(0))
    );
    assert_eq!(
        c.get(url("key=nobody"))
            .bearer_auth("s3cret-admin")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(url(""))
            .bearer_auth("s3cret-admin")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

/// A whole answer the gateway reads before sending (redacted, or translated) and that reports
/// no usage is billed by its text, as one passed through is: not as 0 output tokens.
#[tokio::test]
async fn a_whole_answer_read_by_the_gateway_without_usage_is_estimated() {
    let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, friend"},"finish_reason":"stop"}]}"#;
    let addr = raw_upstream(json_response("200 OK", body), false).await;
    let redaction = "redaction:\n  default_policy: default\n  policies:\n    default:\n      response: { email: mask }\n";
    let gw = one_provider(addr, "oa", "", redaction).await;
    // Redacted in the OpenAI shape, then translated into Anthropic's.
    let openai = post_chat(&gw, KEY, &chat_body("m-oa", false, "Say hello to a friend"))
        .await
        .text()
        .await
        .unwrap();
    assert!(openai.contains("Hello there, friend"), "{openai}");
    let anthropic = post_messages(
        &gw,
        KEY,
        &json!({ "model": "m-oa", "max_tokens": 50,
            "messages": [{ "role": "user", "content": "Say hello to a friend" }] }),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(anthropic.contains("Hello there, friend"), "{anthropic}");
    let u = settled(&gw, 2).await;
    // "Hello there, friend" is 4 tokens in o200k_base, twice.
    assert_eq!(u["output_tokens"].as_u64(), Some(8), "{u}");
    let m = gw.metrics_text().await;
    assert_eq!(tokens(&m, "output", "estimate"), 8.0);
}

#[tokio::test]
async fn a_broken_anthropic_stream_is_not_billed_at_its_placeholder_count() {
    // message_start reports output_tokens 1 as a placeholder; the stream then breaks.
    let events = [
        ("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"up-an","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"One two three four five six"}}"#),
    ]
    .iter()
    .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
    .collect::<String>();
    let raw = sse_response(&events, false);
    let addr = raw_upstream(raw, true).await;
    let gw = one_provider(addr, "an", IDLE_300, "").await;
    let text = post_chat(&gw, KEY, &chat_body("m-an", true, "count"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("One two three") && text.contains("\"error\"") && !text.contains("[DONE]"),
        "{text}"
    );
    let u = settled(&gw, 1).await;
    assert_eq!(
        u["input_tokens"].as_u64(),
        Some(25),
        "input as the provider reported it: {u}"
    );
    assert!(
        u["output_tokens"].as_u64().unwrap() >= 6,
        "the delivered text, not the placeholder: {u}"
    );
    let m = gw.metrics_text().await;
    assert_eq!(tokens(&m, "input", "provider"), 25.0);
    assert!(tokens(&m, "output", "estimate") >= 6.0);
}

#[tokio::test]
async fn with_accounting_off_nothing_is_asked_for_counted_or_settled() {
    let up = Upstream::start(MockConfig {
        chunks: 3,
        ..MockConfig::default()
    })
    .await;
    let gw =
        Gateway::start_with_env(&config(up.addr, "", ""), &[("TOLLGATE_ACCOUNTING", "off")]).await;
    let text = post_chat(&gw, KEY, &chat_body("m-oa", true, "x"))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent: Value = serde_json::from_slice(&up.requests()[0].body).unwrap();
    assert!(
        sent.get("stream_options").is_none(),
        "no usage asked for: {sent}"
    );
    // Wait for `logging` (the request is counted), then: nothing settled.
    let m = gw
        .metrics_when(|m| metric(m, "tollgate_requests_total", &[("key", "test")]) == 1.0)
        .await;
    assert_eq!(metric(&m, "tollgate_tokens_total", &[]), 0.0);
    assert_eq!(
        usage_of(&gw, "key=test").await["requests"].as_u64(),
        Some(0)
    );
}

/// A redacted passthrough stream reads each event once for redaction and usage together:
/// it must be counted, and its usage chunk hidden (unless the client asked for it), exactly
/// as one that is not redacted.
#[tokio::test]
async fn a_redacted_stream_is_counted_and_its_usage_chunk_hidden() {
    let up = Upstream::start(MockConfig {
        chunks: 10,
        ..MockConfig::default()
    })
    .await;
    let redaction = "redaction:
  default_policy: default
  policies:
    default:
      request:  { email: 'off', phone: 'off', credit_card: 'off', ssn: 'off', iban: 'off', ip: 'off', secret: 'off' }
      response: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: 'off', secret: mask }
";
    let gw = Gateway::start(&format!("{}{redaction}", config(up.addr, "", ""))).await;
    let said = "mail jo@example.org";
    let openai = post_chat(&gw, KEY, &chat_body("m-oa", true, said))
        .await
        .text()
        .await
        .unwrap();
    let anthropic = post_messages(
        &gw,
        KEY,
        &json!({ "model": "m-an", "max_tokens": 50, "stream": true,
            "messages": [{ "role": "user", "content": said }] }),
    )
    .await
    .text()
    .await
    .unwrap();
    for text in [&openai, &anthropic] {
        assert!(text.contains("[EMAIL]"), "the echo is masked: {text}");
        assert!(!text.contains("jo@example"), "{text}");
    }
    assert!(!openai.contains("\"choices\":[],"), "{openai}");
    assert!(openai.ends_with("data: [DONE]\n\n"), "{openai}");
    assert!(anthropic.contains("event: message_stop"), "{anthropic}");
    // A client that asked for the usage chunk gets it, redacted stream or not.
    let mut asked = chat_body("m-oa", true, said);
    asked["stream_options"] = json!({ "include_usage": true });
    let asked = post_chat(&gw, KEY, &asked).await.text().await.unwrap();
    assert!(asked.contains("\"choices\":[],"), "{asked}");
    assert!(
        asked.contains("[EMAIL]") && !asked.contains("jo@example"),
        "{asked}"
    );

    let u = settled(&gw, 3).await;
    assert_eq!(u["output_tokens"].as_u64(), Some(30), "10 pieces each: {u}");
    let m = gw.metrics_text().await;
    for (provider, tokens) in [("oa", 20.0), ("an", 10.0)] {
        let labels = [
            ("provider", provider),
            ("direction", "output"),
            ("source", "provider"),
        ];
        assert_eq!(
            metric(&m, "tollgate_tokens_total", &labels),
            tokens,
            "{provider}"
        );
    }
}
