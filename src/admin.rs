//! The admin listener and the metrics listener, as small Pingora HTTP apps.
//!
//! `/healthz` and `/readyz` answer anyone. Routes that reveal or change state (`/admin/...`)
//! need `Authorization: Bearer <server.admin_token>`, compared in constant time; with no token
//! configured they answer only clients on loopback.

use crate::routing::health::Health;
use crate::snapshot::Snapshot;
use crate::state::{nanos_to_usd, usd_to_nanos, State};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;
use std::sync::Arc;

pub struct AdminApp {
    pub config: Arc<ArcSwap<Snapshot>>,
    pub state: Arc<State>,
    pub health: Arc<Health>,
    pub reloader: Arc<crate::reload::Reloader>,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

fn json_reply(status: u16, body: serde_json::Value) -> Response<Vec<u8>> {
    reply(status, "application/json", body.to_string().into_bytes())
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let snapshot = self.config.load_full();
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/healthz" => json_reply(200, json!({ "status": "ok" })),
            "/readyz" if self.any_provider_up(&snapshot) => {
                json_reply(200, json!({ "status": "ready" }))
            }
            "/readyz" => json_reply(503, json!({ "status": "no provider enabled and healthy" })),
            p if p.starts_with("/admin/") && !authorized(session, &snapshot) => {
                json_reply(401, json!({ "error": "admin token required" }))
            }
            "/admin/reload" if session.req_header().method != http::Method::POST => {
                json_reply(405, json!({ "error": "POST /admin/reload" }))
            }
            "/admin/reload" => {
                let reloader = self.reloader.clone();
                match tokio::task::spawn_blocking(move || reloader.reload("POST /admin/reload"))
                    .await
                {
                    Ok(report) if report.applied => json_reply(
                        200,
                        json!({ "status": "ok", "needs_restart": report.needs_restart, "warnings": report.warnings }),
                    ),
                    Ok(report) => json_reply(
                        422,
                        json!({ "status": "error", "problems": report.problems }),
                    ),
                    Err(e) => json_reply(
                        500,
                        json!({ "status": "error", "problems": [e.to_string()] }),
                    ),
                }
            }
            "/admin/usage" => {
                let query = session.req_header().uri.query().unwrap_or("").to_string();
                self.usage(&snapshot, &query).await
            }
            "/admin/providers" => json_reply(
                200,
                json!({ "providers": providers(&snapshot, &self.health) }),
            ),
            _ => json_reply(404, json!({ "error": "not found" })),
        }
    }
}

impl AdminApp {
    /// Ready: some provider is enabled and healthy.
    fn any_provider_up(&self, snapshot: &Snapshot) -> bool {
        let now = std::time::Instant::now();
        snapshot
            .providers
            .iter()
            .any(|p| p.enabled && self.health.available(p.health_id(), now))
    }

    /// `GET /admin/usage?key=NAME` or `?team=NAME`: requests, tokens, spend and budget left
    /// in the current period (the budget's; `total` for a scope without one).
    async fn usage(&self, snapshot: &Snapshot, query: &str) -> Response<Vec<u8>> {
        let asked = query_param(query, "key")
            .map(|k| ("key", k))
            .or_else(|| query_param(query, "team").map(|t| ("team", t)));
        let Some((scope, name)) = asked else {
            return json_reply(400, json!({ "error": "give ?key=NAME or ?team=NAME" }));
        };
        let Some(rules) = snapshot.scopes.get(&format!("{scope}:{name}")) else {
            return json_reply(
                404,
                json!({ "error": format!("no {scope} named {name:?}") }),
            );
        };
        let ask = rules.ask(crate::clock::unix_s());
        let f = match self.state.figures(&ask.id, &ask.period).await {
            Ok(f) => f,
            Err(e) => return json_reply(503, json!({ "error": e.to_string() })),
        };
        let budget = rules.budget.map(|b| {
            json!({
                "usd": b.usd,
                "remaining_usd": nanos_to_usd(usd_to_nanos(b.usd) - f.spent_nanos - f.reserved_nanos),
                "reserved_usd": nanos_to_usd(f.reserved_nanos),
            })
        });
        json_reply(
            200,
            json!({
                "scope": scope,
                "name": name,
                "period": ask.period,
                "backend": self.state.backend_name(),
                "requests": f.requests,
                "input_tokens": f.input_tokens,
                "cached_input_tokens": f.cached_input_tokens,
                "output_tokens": f.output_tokens,
                "cost_usd": nanos_to_usd(f.spent_nanos),
                "budget": budget,
            }),
        )
    }
}

/// Each provider's health: enabled, up or cooling down, failures, ejections, latency.
fn providers(snapshot: &Snapshot, health: &Health) -> Vec<serde_json::Value> {
    let now = std::time::Instant::now();
    snapshot
        .providers
        .iter()
        .map(|p| {
            let v = health.view(p.health_id(), now);
            json!({
                "name": p.name,
                "type": p.kind.as_str(),
                "enabled": p.enabled,
                "up": p.enabled && v.up,
                "active_check": v.active_ok,
                "consecutive_failures": v.consecutive_failures,
                "cooling_down_ms": v.cooling_down_ms,
                "ejections": v.ejections,
                "ttfb_ms": v.ttfb_ms,
                "last_error": v.last_error,
            })
        })
        .collect()
}

/// The admin token when one is configured; else only loopback clients.
fn authorized(session: &ServerSession, snapshot: &Snapshot) -> bool {
    let token = snapshot.admin_token.expose();
    if token.is_empty() {
        return session
            .client_addr()
            .and_then(|a| a.as_inet())
            .is_some_and(|a| a.ip().is_loopback());
    }
    let presented = session
        .req_header()
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Digests compare in constant time (KeyDigest's PartialEq).
    crate::auth::digest(presented) == crate::auth::digest(token)
}

/// The value of `name` in a query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.as_bytes().get(i) {
        let hex = (b == b'%')
            .then(|| {
                s.get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .flatten();
        match (b, hex) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct MetricsApp {
    pub config: Arc<ArcSwap<Snapshot>>,
    pub health: Arc<Health>,
}

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => {
                // Health changes with time (a cool-down ends), so it is read at scrape time.
                let now = std::time::Instant::now();
                for p in &self.config.load().providers {
                    let up = p.enabled && self.health.available(p.health_id(), now);
                    crate::metrics::METRICS
                        .provider_up
                        .with_label_values(&[&p.name])
                        .set(i64::from(up));
                }
                reply(200, "text/plain; version=0.0.4", crate::metrics::render())
            }
            _ => reply(404, "text/plain", b"not found\n".to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_found_and_decoded() {
        assert_eq!(
            query_param("key=support%2Dbot&x=1", "key"),
            Some("support-bot".into())
        );
        assert_eq!(query_param("team=a+b", "team"), Some("a b".into()));
        assert_eq!(query_param("keys=x", "key"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
