//! The framework baseline of the load tests: Pingora 0.9's stock reverse proxy, nothing else.
//!
//! `load-tests/run.sh` and `load-tests/streams.py` run it beside nginx and Tollgate so that the
//! table shows how much of the distance to nginx is Pingora's and how much is Tollgate's own
//! work. It forwards every request unchanged to one upstream over Pingora's connection pool,
//! with Pingora's default server settings apart from the worker threads, and the same allocator
//! as Tollgate (so the allocator is not part of the difference).
//!
//!     cargo build --release --example bare_pingora
//!     target/release/examples/bare_pingora --listen 127.0.0.1:8081 --upstream 127.0.0.1:9000 --threads 2

use async_trait::async_trait;
use pingora::prelude::{HttpPeer, Result, Session};
use pingora_proxy::{http_proxy_service, ProxyHttp};
use std::net::SocketAddr;

#[path = "baseline.rs"]
mod baseline;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    let (mut server, listen, upstream) = baseline::start("bare_pingora");
    let mut proxy = http_proxy_service(&server.configuration, Bare { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever();
}
