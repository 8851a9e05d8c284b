//! The `mock` provider: a simulated OpenAI-format provider served over real HTTP/1.1 on a
//! loopback port. The gateway opens one per `mock` provider so mock traffic crosses the whole
//! proxy path; `tollgate mock` runs one standalone (load tests); tests start one on port 0 with
//! a `Recorder` to assert what an upstream received.

pub mod answers;

use crate::config::MockConfig;
use bytes::{Buf, BytesMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 256 * 1024 * 1024;

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every request a mock received, in arrival order.
#[derive(Default, Clone)]
pub struct Recorder(Arc<Mutex<Vec<Recorded>>>);

impl Recorder {
    pub fn requests(&self) -> Vec<Recorded> {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }
    fn push(&self, r: Recorded) {
        if let Ok(mut v) = self.0.lock() {
            v.push(r);
        }
    }
}

pub struct MockServer {
    config: MockConfig,
    recorder: Option<Recorder>,
    ids: AtomicU64,
}

impl MockServer {
    pub fn new(config: MockConfig, recorder: Option<Recorder>) -> Arc<Self> {
        Arc::new(MockServer {
            config,
            recorder,
            ids: AtomicU64::new(1),
        })
    }

    /// Accept connections until `shutdown` turns true (or forever when it never does).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(self.clone().serve_connection(stream));
                    }
                    Err(e) => log::warn!("mock provider: accept failed: {e}"),
                },
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// Serve requests on one connection (plain TCP, or TLS a test wrapped it in) until it closes.
    pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
        self: Arc<Self>,
        mut stream: S,
    ) {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        loop {
            let (req, keep_alive) = match read_request(&mut stream, &mut buf).await {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => return,
            };
            if let Some(rec) = &self.recorder {
                rec.push(req.clone());
            }
            if self.respond(&mut stream, &req).await.is_err() || !keep_alive {
                return;
            }
        }
    }

    async fn respond<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        req: &Recorded,
    ) -> std::io::Result<()> {
        if self.config.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.latency_ms)).await;
        }
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        if self.config.failure_rate > 0.0 && unit_random(id) < self.config.failure_rate {
            let body = answers::error("simulated failure", "server_error", "mock_failure");
            return write_whole(stream, 500, &body).await;
        }
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let path = req.path.split('?').next().unwrap_or("");
        match (req.method.as_str(), path) {
            ("POST", p) if p.ends_with("/chat/completions") => match answers::parse_chat(&req.body)
            {
                Ok(ask) if ask.stream => {
                    let events = answers::chat_stream_events(&ask, self.config.chunks, id, created);
                    self.write_stream(stream, events).await
                }
                Ok(ask) => {
                    write_whole(
                        stream,
                        200,
                        &answers::chat_completion(&ask, self.config.chunks, id, created),
                    )
                    .await
                }
                Err(e) => {
                    write_whole(
                        stream,
                        400,
                        &answers::error(&e, "invalid_request_error", "invalid_request"),
                    )
                    .await
                }
            },
            ("POST", p) if p.ends_with("/embeddings") => match answers::embeddings(&req.body) {
                Ok(body) => write_whole(stream, 200, &body).await,
                Err(e) => {
                    write_whole(
                        stream,
                        400,
                        &answers::error(&e, "invalid_request_error", "invalid_request"),
                    )
                    .await
                }
            },
            ("GET", p) if p.ends_with("/models") => {
                write_whole(stream, 200, &answers::models()).await
            }
            _ => {
                write_whole(
                    stream,
                    404,
                    &answers::error("no such route", "invalid_request_error", "not_found"),
                )
                .await
            }
        }
    }

    async fn write_stream<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        events: Vec<Vec<u8>>,
    ) -> std::io::Result<()> {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
        stream.write_all(head.as_bytes()).await?;
        let delay = Duration::from_millis(self.config.chunk_delay_ms);
        for (i, event) in events.iter().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut frame = format!("{:x}\r\n", event.len()).into_bytes();
            frame.extend_from_slice(event);
            frame.extend_from_slice(b"\r\n");
            stream.write_all(&frame).await?;
            stream.flush().await?;
        }
        stream.write_all(b"0\r\n\r\n").await?;
        stream.flush().await
    }
}

async fn write_whole<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out).await?;
    stream.flush().await
}

/// Read one request (head and `content-length` body). `Ok(None)`: the peer closed cleanly.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> std::io::Result<Option<(Recorded, bool)>> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf).map_err(|e| invalid(&e.to_string()))? {
            httparse::Status::Complete(head_len) => {
                let method = parsed.method.unwrap_or("").to_string();
                let path = parsed.path.unwrap_or("").to_string();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                if find("transfer-encoding").is_some() {
                    return Err(invalid(
                        "chunked request bodies are not supported by the mock",
                    ));
                }
                let len: usize = find("content-length")
                    .map(|v| v.trim().parse().map_err(|_| invalid("bad length")))
                    .transpose()?
                    .unwrap_or(0);
                if len > MAX_BODY {
                    return Err(invalid("body too large"));
                }
                let keep_alive =
                    !find("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
                buf.advance(head_len);
                while buf.len() < len {
                    if stream.read_buf(buf).await? == 0 {
                        return Err(invalid("truncated body"));
                    }
                }
                let body = buf.split_to(len).to_vec();
                return Ok(Some((
                    Recorded {
                        method,
                        path,
                        headers,
                        body,
                    },
                    keep_alive,
                )));
            }
            httparse::Status::Partial => {
                if buf.len() > MAX_HEAD {
                    return Err(invalid("head too large"));
                }
                if stream.read_buf(buf).await? == 0 {
                    return if buf.is_empty() {
                        Ok(None)
                    } else {
                        Err(invalid("truncated head"))
                    };
                }
            }
        }
    }
}

/// A deterministic value in [0, 1) per request id (splitmix64): failure injection that tests
/// can reason about without a random-number crate.
fn unit_random(id: u64) -> f64 {
    let mut z = id.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Start a mock on an ephemeral loopback port in the current tokio runtime; for tests and
/// embedding. Returns the address and a sender that stops it.
pub async fn spawn(
    config: MockConfig,
    recorder: Option<Recorder>,
) -> std::io::Result<(std::net::SocketAddr, tokio::sync::watch::Sender<bool>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(MockServer::new(config, recorder).serve(listener, rx));
    Ok((addr, tx))
}

/// Serve a mock provider on `listen` until the process is stopped (`tollgate mock`).
pub fn run_standalone(listen: &str, config: MockConfig, threads: usize) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(listen).await?;
        eprintln!("mock provider listening on {}", listener.local_addr()?);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        MockServer::new(config, None).serve(listener, rx).await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_injection_matches_its_rate() {
        let failures = (0..10_000).filter(|i| unit_random(*i) < 0.25).count();
        assert!((2300..2700).contains(&failures), "{failures}");
    }
}
