//! Redaction of a streamed answer, a burst of events at a time (`burst.rs`), in the client's
//! format (after any translation): each text channel goes through response-side redaction,
//! then placeholder restoring (restoring comes second, so a value the client itself sent
//! comes back as it was even where the response policy masks that entity).
//!
//! Channels: OpenAI, each choice's `delta.content` and each `delta.tool_calls[i]
//! .function.arguments` (by choice and tool index); Anthropic, each content block's
//! `text_delta.text` or `input_json_delta.partial_json` (by block index). Tool arguments are
//! JSON text, redacted and restored as the inside of JSON strings.
//!
//! Text held back by a channel is released into that channel's next text, and flushed before
//! the event that ends the channel (OpenAI: a chunk with a `finish_reason` for that choice,
//! `[DONE]`, an error or usage-only chunk; Anthropic: `content_block_stop` for that index,
//! `message_delta`, `message_stop`, `error`). When the ending event has no field to carry the
//! text, an extra delta event goes out just before it.

use super::counts::Counts;
use super::placeholders::Placeholders;
use super::policy::{Blocked, CompiledPolicy, Direction};
use super::stream::{PlaceholderRestorer, StreamRedactor};
use crate::sse::template::OpenAiTemplate;
use crate::sse::view::{self, OpenAiChoice, Splice};
use crate::sse::SseEvent;
use crate::translate::ApiFormat;
use serde_json::{json, Map, Value};
use std::ops::Range;
use std::sync::Arc;

mod burst;
pub use burst::Outcome;

/// Why a redacted stream stops. The client gets the events before the one that stopped it,
/// then an error event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// A `block` action fired.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// An event that is neither `[DONE]` nor JSON the gateway can read (an unpaired
    /// surrogate in a key, `NaN`, `1e400`, nesting past `serde_json`'s limit). Clients'
    /// parsers may still read it, and its text with it, so it does not pass unread.
    #[error("the provider sent an event the gateway cannot read, so redaction cannot check it")]
    Unreadable,
}

/// What `on_event` did with an event.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// Nothing was pushed: forward the event as it came (its original bytes).
    Unchanged,
    /// The events pushed to `out` replace it (possibly an extra delta, then the event).
    Rewritten,
}

/// (OpenAI choice index or Anthropic block index, OpenAI tool-call index).
type Key = (u64, Option<u64>);

struct Channel {
    key: Key,
    json: bool,
    redactor: StreamRedactor,
    restorer: PlaceholderRestorer,
}

/// The redaction state of one streamed answer.
pub struct SseRedactor {
    format: ApiFormat,
    policy: Arc<CompiledPolicy>,
    placeholders: Arc<Placeholders>,
    max_span: usize,
    /// Nothing to redact and nothing to restore: every event passes unchanged.
    idle: bool,
    channels: Vec<Channel>,
    /// Counts of channels already closed.
    counts: Counts,
    /// OpenAI: top-level fields of the first chunk (id, created, model...), for extra chunks.
    template: Option<Map<String, Value>>,
    /// OpenAI: the stream's chunk template (`sse::template`), which spares most chunks a
    /// full reading.
    chunks: OpenAiTemplate,
    scratch: String,
    /// `on_burst`'s buffers, kept between bursts: released text, and each text's part of it.
    released: String,
    parts: Vec<Range<usize>>,
}

impl SseRedactor {
    /// `format`: the client's format (OpenAI or Anthropic; others pass unchanged).
    /// `placeholders`: those the request's redaction assigned, restored in the answer.
    pub fn new(
        format: ApiFormat,
        policy: Arc<CompiledPolicy>,
        placeholders: Placeholders,
        max_span: usize,
    ) -> Self {
        let idle = (!policy.is_active(Direction::Response) && placeholders.is_empty())
            || format == ApiFormat::Gemini;
        SseRedactor {
            format,
            policy,
            placeholders: Arc::new(placeholders),
            max_span,
            idle,
            channels: Vec::new(),
            counts: Counts::default(),
            template: None,
            chunks: OpenAiTemplate::default(),
            scratch: String::new(),
            released: String::new(),
            parts: Vec::new(),
        }
    }

    /// What the answer's redaction did so far.
    pub fn counts(&self) -> Counts {
        let mut all = self.counts.clone();
        for c in &self.channels {
            all.merge(c.redactor.counts());
        }
        all
    }

    /// Feeds one event (a burst of one: see `on_burst`). On `Unchanged` nothing is pushed
    /// and the event goes out as it came. `Err`: end the stream with an error event.
    pub fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<SseEvent>) -> Result<Rewrite, Stop> {
        let mut outcomes = Vec::with_capacity(1);
        self.on_burst(std::slice::from_ref(ev), |_, _| false, &mut outcomes, out)?;
        Ok(match outcomes.first() {
            Some(Outcome::Replaced(_)) => Rewrite::Rewritten,
            _ => Rewrite::Unchanged,
        })
    }

    /// Redaction reads nothing: every event passes unchanged.
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    /// The stream ended: flushes what every channel still holds, as extra delta events.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), Blocked> {
        if self.idle {
            return Ok(());
        }
        self.flush_where(|_| true, out)
    }

    fn channel(&mut self, key: Key, json: bool) -> Option<&mut Channel> {
        if !self.channels.iter().any(|c| c.key == key) {
            self.channels.push(Channel {
                key,
                json,
                redactor: StreamRedactor::new(
                    Arc::clone(&self.policy),
                    Direction::Response,
                    self.max_span,
                )
                .json(json),
                restorer: PlaceholderRestorer::new(Arc::clone(&self.placeholders)).json(json),
            });
        }
        self.channels.iter_mut().find(|c| c.key == key)
    }

    /// Pushes `piece` through the channel `key`; with `end`, also flushes and closes it.
    fn feed(&mut self, key: Key, json: bool, piece: &str, end: bool) -> Result<String, Blocked> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut text = String::new();
        let Some(ch) = self.channel(key, json) else {
            return Ok(piece.to_string());
        };
        scratch.clear();
        let r = ch.redactor.push(piece, &mut scratch);
        if r.is_ok() {
            ch.restorer.push(&scratch, &mut text);
        }
        self.scratch = scratch;
        r?;
        if end {
            text.push_str(&self.close(key)?);
        }
        Ok(text)
    }

    /// Pushes `pieces` through the channel `key` together; appends what each releases to
    /// `out`, returning where each one's part lies.
    fn feed_many(
        &mut self,
        key: Key,
        json: bool,
        pieces: &[&str],
        out: &mut String,
    ) -> Result<Vec<Range<usize>>, Blocked> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut ranges = Vec::with_capacity(pieces.len());
        let Some(ch) = self.channel(key, json) else {
            for piece in pieces {
                let start = out.len();
                out.push_str(piece);
                ranges.push(start..out.len());
            }
            self.scratch = scratch;
            return Ok(ranges);
        };
        let mut ends = Vec::with_capacity(pieces.len());
        let r = ch.redactor.push_many(pieces, &mut scratch, &mut ends);
        if r.is_ok() {
            let mut at = 0;
            for end in ends {
                let start = out.len();
                ch.restorer
                    .push(scratch.get(at..end).unwrap_or_default(), out);
                ranges.push(start..out.len());
                at = end;
            }
        }
        self.scratch = scratch;
        r.map(|()| ranges)
    }

    /// Flushes and removes the channel `key`; its remaining text.
    fn close(&mut self, key: Key) -> Result<String, Blocked> {
        let Some(pos) = self.channels.iter().position(|c| c.key == key) else {
            return Ok(String::new());
        };
        let mut ch = self.channels.remove(pos);
        let mut redacted = String::new();
        let mut text = String::new();
        let r = ch.redactor.finish(&mut redacted);
        self.counts.merge(ch.redactor.counts());
        r?;
        ch.restorer.push(&redacted, &mut text);
        ch.restorer.finish(&mut text);
        Ok(text)
    }

    /// Closes every channel whose key passes `which`, emitting its text as extra events.
    fn flush_where(
        &mut self,
        which: impl Fn(&Key) -> bool,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), Blocked> {
        let mut keys: Vec<(Key, bool)> = self
            .channels
            .iter()
            .filter(|c| which(&c.key))
            .map(|c| (c.key, c.json))
            .collect();
        keys.sort();
        let mut flushed = Vec::new();
        for (key, json) in keys {
            let text = self.close(key)?;
            if !text.is_empty() {
                flushed.push((key, json, text));
            }
        }
        match self.format {
            ApiFormat::OpenAi => {
                // One extra chunk per choice, carrying its content and tool arguments.
                let mut i = 0;
                while let Some(&((choice, _), _, _)) = flushed.get(i) {
                    let mut delta = Map::new();
                    let mut tools = Vec::new();
                    while let Some(((c, tool), _, text)) = flushed.get(i) {
                        if *c != choice {
                            break;
                        }
                        match tool {
                            None => {
                                delta.insert("content".into(), Value::String(text.clone()));
                            }
                            Some(t) => tools.push(json!({
                                "index": t,
                                "function": {"arguments": text},
                            })),
                        }
                        i += 1;
                    }
                    if !tools.is_empty() {
                        delta.insert("tool_calls".into(), Value::Array(tools));
                    }
                    out.push(self.openai_chunk(choice, delta));
                }
            }
            ApiFormat::Anthropic => {
                for ((index, _), json, text) in flushed {
                    out.push(anthropic_delta(index, json, text));
                }
            }
            ApiFormat::Gemini => {}
        }
        Ok(())
    }

    fn openai_chunk(&self, choice: u64, delta: Map<String, Value>) -> SseEvent {
        let mut chunk = self.template.clone().unwrap_or_else(|| {
            let mut m = Map::new();
            m.insert("object".into(), "chat.completion.chunk".into());
            m
        });
        chunk.insert(
            "choices".into(),
            json!([{"index": choice, "delta": delta, "logprobs": null, "finish_reason": null}]),
        );
        SseEvent::data(Value::Object(chunk).to_string())
    }

    fn openai_event(
        &mut self,
        ev: &SseEvent,
        data: &str,
        choices: &[OpenAiChoice<'_>],
        out: &mut Vec<SseEvent>,
    ) -> Result<Rewrite, Blocked> {
        let before = out.len();
        if choices.is_empty() {
            // `[DONE]`, an error, or the usage-only chunk after the last finish chunk:
            // whatever is held goes out first.
            self.flush_where(|_| true, out)?;
            return Ok(unchanged_after(before, ev, out));
        }
        if self.template.is_none() {
            if let Ok(mut t) = serde_json::from_str::<Map<String, Value>>(data) {
                t.remove("choices");
                t.remove("usage");
                self.template = Some(t);
            }
        }
        let mut splice = Splice::default();
        for choice in choices {
            let mut present: Vec<Key> = Vec::new();
            for t in &choice.texts {
                let key = (choice.index, t.tool);
                present.push(key);
                let text = self.feed(key, t.json, &t.text, choice.ending)?;
                if text != t.text {
                    splice.set(data, t.raw, &text);
                }
            }
            if choice.ending {
                self.flush_where(|k| k.0 == choice.index && !present.contains(k), out)?;
            }
        }
        if splice.is_empty() {
            return Ok(unchanged_after(before, ev, out));
        }
        out.push(SseEvent {
            event: ev.event.clone(),
            data: splice.apply(data),
        });
        Ok(Rewrite::Rewritten)
    }

    fn anthropic_event(
        &mut self,
        ev: &SseEvent,
        data: &str,
        event: &view::AnthropicEvent<'_>,
        out: &mut Vec<SseEvent>,
    ) -> Result<Rewrite, Blocked> {
        let before = out.len();
        let key = (event.index, None);
        match event.kind.as_ref() {
            "content_block_start" | "content_block_delta" => {
                let starts = event.kind == "content_block_start";
                if starts {
                    // A block restarting an index closes what the old one held.
                    self.flush_where(|k| *k == key, out)?;
                }
                let mut splice = Splice::default();
                if let Some(t) = event
                    .text
                    .as_ref()
                    .filter(|t| !(starts && t.text.is_empty()))
                {
                    let text = self.feed(key, t.json, &t.text, false)?;
                    if text != t.text {
                        splice.set(data, t.raw, &text);
                    }
                }
                if splice.is_empty() {
                    return Ok(unchanged_after(before, ev, out));
                }
                out.push(SseEvent {
                    event: ev.event.clone(),
                    data: splice.apply(data),
                });
                Ok(Rewrite::Rewritten)
            }
            "content_block_stop" => {
                self.flush_where(|k| *k == key, out)?;
                Ok(unchanged_after(before, ev, out))
            }
            "message_delta" | "message_stop" | "error" => {
                self.flush_where(|_| true, out)?;
                Ok(unchanged_after(before, ev, out))
            }
            _ => Ok(Rewrite::Unchanged),
        }
    }
}

/// `Unchanged` when nothing was pushed since `before`; else the event itself follows the
/// extra events, as it came.
fn unchanged_after(before: usize, ev: &SseEvent, out: &mut Vec<SseEvent>) -> Rewrite {
    if out.len() == before {
        Rewrite::Unchanged
    } else {
        out.push(ev.clone());
        Rewrite::Rewritten
    }
}

fn anthropic_delta(index: u64, json: bool, text: String) -> SseEvent {
    let delta = if json {
        json!({"type": "input_json_delta", "partial_json": text})
    } else {
        json!({"type": "text_delta", "text": text})
    };
    SseEvent::named(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}).to_string(),
    )
}
