//! Per-model selection state compiled with the snapshot: the weighted table, the cost order,
//! and the counter that paces exploration.

use crate::config::Strategy;
use pingora_load_balancing::selection::algorithms::RoundRobin;
use pingora_load_balancing::selection::weighted::Weighted;
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::Backend;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One request in this many goes to a target other than the fastest (latency strategy), so a
/// target that recovered, or got faster, is noticed.
pub const EXPLORE_EVERY: u64 = 20;

pub struct Selection {
    pub strategy: Strategy,
    /// `weighted`: Pingora's weighted round robin over the targets. Its backends are the
    /// targets' indexes dressed as loopback addresses (`127.0.0.1:<index + 1>`): the
    /// selection needs an identity per backend, not a place to connect to.
    weighted: Option<Arc<Weighted<RoundRobin>>>,
    /// `cost`: target indexes from cheapest to dearest (unpriced last).
    pub cost_order: Vec<usize>,
    picks: AtomicU64,
}

impl Selection {
    /// `weights` and `costs` per target, in configuration order. A weight of 0 never selects
    /// its target by weight (validation requires 1 or more for `weighted`).
    pub fn new(strategy: Strategy, weights: &[u32], costs: &[Option<f64>]) -> Selection {
        let weighted = (strategy == Strategy::Weighted).then(|| {
            let backends: BTreeSet<Backend> = weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0)
                .filter_map(|(i, w)| {
                    Backend::new_with_weight(&format!("127.0.0.1:{}", i + 1), *w as usize).ok()
                })
                .collect();
            Arc::new(Weighted::<RoundRobin>::build(&backends))
        });
        let mut cost_order: Vec<usize> = (0..costs.len()).collect();
        cost_order.sort_by(|a, b| {
            let price = |i: &usize| costs.get(*i).copied().flatten().unwrap_or(f64::INFINITY);
            price(a).total_cmp(&price(b))
        });
        Selection {
            strategy,
            weighted,
            cost_order,
            picks: AtomicU64::new(0),
        }
    }

    /// The weighted choice of this pick. Only the first choice is taken: Pingora's fallback
    /// steps advance the same round-robin counter, which would skew the split; when the
    /// choice cannot be used, the caller falls back to configuration order.
    pub fn weighted_choice(&self) -> Option<usize> {
        let w = self.weighted.as_ref()?;
        let mut iter = w.iter(b"");
        let port = iter.next()?.addr.as_inet()?.port();
        Some(usize::from(port).saturating_sub(1))
    }

    /// Whether this pick explores (latency strategy).
    pub fn explore(&self) -> bool {
        self.picks.fetch_add(1, Ordering::Relaxed) % EXPLORE_EVERY == EXPLORE_EVERY - 1
    }
}
