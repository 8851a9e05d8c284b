//! Built-in prices, USD per 1M tokens, from the providers' public price pages (standard
//! tier, pay as you go; no batch discount, no long-context surcharge). `prices:` in the
//! configuration overrides them. The table, its date and its caveats: `docs/usage.md`.

use super::Usage;

/// Prices in USD per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cached_input: f64,
}

impl Price {
    /// USD for `usage`: fresh input at `input`, cached input at `cached_input`, output at
    /// `output`, all per 1M tokens.
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input as f64 * self.input
            + usage.cached_input as f64 * self.cached_input
            + usage.output as f64 * self.output)
            / 1e6
    }
}

/// A `prices:` entry: `cached_input` defaults to `input` (no cache discount).
impl From<crate::config::PriceConfig> for Price {
    fn from(p: crate::config::PriceConfig) -> Self {
        Price {
            input: p.input,
            output: p.output,
            cached_input: p.cached_input.unwrap_or(p.input),
        }
    }
}

/// When the built-in table was last checked against the providers' price pages.
pub const PRICES_AS_OF: &str = "2026-11-22";

const fn p(input: f64, output: f64, cached_input: f64) -> Price {
    Price {
        input,
        output,
        cached_input,
    }
}

/// The built-in table: (model, price). Models without a cache discount repeat the input
/// price as `cached_input`; embeddings have no output.
pub const BUILTIN_PRICES: &[(&str, Price)] = &[
    // OpenAI (platform.openai.com/docs/pricing, Standard tier).
    ("gpt-5", p(1.25, 10.00, 0.125)),
    ("gpt-5-mini", p(0.25, 2.00, 0.025)),
    ("gpt-5-nano", p(0.05, 0.40, 0.005)),
    ("gpt-5-pro", p(15.00, 120.00, 15.00)),
    ("gpt-4.1", p(2.00, 8.00, 0.50)),
    ("gpt-4.1-mini", p(0.40, 1.60, 0.10)),
    ("gpt-4.1-nano", p(0.10, 0.40, 0.025)),
    ("gpt-4o", p(2.50, 10.00, 1.25)),
    ("gpt-4o-2024-05-13", p(5.00, 15.00, 5.00)),
    ("gpt-4o-mini", p(0.15, 0.60, 0.075)),
    ("o1", p(15.00, 60.00, 7.50)),
    ("o1-mini", p(1.10, 4.40, 0.55)),
    ("o1-pro", p(150.00, 600.00, 150.00)),
    ("o3", p(2.00, 8.00, 0.50)),
    ("o3-mini", p(1.10, 4.40, 0.55)),
    ("o3-pro", p(20.00, 80.00, 20.00)),
    ("o4-mini", p(1.10, 4.40, 0.275)),
    ("text-embedding-3-small", p(0.02, 0.0, 0.02)),
    ("text-embedding-3-large", p(0.13, 0.0, 0.13)),
    // Anthropic (docs.claude.com pricing; cached_input is the cache-hit price; cache writes
    // are counted as input, see docs/usage.md).
    ("claude-opus-4-5", p(5.00, 25.00, 0.50)),
    ("claude-opus-4-1", p(15.00, 75.00, 1.50)),
    ("claude-opus-4", p(15.00, 75.00, 1.50)),
    ("claude-sonnet-4-5", p(3.00, 15.00, 0.30)),
    ("claude-sonnet-4", p(3.00, 15.00, 0.30)),
    ("claude-haiku-4-5", p(1.00, 5.00, 0.10)),
    ("claude-3-7-sonnet", p(3.00, 15.00, 0.30)),
    ("claude-3-5-haiku", p(0.80, 4.00, 0.08)),
    // Google Gemini API (ai.google.dev pricing, paid tier, text; prompts up to 200k tokens).
    ("gemini-2.5-pro", p(1.25, 10.00, 0.125)),
    ("gemini-2.5-flash", p(0.30, 2.50, 0.03)),
    ("gemini-2.5-flash-lite", p(0.10, 0.40, 0.01)),
    ("gemini-2.0-flash", p(0.10, 0.40, 0.025)),
    ("gemini-2.0-flash-lite", p(0.075, 0.30, 0.075)),
];

/// The built-in price of a provider model: the exact name first, then the longest table
/// entry that is a prefix of `model` followed by `-` or `@` (Vertex AI's version
/// separator) or the end, so "gpt-4o-2024-08-06" finds "gpt-4o" but "gpt-4o-mini" finds
/// "gpt-4o-mini". A leading "models/" (Gemini's resource name) is ignored.
pub fn builtin_price(model: &str) -> Option<Price> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    if let Some((_, price)) = BUILTIN_PRICES.iter().find(|(name, _)| *name == model) {
        return Some(*price);
    }
    BUILTIN_PRICES
        .iter()
        .filter(|(name, _)| {
            model
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('@'))
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, price)| *price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(model: &str) -> Price {
        builtin_price(model).unwrap_or_else(|| panic!("no price for {model}"))
    }

    #[test]
    fn exact_names_win() {
        assert_eq!(price("gpt-4o"), p(2.50, 10.00, 1.25));
        assert_eq!(price("gpt-4o-mini"), p(0.15, 0.60, 0.075));
        assert_eq!(price("gpt-4o-2024-05-13"), p(5.00, 15.00, 5.00));
        assert_eq!(price("claude-opus-4-1"), p(15.00, 75.00, 1.50));
        assert_eq!(price("gemini-2.5-flash-lite"), p(0.10, 0.40, 0.01));
    }

    #[test]
    fn the_longest_prefix_followed_by_a_dash_wins() {
        assert_eq!(price("gpt-4o-2024-08-06"), price("gpt-4o"));
        assert_eq!(price("gpt-4o-mini-2024-07-18"), price("gpt-4o-mini"));
        assert_eq!(price("gpt-4.1-mini-2025-04-14"), price("gpt-4.1-mini"));
        assert_eq!(price("gpt-5-2025-08-07"), price("gpt-5"));
        assert_eq!(price("o3-mini-2025-01-31"), price("o3-mini"));
        assert_eq!(price("o3-2025-04-16"), price("o3"));
        assert_eq!(
            price("claude-sonnet-4-5-20250929"),
            price("claude-sonnet-4-5")
        );
        assert_eq!(price("claude-sonnet-4-20250514"), price("claude-sonnet-4"));
        assert_eq!(price("claude-opus-4-1-20250805"), price("claude-opus-4-1"));
        assert_eq!(
            price("claude-3-7-sonnet-latest"),
            price("claude-3-7-sonnet")
        );
        assert_eq!(
            price("claude-haiku-4-5@20251001"),
            price("claude-haiku-4-5")
        );
        assert_eq!(price("gemini-2.0-flash-001"), price("gemini-2.0-flash"));
        assert_eq!(
            price("gemini-2.5-flash-lite-preview-09-2025"),
            price("gemini-2.5-flash-lite")
        );
        assert_ne!(price("gemini-2.5-flash-lite"), price("gemini-2.5-flash"));
    }

    #[test]
    fn models_prefix_is_ignored() {
        assert_eq!(price("models/gemini-2.5-pro"), price("gemini-2.5-pro"));
        assert_eq!(
            price("models/gemini-2.5-flash-001"),
            price("gemini-2.5-flash")
        );
    }

    #[test]
    fn unknown_models_and_bare_prefixes_have_no_price() {
        for m in [
            "",
            "gpt-4",
            "gpt-4o2",
            "gpt-5.1",
            "o",
            "o5",
            "claude",
            "llama-3-70b",
            "models/",
            "openai/gpt-4o",
            "GPT-4O",
        ] {
            assert_eq!(builtin_price(m), None, "{m}");
        }
    }

    #[test]
    fn the_table_is_sane() {
        for (i, (name, pr)) in BUILTIN_PRICES.iter().enumerate() {
            assert!(pr.input > 0.0 && pr.output >= 0.0, "{name}");
            assert!(
                pr.cached_input <= pr.input && pr.cached_input > 0.0,
                "{name}"
            );
            assert!(
                BUILTIN_PRICES.iter().skip(i + 1).all(|(n, _)| n != name),
                "duplicate {name}"
            );
        }
    }

    #[test]
    fn cost_arithmetic() {
        let pr = Price {
            input: 2.0,
            output: 8.0,
            cached_input: 0.5,
        };
        let u = Usage {
            input: 1_000_000,
            cached_input: 2_000_000,
            output: 500_000,
        };
        assert!((pr.cost(&u) - (2.0 + 1.0 + 4.0)).abs() < 1e-12);
        assert_eq!(pr.cost(&Usage::default()), 0.0);
        let small = Usage {
            input: 1200,
            cached_input: 0,
            output: 300,
        };
        // gpt-4o: 1200 * 2.50 / 1e6 + 300 * 10 / 1e6 = 0.003 + 0.003.
        assert!((price("gpt-4o").cost(&small) - 0.006).abs() < 1e-12);
    }

    #[test]
    fn config_prices_default_cached_input_to_input() {
        let with = crate::config::PriceConfig {
            input: 1.0,
            output: 2.0,
            cached_input: Some(0.1),
        };
        let without = crate::config::PriceConfig {
            cached_input: None,
            ..with
        };
        assert_eq!(Price::from(with), p(1.0, 2.0, 0.1));
        assert_eq!(Price::from(without), p(1.0, 2.0, 1.0));
    }
}
