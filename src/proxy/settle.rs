//! Settling a request, once, in `logging` (which Pingora runs however the request ended):
//! the usage the provider reported, or an estimate where it reported nothing; its price;
//! the token and cost metrics. The key's and team's usage and budgets are settled from the
//! result by `quota::settle`.
//!
//! Only the attempt that answered (2xx) is billed: attempts that failed before answering set
//! nothing here. A stream cut short (the client left, the provider broke) is billed for the
//! prompt and the answer text that was delivered.

use super::context::RequestCtx;
use crate::metrics::METRICS;
use crate::snapshot::Snapshot;
use crate::translate::ApiFormat;
use crate::usage::{self, Price, Source, StreamUsage, Usage};
use once_cell::sync::Lazy;
use std::collections::HashSet;
use std::sync::Mutex;

/// What a request used, gathered as it runs and settled once.
#[derive(Default)]
pub struct Accounting {
    /// Whether the gateway counts at all (`TOLLGATE_ACCOUNTING=off` measures its cost).
    pub enabled: bool,
    /// The prompt's tokens, estimated when the provider reported none (see `handle`).
    pub prompt_estimate: u64,
    /// The format of the provider whose attempt answered with a 2xx.
    pub answered_by: Option<ApiFormat>,
    /// Usage of a whole answer, or the estimate source when it had none.
    pub whole: Option<Usage>,
    /// A whole answer that carried no usage, kept to estimate its output tokens.
    pub whole_without_usage: Option<bytes::Bytes>,
    /// The tracker of a streamed answer.
    pub stream: Option<StreamUsage>,
    pub settled: bool,
    /// The settled figures, for the audit record.
    pub result: Option<Settled>,
}

impl Accounting {
    /// A whole answer's usage as it `reported` it; an answer that reported none keeps its
    /// `body` (taken only then) for the estimate of its output at settlement, off the worker
    /// threads. Every whole answer, passed through or read by the gateway, is recorded here.
    pub fn whole_answer(&mut self, reported: Option<Usage>, body: impl FnOnce() -> bytes::Bytes) {
        self.whole = reported;
        if reported.is_none() {
            self.whole_without_usage = Some(body());
        }
    }

    /// Whether settling will need the prompt estimate: a provider answered without
    /// reporting prompt tokens (or the answer was cut before it did).
    pub fn needs_prompt_estimate(&self) -> bool {
        if !self.enabled || self.answered_by.is_none() {
            return false;
        }
        let reported = self
            .whole
            .or_else(|| self.stream.as_ref().and_then(StreamUsage::reported));
        reported.is_none_or(|u| u.input == 0 && u.cached_input == 0)
    }
}

/// The final count of one request, with where each direction's number came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settled {
    pub usage: Usage,
    pub input_source: Source,
    pub output_source: Source,
    pub cost_usd: f64,
    pub priced: bool,
}

/// Settle `ctx` once, into `ctx.accounting.result`; nothing when nothing answered (nothing to
/// bill) or it is already settled.
/// Tokenizing (only where a provider reported nothing) runs on the blocking pool: a long
/// answer takes milliseconds, which a worker thread must not spend.
pub async fn settle(ctx: &mut RequestCtx) {
    if let Some(result) = count(ctx).await {
        ctx.accounting.result = Some(result);
    }
}

async fn count(ctx: &mut RequestCtx) -> Option<Settled> {
    let acc = &mut ctx.accounting;
    if !acc.enabled || acc.settled || acc.answered_by.is_none() {
        return None;
    }
    acc.settled = true;
    let snapshot = ctx.snapshot.clone()?;
    let upstream_model = ctx.upstream.upstream_model.clone().unwrap_or_default();
    let reported = acc
        .whole
        .or_else(|| acc.stream.as_ref().and_then(StreamUsage::reported))
        .unwrap_or_default();

    let mut usage = reported;
    let mut input_source = Source::Provider;
    let mut output_source = Source::Provider;
    if usage.input == 0 && usage.cached_input == 0 {
        usage.input = acc.prompt_estimate;
        input_source = Source::Estimate;
    }
    // A stream that did not end cleanly (the provider broke, the client left) may carry only
    // a partial or placeholder count (Anthropic's message_start says 1 output token): the
    // text actually delivered is counted, and the larger figure billed.
    let incomplete = ctx.upstream.error_code.is_some() || ctx.upstream.client_gone;
    if usage.output == 0 || (incomplete && acc.stream.is_some()) {
        let format = acc.answered_by.unwrap_or(ApiFormat::OpenAi);
        let (tracker, whole) = (acc.stream.take(), acc.whole_without_usage.take());
        let model = upstream_model.clone();
        let counted = tokio::task::spawn_blocking(move || match (tracker, whole) {
            (Some(mut t), _) => {
                let e = t.estimate_output(&model);
                (Some(t), e)
            }
            (None, Some(body)) => (None, estimate_answer(format, &model, &body)),
            (None, None) => (None, 0),
        })
        .await;
        let acc = &mut ctx.accounting;
        let estimate = match counted {
            Ok((tracker, e)) => {
                acc.stream = tracker;
                e
            }
            Err(_) => 0,
        };
        if estimate > usage.output {
            usage.output = estimate;
            output_source = Source::Estimate;
        }
    }

    let gateway_model = ctx.admission.model.clone().unwrap_or_default();
    let price = price_of(&snapshot, &upstream_model, &gateway_model);
    let cost_usd = price.map(|p| p.cost(&usage)).unwrap_or(0.0);
    let provider = ctx.upstream.provider.clone().unwrap_or_default();
    if price.is_none() {
        unpriced(&provider, &upstream_model);
    }

    let key = ctx
        .admission
        .key
        .as_ref()
        .map(|k| k.name.clone())
        .unwrap_or_default();
    let team = ctx.admission.key.as_ref().and_then(|k| k.team.clone());
    let team_label = team.as_deref().unwrap_or("");
    let labels = |direction: &'static str, source: Source| {
        [
            gateway_model.as_str(),
            provider.as_str(),
            key.as_str(),
            team_label,
            direction,
            source.label(),
        ]
    };
    METRICS
        .tokens_total
        .with_label_values(&labels("input", input_source))
        .inc_by(usage.input.saturating_add(usage.cached_input));
    METRICS
        .tokens_total
        .with_label_values(&labels("output", output_source))
        .inc_by(usage.output);
    METRICS
        .cost_usd_total
        .with_label_values(&[
            gateway_model.as_str(),
            provider.as_str(),
            key.as_str(),
            team_label,
        ])
        .inc_by(cost_usd);
    let result = Settled {
        usage,
        input_source,
        output_source,
        cost_usd,
        priced: price.is_some(),
    };
    Some(result)
}

/// Estimated output tokens of a whole answer that carried no usage: the text of its first
/// choice (or content blocks, or candidate parts) through the tokenizer.
pub fn estimate_answer(format: ApiFormat, model: &str, body: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0;
    };
    let text = match format {
        ApiFormat::OpenAi => v
            .pointer("/choices/0/message/content")
            .map(crate::translate::openai_content_text)
            .unwrap_or_default(),
        ApiFormat::Anthropic => v
            .get("content")
            .map(crate::translate::openai_content_text)
            .unwrap_or_default(),
        ApiFormat::Gemini => v
            .pointer("/candidates/0/content/parts")
            .map(crate::translate::openai_content_text)
            .unwrap_or_default(),
    };
    usage::count_tokens(model, &text)
}

/// The price of a request: `prices:` by the provider's model name, then by the gateway's
/// model name, then the built-in table by the provider's model name.
pub fn price_of(snapshot: &Snapshot, upstream_model: &str, gateway_model: &str) -> Option<Price> {
    let configured = snapshot
        .prices
        .get(upstream_model)
        .or_else(|| snapshot.prices.get(gateway_model));
    configured
        .map(|p| Price::from(*p))
        .or_else(|| usage::builtin_price(upstream_model))
}

/// Count a request whose model has no price, and warn once per provider and model.
fn unpriced(provider: &str, model: &str) {
    static WARNED: Lazy<Mutex<HashSet<(String, String)>>> = Lazy::new(Default::default);
    METRICS
        .unpriced_requests_total
        .with_label_values(&[provider, model])
        .inc();
    if let Ok(mut warned) = WARNED.lock() {
        if warned.insert((provider.to_string(), model.to_string())) {
            log::warn!("no price for model {model:?} of provider {provider}: its requests cost 0 (set prices.{model})");
        }
    }
}
