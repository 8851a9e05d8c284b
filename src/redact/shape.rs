//! What a pattern's matches can look like, as far as the streaming redactor needs to know:
//! which characters a match may contain, a literal it always starts with, and its longest
//! length. From that, `Shape::reach` tells the earliest position at the end of a buffer where
//! a match could still be in progress, so a stream holds back only that suffix (usually the
//! last word) rather than a fixed window.
//!
//! Everything here over-approximates: a larger alphabet, a missing prefix or an unknown
//! length only makes the stream hold back more, never less. Built-in patterns state their
//! shape by hand (checked against the patterns by the tests); a custom pattern's shape comes
//! from a small conservative reading of its source, which gives up (any character) on
//! anything it does not understand.

/// A set of characters: exact for ASCII, all-or-nothing beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CharSet {
    ascii: u128,
    /// Every non-ASCII character is in the set.
    other: bool,
}

impl CharSet {
    pub(crate) const EMPTY: CharSet = CharSet {
        ascii: 0,
        other: false,
    };
    pub(crate) const ANY: CharSet = CharSet {
        ascii: u128::MAX,
        other: true,
    };

    /// The ASCII characters of `chars`, plus every range `a-z` written as three characters
    /// (a literal `-` goes first or last).
    pub(crate) fn ascii(chars: &str) -> CharSet {
        let mut set = CharSet::EMPTY;
        let cs: Vec<char> = chars.chars().collect();
        let mut i = 0;
        while let Some(&c) = cs.get(i) {
            match (cs.get(i + 1), cs.get(i + 2)) {
                (Some('-'), Some(&hi)) => {
                    set.add_range(c, hi);
                    i += 3;
                }
                _ => {
                    set.add(c);
                    i += 1;
                }
            }
        }
        set
    }

    pub(crate) fn with_other(mut self) -> CharSet {
        self.other = true;
        self
    }

    pub(crate) fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii & (1u128 << (c as u32)) != 0
        } else {
            self.other
        }
    }

    fn add(&mut self, c: char) {
        if c.is_ascii() {
            self.ascii |= 1u128 << (c as u32);
        } else {
            self.other = true;
        }
    }

    fn add_range(&mut self, lo: char, hi: char) {
        for c in lo..=hi.min('\x7f') {
            self.add(c);
        }
        if hi > '\x7f' {
            self.other = true;
        }
    }

    pub(crate) fn union(mut self, other: CharSet) -> CharSet {
        self.ascii |= other.ascii;
        self.other |= other.other;
        self
    }

    /// Both cases of every ASCII letter in the set; Unicode case folding also maps some
    /// non-ASCII characters to ASCII letters (the Kelvin sign to `k`), so `other` is set.
    fn fold_case(&mut self) {
        for c in 'a'..='z' {
            let up = c.to_ascii_uppercase();
            if self.contains(c) || self.contains(up) {
                self.add(c);
                self.add(up);
            }
        }
        self.other = true;
    }
}

/// What the streaming redactor knows about one pattern's matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Every character a match may contain.
    pub alphabet: CharSet,
    /// Every character a match may start with (a subset of `alphabet`).
    pub first: CharSet,
    /// A literal (ASCII) every match starts with, and whether it is matched ignoring case.
    pub prefix: Option<(String, bool)>,
    /// The most characters a match can have, when bounded.
    pub max_chars: Option<usize>,
}

impl Shape {
    pub(crate) fn new(alphabet: CharSet) -> Shape {
        Shape {
            alphabet,
            first: alphabet,
            prefix: None,
            max_chars: None,
        }
    }

    pub(crate) fn first(mut self, first: CharSet) -> Shape {
        self.first = first;
        self
    }

    pub(crate) fn prefix(mut self, p: &str, ignore_case: bool) -> Shape {
        self.prefix = Some((p.to_string(), ignore_case));
        self
    }

    pub(crate) fn max(mut self, chars: usize) -> Shape {
        self.max_chars = Some(chars);
        self
    }

    /// The earliest position `s >= floor` (a char boundary of `hay`) such that a match starting
    /// at `s` could still change when text is appended to `hay`: it may take in more text, or
    /// its end is `hay`'s end, where the character that follows decides a word boundary or a
    /// check. `hay.len()` when there is none. Positions before `floor` are the caller's to
    /// judge (its max-span rule).
    pub(crate) fn reach(&self, hay: &str, floor: usize) -> usize {
        let tail = hay.get(floor..).unwrap_or_default();
        let Some((prefix, ignore_case)) = &self.prefix else {
            // A match in progress starts at a character it may start with, inside the run.
            let run = self.run_start(tail);
            let run_text = tail.get(run..).unwrap_or_default();
            return match run_text
                .char_indices()
                .find(|(_, c)| self.first.contains(*c))
            {
                Some((i, _)) => floor + run + i,
                None => hay.len(),
            };
        };
        // A match in progress begins with the prefix, or the tail ends with the start of it.
        // Positions are found by the prefix's first byte before anything else is looked at
        // (most text has none), and the run is walked only when there is one: this is the
        // stream redactor's hottest loop.
        let (t, p) = (tail.as_bytes(), prefix.as_bytes());
        let Some(&p0) = p.first() else {
            return hay.len();
        };
        let same = |a: u8, b: u8| {
            if *ignore_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        };
        let (lower, upper) = if *ignore_case {
            (p0.to_ascii_lowercase(), p0.to_ascii_uppercase())
        } else {
            (p0, p0)
        };
        let mut run = None;
        for s in memchr::memchr2_iter(lower, upper, t) {
            let rest = t.get(s..).unwrap_or_default();
            let n = rest.len().min(p.len());
            let starts = rest.iter().zip(p).take(n).all(|(&a, &b)| same(a, b));
            if !starts {
                continue;
            }
            let run = *run.get_or_insert_with(|| self.run_start(tail));
            let first_ok = tail
                .get(s..)
                .and_then(|r| r.chars().next())
                .is_some_and(|c| self.first.contains(c));
            if s >= run && first_ok {
                return floor + s;
            }
        }
        hay.len()
    }

    /// Where the run of characters a match may contain, ending at the end of `tail`, starts
    /// (no longer than the longest match).
    fn run_start(&self, tail: &str) -> usize {
        if self.alphabet == CharSet::ANY && self.max_chars.is_none() {
            return 0;
        }
        let mut run = tail.len();
        for (walked, (i, c)) in tail.char_indices().rev().enumerate() {
            if !self.alphabet.contains(c) || self.max_chars.is_some_and(|m| walked >= m) {
                break;
            }
            run = i;
        }
        run
    }

    /// The shape of a custom pattern, read conservatively from its source.
    pub(crate) fn of_pattern(pattern: &str) -> Shape {
        let alphabet = alphabet_of(pattern).unwrap_or(CharSet::ANY);
        Shape {
            alphabet,
            first: alphabet,
            prefix: literal_prefix(pattern).map(|p| (p, false)),
            max_chars: None,
        }
    }
}

/// Every character a match of `pattern` may contain, or `None` when the reading gives up
/// (`.`, negated classes, `\D`, `\p{..}`, and any syntax not listed below).
fn alphabet_of(pattern: &str) -> Option<CharSet> {
    let cs: Vec<char> = pattern.chars().collect();
    let mut set = CharSet::EMPTY;
    let mut ignore_case = false;
    let mut i = 0;
    while let Some(&c) = cs.get(i) {
        match c {
            '\\' => {
                i += 1;
                escape(*cs.get(i)?, &mut set)?;
            }
            '[' => i = class(&cs, i + 1, &mut set)?,
            '.' => return None,
            '(' if cs.get(i + 1) == Some(&'?') => {
                if matches!(cs.get(i + 2), Some('P') | Some('<')) {
                    // A named group: skip the name.
                    while cs.get(i).is_some_and(|c| *c != '>') {
                        i += 1;
                    }
                } else {
                    // Flags, `(?i)` or `(?i:`; any `i` (even `-i`) counts, conservatively.
                    i += 2;
                    while let Some(&f) = cs.get(i) {
                        if f == ':' || f == ')' {
                            break;
                        }
                        ignore_case |= f == 'i';
                        i += 1;
                    }
                }
            }
            '(' | ')' | '|' | '*' | '+' | '?' | '^' | '$' => {}
            '{' if cs
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_digit() || *c == ',') =>
            {
                while cs.get(i).is_some_and(|c| *c != '}') {
                    i += 1;
                }
            }
            other => set.add(other),
        }
        i += 1;
    }
    if ignore_case {
        set.fold_case();
    }
    Some(set)
}

/// Adds what the escape `\c` can match. `None`: not understood.
fn escape(c: char, set: &mut CharSet) -> Option<()> {
    match c {
        'd' => *set = set.union(CharSet::ascii("0-9").with_other()),
        'w' => *set = set.union(CharSet::ascii("a-zA-Z0-9_").with_other()),
        's' => *set = set.union(CharSet::ascii(" \t\n\x0b\x0c\r").with_other()),
        'b' | 'B' | 'A' | 'z' | '<' | '>' => {}
        _ => set.add(escape_literal(c)?),
    }
    Some(())
}

/// The character an escape stands for when it is a single literal.
fn escape_literal(c: char) -> Option<char> {
    match c {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'f' => Some('\x0c'),
        'v' => Some('\x0b'),
        c if c.is_ascii_punctuation() || c == ' ' => Some(c),
        _ => None,
    }
}

/// Reads a class starting at `cs[i]` (just after `[`) into `set`; returns the index of the
/// closing `]`.
fn class(cs: &[char], mut i: usize, set: &mut CharSet) -> Option<usize> {
    if cs.get(i) == Some(&'^') {
        return None;
    }
    let mut first = true;
    loop {
        let c = *cs.get(i)?;
        let next = cs.get(i + 1).copied();
        match c {
            ']' if !first => return Some(i),
            '[' => return None,
            '&' | '-' | '~' if next == Some(c) => return None,
            _ => {}
        }
        let lo = if c == '\\' {
            i += 1;
            let e = *cs.get(i)?;
            if matches!(e, 'd' | 'w' | 's') {
                escape(e, set)?;
                None
            } else {
                Some(escape_literal(e)?)
            }
        } else {
            Some(c)
        };
        if let Some(lo) = lo {
            match (cs.get(i + 1), cs.get(i + 2)) {
                (Some('-'), Some(&hi)) if hi != ']' => {
                    let hi = if hi == '\\' {
                        i += 1;
                        escape_literal(*cs.get(i + 2)?)?
                    } else {
                        hi
                    };
                    set.add_range(lo, hi);
                    i += 2;
                }
                _ => set.add(lo),
            }
        }
        first = false;
        i += 1;
    }
}

/// The literal text every match of `pattern` starts with (`EMP-` of `EMP-\d{6}`), if any.
fn literal_prefix(pattern: &str) -> Option<String> {
    if pattern.contains('|') {
        return None;
    }
    let body = pattern.strip_prefix("\\b").unwrap_or(pattern);
    let mut lit = String::new();
    for c in body.chars() {
        if "\\.+*?()|[]{}^$#".contains(c) || c.is_whitespace() || !c.is_ascii() {
            if matches!(c, '?' | '*' | '{') {
                lit.pop();
            }
            break;
        }
        lit.push(c);
    }
    (!lit.is_empty()).then_some(lit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_alphabets_over_approximate() {
        let s = Shape::of_pattern(r"EMP-\d{6}");
        assert_eq!(s.prefix, Some(("EMP-".into(), false)));
        for c in "EMP-0123456789".chars() {
            assert!(s.alphabet.contains(c), "{c}");
        }
        assert!(!s.alphabet.contains('x'));
        assert!(!s.alphabet.contains(' '));
        let s = Shape::of_pattern(r"(?i)ord[a-c_\-]+x?");
        assert!(s.alphabet.contains('O') && s.alphabet.contains('B') && s.alphabet.contains('-'));
        assert_eq!(s.prefix, None);
        assert_eq!(Shape::of_pattern("a.b").alphabet, CharSet::ANY);
        assert_eq!(Shape::of_pattern("[^a]").alphabet, CharSet::ANY);
        assert_eq!(Shape::of_pattern(r"\pL+").alphabet, CharSet::ANY);
        assert_eq!(
            Shape::of_pattern("abc?d").prefix,
            Some(("ab".into(), false))
        );
    }

    #[test]
    fn reach_finds_the_suffix_that_may_grow() {
        let email = Shape::new(CharSet::ascii("a-zA-Z0-9._%+@-"));
        assert_eq!(email.reach("hello there bob", 0), 12);
        assert_eq!(email.reach("hello there ", 0), 12);
        let key = Shape::new(CharSet::ascii("a-zA-Z0-9_-")).prefix("sk-", false);
        assert_eq!(key.reach("my key is s", 0), 10);
        assert_eq!(key.reach("my key is sk-abc", 0), 10);
        assert_eq!(key.reach("my key is x", 0), 11);
        let ssn = Shape::new(CharSet::ascii("0-9-")).max(11);
        assert_eq!(ssn.reach("000000000000000", 0), 4);
    }
}
