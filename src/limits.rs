//! Rate limits and budgets as policy: from a key's and team's configured rules to what one
//! request asks of the state backend (`state::Ask`), and the worst-case cost a budget
//! reserves. Pure functions; the state backend does the counting.
//!
//! Rate limits use a sliding log: a request counts against `rpm` (and its tokens against
//! `tpm`) for exactly one window after it was admitted. Unlike fixed windows it never lets
//! twice the limit through across a boundary, and unlike GCRA its "N per window" is what
//! operators read in the config and what the `x-ratelimit-*` headers report. Its memory is one
//! entry per admitted request within the window, which the limit itself bounds.

use crate::config::{BudgetConfig, LimitsConfig, Period};
use crate::state::{period, usd_to_nanos, ScopeAsk};
use crate::translate::ApiFormat;
use crate::usage::Price;

/// The rules of one scope (a key or a team), compiled with the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// `key:NAME` or `team:NAME`.
    pub id: String,
    pub limits: LimitsConfig,
    pub budget: Option<BudgetConfig>,
}

/// A period's records are kept this long after it ends, for `/admin/usage` to look back.
const KEEP_AFTER_S: u64 = 35 * 86_400;

impl Rules {
    pub fn new(id: String, limits: Option<LimitsConfig>, budget: Option<BudgetConfig>) -> Rules {
        Rules {
            id,
            limits: limits.unwrap_or_default(),
            budget,
        }
    }

    /// Whether a request of this scope must be admitted before forwarding.
    pub fn limited(&self) -> bool {
        let l = &self.limits;
        l.rpm.is_some() || l.tpm.is_some() || l.max_concurrent.is_some() || self.budget.is_some()
    }

    /// Whether admitting needs the prompt's token estimate.
    pub fn needs_estimate(&self) -> bool {
        self.limits.tpm.is_some() || self.budget.is_some()
    }

    /// The period usage is counted in: the budget's, else the whole lifetime.
    pub fn period(&self) -> Period {
        self.budget.map_or(Period::Total, |b| b.period)
    }

    /// What this scope asks of the state at `unix_s`.
    pub fn ask(&self, unix_s: u64) -> ScopeAsk {
        let window_s = self.limits.window_s.unwrap_or(60);
        let per_window = |per_minute: u64| (per_minute * window_s).div_ceil(60).max(1);
        let (period, end) = period::current(self.period(), unix_s);
        ScopeAsk {
            id: self.id.clone(),
            requests: self.limits.rpm.map(per_window),
            tokens: self.limits.tpm.map(per_window),
            window_ms: window_s * 1000,
            max_concurrent: self.limits.max_concurrent,
            budget_nanos: self.budget.map(|b| usd_to_nanos(b.usd)),
            period,
            keep_s: end.map(|e| e.saturating_sub(unix_s) + KEEP_AFTER_S),
        }
    }

    /// Seconds until this scope's budget period ends (`None` for `total`).
    pub fn period_left_s(&self, unix_s: u64) -> Option<u64> {
        period::current(self.period(), unix_s)
            .1
            .map(|end| end.saturating_sub(unix_s).max(1))
    }
}

/// The output tokens a request asks for at most: `max_completion_tokens` or `max_tokens`
/// (OpenAI), `max_tokens` (Anthropic); `None` when it sets no bound.
pub fn requested_max_tokens(format: ApiFormat, body: &serde_json::Value) -> Option<u64> {
    let field = |name: &str| body.get(name).and_then(serde_json::Value::as_u64);
    match format {
        ApiFormat::OpenAi => field("max_completion_tokens").or_else(|| field("max_tokens")),
        ApiFormat::Anthropic => field("max_tokens"),
        ApiFormat::Gemini => body
            .pointer("/generationConfig/maxOutputTokens")
            .and_then(serde_json::Value::as_u64),
    }
}

/// The most a request can cost: the prompt at the input price and every output token it may
/// produce at the output price, at the dearest of the prices its targets may charge.
pub fn worst_case_nanos(price: Option<Price>, prompt_tokens: u64, max_output: u64) -> i64 {
    let Some(p) = price else {
        return 0;
    };
    // Prices are per million tokens and amounts nano-USD: one token at 1 USD/M is 1000 nano.
    let nanos = (prompt_tokens as f64 * p.input + max_output as f64 * p.output) * 1000.0;
    // Rounded up, so a reservation is never smaller than the cost it covers; the epsilon
    // keeps float noise (10 * 1000.0 / 1e6 * 1e9 = 10000000.000000002) from adding a nano.
    (nanos - 1e-6).ceil() as i64
}

/// The dearest price per direction across a model's targets (`None` if none is priced).
pub fn dearest(prices: impl IntoIterator<Item = Option<Price>>) -> Option<Price> {
    prices.into_iter().flatten().reduce(|a, b| Price {
        input: a.input.max(b.input),
        output: a.output.max(b.output),
        cached_input: a.cached_input.max(b.cached_input),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(rpm: Option<u64>, window_s: Option<u64>) -> Rules {
        Rules::new(
            "key:a".into(),
            Some(LimitsConfig {
                rpm,
                tpm: Some(1000),
                max_concurrent: None,
                window_s,
            }),
            Some(BudgetConfig {
                usd: 1.5,
                period: Period::Daily,
            }),
        )
    }

    #[test]
    fn allowances_are_pro_rata_of_the_window() {
        let a = rules(Some(600), None).ask(1_795_336_200);
        assert_eq!(
            (a.requests, a.tokens, a.window_ms),
            (Some(600), Some(1000), 60_000)
        );
        let a = rules(Some(600), Some(10)).ask(1_795_336_200);
        assert_eq!(
            (a.requests, a.tokens, a.window_ms),
            (Some(100), Some(167), 10_000)
        );
        // Never rounded down to nothing.
        let a = rules(Some(1), Some(1)).ask(0);
        assert_eq!(a.requests, Some(1));
    }

    #[test]
    fn budgets_ask_in_nanos_for_their_period() {
        let a = rules(None, None).ask(1_795_336_200);
        assert_eq!(a.budget_nanos, Some(1_500_000_000));
        assert_eq!(a.period, "2026-11-22");
        assert_eq!(a.keep_s, Some(55_800 + KEEP_AFTER_S));
        let plain = Rules::new("team:t".into(), None, None);
        assert!(!plain.limited());
        assert_eq!(plain.ask(0).period, "total");
        assert_eq!(plain.ask(0).keep_s, None);
    }

    #[test]
    fn max_tokens_by_format() {
        let v = serde_json::json!({"max_tokens": 10, "max_completion_tokens": 20});
        assert_eq!(requested_max_tokens(ApiFormat::OpenAi, &v), Some(20));
        assert_eq!(requested_max_tokens(ApiFormat::Anthropic, &v), Some(10));
        assert_eq!(
            requested_max_tokens(ApiFormat::OpenAi, &serde_json::json!({})),
            None
        );
    }

    #[test]
    fn worst_case_rounds_up_at_the_dearest_price() {
        let p = dearest([
            Some(Price {
                input: 1.0,
                output: 2.0,
                cached_input: 0.5,
            }),
            None,
            Some(Price {
                input: 0.5,
                output: 4.0,
                cached_input: 0.5,
            }),
        ]);
        // 1000 * 1.0 + 100 * 4.0 = 1400 per million tokens = 0.0014 USD.
        assert_eq!(worst_case_nanos(p, 1000, 100), 1_400_000);
        assert_eq!(worst_case_nanos(None, 1000, 100), 0);
    }
}
