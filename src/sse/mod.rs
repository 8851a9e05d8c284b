//! Server-sent events: an incremental, bounded decoder over arbitrary byte chunks and the
//! matching encoder. Pure: no I/O, no clocks.
//!
//! The decoder follows the WHATWG event-stream rules the providers rely on: lines end in
//! `\n`, `\r\n` or `\r`; an empty line dispatches the event; `event:` names it; several
//! `data:` lines join with `\n`; lines starting with `:` are comments; one space after the
//! colon is dropped; `id:` and `retry:` are accepted and ignored. An event with no `data`
//! line is not dispatched. A line or event longer than the limit is an error, so a broken
//! upstream cannot make the gateway buffer without bound.

mod scan;
pub mod template;
#[cfg(test)]
pub(crate) mod test_support;
pub mod view;

use std::fmt;

/// One event: its `event:` name, if any, and its data (lines joined with `\n`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// An unnamed event (OpenAI and Gemini streams).
    pub fn data(data: impl Into<String>) -> Self {
        SseEvent {
            event: None,
            data: data.into(),
        }
    }

    /// A named event (Anthropic streams: `event: content_block_delta`).
    pub fn named(event: impl Into<String>, data: impl Into<String>) -> Self {
        SseEvent {
            event: Some(event.into()),
            data: data.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError(pub String);

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SseError {}

/// The default bound on one event (its lines together): far above any real provider event.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

pub struct SseDecoder {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    size: usize,
    max: usize,
    /// Emptied data strings of events the caller is done with (`recycle`), reused for the
    /// next events so a stream's steady state allocates nothing per event.
    spare: Vec<String>,
}

/// How many emptied strings a decoder keeps, and the largest it keeps: an open stream holds
/// at most these few kilobytes, never a huge event's buffer.
const SPARE_STRINGS: usize = 16;
const SPARE_CAPACITY: usize = 1024;

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new(MAX_EVENT_BYTES)
    }
}

impl SseDecoder {
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: String::new(),
            has_data: false,
            size: 0,
            max: max_event_bytes,
            spare: Vec::new(),
        }
    }

    /// Take back the events the caller is done with (emptying `events`): their data strings
    /// are reused for the next events (a few, of small capacity; the rest are freed).
    pub fn recycle(&mut self, events: &mut Vec<SseEvent>) {
        for ev in events.drain(..) {
            let mut data = ev.data;
            if self.spare.len() < SPARE_STRINGS && data.capacity() <= SPARE_CAPACITY {
                data.clear();
                self.spare.push(data);
            }
        }
    }

    /// Feed the next chunk; complete events are appended to `out` in order.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut rest = chunk;
        if rest.is_empty() {
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
        }
        // memchr2: a SIMD scan for line ends, the decoder's main cost on a stream.
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', rest) {
            let (head, tail) = rest.split_at(pos);
            let is_cr = tail.first() == Some(&b'\r');
            rest = tail.get(1..).unwrap_or_default();
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = rest.get(1..).unwrap_or_default(),
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if self.line.is_empty() {
                // The whole line is in this chunk: parse it where it lies.
                self.count(head.len())?;
                self.line(head, out)?;
            } else {
                self.push_bytes(head)?;
                let line = std::mem::take(&mut self.line);
                self.line(&line, out)?;
                self.line = line;
                self.line.clear();
            }
        }
        self.push_bytes(rest)
    }

    /// The stream ended. A final event not followed by a blank line is dispatched (servers
    /// that close right after the last `data:` line are common); a half line is an error.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<(), SseError> {
        self.size += n;
        if self.size > self.max {
            return Err(SseError(format!("an event exceeded {} bytes", self.max)));
        }
        Ok(())
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        self.count(bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| SseError("an event is not valid UTF-8".into()))?;
        if line.starts_with(':') {
            return Ok(());
        }
        // memchr: `split_once(':')` searched character by character, a tenth of a stream's
        // decoding. A colon is ASCII, so both sides are whole characters.
        let (field, value) = match memchr::memchr(b':', line.as_bytes()) {
            Some(colon) => {
                let v = line.get(colon + 1..).unwrap_or_default();
                (
                    line.get(..colon).unwrap_or_default(),
                    v.strip_prefix(' ').unwrap_or(v),
                )
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry, and unknown fields are ignored, as the standard says
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            let next = self.spare.pop().unwrap_or_default();
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::replace(&mut self.data, next),
            });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
        self.size = 0;
    }
}

/// Splits a byte stream into complete raw events (each with the blank line that ends it),
/// holding back a partial event until the rest arrives, so a caller can drop one event and
/// pass every other byte on exactly as it came. Bounded like the decoder. No copy is made
/// when a chunk ends on an event boundary and nothing was held back (the usual case).
#[derive(Default)]
pub struct EventSplitter {
    held: bytes::BytesMut,
    /// Where the scan for a blank line resumes in `held` (linear over a long event).
    scanned: usize,
}

impl EventSplitter {
    /// Append `chunk`. Returns the bytes of every event now complete, as one slice, and puts
    /// the end offset of each event within that slice in `ends`.
    pub fn push(
        &mut self,
        chunk: &bytes::Bytes,
        ends: &mut Vec<usize>,
    ) -> Result<bytes::Bytes, SseError> {
        ends.clear();
        if self.held.is_empty() {
            // The usual case: scan the chunk where it lies, copy only a trailing partial event.
            let mut at = 0;
            while let Some(end) = blank_line_end(chunk, at) {
                ends.push(end);
                at = end;
            }
            self.hold(chunk.get(at..).unwrap_or_default())?;
            return Ok(chunk.slice(..at));
        }
        self.hold(chunk)?;
        let mut at = 0;
        while let Some(end) = blank_line_end(&self.held, at.max(self.scanned)) {
            ends.push(end);
            at = end;
        }
        let done = self.held.split_to(at).freeze();
        // A terminator may straddle chunks: resume a few bytes back.
        self.scanned = self.held.len().saturating_sub(3);
        Ok(done)
    }

    fn hold(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.held.len() + bytes.len() > MAX_EVENT_BYTES {
            return Err(SseError(format!(
                "an event exceeded {MAX_EVENT_BYTES} bytes"
            )));
        }
        self.held.extend_from_slice(bytes);
        Ok(())
    }

    /// The stream ended: whatever is held (an event without its blank line) goes as it is.
    pub fn finish(&mut self) -> Option<bytes::Bytes> {
        self.scanned = 0;
        (!self.held.is_empty()).then(|| self.held.split().freeze())
    }
}

/// The index just past the first blank line at or after `from`: an empty line after a line
/// ending (`\n\n`, `\r\n\r\n`, `\r\r`, and mixes). A lone `\r` at the very end may still
/// become `\r\n`, so it is not taken as a terminator yet.
fn blank_line_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        // The end of the next line (a SIMD scan); is the line after it empty?
        i += memchr::memchr2(b'\n', b'\r', buf.get(i..)?)?;
        let b = buf.get(i).copied()?;
        let after = if b == b'\r' && buf.get(i + 1) == Some(&b'\n') {
            i + 2
        } else {
            i + 1
        };
        if b == b'\r' && after == buf.len() {
            return None;
        }
        match buf.get(after) {
            Some(b'\n') => return Some(after + 1),
            Some(b'\r') => {
                return match buf.get(after + 1) {
                    Some(b'\n') => Some(after + 2),
                    Some(_) => Some(after + 1),
                    None => None,
                }
            }
            _ => i = after,
        }
    }
    None
}

/// Append `ev` in wire form: `event: NAME\n` when named, one `data:` line per line of data,
/// and the blank line that ends it.
pub fn encode(ev: &SseEvent, out: &mut Vec<u8>) {
    if let Some(name) = &ev.event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in ev.data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, SseError> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    const STREAM: &[u8] = b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: line one\ndata:line two\n\nevent: ping\ndata: {}\r\rid: 7\nretry: 10\ndata: [DONE]\n\ndata\ndata:  two: spaces\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent::named("message_start", "{\"a\":1}"),
            SseEvent::data("line one\nline two"),
            SseEvent::named("ping", "{}"),
            SseEvent::data("[DONE]"),
            // A field with no colon has an empty value; only the first space is dropped.
            SseEvent::data("\n two: spaces"),
        ]
    }

    #[test]
    fn decodes_names_comments_multiline_and_every_line_ending() {
        assert_eq!(decode_all(&[STREAM]).unwrap(), expected());
    }

    #[test]
    fn every_split_into_two_or_three_chunks_decodes_the_same() {
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                let got = decode_all(&[&STREAM[..i], &STREAM[i..j], &STREAM[j..]]).unwrap();
                assert_eq!(got, expected(), "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn recycled_strings_are_reused_and_large_ones_freed() {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for _ in 0..3 {
            d.feed(STREAM, &mut out).unwrap();
            assert_eq!(out, expected(), "recycled strings carry nothing over");
            d.recycle(&mut out);
            assert!(out.is_empty());
        }
        // Steady state: the next events' data live in the strings handed back (and in the
        // buffer the decoder is filling).
        let mut reused: Vec<*const u8> = d.spare.iter().map(|s| s.as_ptr()).collect();
        reused.push(d.data.as_ptr());
        d.feed(STREAM, &mut out).unwrap();
        assert!(out.iter().all(|ev| reused.contains(&ev.data.as_ptr())));
        d.recycle(&mut out);

        let big = format!("data: {}\n\n", "x".repeat(SPARE_CAPACITY + 1));
        let before = d.spare.len();
        d.feed(big.as_bytes(), &mut out).unwrap();
        d.recycle(&mut out);
        assert_eq!(
            d.spare.len(),
            before - 1,
            "a large event's buffer is not kept"
        );
        assert!(d.spare.iter().all(|s| s.capacity() <= SPARE_CAPACITY));
    }

    #[test]
    fn byte_by_byte_decodes_the_same() {
        let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode_all(&chunks).unwrap(), expected());
    }

    #[test]
    fn a_last_event_without_blank_line_is_kept_and_empty_events_are_dropped() {
        assert_eq!(
            decode_all(&[b"\n\nevent: x\n\ndata: tail"]).unwrap(),
            vec![SseEvent::data("tail")]
        );
    }

    #[test]
    fn oversized_events_and_bad_utf8_are_errors() {
        let mut d = SseDecoder::new(16);
        let mut out = Vec::new();
        assert!(d.feed(b"data: 0123456789abcdefghij", &mut out).is_err());
        let mut d = SseDecoder::new(16);
        // Many small events are fine: the bound is per event.
        for _ in 0..100 {
            d.feed(b"data: 0123\n\n", &mut out).unwrap();
        }
        assert_eq!(out.len(), 100);
        assert!(decode_all(&[b"data: \xff\n\n"]).is_err());
    }

    /// Events and leftovers of feeding `parts` through a splitter.
    fn split(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = EventSplitter::default();
        let mut ends = Vec::new();
        let mut raw = Vec::new();
        for p in parts {
            let done = s
                .push(&bytes::Bytes::copy_from_slice(p), &mut ends)
                .unwrap();
            let mut start = 0;
            for &end in &ends {
                raw.push(done[start..end].to_vec());
                start = end;
            }
            assert_eq!(start, done.len());
        }
        raw.extend(s.finish().map(|b| b.to_vec()));
        raw
    }

    #[test]
    fn the_splitter_keeps_every_byte_and_every_event_at_any_split() {
        for i in 0..=STREAM.len() {
            let raw = split(&[&STREAM[..i], &STREAM[i..]]);
            assert_eq!(raw.concat(), STREAM, "split at {i}");
            let events: Vec<SseEvent> =
                raw.iter().flat_map(|r| decode_all(&[r]).unwrap()).collect();
            assert_eq!(events, expected(), "split at {i}");
        }
    }

    #[test]
    fn the_splitter_holds_a_partial_event_and_does_not_copy_whole_ones() {
        assert_eq!(
            split(&[b"data: a\n\ndata: b", b"\r\n\r\n"]),
            vec![b"data: a\n\n".to_vec(), b"data: b\r\n\r\n".to_vec()]
        );
        let chunk = bytes::Bytes::from_static(b"data: a\n\ndata: b\n\n");
        let done = EventSplitter::default()
            .push(&chunk, &mut Vec::new())
            .unwrap();
        assert_eq!(
            done.as_ptr(),
            chunk.as_ptr(),
            "no copy when the chunk ends on a boundary"
        );
    }

    #[test]
    fn encode_round_trips() {
        let mut wire = Vec::new();
        for ev in expected() {
            encode(&ev, &mut wire);
        }
        assert_eq!(decode_all(&[&wire]).unwrap(), expected());
        let mut one = Vec::new();
        encode(&SseEvent::named("message_stop", "{}"), &mut one);
        assert_eq!(one, b"event: message_stop\ndata: {}\n\n");
    }
}
