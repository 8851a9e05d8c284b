//! Forwarding a provider's answer to the client, in one of three ways:
//! - **passthrough** (same API format): head at once, then every burst of body chunks as it
//!   arrives, bytes untouched;
//! - **translated whole answer**: read (bounded), translate, answer with a length;
//! - **translated stream**: SSE-decode each burst, translate event by event, re-encode, write.
//!
//! Until the head reaches the client a failure is a `GatewayError` (the caller may try
//! another target). After that the status cannot change: a broken SSE stream ends with the
//! client format's error event and no end marker; any other body is cut off, which HTTP
//! clients report as an error.

use super::admission::ParsedRequest;
use super::context::RequestCtx;
use super::exchange::{Answer, POOL_IDLE};
use super::respond;
use crate::error::GatewayError;
use crate::sse::{self, SseDecoder, SseEvent};
use crate::translate::{dispatch, ApiFormat, StreamTranslator, TranslateError};
use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::protocols::http::client::HttpSession;
use pingora_proxy::Session;
use tokio::time::timeout;

/// Error bodies are read whole (to scrub and translate them); more than this is cut.
const MAX_ERROR_BODY: usize = 1024 * 1024;
/// A whole answer to translate is read into memory; past this it is refused (502).
const MAX_TRANSLATED_BODY: usize = 64 * 1024 * 1024;

pub async fn forward(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
    client: ApiFormat,
    req: &ParsedRequest,
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
    let provider_format = answer.provider.format();
    let translating =
        client != provider_format && ctx.admission.route != Some(super::Route::Embeddings);

    if !(200..300).contains(&status) {
        let body = read_all(&mut answer, MAX_ERROR_BODY, true)
            .await
            .unwrap_or_default();
        let body = scrub(body, answer.provider.api_key.expose());
        let error = GatewayError::from_provider(&answer.provider.name, status, &body);
        if matches!(status, 401 | 403) {
            log::warn!(
                "request {}: provider {} refused the gateway's credentials ({status}): {}",
                ctx.request_id,
                answer.provider.name,
                String::from_utf8_lossy(&body)
            );
        }
        if translating || matches!(status, 401 | 403) || error.retryable() {
            return Err(error);
        }
        // Same format: the provider's own error body, with its details, scrubbed.
        return write_whole(session, ctx, status, content_type, body).await;
    }
    if !translating {
        return passthrough(
            connector,
            session,
            ctx,
            answer,
            is_sse,
            content_type,
            content_length,
            client,
        )
        .await;
    }
    let model = ctx.upstream.upstream_model.clone().unwrap_or_default();
    if is_sse {
        match dispatch::stream(client, provider_format, &model, req.include_usage()) {
            Some(translator) => {
                translated_stream(connector, session, ctx, answer, translator, client).await
            }
            None => {
                passthrough(
                    connector,
                    session,
                    ctx,
                    answer,
                    is_sse,
                    content_type,
                    content_length,
                    client,
                )
                .await
            }
        }
    } else {
        translated_whole(connector, session, ctx, answer, client, &model).await
    }
}

/// Same format: the answer's head, then its bytes as they come.
#[allow(clippy::too_many_arguments)]
async fn passthrough(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    answer: Answer,
    is_sse: bool,
    content_type: Option<http::HeaderValue>,
    content_length: Option<http::HeaderValue>,
    client: ApiFormat,
) -> Result<(), GatewayError> {
    let status = answer
        .session
        .response_header()
        .map(|h| h.status.as_u16())
        .unwrap_or(200);
    let mut resp = respond::header(status, ctx).map_err(internal)?;
    let framing = match (&content_length, is_sse) {
        (Some(len), false) => resp.insert_header(http::header::CONTENT_LENGTH, len.clone()),
        _ => resp.insert_header(http::header::TRANSFER_ENCODING, "chunked"),
    };
    let ct = content_type.unwrap_or_else(|| http::HeaderValue::from_static("application/json"));
    framing
        .and(resp.insert_header(http::header::CONTENT_TYPE, ct))
        .map_err(internal)?;
    if is_sse {
        resp.insert_header(http::header::CACHE_CONTROL, "no-cache")
            .map_err(internal)?;
    }
    if session
        .write_response_header(Box::new(resp), false)
        .await
        .is_err()
    {
        ctx.upstream.client_gone = true;
        return Ok(());
    }
    pump(connector, session, ctx, answer, client, is_sse, None).await
}

/// A whole answer in another format: read, translate, answer with its length.
async fn translated_whole(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
    client: ApiFormat,
    model: &str,
) -> Result<(), GatewayError> {
    let body = read_all(&mut answer, MAX_TRANSLATED_BODY, false)
        .await
        .map_err(|m| GatewayError::Upstream(format!("provider {}: {m}", answer.provider.name)))?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        GatewayError::Upstream(format!(
            "provider {} sent invalid JSON: {e}",
            answer.provider.name
        ))
    })?;
    let translated = match dispatch::response(client, answer.provider.format(), &value, model) {
        Ok(Some(v)) => {
            Bytes::from(serde_json::to_vec(&v).map_err(|e| GatewayError::Internal(e.to_string()))?)
        }
        Ok(None) => body,
        Err(e) => return Err(translate_error(e)),
    };
    connector
        .release_http_session(answer.session, &answer.peer, Some(POOL_IDLE))
        .await;
    let ct = http::HeaderValue::from_static("application/json");
    write_whole(session, ctx, 200, Some(ct), translated).await
}

/// A stream in another format: an SSE head of our own, then the translated events.
async fn translated_stream(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    answer: Answer,
    translator: Box<dyn StreamTranslator>,
    client: ApiFormat,
) -> Result<(), GatewayError> {
    let mut resp = respond::header(200, ctx).map_err(internal)?;
    resp.insert_header(http::header::CONTENT_TYPE, "text/event-stream")
        .map_err(internal)?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-cache")
        .map_err(internal)?;
    resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")
        .map_err(internal)?;
    if session
        .write_response_header(Box::new(resp), false)
        .await
        .is_err()
    {
        ctx.upstream.client_gone = true;
        return Ok(());
    }
    let translation = Translation {
        translator,
        decoder: SseDecoder::default(),
        upstream: Vec::new(),
        client: Vec::new(),
    };
    pump(
        connector,
        session,
        ctx,
        answer,
        client,
        true,
        Some(translation),
    )
    .await
}

/// What a translated stream keeps between bursts.
struct Translation {
    translator: Box<dyn StreamTranslator>,
    decoder: SseDecoder,
    upstream: Vec<SseEvent>,
    client: Vec<SseEvent>,
}

impl Translation {
    /// The client's bytes for one burst of the provider's bytes.
    fn burst(&mut self, burst: &Burst) -> Result<Option<Bytes>, TranslateError> {
        let malformed = |e: sse::SseError| TranslateError::Upstream(e.to_string());
        if let Some(data) = &burst.data {
            self.decoder
                .feed(data, &mut self.upstream)
                .map_err(malformed)?;
        }
        if burst.end {
            self.decoder.finish(&mut self.upstream).map_err(malformed)?;
        }
        for ev in self.upstream.drain(..) {
            self.translator.on_event(&ev, &mut self.client)?;
        }
        if burst.end {
            self.translator.finish(&mut self.client)?;
        }
        let mut wire = Vec::new();
        for ev in self.client.drain(..) {
            sse::encode(&ev, &mut wire);
        }
        Ok((!wire.is_empty()).then(|| Bytes::from(wire)))
    }
}

/// After the head: move the body to the client one burst per write, translated when a
/// translation is given, until the provider ends it, breaks it, or the client leaves.
async fn pump(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
    client: ApiFormat,
    is_sse: bool,
    mut translation: Option<Translation>,
) -> Result<(), GatewayError> {
    loop {
        let burst = match next_burst(&mut answer).await {
            Ok(b) => b,
            Err(msg) => return broken_stream(session, ctx, client, is_sse, msg).await,
        };
        let data = match translation.as_mut() {
            None => burst.data.clone(),
            Some(t) => match t.burst(&burst) {
                Ok(data) => data,
                Err(e) => return broken_stream(session, ctx, client, is_sse, e.to_string()).await,
            },
        };
        if (data.is_some() || burst.end)
            && session.write_response_body(data, burst.end).await.is_err()
        {
            ctx.upstream.client_gone = true;
            return Ok(());
        }
        if let Some(msg) = burst.error {
            return broken_stream(session, ctx, client, is_sse, msg).await;
        }
        if burst.end {
            connector
                .release_http_session(answer.session, &answer.peer, Some(POOL_IDLE))
                .await;
            return Ok(());
        }
    }
}

/// End a stream that broke after its head was sent (see the module comment).
async fn broken_stream(
    session: &mut Session,
    ctx: &mut RequestCtx,
    client: ApiFormat,
    is_sse: bool,
    message: String,
) -> Result<(), GatewayError> {
    log::warn!("request {}: {message}", ctx.request_id);
    let error = GatewayError::Upstream(message);
    ctx.upstream.error_code = Some(error.code());
    if is_sse {
        if session
            .write_response_body(Some(error.sse_event(client)), true)
            .await
            .is_err()
        {
            ctx.upstream.client_gone = true;
        }
    } else {
        // Not finishing the body: the connection closes instead of being reused.
        ctx.upstream.client_gone = true;
        session.set_keepalive(None);
        session.shutdown().await;
    }
    Ok(())
}

async fn write_whole(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    content_type: Option<http::HeaderValue>,
    body: Bytes,
) -> Result<(), GatewayError> {
    let mut resp = respond::header(status, ctx).map_err(internal)?;
    let ct = content_type.unwrap_or_else(|| http::HeaderValue::from_static("application/json"));
    resp.insert_header(http::header::CONTENT_TYPE, ct)
        .and_then(|_| resp.insert_header(http::header::CONTENT_LENGTH, body.len().to_string()))
        .map_err(internal)?;
    if !(200..300).contains(&status) {
        ctx.upstream.error_code = Some("provider_error");
    }
    if respond::write(session, resp, body).await.is_err() {
        ctx.upstream.client_gone = true;
    }
    Ok(())
}

/// Read the rest of the body, up to `max` bytes. `truncate`: keep the first `max` bytes of a
/// longer body; otherwise a longer body is an error.
async fn read_all(answer: &mut Answer, max: usize, truncate: bool) -> Result<Bytes, String> {
    let mut body = BytesMut::new();
    loop {
        match timeout(answer.idle, answer.session.read_response_body()).await {
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > max {
                    if !truncate {
                        return Err(format!("answer larger than {max} bytes"));
                    }
                    let room = max.saturating_sub(body.len());
                    body.extend_from_slice(chunk.get(..room).unwrap_or_default());
                } else {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(Ok(None)) => return Ok(body.freeze()),
            Ok(Err(e)) => return Err(format!("the answer broke off: {}", e.etype().as_str())),
            Err(_) => {
                return Err(format!(
                    "nothing received for {} ms",
                    answer.idle.as_millis()
                ))
            }
        }
    }
}

/// What one client write carries: every chunk the provider had already delivered.
struct Burst {
    data: Option<Bytes>,
    end: bool,
    /// The answer broke after `data`.
    error: Option<String>,
}

/// Wait (up to the idle timeout) for the next chunk, then take every chunk already ready.
/// `Err`: nothing came in time.
async fn next_burst(answer: &mut Answer) -> Result<Burst, String> {
    match timeout(answer.idle, answer.session.read_response_body()).await {
        Ok(Ok(Some(chunk))) => Ok(drain_ready(&mut answer.session, chunk)),
        Ok(Ok(None)) => Ok(Burst {
            data: None,
            end: true,
            error: None,
        }),
        Ok(Err(e)) => Ok(Burst {
            data: None,
            end: false,
            error: Some(format!(
                "the provider's answer broke off: {}",
                e.etype().as_str()
            )),
        }),
        Err(_) => Err(format!(
            "the provider sent nothing for {} ms",
            answer.idle.as_millis()
        )),
    }
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
                burst.error = Some(format!(
                    "the provider's answer broke off: {}",
                    e.etype().as_str()
                ));
                break;
            }
            None => break,
        }
    }
    burst.data = Some(joined.map(BytesMut::freeze).unwrap_or(first));
    burst
}

fn internal(e: Box<pingora::Error>) -> GatewayError {
    GatewayError::Internal(e.to_string())
}

fn translate_error(e: TranslateError) -> GatewayError {
    match e {
        TranslateError::Invalid(m) => GatewayError::InvalidRequest(m),
        TranslateError::Upstream(m) => GatewayError::Upstream(m),
    }
}

/// Replace every occurrence of `secret` in `body` with `***`.
pub fn scrub(body: Bytes, secret: &str) -> Bytes {
    if secret.len() < 4 || !body.windows(secret.len()).any(|w| w == secret.as_bytes()) {
        return body;
    }
    Bytes::from(String::from_utf8_lossy(&body).replace(secret, "***"))
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
