//! End-to-end with the official OpenAI and Anthropic Python SDKs (installed by
//! scripts/test.sh) against OpenAI-, Anthropic-, Gemini- and Azure-type upstreams: whole answers,
//! streams and a tool-call round trip in each direction. The upstream is the mock provider,
//! which speaks all three dialects; what it received is checked here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[tokio::test]
async fn both_sdks_reach_every_provider_type() {
    let up = Upstream::start(MockConfig {
        chunks: 8,
        ..MockConfig::default()
    })
    .await;
    let a = up.addr;
    let yaml = format!(
        "providers:
  - {{ name: oa, type: openai_compatible, base_url: 'http://{a}/v1', api_key: {PROVIDER_KEY} }}
  - {{ name: an, type: anthropic, base_url: 'http://{a}', api_key: {PROVIDER_KEY} }}
  - {{ name: ge, type: gemini, base_url: 'http://{a}', api_key: {PROVIDER_KEY} }}
  - {{ name: az, type: azure, base_url: 'http://{a}', api_key: {PROVIDER_KEY}, api_version: 2024-10-21 }}
models:
  - {{ name: via-openai, targets: [{{ provider: oa, model: gpt-x }}] }}
  - {{ name: via-anthropic, targets: [{{ provider: an, model: claude-x }}] }}
  - {{ name: via-gemini, targets: [{{ provider: ge, model: gemini-x }}] }}
  - {{ name: via-azure, targets: [{{ provider: az, model: my-deployment }}] }}
keys:
  - {{ name: test, key: {KEY} }}
"
    );
    let gw = Gateway::start(&yaml).await;
    let base = format!("http://{}", gw.api);
    let out = tokio::process::Command::new("python3")
        .args([
            "tests/sdk/roundtrip.py",
            &base,
            KEY,
            "via-openai,via-anthropic,via-gemini,via-azure",
        ])
        .output()
        .await
        .expect("python3");
    let report = format!(
        "{}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        gw.log_text()
    );
    assert!(out.status.success(), "{report}");

    let seen = up.requests();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    for expected in [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1beta/models/gemini-x:generateContent",
        "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
        "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21",
    ] {
        assert!(
            paths.contains(&expected),
            "no request to {expected}: {paths:?}"
        );
    }
    // The Anthropic SDK's beta call, through the `an` provider: its betas arrive, sorted.
    let betas: Vec<Option<&str>> = seen.iter().map(|r| r.header("anthropic-beta")).collect();
    assert!(
        betas.contains(&Some(
            "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
        )),
        "no request carried the SDK's betas: {betas:?}"
    );
    for r in &seen {
        let all = format!("{:?}{}", r.headers, String::from_utf8_lossy(&r.body));
        assert!(
            !all.contains(KEY),
            "the virtual key reached the upstream at {}",
            r.path
        );
        if r.path != "/v1/messages" {
            assert_eq!(r.header("anthropic-beta"), None, "{}", r.path);
        }
        match r.path.as_str() {
            "/v1/messages" => {
                assert_eq!(r.header("x-api-key"), Some(PROVIDER_KEY));
                assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(body["model"], "claude-x");
                assert!(body["max_tokens"].as_u64().is_some());
            }
            p if p.starts_with("/openai/deployments/") => {
                assert_eq!(r.header("api-key"), Some(PROVIDER_KEY));
                assert_eq!(r.header("authorization"), None);
            }
            p if p.starts_with("/v1beta/") => {
                assert_eq!(r.header("x-goog-api-key"), Some(PROVIDER_KEY));
                assert_eq!(r.header("authorization"), None);
            }
            _ => assert_eq!(
                r.header("authorization"),
                Some(format!("Bearer {PROVIDER_KEY}").as_str())
            ),
        }
    }
}
