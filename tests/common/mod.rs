//! Test harness: the real `tollgate` binary on free loopback ports, mock upstreams on port 0
//! that record what they received, and small raw-socket helpers for what an HTTP client
//! library would refuse to send.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use tollgate::config::MockConfig;
pub use tollgate::mock_provider::{Recorded, Recorder};

pub const KEY: &str = "tg-test-key";
pub const PROVIDER_KEY: &str = "sk-provider-secret-123456";

/// A running gateway process; killed when dropped.
pub struct Gateway {
    child: Child,
    pub api: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

/// A port the kernel reports free that this test process has not handed out before. The
/// gateway's API workers bind with `SO_REUSEPORT`, so two gateways of tests running in
/// parallel that drew the same port in the moment between probe and bind would share it
/// instead of one failing to start (and being retried on other ports).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

impl Gateway {
    /// Start the gateway with `body` (the YAML after the `server` section) and ready it.
    /// The listen ports are chosen free by the kernel; a collision in the short window before
    /// the gateway binds them shows as an early exit and is retried on new ports.
    pub async fn start(body: &str) -> Gateway {
        Self::start_with(body, "").await
    }

    /// As `start`, with extra lines for the `server` section.
    pub async fn start_with(body: &str, server_extra: &str) -> Gateway {
        Self::start_full(body, server_extra, &[]).await
    }

    /// As `start`, with environment variables for the gateway process.
    pub async fn start_with_env(body: &str, env: &[(&str, &str)]) -> Gateway {
        Self::start_full(body, "", env).await
    }

    async fn start_full(body: &str, server_extra: &str, env: &[(&str, &str)]) -> Gateway {
        for _ in 0..5 {
            if let Some(gw) = Self::try_start(body, server_extra, env).await {
                return gw;
            }
        }
        panic!("the gateway did not start");
    }

    async fn try_start(body: &str, server_extra: &str, env: &[(&str, &str)]) -> Option<Gateway> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (api, admin, metrics) = (free_port(), free_port(), free_port());
        let yaml = format!(
            "server:\n  listen: 127.0.0.1:{api}\n  admin_listen: 127.0.0.1:{admin}\n  metrics_listen: 127.0.0.1:{metrics}\n  threads: 2\n  pid_file: {pid}\n  upgrade_sock: {sock}\n{server_extra}\n{body}",
            pid = dir.path().join("pid").display(),
            sock = dir.path().join("upgrade.sock").display(),
        );
        let conf = dir.path().join("tollgate.yaml");
        std::fs::write(&conf, yaml).expect("write config");
        let log = dir.path().join("gateway.log");
        let child = spawn_gateway(&["-c", conf.to_str().expect("utf-8 path")], &log, env);
        let mut gw = Gateway {
            child,
            api: format!("127.0.0.1:{api}").parse().ok()?,
            admin: format!("127.0.0.1:{admin}").parse().ok()?,
            metrics: format!("127.0.0.1:{metrics}").parse().ok()?,
            dir,
            log,
        };
        if gw.wait_ready().await {
            Some(gw)
        } else {
            None
        }
    }

    /// Poll `/healthz` until it answers; false when the process exited first.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client
                .get(format!("http://{}/healthz", self.admin))
                .send()
                .await
            {
                if r.status() == 200 && tokio::net::TcpStream::connect(self.api).await.is_ok() {
                    return true;
                }
            }
            let exited = self.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                eprintln!("gateway log:\n{}", self.log_text());
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit by itself; `None` after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The metrics page once `ready` holds for it, polled for at most 10 s. A request is
    /// counted in `logging`, which runs just after the client has the answer's last byte (and
    /// after the request's usage is settled), so a test that just read an answer waits here.
    pub async fn metrics_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = self.metrics_text().await;
            if ready(&text) {
                return text;
            }
            assert!(std::time::Instant::now() < deadline, "never ready: {text}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_gateway(args: &[&str], log: &PathBuf, env: &[(&str, &str)]) -> Child {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn tollgate")
}

/// Run `tollgate` with `args` to completion; (exit code, stdout + stderr).
pub fn run_cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .expect("run tollgate");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A mock OpenAI-format upstream on an ephemeral port, recording every request.
pub struct Upstream {
    pub addr: SocketAddr,
    pub recorder: Recorder,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Upstream {
    pub async fn start(config: MockConfig) -> Upstream {
        let recorder = Recorder::default();
        let (addr, stop) = tollgate::mock_provider::spawn(config, Some(recorder.clone()))
            .await
            .expect("mock upstream");
        Upstream {
            addr,
            recorder,
            _stop: stop,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.recorder.requests()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// An address where nothing listens: connections are refused, for the life of the test process.
///
/// The port stays bound (never listening) until the process exits. A port merely probed free
/// and released could be handed by the kernel to the next test's gateway or mock a moment
/// later, and the "dead" provider would then answer (a parallel gateway's admin port gave a
/// 404). A bound port is never handed out again, and a connection to it is refused.
pub fn dead_addr() -> SocketAddr {
    static HELD: std::sync::Mutex<Vec<tokio::net::TcpSocket>> = std::sync::Mutex::new(Vec::new());
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    HELD.lock().unwrap().push(socket);
    addr
}

/// A one-shot raw upstream: reads one request head and body, then writes `response` as-is
/// and closes. For answers no well-behaved server gives (a broken stream, an echoed key).
pub async fn raw_upstream(response: Vec<u8>, then_hang: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Read until the head and its declared body are in.
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = find(&buf, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let auth = String::from_utf8_lossy(&buf)
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .starts_with("authorization:")
                            .then(|| l[14..].trim().to_string())
                    })
                    .unwrap_or_default();
                // A response that is not UTF-8 (a test of a malformed answer) goes as it is.
                let response = match std::str::from_utf8(&response) {
                    Ok(text) => text.replace("{AUTH}", &auth).into_bytes(),
                    Err(_) => response,
                };
                let _ = s.write_all(&response).await;
                if then_hang {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            });
        }
    });
    addr
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Send raw bytes to `addr` and read what comes back until the peer closes (or `limit`).
pub fn raw_exchange(
    addr: SocketAddr,
    request: &[u8],
    shutdown_write: bool,
    limit: Duration,
) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(limit)).expect("timeout");
    // The server may answer (and stop reading) before everything is sent; what it answered
    // is still read below.
    let _ = s.write_all(request);
    if shutdown_write {
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A provider block for an OpenAI-compatible upstream at `base_url`.
pub fn provider(name: &str, base_url: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    type: openai_compatible\n    base_url: {base_url}\n    api_key: {PROVIDER_KEY}\n{extra}"
    )
}

/// The usual test configuration: one model `m` served by provider `p` at `base_url` as
/// upstream model `up-m`, a key `tg-test-key` for every model and a key `tg-narrow` for `other`.
pub fn config_for(base_url: &str, provider_extra: &str) -> String {
    format!(
        "providers:\n{}\nmodels:\n  - name: m\n    targets: [{{ provider: p, model: up-m }}]\n  - name: same\n    targets: [{{ provider: p, model: same }}]\n  - name: other\n    targets: [{{ provider: p, model: other }}]\nkeys:\n  - {{ name: test, team: t, key: {KEY} }}\n  - {{ name: narrow, key: tg-narrow, models: [other] }}\n",
        provider("p", base_url, provider_extra)
    )
}

pub fn chat_body(model: &str, stream: bool, content: &str) -> serde_json::Value {
    serde_json::json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": content }] })
}

/// POST `body` to the gateway's chat route with `key`, as the OpenAI SDK would.
pub async fn post_chat(gw: &Gateway, key: &str, body: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("the gateway answers")
}

/// POST `body` to the gateway's Messages route with `key`, as the Anthropic SDK would.
pub async fn post_messages(gw: &Gateway, key: &str, body: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
        .expect("the gateway answers")
}

/// A JSON answer: `status` as in a status line ("200 OK"), then `body` as it is.
pub fn json_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A 200 SSE answer with `events` as one chunk of a chunked body; `complete` adds the final
/// chunk (the body ends cleanly), otherwise the stream stays open.
pub fn sse_response(events: &str, complete: bool) -> Vec<u8> {
    let end = if complete { "0\r\n\r\n" } else { "" };
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n{end}",
        events.len()
    )
    .into_bytes()
}

/// A real `redis-server` on a free loopback port, persisting nothing; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Start one and wait until it answers PING; a port taken in the meantime is retried.
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: tempfile::tempdir().expect("tempdir"),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start (is it installed? scripts/setup.sh redis-server)");
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir.path().to_str().expect("utf-8 path"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return true;
            }
            if let Some(c) = self.child.as_mut() {
                if c.try_wait().ok().flatten().is_some() {
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Whether it answers PING now.
    pub fn ping(&self) -> bool {
        use std::io::Write;
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kill it (an outage), keeping the port for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port (empty: nothing was persisted).
    pub fn restart(&mut self) {
        assert!(self.spawn(), "redis-server did not restart");
    }

    /// Run one command through `redis-cli`, returning its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A process started with `tollgate run --upgrade` on a running gateway's configuration file
/// (same ports, `pid_file` and `upgrade_sock`): it waits on the upgrade socket and takes the
/// listening sockets over when the old process gets SIGQUIT. Killed when dropped.
pub struct Successor {
    child: Child,
    pub api: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    sock: PathBuf,
    log: PathBuf,
}

impl Gateway {
    /// The configuration file this gateway runs on.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tollgate.yaml")
    }

    /// `server.pid_file` of this gateway's configuration.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("pid")
    }

    /// `server.upgrade_sock` of this gateway's configuration.
    pub fn upgrade_sock(&self) -> PathBuf {
        self.dir.path().join("upgrade.sock")
    }

    /// Start `tollgate run --upgrade -c <this gateway's file>`, logging to `<dir>/<log_name>`.
    pub fn spawn_upgrade(&self, log_name: &str) -> Successor {
        let log = self.dir.path().join(log_name);
        let conf = self.config_path();
        let child = spawn_gateway(
            &["run", "--upgrade", "-c", conf.to_str().expect("utf-8 path")],
            &log,
            &[],
        );
        Successor {
            child,
            api: self.api,
            admin: self.admin,
            metrics: self.metrics,
            sock: self.upgrade_sock(),
            log,
        }
    }
}

/// Whether a process listens on the Unix socket at `path` (`/proc/net/unix`; Linux).
pub fn unix_socket_listening(path: &std::path::Path) -> bool {
    tollgate::lifecycle::unix_socket_listening(path).unwrap_or(false)
}

impl Successor {
    /// Wait until it listens on the upgrade socket, ready for the old process's sockets; false
    /// when it exited first or after `limit`.
    pub async fn wait_listening_for_sockets(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if unix_socket_listening(&self.sock) {
                return true;
            }
            let exited = self.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                eprintln!("new gateway log:\n{}", self.log_text());
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Wait for the process to exit by itself; `None` after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Successor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
