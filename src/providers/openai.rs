//! OpenAI and OpenAI-compatible servers (vLLM, Ollama, Groq, Mistral, DeepSeek, OpenRouter,
//! Together) and the built-in mock, which speaks the same dialect: paths and bearer auth.

use super::{Endpoint, Operation};
use crate::secret::Secret;
use pingora::http::RequestHeader;

/// `{prefix}/chat/completions` or `{prefix}/embeddings`. A base URL with no path gets `/v1`,
/// the version segment every OpenAI-format API uses, so `https://api.openai.com` and
/// `https://api.groq.com/openai/v1` both work as their providers document them.
pub fn path(endpoint: &Endpoint, op: Operation) -> String {
    let prefix = if endpoint.base_path.is_empty() {
        "/v1"
    } else {
        endpoint.base_path.as_str()
    };
    let suffix = match op {
        Operation::Chat => "/chat/completions",
        Operation::Embeddings => "/embeddings",
    };
    format!("{prefix}{suffix}")
}

/// `Authorization: Bearer <provider key>`; no header at all when the key is empty (the mock).
pub fn authorize(req: &mut RequestHeader, key: &Secret) -> pingora::Result<()> {
    if !key.is_empty() {
        req.insert_header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", key.expose()),
        )?;
    }
    Ok(())
}
