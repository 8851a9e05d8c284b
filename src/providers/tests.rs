use super::*;

fn provider(kind: ProviderType, url: &str, version: &str) -> Provider {
    Provider {
        name: "p".into(),
        kind,
        endpoint: Endpoint::parse(url).unwrap(),
        api_key: Secret::new("sk-real"),
        api_version: version.into(),
        timeouts: Timeouts::default(),
        enabled: true,
        health_policy: Default::default(),
        health_id: String::new(),
    }
}

#[test]
fn base_urls_parse() {
    let e = Endpoint::parse("https://api.openai.com").unwrap();
    assert_eq!(
        (e.tls, e.host.as_str(), e.port, e.base_path.as_str()),
        (true, "api.openai.com", 443, "")
    );
    assert_eq!(e.host_header(), "api.openai.com");
    let e = Endpoint::parse("http://127.0.0.1:11434/v1/").unwrap();
    assert_eq!((e.tls, e.port, e.base_path.as_str()), (false, 11434, "/v1"));
    assert_eq!(e.host_header(), "127.0.0.1:11434");
    let e = Endpoint::parse("http://[::1]:8000").unwrap();
    assert_eq!(
        (e.host.as_str(), e.host_header().as_str()),
        ("::1", "[::1]:8000")
    );
    assert!(Endpoint::parse("ftp://x").is_err());
    assert!(Endpoint::parse("api.openai.com").is_err());
    assert!(Endpoint::parse("https://u:p@x.com").is_err());
    assert!(Endpoint::parse("https://x.com/?a=b").is_err());
}

fn header(p: &Provider, op: Operation, model: &str, stream: bool) -> RequestHeader {
    p.request_header(op, model, stream, 12, "rid", None)
        .unwrap()
}

#[test]
fn openai_paths_and_bearer_key() {
    let p = provider(ProviderType::Openai, "https://api.openai.com", "");
    let req = header(&p, Operation::Chat, "gpt-4o", true);
    assert_eq!(req.uri.path(), "/v1/chat/completions");
    assert_eq!(req.headers.get("authorization").unwrap(), "Bearer sk-real");
    assert_eq!(req.headers.get("host").unwrap(), "api.openai.com");
    assert_eq!(req.headers.get("content-length").unwrap(), "12");
    let groq = provider(
        ProviderType::OpenaiCompatible,
        "https://api.groq.com/openai/v1",
        "",
    );
    assert_eq!(
        header(&groq, Operation::Embeddings, "m", false).uri.path(),
        "/openai/v1/embeddings"
    );
}

#[test]
fn azure_uses_deployment_urls_and_api_key_header() {
    let p = provider(
        ProviderType::Azure,
        "https://res.openai.azure.com",
        "2024-10-21",
    );
    let req = header(&p, Operation::Chat, "my deploy", false);
    assert_eq!(
        req.uri.to_string(),
        "/openai/deployments/my%20deploy/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(req.headers.get("api-key").unwrap(), "sk-real");
    assert!(req.headers.get("authorization").is_none());
}

#[test]
fn anthropic_messages_path_and_headers() {
    let p = provider(ProviderType::Anthropic, "https://api.anthropic.com", "");
    let req = header(&p, Operation::Chat, "claude", true);
    assert_eq!(req.uri.path(), "/v1/messages");
    assert_eq!(req.headers.get("x-api-key").unwrap(), "sk-real");
    assert_eq!(req.headers.get("anthropic-version").unwrap(), "2023-06-01");
    assert!(req.headers.get("authorization").is_none());
    assert_eq!(p.format(), ApiFormat::Anthropic);
    assert!(!p.supports(Operation::Embeddings));
    assert!(req.headers.get("anthropic-beta").is_none());
}

#[test]
fn anthropic_beta_goes_to_anthropic_providers_only() {
    const BETAS: &str = "context-1m-2025-08-07,interleaved-thinking-2025-05-14";
    let with = |kind, url| {
        provider(kind, url, "2024-10-21")
            .request_header(Operation::Chat, "m", true, 12, "rid", Some(BETAS))
            .unwrap()
    };
    let req = with(ProviderType::Anthropic, "https://api.anthropic.com");
    assert_eq!(req.headers.get("anthropic-beta").unwrap(), BETAS);
    for (kind, url) in [
        (ProviderType::Openai, "https://api.openai.com"),
        (ProviderType::OpenaiCompatible, "http://127.0.0.1:1/v1"),
        (ProviderType::Azure, "https://res.openai.azure.com"),
        (
            ProviderType::Gemini,
            "https://generativelanguage.googleapis.com",
        ),
        (ProviderType::Mock, "http://127.0.0.1:1"),
    ] {
        let req = with(kind, url);
        assert!(req.headers.get("anthropic-beta").is_none(), "{kind:?}");
    }
}

#[test]
fn gemini_generate_and_stream_paths_keep_the_key_out_of_the_url() {
    let p = provider(
        ProviderType::Gemini,
        "https://generativelanguage.googleapis.com",
        "",
    );
    let whole = header(&p, Operation::Chat, "gemini-2.5-flash", false);
    assert_eq!(
        whole.uri.to_string(),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    let stream = header(&p, Operation::Chat, "models/gemini-2.5-flash", true);
    assert_eq!(
        stream.uri.to_string(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(whole.headers.get("x-goog-api-key").unwrap(), "sk-real");
    assert!(!whole.uri.to_string().contains("sk-real"));
}
