//! Provider targets as the request path sees them: where they live, how they authenticate,
//! which path serves each operation. One file per provider family holds the details.

mod openai;

use crate::config::{ProviderType, Timeouts};
use crate::secret::Secret;
use pingora::http::RequestHeader;

/// What a request asks a provider to do; decides the upstream path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ChatCompletions,
    Embeddings,
}

/// Where a provider lives: parsed once from `base_url` (or the mock's loopback address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash, e.g. `/v1` or `/openai/v1`.
    pub base_path: String,
}

impl Endpoint {
    /// Parse `http(s)://host[:port][/prefix]`. A URL with no path gets `/v1`, the version
    /// segment every OpenAI-format API uses, so `https://api.openai.com` and
    /// `https://api.groq.com/openai/v1` both work as written in their providers' docs.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{url:?} must start with http:// or https://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "{url:?}: credentials in the URL are not supported; use api_key"
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        if uri.query().is_some() {
            return Err(format!(
                "{url:?}: a query string is not supported in base_url"
            ));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path().trim_end_matches('/');
        let base_path = if path.is_empty() {
            "/v1".to_string()
        } else {
            path.to_string()
        };
        Ok(Endpoint {
            tls,
            host,
            port,
            base_path,
        })
    }

    /// The Host header: the port appears only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A provider as one configuration snapshot compiled it.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderType,
    pub endpoint: Endpoint,
    pub api_key: Secret,
    pub timeouts: Timeouts,
    /// False when the provider has no key: it is skipped by selection.
    pub enabled: bool,
}

impl Provider {
    /// The request header for `op`, with this provider's path, Host and credentials. The
    /// client's own headers are not copied: nothing of the client's key can travel upstream.
    pub fn request_header(
        &self,
        op: Operation,
        body_len: usize,
        request_id: &str,
    ) -> pingora::Result<RequestHeader> {
        let path = match self.kind {
            ProviderType::Openai | ProviderType::OpenaiCompatible | ProviderType::Mock => {
                openai::path(&self.endpoint, op)
            }
            // Validation refuses the other types until their translators land.
            ProviderType::Azure | ProviderType::Anthropic | ProviderType::Gemini => {
                return Err(pingora::Error::explain(
                    pingora::ErrorType::InternalError,
                    "provider type not supported",
                ));
            }
        };
        let mut req = RequestHeader::build("POST", path.as_bytes(), Some(8))?;
        req.insert_header(http::header::HOST, self.endpoint.host_header())?;
        req.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        req.insert_header(http::header::CONTENT_LENGTH, body_len.to_string())?;
        req.insert_header(
            http::header::USER_AGENT,
            concat!("tollgate/", env!("CARGO_PKG_VERSION")),
        )?;
        req.insert_header("x-request-id", request_id)?;
        openai::authorize(&mut req, &self.api_key)?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse_with_default_version_path() {
        let e = Endpoint::parse("https://api.openai.com").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.base_path.as_str()),
            (true, "api.openai.com", 443, "/v1")
        );
        assert_eq!(e.host_header(), "api.openai.com");
        let e = Endpoint::parse("http://127.0.0.1:11434/v1/").unwrap();
        assert_eq!((e.tls, e.port, e.base_path.as_str()), (false, 11434, "/v1"));
        assert_eq!(e.host_header(), "127.0.0.1:11434");
        let e = Endpoint::parse("https://api.groq.com/openai/v1").unwrap();
        assert_eq!(e.base_path, "/openai/v1");
        let e = Endpoint::parse("http://[::1]:8000").unwrap();
        assert_eq!(
            (e.host.as_str(), e.host_header().as_str()),
            ("::1", "[::1]:8000")
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("api.openai.com").is_err());
        assert!(Endpoint::parse("https://u:p@x.com").is_err());
    }

    #[test]
    fn request_header_carries_provider_key_and_path() {
        let p = Provider {
            name: "o".into(),
            kind: ProviderType::Openai,
            endpoint: Endpoint::parse("https://api.openai.com").unwrap(),
            api_key: Secret::new("sk-real"),
            timeouts: Timeouts::default(),
            enabled: true,
        };
        let req = p
            .request_header(Operation::ChatCompletions, 12, "rid")
            .unwrap();
        assert_eq!(req.uri.path(), "/v1/chat/completions");
        assert_eq!(req.headers.get("authorization").unwrap(), "Bearer sk-real");
        assert_eq!(req.headers.get("host").unwrap(), "api.openai.com");
        assert_eq!(req.headers.get("content-length").unwrap(), "12");
    }
}
