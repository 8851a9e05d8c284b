//! tiktoken's first step, cutting text into the pieces that byte-pair encoding then merges,
//! done with the `regex` crate instead of tiktoken's backtracking `fancy-regex` (and, for
//! ASCII text, by hand: `ascii_pieces`).
//!
//! Both encodings' patterns are ordinary regular expressions but for one alternative,
//! `\s+(?!\S)`: a run of whitespace, less its last character when a non-space follows (that
//! character then starts the next piece, as the space before a word does). The patterns here
//! end in a plain `\s+` instead, and [`Cutter::pieces`] gives the last character back.
//! Everything else is the same expression, and the `regex` crate reports the same
//! leftmost-first match a backtracking engine does, so the pieces are tiktoken's
//! (`tokenizer_tests` checks this against tiktoken itself). The `regex` crate also runs in
//! linear time on any input.

use super::ascii_pieces::match_end;
use regex::Regex;

/// `cl100k_base`'s pattern as tiktoken-rs writes it, possessive quantifiers made plain (they
/// never change a match here: nothing after them could take back what they hold), and
/// `\s+(?!\S)|\s` as `\s+`.
pub const CL100K: &str = concat!(
    r"'(?i:[sdmt]|ll|ve|re)",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"|\s+$",
    r"|\s*[\r\n]",
    r"|\s+",
);

/// `o200k_base`'s pattern, with `\s+(?!\S)|\s+` as `\s+`.
pub const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+",
);

/// One of the two patterns above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Cl100k,
    O200k,
}

impl Pattern {
    /// The regular expression.
    pub fn source(self) -> &'static str {
        match self {
            Pattern::Cl100k => CL100K,
            Pattern::O200k => O200K,
        }
    }
}

/// A pattern, compiled: ASCII text is cut by hand (`ascii_pieces`), any other by the regex.
pub struct Cutter {
    pattern: Pattern,
    regex: Regex,
}

impl Cutter {
    pub fn new(pattern: Pattern) -> Option<Cutter> {
        let regex = Regex::new(pattern.source()).ok()?;
        Some(Cutter { pattern, regex })
    }

    /// The pieces of `text`, in order; together they are `text`.
    pub fn pieces<'t>(&'t self, text: &'t str) -> impl Iterator<Item = &'t str> + 't {
        let ascii = text.is_ascii();
        let mut at = 0;
        std::iter::from_fn(move || {
            let (start, end) = if ascii {
                (at, match_end(self.pattern, text.as_bytes(), at)?)
            } else {
                let found = self.regex.find_at(text, at)?;
                (found.start(), found.end())
            };
            let end = lookahead_end(text, start, end);
            // Every character matches some alternative, so pieces are contiguous; `max`
            // keeps the walk moving even if a pattern matched empty.
            at = end.max(start + 1).min(text.len());
            text.get(start..end)
        })
    }
}

/// Where tiktoken's `\s+(?!\S)` would have ended the match `text[start..end]`. Only the
/// final `\s+` alternative can give an all-whitespace match that stops short of the end of
/// the text without ending in a line break (the alternatives before it end at the text's
/// end or on `\r`/`\n`). Such a run is followed by a non-space, so `\s+(?!\S)` takes all of
/// it but the last character, or, for a single character, fails and leaves it to `\s+`.
fn lookahead_end(text: &str, start: usize, end: usize) -> usize {
    let piece = &text[start..end];
    if end == text.len() || piece.ends_with(['\r', '\n']) || !piece.chars().all(char::is_whitespace)
    {
        return end;
    }
    match piece.char_indices().next_back() {
        Some((last, _)) if last > 0 => start + last,
        _ => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(pattern: Pattern, text: &str) -> Vec<String> {
        let cutter = Cutter::new(pattern).unwrap();
        cutter.pieces(text).map(str::to_string).collect()
    }

    #[test]
    fn a_space_run_before_a_word_leaves_its_last_space_to_the_word() {
        assert_eq!(cut(Pattern::Cl100k, "a   b"), ["a", "  ", " b"]);
        assert_eq!(cut(Pattern::O200k, "a   b"), ["a", "  ", " b"]);
        // One space: it goes with the word as usual.
        assert_eq!(cut(Pattern::Cl100k, "a b"), ["a", " b"]);
        // Before a digit the last space stands alone (no alternative joins it to digits).
        assert_eq!(cut(Pattern::Cl100k, "a   7"), ["a", "  ", " ", "7"]);
        // At the end of the text the whole run is one piece.
        assert_eq!(cut(Pattern::Cl100k, "a   "), ["a", "   "]);
        assert_eq!(cut(Pattern::O200k, "a   "), ["a", "   "]);
    }

    #[test]
    fn line_breaks_end_their_whitespace_runs() {
        assert_eq!(cut(Pattern::Cl100k, "a \n\n  b"), ["a", " \n\n", " ", " b"]);
        assert_eq!(cut(Pattern::O200k, "a \n\n  b"), ["a", " \n\n", " ", " b"]);
        // Unicode whitespace counts as whitespace.
        assert_eq!(
            cut(Pattern::Cl100k, "a\u{a0}\u{a0}b"),
            ["a", "\u{a0}", "\u{a0}b"]
        );
    }

    #[test]
    fn pieces_cover_the_text() {
        for text in [
            "",
            "x",
            "  ",
            "Hello, world! 12345 \t\r\n don't",
            "東京タワー  café\n",
        ] {
            for p in [Pattern::Cl100k, Pattern::O200k] {
                assert_eq!(cut(p, text).concat(), text);
            }
        }
    }
}
