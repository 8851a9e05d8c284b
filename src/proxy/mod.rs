//! `impl ProxyHttp`: the gateway's request path, read top to bottom.
//!
//! Tollgate drives each exchange from `request_filter` (see docs/architecture.md): the body
//! must be read to find the model, and Pingora re-sends an already-read body only from its
//! 64 KiB retry buffer, while prompts are routinely larger. So `request_filter` admits the
//! request, runs the exchange with the provider itself, writes the answer and returns
//! `Ok(true)`; `logging`, which Pingora always runs, records the outcome.

pub mod admission;
mod answer;
mod audit_record;
pub mod body;
mod cached;
mod context;
mod exchange;
mod loopback;
mod quota;
mod respond;
mod screen;
mod semantic;
mod settle;
mod whole;

pub use answer::scrub;
pub use context::{RequestCtx, Route};

use crate::error::GatewayError;
use crate::metrics::METRICS;
use crate::providers::Operation;
use crate::routing::health::Health;
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::usage;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::connectors::http::Connector;
use pingora::upstreams::peer::HttpPeer;
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct Gateway {
    /// The configuration in force; each request loads it once.
    pub config: Arc<ArcSwap<Snapshot>>,
    /// Pingora's pooled connector (keep-alive, TLS) for every provider.
    connector: Connector,
    /// Limits, budgets, usage and the cache: outlives configuration reloads.
    pub state: Arc<State>,
    /// Passive health of provider targets, shared with the admin API.
    pub health: Arc<Health>,
    /// Token counting and spend; `TOLLGATE_ACCOUNTING=off` turns them off to measure their cost.
    accounting: bool,
}

impl Gateway {
    pub fn new(config: Arc<ArcSwap<Snapshot>>, state: Arc<State>, health: Arc<Health>) -> Self {
        let accounting = std::env::var("TOLLGATE_ACCOUNTING").map_or(true, |v| v != "off");
        Gateway {
            config,
            connector: Connector::new(None),
            state,
            health,
            accounting,
        }
    }

    /// Admission, then the exchange. Every `Err` is answered in the client's API shape by
    /// the caller; nothing here has written to the client when it returns one.
    async fn handle(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        let snapshot = self.config.load_full();
        ctx.snapshot = Some(snapshot.clone());
        let (method, path) = {
            let req = session.req_header();
            (req.method.clone(), req.uri.path().to_string())
        };
        let route = admission::route(&method, &path)?;
        ctx.admission.route = Some(route);
        let key = admission::authenticate(&session.req_header().headers, &snapshot)?;
        ctx.admission.key = Some(key.clone());

        let op = match route {
            Route::Models => {
                let body = admission::models_list(&snapshot, &key);
                return respond::json(session, ctx, 200, body)
                    .await
                    .map_err(|e| GatewayError::Internal(e.to_string()));
            }
            Route::ChatCompletions | Route::Messages => Operation::Chat,
            Route::Embeddings => Operation::Embeddings,
            Route::Unknown => return Err(GatewayError::RouteNotFound(path)),
        };
        let raw = admission::read_body(session, snapshot.max_body_bytes).await?;
        let mut request = admission::parse(route, raw)?;
        request.anthropic_beta = admission::anthropic_beta(&session.req_header().headers)?;
        ctx.admission.stream = request.stream;
        let model = admission::resolve_model(&snapshot, &key, &request.model)?;
        ctx.admission.model = Some(model.name.clone());
        ctx.accounting.enabled = self.accounting;
        let digest = cached::digest(&snapshot, ctx, &request);
        screen::request(&snapshot, ctx, &mut request)?;
        if snapshot.audit_bodies {
            ctx.audit_request = Some(request.raw.clone());
        }
        if cached::lookup(&self.state, &snapshot, session, ctx, &request, digest).await? {
            return Ok(());
        }
        if semantic::lookup(&self.state, &snapshot, session, ctx, &request).await {
            return Ok(());
        }
        quota::admit(&self.state, &snapshot, &key, model, &request, ctx).await?;
        let outcome = exchange::run(
            &self.connector,
            &self.health,
            session,
            ctx,
            model,
            op,
            &request,
        )
        .await;
        if ctx.accounting.needs_prompt_estimate() && ctx.accounting.prompt_estimate == 0 {
            // The provider reported no prompt tokens: estimate them now, after the answer,
            // rather than tokenizing every prompt before forwarding (a 32 KB prompt takes about
            // a millisecond). The tokenizer follows the model that answered.
            let model = ctx.upstream.upstream_model.clone().unwrap_or_default();
            let (format, json) = (route.format(), request.json);
            let counted =
                tokio::task::spawn_blocking(move || usage::estimate_prompt(format, &model, &json))
                    .await;
            ctx.accounting.prompt_estimate = counted.unwrap_or(0);
        }
        outcome
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    /// Boxed: Pingora keeps the context inline in its own per-request futures, two copies of
    /// it (an argument and a local) in each, for as long as a stream lasts; boxed, each copy
    /// is a pointer (load-tests/RESULTS.md, session 10).
    type CTX = Box<RequestCtx>;

    fn new_ctx(&self) -> Box<RequestCtx> {
        Box::new(RequestCtx::new(new_request_id()))
    }

    /// No downstream modules. Pingora's default adds a compression module, disabled, whose
    /// context is still allocated and whose filters still run for every response header and
    /// body write.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Box<RequestCtx>,
    ) -> pingora::Result<bool> {
        if let Err(e) = self.handle(session, ctx).await {
            // A refused request may leave its body unread: what is in flight is read and
            // dropped (bounded) so closing does not reset the answer away, and the connection
            // carries no other request.
            if !session.is_body_done() {
                admission::discard_rest(session).await;
                session.set_keepalive(None);
            }
            respond::error(session, ctx, &e).await;
        }
        Ok(true)
    }

    /// Never reached: `request_filter` answers every request itself.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Box<RequestCtx>,
    ) -> pingora::Result<Box<HttpPeer>> {
        Err(pingora::Error::explain(
            pingora::ErrorType::InternalError,
            "requests are proxied from request_filter",
        ))
    }

    /// Errors Pingora raises itself (an unreadable request head, say) get the OpenAI shape too.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &pingora::Error,
        ctx: &mut Box<RequestCtx>,
    ) -> FailToProxy {
        if session.response_written().is_some() {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let error = match e.etype() {
            pingora::ErrorType::HTTPStatus(400) | pingora::ErrorType::InvalidHTTPHeader => {
                GatewayError::InvalidRequest("malformed HTTP request".into())
            }
            _ => GatewayError::Internal("internal error".into()),
        };
        respond::error(session, ctx, &error).await;
        FailToProxy {
            error_code: error.status(),
            can_reuse_downstream: false,
        }
    }

    async fn logging(
        &self,
        session: &mut Session,
        _e: Option<&pingora::Error>,
        ctx: &mut Box<RequestCtx>,
    ) {
        settle::settle(ctx).await;
        quota::settle(&self.state, ctx).await;
        screen::record(&ctx.redaction.counts);
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(0);
        cached::store(&self.state, ctx, status).await;
        if let Some(snapshot) = ctx.snapshot.clone() {
            semantic::store(&self.state, &snapshot, ctx, status).await;
        }
        if crate::audit::enabled() {
            crate::audit::record(audit_record::build(ctx, status));
        }
        // An answer that broke after its head went out counts as failed, whatever its status.
        let broken =
            (200..300).contains(&status) && ctx.upstream.error_code == Some("upstream_error");
        let label = if broken {
            "broken"
        } else {
            status_label(status)
        };
        let route = ctx.admission.route.map(Route::label).unwrap_or("unknown");
        let model = ctx.admission.model.as_deref().unwrap_or("");
        let provider = ctx.upstream.provider.as_deref().unwrap_or("");
        let key = ctx
            .admission
            .key
            .as_ref()
            .map(|k| k.name.as_str())
            .unwrap_or("");
        METRICS
            .requests_total
            .with_label_values(&[route, model, provider, key, label])
            .inc();
        METRICS
            .request_duration_seconds
            .with_label_values(&[route, model, provider])
            .observe(ctx.started.elapsed().as_secs_f64());
        if let Some(first) = ctx.upstream.first_byte_at {
            METRICS
                .time_to_first_token_seconds
                .with_label_values(&[model, provider])
                .observe(first.duration_since(ctx.started).as_secs_f64());
        }
        let own = ctx.started.elapsed().saturating_sub(ctx.upstream.waited);
        METRICS
            .overhead_seconds
            .with_label_values(&[route])
            .observe(own.as_secs_f64());
    }
}

/// Status as a label without allocating on the request path.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        413 => "413",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        0 => "0",
        s if s < 300 => "2xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// A request id unique within the process and unlikely to repeat across processes:
/// a per-process random prefix and a counter (`tg-` 12 hex digits `-` 8 or more).
fn new_request_id() -> String {
    static PREFIX: once_cell::sync::Lazy<String> = once_cell::sync::Lazy::new(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        format!("tg-{:012x}-", h.finish() & 0xffff_ffff_ffff)
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut id = String::with_capacity(PREFIX.len() + 16);
    id.push_str(&PREFIX);
    crate::digits::push_hex(&mut id, COUNTER.fetch_add(1, Ordering::Relaxed), 8);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_share_the_process_prefix_and_never_repeat() {
        let (a, b) = (new_request_id(), new_request_id());
        let shape = regex::Regex::new("^tg-[0-9a-f]{12}-[0-9a-f]{8,}$").unwrap();
        assert!(shape.is_match(&a) && shape.is_match(&b), "{a} {b}");
        assert_eq!(a[..16], b[..16]);
        assert_ne!(a, b);
    }
}
