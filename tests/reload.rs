//! Reload under load: 100 reloads alternating between two valid files that change routes and
//! limits, during 30 s of more than 200 requests a second, streamed and not: zero failed
//! requests. One invalid file in the middle is rejected while traffic continues unharmed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The body of one of the two files: model `m` routed to `provider`, the key's limits `rpm`.
fn body(a: &str, b: &str, provider: &str, rpm: u64) -> String {
    format!(
        "providers:\n{}\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: {provider}, model: up-{provider} }}]\nkeys:\n  - {{ name: test, team: t, key: {KEY}, limits: {{ rpm: {rpm}, tpm: 100000000 }} }}\n",
        common::provider("a", a, ""),
        common::provider("b", b, ""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_reloads_under_load_fail_no_request() {
    let config = MockConfig {
        chunks: 5,
        chunk_delay_ms: 2,
        ..MockConfig::default()
    };
    let (a, b) = (
        Upstream::start(config.clone()).await,
        Upstream::start(config).await,
    );
    let first = body(&a.base_url(), &b.base_url(), "a", 1_000_000);
    let second = body(&a.base_url(), &b.base_url(), "b", 2_000_000);
    let gw = Gateway::start(&first).await;
    let file = gw.dir.path().join("tollgate.yaml");
    let server_section = {
        let text = std::fs::read_to_string(&file).unwrap();
        text[..text.find("providers:").unwrap()].to_string()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for i in 0..24 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let url = gw.url("/v1/chat/completions");
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let stream = (i + n).is_multiple_of(2);
                let r = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&chat_body("m", stream, "under reload"))
                    .send()
                    .await;
                let good = match r {
                    Ok(r) if r.status() == 200 => match r.text().await {
                        Ok(t) if stream => t.ends_with("data: [DONE]\n\n"),
                        Ok(t) => t.contains("\"chat.completion\""),
                        Err(_) => false,
                    },
                    Ok(r) => {
                        eprintln!(
                            "status {}: {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        );
                        false
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        false
                    }
                };
                if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let client = reqwest::Client::new();
    let reload = format!("http://{}/admin/reload", gw.admin);
    let started = Instant::now();
    let mut applied = 0;
    for i in 0..100 {
        let next = if i % 2 == 0 { &second } else { &first };
        std::fs::write(&file, format!("{server_section}{next}")).unwrap();
        let r = client.post(&reload).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        applied += 1;
        if i == 50 {
            // A broken file in the middle: rejected, traffic unharmed.
            std::fs::write(
                &file,
                format!("{server_section}{next}  - {{ name: typo, kee: x }}\n"),
            )
            .unwrap();
            let r = client.post(&reload).send().await.unwrap();
            assert_eq!(r.status(), 422);
            let problems = r.text().await.unwrap();
            assert!(problems.contains("keys[1]"), "{problems}");
        }
        // 100 reloads spread over 30 s.
        let due = started + Duration::from_millis(300 * (i + 1));
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!(
        "{applied} reloads, {ok} requests in {elapsed:.1} s ({:.0}/s), {failed} failed",
        ok as f64 / elapsed
    );
    assert_eq!(failed, 0);
    assert_eq!(applied, 100);
    assert!(
        ok as f64 / elapsed >= 200.0,
        "{ok} requests in {elapsed:.1} s"
    );
    // Both routes served: the reloads really changed where `m` goes.
    assert!(!a.requests().is_empty() && !b.requests().is_empty());
    let metrics = gw.metrics_text().await;
    assert!(
        metrics.contains("tollgate_config_reloads_total{result=\"ok\"} 100"),
        "{metrics}"
    );
    assert!(metrics.contains("tollgate_config_reloads_total{result=\"error\"} 1"));
}
