//! The tokenizer fallback: tiktoken's `o200k_base` and `cl100k_base`, each loaded once per
//! process and shared by every thread: when a configuration that uses it is loaded
//! ([`Encoding::load`]), or else on first use.
//!
//! tiktoken-rs supplies the vocabularies and the byte-pair merge; the text is cut into pieces
//! by [`super::pretokenize`] (the `regex` crate, or by hand for ASCII text), which gives
//! tiktoken's pieces at a fraction of its backtracking regex's cost (a six-word prompt:
//! 0.98 µs down to 0.34 µs with `cl100k_base`, before the ASCII cut), in linear time on any
//! input.
//!
//! Counting never panics: if an encoding fails to load, text counts as `bytes / 4` (rounded
//! up) instead.

use super::pretokenize::{Cutter, Pattern};
use once_cell::sync::Lazy;
use rustc_hash::FxHashMap;
use tiktoken_rs::{CoreBPE, Rank};

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

/// Pieces longer than this (a run of letters, punctuation or spaces with no break) are
/// merged in windows of this size: the merge takes time quadratic in a piece's length, and a
/// window boundary changes the count by at most one token.
const MERGE_WINDOW: usize = 512;

static O200K: Lazy<Option<Tokenizer>> =
    Lazy::new(|| Tokenizer::load(tiktoken_rs::o200k_base().ok()?, Pattern::O200k));
static CL100K: Lazy<Option<Tokenizer>> =
    Lazy::new(|| Tokenizer::load(tiktoken_rs::cl100k_base().ok()?, Pattern::Cl100k));

/// One encoding: its piece pattern and its vocabulary (token bytes to rank, which is also
/// merge priority).
struct Tokenizer {
    pieces: Cutter,
    ranks: FxHashMap<Vec<u8>, Rank>,
}

impl Tokenizer {
    /// The vocabulary is read back out of tiktoken-rs (it keeps its own private), one
    /// ordinary token at a time: every rank below the first special token's.
    fn load(bpe: CoreBPE, pattern: Pattern) -> Option<Tokenizer> {
        let pieces = Cutter::new(pattern)?;
        let first_special = bpe
            .special_tokens()
            .into_iter()
            .filter_map(|s| bpe.encode_with_special_tokens(s).first().copied())
            .min()?;
        let mut ranks = FxHashMap::default();
        for rank in 0..first_special {
            if let Ok(bytes) = bpe.decode_bytes(&[rank]) {
                ranks.insert(bytes, rank);
            }
        }
        Some(Tokenizer { pieces, ranks })
    }

    fn count(&self, text: &str) -> u64 {
        self.pieces
            .pieces(text)
            .flat_map(|piece| piece.as_bytes().chunks(MERGE_WINDOW))
            .map(|piece| self.piece_tokens(piece))
            .sum()
    }

    /// Tokens in one piece: one if the vocabulary holds it whole (every single byte is in
    /// it), else as many as the byte-pair merge leaves.
    fn piece_tokens(&self, piece: &[u8]) -> u64 {
        if piece.is_empty() {
            return 0;
        }
        if piece.len() == 1 || self.ranks.contains_key(piece) {
            return 1;
        }
        tiktoken_rs::byte_pair_split(piece, &self.ranks).len() as u64
    }
}

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

    /// Load this encoding now rather than on first use. Loading takes tens of milliseconds,
    /// and a request that needs an encoding still loading waits for it, worker thread and
    /// all: the configuration loads what its models use before it serves
    /// ([`crate::snapshot::Snapshot::compile`]). If it fails to load, text counts as
    /// `bytes / 4`, as on first use.
    pub fn load(self) {
        Lazy::force(self.slot());
    }

    /// Whether this encoding is loaded and usable (by [`Encoding::load`] or a first count).
    pub fn is_loaded(self) -> bool {
        Lazy::get(self.slot()).is_some_and(Option::is_some)
    }

    fn tokenizer(self) -> Option<&'static Tokenizer> {
        self.slot().as_ref()
    }

    fn slot(self) -> &'static Lazy<Option<Tokenizer>> {
        match self {
            Encoding::O200kBase => &O200K,
            Encoding::Cl100kBase => &CL100K,
        }
    }

    /// Tokens in `text` with this encoding. Special-token strings such as `<|endoftext|>`
    /// count as ordinary text.
    pub fn count(self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        match self.tokenizer() {
            Some(t) => t.count(text),
            None => bytes_estimate(text.len()),
        }
    }
}

/// The rough estimate used when tokenizing is not possible: 4 bytes per token, rounded up.
pub(crate) fn bytes_estimate(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// Tokens in `text` with the tokenizer for `model`: `o200k_base` for gpt-4o*, gpt-4.1*,
/// gpt-5*, o1*, o3*, o4* (and chatgpt-4o*); `cl100k_base` otherwise, including Anthropic
/// and Gemini models (an estimate). The encodings are loaded once and shared.
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
