//! tiktoken's two piece patterns written out by hand for ASCII text: where the match that
//! `pretokenize::CL100K` or `pretokenize::O200K` finds at a position ends, without the regex
//! engine. Most prompts are ASCII, and there a regex search (its cache taken from a pool,
//! a forward and a reverse scan per piece) cost about 700 instructions a piece.
//!
//! In ASCII the patterns' classes are plain: `\p{L}` is `[A-Za-z]` (`\p{Lu}` upper,
//! `\p{Ll}` lower, and no ASCII letter is `Lt`, `Lm`, `Lo` or `M`), `\p{N}` is `[0-9]`, and
//! `\s` is space, tab, `\n`, `\x0B`, `\x0C`, `\r`. Each function follows its pattern's
//! alternatives in order, as the regex's leftmost-first match takes them; every ASCII
//! character starts some alternative, so a match always starts where it is asked to.
//! `ascii_pieces_tests` holds both to the regex on random text.

use super::pretokenize::Pattern;

/// Where the match of `pattern` starting at `at` in the ASCII `text` ends; `None` at the end.
pub fn match_end(pattern: Pattern, text: &[u8], at: usize) -> Option<usize> {
    let c = *text.get(at)?;
    Some(match pattern {
        Pattern::Cl100k => cl100k(text, at, c),
        Pattern::O200k => o200k(text, at, c),
    })
}

/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+`
fn cl100k(b: &[u8], i: usize, c: u8) -> usize {
    if c == b'\'' {
        if let Some(len) = contraction(b, i) {
            return i + len;
        }
    }
    if let Some(j) = letters_from(b, i, c) {
        return run(b, j, is_letter);
    }
    if c.is_ascii_digit() {
        return digits(b, i);
    }
    if let Some(p) = punctuation_from(b, i, c) {
        return run(b, run(b, p, is_punct), is_line_break);
    }
    let end = run(b, i, is_space);
    if end == b.len() {
        return end;
    }
    after_last_line_break(b, i, end).unwrap_or(end)
}

/// `[^\r\n\p{L}\p{N}]?[\p{Lu}…]*[\p{Ll}…]+(?i:'s|…)?|[^\r\n\p{L}\p{N}]?[\p{Lu}…]+[\p{Ll}…]*(?i:'s|…)?`
/// `|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+`
fn o200k(b: &[u8], i: usize, c: u8) -> usize {
    if let Some(j) = letters_from(b, i, c) {
        // The first alternative, capitals then small letters, fails only when no small
        // letter follows the capitals; the second then takes the capitals. Either way the
        // word is its capitals, then its small letters, then a contraction.
        let end = run(b, run(b, j, |c| c.is_ascii_uppercase()), |c| {
            c.is_ascii_lowercase()
        });
        return end + o200k_contraction(b, end).unwrap_or(0);
    }
    if c.is_ascii_digit() {
        return digits(b, i);
    }
    if let Some(p) = punctuation_from(b, i, c) {
        return run(b, run(b, p, is_punct), |c| is_line_break(c) || c == b'/');
    }
    let end = run(b, i, is_space);
    after_last_line_break(b, i, end).unwrap_or(end)
}

/// Where a word's letters start if one starts at `i`: `i` itself on a letter, or just after
/// an optional leading character (`[^\r\n\p{L}\p{N}]?`) that a letter follows.
fn letters_from(b: &[u8], i: usize, c: u8) -> Option<usize> {
    if is_letter(c) {
        return Some(i);
    }
    let leads = !is_line_break(c) && !c.is_ascii_digit();
    (leads && b.get(i + 1).copied().is_some_and(is_letter)).then_some(i + 1)
}

/// Where a punctuation run starts if one starts at `i` (` ?[^\s\p{L}\p{N}]+`): `i` on
/// punctuation, or after a space that punctuation follows.
fn punctuation_from(b: &[u8], i: usize, c: u8) -> Option<usize> {
    if is_punct(c) {
        return Some(i);
    }
    (c == b' ' && b.get(i + 1).copied().is_some_and(is_punct)).then_some(i + 1)
}

/// `\p{N}{1,3}` at `i` (a digit).
fn digits(b: &[u8], i: usize) -> usize {
    let max = b.len().min(i + 3);
    run(&b[..max], i, |c| c.is_ascii_digit())
}

/// The whitespace run `b[i..end]`, up to and including its last line break
/// (`\s*[\r\n]`, and `\s*[\r\n]+`, which can take no more: its `\s*` gives back only from
/// the end).
fn after_last_line_break(b: &[u8], i: usize, end: usize) -> Option<usize> {
    b.get(i..end)?
        .iter()
        .rposition(|&c| is_line_break(c))
        .map(|k| i + k + 1)
}

/// cl100k's `'(?i:[sdmt]|ll|ve|re)` at `i` (an apostrophe): its length.
fn contraction(b: &[u8], i: usize) -> Option<usize> {
    let next = |k: usize| b.get(i + k).map(u8::to_ascii_lowercase);
    match (next(1)?, next(2)) {
        (b's' | b'd' | b'm' | b't', _) => Some(2),
        (b'l', Some(b'l')) | (b'v' | b'r', Some(b'e')) => Some(3),
        _ => None,
    }
}

/// o200k's `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `i`: its length.
fn o200k_contraction(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'\'') {
        return None;
    }
    contraction(b, i)
}

/// The end of the run of bytes from `i` that `class` accepts.
fn run(b: &[u8], i: usize, class: impl Fn(u8) -> bool) -> usize {
    i + b
        .get(i..)
        .map_or(0, |rest| rest.iter().take_while(|&&c| class(c)).count())
}

fn is_letter(c: u8) -> bool {
    c.is_ascii_alphabetic()
}

/// `\s` in ASCII (Unicode `White_Space`): `\x0B` included, unlike `u8::is_ascii_whitespace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

fn is_line_break(c: u8) -> bool {
    c == b'\r' || c == b'\n'
}

/// `[^\s\p{L}\p{N}]`: punctuation, symbols and control characters.
fn is_punct(c: u8) -> bool {
    !is_space(c) && !c.is_ascii_alphanumeric()
}
