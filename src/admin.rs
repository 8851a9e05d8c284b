//! The admin listener (`/healthz`, `/readyz`) and the metrics listener (`/metrics`), as small
//! Pingora HTTP apps. Admin routes that change or reveal state arrive with the operations
//! issue, behind `server.admin_token`.

use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

pub struct AdminApp {
    pub config: Arc<ArcSwap<Snapshot>>,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => reply(200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/readyz" => {
                if self.config.load().any_provider_enabled() {
                    reply(200, "application/json", br#"{"status":"ready"}"#.to_vec())
                } else {
                    reply(
                        503,
                        "application/json",
                        br#"{"status":"no provider enabled"}"#.to_vec(),
                    )
                }
            }
            _ => reply(
                404,
                "application/json",
                br#"{"error":"not found"}"#.to_vec(),
            ),
        }
    }
}

pub struct MetricsApp;

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => reply(200, "text/plain; version=0.0.4", crate::metrics::render()),
            _ => reply(404, "text/plain", b"not found\n".to_vec()),
        }
    }
}
