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
use super::body::{collect, join, BodyMode, Burst, Tap, Translation};
use super::context::RequestCtx;
use super::exchange::{Answer, POOL_IDLE};
use super::respond;
use crate::error::GatewayError;
use crate::net::Corked;
use crate::redact::SseRedactor;
use crate::translate::{dispatch, ApiFormat, TranslateError};
use crate::usage::{self, StreamUsage};
use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::protocols::http::client::HttpSession;
use pingora_proxy::Session;
use tokio::time::timeout;

/// Error bodies are read whole (to scrub and translate them); more than this is cut.
const MAX_ERROR_BODY: usize = 1024 * 1024;
/// A whole answer to translate is read into memory; past this it is refused (502).
pub(super) const MAX_TRANSLATED_BODY: usize = 64 * 1024 * 1024;

/// What the answer's head said, as the forwarding paths need it.
struct Head {
    status: u16,
    content_type: Option<http::HeaderValue>,
    content_length: Option<http::HeaderValue>,
    is_sse: bool,
}

impl Head {
    fn of(h: &pingora::http::ResponseHeader) -> Head {
        let content_type = h.headers.get(http::header::CONTENT_TYPE).cloned();
        Head {
            status: h.status.as_u16(),
            is_sse: content_type
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("text/event-stream")
                }),
            content_length: h.headers.get(http::header::CONTENT_LENGTH).cloned(),
            content_type,
        }
    }
}

pub async fn forward(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
    client: ApiFormat,
    req: &ParsedRequest,
) -> Result<(), GatewayError> {
    let Some(head) = answer.session.response_header().map(Head::of) else {
        return Err(GatewayError::Upstream(
            "the provider sent no response head".into(),
        ));
    };
    let provider_format = answer.provider.format();
    let embeddings = ctx.admission.route == Some(super::Route::Embeddings);
    let translating = client != provider_format && !embeddings;

    if !(200..300).contains(&head.status) {
        let body = read_all(&mut answer, MAX_ERROR_BODY, true)
            .await
            .unwrap_or_default();
        let body = scrub(body, answer.provider.api_key.expose());
        let error = GatewayError::from_provider(&answer.provider.name, head.status, &body);
        if matches!(head.status, 401 | 403) {
            log::warn!(
                "request {}: provider {} refused the gateway's credentials ({}): {}",
                ctx.request_id,
                answer.provider.name,
                head.status,
                String::from_utf8_lossy(&body)
            );
        }
        if translating || matches!(head.status, 401 | 403) || error.retryable() {
            return Err(error);
        }
        // Same format: the provider's own error body, with its details, scrubbed. Boxed, as
        // are the whole answer and a broken stream's end (`broken_stream`): each of these
        // futures is larger than a stream's steady state, and inline it would size this
        // future for every stream.
        return Box::pin(write_whole(
            session,
            ctx,
            head.status,
            head.content_type,
            body,
        ))
        .await;
    }

    let redacting = !embeddings && ctx.redaction.answer_active();
    if (translating || redacting) && !head.is_sse {
        // Billed only once translated: it may still fail (and another target be tried).
        let model = ctx.upstream.upstream_model.clone().unwrap_or_default();
        return Box::pin(super::whole::answer(
            connector, session, ctx, answer, client, &model,
        ))
        .await;
    }
    let mut mode = body_mode(
        ctx,
        &head,
        provider_format,
        client,
        req,
        translating,
        redacting,
    );
    let delivery = if matches!(mode, BodyMode::Translate(_)) {
        translated_head(session, ctx, client).await?
    } else {
        passthrough_head(session, ctx, head, client).await?
    };
    let Some(delivery) = delivery else {
        ctx.upstream.client_gone = true;
        return Ok(());
    };
    let result = pump(connector, session, ctx, answer, delivery, &mut mode).await;
    if let Some(counts) = mode.redaction_counts() {
        ctx.redaction.counts.merge(&counts);
    }
    result
}

/// How a 2xx answer's body that is streamed on (not read whole first) goes to the client,
/// and its accounting set up: this attempt answered and its head goes to the client next,
/// so it is the one billed.
///
/// Synchronous on purpose, like the head writers below taking what they need by value: an
/// async fn keeps every argument and every moved-from local in its state for as long as it
/// runs, and the future that owns `pump` lives as long as a stream (`-Zprint-type-sizes`;
/// load-tests/RESULTS.md). `forward` holds the mode once; everything below borrows it.
fn body_mode(
    ctx: &mut RequestCtx,
    head: &Head,
    provider_format: ApiFormat,
    client: ApiFormat,
    req: &ParsedRequest,
    translating: bool,
    redacting: bool,
) -> BodyMode {
    let redactor = if redacting && head.is_sse {
        stream_redactor(ctx, client)
    } else {
        None
    };
    if ctx.accounting.enabled {
        ctx.accounting.answered_by = Some(provider_format);
        if head.is_sse {
            ctx.accounting.stream = Some(StreamUsage::new(provider_format));
        }
    }
    let translator = if translating {
        let model = ctx.upstream.upstream_model.as_deref().unwrap_or_default();
        dispatch::stream(client, provider_format, model, req.include_usage())
    } else {
        None
    };
    if let Some(translator) = translator {
        return BodyMode::Translate(Translation::new(translator, redactor));
    }
    let embeddings = ctx.admission.route == Some(super::Route::Embeddings);
    if head.is_sse {
        if ctx.accounting.enabled || redactor.is_some() {
            // The gateway asked an OpenAI-format provider for usage the client did not ask
            // for (see `ParsedRequest::body_with_stream_usage`): that chunk is not the client's.
            let hide = ctx.accounting.enabled
                && provider_format == ApiFormat::OpenAi
                && !embeddings
                && req.stream
                && !req.include_usage();
            BodyMode::Tap(Tap::new(hide, redactor))
        } else {
            BodyMode::Plain
        }
    } else if ctx.accounting.enabled || ctx.keeps_answer() {
        BodyMode::Collect(Some(BytesMut::new()))
    } else {
        BodyMode::Plain
    }
}

/// Same format: the answer's own head (status, framing, content type). `None`: the client
/// left before it was written.
async fn passthrough_head(
    session: &mut Session,
    ctx: &mut RequestCtx,
    head: Head,
    client: ApiFormat,
) -> Result<Option<Delivery>, GatewayError> {
    let mut resp = respond::header(head.status, ctx).map_err(internal)?;
    let framing = match (&head.content_length, head.is_sse) {
        (Some(len), false) => resp.insert_header(http::header::CONTENT_LENGTH, len.clone()),
        _ => resp.insert_header(http::header::TRANSFER_ENCODING, "chunked"),
    };
    let ct = head
        .content_type
        .unwrap_or_else(|| http::HeaderValue::from_static("application/json"));
    framing
        .and(resp.insert_header(http::header::CONTENT_TYPE, ct))
        .map_err(internal)?;
    if head.is_sse {
        resp.insert_header(http::header::CACHE_CONTROL, "no-cache")
            .map_err(internal)?;
    }
    let corked = if head.content_length.is_none() || head.is_sse {
        respond::stream_head(session, resp).await.map(Some)
    } else {
        respond::head(session, resp).await.map(|()| None)
    };
    Ok(corked.ok().map(|corked| Delivery {
        client,
        is_sse: head.is_sse,
        corked,
    }))
}

/// The redaction of a streamed answer in the client's format: the key's response policy, then
/// the request's placeholders put back.
fn stream_redactor(ctx: &mut RequestCtx, client: ApiFormat) -> Option<SseRedactor> {
    let policy = ctx.redaction.policy.clone()?;
    let span = policy.max_span_chars();
    let placeholders = std::mem::take(&mut ctx.redaction.placeholders);
    Some(SseRedactor::new(client, policy, placeholders, span))
}

/// A stream in another format: an SSE head of our own. `None`: the client left before it
/// was written.
async fn translated_head(
    session: &mut Session,
    ctx: &mut RequestCtx,
    client: ApiFormat,
) -> Result<Option<Delivery>, GatewayError> {
    let mut resp = respond::header(200, ctx).map_err(internal)?;
    resp.insert_header(http::header::CONTENT_TYPE, "text/event-stream")
        .map_err(internal)?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-cache")
        .map_err(internal)?;
    resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")
        .map_err(internal)?;
    let corked = respond::stream_head(session, resp).await;
    Ok(corked.ok().map(|corked| Delivery {
        client,
        is_sse: true,
        corked: Some(corked),
    }))
}

/// How an answer reaches the client, once its head is written.
struct Delivery {
    /// The client's API format (for the error that ends a broken answer).
    client: ApiFormat,
    /// The answer is an event stream.
    is_sse: bool,
    /// The head, held back until the first burst is written (`respond::stream_head`).
    corked: Option<Corked>,
}

/// After the head: move the body to the client one burst per write, as `mode` says, until
/// the provider ends it, breaks it, or the client leaves. `mode` is borrowed: the caller
/// keeps it (and what its redaction found) once, rather than every future in between.
async fn pump(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
    delivery: Delivery,
    mode: &mut BodyMode,
) -> Result<(), GatewayError> {
    let Delivery {
        client,
        is_sse,
        mut corked,
    } = delivery;
    // Whether what the client has so far ends on an event boundary (for the error event).
    let mut at_boundary = true;
    loop {
        let waiting = std::time::Instant::now();
        let next = next_burst(&mut answer).await;
        ctx.upstream.waited += waiting.elapsed();
        let burst = match next {
            Ok(b) => b,
            Err(msg) => {
                let e = GatewayError::Upstream(msg);
                return broken_stream(session, ctx, client, is_sse, at_boundary, e).await;
            }
        };
        let tracker = ctx.accounting.stream.as_mut();
        let data = match &mut *mode {
            BodyMode::Plain => Ok(burst.data.clone()),
            BodyMode::Collect(body) => {
                collect(body, burst.data.as_ref());
                Ok(burst.data.clone())
            }
            BodyMode::Tap(tap) => tap.burst(&burst, tracker),
            BodyMode::Translate(t) => t.burst(&burst, tracker),
        };
        let data = match data {
            Ok(data) => data,
            Err(e) => {
                if let Some(d) = mode.take_leftover() {
                    at_boundary = ends_event(&d);
                    if session.write_response_body(Some(d), false).await.is_err() {
                        ctx.upstream.client_gone = true;
                        return Ok(());
                    }
                }
                return broken_stream(session, ctx, client, is_sse, at_boundary, e).await;
            }
        };
        if let Some(d) = &data {
            at_boundary = ends_event(d);
            ctx.upstream
                .first_byte_at
                .get_or_insert_with(std::time::Instant::now);
        }
        if (data.is_some() || burst.end)
            && session.write_response_body(data, burst.end).await.is_err()
        {
            ctx.upstream.client_gone = true;
            if let BodyMode::Collect(body) = &mut *mode {
                // The provider produced the whole answer anyway: read the rest (bounded) so
                // its usage is billed.
                if !burst.end {
                    while let Ok(Some(more)) =
                        timeout(answer.idle, answer.session.read_response_body())
                            .await
                            .unwrap_or(Ok(None))
                    {
                        collect(body, Some(&more));
                    }
                }
                settle_whole(ctx, &answer, body);
            }
            return Ok(());
        }
        // The head and the first burst are written: let them go.
        drop(corked.take());
        if let Some(msg) = burst.error {
            let e = GatewayError::Upstream(msg);
            return broken_stream(session, ctx, client, is_sse, at_boundary, e).await;
        }
        if burst.end {
            if let BodyMode::Collect(body) = &*mode {
                settle_whole(ctx, &answer, body);
                if ctx.keeps_answer() {
                    ctx.upstream.answer = body.as_ref().map(|b| b.clone().freeze());
                }
            }
            release(connector, answer).await;
            return Ok(());
        }
    }
}

/// Hands the upstream connection back to the pool, the answer read to its end. Boxed, like
/// the connect future in `exchange::attempt`: Pingora's release future is about 3 KiB, and
/// inline it would size every future above this one for the whole of a stream.
pub(super) async fn release(connector: &Connector, answer: Answer) {
    Box::pin(connector.release_http_session(*answer.session, &*answer.peer, Some(POOL_IDLE))).await;
}

/// Record a whole answer's usage, or the estimate of its text when it carries none.
fn settle_whole(ctx: &mut RequestCtx, answer: &Answer, body: &Option<BytesMut>) {
    let Some(body) = body else {
        return;
    };
    let reported = usage::from_answer(answer.provider.format(), body);
    ctx.accounting
        .whole_answer(reported, || body.clone().freeze());
}

/// Whether `data` ends with the blank line that ends an SSE event.
fn ends_event(data: &[u8]) -> bool {
    data.ends_with(b"\n\n") || data.ends_with(b"\r\n\r\n") || data.ends_with(b"\r\r")
}

/// End a stream that broke after its head was sent (see the module comment). When the
/// client's last bytes stopped inside an event, a blank line first closes it, so the error
/// event stays an event of its own.
///
/// Boxed here, once for its three callers in `pump`: its future (a body write and the
/// error) is larger than a stream's steady state, and inline it would size every stream.
fn broken_stream<'a>(
    session: &'a mut Session,
    ctx: &'a mut RequestCtx,
    client: ApiFormat,
    is_sse: bool,
    at_boundary: bool,
    error: GatewayError,
) -> futures::future::BoxFuture<'a, Result<(), GatewayError>> {
    Box::pin(async move {
        log::warn!("request {}: {error}", ctx.request_id);
        ctx.upstream.error_code = Some(error.code());
        if is_sse {
            let event = error.sse_event(client);
            let event = if at_boundary {
                event
            } else {
                let mut closed = BytesMut::from(&b"\n\n"[..]);
                closed.extend_from_slice(&event);
                closed.freeze()
            };
            if session
                .write_response_body(Some(event), true)
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
    })
}

pub(super) async fn write_whole(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    content_type: Option<http::HeaderValue>,
    body: Bytes,
) -> Result<(), GatewayError> {
    let mut resp = respond::header(status, ctx).map_err(internal)?;
    let ct = content_type.unwrap_or_else(|| http::HeaderValue::from_static("application/json"));
    resp.insert_header(http::header::CONTENT_TYPE, ct)
        .and_then(|_| {
            resp.insert_header(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(body.len()),
            )
        })
        .map_err(internal)?;
    if !(200..300).contains(&status) {
        ctx.upstream.error_code = Some("provider_error");
    }
    ctx.upstream
        .first_byte_at
        .get_or_insert_with(std::time::Instant::now);
    if respond::write(session, resp, body).await.is_err() {
        ctx.upstream.client_gone = true;
    }
    Ok(())
}

/// Read the rest of the body, up to `max` bytes. `truncate`: keep the first `max` bytes of a
/// longer body; otherwise a longer body is an error.
pub(super) async fn read_all(
    answer: &mut Answer,
    max: usize,
    truncate: bool,
) -> Result<Bytes, String> {
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
/// chunk per read; writing each alone costs a syscall and a packet per event). The chunks are
/// gathered first and `join`ed once (load-tests/RESULTS.md, session 14).
fn drain_ready(up: &mut HttpSession, first: Bytes) -> Burst {
    use futures::FutureExt;
    let mut more: Vec<Bytes> = Vec::new();
    let mut burst = Burst {
        data: None,
        end: false,
        error: None,
    };
    loop {
        match up.read_response_body().now_or_never() {
            Some(Ok(Some(chunk))) => more.push(chunk),
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
    burst.data = Some(join(first, &more));
    burst
}

fn internal(e: Box<pingora::Error>) -> GatewayError {
    GatewayError::Internal(e.to_string())
}

pub(super) fn translate_error(e: TranslateError) -> GatewayError {
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
