//! Host-name resolution off the worker threads, with a small cache.
//!
//! Pingora's `HttpPeer::new` resolves synchronously (and panics when that fails), so the
//! gateway resolves first, through tokio's resolver (getaddrinfo on the blocking pool), and
//! hands Pingora a socket address. Answers are kept for `TTL`; a failed lookup is not cached.

use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(30);

/// (host, port) to the address found and when.
type Cache = HashMap<(String, u16), (SocketAddr, Instant)>;

static CACHE: Lazy<Mutex<Cache>> = Lazy::new(Default::default);

pub async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let key = (host.to_string(), port);
    if let Ok(cache) = CACHE.lock() {
        if let Some((addr, at)) = cache.get(&key) {
            if at.elapsed() < TTL {
                return Ok(*addr);
            }
        }
    }
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no address for {host}"),
            )
        })?;
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(key, (addr, Instant::now()));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_literals_and_localhost() {
        assert_eq!(
            resolve("127.0.0.1", 80).await.unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(resolve("::1", 80).await.unwrap().port(), 80);
        assert!(resolve("localhost", 8080).await.unwrap().ip().is_loopback());
        assert!(resolve("no-such-host.invalid", 80).await.is_err());
    }
}
