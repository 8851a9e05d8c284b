//! Target selection: which provider target serves the next attempt of a request.
//!
//! Today: the `priority` strategy over passive health (`health`): the first enabled target,
//! in configuration order, that this request has not tried and that is not cooling down.
//! The exchange loop moves on after a retryable failure (connection refused or reset,
//! timeouts, 429, 5xx) up to the model's `max_attempts`, only while nothing has reached the
//! client. The weighted, latency and cost strategies and active checks slot in here.

pub mod health;

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
    model.targets.iter().enumerate().find(|(i, t)| {
        t.provider.enabled && !tried.contains(i) && health.available(&t.provider.health_id(), now)
    })
}
