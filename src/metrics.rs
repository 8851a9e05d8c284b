//! Every Prometheus metric of the gateway, registered once in the default registry and
//! served by the metrics listener. Labels are low-cardinality by contract: route, model and
//! provider names and key names from the configuration, never raw keys or prompts.

use once_cell::sync::Lazy;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// 1 ms to 5 minutes: LLM requests span from cached answers to long generations.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

pub struct Metrics {
    pub registry: Registry,
    pub requests_total: IntCounterVec,
    pub request_duration_seconds: HistogramVec,
}

/// Built on first use; `init` forces that at startup so nothing can fail on the request path.
pub static METRICS: Lazy<Metrics> = Lazy::new(build);

pub fn init() {
    Lazy::force(&METRICS);
}

// Metric names and label sets are constants: construction fails only on a programming error,
// and it runs at startup (see `init`), never on the request path.
#[allow(clippy::expect_used)]
fn build() -> Metrics {
    let registry = Registry::new();
    let requests_total = IntCounterVec::new(
        Opts::new(
            "tollgate_requests_total",
            "Requests answered, by route, model, provider, key and status.",
        ),
        &["route", "model", "provider", "key", "status"],
    )
    .expect("valid metric");
    let request_duration_seconds = HistogramVec::new(
        HistogramOpts::new(
            "tollgate_request_duration_seconds",
            "Time from request to the end of its answer.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["route", "model", "provider"],
    )
    .expect("valid metric");
    registry
        .register(Box::new(requests_total.clone()))
        .expect("registered once");
    registry
        .register(Box::new(request_duration_seconds.clone()))
        .expect("registered once");
    Metrics {
        registry,
        requests_total,
        request_duration_seconds,
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
