//! Anthropic: the Messages API at `/v1/messages`, the key in `x-api-key` and the API version
//! in `anthropic-version` (`api_version` in the configuration; 2023-06-01 when empty).

use super::Endpoint;
use crate::secret::Secret;
use pingora::http::RequestHeader;

pub const DEFAULT_VERSION: &str = "2023-06-01";

pub fn path(endpoint: &Endpoint) -> String {
    format!("{}/v1/messages", endpoint.base_path)
}

pub fn authorize(req: &mut RequestHeader, key: &Secret, version: &str) -> pingora::Result<()> {
    req.insert_header("x-api-key", key.expose())?;
    let version = if version.is_empty() {
        DEFAULT_VERSION
    } else {
        version
    };
    req.insert_header("anthropic-version", version)
}
