//! The errors a client can receive, each knowing its HTTP status, its API error code, its
//! OpenAI error type and a low-cardinality label for metrics. Rendering into the client's
//! API shape happens here and nowhere else.

use crate::translate::ApiFormat;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidApiKey(String),
    #[error("the key may not use model {0:?}")]
    ModelNotAllowed(String),
    /// Redaction (`block`) or a guardrail refused the request's content.
    #[error("{0}")]
    ContentBlocked(String),
    #[error("model {0:?} does not exist")]
    ModelNotFound(String),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("request body is larger than {0} bytes")]
    RequestTooLarge(usize),
    #[error("{0}")]
    Upstream(String),
    /// A provider's own error answer (400, 404, 429, 5xx), status kept, message passed on.
    #[error("{message}")]
    Provider { status: u16, message: String },
    #[error("no healthy provider for model {0:?}")]
    NoHealthyProvider(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    /// A rate limit (`rpm`, `tpm`, `max_concurrent`) of the key or its team refused it.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_s: Option<u64>,
    },
    /// The request's worst-case cost does not fit the key's or its team's budget.
    #[error("{message}")]
    BudgetExceeded {
        message: String,
        retry_after_s: Option<u64>,
    },
    /// The state backend (limits, budgets) is unreachable and `state.on_error: fail_closed`.
    #[error("{0}")]
    StateUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::InvalidRequest(_) => 400,
            GatewayError::InvalidApiKey(_) => 401,
            GatewayError::ModelNotAllowed(_) | GatewayError::ContentBlocked(_) => 403,
            GatewayError::ModelNotFound(_) | GatewayError::RouteNotFound(_) => 404,
            GatewayError::MethodNotAllowed(_) => 405,
            GatewayError::RequestTooLarge(_) => 413,
            GatewayError::Upstream(_) => 502,
            GatewayError::Provider { status, .. } => *status,
            GatewayError::RateLimited { .. } | GatewayError::BudgetExceeded { .. } => 429,
            GatewayError::NoHealthyProvider(_) | GatewayError::StateUnavailable(_) => 503,
            GatewayError::UpstreamTimeout(_) => 504,
            GatewayError::Internal(_) => 500,
        }
    }

    /// The `code` of the interface doc's error table; also the metric label.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::InvalidRequest(_) => "invalid_request",
            GatewayError::InvalidApiKey(_) => "invalid_api_key",
            GatewayError::ModelNotAllowed(_) => "model_not_allowed",
            GatewayError::ContentBlocked(_) => "content_blocked",
            GatewayError::ModelNotFound(_) => "model_not_found",
            GatewayError::RouteNotFound(_) => "not_found",
            GatewayError::MethodNotAllowed(_) => "method_not_allowed",
            GatewayError::RequestTooLarge(_) => "request_too_large",
            GatewayError::Upstream(_) => "upstream_error",
            GatewayError::Provider { status, .. } => match status {
                400 | 422 => "invalid_request",
                404 => "not_found",
                413 => "request_too_large",
                429 => "rate_limit_exceeded",
                _ => "upstream_error",
            },
            GatewayError::RateLimited { .. } => "rate_limit_exceeded",
            GatewayError::BudgetExceeded { .. } => "budget_exceeded",
            GatewayError::NoHealthyProvider(_) => "no_healthy_provider",
            GatewayError::StateUnavailable(_) => "state_unavailable",
            GatewayError::UpstreamTimeout(_) => "upstream_timeout",
            GatewayError::Internal(_) => "internal_error",
        }
    }

    /// OpenAI's `error.type`, which SDKs map to exception classes.
    fn openai_type(&self) -> &'static str {
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 | 400 | 405 | 422 => "invalid_request_error",
            429 => "rate_limit_error",
            _ => "api_error",
        }
    }

    /// The request field an error is about, where there is one.
    fn param(&self) -> Option<&'static str> {
        match self {
            GatewayError::ModelNotAllowed(_) | GatewayError::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    /// Seconds the client should wait before retrying (`retry-after`), where known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after_s, .. }
            | GatewayError::BudgetExceeded { retry_after_s, .. } => *retry_after_s,
            GatewayError::StateUnavailable(_) => Some(1),
            _ => None,
        }
    }

    /// Whether another provider target may succeed where this attempt failed.
    pub fn retryable(&self) -> bool {
        match self {
            GatewayError::Upstream(_) | GatewayError::UpstreamTimeout(_) => true,
            GatewayError::Provider { status, .. } => {
                matches!(status, 429 | 500 | 502 | 503 | 504 | 529)
            }
            _ => false,
        }
    }

    /// Anthropic's `error.type` for this status.
    fn anthropic_type(&self) -> &'static str {
        match self.status() {
            400 | 405 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// The error body in the client's API shape.
    pub fn body(&self, format: ApiFormat) -> Bytes {
        match format {
            ApiFormat::Anthropic => self.anthropic_body(),
            ApiFormat::OpenAi | ApiFormat::Gemini => self.openai_body(),
        }
    }

    /// `{"type":"error","error":{"type","message"}}`, the Anthropic error shape.
    pub fn anthropic_body(&self) -> Bytes {
        let body = serde_json::json!({
            "type": "error",
            "error": { "type": self.anthropic_type(), "message": self.to_string() }
        });
        Bytes::from(body.to_string())
    }

    /// The last event of a stream that broke after it started, in the client's format:
    /// `data: {"error":{...}}` (OpenAI) or `event: error` (Anthropic). Never followed by
    /// `[DONE]` or `message_stop`, so a client can tell it from a complete answer.
    pub fn sse_event(&self, format: ApiFormat) -> Bytes {
        let (name, body) = match format {
            ApiFormat::Anthropic => (Some("error".to_string()), self.anthropic_body()),
            ApiFormat::OpenAi | ApiFormat::Gemini => (None, self.openai_body()),
        };
        let event = crate::sse::SseEvent {
            event: name,
            data: String::from_utf8_lossy(&body).into_owned(),
        };
        let mut out = Vec::with_capacity(body.len() + 24);
        crate::sse::encode(&event, &mut out);
        Bytes::from(out)
    }

    /// A provider's error answer as the client should see it: its status and message kept,
    /// except that a provider refusing *our* credentials (401, 403) is the gateway's fault,
    /// not the client's, and becomes a 502.
    pub fn from_provider(provider: &str, status: u16, body: &[u8]) -> GatewayError {
        match status {
            401 | 403 => GatewayError::Upstream(format!(
                "provider {provider} rejected the gateway's credentials ({status})"
            )),
            400..=599 => GatewayError::Provider {
                status,
                message: provider_message(body)
                    .unwrap_or_else(|| format!("provider {provider} answered {status}")),
            },
            _ => GatewayError::Upstream(format!("provider {provider} answered {status}")),
        }
    }

    /// `{"error":{"message","type","code","param"}}`, the OpenAI error shape.
    pub fn openai_body(&self) -> Bytes {
        let body = serde_json::json!({
            "error": {
                "message": self.to_string(),
                "type": self.openai_type(),
                "code": self.code(),
                "param": self.param(),
            }
        });
        Bytes::from(body.to_string())
    }
}

/// The message of an error body in OpenAI, Anthropic or Gemini shape: all three keep it at
/// `error.message`.
fn provider_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.pointer("/error/message")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_in_the_openai_shape() {
        let e = GatewayError::ModelNotFound("nope".into());
        let v: serde_json::Value = serde_json::from_slice(&e.openai_body()).unwrap();
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "not_found_error");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(e.status(), 404);
        assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
    }

    #[test]
    fn errors_render_in_the_anthropic_shape_and_as_stream_events() {
        let e = GatewayError::InvalidApiKey("bad key".into());
        let v: serde_json::Value = serde_json::from_slice(&e.body(ApiFormat::Anthropic)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"error","error":{"type":"authentication_error","message":"bad key"}})
        );
        let ev = GatewayError::Upstream("broke".into()).sse_event(ApiFormat::Anthropic);
        assert!(ev.starts_with(b"event: error\ndata: {"));
        let ev = GatewayError::Upstream("broke".into()).sse_event(ApiFormat::OpenAi);
        assert!(ev.starts_with(b"data: {\"error\":"));
    }

    #[test]
    fn provider_errors_keep_their_meaning_except_credentials() {
        let anthropic = br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#;
        let e = GatewayError::from_provider("a", 400, anthropic);
        assert_eq!(
            (e.status(), e.code(), e.to_string().as_str()),
            (400, "invalid_request", "max_tokens: too big")
        );
        let e =
            GatewayError::from_provider("a", 401, br#"{"error":{"message":"invalid x-api-key"}}"#);
        assert_eq!((e.status(), e.code()), (502, "upstream_error"));
        assert!(!e.to_string().contains("x-api-key"));
        let e = GatewayError::from_provider(
            "g",
            429,
            br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#,
        );
        assert_eq!(
            (e.status(), e.code(), e.retryable()),
            (429, "rate_limit_exceeded", true)
        );
        assert_eq!(
            GatewayError::from_provider("o", 503, b"not json").to_string(),
            "provider o answered 503"
        );
    }
}
