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
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora_proxy::{http_proxy_service, ProxyHttp};
use std::net::SocketAddr;

#[path = "baseline_args.rs"]
mod baseline_args;

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
    let (listen, upstream, threads) = match baseline_args::parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bare_pingora: {e}\nusage: bare_pingora --listen ADDR --upstream ADDR [--threads N]");
            std::process::exit(2);
        }
    };
    let conf = ServerConf {
        threads,
        // Stop at once on SIGTERM: the load scripts stop their processes and wait for them.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, Bare { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever();
}
