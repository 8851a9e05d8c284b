//! Provider targets as the request path sees them: where they live, which API format they
//! speak, how they authenticate, which URL serves each request. One file per provider family
//! holds the details; `Provider::request_header` is the one dispatch over provider types.

mod anthropic;
mod azure;
mod gemini;
mod openai;

use crate::config::{ProviderType, Timeouts};
use crate::secret::Secret;
use crate::translate::ApiFormat;
use pingora::http::RequestHeader;

/// What a request asks a provider to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A conversation turn: Chat Completions, Messages or generateContent, by provider format.
    Chat,
    Embeddings,
}

/// Where a provider lives: parsed once from `base_url` (or the mock's loopback address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix as written, without a trailing slash; may be empty.
    pub base_path: String,
}

impl Endpoint {
    /// Parse `http(s)://host[:port][/prefix]`.
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
        let base_path = uri.path().trim_end_matches('/').to_string();
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

/// The base URL a provider type uses when the configuration gives none.
pub fn default_base_url(kind: ProviderType) -> Option<&'static str> {
    match kind {
        ProviderType::Openai => Some("https://api.openai.com"),
        ProviderType::Anthropic => Some("https://api.anthropic.com"),
        ProviderType::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderType::Azure | ProviderType::OpenaiCompatible | ProviderType::Mock => None,
    }
}

/// A provider as one configuration snapshot compiled it.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderType,
    pub endpoint: Endpoint,
    pub api_key: Secret,
    /// Azure's `api-version`, Anthropic's `anthropic-version` (defaulted), unused otherwise.
    pub api_version: String,
    pub timeouts: Timeouts,
    /// False when the provider has no key: it is skipped by selection.
    pub enabled: bool,
    /// When its passive health ejects it (`health_check.unhealthy_after`, else the default).
    pub health_policy: crate::routing::health::Policy,
    /// `identity(name, endpoint)`, computed once: selection reads it per target per request.
    pub health_id: String,
}

/// A provider's identity for health: its name and where it lives, so a reload that keeps
/// both keeps its health, and one that moves it starts afresh.
pub fn identity(name: &str, e: &Endpoint) -> String {
    format!("{name}|{}:{}{}", e.host, e.port, e.base_path)
}

impl Provider {
    /// Who this provider is for health (see `identity`).
    pub fn health_id(&self) -> &str {
        &self.health_id
    }

    /// The API format this provider speaks.
    pub fn format(&self) -> ApiFormat {
        match self.kind {
            ProviderType::Openai
            | ProviderType::Azure
            | ProviderType::OpenaiCompatible
            | ProviderType::Mock => ApiFormat::OpenAi,
            ProviderType::Anthropic => ApiFormat::Anthropic,
            ProviderType::Gemini => ApiFormat::Gemini,
        }
    }

    /// Whether this provider serves `op` at all (Anthropic has no embeddings API, and
    /// Gemini's differs in shape; both answer 400 through the caller).
    pub fn supports(&self, op: Operation) -> bool {
        match op {
            Operation::Chat => true,
            Operation::Embeddings => self.format() == ApiFormat::OpenAi,
        }
    }

    /// The request header for `op` on `upstream_model`, with this provider's path, Host and
    /// credentials. The client's own headers are not copied: nothing of the client's key
    /// can travel upstream. The one exception is `anthropic_beta` (the client's normalised
    /// `anthropic-beta`), sent on to Anthropic-type providers and dropped for the others,
    /// where no beta of Anthropic's means anything.
    pub fn request_header(
        &self,
        op: Operation,
        upstream_model: &str,
        stream: bool,
        body_len: usize,
        request_id: &str,
        anthropic_beta: Option<&str>,
    ) -> pingora::Result<RequestHeader> {
        let path = match self.kind {
            ProviderType::Openai | ProviderType::OpenaiCompatible | ProviderType::Mock => {
                openai::path(&self.endpoint, op)
            }
            ProviderType::Azure => {
                azure::path(&self.endpoint, op, upstream_model, &self.api_version)
            }
            ProviderType::Anthropic => anthropic::path(&self.endpoint),
            ProviderType::Gemini => gemini::path(&self.endpoint, upstream_model, stream),
        };
        // No case map (see `proxy::respond::header`): the names below are lowercase, and the
        // client session keeps this head until the answer ends.
        let mut req = RequestHeader::build_no_case("POST", path.as_bytes(), Some(9))?;
        req.insert_header(http::header::HOST, self.endpoint.host_header())?;
        req.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        req.insert_header(http::header::CONTENT_LENGTH, body_len.to_string())?;
        req.insert_header(
            http::header::USER_AGENT,
            concat!("tollgate/", env!("CARGO_PKG_VERSION")),
        )?;
        req.insert_header("x-request-id", request_id)?;
        // Answers are read (usage, translation) and passed on as they are: no compression.
        req.insert_header(http::header::ACCEPT_ENCODING, "identity")?;
        self.authorize(&mut req)?;
        if let (ProviderType::Anthropic, Some(betas)) = (self.kind, anthropic_beta) {
            req.insert_header("anthropic-beta", betas)?;
        }
        Ok(req)
    }

    /// The provider's credentials, in its type's header.
    fn authorize(&self, req: &mut RequestHeader) -> pingora::Result<()> {
        match self.kind {
            ProviderType::Openai | ProviderType::OpenaiCompatible | ProviderType::Mock => {
                openai::authorize(req, &self.api_key)
            }
            ProviderType::Azure => azure::authorize(req, &self.api_key),
            ProviderType::Anthropic => anthropic::authorize(req, &self.api_key, &self.api_version),
            ProviderType::Gemini => gemini::authorize(req, &self.api_key),
        }
    }

    /// The active health check's request: `GET path` with Host and credentials.
    pub fn health_request(&self, path: &str) -> pingora::Result<RequestHeader> {
        let mut req = RequestHeader::build_no_case("GET", path.as_bytes(), Some(4))?;
        req.insert_header(http::header::HOST, self.endpoint.host_header())?;
        req.insert_header(
            http::header::USER_AGENT,
            concat!("tollgate/", env!("CARGO_PKG_VERSION"), " health-check"),
        )?;
        self.authorize(&mut req)?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests;
