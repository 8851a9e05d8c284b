//! The text the injection guard matches phrases in: [`normalise`] undoes case, leetspeak,
//! invisible characters and letters spelled out with punctuation or spaces between them.
//! ASCII text goes through a byte table; other text through Unicode's tables, remembered
//! per character.

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
    let mut words = Words::with_capacity(text.len());
    if text.is_ascii() {
        // The common case, byte by byte through a table: no invisible characters and no
        // multi-character lower-casing in ASCII.
        let entry = |b: &u8| {
            ASCII
                .get(usize::from(*b))
                .copied()
                .unwrap_or((*b, Kind::Punct))
        };
        words.read(text.as_bytes(), |b| entry(b).1, |b| char::from(entry(b).0));
    } else {
        let mut memo = Memo::new();
        let mut chars = Vec::with_capacity(text.len());
        for c in text.chars().filter(|c| !invisible(*c)) {
            memo.map(c, &mut chars);
        }
        words.read(&chars, |e| e.1, |e| e.0);
    }
    words.finish()
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

/// `normalise` after the characters are mapped: words out of runs of characters of one
/// kind, written as they end (single-character words wait to see whether three or more come
/// in a row).
struct Words {
    out: String,
    /// The word being read, and its characters.
    word: String,
    word_chars: usize,
    /// Single-character words in a row, not yet written.
    singles: String,
    single_count: usize,
}

impl Words {
    fn with_capacity(n: usize) -> Self {
        Words {
            out: String::with_capacity(n),
            word: String::new(),
            word_chars: 0,
            singles: String::new(),
            single_count: 0,
        }
    }

    /// Reads `items`, each of a `kind` and written as `char_of`.
    fn read<T>(&mut self, items: &[T], kind: impl Fn(&T) -> Kind, char_of: impl Fn(&T) -> char) {
        // The previous run: its kind and length.
        let mut prev: Option<(Kind, usize)> = None;
        let mut rest = items;
        while let Some(first) = rest.first() {
            let k = kind(first);
            let len = rest.iter().position(|t| kind(t) != k).unwrap_or(rest.len());
            let (run, after) = rest.split_at(len);
            match k {
                Kind::Word => {
                    self.word.extend(run.iter().map(&char_of));
                    self.word_chars += len;
                }
                Kind::Space => self.end_word(),
                Kind::Punct => {
                    // Punctuation next to a single letter is part of the word (`i.g.n`, `don't`).
                    let prev_single = match prev {
                        Some((Kind::Word, n)) => Some(n == 1),
                        _ => None,
                    };
                    let next_single = match after {
                        [a, b, ..] if kind(a) == Kind::Word => Some(kind(b) != Kind::Word),
                        [a] if kind(a) == Kind::Word => Some(true),
                        _ => None,
                    };
                    let glue = matches!((prev_single, next_single), (Some(a), Some(b)) if a || b);
                    if !glue {
                        self.end_word();
                    }
                }
            }
            prev = Some((k, len));
            rest = after;
        }
    }

    fn end_word(&mut self) {
        match self.word_chars {
            0 => return,
            1 => {
                self.singles.push_str(&self.word);
                self.single_count += 1;
            }
            _ => {
                self.flush_singles();
                push_word(&mut self.out, &self.word);
            }
        }
        self.word.clear();
        self.word_chars = 0;
    }

    /// Three or more single-character words in a row are one word (`i g n o r e`); fewer
    /// stay apart.
    fn flush_singles(&mut self) {
        if self.single_count >= 3 {
            push_word(&mut self.out, &self.singles);
        } else {
            let mut buf = [0; 4];
            for c in self.singles.chars() {
                push_word(&mut self.out, c.encode_utf8(&mut buf));
            }
        }
        self.singles.clear();
        self.single_count = 0;
    }

    fn finish(mut self) -> String {
        self.end_word();
        self.flush_singles();
        self.out
    }
}

fn push_word(out: &mut String, word: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(word);
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
