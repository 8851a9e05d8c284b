//! A one-pass reader of the plain subset of JSON that providers write, with where each value
//! lies in the text: the fast reading of stream events (`sse::scan`) and of whole answers
//! (`answer_view`). No serde machinery, no tree.
//!
//! The subset: keys without escapes; strings without raw control characters or `\u`
//! surrogates; nesting at most `MAX_DEPTH` deep. Every reader returns `None` for anything
//! else, and its caller then leaves the whole text to `serde_json`, so where the fast reading
//! answers, it answers as the strict one would.

use std::borrow::Cow;
use std::ops::Range;

/// Deeper values (in fields nobody reads) are left to `serde_json`.
pub(crate) const MAX_DEPTH: usize = 16;

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
pub(crate) struct Seen(u8);

impl Seen {
    pub(crate) fn once(&mut self, bit: u8) -> Option<()> {
        let mask = 1 << bit;
        (self.0 & mask == 0).then(|| self.0 |= mask)
    }
}

/// The string token starting exactly at `at` in `data`, as the reading accepts strings:
/// where it ends (after the closing quote) and whether it holds escapes.
pub(crate) fn string_at(data: &str, at: usize) -> Option<(usize, bool)> {
    if data.as_bytes().get(at) != Some(&b'"') {
        return None;
    }
    let mut c = Cursor::new(data);
    c.at = at;
    let (_, escaped) = c.string()?;
    Some((c.at, escaped))
}

/// The text of a string token the reading accepted (`string_at`), quotes off.
pub(crate) fn decode(literal: &str, escaped: bool) -> Option<Cow<'_, str>> {
    if escaped {
        // A checked literal with no surrogates: `serde_json` decodes it.
        Some(Cow::Owned(serde_json::from_str::<String>(literal).ok()?))
    } else {
        Some(Cow::Borrowed(literal.get(1..literal.len() - 1)?))
    }
}

/// A position in an event's data. Every reader returns `None` for what is not of the plain
/// subset, leaving the position anywhere; the caller then gives up on the whole event.
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pub(crate) at: usize,
    /// When recording: where each string value read so far lies.
    pub(crate) holes: Option<Vec<Range<usize>>>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor {
            s,
            at: 0,
            holes: None,
        }
    }

    /// The string value at the cursor, recorded as a hole when recording.
    pub(crate) fn value_string(&mut self) -> Option<(&'a str, bool)> {
        self.peek()?;
        let start = self.at;
        let read = self.string()?;
        if let Some(holes) = &mut self.holes {
            holes.push(start..self.at);
        }
        Some(read)
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// The next byte after whitespace, the cursor on it.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
        self.bytes().get(self.at).copied()
    }

    pub(crate) fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Nothing but whitespace is left.
    pub(crate) fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// Walks the object at the cursor: `field` gets each key (quotes off) with the cursor at
    /// its value, and must read the value.
    pub(crate) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
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
    pub(crate) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
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
    pub(crate) fn object_or_null(
        &mut self,
        field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        if self.null() {
            return Some(());
        }
        self.object(field)
    }

    /// `null`, or an array walked as `array` walks it.
    pub(crate) fn array_or_null(
        &mut self,
        item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if self.null() {
            return Some(());
        }
        self.array(item)
    }

    /// Skips one value of any type, `depth` deep.
    pub(crate) fn skip(&mut self, depth: usize) -> Option<()> {
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

    /// Skips one value as `skip` does, `depth` deep, and gives it as written.
    pub(crate) fn value_raw(&mut self, depth: usize) -> Option<&'a str> {
        self.peek()?;
        let start = self.at;
        self.skip(depth)?;
        self.s.get(start..self.at)
    }

    pub(crate) fn word(&mut self, word: &str) -> Option<()> {
        let rest = self.s.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// Reads `null` if it is next.
    pub(crate) fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.word("null").is_some()
    }

    /// A number as the JSON grammar writes it.
    pub(crate) fn number(&mut self) -> Option<&'a str> {
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
        let n = self.s.get(start..i)?;
        // `serde_json` refuses a number beyond `f64` (`1e400`, 400 digits): so does this.
        if n.len() > 20 || n.contains(['e', 'E']) {
            n.parse::<f64>().ok().filter(|f| f.is_finite())?;
        }
        self.at = i;
        Some(n)
    }

    /// `null` (`Some(None)`) or an unsigned integer that fits a `u64`.
    pub(crate) fn uint(&mut self) -> Option<Option<u64>> {
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
    pub(crate) fn string(&mut self) -> Option<(&'a str, bool)> {
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
    pub(crate) fn text_literal(&mut self) -> Option<Option<(&'a str, Cow<'a, str>)>> {
        if self.peek()? != b'"' {
            self.skip(MAX_DEPTH)?;
            return Some(None);
        }
        let (literal, escaped) = self.value_string()?;
        Some(Some((literal, decode(literal, escaped)?)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{plain_run, STOPS};
    use crate::sse::test_support::Rng;

    /// The eight-bytes-at-a-time search finds what a byte-by-byte one finds.
    #[test]
    fn a_plain_run_ends_where_byte_by_byte_it_would() {
        let mut rng = Rng(7);
        let alphabet = [
            b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']',
        ];
        for _ in 0..20_000 {
            let len = rng.below(40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(4) {
                    0 => alphabet[rng.below(alphabet.len())],
                    _ => b'a' + rng.below(26) as u8,
                })
                .collect();
            let expected = bytes.iter().position(|&c| STOPS[usize::from(c)]);
            assert_eq!(plain_run(&bytes), expected, "{bytes:?}");
        }
    }
}
