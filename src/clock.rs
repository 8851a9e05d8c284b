//! Wall-clock time as Unix seconds and milliseconds (0 if the clock is before 1970): for
//! `created` fields, budget periods, audit timestamps and entries shared between instances.
//! Durations use `Instant`, never this.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
