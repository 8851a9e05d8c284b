//! Target selection: which provider target serves the next attempt of a request.
//!
//! For now a model's first enabled target serves it, once. Strategies (priority, weighted,
//! latency, cost), health and failover arrive with the failover issue and slot in here: the
//! caller already passes what the request has tried, and loops while this returns a target.

use crate::snapshot::{Model, Target};

/// The target for the next attempt, given the indexes of targets already tried.
pub fn next_target<'a>(model: &'a Model, tried: &[usize]) -> Option<(usize, &'a Target)> {
    if !tried.is_empty() {
        return None;
    }
    model
        .targets
        .iter()
        .enumerate()
        .find(|(_, t)| t.provider.enabled)
}
