//! Translation between API formats, as pure functions and stream state machines: no I/O.
//!
//! OpenAI Chat Completions is the hub. Each other format has translators to and from it
//! (`anthropic`, `gemini`); a pair without a direct translator composes through the hub
//! (an Anthropic client on a Gemini provider: Anthropic -> OpenAI -> Gemini, and back).
//! Requests and whole answers are `serde_json::Value` objects; streams are fed one decoded
//! SSE event at a time and emit zero or more events of the other format.

pub mod anthropic;
pub mod dispatch;
pub mod gemini;

use crate::sse::SseEvent;

/// The API dialects the gateway speaks, with clients or with providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFormat {
    /// OpenAI Chat Completions (also Azure OpenAI and OpenAI-compatible servers).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The client's request cannot be expressed for this provider (a 400 for the client).
    #[error("{0}")]
    Invalid(String),
    /// The provider's answer is not what its format promises (a 502 for the client).
    #[error("malformed answer from the provider: {0}")]
    Upstream(String),
}

/// A stream translator: fed the provider's events in order, it emits the client's events.
///
/// Contract:
/// - `on_event` may emit nothing (an event with no counterpart, such as Anthropic's `ping`
///   towards an OpenAI client), one event, or several.
/// - `finish` is called once when the provider's stream ended cleanly; it emits whatever
///   closes the client's stream (OpenAI's `[DONE]`, Anthropic's `message_stop`) unless it
///   was already emitted. It is not called when the stream broke: the caller then emits the
///   client format's error event itself.
/// - An `Err` means the provider's stream is malformed; the caller ends the client's stream
///   with an error event.
pub trait StreamTranslator: Send {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<SseEvent>)
        -> Result<(), TranslateError>;
    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), TranslateError>;
}

/// Two translators in sequence: every event the first emits is fed to the second.
pub struct Chain<A, B> {
    pub first: A,
    pub second: B,
    scratch: Vec<SseEvent>,
}

impl<A: StreamTranslator, B: StreamTranslator> Chain<A, B> {
    pub fn new(first: A, second: B) -> Self {
        Chain {
            first,
            second,
            scratch: Vec::new(),
        }
    }
}

impl<A: StreamTranslator, B: StreamTranslator> StreamTranslator for Chain<A, B> {
    fn on_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), TranslateError> {
        self.scratch.clear();
        self.first.on_event(event, &mut self.scratch)?;
        for e in &self.scratch {
            self.second.on_event(e, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        self.scratch.clear();
        self.first.finish(&mut self.scratch)?;
        for e in &self.scratch {
            self.second.on_event(e, out)?;
        }
        self.second.finish(out)
    }
}

/// One OpenAI `chat.completion.chunk` with a single choice.
pub fn openai_chunk(
    id: &str,
    created: u64,
    model: &str,
    delta: serde_json::Value,
    finish_reason: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    })
}

/// The end of an OpenAI stream: the usage chunk (`choices: []`) when the client asked for
/// usage, then `data: [DONE]`.
pub fn openai_stream_end(
    id: &str,
    created: u64,
    model: &str,
    usage: Option<serde_json::Value>,
    out: &mut Vec<SseEvent>,
) {
    if let Some(usage) = usage {
        let chunk = serde_json::json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        });
        out.push(SseEvent::data(chunk.to_string()));
    }
    out.push(SseEvent::data("[DONE]"));
}

/// Text of an OpenAI message `content`: a string, or the `text` parts of an array joined.
pub fn openai_content_text(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(serde_json::Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}
