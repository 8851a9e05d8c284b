//! A request to the gateway's own API listener, for work that must travel the whole request
//! path (the semantic cache's embedding call: routed, limited, counted and audited like any
//! other request of the same key). One HTTP/1.1 exchange per call, `Connection: close`.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers longer than this are refused (an embedding is a few tens of KB).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// POST `body` (JSON) to `path` on `addr` with one credential header; the answer's status and
/// body. `Err` for anything that is not a complete HTTP answer within `limit`.
pub async fn post_json(
    addr: SocketAddr,
    path: &str,
    credential: (&str, &str),
    body: &[u8],
    limit: Duration,
) -> Result<(u16, Vec<u8>), String> {
    tokio::time::timeout(limit, exchange(addr, path, credential, body))
        .await
        .map_err(|_| format!("no answer within {} ms", limit.as_millis()))?
}

async fn exchange(
    addr: SocketAddr,
    path: &str,
    (name, value): (&str, &str),
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: tollgate\r\n{name}: {value}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream.write_all(body).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER as u64 + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| e.to_string())?;
    if raw.len() > MAX_ANSWER {
        return Err("answer too large".into());
    }
    parse(&raw)
}

/// Status and body of a complete HTTP/1.1 answer (content-length, chunked, or to the end).
fn parse(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("incomplete answer head".into()),
        Err(e) => return Err(format!("bad answer head: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let rest = raw.get(head_len..).unwrap_or_default();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return dechunk(rest).map(|b| (status, b));
    }
    match header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(n) => rest
            .get(..n)
            .map(|b| (status, b.to_vec()))
            .ok_or_else(|| "answer cut short".to_string()),
        None => Ok((status, rest.to_vec())),
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line cut short")?;
        let size_text = String::from_utf8_lossy(rest.get(..line_end).unwrap_or_default());
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16).map_err(|_| "bad chunk size")?;
        rest = rest.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(rest.get(..size).ok_or("chunk cut short")?);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_a_length_in_chunks_or_to_the_end() {
        let whole = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(parse(whole).unwrap(), (200, b"hello".to_vec()));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        assert_eq!(parse(chunked).unwrap(), (200, b"hello".to_vec()));
        let closed = b"HTTP/1.1 403 Forbidden\r\n\r\nno";
        assert_eq!(parse(closed).unwrap(), (403, b"no".to_vec()));
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nhello").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n").is_err());
        assert!(parse(b"garbage").is_err());
    }
}
