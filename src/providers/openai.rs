//! OpenAI and OpenAI-compatible servers (vLLM, Ollama, Groq, Mistral, DeepSeek, OpenRouter,
//! Together) and the built-in mock, which speaks the same dialect: paths and bearer auth.

use super::{Endpoint, Operation};
use crate::secret::Secret;
use pingora::http::RequestHeader;

pub fn path(endpoint: &Endpoint, op: Operation) -> String {
    let suffix = match op {
        Operation::ChatCompletions => "/chat/completions",
        Operation::Embeddings => "/embeddings",
    };
    format!("{}{suffix}", endpoint.base_path)
}

/// `Authorization: Bearer <provider key>`; no header at all when the key is empty (a local
/// server or the mock that needs none).
pub fn authorize(req: &mut RequestHeader, key: &Secret) -> pingora::Result<()> {
    if !key.is_empty() {
        req.insert_header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", key.expose()),
        )?;
    }
    Ok(())
}
