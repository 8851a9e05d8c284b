//! The command line: `check`, `hash-key`, and the quickstart configuration as shipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[test]
fn check_accepts_the_quickstart_file() {
    let (code, out) = run_cli(&["check", "-c", "conf/tollgate.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok"));
}

#[test]
fn check_names_a_misspelt_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "providers:\n  - { name: local, type: mock }\nmodels:\n  - name: demo\n    targets:\n      - { provider: local, modle: x }\n",
    )
    .unwrap();
    let (code, out) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("models[0].targets[0]"), "{out}");
    assert!(out.contains("modle"), "{out}");
}

#[test]
fn check_reports_every_dangling_reference_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "providers:\n  - { name: local, type: mock }\nmodels:\n  - name: a\n    targets: [{ provider: local, model: x }]\n  - name: b\n    targets: [{ provider: anthropc, model: y }]\nkeys:\n  - { name: k, key_sha256: nothex, models: [zzz] }\n",
    )
    .unwrap();
    let (code, out) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("models[1].targets[0].provider: no provider named \"anthropc\""),
        "{out}"
    );
    assert!(out.contains("keys[0].key_sha256:"), "{out}");
    assert!(
        out.contains("keys[0].models[0]: no model named \"zzz\""),
        "{out}"
    );
}

#[test]
fn hash_key_prints_the_sha256() {
    let (code, out) = run_cli(&["hash-key", "password"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    );
}

#[test]
fn run_with_an_invalid_file_exits_1_with_the_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "server: { thread: 2 }\n").unwrap();
    let (code, out) = run_cli(&["-c", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("server") && out.contains("thread"), "{out}");
}

/// The quickstart file as shipped answers the README's request with the documented key.
#[tokio::test]
async fn quickstart_serves_demo_with_the_development_key() {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let listen = format!("127.0.0.1:{}", ports[0]);
    let admin = format!("127.0.0.1:{}", ports[1]);
    let metrics = format!("127.0.0.1:{}", ports[2]);
    let log = dir.path().join("log");
    let mut child = spawn_gateway(
        &["-c", "conf/tollgate.yaml"],
        &log,
        &[
            ("TOLLGATE_LISTEN", &listen),
            ("TOLLGATE_ADMIN_LISTEN", &admin),
            ("TOLLGATE_METRICS_LISTEN", &metrics),
            ("OPENAI_API_KEY", ""),
        ],
    );
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let resp = loop {
        if let Ok(r) = client
            .post(format!("http://{listen}/v1/chat/completions"))
            .bearer_auth("tg-dev-key")
            .json(&chat_body("demo", false, "Hello"))
            .send()
            .await
        {
            break r;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "quickstart did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("Hello"));
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let _ = child.kill();
    let _ = child.wait();
}

/// The API workers' sockets share their port (`SO_REUSEPORT`); a gateway started on a port
/// something else already listens on must still refuse to start rather than share it.
#[test]
fn run_on_a_port_in_use_exits_1_and_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.yaml");
    let free = || format!("127.0.0.1:{}", free_port());
    std::fs::write(
        &path,
        format!(
            "server: {{ listen: \"{listen}\", admin_listen: \"{}\", metrics_listen: \"{}\" }}\nproviders:\n  - {{ name: local, type: mock }}\nmodels:\n  - {{ name: demo, targets: [{{ provider: local, model: m }}] }}\n",
            free(),
            free()
        ),
    )
    .unwrap();
    let log = dir.path().join("log");
    let mut child = spawn_gateway(&["-c", path.to_str().unwrap()], &log, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the gateway started on a port in use");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("cannot listen on {listen}")), "{out}");
    drop(taken);
}
