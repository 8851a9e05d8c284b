//! End-to-end over TLS: a provider at `https://localhost:PORT` with a certificate the gateway
//! trusts through `SSL_CERT_FILE`. Proves the host name is resolved, SNI and Host name the
//! provider, the certificate is verified, and the answer streams back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use tokio_rustls::rustls;

struct TlsUpstream {
    port: u16,
    recorder: Recorder,
    sni: Arc<Mutex<Vec<Option<String>>>>,
    ca_pem: String,
}

async fn tls_upstream() -> TlsUpstream {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca_pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorder = Recorder::default();
    let mock = tollgate::mock_provider::MockServer::new(
        MockConfig {
            chunks: 3,
            ..MockConfig::default()
        },
        Some(recorder.clone()),
    );
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, mock, seen) = (acceptor.clone(), mock.clone(), seen.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    seen.lock()
                        .unwrap()
                        .push(tls.get_ref().1.server_name().map(str::to_string));
                    mock.serve_connection(tls).await;
                }
            });
        }
    });
    TlsUpstream {
        port,
        recorder,
        sni,
        ca_pem,
    }
}

#[tokio::test]
async fn https_provider_gets_sni_host_and_its_key() {
    let up = tls_upstream().await;
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), &up.ca_pem).unwrap();
    let yaml = config_for(&format!("https://localhost:{}/v1", up.port), "");
    let gw = Gateway::start_with_env(
        &yaml,
        &[("SSL_CERT_FILE", ca_file.path().to_str().unwrap())],
    )
    .await;

    let client = reqwest::Client::new();
    for stream in [false, true] {
        let resp = client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body("m", stream, "over tls"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", gw.log_text());
        let text = resp.text().await.unwrap();
        assert!(text.contains("Hello"), "{text}");
        assert_eq!(text.ends_with("data: [DONE]\n\n"), stream, "{text}");
    }
    let seen = up.recorder.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].header("host"),
        Some(format!("localhost:{}", up.port).as_str())
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    let sni = up.sni.lock().unwrap().clone();
    assert!(!sni.is_empty());
    assert!(
        sni.iter().all(|s| s.as_deref() == Some("localhost")),
        "{sni:?}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_502_not_a_connection() {
    let up = tls_upstream().await;
    let yaml = config_for(&format!("https://localhost:{}/v1", up.port), "");
    // No SSL_CERT_FILE: the self-signed certificate is not trusted.
    let gw = Gateway::start(&yaml).await;
    let resp = post_chat(&gw, KEY, &chat_body("m", false, "x")).await;
    assert_eq!(resp.status(), 502);
    assert!(
        up.recorder.requests().is_empty(),
        "a request crossed an unverified connection"
    );
}
