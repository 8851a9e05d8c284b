//! What happens to an answer's body between the provider and the client, burst by burst:
//! passed on as it is, collected for its usage, tapped (a stream read for usage, one chunk
//! perhaps hidden), or translated event by event. Tapped and translated streams may also be
//! redacted: each event through the key's response policy and placeholder restoring, where
//! events needing no change keep their exact bytes.

use crate::error::GatewayError;
use crate::redact::{Counts, Outcome, SseRedactor, Stop};
use crate::sse::{self, EventSplitter, SseDecoder, SseEvent};
use crate::translate::StreamTranslator;
use crate::usage::StreamUsage;
use bytes::{Bytes, BytesMut};

/// What one client write carries: every chunk the provider had already delivered.
pub struct Burst {
    pub data: Option<Bytes>,
    /// The provider's body ended with `data`.
    pub end: bool,
    /// The answer broke after `data`.
    pub error: Option<String>,
}

/// `first` followed by `more`, copied once into a buffer of their total size (grown chunk by
/// chunk, a burst of a hundred events was copied about seven times); `first` itself when
/// `more` is empty.
pub fn join(first: Bytes, more: &[Bytes]) -> Bytes {
    if more.is_empty() {
        return first;
    }
    let total = first.len() + more.iter().map(Bytes::len).sum::<usize>();
    let mut joined = BytesMut::with_capacity(total);
    joined.extend_from_slice(&first);
    for chunk in more {
        joined.extend_from_slice(chunk);
    }
    joined.freeze()
}

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

fn stopped(stop: Stop) -> GatewayError {
    match stop {
        Stop::Blocked(b) => blocked(b),
        Stop::Unreadable => {
            GatewayError::Upstream(format!("malformed answer from the provider: {stop}"))
        }
    }
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
    /// The client did not ask for the usage chunk: leave it out.
    hide_usage_chunk: bool,
    redactor: Option<SseRedactor>,
    rewritten: Vec<SseEvent>,
    outcomes: Vec<Outcome>,
    leftover: Option<Bytes>,
}

impl Tap {
    pub fn new(hide_usage_chunk: bool, redactor: Option<SseRedactor>) -> Tap {
        Tap {
            decoder: SseDecoder::default(),
            events: Vec::new(),
            splitter: (hide_usage_chunk || redactor.is_some()).then(EventSplitter::default),
            ends: Vec::new(),
            hide_usage_chunk,
            redactor,
            rewritten: Vec::new(),
            outcomes: Vec::new(),
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
                for ev in &self.events {
                    t.on_event(ev);
                }
                self.decoder.recycle(&mut self.events);
            }
            return Ok(burst.data.clone());
        };
        let mut complete = match &burst.data {
            Some(data) => splitter.push(data, &mut self.ends).map_err(malformed)?,
            None => Bytes::new(),
        };
        if burst.end {
            if let Some(rest) = splitter.finish() {
                complete = join(complete, &[rest]);
                self.ends.push(complete.len());
            }
        }
        // Each range is one event. All are decoded first, then read for usage and redacted
        // together (`SseRedactor::on_burst`); each range then goes out as it came, is left
        // out, or is replaced by its rewrite. Events before a malformed one still go out.
        let ends = std::mem::take(&mut self.ends);
        let mut spans = Vec::with_capacity(ends.len());
        let (mut start, mut fault) = (0, None);
        for &end in &ends {
            let raw = complete.get(start..end).unwrap_or_default();
            let first = self.events.len();
            let mut decoded = self.decoder.feed(raw, &mut self.events);
            if decoded.is_ok() && burst.end && end == complete.len() {
                decoded = self.decoder.finish(&mut self.events);
            }
            if let Err(e) = decoded {
                self.events.truncate(first);
                fault = Some(malformed(e));
                break;
            }
            spans.push((start..end, first..self.events.len()));
            start = end;
        }
        let mut outcomes = std::mem::take(&mut self.outcomes);
        // Usage is counted from every event; the usage-only chunk is hidden only from a
        // client that did not ask for it.
        let hide = self.hide_usage_chunk;
        let redacted = match self.redactor.as_mut().filter(|r| !r.is_idle()) {
            Some(r) => r
                .on_burst(
                    &self.events,
                    |ev, reading| {
                        tracker
                            .as_deref_mut()
                            .is_some_and(|t| t.observe(ev, reading))
                            && hide
                    },
                    &mut outcomes,
                    &mut self.rewritten,
                )
                .err(),
            None => {
                outcomes.clear();
                for ev in &self.events {
                    let usage_only = tracker.as_deref_mut().is_some_and(|t| t.on_event(ev));
                    let hidden = usage_only && hide;
                    outcomes.push(if hidden {
                        Outcome::Hidden
                    } else {
                        Outcome::Unchanged
                    });
                }
                None
            }
        };
        // The client's bytes are `complete` itself while every event goes out as it came;
        // from the first that does not, they are rebuilt in `out`: `complete` up to `copied`,
        // then each changed event's new form. `kept`: the end of the events that go out.
        let mut out: Option<Vec<u8>> = None;
        let (mut copied, mut kept) = (0, 0);
        for (raw, events) in spans {
            // After a block, only the events before it go out.
            let Some(these) = outcomes.get(events.clone()) else {
                break;
            };
            kept = raw.end;
            if these.iter().all(|o| *o == Outcome::Unchanged) {
                continue;
            }
            let o = out.get_or_insert_with(|| Vec::with_capacity(complete.len()));
            o.extend_from_slice(complete.get(copied..raw.start).unwrap_or_default());
            copied = raw.end;
            if these.contains(&Outcome::Hidden) {
                continue;
            }
            let evs = self.events.get(events).unwrap_or_default();
            for (ev, outcome) in evs.iter().zip(these) {
                match outcome {
                    Outcome::Unchanged => sse::encode(ev, o),
                    Outcome::Replaced(r) => {
                        for ev in self.rewritten.get(r.clone()).unwrap_or_default() {
                            sse::encode(ev, o);
                        }
                    }
                    Outcome::Hidden => {}
                }
            }
        }
        self.decoder.recycle(&mut self.events);
        self.rewritten.clear();
        self.outcomes = outcomes;
        let unchanged = complete.get(copied..kept).unwrap_or_default();
        if let Some(e) = redacted.map(stopped).or(fault) {
            self.leftover = joined(out, unchanged, &[]);
            return Err(e);
        }
        // Its allocation is kept for the next burst.
        self.ends = ends;
        self.ends.clear();
        let mut held = Vec::new();
        if burst.end {
            if let Some(r) = self.redactor.as_mut() {
                if let Err(b) = r.finish(&mut held) {
                    self.leftover = joined(out, unchanged, &[]);
                    return Err(blocked(b));
                }
            }
        }
        if out.is_none() && held.is_empty() {
            return Ok((kept > 0).then(|| complete.slice(..kept)));
        }
        Ok(joined(out, unchanged, &held))
    }
}

/// `out` (if any), then `rest`, then `events` encoded; `None` when that is nothing.
fn joined(out: Option<Vec<u8>>, rest: &[u8], events: &[SseEvent]) -> Option<Bytes> {
    let mut o = out.unwrap_or_default();
    o.extend_from_slice(rest);
    for ev in events {
        sse::encode(ev, &mut o);
    }
    (!o.is_empty()).then(|| Bytes::from(o))
}

/// What a translated stream keeps between bursts.
pub struct Translation {
    translator: Box<dyn StreamTranslator>,
    decoder: SseDecoder,
    upstream: Vec<SseEvent>,
    client: Vec<SseEvent>,
    redactor: Option<SseRedactor>,
    redacted: Vec<SseEvent>,
    outcomes: Vec<Outcome>,
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
            outcomes: Vec::new(),
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
            let mut outcomes = std::mem::take(&mut self.outcomes);
            let mut replaced = std::mem::take(&mut self.redacted);
            if let Err(stop) = r.on_burst(&self.client, |_, _| false, &mut outcomes, &mut replaced)
            {
                result = Err(stopped(stop));
            }
            // After a block, only the events before it go out.
            let mut redacted = Vec::with_capacity(self.client.len());
            for (ev, outcome) in self.client.drain(..).zip(&outcomes) {
                match outcome {
                    Outcome::Unchanged => redacted.push(ev),
                    Outcome::Replaced(r) => {
                        redacted.extend(replaced.get(r.clone()).unwrap_or_default().iter().cloned())
                    }
                    Outcome::Hidden => {}
                }
            }
            replaced.clear();
            self.redacted = replaced;
            self.outcomes = outcomes;
            if burst.end && result.is_ok() {
                if let Err(b) = r.finish(&mut redacted) {
                    result = Err(blocked(b));
                }
            }
            self.client = redacted;
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

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
