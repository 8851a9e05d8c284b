//! Every Prometheus metric of the gateway, registered once and served by the metrics
//! listener. Labels are low-cardinality by contract: route, model and provider names and key
//! and team names from the configuration, never raw keys, client-chosen strings or prompts.

use once_cell::sync::Lazy;
use prometheus::core::Collector;
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// 1 ms to 5 minutes: LLM requests span from cached answers to long generations.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// The gateway's own time per request: fine steps under a millisecond, where it should be.
const OVERHEAD_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

pub struct Metrics {
    pub registry: Registry,
    pub time_to_first_token_seconds: HistogramVec,
    pub overhead_seconds: HistogramVec,
    pub requests_total: IntCounterVec,
    pub request_duration_seconds: HistogramVec,
    pub tokens_total: IntCounterVec,
    pub cost_usd_total: CounterVec,
    pub unpriced_requests_total: IntCounterVec,
    pub failovers_total: IntCounterVec,
    pub provider_up: IntGaugeVec,
    pub budget_remaining_usd: GaugeVec,
    pub ratelimited_total: IntCounterVec,
    pub cache_requests_total: IntCounterVec,
    pub state_backend_errors_total: IntCounterVec,
    pub redactions_total: IntCounterVec,
    pub guardrail_blocks_total: IntCounterVec,
    pub guardrail_flags_total: IntCounterVec,
    pub config_reloads_total: IntCounterVec,
    pub audit_dropped_total: prometheus::IntCounter,
}

/// Built on first use; `init` forces that at startup so nothing can fail on the request path.
pub static METRICS: Lazy<Metrics> = Lazy::new(build);

pub fn init() {
    Lazy::force(&METRICS);
}

// Metric names and label sets are constants: construction fails only on a programming error,
// and it runs at startup (see `init`), never on the request path.
#[allow(clippy::expect_used)]
fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

#[allow(clippy::expect_used)]
fn build() -> Metrics {
    let requests_total = counter(
        "tollgate_requests_total",
        "Requests answered, by route, model, provider, key and status.",
        &["route", "model", "provider", "key", "status"],
    );
    let request_duration_seconds = HistogramVec::new(
        HistogramOpts::new(
            "tollgate_request_duration_seconds",
            "Time from request to the end of its answer.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["route", "model", "provider"],
    )
    .expect("valid metric");
    let tokens_total = counter(
        "tollgate_tokens_total",
        "Tokens settled, by direction and source (provider-reported or estimated).",
        &["model", "provider", "key", "team", "direction", "source"],
    );
    let cost_usd_total = CounterVec::new(
        Opts::new(
            "tollgate_cost_usd_total",
            "Spend in USD at the configured or built-in prices.",
        ),
        &["model", "provider", "key", "team"],
    )
    .expect("valid metric");
    let unpriced_requests_total = counter(
        "tollgate_unpriced_requests_total",
        "Requests to a provider model with no known price (counted as 0 USD).",
        &["provider", "model"],
    );
    let failovers_total = counter(
        "tollgate_failovers_total",
        "Hops from a failed attempt to the next target, by reason.",
        &["model", "from", "to", "reason"],
    );
    let provider_up = IntGaugeVec::new(
        Opts::new(
            "tollgate_provider_up",
            "1 while a provider takes traffic, 0 while it is disabled or cooling down.",
        ),
        &["provider"],
    )
    .expect("valid metric");
    let time_to_first_token_seconds = HistogramVec::new(
        HistogramOpts::new(
            "tollgate_time_to_first_token_seconds",
            "Time from request to the first byte of the answer's body at the client.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["model", "provider"],
    )
    .expect("valid metric");
    let overhead_seconds = HistogramVec::new(
        HistogramOpts::new(
            "tollgate_overhead_seconds",
            "Time each request spends in the gateway itself: its total minus the time waiting on providers.",
        )
        .buckets(OVERHEAD_BUCKETS.to_vec()),
        &["route"],
    )
    .expect("valid metric");
    let budget_remaining_usd = GaugeVec::new(
        Opts::new(
            "tollgate_budget_remaining_usd",
            "Budget left in the current period (less reservations of requests in flight).",
        ),
        &["scope", "name"],
    )
    .expect("valid metric");
    let ratelimited_total = counter(
        "tollgate_ratelimited_total",
        "Requests refused by a rate limit or budget, by scope (key, team) and limit.",
        &["scope", "limit"],
    );
    let cache_requests_total = counter(
        "tollgate_cache_requests_total",
        "Requests that consulted the response cache, by result (hit, miss, bypass).",
        &["result"],
    );
    let state_backend_errors_total = counter(
        "tollgate_state_backend_errors_total",
        "Calls to the state backend (limits, budgets, cache) that failed or timed out.",
        &["backend"],
    );
    let redactions_total = counter(
        "tollgate_redactions_total",
        "Entities found by redaction, by entity, direction (request, response) and action.",
        &["entity", "direction", "action"],
    );
    let guardrail_blocks_total = counter(
        "tollgate_guardrail_blocks_total",
        "Requests a guardrail refused, by rule.",
        &["rule"],
    );
    let guardrail_flags_total = counter(
        "tollgate_guardrail_flags_total",
        "Requests a guardrail in flag mode let through and marked, by rule.",
        &["rule"],
    );
    let config_reloads_total = counter(
        "tollgate_config_reloads_total",
        "Configuration reloads, by result (ok, error).",
        &["result"],
    );
    let audit_dropped_total = prometheus::IntCounter::new(
        "tollgate_audit_dropped_total",
        "Audit records dropped because the writer's channel was full.",
    )
    .expect("valid metric");
    let registry = Registry::new();
    let all: [Box<dyn Collector>; 18] = [
        Box::new(config_reloads_total.clone()),
        Box::new(audit_dropped_total.clone()),
        Box::new(guardrail_flags_total.clone()),
        Box::new(redactions_total.clone()),
        Box::new(guardrail_blocks_total.clone()),
        Box::new(budget_remaining_usd.clone()),
        Box::new(ratelimited_total.clone()),
        Box::new(cache_requests_total.clone()),
        Box::new(state_backend_errors_total.clone()),
        Box::new(time_to_first_token_seconds.clone()),
        Box::new(overhead_seconds.clone()),
        Box::new(failovers_total.clone()),
        Box::new(provider_up.clone()),
        Box::new(requests_total.clone()),
        Box::new(request_duration_seconds.clone()),
        Box::new(tokens_total.clone()),
        Box::new(cost_usd_total.clone()),
        Box::new(unpriced_requests_total.clone()),
    ];
    for m in all {
        registry.register(m).expect("registered once");
    }
    Metrics {
        registry,
        time_to_first_token_seconds,
        overhead_seconds,
        requests_total,
        request_duration_seconds,
        tokens_total,
        cost_usd_total,
        unpriced_requests_total,
        failovers_total,
        provider_up,
        budget_remaining_usd,
        ratelimited_total,
        cache_requests_total,
        state_backend_errors_total,
        redactions_total,
        guardrail_blocks_total,
        guardrail_flags_total,
        config_reloads_total,
        audit_dropped_total,
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> Vec<u8> {
    use prometheus::Encoder;
    let mut out = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&METRICS.registry.gather(), &mut out) {
        log::error!("encoding metrics failed: {e}");
    }
    out
}
