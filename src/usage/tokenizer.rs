//! The tokenizer fallback: tiktoken's `o200k_base` and `cl100k_base`, each loaded once per
//! process on first use and shared by every thread.
//!
//! Counting never panics: if an encoding fails to load, or tiktoken's regex gives up on a
//! pathological input, that text counts as `bytes / 4` (rounded up) instead.

use std::collections::HashSet;

use once_cell::sync::Lazy;
use tiktoken_rs::CoreBPE;

/// A tiktoken encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-5 and the o-series.
    O200kBase,
    /// Older OpenAI chat models; also the estimate for every non-OpenAI model.
    Cl100kBase,
}

/// Families on `o200k_base`; everything else uses `cl100k_base`.
const O200K_PREFIXES: &[&str] = &["gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4"];

/// Texts longer than this are counted in pieces cut before a space, which bounds the
/// regex's work and the token vector per call (and changes the count by at most one token
/// per piece when no space is near the cut).
const PIECE_BYTES: usize = 64 * 1024;

static O200K: Lazy<Option<CoreBPE>> = Lazy::new(|| tiktoken_rs::o200k_base().ok());
static CL100K: Lazy<Option<CoreBPE>> = Lazy::new(|| tiktoken_rs::cl100k_base().ok());

impl Encoding {
    /// The encoding for `model`: `o200k_base` for gpt-4o*, chatgpt-4o*, gpt-4.1*, gpt-5*,
    /// o1*, o3*, o4*; `cl100k_base` otherwise (Anthropic and Gemini models included: an
    /// estimate). A leading path (`models/`, `openai/`) and a fine-tune prefix (`ft:`) are
    /// ignored.
    pub fn for_model(model: &str) -> Encoding {
        let base = model.rsplit('/').next().unwrap_or(model);
        let base = base.strip_prefix("ft:").unwrap_or(base);
        if O200K_PREFIXES.iter().any(|p| base.starts_with(p)) {
            Encoding::O200kBase
        } else {
            Encoding::Cl100kBase
        }
    }

    /// tiktoken's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    fn bpe(self) -> Option<&'static CoreBPE> {
        match self {
            Encoding::O200kBase => O200K.as_ref(),
            Encoding::Cl100kBase => CL100K.as_ref(),
        }
    }

    /// Tokens in `text` with this encoding. Special-token strings such as `<|endoftext|>`
    /// count as ordinary text.
    pub fn count(self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        let Some(bpe) = self.bpe() else {
            return bytes_estimate(text.len());
        };
        // No special token is allowed: they are matched as ordinary text, and the regex
        // error path returns an error instead of panicking as `encode_ordinary` would.
        let allowed = HashSet::new();
        pieces(text)
            .map(|piece| match bpe.encode(piece, &allowed) {
                Ok((tokens, _)) => tokens.len() as u64,
                Err(_) => bytes_estimate(piece.len()),
            })
            .sum()
    }
}

/// The rough estimate used when tokenizing is not possible: 4 bytes per token, rounded up.
pub(crate) fn bytes_estimate(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// `text` cut into pieces of at most [`PIECE_BYTES`] (or a little more, for a character
/// straddling the limit), each cut placed before a space in the second half of the window
/// when there is one, else at a character boundary.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() <= PIECE_BYTES {
            return Some(std::mem::take(&mut rest));
        }
        let bytes = rest.as_bytes();
        let half = PIECE_BYTES / 2;
        let window = bytes.get(half..PIECE_BYTES).unwrap_or_default();
        let cut = match window.iter().rposition(|b| *b == b' ') {
            Some(i) => half + i,
            None => {
                let mut at = PIECE_BYTES;
                while at < rest.len() && !rest.is_char_boundary(at) {
                    at += 1;
                }
                at
            }
        };
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        rest = tail;
        Some(head)
    })
}

/// Tokens in `text` with the tokenizer for `model`: `o200k_base` for gpt-4o*, gpt-4.1*,
/// gpt-5*, o1*, o3*, o4* (and chatgpt-4o*); `cl100k_base` otherwise, including Anthropic
/// and Gemini models (an estimate). The encodings are loaded once, on first use, and shared.
pub fn count_tokens(model: &str, text: &str) -> u64 {
    Encoding::for_model(model).count(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_by_model_family() {
        for m in [
            "gpt-4o",
            "gpt-4o-mini-2024-07-18",
            "chatgpt-4o-latest",
            "gpt-4.1-nano",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5.1",
            "o1",
            "o1-mini",
            "o3-mini",
            "o4-mini-2025-04-16",
            "openai/gpt-4o",
            "ft:gpt-4o-mini:acme::abc",
        ] {
            assert_eq!(Encoding::for_model(m), Encoding::O200kBase, "{m}");
        }
        for m in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "text-embedding-3-small",
            "claude-sonnet-4-5",
            "gemini-2.5-flash",
            "models/gemini-2.5-pro",
            "",
        ] {
            assert_eq!(Encoding::for_model(m), Encoding::Cl100kBase, "{m}");
        }
        assert_eq!(Encoding::O200kBase.name(), "o200k_base");
        assert_eq!(Encoding::Cl100kBase.name(), "cl100k_base");
    }

    #[test]
    fn counts_match_tiktoken() {
        // Reference counts from tiktoken.
        assert_eq!(count_tokens("gpt-4o", "hello world"), 2);
        assert_eq!(count_tokens("gpt-4", "hello world"), 2);
        assert_eq!(count_tokens("gpt-4o", ""), 0);
        let text = "The quick brown fox jumps over the lazy dog.";
        assert_eq!(count_tokens("gpt-4o", text), 10);
        assert_eq!(count_tokens("gpt-4", text), 10);
        // The encodings differ where their vocabularies do.
        let s = "Tokenization differs: 東京タワー, naïve café, 12345678.";
        assert_ne!(count_tokens("gpt-4o", s), count_tokens("gpt-4", s));
        // Special tokens are ordinary text.
        assert!(count_tokens("gpt-4o", "<|endoftext|>") > 1);
    }

    #[test]
    fn long_texts_are_cut_before_spaces_and_count_the_same() {
        let word = "lorem ipsum dolor sit amet ";
        let text = word.repeat(10_000); // 270 KB, several pieces
        let joined: String = pieces(&text).collect();
        assert_eq!(joined, text);
        assert!(pieces(&text).all(|p| p.len() <= PIECE_BYTES));
        assert!(pieces(&text).skip(1).all(|p| p.starts_with(' ')));
        // Cut before spaces, the pieces count exactly as the whole text does.
        let bpe = Encoding::O200kBase.bpe().unwrap();
        let whole = bpe.encode(&text, &HashSet::new()).unwrap().0.len() as u64;
        assert_eq!(count_tokens("gpt-4o", &text), whole);
    }

    #[test]
    fn pieces_without_spaces_cut_at_char_boundaries() {
        let text = "東".repeat(PIECE_BYTES); // 3 bytes each, no spaces
        let parts: Vec<&str> = pieces(&text).collect();
        assert!(parts.len() >= 3);
        assert_eq!(parts.concat(), text);
        assert!(count_tokens("gpt-4o", &text) > 0);
    }

    #[test]
    fn bytes_estimate_rounds_up() {
        assert_eq!(bytes_estimate(0), 0);
        assert_eq!(bytes_estimate(1), 1);
        assert_eq!(bytes_estimate(8), 2);
        assert_eq!(bytes_estimate(9), 3);
    }

    #[test]
    fn counting_is_thread_safe() {
        let text = "several threads count the same text at once";
        let expected = count_tokens("gpt-4o", text);
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || count_tokens("gpt-4o", text)))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), expected);
        }
    }
}
