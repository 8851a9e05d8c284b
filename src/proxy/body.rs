//! What happens to an answer's body between the provider and the client, burst by burst:
//! passed on as it is, collected for its usage, tapped (a stream read for usage, one chunk
//! perhaps hidden), or translated event by event. Tapped and translated streams may also be
//! redacted: each event through the key's response policy and placeholder restoring, where
//! events needing no change keep their exact bytes.

use super::answer::Burst;
use crate::error::GatewayError;
use crate::redact::{Blocked, Counts, Rewrite, SseRedactor};
use crate::sse::{self, view, EventSplitter, SseDecoder, SseEvent};
use crate::translate::{ApiFormat, StreamTranslator};
use crate::usage::StreamUsage;
use bytes::{Bytes, BytesMut};

/// How the pump treats the body on its way to the client.
pub enum BodyMode {
    /// Bytes as they come, nothing looked at.
    Plain,
    /// A whole answer passed on as it comes, and kept to read its usage (and perhaps to cache
    /// it) at the end (`None` once it outgrew the bound).
    Collect(Option<BytesMut>),
    /// A stream passed on, its events read for usage (one perhaps hidden) and redacted.
    Tap(Tap),
    /// A stream translated event by event (and redacted).
    Translate(Translation),
}

impl BodyMode {
    /// What the answer's redaction found, once the body is done.
    pub fn redaction_counts(&self) -> Option<Counts> {
        match self {
            BodyMode::Tap(t) => t.redactor.as_ref().map(SseRedactor::counts),
            BodyMode::Translate(t) => t.redactor.as_ref().map(SseRedactor::counts),
            BodyMode::Plain | BodyMode::Collect(_) => None,
        }
    }

    /// What a stage produced before it failed: the client gets it before the error event.
    pub fn take_leftover(&mut self) -> Option<Bytes> {
        match self {
            BodyMode::Tap(t) => t.leftover.take(),
            BodyMode::Translate(t) => t.leftover.take(),
            BodyMode::Plain | BodyMode::Collect(_) => None,
        }
    }
}

/// Whole answers longer than this are passed on without their usage being read.
const MAX_COLLECTED_BODY: usize = 8 * 1024 * 1024;

/// Keep a whole answer's bytes, up to `MAX_COLLECTED_BODY`; past that the body is no longer
/// valid JSON to read, so collecting stops for good.
pub fn collect(body: &mut Option<BytesMut>, data: Option<&Bytes>) {
    if let (Some(b), Some(d)) = (body.as_mut(), data) {
        if b.len() + d.len() <= MAX_COLLECTED_BODY {
            b.extend_from_slice(d);
        } else {
            *body = None;
        }
    }
}

fn malformed(e: sse::SseError) -> GatewayError {
    GatewayError::Upstream(format!("malformed answer from the provider: {e}"))
}

fn blocked(b: crate::redact::Blocked) -> GatewayError {
    GatewayError::ContentBlocked(format!(
        "the answer contained content the redaction policy blocks ({})",
        b.entity
    ))
}

/// A passthrough stream's events, read for usage. With `splitter`, the provider's bytes go
/// out in whole events, so one event can be left out (the usage-only chunk the gateway asked
/// for) or rewritten (redaction) while every other keeps its bytes; without it, bursts go out
/// untouched.
pub struct Tap {
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    splitter: Option<EventSplitter>,
    ends: Vec<usize>,
    redactor: Option<SseRedactor>,
    rewritten: Vec<SseEvent>,
    leftover: Option<Bytes>,
}

impl Tap {
    pub fn new(hide_usage_chunk: bool, redactor: Option<SseRedactor>) -> Tap {
        Tap {
            decoder: SseDecoder::default(),
            events: Vec::new(),
            splitter: (hide_usage_chunk || redactor.is_some()).then(EventSplitter::default),
            ends: Vec::new(),
            redactor,
            rewritten: Vec::new(),
            leftover: None,
        }
    }

    /// The client's bytes for one burst; `tracker` learns the usage. On `Err`, `leftover`
    /// holds what came before the fault.
    pub fn burst(
        &mut self,
        burst: &Burst,
        mut tracker: Option<&mut StreamUsage>,
    ) -> Result<Option<Bytes>, GatewayError> {
        let Some(splitter) = self.splitter.as_mut() else {
            if let Some(t) = tracker {
                if let Some(data) = &burst.data {
                    self.decoder
                        .feed(data, &mut self.events)
                        .map_err(malformed)?;
                }
                if burst.end {
                    self.decoder.finish(&mut self.events).map_err(malformed)?;
                }
                for ev in self.events.drain(..) {
                    t.on_event(&ev);
                }
            }
            return Ok(burst.data.clone());
        };
        let mut complete = match &burst.data {
            Some(data) => splitter.push(data, &mut self.ends).map_err(malformed)?,
            None => Bytes::new(),
        };
        if burst.end {
            if let Some(rest) = splitter.finish() {
                let mut joined = BytesMut::from(&complete[..]);
                joined.extend_from_slice(&rest);
                complete = joined.freeze();
                self.ends.push(complete.len());
            }
        }
        // Each range is one event: kept as it came, left out, or replaced by its rewrite.
        let (mut start, mut out, mut changed) = (0, BytesMut::new(), false);
        let ends = std::mem::take(&mut self.ends);
        for &end in &ends {
            let raw = complete.get(start..end).unwrap_or_default();
            self.decoder
                .feed(raw, &mut self.events)
                .map_err(malformed)?;
            if burst.end && end == complete.len() {
                self.decoder.finish(&mut self.events).map_err(malformed)?;
            }
            let mut hidden = false;
            let mut rewrote = false;
            let shared = match (tracker.as_deref_mut(), self.redactor.as_mut()) {
                (Some(t), Some(r)) => match self.events.as_slice() {
                    [ev] => read_once(ev, t, r, &mut self.rewritten),
                    _ => None,
                },
                _ => None,
            };
            match shared {
                Some(Ok((h, w))) => (hidden, rewrote) = (h, w == Rewrite::Rewritten),
                Some(Err(b)) => {
                    self.rewritten.clear();
                    self.leftover = (!out.is_empty()).then(|| out.freeze());
                    return Err(blocked(b));
                }
                None => {
                    if let Some(t) = tracker.as_deref_mut() {
                        for ev in &self.events {
                            hidden |= t.on_event(ev);
                        }
                    }
                }
            }
            if let (None, false, Some(r)) = (&shared, hidden, self.redactor.as_mut()) {
                for (i, ev) in self.events.iter().enumerate() {
                    match r.on_event(ev, &mut self.rewritten) {
                        // Kept as an event only once something in this range was rewritten;
                        // until then the range's bytes go out as they came.
                        Ok(Rewrite::Unchanged) if rewrote => self.rewritten.push(ev.clone()),
                        Ok(Rewrite::Unchanged) => {}
                        Ok(Rewrite::Rewritten) => {
                            if !rewrote {
                                let earlier = self.events.get(..i).unwrap_or_default();
                                self.rewritten.splice(0..0, earlier.iter().cloned());
                                rewrote = true;
                            }
                        }
                        Err(b) => {
                            self.rewritten.clear();
                            self.leftover = (!out.is_empty()).then(|| out.freeze());
                            return Err(blocked(b));
                        }
                    }
                }
            }
            self.events.clear();
            if hidden {
                changed = true;
            } else if rewrote {
                changed = true;
                let mut wire = Vec::new();
                for ev in self.rewritten.drain(..) {
                    sse::encode(&ev, &mut wire);
                }
                out.extend_from_slice(&wire);
            } else {
                out.extend_from_slice(raw);
            }
            start = end;
        }
        // Its allocation is kept for the next burst.
        self.ends = ends;
        self.ends.clear();
        if burst.end {
            if let Some(r) = self.redactor.as_mut() {
                let mut held = Vec::new();
                r.finish(&mut held).map_err(blocked)?;
                for ev in &held {
                    let mut wire = Vec::new();
                    sse::encode(ev, &mut wire);
                    out.extend_from_slice(&wire);
                    changed = true;
                }
            }
        }
        if !changed {
            return Ok((!complete.is_empty()).then_some(complete));
        }
        Ok((!out.is_empty()).then(|| out.freeze()))
    }
}

/// One event of a passthrough stream read once for both usage and redaction: `(hidden,
/// rewrite)`, as `StreamUsage::on_event` and `SseRedactor::on_event` would say. A hidden event
/// is not redacted. `None` when the two cannot share a reading (redaction idle, Gemini).
fn read_once(
    ev: &SseEvent,
    tracker: &mut StreamUsage,
    redactor: &mut SseRedactor,
    out: &mut Vec<SseEvent>,
) -> Option<Result<(bool, Rewrite), Blocked>> {
    if redactor.is_idle() || redactor.format() != tracker.format() {
        return None;
    }
    match tracker.format() {
        ApiFormat::OpenAi => Some(view::read_openai(ev.data.trim(), |data, chunk| {
            if tracker.on_openai_view(chunk) {
                return Ok((true, Rewrite::Unchanged));
            }
            redactor
                .on_openai(ev, data, chunk, out)
                .map(|rewrite| (false, rewrite))
        })),
        ApiFormat::Anthropic => Some(view::read_anthropic(&ev.data, |data, event| {
            tracker.on_anthropic_view(ev, event);
            redactor
                .on_anthropic(ev, data, event, out)
                .map(|rewrite| (false, rewrite))
        })),
        ApiFormat::Gemini => None,
    }
}

/// What a translated stream keeps between bursts.
pub struct Translation {
    translator: Box<dyn StreamTranslator>,
    decoder: SseDecoder,
    upstream: Vec<SseEvent>,
    client: Vec<SseEvent>,
    redactor: Option<SseRedactor>,
    redacted: Vec<SseEvent>,
    /// What was translated in a burst before the stream turned out broken: the client gets
    /// it before the error event.
    leftover: Option<Bytes>,
}

impl Translation {
    pub fn new(translator: Box<dyn StreamTranslator>, redactor: Option<SseRedactor>) -> Self {
        Translation {
            translator,
            decoder: SseDecoder::default(),
            upstream: Vec::new(),
            client: Vec::new(),
            redactor,
            redacted: Vec::new(),
            leftover: None,
        }
    }

    /// The client's bytes for one burst of the provider's bytes; `tracker` learns the usage
    /// from the provider's own events. On `Err`, `leftover` holds what came before the fault.
    pub fn burst(
        &mut self,
        burst: &Burst,
        tracker: Option<&mut StreamUsage>,
    ) -> Result<Option<Bytes>, GatewayError> {
        let mut result = self.step(burst, tracker);
        if let Some(r) = self.redactor.as_mut() {
            let mut redacted = std::mem::take(&mut self.redacted);
            for ev in self.client.drain(..) {
                match r.on_event(&ev, &mut redacted) {
                    Ok(Rewrite::Unchanged) => redacted.push(ev),
                    Ok(Rewrite::Rewritten) => {}
                    Err(b) => {
                        result = Err(blocked(b));
                        break;
                    }
                }
            }
            if burst.end && result.is_ok() {
                if let Err(b) = r.finish(&mut redacted) {
                    result = Err(blocked(b));
                }
            }
            // The drained buffer is kept for the next burst.
            std::mem::swap(&mut self.client, &mut redacted);
            self.redacted = redacted;
        }
        let mut wire = Vec::new();
        for ev in self.client.drain(..) {
            sse::encode(&ev, &mut wire);
        }
        let wire = (!wire.is_empty()).then(|| Bytes::from(wire));
        match result {
            Ok(()) => Ok(wire),
            Err(e) => {
                self.leftover = wire;
                Err(e)
            }
        }
    }

    fn step(
        &mut self,
        burst: &Burst,
        mut tracker: Option<&mut StreamUsage>,
    ) -> Result<(), GatewayError> {
        let mut decoded = Ok(());
        if let Some(data) = &burst.data {
            decoded = self
                .decoder
                .feed(data, &mut self.upstream)
                .map_err(malformed);
        }
        if burst.end && decoded.is_ok() {
            decoded = self.decoder.finish(&mut self.upstream).map_err(malformed);
        }
        // Events decoded before any fault are still translated and delivered.
        for ev in self.upstream.drain(..) {
            if let Some(t) = tracker.as_deref_mut() {
                t.on_event(&ev);
            }
            self.translator
                .on_event(&ev, &mut self.client)
                .map_err(super::answer::translate_error)?;
        }
        decoded?;
        if burst.end {
            self.translator
                .finish(&mut self.client)
                .map_err(super::answer::translate_error)?;
        }
        Ok(())
    }
}
