//! [`StreamUsage`]: follows one provider stream event by event, in the provider's format,
//! recording the usage it reports and keeping the answer text it delivers for an estimate.
//!
//! Cost per event: one targeted serde parse of the events that can carry usage or text
//! (borrowing strings when they have no escapes), and an append of the delivered text.
//! Nothing is tokenized while the stream runs; [`StreamUsage::estimate_output`] counts the
//! kept text once, when asked, and only the text appended since on a later call.

use std::borrow::Cow;

use serde::Deserialize;

use super::extract::{AnthropicCounts, GeminiCounts, OpenAiCounts};
use super::tokenizer::{bytes_estimate, Encoding};
use super::Usage;
use crate::sse::template::OpenAiTemplate;
use crate::sse::view::{self, AnthropicEvent, Reading};
use crate::sse::SseEvent;
use crate::translate::ApiFormat;

/// Delivered text kept for the estimate; anything beyond counts as `bytes / 4`.
pub(crate) const MAX_TEXT_BYTES: usize = 2 * 1024 * 1024;

/// The provider's raw counts, merged field by field in its own terms.
#[derive(Debug, Clone, Copy)]
enum Counts {
    OpenAi(OpenAiCounts),
    Anthropic(AnthropicCounts),
    Gemini(GeminiCounts),
}

impl Counts {
    fn usage(&self) -> Usage {
        match self {
            Counts::OpenAi(c) => c.usage(),
            Counts::Anthropic(c) => c.usage(),
            Counts::Gemini(c) => c.usage(),
        }
    }
}

/// How much of the kept text is already counted, and with which encoding.
#[derive(Debug, Clone, Copy, Default)]
struct Counted {
    encoding: Option<Encoding>,
    bytes: usize,
    tokens: u64,
}

/// Follows one provider stream, event by event, in the provider's format.
#[derive(Debug, Clone)]
pub struct StreamUsage {
    counts: Counts,
    reported: bool,
    text: String,
    overflow_bytes: u64,
    counted: Counted,
    tokenized_bytes: u64,
    /// OpenAI: the stream's chunk template, which spares most chunks a full reading.
    chunks: OpenAiTemplate,
}

// --- OpenAI chat.completion.chunk: only the fields read here.

#[derive(Deserialize)]
struct OpenAiChunk<'a> {
    #[serde(borrow)]
    choices: Option<Vec<OpenAiChoice<'a>>>,
    usage: Option<OpenAiCounts>,
}

#[derive(Deserialize)]
struct OpenAiChoice<'a> {
    #[serde(borrow)]
    delta: Option<OpenAiDelta<'a>>,
}

#[derive(Deserialize)]
struct OpenAiDelta<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tool_calls: Option<Vec<OpenAiToolCall<'a>>>,
}

#[derive(Deserialize)]
struct OpenAiToolCall<'a> {
    #[serde(borrow)]
    function: Option<OpenAiFunction<'a>>,
}

#[derive(Deserialize)]
struct OpenAiFunction<'a> {
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
}

// --- Anthropic events.

#[derive(Deserialize)]
struct AnthropicMessageStart {
    message: Option<AnthropicMessage>,
}

#[derive(Deserialize)]
struct AnthropicMessage {
    usage: Option<AnthropicCounts>,
}

#[derive(Deserialize)]
struct AnthropicBlockDelta<'a> {
    #[serde(borrow)]
    delta: Option<AnthropicDelta<'a>>,
}

/// `text_delta` carries `text`, `input_json_delta` carries `partial_json`; the other
/// delta types (thinking, signature, citations) carry neither.
#[derive(Deserialize)]
struct AnthropicDelta<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    partial_json: Option<Cow<'a, str>>,
}

// --- Gemini GenerateContentResponse.

#[derive(Deserialize)]
struct GeminiChunk<'a> {
    #[serde(borrow)]
    candidates: Option<Vec<GeminiCandidate<'a>>>,
    #[serde(rename = "usageMetadata")]
    usage: Option<GeminiCounts>,
}

#[derive(Deserialize)]
struct GeminiCandidate<'a> {
    #[serde(borrow)]
    content: Option<GeminiContent<'a>>,
}

#[derive(Deserialize)]
struct GeminiContent<'a> {
    #[serde(borrow)]
    parts: Option<Vec<GeminiPart<'a>>>,
}

#[derive(Deserialize)]
struct GeminiPart<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    thought: Option<bool>,
    #[serde(rename = "functionCall")]
    function_call: Option<GeminiFunctionCall>,
}

#[derive(Deserialize)]
struct GeminiFunctionCall {
    args: Option<serde_json::Value>,
}

impl StreamUsage {
    pub fn new(format: ApiFormat) -> Self {
        let counts = match format {
            ApiFormat::OpenAi => Counts::OpenAi(OpenAiCounts::default()),
            ApiFormat::Anthropic => Counts::Anthropic(AnthropicCounts::default()),
            ApiFormat::Gemini => Counts::Gemini(GeminiCounts::default()),
        };
        StreamUsage {
            counts,
            reported: false,
            text: String::new(),
            overflow_bytes: 0,
            counted: Counted::default(),
            tokenized_bytes: 0,
            chunks: OpenAiTemplate::default(),
        }
    }

    /// Record what `ev` reports and the answer text it delivers. Returns true when `ev` is
    /// an OpenAI usage-only chunk (`"choices": []`, or no `choices`, with a non-null
    /// `usage`), which the caller may hide from a client that did not ask for usage.
    /// Events that are not JSON, or not of the expected shape, are ignored.
    pub fn on_event(&mut self, ev: &SseEvent) -> bool {
        match self.counts {
            Counts::OpenAi(_) => self.on_openai(&ev.data),
            Counts::Anthropic(_) => {
                // Text deltas (nearly every event) through the one-pass reader, as above.
                let delta = ev.event.as_deref() == Some("content_block_delta");
                match delta.then(|| view::anthropic(&ev.data).ok()).flatten() {
                    Some(event) => self.on_anthropic_view(ev, Some(&event)),
                    None => self.on_anthropic(ev),
                }
                false
            }
            Counts::Gemini(_) => {
                self.on_gemini(&ev.data);
                false
            }
        }
    }

    /// As `on_event`, from the reading the stream redactor made of `ev` (so that a redacted
    /// stream reads each event once); a reading in another format than the provider's is
    /// ignored and `ev` read here.
    pub fn observe(&mut self, ev: &SseEvent, reading: Reading<'_, '_>) -> bool {
        match (&self.counts, reading) {
            (Counts::OpenAi(_), Reading::OpenAi(chunk)) => self.on_openai_view(chunk),
            (Counts::Anthropic(_), Reading::Anthropic(event)) => {
                self.on_anthropic_view(ev, event);
                false
            }
            _ => self.on_event(ev),
        }
    }

    /// `observe` for an OpenAI reading (`None`: not JSON).
    fn on_openai_view(&mut self, chunk: Option<&view::OpenAiChunk<'_>>) -> bool {
        let Some(chunk) = chunk else {
            return false;
        };
        for choice in &chunk.choices {
            // The order `on_event` keeps: content, refusal, tool arguments.
            let (content, tools) = choice.texts.split_at(usize::from(
                choice.texts.first().is_some_and(|t| t.tool.is_none()),
            ));
            for t in content {
                self.push_text(&t.text);
            }
            if let Some(refusal) = &choice.refusal {
                self.push_text(refusal);
            }
            for t in tools {
                self.push_text(&t.text);
            }
        }
        let usage = chunk
            .usage
            .and_then(|raw| serde_json::from_str::<Option<OpenAiCounts>>(raw.get()).ok())
            .flatten();
        let Some(usage) = usage else {
            return false;
        };
        if let Counts::OpenAi(c) = &mut self.counts {
            c.merge(&usage);
        }
        self.reported = true;
        chunk.choices.is_empty()
    }

    /// `observe` for an Anthropic reading: a text delta's text comes from the reading; the
    /// events that carry usage (two per answer) are read here.
    fn on_anthropic_view(&mut self, ev: &SseEvent, event: Option<&AnthropicEvent<'_>>) {
        if ev.event.as_deref() != Some("content_block_delta") {
            self.on_anthropic(ev);
            return;
        }
        let text = event.filter(|e| e.kind == "content_block_delta");
        if let Some(t) = text.and_then(|e| e.text.as_ref()) {
            self.push_text(&t.text);
        }
    }

    /// Usage the provider reported so far (merged field by field), None if it reported
    /// nothing (or only zeros).
    pub fn reported(&self) -> Option<Usage> {
        if !self.reported {
            return None;
        }
        let u = self.counts.usage();
        (!u.is_empty()).then_some(u)
    }

    /// Estimated output tokens of the answer text delivered so far, with the tokenizer for
    /// `model`. The text is tokenized once: a later call only tokenizes what was appended
    /// since (a call with nothing new costs nothing), unless `model` maps to another
    /// encoding, which recounts. Text beyond the 2 MiB kept counts as `bytes / 4`.
    pub fn estimate_output(&mut self, model: &str) -> u64 {
        let encoding = Encoding::for_model(model);
        if self.counted.encoding != Some(encoding) {
            self.counted = Counted {
                encoding: Some(encoding),
                bytes: 0,
                tokens: 0,
            };
        }
        if let Some(new) = self.text.get(self.counted.bytes..) {
            if !new.is_empty() {
                self.counted.tokens = self.counted.tokens.saturating_add(encoding.count(new));
                self.tokenized_bytes = self.tokenized_bytes.saturating_add(new.len() as u64);
                self.counted.bytes = self.text.len();
            }
        }
        let overflow = usize::try_from(self.overflow_bytes).unwrap_or(usize::MAX);
        self.counted.tokens.saturating_add(bytes_estimate(overflow))
    }

    /// Bytes handed to the tokenizer so far (tests check that nothing is counted twice).
    #[cfg(test)]
    pub(crate) fn tokenized_bytes(&self) -> u64 {
        self.tokenized_bytes
    }

    /// The delivered text kept so far.
    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    fn push_text(&mut self, s: &str) {
        let room = MAX_TEXT_BYTES.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return;
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(head) = s.get(..cut) {
            self.text.push_str(head);
        }
        self.overflow_bytes = self.overflow_bytes.saturating_add((s.len() - cut) as u64);
    }

    fn on_openai(&mut self, data: &str) -> bool {
        let data = data.trim_ascii();
        if data == "[DONE]" {
            return false;
        }
        // The reading a redacted stream uses (`view::openai`, through the stream's chunk
        // template), cheaper than serde on a provider's plain chunks; what it rejects, serde
        // reads here.
        if let Ok(chunk) = self.chunks.read(data) {
            return self.on_openai_view(Some(&chunk));
        }
        let Ok(chunk) = serde_json::from_str::<OpenAiChunk>(data) else {
            return false;
        };
        let mut any_choice = false;
        for choice in chunk.choices.iter().flatten() {
            any_choice = true;
            let Some(delta) = &choice.delta else { continue };
            for s in [&delta.content, &delta.refusal].into_iter().flatten() {
                self.push_text(s);
            }
            for call in delta.tool_calls.iter().flatten() {
                if let Some(args) = call.function.as_ref().and_then(|f| f.arguments.as_ref()) {
                    self.push_text(args);
                }
            }
        }
        let Some(usage) = chunk.usage else {
            return false;
        };
        if let Counts::OpenAi(c) = &mut self.counts {
            c.merge(&usage);
        }
        self.reported = true;
        !any_choice
    }

    fn on_anthropic(&mut self, ev: &SseEvent) {
        let usage = match ev.event.as_deref() {
            Some("content_block_delta") => {
                if let Ok(AnthropicBlockDelta { delta: Some(d) }) =
                    serde_json::from_str::<AnthropicBlockDelta>(&ev.data)
                {
                    for s in [&d.text, &d.partial_json].into_iter().flatten() {
                        self.push_text(s);
                    }
                }
                return;
            }
            Some("message_start") => serde_json::from_str::<AnthropicMessageStart>(&ev.data)
                .ok()
                .and_then(|s| s.message)
                .and_then(|m| m.usage),
            Some("message_delta") => serde_json::from_str::<AnthropicMessage>(&ev.data)
                .ok()
                .and_then(|m| m.usage),
            _ => None,
        };
        if let (Some(usage), Counts::Anthropic(c)) = (usage, &mut self.counts) {
            c.merge(&usage);
            self.reported = true;
        }
    }

    fn on_gemini(&mut self, data: &str) {
        let Ok(chunk) = serde_json::from_str::<GeminiChunk>(data) else {
            return;
        };
        for cand in chunk.candidates.iter().flatten() {
            let parts = cand.content.as_ref().and_then(|c| c.parts.as_ref());
            for part in parts.into_iter().flatten() {
                if part.thought == Some(true) {
                    continue;
                }
                if let Some(text) = &part.text {
                    self.push_text(text);
                }
                if let Some(args) = part.function_call.as_ref().and_then(|f| f.args.as_ref()) {
                    self.push_text(&args.to_string());
                }
            }
        }
        if let (Some(usage), Counts::Gemini(c)) = (chunk.usage, &mut self.counts) {
            c.merge(&usage);
            self.reported = true;
        }
    }
}
