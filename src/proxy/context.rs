//! The per-request context: what one request has learned so far, split by stage, so each
//! later capability adds a field to the stage that owns it rather than to one flat struct.

use crate::auth::VirtualKey;
use crate::lifecycle::InFlight;
use crate::snapshot::Snapshot;
use crate::translate::ApiFormat;
use std::sync::Arc;
use std::time::Instant;

/// The API routes the gateway serves; a closed set, matched exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    ChatCompletions,
    /// Anthropic Messages.
    Messages,
    Embeddings,
    Models,
    /// Any other path: answered 404 (or 405) in the OpenAI shape.
    Unknown,
}

impl Route {
    pub fn label(self) -> &'static str {
        match self {
            Route::ChatCompletions => "chat_completions",
            Route::Messages => "messages",
            Route::Embeddings => "embeddings",
            Route::Models => "models",
            Route::Unknown => "unknown",
        }
    }

    /// The API dialect of the route's clients: their requests, answers and errors.
    pub fn format(self) -> ApiFormat {
        match self {
            Route::Messages => ApiFormat::Anthropic,
            Route::ChatCompletions | Route::Embeddings | Route::Models | Route::Unknown => {
                ApiFormat::OpenAi
            }
        }
    }
}

pub struct RequestCtx {
    pub started: Instant,
    pub request_id: String,
    /// The configuration this request runs on, from its first phase to `logging`.
    pub snapshot: Option<Arc<Snapshot>>,
    pub admission: Admission,
    pub upstream: UpstreamOutcome,
    pub accounting: super::settle::Accounting,
    /// What the request reserved against limits and budgets, until it is settled.
    pub quota: super::quota::Quota,
    pub cache: super::cached::CacheState,
    pub redaction: super::screen::Redaction,
    /// With `audit.include_bodies`: the request as forwarded (after redaction).
    pub audit_request: Option<bytes::Bytes>,
    _in_flight: InFlight,
}

/// Who asked for what: filled by the admission stage.
#[derive(Default)]
pub struct Admission {
    pub route: Option<Route>,
    pub key: Option<Arc<VirtualKey>>,
    /// The configured model name (never a raw client string: it labels metrics).
    pub model: Option<String>,
    pub stream: bool,
}

/// What the exchange with providers did: filled by selection and the answer stages.
#[derive(Default)]
pub struct UpstreamOutcome {
    pub attempts: u32,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    /// The stable code of the error the client received, if any.
    pub error_code: Option<&'static str>,
    /// The client went away before its answer was complete.
    pub client_gone: bool,
    /// Time spent waiting on providers (connecting, for the head, between body chunks):
    /// the request's total minus this is the gateway's own time.
    pub waited: std::time::Duration,
    /// When the first byte of the answer's body went to the client.
    pub first_byte_at: Option<Instant>,
    /// A complete whole answer as the client received it, kept for the cache or the audit log.
    pub answer: Option<bytes::Bytes>,
}

impl RequestCtx {
    /// Whether a whole answer is kept once sent (to be cached, or audited with its body).
    pub fn keeps_answer(&self) -> bool {
        self.cache.wants_answer() || self.audit_request.is_some()
    }

    pub fn new(request_id: String) -> Self {
        RequestCtx {
            started: Instant::now(),
            request_id,
            snapshot: None,
            admission: Admission::default(),
            upstream: UpstreamOutcome::default(),
            accounting: Default::default(),
            quota: Default::default(),
            cache: Default::default(),
            redaction: Default::default(),
            audit_request: None,
            _in_flight: InFlight::enter(),
        }
    }
}
