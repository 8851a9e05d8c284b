//! What both framework baselines (`bare_pingora.rs`, `bare_server.rs`) share: their command
//! line and their server settings, so that the two differ only in the service they run.

use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use std::net::SocketAddr;

/// Parse `--listen ADDR --upstream ADDR [--threads N]` (exit status 2 with a usage line
/// otherwise) and bootstrap a server with Pingora's default settings but the worker threads,
/// stopping at once on SIGTERM. Returns it with the address to listen on and the upstream.
pub fn start(name: &str) -> (Server, String, SocketAddr) {
    let (listen, upstream, threads) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{name}: {e}\nusage: {name} --listen ADDR --upstream ADDR [--threads N]");
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
    (server, listen, upstream)
}

/// `--listen ADDR --upstream ADDR [--threads N]`, or what is wrong with the command line.
fn parse_args() -> Result<(String, SocketAddr, usize), String> {
    let mut listen = None;
    let mut upstream = None;
    let mut threads = 2;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--upstream" => {
                upstream = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--upstream {value}: {e}"))?,
                )
            }
            "--threads" => {
                threads = value
                    .parse()
                    .map_err(|e| format!("--threads {value}: {e}"))?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    match (listen, upstream) {
        (Some(l), Some(u)) => Ok((l, u, threads)),
        _ => Err("--listen and --upstream are required".to_string()),
    }
}
