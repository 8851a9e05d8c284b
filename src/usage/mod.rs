//! Token usage and cost: what the provider reports (the source of truth), a tokenizer
//! estimate when it reports nothing, and prices. Pure: no I/O.
//!
//! - `extract`: the usage of a whole (non-streamed) answer, per provider format.
//! - `stream`: [`StreamUsage`], which follows a provider stream event by event.
//! - `tokenizer`: [`count_tokens`], the tiktoken fallback, loaded once per process.
//! - `pretokenize`: tiktoken's cut of text into pieces, with the `regex` crate;
//!   `ascii_pieces`: the same cut written out by hand for ASCII text.
//! - `prompt`: [`estimate_prompt`], the prompt tokens of a request body before it is sent.
//! - `prices`: the built-in price table and [`Price::cost`].
//!
//! How each provider's counts map onto [`Usage`], and how estimates work: `docs/usage.md`.

mod ascii_pieces;
mod extract;
mod pretokenize;
mod prices;
mod prompt;
mod stream;
mod tokenizer;

#[cfg(test)]
mod ascii_pieces_tests;
#[cfg(test)]
mod extract_tests;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tokenizer_tests;

pub use extract::{from_answer, from_openai_usage, from_value};
pub use prices::{builtin_price, Price, BUILTIN_PRICES, PRICES_AS_OF};
pub use prompt::estimate_prompt;
pub use stream::StreamUsage;
pub use tokenizer::{count_tokens, Encoding};

/// Tokens of one request. `input` is fresh (uncached) prompt tokens; `cached_input` is
/// prompt tokens served from the provider's cache; they never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
}

impl Usage {
    /// Field by field: a value from `other` replaces ours only when it is non-zero (a zero
    /// placeholder never overwrites a real count).
    pub fn merge(&mut self, other: Usage) {
        for (mine, theirs) in [
            (&mut self.input, other.input),
            (&mut self.cached_input, other.cached_input),
            (&mut self.output, other.output),
        ] {
            if theirs > 0 {
                *mine = theirs;
            }
        }
    }

    /// All three counts are zero.
    pub fn is_empty(&self) -> bool {
        self.input == 0 && self.cached_input == 0 && self.output == 0
    }
}

/// Where a count came from (metric label `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The provider reported it (in the answer body or the stream).
    Provider,
    /// The gateway counted it with a tokenizer.
    Estimate,
}

impl Source {
    /// The metric label: `"provider"` or `"estimate"`.
    pub fn label(self) -> &'static str {
        match self {
            Source::Provider => "provider",
            Source::Estimate => "estimate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_real_counts_over_zero_placeholders() {
        let mut u = Usage {
            input: 10,
            cached_input: 3,
            output: 1,
        };
        u.merge(Usage {
            input: 0,
            cached_input: 0,
            output: 42,
        });
        assert_eq!(
            u,
            Usage {
                input: 10,
                cached_input: 3,
                output: 42
            }
        );
        u.merge(Usage::default());
        assert_eq!(u.output, 42);
        u.merge(Usage {
            input: 11,
            cached_input: 4,
            output: 43,
        });
        assert_eq!(
            u,
            Usage {
                input: 11,
                cached_input: 4,
                output: 43
            }
        );
    }

    #[test]
    fn empty_means_all_zero() {
        assert!(Usage::default().is_empty());
        for u in [
            Usage {
                input: 1,
                ..Usage::default()
            },
            Usage {
                cached_input: 1,
                ..Usage::default()
            },
            Usage {
                output: 1,
                ..Usage::default()
            },
        ] {
            assert!(!u.is_empty(), "{u:?}");
        }
    }

    #[test]
    fn source_labels() {
        assert_eq!(Source::Provider.label(), "provider");
        assert_eq!(Source::Estimate.label(), "estimate");
    }
}
