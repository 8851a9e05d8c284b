//! Target selection: which provider target serves the next attempt of a request.
//!
//! Today: the `priority` strategy without health: the first enabled target not yet tried,
//! in configuration order. The exchange loop moves on after a retryable failure (connection
//! refused or reset, timeouts, 429, 5xx) up to the model's `max_attempts`, and only while
//! nothing has reached the client. Health, ejection and the other strategies slot in here.

use crate::snapshot::{Model, Target};

/// The target for the next attempt, given the indexes of targets already tried.
pub fn next_target<'a>(model: &'a Model, tried: &[usize]) -> Option<(usize, &'a Target)> {
    model
        .targets
        .iter()
        .enumerate()
        .find(|(i, t)| t.provider.enabled && !tried.contains(i))
}
