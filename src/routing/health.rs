//! Health of provider targets: passive, learned from live traffic, and, for providers with
//! a `health_check`, active, from pingora-load-balancing's checks (see `server.rs`). A target
//! is available when both say so.
//!
//! `unhealthy_after` consecutive failures (connect errors, timeouts, 429, 5xx) eject a target
//! for a cool-down that doubles with each ejection in a row, up to a cap, and is never
//! shorter than a `retry-after` the provider gave. When the cool-down ends the target takes
//! live traffic again (half-open): its first success re-admits it, its first failure ejects
//! it again, for longer. State is keyed by provider identity (name and endpoint), so a
//! configuration reload keeps it for the providers that still exist. Time is passed in, so
//! the rules are unit-tested without clocks.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub unhealthy_after: u32,
    pub base_cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for Policy {
    /// Two failures in a row eject; the cool-down starts at 500 ms and doubles up to 2 s, so a
    /// provider that comes back takes traffic again within about 2 s (a longer `retry-after`
    /// wins).
    fn default() -> Self {
        Policy {
            unhealthy_after: 2,
            base_cooldown: Duration::from_millis(500),
            max_cooldown: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct State {
    consecutive_failures: u32,
    /// Ejections in a row without a success in between (the back-off exponent).
    ejections_in_a_row: u32,
    ejected_until: Option<Instant>,
    total_ejections: u64,
    /// Moving average of time to the answer's head, in ms.
    ttfb_ms: Option<f64>,
    last_error: Option<String>,
}

/// What the admin API shows of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub up: bool,
    /// The active checks' verdict, when the provider has them.
    pub active_ok: Option<bool>,
    pub consecutive_failures: u32,
    pub cooling_down_ms: u64,
    pub ejections: u64,
    pub ttfb_ms: Option<f64>,
    pub last_error: Option<String>,
}

/// Pingora's health-checked view of one provider (a single backend).
pub type ActiveCheck = std::sync::Arc<
    pingora_load_balancing::LoadBalancer<pingora_load_balancing::selection::RoundRobin>,
>;

#[derive(Default)]
pub struct Health {
    targets: RwLock<HashMap<String, State>>,
    active: RwLock<HashMap<String, ActiveCheck>>,
}

/// Weight of the newest sample in the time-to-first-byte average.
const EWMA_ALPHA: f64 = 0.2;

impl Health {
    /// Whether `id` may take a request at `now`: not cooling down (half-open counts as yes)
    /// and not failing its active checks.
    pub fn available(&self, id: &str, now: Instant) -> bool {
        let passive = self
            .targets
            .read()
            .map(|t| {
                t.get(id)
                    .and_then(|s| s.ejected_until)
                    .is_none_or(|until| now >= until)
            })
            .unwrap_or(true);
        passive && self.active_ok(id).unwrap_or(true)
    }

    /// Register the active check of `id`.
    pub fn set_active(&self, id: &str, check: ActiveCheck) {
        if let Ok(mut active) = self.active.write() {
            active.insert(id.to_string(), check);
        }
    }

    /// What the active checks say of `id`; `None` without checks (or before the first
    /// discovery, when Pingora knows no backend yet).
    pub fn active_ok(&self, id: &str) -> Option<bool> {
        let active = self.active.read().ok()?;
        let check = active.get(id)?;
        let backends = check.backends().get_backend();
        if backends.is_empty() {
            return None;
        }
        Some(backends.iter().any(|b| check.backends().ready(b)))
    }

    /// The target answered: failures forgotten, re-admitted if it was half-open.
    pub fn success(&self, id: &str, ttfb: Duration) {
        if let Ok(mut targets) = self.targets.write() {
            let s = targets.entry(id.to_string()).or_default();
            s.consecutive_failures = 0;
            s.ejections_in_a_row = 0;
            s.ejected_until = None;
            let sample = ttfb.as_secs_f64() * 1000.0;
            s.ttfb_ms = Some(
                s.ttfb_ms
                    .map_or(sample, |avg| avg + EWMA_ALPHA * (sample - avg)),
            );
        }
    }

    /// The target failed at `now`. Returns true when this failure ejected it.
    pub fn failure(
        &self,
        id: &str,
        now: Instant,
        retry_after: Option<Duration>,
        error: &str,
        policy: &Policy,
    ) -> bool {
        let Ok(mut targets) = self.targets.write() else {
            return false;
        };
        let s = targets.entry(id.to_string()).or_default();
        s.last_error = Some(error.chars().take(200).collect());
        let half_open = s.ejected_until.is_some_and(|until| now >= until);
        s.consecutive_failures += 1;
        let threshold = s.consecutive_failures >= policy.unhealthy_after.max(1);
        if !(threshold || half_open || retry_after.is_some()) {
            return false;
        }
        // A retry-after is the provider saying when to come back: honoured at once.
        let exponent = s.ejections_in_a_row.min(16);
        let backoff = policy
            .base_cooldown
            .saturating_mul(1 << exponent)
            .min(policy.max_cooldown);
        let cooldown = retry_after.map_or(backoff, |r| backoff.max(r));
        s.ejections_in_a_row += 1;
        s.total_ejections += 1;
        s.consecutive_failures = 0;
        s.ejected_until = Some(now + cooldown);
        true
    }

    pub fn view(&self, id: &str, now: Instant) -> View {
        let s = self
            .targets
            .read()
            .ok()
            .and_then(|t| t.get(id).cloned())
            .unwrap_or_default();
        let cooling = s
            .ejected_until
            .map(|u| u.saturating_duration_since(now))
            .unwrap_or_default();
        let active_ok = self.active_ok(id);
        View {
            up: cooling.is_zero() && active_ok.unwrap_or(true),
            active_ok,
            consecutive_failures: s.consecutive_failures,
            cooling_down_ms: cooling.as_millis() as u64,
            ejections: s.total_ejections,
            ttfb_ms: s.ttfb_ms,
            last_error: s.last_error,
        }
    }
}

/// `retry-after` as seconds (the form providers send); an HTTP date is not honoured.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        unhealthy_after: 2,
        base_cooldown: Duration::from_millis(500),
        max_cooldown: Duration::from_secs(2),
    };

    #[test]
    fn consecutive_failures_eject_and_a_success_resets() {
        let (h, t0) = (Health::default(), Instant::now());
        assert!(!h.failure("a", t0, None, "refused", &P));
        h.success("a", Duration::from_millis(10));
        assert!(
            !h.failure("a", t0, None, "refused", &P),
            "the count restarted"
        );
        assert!(h.failure("a", t0, None, "refused", &P));
        assert!(!h.available("a", t0 + Duration::from_millis(499)));
        assert!(
            h.available("a", t0 + Duration::from_millis(500)),
            "half-open after the cool-down"
        );
        assert!(h.available("b", t0), "unknown targets are available");
    }

    #[test]
    fn half_open_failures_eject_again_for_longer_up_to_the_cap() {
        let (h, mut now) = (Health::default(), Instant::now());
        h.failure("a", now, None, "x", &P);
        h.failure("a", now, None, "x", &P);
        let mut cooldowns = Vec::new();
        for _ in 0..4 {
            let v = h.view("a", now);
            cooldowns.push(v.cooling_down_ms);
            now += Duration::from_millis(v.cooling_down_ms);
            assert!(h.available("a", now));
            assert!(
                h.failure("a", now, None, "x", &P),
                "one half-open failure ejects"
            );
        }
        assert_eq!(cooldowns, [500, 1000, 2000, 2000]);
        now += Duration::from_secs(2);
        h.success("a", Duration::from_millis(5));
        assert_eq!(h.view("a", now).ejections, 5);
        assert!(h.view("a", now).up);
    }

    #[test]
    fn retry_after_ejects_at_once_for_at_least_that_long() {
        let (h, t0) = (Health::default(), Instant::now());
        assert!(h.failure("a", t0, Some(Duration::from_secs(30)), "429", &P));
        assert!(!h.available("a", t0 + Duration::from_secs(29)));
        assert!(h.available("a", t0 + Duration::from_secs(30)));
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn latency_is_a_moving_average() {
        let h = Health::default();
        h.success("a", Duration::from_millis(100));
        h.success("a", Duration::from_millis(200));
        assert_eq!(h.view("a", Instant::now()).ttfb_ms, Some(120.0));
    }
}
