//! End-to-end: the graceful upgrade. A second `tollgate run --upgrade` on the same
//! configuration takes the listening sockets over when the running one gets SIGQUIT (Pingora's
//! hand-off over `server.upgrade_sock`), under continuous load, with zero failed requests.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events of a long stream, a quarter second apart: about 5.75 s, so streams opened just
/// before SIGQUIT are still running when the old process stops accepting (5 s later).
const LONG_CHUNKS: usize = 24;
const LONG_DELAY_MS: u64 = 250;

/// Model `m` on a quick upstream (the load), model `long` on a slow streaming one.
fn upgrade_config(quick: &Upstream, slow: &Upstream) -> String {
    format!(
        "providers:\n{}\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: p, model: up-m }}]\n  - name: long\n    targets: [{{ provider: slow, model: up-long }}]\nkeys:\n  - {{ name: test, team: t, key: {KEY} }}\n",
        provider("p", &quick.base_url(), ""),
        provider("slow", &slow.base_url(), ""),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One request; `Err` describes what made it fail (a connection error, a status other than
/// 200, a body that is not complete).
async fn one_request(
    client: &reqwest::Client,
    url: &str,
    model: &str,
    stream: bool,
) -> Result<String, String> {
    let resp = client
        .post(url)
        .bearer_auth(KEY)
        .json(&chat_body(model, stream, "hello"))
        .send()
        .await
        .map_err(|e| format!("send: {e:?}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("body: {e:?}"))?;
    if status != 200 {
        return Err(format!("status {status}: {body}"));
    }
    check_body(&body, stream)?;
    Ok(body)
}

fn check_body(body: &str, stream: bool) -> Result<(), String> {
    if stream {
        if !body.ends_with("data: [DONE]\n\n") || body.contains("\"error\"") {
            return Err(format!("incomplete stream: {body}"));
        }
    } else {
        let v: serde_json::Value =
            serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
        let content = v["choices"][0]["message"]["content"].as_str();
        if content.is_none_or(str::is_empty) {
            return Err(format!("no answer: {body}"));
        }
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    ok: usize,
    failures: Vec<String>,
}

/// Send requests one after another on one client (keep-alive, as an SDK would) until `stop`.
async fn drive(url: String, stream: bool, stop: Arc<AtomicBool>, done: Arc<AtomicUsize>) -> Tally {
    let client = client();
    let mut tally = Tally::default();
    while !stop.load(Ordering::SeqCst) {
        match one_request(&client, &url, "m", stream).await {
            Ok(_) => tally.ok += 1,
            Err(e) => tally.failures.push(e),
        }
        done.fetch_add(1, Ordering::SeqCst);
    }
    tally
}

/// Open a long stream and return once its first event arrived, with a task reading the rest.
async fn open_long_stream(url: &str) -> tokio::task::JoinHandle<Result<String, String>> {
    let mut resp = client()
        .post(url)
        .bearer_auth(KEY)
        .json(&chat_body("long", true, "a long answer"))
        .send()
        .await
        .expect("the long stream starts");
    if resp.status() != 200 {
        panic!(
            "long stream: {}: {}",
            resp.status(),
            resp.text().await.unwrap()
        );
    }
    let first = resp.chunk().await.unwrap().expect("a first event");
    assert!(first.starts_with(b"data: "));
    tokio::spawn(async move {
        let mut text = String::from_utf8_lossy(&first).into_owned();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(None) => break,
                Err(e) => return Err(format!("long stream broke: {e:?} after {text}")),
            }
        }
        check_body(&text, true)?;
        Ok(text)
    })
}

/// Poll `text()` until it contains `needle`; false after `limit`.
async fn wait_for_log(text: impl Fn() -> String, needle: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if text().contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Sum of `tollgate_requests_total` samples with status 200 in a metrics page.
fn ok_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("tollgate_requests_total{") && l.contains("status=\"200\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn read_pid(path: &std::path::Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_under_load_fails_no_request_and_lets_streams_finish() {
    let quick = Upstream::start(MockConfig {
        chunks: 5,
        chunk_delay_ms: 5,
        ..MockConfig::default()
    })
    .await;
    let slow = Upstream::start(MockConfig {
        chunks: LONG_CHUNKS,
        chunk_delay_ms: LONG_DELAY_MS,
        ..MockConfig::default()
    })
    .await;
    let mut old = Gateway::start_with(&upgrade_config(&quick, &slow), "  grace_period_s: 4").await;
    let url = old.url("/v1/chat/completions");

    // The foreground process publishes its pid once it handles signals.
    let deadline = Instant::now() + Duration::from_secs(5);
    while read_pid(&old.pid_file()) != Some(old.pid()) {
        assert!(
            Instant::now() < deadline,
            "no pid file:\n{}",
            old.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Continuous load: whole and streamed answers, each task on its own keep-alive client.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..6)
        .map(|i| tokio::spawn(drive(url.clone(), i % 2 == 1, stop.clone(), done.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while done.load(Ordering::SeqCst) < 100 {
        assert!(Instant::now() < deadline, "the load does not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The new process waits for the sockets on the upgrade socket.
    let mut new = old.spawn_upgrade("gateway-new.log");
    assert!(
        new.wait_listening_for_sockets(Duration::from_secs(30))
            .await,
        "the new process never waited for the sockets"
    );
    assert_eq!(
        read_pid(&old.pid_file()),
        Some(old.pid()),
        "the waiting process must not take the pid file yet"
    );

    // Long streams, on the old process (the only one accepting yet).
    let mut long = Vec::new();
    for _ in 0..3 {
        long.push(open_long_stream(&url).await);
    }

    // `kill -QUIT $(cat pid_file)`.
    let quit_at = Instant::now();
    let before_quit = done.load(Ordering::SeqCst);
    let pid = read_pid(&old.pid_file()).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-QUIT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // Load goes on while both processes accept, and for 2 s after the old one stopped.
    assert!(
        wait_for_log(
            || old.log_text(),
            "Broadcast graceful shutdown complete",
            Duration::from_secs(20)
        )
        .await,
        "the old process never stopped accepting:\n{}",
        old.log_text()
    );
    let old_stopped_after = quit_at.elapsed();
    let at_old_stop = done.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    for task in load {
        let t = task.await.unwrap();
        tally.ok += t.ok;
        tally.failures.extend(t.failures);
    }
    let total = done.load(Ordering::SeqCst);
    eprintln!(
        "requests: {total} ({} before SIGQUIT, {} until the old process stopped accepting {old_stopped_after:?} after it, {} after); failed: {}",
        before_quit,
        at_old_stop - before_quit,
        total - at_old_stop,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {total} requests failed; first ones: {:#?}\nold log:\n{}\nnew log:\n{}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(5)],
        old.log_text(),
        new.log_text()
    );
    assert_eq!(tally.ok, total);
    assert!(at_old_stop > before_quit && total > at_old_stop);

    // The streams opened on the old process finished whole (they outlast its 5 s of accepting
    // beside the new one: its listeners closed while they ran).
    for stream in long {
        let text = stream.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
        let events = text.matches("data: {").count();
        assert!(events >= LONG_CHUNKS, "{events} events: {text}");
    }

    // The old process exits by itself at the end of its grace period.
    let (exit, old) = tokio::task::spawn_blocking(move || {
        let exit = old.wait_exit(Duration::from_secs(20));
        (exit, old)
    })
    .await
    .unwrap();
    assert!(
        exit.is_some_and(|s| s.success()),
        "the old process did not exit: {exit:?}\n{}",
        old.log_text()
    );

    // The new process serves every listener now, and owns the pid file.
    assert!(new.running(), "{}", new.log_text());
    let body = one_request(&client(), &new.url("/v1/chat/completions"), "m", true)
        .await
        .unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"));
    let health = reqwest::get(format!("http://{}/healthz", new.admin))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("http://{}/metrics", new.metrics))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let served = ok_requests(&metrics.text().await.unwrap());
    assert!(
        served >= 2.0,
        "the new process served {served} requests of the load"
    );
    assert_eq!(read_pid(&old.pid_file()), Some(new.pid()));
    assert!(
        !old.upgrade_sock().exists(),
        "the upgrade socket is removed once the sockets are handed over"
    );
}

#[tokio::test]
async fn sigquit_without_a_new_process_keeps_serving_then_waits_for_a_late_one() {
    let up = Upstream::start(MockConfig::default()).await;
    let mut old = Gateway::start_with(&config_for(&up.base_url(), ""), "  grace_period_s: 1").await;

    // Nobody waits on the upgrade socket: Pingora would give up and shut down; Tollgate keeps
    // serving, with keep-alive.
    old.signal("-QUIT");
    assert!(
        wait_for_log(
            || old.log_text(),
            "no new process waits",
            Duration::from_secs(15)
        )
        .await,
        "{}",
        old.log_text()
    );
    let resp = post_chat_to(&old.url("/v1/chat/completions"), false).await;
    assert_eq!(resp.status(), 200);
    assert_ne!(
        resp.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "not draining"
    );
    resp.text().await.unwrap();
    assert!(old.wait_exit(Duration::from_millis(500)).is_none());

    // Pingora's systemd order: SIGQUIT first, then the new process; it is waited for.
    old.signal("-QUIT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut new = old.spawn_upgrade("gateway-new.log");
    let (exit, old) = tokio::task::spawn_blocking(move || {
        let exit = old.wait_exit(Duration::from_secs(20));
        (exit, old)
    })
    .await
    .unwrap();
    assert!(exit.is_some_and(|s| s.success()), "{}", old.log_text());
    assert!(new.running(), "{}", new.log_text());
    let resp = post_chat_to(&new.url("/v1/chat/completions"), false).await;
    assert_eq!(resp.status(), 200);
    check_body(&resp.text().await.unwrap(), false).unwrap();
    assert_eq!(read_pid(&old.pid_file()), Some(new.pid()));
}

async fn post_chat_to(url: &str, stream: bool) -> reqwest::Response {
    client()
        .post(url)
        .bearer_auth(KEY)
        .json(&chat_body("m", stream, "hello"))
        .send()
        .await
        .expect("the gateway answers")
}
