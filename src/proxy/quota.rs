//! Rate limits and budgets on the request path. Before forwarding, the request's key and team
//! are asked to admit it, reserving its prompt tokens (`tpm`) and worst-case cost (budgets)
//! in one atomic step; in `logging`, which runs however the request ended, it is settled
//! exactly once with what it really used, releasing its concurrency lease.

use super::admission::ParsedRequest;
use super::context::{RequestCtx, Route};
use crate::auth::VirtualKey;
use crate::error::GatewayError;
use crate::limits::{self, Rules};
use crate::metrics::METRICS;
use crate::snapshot::{Model, Snapshot};
use crate::state::{self, Ask, Limit, Outcome, Remaining, State, Verdict};
use std::sync::Arc;

/// What the request asked of the state, kept until it is settled.
#[derive(Default)]
pub struct Quota {
    /// The request's scopes; `None` until admission reaches them, and after settling.
    pub ask: Option<Ask>,
    /// The rules of each scope of `ask`, in the same order.
    rules: Vec<Arc<Rules>>,
    /// Taken into the backend's windows, leases and reservations (which settling releases).
    admitted: bool,
    /// The `x-ratelimit-*` values, where rate limits apply.
    pub headers: Option<RateHeaders>,
}

/// The tightest of the request's scopes, as OpenAI's `x-ratelimit-*` headers report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
}

/// Prompts longer than this are reserved by their length instead of tokenized.
const INLINE_ESTIMATE_BYTES: usize = 8 * 1024;

/// The scopes' rules of `key`: its own, then its team's.
fn rules_of(snapshot: &Snapshot, key: &VirtualKey) -> Vec<Arc<Rules>> {
    let mut rules = Vec::with_capacity(2);
    if let Some(r) = snapshot.scopes.get(&format!("key:{}", key.name)) {
        rules.push(r.clone());
    }
    if let Some(team) = &key.team {
        if let Some(r) = snapshot.scopes.get(&format!("team:{team}")) {
            rules.push(r.clone());
        }
    }
    rules
}

/// Admit the request against its key's and team's limits and budgets, or refuse it (429,
/// or 503 when the backend is down and `fail_closed`). Scopes without limits are only noted,
/// so their usage is recorded when the request settles.
pub async fn admit(
    state: &State,
    snapshot: &Snapshot,
    key: &VirtualKey,
    model: &Model,
    request: &ParsedRequest,
    ctx: &mut RequestCtx,
) -> Result<(), GatewayError> {
    let rules = rules_of(snapshot, key);
    let now = crate::clock::unix_s();
    let scopes = rules.iter().map(|r| r.ask(now)).collect();
    let mut ask = Ask {
        request_id: ctx.request_id.clone(),
        tokens: 0,
        cost_nanos: 0,
        scopes,
    };
    let limited = rules.iter().any(|r| r.limited());
    if !limited {
        ctx.quota.ask = Some(ask);
        ctx.quota.rules = rules;
        return Ok(());
    }
    let route = ctx.admission.route.unwrap_or(Route::ChatCompletions);
    if rules.iter().any(|r| r.needs_estimate()) {
        let (estimate, exact) = estimate_prompt(route, model, request);
        if exact {
            // Counted once: settling reuses it when the provider reports no prompt tokens.
            ctx.accounting.prompt_estimate = estimate;
        }
        let requested = match route {
            Route::Embeddings => Some(0),
            _ => limits::requested_max_tokens(route.format(), &request.json),
        };
        // `tpm` holds the prompt and the output bound the request declares (OpenAI's own
        // rule): holding only the prompt would let concurrent requests overshoot by their
        // answers. Budgets assume the model's default bound when none is declared.
        ask.tokens = estimate + requested.unwrap_or(0);
        let max_output = requested.unwrap_or(model.default_max_tokens);
        ask.cost_nanos = limits::worst_case_nanos(model.worst_price, estimate, max_output);
    }
    let verdict = state.admit(&ask, snapshot.on_error).await?;
    let result = match verdict {
        // The backend failed and `fail_open` serves the request unlimited.
        None => Ok(()),
        Some(Verdict::Admitted(remaining)) => {
            ctx.quota.admitted = true;
            ctx.quota.headers = headers(&ask, &remaining);
            for (r, left) in rules.iter().zip(&remaining) {
                if let Some(nanos) = left.budget_nanos {
                    budget_gauge(r, nanos);
                }
            }
            Ok(())
        }
        Some(Verdict::Refused {
            scope,
            limit,
            retry_after_ms,
        }) => {
            let refused_by = rules.get(scope).cloned().unwrap_or_default();
            let (kind, name) = refused_by.id.split_once(':').unwrap_or(("key", ""));
            METRICS
                .ratelimited_total
                .with_label_values(&[kind, limit.label()])
                .inc();
            ctx.quota.headers = refused_headers(&ask, scope, limit);
            Err(refusal(kind, name, limit, retry_after_ms, &refused_by, now))
        }
    };
    ctx.quota.ask = Some(ask);
    ctx.quota.rules = rules;
    result
}

/// The prompt's tokens to reserve, and whether they were counted exactly. Prompts up to
/// `INLINE_ESTIMATE_BYTES` go through the tokenizer; a longer one is reserved at a third of
/// its bytes, an over-estimate for prose and code alike: tokenizing 32 KB costs about 2 ms of
/// CPU (measured under load: a third of such a request's cost), and the reservation is
/// corrected to the real usage when the answer ends anyway.
fn estimate_prompt(route: Route, model: &Model, request: &ParsedRequest) -> (u64, bool) {
    if request.raw.len() > INLINE_ESTIMATE_BYTES {
        return (request.raw.len().div_ceil(3) as u64, false);
    }
    let tokenizer_model = model.targets.first().map_or("", |t| t.model.as_str());
    let counted = crate::usage::estimate_prompt(route.format(), tokenizer_model, &request.json);
    (counted, true)
}

fn refusal(
    kind: &str,
    name: &str,
    limit: Limit,
    retry_after_ms: Option<u64>,
    rules: &Rules,
    now: u64,
) -> GatewayError {
    let message = match limit {
        Limit::Rpm => format!("rate limit exceeded: {kind} {name:?} allows {} requests per minute", rules.limits.rpm.unwrap_or(0)),
        Limit::Tpm => format!("rate limit exceeded: {kind} {name:?} allows {} tokens per minute", rules.limits.tpm.unwrap_or(0)),
        Limit::Concurrent => format!("rate limit exceeded: {kind} {name:?} allows {} requests at once", rules.limits.max_concurrent.unwrap_or(0)),
        Limit::Budget => {
            return GatewayError::BudgetExceeded {
                message: format!("budget exceeded: {kind} {name:?} has no budget left for this request in the current period"),
                retry_after_s: rules.period_left_s(now),
            }
        }
    };
    GatewayError::RateLimited {
        message,
        retry_after_s: Some(retry_after_ms.map_or(1, |ms| ms.div_ceil(1000).max(1))),
    }
}

/// The tightest scope's figures: the one with the fewest requests (and tokens) left.
fn headers(ask: &Ask, remaining: &[Remaining]) -> Option<RateHeaders> {
    let mut h: Option<RateHeaders> = None;
    for (s, left) in ask.scopes.iter().zip(remaining) {
        if !s.has_window() {
            continue;
        }
        let h = h.get_or_insert_with(RateHeaders::default);
        if let (Some(limit), Some(left)) = (s.requests, left.requests) {
            if h.remaining_requests.is_none_or(|r| left < r) {
                h.limit_requests = Some(limit);
                h.remaining_requests = Some(left);
            }
        }
        if let (Some(limit), Some(left)) = (s.tokens, left.tokens) {
            if h.remaining_tokens.is_none_or(|r| left < r) {
                h.limit_tokens = Some(limit);
                h.remaining_tokens = Some(left);
            }
        }
    }
    h
}

/// On a refusal by a rate limit: that scope's limit, nothing remaining.
fn refused_headers(ask: &Ask, scope: usize, limit: Limit) -> Option<RateHeaders> {
    let s = ask.scopes.get(scope)?;
    match limit {
        Limit::Rpm | Limit::Tpm => Some(RateHeaders {
            limit_requests: s.requests,
            remaining_requests: s.requests.map(|_| 0).filter(|_| limit == Limit::Rpm),
            limit_tokens: s.tokens,
            remaining_tokens: s.tokens.map(|_| 0).filter(|_| limit == Limit::Tpm),
        }),
        _ => None,
    }
}

fn budget_gauge(rules: &Rules, left_nanos: i64) {
    let (kind, name) = rules.id.split_once(':').unwrap_or(("key", ""));
    METRICS
        .budget_remaining_usd
        .with_label_values(&[kind, name])
        .set(state::nanos_to_usd(left_nanos));
}

/// Settle the request with what it used (once: the ask is taken). A request that was not
/// admitted and used nothing has nothing to settle.
pub async fn settle(state: &State, ctx: &mut RequestCtx) {
    let Some(ask) = ctx.quota.ask.take() else {
        return;
    };
    let outcome = match &ctx.accounting.result {
        Some(r) => Outcome {
            tokens: r.usage.input + r.usage.cached_input + r.usage.output,
            cost_nanos: state::usd_to_nanos(r.cost_usd),
            input_tokens: r.usage.input,
            cached_input_tokens: r.usage.cached_input,
            output_tokens: r.usage.output,
            counted: true,
        },
        None => Outcome::default(),
    };
    if !ctx.quota.admitted && !outcome.counted {
        return;
    }
    if let Some(left) = state.settle(&ask, &outcome).await {
        for (r, left) in ctx.quota.rules.iter().zip(left) {
            if let Some(nanos) = left {
                budget_gauge(r, nanos);
            }
        }
    }
}
