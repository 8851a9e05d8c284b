//! The errors a client can receive, each knowing its HTTP status, its API error code, its
//! OpenAI error type and a low-cardinality label for metrics. Rendering into the client's
//! API shape happens here and nowhere else.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidApiKey(String),
    #[error("the key may not use model {0:?}")]
    ModelNotAllowed(String),
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
    #[error("no healthy provider for model {0:?}")]
    NoHealthyProvider(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::InvalidRequest(_) => 400,
            GatewayError::InvalidApiKey(_) => 401,
            GatewayError::ModelNotAllowed(_) => 403,
            GatewayError::ModelNotFound(_) | GatewayError::RouteNotFound(_) => 404,
            GatewayError::MethodNotAllowed(_) => 405,
            GatewayError::RequestTooLarge(_) => 413,
            GatewayError::Upstream(_) => 502,
            GatewayError::NoHealthyProvider(_) => 503,
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
            GatewayError::ModelNotFound(_) => "model_not_found",
            GatewayError::RouteNotFound(_) => "not_found",
            GatewayError::MethodNotAllowed(_) => "method_not_allowed",
            GatewayError::RequestTooLarge(_) => "request_too_large",
            GatewayError::Upstream(_) => "upstream_error",
            GatewayError::NoHealthyProvider(_) => "no_healthy_provider",
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
            413 | 400 | 405 => "invalid_request_error",
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

    /// Whether another provider target may succeed where this attempt failed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Upstream(_) | GatewayError::UpstreamTimeout(_)
        )
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
}
