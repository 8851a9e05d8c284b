//! A burst of events redacted together: [`SseRedactor::on_burst`].
//!
//! Text is held back only where a match could still be in progress, and that is known only
//! at the end of what has arrived. Fed event by event, nearly every text delta ends with a
//! word that might grow into a match, so its text was held and released into the next
//! event: every event rewritten. Fed a burst at a time (the events one read from the
//! provider returned), consecutive plain text deltas (an OpenAI chunk with choices and no
//! finish, after the first; an Anthropic `text_delta` or `input_json_delta`) wait in a batch;
//! any other event (a finish, a block start or stop, a ping, `[DONE]`, odd JSON) first
//! settles the batch, then is handled alone as before. A batch goes through each channel
//! together (`StreamRedactor::push_many`), so usually only its first delta (which gets what
//! was held before) and its last (whose last word is held) change. The others keep their
//! exact bytes.
//!
//! The client gets the same text in the same order as when fed event by event, and each
//! replaced match in the event its match starts in; only how held text spreads over the
//! events differs. A `block` in a batch stops the stream before the batch's first event
//! (fed one by one, the deltas before the match would have gone out).
//!
//! Odd JSON (a repeated key, an index written as a string) is read from its normalised copy,
//! and that copy is what the client gets, rewritten or not: a client resolving repeated keys
//! differently must not see a value redaction never read.

use super::{Key, Rewrite, SseRedactor, Stop};
use crate::redact::policy::Blocked;
use crate::sse::view::{self, AnthropicEvent, OpenAiChunk, Reading, Splice, TextAt};
use crate::sse::SseEvent;
use crate::translate::ApiFormat;
use std::borrow::Cow;
use std::ops::Range;

/// What `on_burst` made of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forward the event as it came (its original bytes).
    Unchanged,
    /// The observer hid it (the usage-only chunk): leave it out.
    Hidden,
    /// These events of `replaced` go out instead (extra deltas, then the event).
    Replaced(Range<usize>),
}

/// One text of a batched event.
struct Pending<'e> {
    /// Its position in `Batch::events`.
    event: usize,
    key: Key,
    json: bool,
    raw: &'e str,
    text: Cow<'e, str>,
}

/// Events that end nothing, read and waiting to be redacted together.
#[derive(Default)]
struct Batch<'e> {
    /// Each event's index in the burst, the event, and the text its texts' `raw` borrow from.
    events: Vec<(usize, &'e SseEvent, &'e str)>,
    texts: Vec<Pending<'e>>,
}

/// Where `on_burst` keeps its results while it walks the burst.
struct Results<'o> {
    outcomes: &'o mut Vec<Outcome>,
    replaced: &'o mut Vec<SseEvent>,
}

type StepResult = Result<Outcome, (Stop, usize)>;

impl SseRedactor {
    /// Feeds a burst of events. `observe` reads each event first (usage tracking) and says
    /// whether to hide it; a hidden event is not redacted. `outcomes` gets one entry per
    /// event, those rewritten pointing into `replaced`.
    ///
    /// An idle redactor (nothing to redact or restore, or a Gemini stream) reads nothing:
    /// every event is `Unchanged` and `observe` is not called.
    ///
    /// `Err`: a `block` action fired, or an event could not be read (`Stop`); `outcomes`
    /// then covers only the events before the first that must not go out. End the stream
    /// with an error event after those.
    pub fn on_burst(
        &mut self,
        events: &[SseEvent],
        mut observe: impl FnMut(&SseEvent, Reading<'_, '_>) -> bool,
        outcomes: &mut Vec<Outcome>,
        replaced: &mut Vec<SseEvent>,
    ) -> Result<(), Stop> {
        outcomes.clear();
        if self.idle {
            outcomes.resize(events.len(), Outcome::Unchanged);
            return Ok(());
        }
        let mut out = Results { outcomes, replaced };
        let mut batch = Batch::default();
        for (i, ev) in events.iter().enumerate() {
            let step = match self.format {
                ApiFormat::OpenAi => self.openai_step(i, ev, &mut observe, &mut batch, &mut out),
                ApiFormat::Anthropic => {
                    self.anthropic_step(i, ev, &mut observe, &mut batch, &mut out)
                }
                // Idle, returned above.
                ApiFormat::Gemini => Ok(Outcome::Unchanged),
            };
            match step {
                Ok(outcome) => out.outcomes.push(outcome),
                Err((b, first_lost)) => {
                    out.outcomes.truncate(first_lost);
                    return Err(b);
                }
            }
        }
        if let Err((b, first_lost)) = self.settle(&mut batch, &mut out) {
            out.outcomes.truncate(first_lost);
            return Err(b.into());
        }
        Ok(())
    }

    fn openai_step<'e>(
        &mut self,
        i: usize,
        ev: &'e SseEvent,
        observe: &mut impl FnMut(&SseEvent, Reading<'_, '_>) -> bool,
        batch: &mut Batch<'e>,
        out: &mut Results<'_>,
    ) -> StepResult {
        let data = ev.data.trim();
        let Ok(chunk) = self.chunks.read(data) else {
            // Not JSON (`[DONE]`), or odd JSON read leniently: never batched.
            return view::reread_openai(data, |read, chunk| {
                if observe(ev, Reading::OpenAi(chunk)) {
                    return Ok(Outcome::Hidden);
                }
                match chunk {
                    Some(c) => self.after_odd(batch, i, ev, read, out, |r, ev, o| {
                        r.openai_event(ev, read, &c.choices, o)
                    }),
                    None if carries_nothing(data) => {
                        self.after(batch, i, out, |r, o| r.openai_event(ev, data, &[], o))
                    }
                    None => self.after(batch, i, out, |_, _| Err::<Rewrite, _>(Stop::Unreadable)),
                }
            });
        };
        if observe(ev, Reading::OpenAi(Some(&chunk))) {
            return Ok(Outcome::Hidden);
        }
        // The first chunk with choices is the template of extra chunks: read it alone.
        if !plain_openai(&chunk) || self.template.is_none() {
            let choices = chunk.choices.as_slice();
            return self.after(batch, i, out, |r, o| r.openai_event(ev, data, choices, o));
        }
        let at = batch.events.len();
        batch.events.push((i, ev, data));
        for choice in chunk.choices {
            for t in choice.texts {
                batch.texts.push(pending(at, (choice.index, t.tool), t));
            }
        }
        Ok(Outcome::Unchanged)
    }

    fn anthropic_step<'e>(
        &mut self,
        i: usize,
        ev: &'e SseEvent,
        observe: &mut impl FnMut(&SseEvent, Reading<'_, '_>) -> bool,
        batch: &mut Batch<'e>,
        out: &mut Results<'_>,
    ) -> StepResult {
        let data = ev.data.as_str();
        let Ok(event) = view::anthropic(data) else {
            return view::reread_anthropic(data, |read, event| {
                if observe(ev, Reading::Anthropic(event)) {
                    return Ok(Outcome::Hidden);
                }
                match event {
                    Some(event) => self.after_odd(batch, i, ev, read, out, |r, ev, o| {
                        r.anthropic_event(ev, read, event, o)
                    }),
                    None if carries_nothing(data) => Ok(Outcome::Unchanged),
                    None => self.after(batch, i, out, |_, _| Err::<Rewrite, _>(Stop::Unreadable)),
                }
            });
        };
        if observe(ev, Reading::Anthropic(Some(&event))) {
            return Ok(Outcome::Hidden);
        }
        match plain_anthropic(event) {
            Ok((index, text)) => {
                let at = batch.events.len();
                batch.events.push((i, ev, data));
                batch.texts.push(pending(at, (index, None), text));
                Ok(Outcome::Unchanged)
            }
            Err(event) => self.after(batch, i, out, |r, o| r.anthropic_event(ev, data, &event, o)),
        }
    }

    /// Settles the batch, then handles event `i` (which may end channels) with `handle`.
    fn after<E: Into<Stop>>(
        &mut self,
        batch: &mut Batch<'_>,
        i: usize,
        out: &mut Results<'_>,
        handle: impl FnOnce(&mut Self, &mut Vec<SseEvent>) -> Result<Rewrite, E>,
    ) -> StepResult {
        self.settle(batch, out)
            .map_err(|(b, first)| (b.into(), first))?;
        let start = out.replaced.len();
        match handle(self, out.replaced) {
            Ok(Rewrite::Unchanged) => Ok(Outcome::Unchanged),
            Ok(Rewrite::Rewritten) => Ok(Outcome::Replaced(start..out.replaced.len())),
            Err(stop) => Err((stop.into(), i)),
        }
    }

    /// As `after`, for odd JSON read from its normalised copy `read`: the copy is what the
    /// client gets, rewritten or not.
    fn after_odd(
        &mut self,
        batch: &mut Batch<'_>,
        i: usize,
        ev: &SseEvent,
        read: &str,
        out: &mut Results<'_>,
        handle: impl FnOnce(&mut Self, &SseEvent, &mut Vec<SseEvent>) -> Result<Rewrite, Blocked>,
    ) -> StepResult {
        let copy = SseEvent {
            event: ev.event.clone(),
            data: read.to_string(),
        };
        match self.after(batch, i, out, |r, o| handle(r, &copy, o))? {
            Outcome::Unchanged => {
                let start = out.replaced.len();
                out.replaced.push(copy);
                Ok(Outcome::Replaced(start..start + 1))
            }
            other => Ok(other),
        }
    }

    /// Redacts the batch's texts, each channel's together, and rewrites the events whose
    /// text changed (their outcomes, pushed as `Unchanged`, are replaced). Empties the batch.
    /// `Err`: blocked, with the burst index of the batch's first event.
    fn settle(
        &mut self,
        batch: &mut Batch<'_>,
        out: &mut Results<'_>,
    ) -> Result<(), (Blocked, usize)> {
        let Some(&(first, _, _)) = batch.events.first() else {
            return Ok(());
        };
        // What each text becomes: its range in `released`, by its position in `batch.texts`.
        let mut released = std::mem::take(&mut self.released);
        released.clear();
        let mut parts = std::mem::take(&mut self.parts);
        parts.clear();
        parts.resize(batch.texts.len(), 0..0);
        let fed = self.feed_batch(batch, &mut released, &mut parts);
        if let Err(b) = fed {
            self.released = released;
            self.parts = parts;
            return Err((b, first));
        }
        // Texts are in event order: one pass splices each event's changed texts.
        let mut texts = batch.texts.iter().zip(&parts).peekable();
        for (at, &(i, ev, data)) in batch.events.iter().enumerate() {
            let mut splice = Splice::default();
            while let Some((t, part)) = texts.next_if(|(t, _)| t.event == at) {
                let new = released.get(part.clone()).unwrap_or_default();
                if new != t.text {
                    splice.set(data, t.raw, new);
                }
            }
            if splice.is_empty() {
                continue;
            }
            let start = out.replaced.len();
            out.replaced.push(SseEvent {
                event: ev.event.clone(),
                data: splice.apply(data),
            });
            if let Some(o) = out.outcomes.get_mut(i) {
                *o = Outcome::Replaced(start..start + 1);
            }
        }
        self.released = released;
        self.parts = parts;
        batch.events.clear();
        batch.texts.clear();
        Ok(())
    }

    /// Pushes the batch's texts through their channels, each channel's together (usually
    /// there is one), appending what each text releases to `released` and its range to
    /// `parts` (by the text's position).
    fn feed_batch(
        &mut self,
        batch: &Batch<'_>,
        released: &mut String,
        parts: &mut [Range<usize>],
    ) -> Result<(), Blocked> {
        let mut done: Vec<Key> = Vec::new();
        for t in &batch.texts {
            if done.contains(&t.key) {
                continue;
            }
            done.push(t.key);
            let mine = |p: &&Pending<'_>| p.key == t.key;
            let pieces: Vec<&str> = batch.texts.iter().filter(mine).map(|p| &*p.text).collect();
            let ranges = self.feed_many(t.key, t.json, &pieces, released)?;
            let slots = parts
                .iter_mut()
                .zip(&batch.texts)
                .filter(|(_, p)| p.key == t.key);
            for ((slot, _), range) in slots.zip(ranges) {
                *slot = range;
            }
        }
        Ok(())
    }
}

fn pending<'e>(event: usize, key: Key, t: TextAt<'e>) -> Pending<'e> {
    Pending {
        event,
        key,
        json: t.json,
        raw: t.raw,
        text: t.text,
    }
}

/// An event whose data is not JSON yet carries no text: `[DONE]`, or nothing at all.
fn carries_nothing(data: &str) -> bool {
    matches!(data.trim(), "" | "[DONE]")
}

/// A chunk of text deltas that ends nothing: it can wait in a batch.
fn plain_openai(chunk: &OpenAiChunk<'_>) -> bool {
    !chunk.choices.is_empty() && chunk.choices.iter().all(|c| !c.ending)
}

/// A `content_block_delta` with text can wait in a batch: its block index and text.
fn plain_anthropic(event: AnthropicEvent<'_>) -> Result<(u64, TextAt<'_>), AnthropicEvent<'_>> {
    match event {
        AnthropicEvent {
            kind,
            index,
            text: Some(text),
        } if kind == "content_block_delta" => Ok((index, text)),
        other => Err(other),
    }
}
