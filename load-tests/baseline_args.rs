//! The command line both framework baselines (`bare_pingora.rs`, `bare_server.rs`) share.

use std::net::SocketAddr;

/// `--listen ADDR --upstream ADDR [--threads N]`; a usage line and exit status 2 otherwise.
pub fn parse_args() -> Result<(String, SocketAddr, usize), String> {
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
