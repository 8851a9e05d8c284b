//! The exchange with providers, driven from `request_filter`: select a target, translate and
//! send the request the gateway holds (any size, on every attempt), and read the answer's
//! head within the first-byte timeout; `answer` then forwards the body.
//!
//! Failures before the client received a byte are `GatewayError`s: the loop may try another
//! target, or the caller renders them in the client's API shape.

use super::admission::ParsedRequest;
use super::answer;
use super::context::RequestCtx;
use crate::error::GatewayError;
use crate::metrics::METRICS;
use crate::providers::{Operation, Provider};
use crate::resolve;
use crate::routing::{
    self,
    health::{self, Health},
};
use crate::snapshot::{Model, Target};
use crate::translate::{dispatch, ApiFormat, TranslateError};
use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::protocols::http::client::HttpSession;
use pingora::upstreams::peer::HttpPeer;
use pingora::ErrorType;
use pingora_proxy::Session;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::timeout;

/// How long an idle upstream connection stays in Pingora's pool.
pub const POOL_IDLE: Duration = Duration::from_secs(60);

/// An upstream that answered: its session, still holding the body, and how to reach it again.
///
/// The session and peer are boxed (over a kilobyte together): an `Answer` is passed by value
/// down the answer path, and each async fn it passes through keeps its own copies in its state
/// for as long as a stream lasts (measured with `-Zprint-type-sizes`).
pub struct Answer {
    pub session: Box<HttpSession>,
    pub peer: Box<HttpPeer>,
    pub provider: Arc<Provider>,
    pub idle: Duration,
}

/// Run the exchange for one admitted request. `Ok(())`: an answer (of any status) was
/// forwarded, or the client went away while it was.
pub async fn run(
    connector: &Connector,
    health: &Health,
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &Model,
    op: Operation,
    req: &ParsedRequest,
) -> Result<(), GatewayError> {
    let client = ctx
        .admission
        .route
        .map(super::Route::format)
        .unwrap_or(ApiFormat::OpenAi);
    let mut tried = Vec::new();
    let mut last_error: Option<GatewayError> = None;
    let mut from: Option<String> = None;
    while let Some((index, target)) = routing::next_target(model, &tried, health, Instant::now()) {
        if let (Some(previous), Some(e)) = (&from, &last_error) {
            METRICS
                .failovers_total
                .with_label_values(&[
                    &model.name,
                    previous,
                    &target.provider.name,
                    failover_reason(e),
                ])
                .inc();
        }
        tried.push(index);
        ctx.upstream.attempts += 1;
        ctx.upstream.provider = Some(target.provider.name.clone());
        ctx.upstream.upstream_model = Some(target.model.clone());
        let health_id = target.provider.health_id();
        let started = Instant::now();
        // Boxed: connecting, sending and reading the head take a 2.5 KiB future, done before
        // the answer is forwarded; inline, it would size this future for a whole stream.
        let attempted = Box::pin(attempt(
            connector,
            target,
            op,
            client,
            req,
            &ctx.request_id,
            ctx.accounting.enabled,
        ))
        .await;
        let outcome = match attempted {
            Ok(up) => {
                ctx.upstream.waited += started.elapsed();
                // The head decides the provider's health for this attempt: 429 and 5xx count
                // against it (with any retry-after), every other answer for it.
                let head = up.session.response_header();
                let status = head.map(|h| h.status.as_u16()).unwrap_or(0);
                let retry_after = head
                    .and_then(|h| h.headers.get(http::header::RETRY_AFTER))
                    .and_then(|v| v.to_str().ok())
                    .and_then(health::parse_retry_after);
                if status == 429 || status >= 500 {
                    health.failure(
                        health_id,
                        Instant::now(),
                        retry_after,
                        &format!("answered {status}"),
                        &target.provider.health_policy,
                    );
                } else {
                    health.success(health_id, started.elapsed());
                }
                let forwarded = answer::forward(connector, session, ctx, up, client, req).await;
                // A stream that broke after its head counts against the provider too.
                if forwarded.is_ok()
                    && ctx.upstream.error_code == Some("upstream_error")
                    && !ctx.upstream.client_gone
                {
                    health.failure(
                        health_id,
                        Instant::now(),
                        None,
                        "the answer broke off",
                        &target.provider.health_policy,
                    );
                }
                forwarded
            }
            Err(e) => {
                ctx.upstream.waited += started.elapsed();
                if e.retryable() {
                    health.failure(
                        health_id,
                        Instant::now(),
                        None,
                        &e.to_string(),
                        &target.provider.health_policy,
                    );
                }
                Err(e)
            }
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => {
                log::warn!(
                    "request {}: provider {} attempt {} failed: {e}",
                    ctx.request_id,
                    target.provider.name,
                    ctx.upstream.attempts
                );
                let retry = e.retryable() && tried.len() < model.max_attempts;
                last_error = Some(e);
                from = Some(target.provider.name.clone());
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| GatewayError::NoHealthyProvider(model.name.clone())))
}

/// The `reason` label of a failover hop.
fn failover_reason(e: &GatewayError) -> &'static str {
    match e {
        GatewayError::UpstreamTimeout(_) => "timeout",
        GatewayError::Provider { status: 429, .. } => "429",
        GatewayError::Provider { .. } => "5xx",
        _ => "error",
    }
}

/// One attempt against one target: connect, send, and read the answer's head.
async fn attempt(
    connector: &Connector,
    target: &Target,
    op: Operation,
    client: ApiFormat,
    req: &ParsedRequest,
    request_id: &str,
    count_usage: bool,
) -> Result<Answer, GatewayError> {
    let provider = &target.provider;
    let body = upstream_body(provider, op, client, req, &target.model, count_usage)?;
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
        // Boxed: Pingora's connect future is about 9 KiB, and inline it would size every
        // future above this one, kept for the whole of a long stream (load-tests/RESULTS.md).
        let (mut up, reused) = Box::pin(connector.get_http_session(&peer))
            .await
            .map_err(|e| connect_error(provider, &e))?;
        let header = provider
            .request_header(
                op,
                &target.model,
                req.stream,
                body.len(),
                request_id,
                req.anthropic_beta.as_deref(),
            )
            .map_err(|e| GatewayError::Internal(format!("building the upstream request: {e}")))?;
        // Head and body leave as one segment: Pingora flushes each separately, which costs the
        // provider a second wake-up per request (measured in load-tests/RESULTS.md).
        let sent = timeout(first_byte, async {
            let corked = crate::net::Corked::on(up.stream());
            let written = async {
                up.write_request_header(Box::new(header)).await?;
                up.write_request_body(body.clone(), true).await?;
                up.finish_request_body().await
            }
            .await;
            drop(corked);
            written.map_err(|e| (Phase::Sending, e))?;
            read_final_head(&mut up)
                .await
                .map_err(|e| (Phase::Reading, e))
        })
        .await;
        match sent {
            Ok(Ok(())) => {
                return Ok(Answer {
                    session: Box::new(up),
                    peer: Box::new(peer),
                    provider: provider.clone(),
                    idle: Duration::from_millis(provider.timeouts.idle_ms),
                })
            }
            // Only a pooled connection the provider had already closed is worth another try: the
            // request could not be written, or the connection ended before any answer byte.
            // Any other failure may come after the provider did the work, and is not repeated.
            Ok(Err((phase, e)))
                if reused
                    && tries_left > 1
                    && (phase == Phase::Sending || e.etype() == &ErrorType::ConnectionClosed) =>
            {
                tries_left -= 1;
                log::debug!(
                    "request {request_id}: pooled connection to {} failed ({e}); reconnecting",
                    provider.name
                );
            }
            Ok(Err((_, e))) => {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sending,
    Reading,
}

/// Read the answer's head, skipping informational ones (100 Continue, 103 Early Hints): the
/// body belongs to the final head only, and Pingora has no body reader for a 1xx.
async fn read_final_head(up: &mut HttpSession) -> pingora::Result<()> {
    for _ in 0..8 {
        up.read_response_header().await?;
        let informational = up
            .response_header()
            .is_some_and(|h| h.status.is_informational());
        if !informational {
            return Ok(());
        }
    }
    Err(pingora::Error::explain(
        ErrorType::InvalidHTTPHeader,
        "too many informational responses",
    ))
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

/// The body this provider receives: the client's bytes when the formats match (re-encoded
/// only for a model rename), else the request translated to the provider's format.
fn upstream_body(
    provider: &Provider,
    op: Operation,
    client: ApiFormat,
    req: &ParsedRequest,
    upstream_model: &str,
    count_usage: bool,
) -> Result<Bytes, GatewayError> {
    if !provider.supports(op) {
        return Err(GatewayError::InvalidRequest(format!(
            "provider {} ({}) does not serve this route",
            provider.name,
            provider.kind.as_str()
        )));
    }
    if op == Operation::Embeddings {
        return req.body_for(upstream_model);
    }
    match dispatch::request(client, provider.format(), &req.json, upstream_model) {
        Ok(None) if provider.format() == ApiFormat::OpenAi && count_usage => {
            req.body_with_stream_usage(upstream_model)
        }
        Ok(None) => req.body_for(upstream_model),
        Ok(Some(translated)) => serde_json::to_vec(&translated)
            .map(Bytes::from)
            .map_err(|e| GatewayError::Internal(format!("encoding the upstream body: {e}"))),
        Err(TranslateError::Invalid(m)) => Err(GatewayError::InvalidRequest(m)),
        Err(TranslateError::Upstream(m)) => Err(GatewayError::Internal(m)),
    }
}
