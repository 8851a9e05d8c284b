//! The one place that knows which translator serves a (client format, provider format) pair.
//! Same format: nothing to translate (`None`). OpenAI is the hub; Anthropic clients on Gemini
//! providers go through it both ways.

use super::{anthropic, gemini, ApiFormat, Chain, StreamTranslator, TranslateError};
use serde_json::Value;

/// The request body for a provider of format `provider`, from a client request in `client`
/// format; `None` when the client's own body fits as it is.
pub fn request(
    client: ApiFormat,
    provider: ApiFormat,
    req: &Value,
    upstream_model: &str,
) -> Result<Option<Value>, TranslateError> {
    use ApiFormat::*;
    Ok(match (client, provider) {
        (OpenAi, OpenAi) | (Anthropic, Anthropic) => None,
        (OpenAi, Anthropic) => Some(anthropic::request_from_openai(req, upstream_model)?),
        (OpenAi, Gemini) => Some(gemini::request_from_openai(req)?),
        (Anthropic, OpenAi) => Some(anthropic::request_to_openai(req, upstream_model)?),
        (Anthropic, Gemini) => Some(gemini::request_from_openai(&anthropic::request_to_openai(
            req,
            upstream_model,
        )?)?),
        (Gemini, _) => {
            return Err(TranslateError::Invalid(
                "Gemini is not a client API of this gateway".into(),
            ))
        }
    })
}

/// A whole answer in the client's format; `None` when the provider's bytes fit as they are.
pub fn response(
    client: ApiFormat,
    provider: ApiFormat,
    resp: &Value,
    model: &str,
) -> Result<Option<Value>, TranslateError> {
    use ApiFormat::*;
    Ok(match (client, provider) {
        (OpenAi, OpenAi) | (Anthropic, Anthropic) => None,
        (OpenAi, Anthropic) => Some(anthropic::response_to_openai(resp, model)?),
        (OpenAi, Gemini) => Some(gemini::response_to_openai(resp, model)?),
        (Anthropic, OpenAi) => Some(anthropic::response_from_openai(resp, model)?),
        (Anthropic, Gemini) => Some(anthropic::response_from_openai(
            &gemini::response_to_openai(resp, model)?,
            model,
        )?),
        (Gemini, _) => {
            return Err(TranslateError::Invalid(
                "Gemini is not a client API of this gateway".into(),
            ))
        }
    })
}

/// The stream translator for the pair; `None` when the provider's events pass through.
/// `include_usage`: the OpenAI client asked for the final usage chunk.
pub fn stream(
    client: ApiFormat,
    provider: ApiFormat,
    model: &str,
    include_usage: bool,
) -> Option<Box<dyn StreamTranslator>> {
    use ApiFormat::*;
    match (client, provider) {
        (OpenAi, OpenAi) | (Anthropic, Anthropic) | (Gemini, _) => None,
        (OpenAi, Anthropic) => Some(Box::new(anthropic::StreamToOpenAi::new(
            model,
            include_usage,
        ))),
        (OpenAi, Gemini) => Some(Box::new(gemini::StreamToOpenAi::new(model, include_usage))),
        (Anthropic, OpenAi) => Some(Box::new(anthropic::StreamFromOpenAi::new(model))),
        (Anthropic, Gemini) => Some(Box::new(Chain::new(
            gemini::StreamToOpenAi::new(model, true),
            anthropic::StreamFromOpenAi::new(model),
        ))),
    }
}
