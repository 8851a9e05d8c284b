//! Target selection: which provider target serves the next attempt of a request.
//!
//! Candidates are the targets that are enabled, not yet tried by this request, and not
//! cooling down (`health`). Among them, the model's strategy picks:
//! - `priority`: the first in configuration order;
//! - `weighted`: by `weight`, through pingora-load-balancing's weighted round robin;
//! - `latency`: the lowest moving average of time to first byte; targets never measured are
//!   tried first, and one pick in `EXPLORE_EVERY` takes another target so a recovered or
//!   faster one is noticed;
//! - `cost`: the cheapest by the price table (`prices:`, then the built-in one).
//!
//! The exchange loop moves on after a retryable failure up to the model's `max_attempts`,
//! only while nothing has reached the client.

pub mod health;
pub mod strategy;

use crate::config::Strategy;
use crate::snapshot::{Model, Target};
use health::Health;
use std::time::Instant;

/// The target for the next attempt, given the indexes of targets already tried.
pub fn next_target<'a>(
    model: &'a Model,
    tried: &[usize],
    health: &Health,
    now: Instant,
) -> Option<(usize, &'a Target)> {
    let usable = |i: usize| {
        model.targets.get(i).filter(|t| {
            t.provider.enabled
                && !tried.contains(&i)
                && health.available(t.provider.health_id(), now)
        })
    };
    let first_of = |order: &[usize]| order.iter().find_map(|&i| usable(i).map(|t| (i, t)));
    let in_order = || (0..model.targets.len()).find_map(|i| usable(i).map(|t| (i, t)));
    match model.selection.strategy {
        Strategy::Priority => in_order(),
        Strategy::Weighted => {
            first_of(model.selection.weighted_choice().as_slice()).or_else(in_order)
        }
        Strategy::Cost => first_of(&model.selection.cost_order).or_else(in_order),
        Strategy::Latency => {
            let candidates: Vec<(usize, Option<f64>)> = (0..model.targets.len())
                .filter_map(|i| {
                    usable(i).map(|t| (i, health.view(t.provider.health_id(), now).ttfb_ms))
                })
                .collect();
            if let Some((i, _)) = candidates.iter().find(|(_, ms)| ms.is_none()) {
                return usable(*i).map(|t| (*i, t));
            }
            let mut by_speed = candidates.clone();
            by_speed.sort_by(|a, b| a.1.unwrap_or(f64::MAX).total_cmp(&b.1.unwrap_or(f64::MAX)));
            let pick = if model.selection.explore() && by_speed.len() > 1 {
                by_speed.get(1)
            } else {
                by_speed.first()
            };
            pick.and_then(|(i, _)| usable(*i).map(|t| (*i, t)))
        }
    }
}

#[cfg(test)]
mod tests;
