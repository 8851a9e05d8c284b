//! The hand-written ASCII cut against the regex it stands in for: at every position of random
//! ASCII text, the match ends where the regex's leftmost-first match ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::ascii_pieces::match_end;
use super::pretokenize::Pattern;
use crate::sse::test_support::Rng;
use regex::Regex;

/// Fragments that reach every alternative and every class edge in ASCII: letters in each case
/// shape, contractions in both cases and the apostrophes that are not one, digit runs, each
/// kind of whitespace (`\x0B` and `\x0C` are `\s`, `\x1C`..`\x1F` are not), line breaks,
/// punctuation with `/` after it, control characters.
const FRAGMENTS: &[&str] = &[
    "hello",
    "World",
    "HTTPServer",
    "ALLCAPS",
    "camelCase",
    "x",
    "I",
    "'s",
    "'S",
    "'t",
    "'re",
    "'Ve",
    "'LL",
    "'m",
    "'d",
    "'x",
    "'",
    "''",
    "don't",
    "WE'RE",
    "7",
    "42",
    "12345",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "\x00",
    "\x7f",
    ".",
    ",",
    "!?",
    "/",
    "//",
    "-",
    "_",
    "(",
    ")",
    "\"",
    "#",
    "{}",
    "...",
    "a/",
    "!\n",
    "?\r\n/",
];

fn random_text(rng: &mut Rng) -> String {
    (0..1 + rng.below(12))
        .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
        .collect()
}

#[test]
fn every_match_ends_where_the_regex_ends_it() {
    for pattern in [Pattern::Cl100k, Pattern::O200k] {
        let regex = Regex::new(pattern.source()).unwrap();
        let mut rng = Rng(0x5851_f42d_4c95_7f2d);
        for _ in 0..20_000 {
            let text = random_text(&mut rng);
            for at in 0..text.len() {
                let found = regex.find_at(&text, at).unwrap();
                assert_eq!(found.start(), at, "{pattern:?} at {at} of {text:?}");
                assert_eq!(
                    match_end(pattern, text.as_bytes(), at),
                    Some(found.end()),
                    "{pattern:?} at {at} of {text:?}"
                );
            }
            assert_eq!(match_end(pattern, text.as_bytes(), text.len()), None);
        }
    }
}

#[test]
fn every_ascii_character_starts_a_match_of_its_own_class() {
    for pattern in [Pattern::Cl100k, Pattern::O200k] {
        let regex = Regex::new(pattern.source()).unwrap();
        for c in 0u8..128 {
            for text in [format!("{}", c as char), format!("{0}{0}a", c as char)] {
                let found = regex.find_at(&text, 0).unwrap();
                assert_eq!(
                    match_end(pattern, text.as_bytes(), 0),
                    Some(found.end()),
                    "{pattern:?} on {text:?}"
                );
            }
        }
    }
}
