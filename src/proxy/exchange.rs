//! The exchange with providers, driven from `request_filter`: select a target, send the
//! request the gateway holds (any size, on every attempt), read the answer's head within the
//! first-byte timeout, then stream the body to the client as it arrives.
//!
//! Failures before the client received a byte are `GatewayError`s that the caller renders;
//! failures after that cannot change the status any more and are handled here (see
//! `stream_answer`).

use super::admission::ParsedRequest;
use super::context::RequestCtx;
use super::respond;
use crate::error::GatewayError;
use crate::providers::{Operation, Provider};
use crate::resolve;
use crate::routing;
use crate::snapshot::{Model, Target};
use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::protocols::http::client::HttpSession;
use pingora::upstreams::peer::HttpPeer;
use pingora::ErrorType;
use pingora_proxy::Session;
use std::time::Duration;
use tokio::time::timeout;

/// How long an idle upstream connection stays in Pingora's pool.
const POOL_IDLE: Duration = Duration::from_secs(60);
/// Error bodies are read whole (to scrub them); more than this is cut.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// An upstream that answered: its session, still holding the body, and how to reach it again.
pub struct Answer {
    session: HttpSession,
    peer: HttpPeer,
    provider_key: String,
    idle: Duration,
}

/// Run the exchange for one admitted request. `Ok(())`: an answer (of any status) was
/// forwarded, or the client went away while it was.
pub async fn run(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &Model,
    op: Operation,
    req: &ParsedRequest,
) -> Result<(), GatewayError> {
    let mut tried = Vec::new();
    let mut last_error = None;
    while let Some((index, target)) = routing::next_target(model, &tried) {
        tried.push(index);
        ctx.upstream.attempts += 1;
        ctx.upstream.provider = Some(target.provider.name.clone());
        ctx.upstream.upstream_model = Some(target.model.clone());
        match attempt(connector, target, op, req, &ctx.request_id).await {
            Ok(answer) => return stream_answer(connector, session, ctx, answer).await,
            Err(e) => {
                log::warn!(
                    "request {}: provider {} attempt {} failed: {e}",
                    ctx.request_id,
                    target.provider.name,
                    ctx.upstream.attempts
                );
                let retry = e.retryable() && tried.len() < model.max_attempts;
                last_error = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| GatewayError::NoHealthyProvider(model.name.clone())))
}

/// One attempt against one target: connect, send, and read the answer's head.
async fn attempt(
    connector: &Connector,
    target: &Target,
    op: Operation,
    req: &ParsedRequest,
    request_id: &str,
) -> Result<Answer, GatewayError> {
    let provider = &target.provider;
    let body = req.body_for(&target.model)?;
    let addr = resolve::resolve(&provider.endpoint.host, provider.endpoint.port)
        .await
        .map_err(|e| {
            GatewayError::Upstream(format!("cannot resolve provider {}: {e}", provider.name))
        })?;
    let mut peer = HttpPeer::new(addr, provider.endpoint.tls, provider.endpoint.host.clone());
    peer.options.connection_timeout = Some(Duration::from_millis(provider.timeouts.connect_ms));
    peer.options.total_connection_timeout =
        Some(Duration::from_millis(provider.timeouts.connect_ms));
    peer.options.idle_timeout = Some(POOL_IDLE);
    let first_byte = Duration::from_millis(provider.timeouts.first_byte_ms);

    // A pooled connection may have been closed by the provider while idle; that shows as an
    // error before any answer, and the request goes again on a fresh connection.
    let mut tries_left = 3;
    loop {
        let (mut up, reused) = connector
            .get_http_session(&peer)
            .await
            .map_err(|e| connect_error(provider, &e))?;
        let header = provider
            .request_header(op, body.len(), request_id)
            .map_err(|e| GatewayError::Internal(format!("building the upstream request: {e}")))?;
        // Head and body leave as one segment: Pingora flushes each separately, which costs the
        // provider a second wake-up per request (measured in load-tests/RESULTS.md).
        let fd = up.stream().map(|s| s.id()).unwrap_or(-1);
        let sent = timeout(first_byte, async {
            crate::net::cork(fd, true);
            let written = async {
                up.write_request_header(Box::new(header)).await?;
                up.write_request_body(body.clone(), true).await?;
                up.finish_request_body().await
            }
            .await;
            crate::net::cork(fd, false);
            written?;
            up.read_response_header().await
        })
        .await;
        match sent {
            Ok(Ok(())) => {
                return Ok(Answer {
                    session: up,
                    peer,
                    provider_key: provider.api_key.expose().to_string(),
                    idle: Duration::from_millis(provider.timeouts.idle_ms),
                })
            }
            Ok(Err(e)) if reused && tries_left > 1 => {
                tries_left -= 1;
                log::debug!(
                    "request {request_id}: pooled connection to {} failed ({e}); reconnecting",
                    provider.name
                );
            }
            Ok(Err(e)) => {
                return Err(GatewayError::Upstream(format!(
                    "provider {} failed: {}",
                    provider.name,
                    e.etype().as_str()
                )))
            }
            Err(_) => {
                return Err(GatewayError::UpstreamTimeout(format!(
                    "provider {} did not answer within {} ms",
                    provider.name, provider.timeouts.first_byte_ms
                )))
            }
        }
    }
}

fn connect_error(provider: &Provider, e: &pingora::Error) -> GatewayError {
    match e.etype() {
        ErrorType::ConnectTimedout => GatewayError::UpstreamTimeout(format!(
            "provider {} did not accept a connection within {} ms",
            provider.name, provider.timeouts.connect_ms
        )),
        other => GatewayError::Upstream(format!(
            "cannot connect to provider {}: {}",
            provider.name,
            other.as_str()
        )),
    }
}

/// Forward the answer: head at once, then each body chunk as it arrives.
///
/// After the head is sent, a failure can no longer become an error status. A broken SSE
/// stream then ends with an error event and no `[DONE]`, so a client can tell it from a
/// complete answer; any other body is cut off (the connection closes without the final chunk
/// or short of its length), which HTTP clients report as an error.
async fn stream_answer(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
) -> Result<(), GatewayError> {
    let Some(head) = answer.session.response_header() else {
        return Err(GatewayError::Upstream(
            "the provider sent no response head".into(),
        ));
    };
    let status = head.status.as_u16();
    let content_type = head.headers.get(http::header::CONTENT_TYPE).cloned();
    let content_length = head.headers.get(http::header::CONTENT_LENGTH).cloned();
    let is_sse = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));

    if !(200..300).contains(&status) {
        return forward_error_answer(session, ctx, answer, status, content_type).await;
    }

    let mut resp =
        respond::header(status, ctx).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let framing = match (&content_type, &content_length, is_sse) {
        (_, Some(len), false) => resp.insert_header(http::header::CONTENT_LENGTH, len.clone()),
        _ => resp.insert_header(http::header::TRANSFER_ENCODING, "chunked"),
    };
    let typed = match content_type {
        Some(ct) => resp.insert_header(http::header::CONTENT_TYPE, ct),
        None => resp.insert_header(http::header::CONTENT_TYPE, "application/json"),
    };
    if is_sse {
        let _ = resp.insert_header(http::header::CACHE_CONTROL, "no-cache");
    }
    framing
        .and(typed)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    if session
        .write_response_header(Box::new(resp), false)
        .await
        .is_err()
    {
        ctx.upstream.client_gone = true;
        return Ok(());
    }

    loop {
        let burst = match timeout(answer.idle, answer.session.read_response_body()).await {
            Ok(Ok(Some(chunk))) => drain_ready(&mut answer.session, chunk),
            Ok(Ok(None)) => Burst {
                data: None,
                end: true,
                error: None,
            },
            Ok(Err(e)) => Burst {
                data: None,
                end: false,
                error: Some(e),
            },
            Err(_) => {
                let msg = format!(
                    "the provider sent nothing for {} ms",
                    answer.idle.as_millis()
                );
                return broken_stream(session, ctx, is_sse, msg).await;
            }
        };
        if (burst.data.is_some() || burst.end)
            && session
                .write_response_body(burst.data, burst.end)
                .await
                .is_err()
        {
            ctx.upstream.client_gone = true;
            return Ok(());
        }
        if let Some(e) = burst.error {
            let msg = format!("the provider's answer broke off: {}", e.etype().as_str());
            return broken_stream(session, ctx, is_sse, msg).await;
        }
        if burst.end {
            connector
                .release_http_session(answer.session, &answer.peer, Some(POOL_IDLE))
                .await;
            return Ok(());
        }
    }
}

/// What one client write carries: every chunk the provider had already delivered.
struct Burst {
    data: Option<Bytes>,
    end: bool,
    error: Option<Box<pingora::Error>>,
}

/// Starting from `first`, take every body chunk that is ready without waiting, so a burst of
/// events the provider sent back to back reaches the client in one write (Pingora returns one
/// chunk per read; writing each alone costs a syscall and a packet per event).
fn drain_ready(up: &mut HttpSession, first: Bytes) -> Burst {
    use futures::FutureExt;
    let mut joined: Option<BytesMut> = None;
    let mut burst = Burst {
        data: None,
        end: false,
        error: None,
    };
    loop {
        match up.read_response_body().now_or_never() {
            Some(Ok(Some(more))) => {
                joined
                    .get_or_insert_with(|| BytesMut::from(&first[..]))
                    .extend_from_slice(&more);
            }
            Some(Ok(None)) => {
                burst.end = true;
                break;
            }
            Some(Err(e)) => {
                burst.error = Some(e);
                break;
            }
            None => break,
        }
    }
    burst.data = Some(joined.map(BytesMut::freeze).unwrap_or(first));
    burst
}

async fn broken_stream(
    session: &mut Session,
    ctx: &mut RequestCtx,
    is_sse: bool,
    message: String,
) -> Result<(), GatewayError> {
    log::warn!("request {}: {message}", ctx.request_id);
    let error = GatewayError::Upstream(message);
    ctx.upstream.error_code = Some(error.code());
    if is_sse {
        let event = respond::sse_error_event(&error);
        if session
            .write_response_body(Some(event), true)
            .await
            .is_err()
        {
            ctx.upstream.client_gone = true;
        }
    } else {
        // Not finishing the body: the caller closes the connection instead of reusing it.
        ctx.upstream.client_gone = true;
        session.set_keepalive(None);
        session.shutdown().await;
    }
    Ok(())
}

/// A provider's own error answer (4xx/5xx) goes to the client with its status and body, read
/// whole and scrubbed of the provider's key in case the provider echoed it.
async fn forward_error_answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
    status: u16,
    content_type: Option<http::HeaderValue>,
) -> Result<(), GatewayError> {
    let mut body = BytesMut::new();
    loop {
        match timeout(answer.idle, answer.session.read_response_body()).await {
            Ok(Ok(Some(chunk))) => {
                let room = MAX_ERROR_BODY.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(Ok(None)) => break,
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let body = scrub(Bytes::from(body), &answer.provider_key);
    ctx.upstream.error_code = Some("provider_error");
    let mut resp =
        respond::header(status, ctx).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let ct = content_type.unwrap_or_else(|| http::HeaderValue::from_static("application/json"));
    resp.insert_header(http::header::CONTENT_TYPE, ct)
        .and_then(|_| resp.insert_header(http::header::CONTENT_LENGTH, body.len().to_string()))
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    if respond::write(session, resp, body).await.is_err() {
        ctx.upstream.client_gone = true;
    }
    Ok(())
}

/// Replace every occurrence of `secret` in `body` with `***`.
pub fn scrub(body: Bytes, secret: &str) -> Bytes {
    if secret.len() < 4 {
        return body;
    }
    if !body.windows(secret.len()).any(|w| w == secret.as_bytes()) {
        return body;
    }
    let text = String::from_utf8_lossy(&body).replace(secret, "***");
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_every_copy_of_the_key() {
        let b = scrub(
            Bytes::from_static(b"bad key sk-123456 (sk-123456)"),
            "sk-123456",
        );
        assert_eq!(&b[..], b"bad key *** (***)");
        let untouched = Bytes::from_static(b"no key here");
        assert_eq!(scrub(untouched.clone(), "sk-123456"), untouched);
    }
}
