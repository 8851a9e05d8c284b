//! The exact-match response cache on the request path: look up before limits (a hit costs
//! nothing and counts no tokens), answer a hit whole or replayed as SSE, and store complete
//! non-streamed 2xx answers in `logging`, off the client's time.
//!
//! A client's `cache-control: no-cache` skips the lookup (the fresh answer is still stored);
//! `no-store` skips both. Streaming requests are answered from stored whole answers when
//! `cache.streaming`; streamed answers themselves are not stored.

use super::admission::ParsedRequest;
use super::context::RequestCtx;
use super::respond;
use crate::cache::{key::cache_key, replay};
use crate::error::GatewayError;
use crate::metrics::METRICS;
use crate::snapshot::Snapshot;
use crate::state::State;
use bytes::{BufMut, Bytes, BytesMut};
use pingora_proxy::Session;

/// What the cache did for a request; a closed set (the `x-tollgate-cache` header and the
/// `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Hit,
    /// Answered by the semantic cache (a similar question of the same scope).
    SemanticHit,
    Miss,
    Bypass,
}

impl Status {
    /// The `x-tollgate-cache` header's value (and the audit record's `cache`).
    pub fn header(self) -> &'static str {
        match self {
            Status::SemanticHit => "semantic-hit",
            other => other.label(),
        }
    }

    /// The `result` label of `tollgate_cache_requests_total`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Hit => "hit",
            Status::SemanticHit => "semantic_hit",
            Status::Miss => "miss",
            Status::Bypass => "bypass",
        }
    }
}

#[derive(Default)]
pub struct CacheState {
    pub status: Option<Status>,
    /// Where this request's answer is stored, when it is to be.
    key: Option<[u8; 32]>,
    ttl_s: u64,
    /// The semantic cache's scope and the question's embedding, to store the answer under.
    pub semantic: Option<([u8; 32], Vec<f32>)>,
    /// The similarity of a semantic hit, for its header.
    pub similarity: Option<f32>,
}

impl CacheState {
    /// Whether the answer should be kept for storing.
    pub fn wants_answer(&self) -> bool {
        self.key.is_some() || self.semantic.is_some()
    }
}

/// A stored answer: which provider and model produced it, and the client-format body.
pub struct Entry {
    pub provider: String,
    pub upstream_model: String,
    pub body: Bytes,
}

const ENTRY_VERSION: u8 = 1;

pub fn encode(e: &Entry) -> Bytes {
    let mut b =
        BytesMut::with_capacity(5 + e.provider.len() + e.upstream_model.len() + e.body.len());
    b.put_u8(ENTRY_VERSION);
    for s in [&e.provider, &e.upstream_model] {
        b.put_u16(s.len().min(u16::MAX as usize) as u16);
        b.put_slice(
            s.as_bytes()
                .get(..usize::from(u16::MAX))
                .unwrap_or(s.as_bytes()),
        );
    }
    b.put_slice(&e.body);
    b.freeze()
}

pub fn decode(mut b: Bytes) -> Option<Entry> {
    fn string(b: &mut Bytes) -> Option<String> {
        let len = usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
        let s = b.get(2..2 + len)?.to_vec();
        let _ = b.split_to(2 + len);
        String::from_utf8(s).ok()
    }
    if *b.first()? != ENTRY_VERSION {
        return None;
    }
    let _ = b.split_to(1);
    let provider = string(&mut b)?;
    let upstream_model = string(&mut b)?;
    Some(Entry {
        provider,
        upstream_model,
        body: b,
    })
}

/// Which cache-control directives the client sent.
fn directives(headers: &http::HeaderMap) -> (bool, bool) {
    let mut no_cache = false;
    let mut no_store = false;
    for v in headers.get_all(http::header::CACHE_CONTROL) {
        for d in v.to_str().unwrap_or("").split(',') {
            match d.trim().to_ascii_lowercase().as_str() {
                "no-cache" => no_cache = true,
                "no-store" => no_store = true,
                _ => {}
            }
        }
    }
    (no_cache, no_store)
}

/// The request's cache key when a cache is configured, computed on the body as the client
/// sent it, before redaction: two prompts that redact alike must never share an answer.
pub fn digest(snapshot: &Snapshot, ctx: &RequestCtx, request: &ParsedRequest) -> Option<[u8; 32]> {
    snapshot.cache.as_ref()?;
    let (route, key, model) = (
        ctx.admission.route?,
        ctx.admission.key.as_ref()?,
        ctx.admission.model.as_ref()?,
    );
    Some(cache_key(
        &key.name,
        route.format(),
        model,
        request.anthropic_beta.as_deref(),
        &request.json,
    ))
}

/// Look the request up under `digest` (from `digest`). `Ok(true)`: answered from the cache.
pub async fn lookup(
    state: &State,
    snapshot: &Snapshot,
    session: &mut Session,
    ctx: &mut RequestCtx,
    request: &ParsedRequest,
    digest: Option<[u8; 32]>,
) -> Result<bool, GatewayError> {
    let (Some(config), Some(route), Some(digest)) = (&snapshot.cache, ctx.admission.route, digest)
    else {
        return Ok(false);
    };
    let (no_cache, no_store) = directives(&session.req_header().headers);
    if no_store || (request.stream && !config.streaming) {
        return Ok(record(ctx, Status::Bypass));
    }
    if !request.stream {
        ctx.cache.key = Some(digest);
        ctx.cache.ttl_s = config.ttl_s;
    }
    if no_cache {
        return Ok(record(ctx, Status::Bypass));
    }
    let Some(entry) = state.cache_get(&digest).await.and_then(decode) else {
        return Ok(record(ctx, Status::Miss));
    };
    Ok(serve(session, ctx, request, route.format(), entry, Status::Hit).await)
}

/// Answer with a stored entry, whole or replayed as SSE to a streaming request, as `status`
/// (a hit of either cache). `false` when it cannot be replayed (then nothing was written).
pub async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    request: &ParsedRequest,
    format: crate::translate::ApiFormat,
    entry: Entry,
    status: Status,
) -> bool {
    let wire = if request.stream {
        let include_usage = request.include_usage();
        let events = serde_json::from_slice(&entry.body)
            .ok()
            .and_then(|whole| replay::replay(format, &whole, include_usage));
        match events {
            Some(events) => Some(Bytes::from(replay::encode_all(&events))),
            // Not replayable (it should not happen): the request is forwarded instead.
            None => return false,
        }
    } else {
        None
    };
    // Answered here: nothing is to be stored again.
    ctx.cache.key = None;
    ctx.cache.semantic = None;
    record(ctx, status);
    ctx.upstream.provider = Some(entry.provider);
    ctx.upstream.upstream_model = Some(entry.upstream_model);
    let written = match wire {
        Some(sse) => write_stream(session, ctx, sse).await,
        None => respond::json(session, ctx, 200, entry.body).await,
    };
    ctx.upstream.first_byte_at = Some(std::time::Instant::now());
    if written.is_err() {
        ctx.upstream.client_gone = true;
    }
    true
}

fn record(ctx: &mut RequestCtx, status: Status) -> bool {
    ctx.cache.status = Some(status);
    METRICS
        .cache_requests_total
        .with_label_values(&[status.label()])
        .inc();
    false
}

async fn write_stream(session: &mut Session, ctx: &RequestCtx, body: Bytes) -> pingora::Result<()> {
    let mut resp = respond::header(200, ctx)?;
    resp.insert_header(http::header::CONTENT_TYPE, "text/event-stream")?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
    resp.insert_header(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body.len()),
    )?;
    respond::write(session, resp, body).await
}

/// Store the request's answer if it is complete and to be stored (in `logging`).
pub async fn store(state: &State, ctx: &mut RequestCtx, status: u16) {
    let (Some(key), Some(body)) = (ctx.cache.key.take(), ctx.upstream.answer.clone()) else {
        return;
    };
    let complete = status == 200 && ctx.upstream.error_code.is_none();
    if !complete {
        return;
    }
    let entry = Entry {
        provider: ctx.upstream.provider.clone().unwrap_or_default(),
        upstream_model: ctx.upstream.upstream_model.clone().unwrap_or_default(),
        body,
    };
    state.cache_put(&key, encode(&entry), ctx.cache.ttl_s).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_reject_garbage() {
        let e = Entry {
            provider: "p".into(),
            upstream_model: "m-1".into(),
            body: Bytes::from_static(b"{\"a\":1}"),
        };
        let d = decode(encode(&e)).unwrap();
        assert_eq!(
            (d.provider.as_str(), d.upstream_model.as_str()),
            ("p", "m-1")
        );
        assert_eq!(&d.body[..], b"{\"a\":1}");
        assert!(decode(Bytes::from_static(b"")).is_none());
        assert!(decode(Bytes::from_static(b"\x02\x00\x01p")).is_none());
        assert!(decode(Bytes::from_static(b"\x01\x00\x09p")).is_none());
    }

    #[test]
    fn cache_control_directives() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("max-age=0, No-Cache"),
        );
        assert_eq!(directives(&h), (true, false));
        h.append(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        assert_eq!(directives(&h), (true, true));
    }
}
