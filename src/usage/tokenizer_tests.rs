//! The tokenizer against tiktoken itself: random texts built from the cases its patterns
//! treat specially must count exactly as `CoreBPE::encode_ordinary` does.

use super::tokenizer::Encoding;
use crate::sse::test_support::Rng;
use tiktoken_rs::CoreBPE;

/// Fragments that exercise each alternative of both patterns: words in every case shape,
/// contractions, digit runs, punctuation runs (with `/` and line breaks after them),
/// whitespace runs of every kind, letters outside ASCII with combining marks, CJK, emoji,
/// and a special token's text.
const FRAGMENTS: &[&str] = &[
    "hello",
    "World",
    "HTTPServer",
    "camelCase",
    "ALLCAPS",
    "x",
    "I",
    "don't",
    "we'RE",
    "it's",
    "'ll",
    "'D",
    "'",
    "''",
    "7",
    "42",
    "123456",
    "3.14159",
    "1,000,000",
    ",",
    ".",
    "!?",
    "...",
    "->",
    "/",
    "//",
    "</div>",
    "{\"a\": [1, 2]}",
    "#!",
    "$",
    "€",
    " ",
    "  ",
    "   ",
    "    ",
    "\t",
    "\t\t",
    "\n",
    "\n\n",
    "\r\n",
    " \n ",
    "  \n",
    "\u{a0}",
    "\u{3000}",
    "\u{2009}",
    "naïve",
    "café",
    "Straße",
    "Ж",
    "Москва",
    "東京タワー",
    "日本語",
    "नमस्ते",
    "مرحبا",
    "한국어",
    "🙂",
    "👍🏽",
    "e\u{301}",
    "<|endoftext|>",
    "_",
    "__init__",
    "-",
    "--",
    "\u{200b}",
    "ǅ",
    "\x0b",
    "\x0c",
    "\x1f",
    "\x7f",
    "'S",
    "'Ve",
    "!\r\n/",
];

/// Every other text is ASCII only, which is cut by hand rather than by the regex
/// (`ascii_pieces`).
fn random_text(rng: &mut Rng, ascii: bool) -> String {
    let mut text = String::new();
    while text.is_empty() {
        for _ in 0..1 + rng.below(24) {
            let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
            if !ascii || fragment.is_ascii() {
                text.push_str(fragment);
            }
        }
    }
    text
}

fn check(encoding: Encoding, reference: &CoreBPE, seed: u64, texts: usize) {
    let mut rng = Rng(seed);
    for n in 0..texts {
        let text = random_text(&mut rng, n % 2 == 0);
        let expected = reference.encode_ordinary(&text).len() as u64;
        assert_eq!(encoding.count(&text), expected, "{encoding:?} on {text:?}");
    }
}

#[test]
fn o200k_counts_as_tiktoken_does() {
    let reference = tiktoken_rs::o200k_base().unwrap();
    check(Encoding::O200kBase, &reference, 0x9e37_79b9_7f4a_7c15, 4000);
}

#[test]
fn cl100k_counts_as_tiktoken_does() {
    let reference = tiktoken_rs::cl100k_base().unwrap();
    check(
        Encoding::Cl100kBase,
        &reference,
        0xd1b5_4a32_d192_ed03,
        4000,
    );
}

#[test]
fn real_prose_and_code_count_as_tiktoken_does() {
    let text = "Tollgate sits between the application and the provider.\n\n\
        fn main() {\n    let x = vec![1, 2, 3];\n    println!(\"{:?}\", x);   \n}\n\t\n\
        Email me at jane.doe@example.com or call +1 (555) 010-9999, ok?  Thanks!!  ";
    for (encoding, reference) in [
        (Encoding::O200kBase, tiktoken_rs::o200k_base().unwrap()),
        (Encoding::Cl100kBase, tiktoken_rs::cl100k_base().unwrap()),
    ] {
        let expected = reference.encode_ordinary(text).len() as u64;
        assert_eq!(encoding.count(text), expected, "{encoding:?}");
    }
}

/// Unbroken runs longer than the merge window are merged window by window: at most one
/// token more per window than tiktoken counts, and a pathological megabyte still finishes.
#[test]
fn long_unbroken_runs_count_within_a_token_per_window() {
    let reference = tiktoken_rs::o200k_base().unwrap();
    for run in [
        "a".repeat(3000),
        " ".repeat(3000),
        "東".repeat(1000),
        "!".repeat(3000),
    ] {
        let expected = reference.encode_ordinary(&run).len() as u64;
        let counted = Encoding::O200kBase.count(&run);
        let windows = run.len().div_ceil(512) as u64;
        assert!(
            counted.abs_diff(expected) <= windows,
            "{} bytes of {:?}: {counted} vs tiktoken {expected}",
            run.len(),
            &run[..3]
        );
    }
    let huge = "x".repeat(1 << 20);
    assert!(Encoding::Cl100kBase.count(&huge) > 0);
}
