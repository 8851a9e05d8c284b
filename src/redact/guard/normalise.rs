//! The text the injection guard matches phrases in: [`normalise`] undoes case, leetspeak,
//! invisible characters and letters spelled out with punctuation or spaces between them.
//! ASCII text goes through a byte table, and so does text whose only non-ASCII characters
//! are punctuation or spaces (typographic quotes, emoji); other text through Unicode's
//! tables, remembered per character.

use std::ops::Range;

/// Zero-width and invisible formatting characters dropped before matching.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// Leetspeak and look-alike symbols, undone.
const fn unleet(c: char) -> char {
    match c {
        '1' => 'i',
        '3' => 'e',
        '0' => 'o',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '@' => 'a',
        '$' => 's',
        c => c,
    }
}

/// The form phrases are matched in: lower-case, leetspeak undone, invisible characters
/// removed, words separated by single spaces; punctuation inside a word goes when a single
/// letter stands next to it (`i.g.n.o.r.e`, `don't`), else it separates words; three or
/// more single letters in a row separated by spaces are joined (`i g n o r e`).
pub fn normalise(text: &str) -> String {
    if text.is_ascii() {
        return normalise_ascii(text.as_bytes());
    }
    if let Some(bytes) = ascii_stand_in(text) {
        return normalise_ascii(&bytes);
    }
    let mut memo = Memo::new();
    let mut chars = Vec::with_capacity(text.len());
    for c in text.chars().filter(|c| !invisible(*c)) {
        memo.map(c, &mut chars);
    }
    let mut words = Words::<String>::with_capacity(text.len());
    words.read(
        &chars,
        |e| e.1,
        |run, out| out.extend(run.iter().map(|e| e.0)),
    );
    words.finish()
}

/// ASCII text, byte by byte through a table into bytes: no invisible characters and no
/// multi-character lower-casing in ASCII.
fn normalise_ascii(text: &[u8]) -> String {
    let entry = |b: &u8| {
        ASCII
            .get(usize::from(*b))
            .copied()
            .unwrap_or((*b, Kind::Punct))
    };
    let mut words = Words::<Vec<u8>>::with_capacity(text.len());
    words.read(
        text,
        |b| entry(b).1,
        |run, out| out.extend(run.iter().map(|b| entry(b).0)),
    );
    words.finish()
}

/// Text whose only non-ASCII characters are punctuation, spaces or invisible (typographic
/// quotes and dashes, emoji, no-break spaces: what usually makes English text non-ASCII)
/// normalises as the ASCII text with each of those replaced by an ASCII character of its
/// kind, or dropped when invisible: of a character that is not part of a word, only its kind
/// counts, and it never reaches the output. `None` when a non-ASCII character is part of a
/// word (a letter or digit), which only the Unicode path maps.
fn ascii_stand_in(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    loop {
        let n = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        out.extend_from_slice(head.as_bytes());
        let mut chars = tail.chars();
        let Some(c) = chars.next() else {
            return Some(out);
        };
        if !invisible(c) {
            // As `Memo::map` maps it; a character that lower-cases to several is a letter.
            let mut lower = c.to_lowercase();
            let (Some(n), None) = (lower.next(), lower.next()) else {
                return None;
            };
            match kind_of(n) {
                Kind::Word => return None,
                Kind::Space => out.push(b' '),
                Kind::Punct => out.push(b'#'),
            }
        }
        rest = chars.as_str();
    }
}

/// The kind of a normalised character.
#[derive(PartialEq, Clone, Copy, Debug)]
enum Kind {
    Word,
    Space,
    Punct,
}

fn kind_of(c: char) -> Kind {
    if c.is_alphanumeric() {
        Kind::Word
    } else if c.is_whitespace() {
        Kind::Space
    } else {
        Kind::Punct
    }
}

/// Each ASCII byte normalised (lower-case, leetspeak undone), with its kind: what the
/// Unicode path would make of it (`the_ascii_table_agrees_with_unicode`).
static ASCII: [(u8, Kind); 128] = {
    let mut table = [(0, Kind::Punct); 128];
    let mut b = 0;
    while b < 128 {
        let c = unleet((b as u8).to_ascii_lowercase() as char);
        let kind = if c.is_ascii_alphanumeric() {
            Kind::Word
        } else if matches!(c, '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ') {
            Kind::Space
        } else {
            Kind::Punct
        };
        table[b] = (c as u8, kind);
        b += 1;
    }
    table
};

/// Non-ASCII characters normalised, remembered by a small direct-mapped table: Unicode's
/// case and class lookups cost tens of nanoseconds each, and a text repeats few characters.
struct Memo([(char, char, Kind); 128]);

impl Memo {
    fn new() -> Self {
        // ASCII keys never reach the table, so '\0' marks an empty slot.
        Memo([('\0', '\0', Kind::Punct); 128])
    }

    /// Appends `c` normalised (lower-case, leetspeak undone, with its kind) to `out`.
    fn map(&mut self, c: char, out: &mut Vec<(char, Kind)>) {
        if let Some(&(n, kind)) = ASCII.get(c as usize) {
            out.push((char::from(n), kind));
            return;
        }
        let uncached = |c: char| c.to_lowercase().map(unleet).map(|n| (n, kind_of(n)));
        let Some(slot) = self.0.get_mut(c as usize % 128) else {
            return out.extend(uncached(c));
        };
        if slot.0 == c {
            out.push((slot.1, slot.2));
            return;
        }
        let mut lower = c.to_lowercase();
        if let (Some(n), None) = (lower.next(), lower.next()) {
            let n = unleet(n);
            *slot = (c, n, kind_of(n));
            out.push((n, slot.2));
        } else {
            // Lower-cases to several characters (`İ`): each counts as one.
            out.extend(uncached(c));
        }
    }
}

/// `normalise` after the characters are mapped: each word written straight into the
/// output as its run of characters is read. Single-character words are written like any
/// other and joined once it is known that three or more came in a row, which is rare, so
/// the common word costs one copy and no bookkeeping.
struct Words<B> {
    out: B,
    /// Characters in the word being written; 0 between words.
    word_chars: usize,
    /// Where the word being written starts in `out`.
    word_start: usize,
    /// Single-character words in a row so far, and where the first of them starts in `out`.
    singles: usize,
    singles_start: usize,
}

impl<B: Out> Words<B> {
    fn with_capacity(n: usize) -> Self {
        Words {
            out: B::with_capacity(n),
            word_chars: 0,
            word_start: 0,
            singles: 0,
            singles_start: 0,
        }
    }

    /// Reads `items`, each of a `kind`, run by run (a run: items of one kind in a row);
    /// `write` appends a run of word characters to the output, normalised.
    fn read<T>(&mut self, items: &[T], kind: impl Fn(&T) -> Kind, write: impl Fn(&[T], &mut B)) {
        // The length of the run just read, when it was a run of word characters.
        let mut prev_word: Option<usize> = None;
        let mut i = 0;
        while let Some(first) = items.get(i) {
            let start = i;
            let k = kind(first);
            while items.get(i).is_some_and(|t| kind(t) == k) {
                i += 1;
            }
            match k {
                Kind::Word => {
                    if self.word_chars == 0 {
                        self.begin_word();
                    }
                    write(items.get(start..i).unwrap_or_default(), &mut self.out);
                    self.word_chars += i - start;
                    prev_word = Some(i - start);
                    continue;
                }
                Kind::Space => self.end_word(),
                Kind::Punct => {
                    // Punctuation between letters, next to a single letter, is part of the
                    // word (`i.g.n`, `don't`).
                    let is_word = |j: usize| items.get(j).is_some_and(|t| kind(t) == Kind::Word);
                    let glue = is_word(i) && prev_word.is_some_and(|n| n == 1 || !is_word(i + 1));
                    if !glue {
                        self.end_word();
                    }
                }
            }
            prev_word = None;
        }
    }

    /// Starts a word: a space first unless it is the first.
    fn begin_word(&mut self) {
        if self.out.len() > 0 {
            self.out.push_space();
        }
        self.word_start = self.out.len();
    }

    fn end_word(&mut self) {
        match self.word_chars {
            0 => return,
            1 => {
                if self.singles == 0 {
                    self.singles_start = self.word_start;
                }
                self.singles += 1;
            }
            // The space before this word ends the singles.
            _ if self.singles > 0 => self.join_singles(self.word_start.saturating_sub(1)),
            _ => {}
        }
        self.word_chars = 0;
    }

    /// Three or more single-character words in a row are one word (`i g n o r e`): the
    /// spaces between them, which end at `end` in `out`, go. Fewer stay apart, as written.
    fn join_singles(&mut self, end: usize) {
        if self.singles >= 3 {
            self.out.remove_spaces(self.singles_start..end);
        }
        self.singles = 0;
    }

    fn finish(mut self) -> String {
        self.end_word();
        let end = self.out.len();
        self.join_singles(end);
        self.out.into_string()
    }
}

/// What `Words` writes into: bytes for ASCII text (a byte table's output, copied by the
/// run), a `String` otherwise (characters encoded as they are pushed, no check at the end).
trait Out {
    fn with_capacity(n: usize) -> Self;
    fn len(&self) -> usize;
    fn push_space(&mut self);
    /// Removes the spaces in `range`, if it is one of `self`'s.
    fn remove_spaces(&mut self, range: Range<usize>);
    fn into_string(self) -> String;
}

impl Out for Vec<u8> {
    fn with_capacity(n: usize) -> Self {
        Vec::with_capacity(n)
    }
    fn len(&self) -> usize {
        self.len()
    }
    fn push_space(&mut self) {
        self.push(b' ');
    }
    fn remove_spaces(&mut self, range: Range<usize>) {
        let kept: Option<Vec<u8>> = self
            .get(range.clone())
            .map(|s| s.iter().copied().filter(|b| *b != b' ').collect());
        if let Some(kept) = kept {
            self.splice(range, kept);
        }
    }
    fn into_string(self) -> String {
        // Only ASCII is written; were anything else, the text would still be read, lossily.
        String::from_utf8(self).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

impl Out for String {
    fn with_capacity(n: usize) -> Self {
        String::with_capacity(n)
    }
    fn len(&self) -> usize {
        self.len()
    }
    fn push_space(&mut self) {
        self.push(' ');
    }
    fn remove_spaces(&mut self, range: Range<usize>) {
        // `get` first: a range it accepts is one `replace_range` cannot panic on.
        if let Some(kept) = self.get(range.clone()).map(|s| s.replace(' ', "")) {
            self.replace_range(range, &kept);
        }
    }
    fn into_string(self) -> String {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_table_agrees_with_unicode() {
        for (b, entry) in (0u8..).zip(ASCII.iter()) {
            let c = unleet(char::from(b).to_lowercase().next().unwrap_or('\0'));
            assert_eq!(*entry, (c as u8, kind_of(c)), "byte {b}");
        }
    }
}
