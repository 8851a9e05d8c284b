//! Writing answers the gateway makes itself: response heads with the `x-tollgate-*` headers
//! every answer carries, JSON bodies with explicit framing, errors in the client's API shape,
//! and the SSE error event that ends a broken stream.

use super::context::RequestCtx;
use crate::error::GatewayError;
use crate::lifecycle;
use crate::translate::ApiFormat;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::{ErrorType, OrErr};
use pingora_proxy::Session;

/// A response head with the headers every answer carries.
///
/// Built on `http`'s own parts and handed to Pingora whole. Pingora's `insert_header` parses
/// every name again and copies each one it does not know (all the `x-` names here): 5% of the
/// small scenario's instructions went to building heads (load-tests/RESULTS.md, session 12).
/// The head has no case map: every name Tollgate writes is lowercase already, so the bytes
/// on the wire are the same, and the head (kept by the session for the whole answer) holds
/// one header map instead of two. 12 reserved gets 16 slots, which hold 12 headers before
/// growing: a streamed answer with rate-limit headers carries 11.
pub fn header(status: u16, ctx: &RequestCtx) -> pingora::Result<ResponseHeader> {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = http::StatusCode::from_u16(status)
        .explain_err(ErrorType::InvalidHTTPHeader, |_| "invalid status")?;
    let mut h = Headers(http::HeaderMap::with_capacity(12));
    h.insert(names::REQUEST_ID, text(&ctx.request_id)?)?;
    if let Some(p) = &ctx.upstream.provider {
        h.insert(names::PROVIDER, text(p)?)?;
    }
    if let Some(m) = &ctx.upstream.upstream_model {
        h.insert(names::MODEL, text(m)?)?;
    }
    h.insert(names::ATTEMPTS, HeaderValue::from(ctx.upstream.attempts))?;
    if let Some(status) = ctx.cache.status {
        h.insert(names::CACHE, HeaderValue::from_static(status.header()))?;
    }
    if let Some(similarity) = ctx.cache.similarity {
        h.insert(names::SIMILARITY, text(&format!("{similarity:.4}"))?)?;
    }
    if let Some(q) = ctx.quota.headers {
        let pairs = [
            (names::LIMIT_REQUESTS, q.limit_requests),
            (names::REMAINING_REQUESTS, q.remaining_requests),
            (names::LIMIT_TOKENS, q.limit_tokens),
            (names::REMAINING_TOKENS, q.remaining_tokens),
        ];
        for (name, value) in pairs {
            if let Some(v) = value {
                h.insert(name, HeaderValue::from(v))?;
            }
        }
    }
    if lifecycle::draining() {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"))?;
    }
    parts.headers = h.0;
    Ok(ResponseHeader::from(parts))
}

/// The names of the headers every answer may carry, as constants: nothing to parse or copy.
mod names {
    use http::HeaderName;
    pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    pub const PROVIDER: HeaderName = HeaderName::from_static("x-tollgate-provider");
    pub const MODEL: HeaderName = HeaderName::from_static("x-tollgate-model");
    pub const ATTEMPTS: HeaderName = HeaderName::from_static("x-tollgate-attempts");
    pub const CACHE: HeaderName = HeaderName::from_static("x-tollgate-cache");
    pub const SIMILARITY: HeaderName = HeaderName::from_static("x-tollgate-similarity");
    pub const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
    pub const REMAINING_REQUESTS: HeaderName =
        HeaderName::from_static("x-ratelimit-remaining-requests");
    pub const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
    pub const REMAINING_TOKENS: HeaderName =
        HeaderName::from_static("x-ratelimit-remaining-tokens");
}

/// A header map that reports a full map as Pingora's error instead of panicking.
struct Headers(http::HeaderMap);

impl Headers {
    fn insert(&mut self, name: http::HeaderName, value: HeaderValue) -> pingora::Result<()> {
        self.0
            .try_insert(name, value)
            .map(drop)
            .explain_err(ErrorType::InvalidHTTPHeader, |_| "too many headers")
    }
}

/// A header value from text; text that cannot be one (a control character) is an error.
fn text(s: &str) -> pingora::Result<HeaderValue> {
    HeaderValue::from_str(s).explain_err(ErrorType::InvalidHTTPHeader, |_| "invalid header value")
}

/// Write an answer's head; while draining, the connection closes after this answer.
pub async fn head(session: &mut Session, resp: ResponseHeader) -> pingora::Result<()> {
    if lifecycle::draining() {
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(resp), false).await
}

/// Write the head of an answer whose length is not known (a stream), corked: Pingora flushes
/// such a head at once, alone, which costs the client a packet and a wake-up of its own.
/// Corked, it leaves with the first body write, when the returned guard is dropped (or after
/// the kernel's 200 ms ceiling, if the first events are slower).
pub async fn stream_head(
    session: &mut Session,
    resp: ResponseHeader,
) -> pingora::Result<crate::net::Corked> {
    let corked = crate::net::Corked::on(session.stream());
    head(session, resp).await?;
    Ok(corked)
}

/// Write a whole answer whose length is known.
pub async fn write(
    session: &mut Session,
    resp: ResponseHeader,
    body: Bytes,
) -> pingora::Result<()> {
    head(session, resp).await?;
    session.write_response_body(Some(body), true).await
}

pub async fn json(
    session: &mut Session,
    ctx: &RequestCtx,
    status: u16,
    body: Bytes,
) -> pingora::Result<()> {
    let mut resp = header(status, ctx)?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()))?;
    write(session, resp, body).await
}

/// An error in the client's API shape, with its status and the `x-tollgate-*` headers.
pub async fn error(session: &mut Session, ctx: &mut RequestCtx, e: &GatewayError) {
    ctx.upstream.error_code = Some(e.code());
    let format = ctx
        .admission
        .route
        .map(super::Route::format)
        .unwrap_or(ApiFormat::OpenAi);
    let body = e.body(format);
    let written = match header(e.status(), ctx) {
        Ok(mut resp) => {
            let framed = resp
                .insert_header(http::header::CONTENT_TYPE, "application/json")
                .and_then(|_| {
                    resp.insert_header(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()))
                })
                .and_then(|_| match e.retry_after() {
                    Some(s) => resp.insert_header(http::header::RETRY_AFTER, s.to_string()),
                    None => Ok(()),
                });
            match framed {
                Ok(()) => write(session, resp, body).await,
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    };
    if let Err(werr) = written {
        ctx.upstream.client_gone = true;
        log::debug!(
            "request {}: could not write the error answer: {werr}",
            ctx.request_id
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::quota::RateHeaders;
    use http::header::{CACHE_CONTROL, CONTENT_TYPE, TRANSFER_ENCODING};

    /// The fullest usual head, a streamed answer under rate limits, fits the slots `header`
    /// reserves: one header more would double the map the session keeps for the whole answer.
    #[test]
    fn a_rate_limited_stream_head_fits_without_growing() {
        let mut ctx = RequestCtx::new("req-1".into());
        ctx.upstream.provider = Some("openai".into());
        ctx.upstream.upstream_model = Some("gpt-4o".into());
        ctx.quota.headers = Some(RateHeaders {
            limit_requests: Some(60),
            remaining_requests: Some(59),
            limit_tokens: Some(10_000),
            remaining_tokens: Some(9_000),
        });
        let mut resp = header(200, &ctx).unwrap();
        let reserved = resp.headers.capacity();
        for (name, value) in [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
            (TRANSFER_ENCODING, "chunked"),
        ] {
            resp.insert_header(name, value).unwrap();
        }
        assert_eq!(resp.headers.len(), 11);
        assert_eq!(reserved, 12);
        assert_eq!(resp.headers.capacity(), reserved, "the head's map grew");
    }
}
