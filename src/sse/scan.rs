//! The fast reading of the events providers send, tried first by `view::openai` and
//! `view::anthropic`: one pass over the bytes, no serde machinery.
//!
//! It reads only a plain subset of JSON: keys without escapes; strings without raw control
//! characters or `\u` surrogates; nesting at most `MAX_DEPTH` deep; each known field at most
//! once and of its usual type; no `usage` object (the one usage chunk of a stream). For
//! anything else it returns `None`, and `serde_json` reads the event as before. So where it
//! answers, it answers exactly what the strict reading would (the differential tests in
//! `scan_tests.rs` hold it to that), only faster: reading an event was the largest part of a
//! redacted stream's own time (`cargo bench --bench redact -- sse_view`).

use super::view::{AnthropicEvent, OpenAiChoice, OpenAiChunk, TextAt};
use std::borrow::Cow;
use std::ops::Range;

/// Deeper values (in fields nobody reads) are left to `serde_json`.
const MAX_DEPTH: usize = 16;

/// An OpenAI chunk, if it is of the plain subset.
pub fn openai(data: &str) -> Option<OpenAiChunk<'_>> {
    openai_at(&mut Cursor::new(data))
}

/// As `openai`, with where each string value of the chunk lies (keys are not values), in
/// order: the holes of an event template (`template.rs`).
pub(super) fn openai_recorded(data: &str) -> Option<(OpenAiChunk<'_>, Vec<Range<usize>>)> {
    let mut c = Cursor::new(data);
    c.holes = Some(Vec::new());
    let chunk = openai_at(&mut c)?;
    Some((chunk, c.holes.unwrap_or_default()))
}

fn openai_at<'a>(c: &mut Cursor<'a>) -> Option<OpenAiChunk<'a>> {
    let mut choices = Vec::new();
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "choices" => {
            seen.once(0)?;
            c.array_or_null(|c| {
                let pos = choices.len() as u64;
                choices.push(openai_choice(c, pos)?);
                Some(())
            })
        }
        // The usage chunk (once per stream) is read by `serde_json`.
        "usage" => {
            seen.once(1)?;
            c.null().then_some(())
        }
        _ => c.skip(1),
    })?;
    c.end()?;
    Some(OpenAiChunk {
        choices,
        usage: None,
    })
}

fn openai_choice<'a>(c: &mut Cursor<'a>, pos: u64) -> Option<OpenAiChoice<'a>> {
    let (mut index, mut ending) = (None, false);
    let (mut content, mut refusal, mut tools) = (None, None, Vec::new());
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "index" => {
            seen.once(0)?;
            index = c.uint()?;
            Some(())
        }
        "finish_reason" => {
            seen.once(1)?;
            ending = !c.null();
            if ending {
                c.skip(3)?;
            }
            Some(())
        }
        "delta" => {
            seen.once(2)?;
            let mut seen = Seen::default();
            c.object_or_null(|c, key| match key {
                "content" => {
                    seen.once(0)?;
                    content = c.text(None, false)?;
                    Some(())
                }
                "refusal" => {
                    seen.once(1)?;
                    refusal = c.text(None, false)?.map(|t| t.text);
                    Some(())
                }
                "tool_calls" => {
                    seen.once(2)?;
                    c.array_or_null(|c| {
                        let tpos = tools.len() as u64;
                        tools.push(tool_call(c, tpos)?);
                        Some(())
                    })
                }
                _ => c.skip(4),
            })
        }
        _ => c.skip(3),
    })?;
    // As the strict reading orders them: the content, then each tool call's arguments.
    let texts = content
        .into_iter()
        .chain(tools.into_iter().flatten())
        .collect();
    Some(OpenAiChoice {
        index: index.unwrap_or(pos),
        ending,
        texts,
        refusal,
    })
}

/// One tool call: its arguments, if they are a string.
fn tool_call<'a>(c: &mut Cursor<'a>, tpos: u64) -> Option<Option<TextAt<'a>>> {
    let (mut index, mut arguments) = (None, None);
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "index" => {
            seen.once(0)?;
            index = c.uint()?;
            Some(())
        }
        "function" => {
            seen.once(1)?;
            let mut seen = Seen::default();
            c.object_or_null(|c, key| match key {
                "arguments" => {
                    seen.once(0)?;
                    arguments = Some(c.text_literal()?);
                    Some(())
                }
                _ => c.skip(7),
            })
        }
        _ => c.skip(6),
    })?;
    let tool = Some(index.unwrap_or(tpos));
    Some(arguments.flatten().map(|(raw, text)| TextAt {
        tool,
        json: true,
        raw,
        text,
    }))
}

/// An Anthropic event, if it is of the plain subset.
pub fn anthropic(data: &str) -> Option<AnthropicEvent<'_>> {
    let mut c = Cursor::new(data);
    let (mut kind, mut index) = (Cow::Borrowed(""), None);
    let (mut delta, mut block) = (None, None);
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "type" => {
            seen.once(0)?;
            if !c.null() {
                kind = c.text(None, false)?.map(|t| t.text)?;
            }
            Some(())
        }
        "index" => {
            seen.once(1)?;
            index = c.uint()?;
            Some(())
        }
        "delta" => {
            seen.once(2)?;
            delta = typed(c)?;
            Some(())
        }
        "content_block" => {
            seen.once(3)?;
            block = typed(c)?;
            Some(())
        }
        _ => c.skip(1),
    })?;
    c.end()?;
    let text = match kind.as_ref() {
        "content_block_start" => block.and_then(|b: Typed<'_>| {
            let json = b.kind.as_deref().is_some_and(|k| k.ends_with("tool_use"));
            b.text.map(|(raw, text)| TextAt {
                tool: None,
                json,
                raw,
                text,
            })
        }),
        "content_block_delta" => delta.and_then(|d| {
            let (field, json) = match d.kind.as_deref() {
                Some("text_delta") => (d.text, false),
                Some("input_json_delta") => (d.partial_json, true),
                _ => (None, false),
            };
            field.map(|(raw, text)| TextAt {
                tool: None,
                json,
                raw,
                text,
            })
        }),
        _ => None,
    };
    Some(AnthropicEvent {
        kind,
        index: index.unwrap_or(0),
        text,
    })
}

/// An Anthropic content block or delta: each field's string, if it is one.
#[derive(Default)]
struct Typed<'a> {
    kind: Option<Cow<'a, str>>,
    text: Option<(&'a str, Cow<'a, str>)>,
    partial_json: Option<(&'a str, Cow<'a, str>)>,
}

/// `null`, or an object read as `Typed`.
fn typed<'a>(c: &mut Cursor<'a>) -> Option<Option<Typed<'a>>> {
    if c.null() {
        return Some(None);
    }
    let mut t = Typed::default();
    let mut seen = Seen::default();
    c.object(|c, key| match key {
        "type" => {
            seen.once(0)?;
            t.kind = c.text_literal()?.map(|(_, text)| text);
            Some(())
        }
        "text" => {
            seen.once(1)?;
            t.text = c.text_literal()?;
            Some(())
        }
        "partial_json" => {
            seen.once(2)?;
            t.partial_json = c.text_literal()?;
            Some(())
        }
        _ => c.skip(2),
    })?;
    Some(Some(t))
}

/// The bytes that end a plain run inside a string: a quote, a backslash, a control character.
static STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        stops[c] = true;
        c += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
};

/// The length of the plain run `bytes` starts with; `None` when nothing ends it. Eight
/// bytes at a time while none of them ends it, then byte by byte.
fn plain_run(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Some byte of `w` is below `n` (`n` at most 0x80): exact for "some byte".
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH != 0;
    let has = |w: u64, c: u8| below(w ^ (ONES * u64::from(c)), 1);
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        if below(w, 0x20) || has(w, b'"') || has(w, b'\\') {
            break;
        }
        at += 8;
    }
    Some(
        at + bytes
            .get(at..)?
            .iter()
            .position(|&c| STOPS[usize::from(c)])?,
    )
}

/// The known keys of one object met so far: a repeated one is left to `serde_json`.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    fn once(&mut self, bit: u8) -> Option<()> {
        let mask = 1 << bit;
        (self.0 & mask == 0).then(|| self.0 |= mask)
    }
}

/// The string token starting exactly at `at` in `data`, as the reading accepts strings:
/// where it ends (after the closing quote) and whether it holds escapes.
pub(super) fn string_at(data: &str, at: usize) -> Option<(usize, bool)> {
    if data.as_bytes().get(at) != Some(&b'"') {
        return None;
    }
    let mut c = Cursor::new(data);
    c.at = at;
    let (_, escaped) = c.string()?;
    Some((c.at, escaped))
}

/// The text of a string token the reading accepted (`string_at`), quotes off.
pub(super) fn decode(literal: &str, escaped: bool) -> Option<Cow<'_, str>> {
    if escaped {
        // A checked literal with no surrogates: `serde_json` decodes it.
        Some(Cow::Owned(serde_json::from_str::<String>(literal).ok()?))
    } else {
        Some(Cow::Borrowed(literal.get(1..literal.len() - 1)?))
    }
}

/// A position in an event's data. Every reader returns `None` for what is not of the plain
/// subset, leaving the position anywhere; the caller then gives up on the whole event.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
    /// When recording: where each string value read so far lies.
    holes: Option<Vec<Range<usize>>>,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            s,
            at: 0,
            holes: None,
        }
    }

    /// The string value at the cursor, recorded as a hole when recording.
    fn value_string(&mut self) -> Option<(&'a str, bool)> {
        self.peek()?;
        let start = self.at;
        let read = self.string()?;
        if let Some(holes) = &mut self.holes {
            holes.push(start..self.at);
        }
        Some(read)
    }

    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// The next byte after whitespace, the cursor on it.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
        self.bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Nothing but whitespace is left.
    fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// Walks the object at the cursor: `field` gets each key (quotes off) with the cursor at
    /// its value, and must read the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let (key, escaped) = self.string()?;
            if escaped {
                return None;
            }
            self.eat(b':')?;
            field(self, key.get(1..key.len() - 1)?)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Walks the array at the cursor: `item` must read each value.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `null`, or an object walked as `object` walks it.
    fn object_or_null(
        &mut self,
        field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        if self.null() {
            return Some(());
        }
        self.object(field)
    }

    /// `null`, or an array walked as `array` walks it.
    fn array_or_null(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.null() {
            return Some(());
        }
        self.array(item)
    }

    /// Skips one value of any type, `depth` deep.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.value_string().map(drop),
            b'{' => self.object(|c, _| c.skip(depth + 1)),
            b'[' => self.array(|c| c.skip(depth + 1)),
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            _ => self.number().map(drop),
        }
    }

    fn word(&mut self, word: &str) -> Option<()> {
        let rest = self.s.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// Reads `null` if it is next.
    fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.word("null").is_some()
    }

    /// A number as the JSON grammar writes it.
    fn number(&mut self) -> Option<&'a str> {
        self.peek()?;
        let start = self.at;
        let b = self.bytes();
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i).then_some(())?;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            digits(&mut i).then_some(())?;
        }
        self.at = i;
        self.s.get(start..i)
    }

    /// `null` (`Some(None)`) or an unsigned integer that fits a `u64`.
    fn uint(&mut self) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        let n = self.number()?;
        n.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| n.parse().ok())?
            .map(Some)
    }

    /// The string token at the cursor, quotes included, and whether it holds escapes.
    fn string(&mut self) -> Option<(&'a str, bool)> {
        self.peek()?;
        let b = self.bytes();
        let start = self.at;
        if b.get(start) != Some(&b'"') {
            return None;
        }
        let (mut i, mut escaped) = (start + 1, false);
        loop {
            // The plain run up to the next quote, backslash or control character.
            i += plain_run(b.get(i..)?)?;
            match *b.get(i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i += match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' => {
                            let hex = b.get(i + 2..i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            // Surrogates, paired or not, are left to `serde_json`.
                            if let [b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F', ..] = hex
                            {
                                return None;
                            }
                            6
                        }
                        _ => return None,
                    };
                }
                _ => return None,
            }
        }
        self.at = i + 1;
        Some((self.s.get(start..=i)?, escaped))
    }

    /// Any value: a string's literal and its text; `None` inside for `null` or another type.
    fn text_literal(&mut self) -> Option<Option<(&'a str, Cow<'a, str>)>> {
        if self.peek()? != b'"' {
            self.skip(MAX_DEPTH)?;
            return Some(None);
        }
        let (literal, escaped) = self.value_string()?;
        Some(Some((literal, decode(literal, escaped)?)))
    }

    /// As `text_literal`, as an OpenAI text field.
    fn text(&mut self, tool: Option<u64>, json: bool) -> Option<Option<TextAt<'a>>> {
        Some(self.text_literal()?.map(|(raw, text)| TextAt {
            tool,
            json,
            raw,
            text,
        }))
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
