//! Azure OpenAI: the OpenAI format at deployment URLs, with `api-version` in the query and
//! the key in an `api-key` header. The target's `model` is the deployment name.

use super::{Endpoint, Operation};
use crate::secret::Secret;
use pingora::http::RequestHeader;

/// `{base}/openai/deployments/{deployment}/chat/completions?api-version={version}`.
pub fn path(endpoint: &Endpoint, op: Operation, deployment: &str, api_version: &str) -> String {
    let suffix = match op {
        Operation::Chat => "chat/completions",
        Operation::Embeddings => "embeddings",
    };
    format!(
        "{}/openai/deployments/{}/{suffix}?api-version={}",
        endpoint.base_path,
        encode_segment(deployment),
        encode_segment(api_version)
    )
}

pub fn authorize(req: &mut RequestHeader, key: &Secret) -> pingora::Result<()> {
    req.insert_header("api-key", key.expose())
}

/// Percent-encode what may not appear raw in a path segment or query value.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
