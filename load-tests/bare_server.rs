//! A second framework baseline: Pingora 0.9 without its proxy layer, as an `HttpServerApp`.
//!
//! `bare_pingora.rs` measures Pingora's stock reverse proxy (`HttpProxy` driving `ProxyHttp`).
//! This one measures what would be left if Tollgate served its API through Pingora's
//! `HttpServerApp` instead: the listener, the HTTP/1 server session, the upstream connector and
//! its pool, and nothing of `HttpProxy` (its per-request future, phases and bookkeeping). It
//! forwards every request unchanged to one upstream, with the same allocator and server
//! settings as `bare_pingora`, so the table shows whether leaving `ProxyHttp` would bring the
//! issue-9 goals within reach (`load-tests/RESULTS.md`, session 15).
//!
//!     cargo build --release --example bare_server
//!     target/release/examples/bare_server --listen 127.0.0.1:8082 --upstream 127.0.0.1:9000 --threads 2

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::connectors::http::Connector;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;
use pingora::upstreams::peer::HttpPeer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[path = "baseline.rs"]
mod baseline;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long a pooled upstream connection may stay idle, as in Tollgate.
const POOL_IDLE: Duration = Duration::from_secs(60);

struct Forward {
    upstream: SocketAddr,
    connector: Connector,
}

impl Forward {
    /// One request: its head and body to the upstream, the answer's head and body back, each
    /// body chunk written as it arrives. The upstream connection goes back to the pool only
    /// when the exchange completed.
    async fn forward(&self, down: &mut ServerSession) -> pingora::Result<()> {
        let peer = HttpPeer::new(self.upstream, false, String::new());
        let (mut up, _reused) = self.connector.get_http_session(&peer).await?;
        up.write_request_header(Box::new(down.req_header().clone()))
            .await?;
        while let Some(chunk) = down.read_request_body().await? {
            up.write_request_body(chunk, false).await?;
        }
        up.finish_request_body().await?;
        up.read_response_header().await?;
        let head = up.response_header().cloned().ok_or_else(|| {
            pingora::Error::explain(pingora::ErrorType::InvalidHTTPHeader, "no response head")
        })?;
        down.write_response_header(Box::new(head)).await?;
        while let Some(chunk) = up.read_response_body().await? {
            down.write_response_body(chunk, false).await?;
        }
        down.finish_body().await?;
        self.connector
            .release_http_session(up, &peer, Some(POOL_IDLE))
            .await;
        Ok(())
    }
}

#[async_trait]
impl HttpServerApp for Forward {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        // `false`: the client closed an idle connection, which is not an error.
        if !session.read_request().await.ok()? {
            return None;
        }
        if let Err(e) = self.forward(&mut session).await {
            eprintln!("bare_server: {e}");
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        let reusable = session.finish().await.ok()??;
        Some(ReusedHttpStream::from_reusable_stream(reusable, settings))
    }
}

fn main() {
    let (mut server, listen, upstream) = baseline::start("bare_server");
    let app = Forward {
        upstream,
        connector: Connector::new(None),
    };
    let mut service = Service::new("bare_server".to_string(), app);
    service.add_tcp(&listen);
    server.add_service(service);
    server.run_forever();
}
