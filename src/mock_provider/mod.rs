//! The `mock` provider: a simulated provider served over real HTTP/1.1 on a loopback port,
//! speaking three dialects: OpenAI (`POST .../chat/completions`, `.../embeddings`,
//! `GET .../models`), Anthropic Messages (`POST .../v1/messages`) and Gemini
//! (`POST .../models/{model}:generateContent` and `:streamGenerateContent`). The gateway opens
//! one per `mock` provider so mock traffic crosses the whole proxy path; `tollgate mock` runs
//! one standalone (load tests); tests start one on port 0 with a `Recorder` to assert what an
//! upstream received.
//!
//! What is said is decided by pure functions (`script` for the content, one module per
//! dialect for the wire format); this module only routes and writes.

pub mod answers;
pub mod anthropic;
pub mod gemini;
pub mod script;

use crate::config::MockConfig;
use bytes::{Buf, BytesMut};
use script::Answer;
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
        let answer = if self.config.failure_rate > 0.0 && unit_random(id) < self.config.failure_rate
        {
            Dialect::of(&req.path).failure()
        } else {
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            answer(req, self.config.chunks, id, created)
        };
        match answer {
            Answer::Whole { status, body } => write_whole(stream, status, &body).await,
            Answer::Stream {
                content_type,
                events,
            } => self.write_stream(stream, content_type, events).await,
        }
    }

    async fn write_stream<S: AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        content_type: &str,
        events: Vec<Vec<u8>>,
    ) -> std::io::Result<()> {
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n");
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

/// The dialect a path speaks, for its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Dialect {
    fn of(path: &str) -> Dialect {
        let bare = path.split('?').next().unwrap_or("");
        if gemini::route(path).is_some() || bare.starts_with("/v1beta/") {
            Dialect::Gemini
        } else if bare.ends_with("/v1/messages") || bare.contains("/v1/messages/") {
            Dialect::Anthropic
        } else {
            Dialect::OpenAi
        }
    }

    fn error(self, status: u16, message: &str) -> Answer {
        let body = match self {
            Dialect::OpenAi => {
                let (kind, code) = match status {
                    404 => ("invalid_request_error", "not_found"),
                    _ => ("server_error", "mock_failure"),
                };
                answers::error(message, kind, code)
            }
            Dialect::Anthropic => {
                let kind = match status {
                    404 => "not_found_error",
                    _ => "api_error",
                };
                anthropic::error(kind, message)
            }
            Dialect::Gemini => gemini::error(status, message),
        };
        Answer::Whole { status, body }
    }

    /// The injected failure (`failure_rate`): a 500 in the dialect's error shape.
    fn failure(self) -> Answer {
        self.error(500, "simulated failure")
    }
}

/// The mock's answer to a request, by route; pure but for its arguments (`id` numbers the
/// answer, `created` is OpenAI's timestamp).
pub fn answer(req: &Recorded, chunks: usize, id: u64, created: u64) -> Answer {
    let path = req.path.split('?').next().unwrap_or("");
    let openai_invalid = |e: &str| Answer::Whole {
        status: 400,
        body: answers::error(e, "invalid_request_error", "invalid_request"),
    };
    match (req.method.as_str(), path) {
        ("POST", p) if p.ends_with("/chat/completions") => match answers::parse_chat(&req.body) {
            Ok(ask) if ask.stream => Answer::Stream {
                content_type: "text/event-stream",
                events: answers::chat_stream_events(&ask, chunks, id, created),
            },
            Ok(ask) => Answer::Whole {
                status: 200,
                body: answers::chat_completion(&ask, chunks, id, created),
            },
            Err(e) => openai_invalid(&e),
        },
        ("POST", p) if p.ends_with("/embeddings") => match answers::embeddings(&req.body) {
            Ok(body) => Answer::Whole { status: 200, body },
            Err(e) => openai_invalid(&e),
        },
        ("GET", p) if p.ends_with("/models") => Answer::Whole {
            status: 200,
            body: answers::models(),
        },
        ("POST", p) if p.ends_with("/v1/messages") => anthropic::answer(req, chunks, id),
        ("POST", _) if gemini::route(&req.path).is_some() => gemini::answer(req, chunks, id)
            .unwrap_or_else(|| Dialect::Gemini.error(404, "no such route")),
        _ => Dialect::of(&req.path).error(404, "no such route"),
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
        401 => "Unauthorized",
        403 => "Forbidden",
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
mod tests;
