//! Shared state: rate-limit windows, concurrency leases, budgets with their usage, and the
//! response cache's entries, behind one small trait with two backends (`memory` for one
//! instance, `redis` for many). Every check-and-update is one atomic step in the backend
//! (one mutex section; one Lua script), so concurrent requests, on one instance or many,
//! can never both take the last unit of a limit or a budget.
//!
//! The contract, for every backend:
//! - `admit` checks every scope of a request (its key, then its team) and, only if all of
//!   them admit it, takes the request into each: a window entry (`rpm`; its tokens, `tpm`), a
//!   concurrency lease, a budget reservation. A refusal changes nothing.
//! - `settle` is called exactly once for every admitted request, however it ended: it
//!   corrects the window entry to the real tokens, releases the lease, turns the reservation
//!   into the real cost, and adds the request to the scope's usage for the period.
//! - Rate windows slide: an entry counts for `window_ms` after its admission, no more, no
//!   less (a log of admissions, not fixed buckets, so no boundary lets twice the limit
//!   through). Leases and reservations expire on their own after `LEASE_MS`, so a crashed
//!   instance cannot hold them forever.

pub mod memory;
pub mod period;
pub mod redis;
mod store;

pub use store::State;

use async_trait::async_trait;
use bytes::Bytes;

/// How long a concurrency lease or budget reservation outlives a request that never settled
/// (its instance died): longer than any request may run.
pub const LEASE_MS: u64 = 2 * 60 * 60 * 1000;

/// USD are kept as integer nano-USD: sums stay exact (9.2 billion USD fit in an i64).
pub const NANOS_PER_USD: f64 = 1e9;

pub fn usd_to_nanos(usd: f64) -> i64 {
    (usd * NANOS_PER_USD).round() as i64
}

pub fn nanos_to_usd(nanos: i64) -> f64 {
    nanos as f64 / NANOS_PER_USD
}

/// One scope's rules for one request: a key or its team. `None`: no such limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeAsk {
    /// `key:NAME` or `team:NAME`.
    pub id: String,
    /// Requests allowed in any window.
    pub requests: Option<u64>,
    /// Tokens allowed in any window.
    pub tokens: Option<u64>,
    pub window_ms: u64,
    pub max_concurrent: Option<u64>,
    /// The budget of the current period, in nano-USD.
    pub budget_nanos: Option<i64>,
    /// The period usage and budget are counted in (`total` when the scope has no budget).
    pub period: String,
    /// How long the period's record is kept, in seconds (`None`: for ever).
    pub keep_s: Option<u64>,
}

impl ScopeAsk {
    pub fn has_window(&self) -> bool {
        self.requests.is_some() || self.tokens.is_some()
    }
}

/// What one request asks of the state: reserved before forwarding.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// Unique per request (across instances): names its window entry, lease and reservation.
    pub request_id: String,
    /// Tokens reserved against `tpm` (the prompt estimate).
    pub tokens: u64,
    /// Nano-USD reserved against budgets (the worst-case cost).
    pub cost_nanos: i64,
    /// The key's scope first, then its team's.
    pub scopes: Vec<ScopeAsk>,
}

/// The limits a refusal can name; a closed set (it labels `tollgate_ratelimited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Rpm,
    Tpm,
    Concurrent,
    Budget,
}

impl Limit {
    pub fn label(self) -> &'static str {
        match self {
            Limit::Rpm => "rpm",
            Limit::Tpm => "tpm",
            Limit::Concurrent => "concurrent",
            Limit::Budget => "budget",
        }
    }

    fn parse(s: &str) -> Option<Limit> {
        Some(match s {
            "rpm" => Limit::Rpm,
            "tpm" => Limit::Tpm,
            "concurrent" => Limit::Concurrent,
            "budget" => Limit::Budget,
            _ => return None,
        })
    }
}

/// What is left in one scope once the request is admitted. `None`: that limit is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Remaining {
    pub requests: Option<u64>,
    pub tokens: Option<u64>,
    pub budget_nanos: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Taken into every scope; what remains, per scope in the order asked.
    Admitted(Vec<Remaining>),
    /// The first scope (index into `Ask::scopes`) and limit that refused it, and when a retry
    /// could succeed (`None`: not before the period ends, or never).
    Refused {
        scope: usize,
        limit: Limit,
        retry_after_ms: Option<u64>,
    },
}

/// How an admitted request ended, as it is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Tokens really used (input and output; 0 when nothing answered).
    pub tokens: u64,
    pub cost_nanos: i64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// Whether the request counts in the scope's usage (something answered).
    pub counted: bool,
}

/// One scope's usage for a period, with what its budget has reserved for requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub spent_nanos: i64,
    pub reserved_nanos: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state backend did not answer in time")]
    Timeout,
    #[error("the state backend failed: {0}")]
    Backend(String),
}

/// A state backend. Implementations are atomic per call (see the module comment).
#[async_trait]
pub trait Backend: Send + Sync {
    /// The backend's name, a metric label.
    fn name(&self) -> &'static str;
    async fn admit(&self, ask: &Ask) -> Result<Verdict, StateError>;
    /// Returns each scope's budget left after settling (`None` where it has none).
    async fn settle(&self, ask: &Ask, outcome: &Outcome) -> Result<Vec<Option<i64>>, StateError>;
    async fn figures(&self, scope_id: &str, period: &str) -> Result<Figures, StateError>;
    /// A cached entry, if one is stored and not expired.
    async fn cache_get(&self, key: &[u8; 32]) -> Result<Option<Bytes>, StateError>;
    async fn cache_put(&self, key: &[u8; 32], value: Bytes, ttl_s: u64) -> Result<(), StateError>;

    /// Share a semantic-cache entry with other instances. `Ok(false)`: this backend shares
    /// nothing (the local index is all there is).
    async fn semantic_publish(
        &self,
        _entry: &SharedEntry,
        _ttl_s: u64,
    ) -> Result<bool, StateError> {
        Ok(false)
    }

    /// The entries of `scope` shared after `since_ms` (Unix ms), oldest first.
    async fn semantic_since(
        &self,
        _scope: &[u8; 32],
        _since_ms: u64,
        _ttl_s: u64,
    ) -> Result<Vec<SharedEntry>, StateError> {
        Ok(Vec::new())
    }
}

/// A semantic-cache entry as instances share it.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedEntry {
    /// Unique across instances.
    pub id: String,
    pub scope: [u8; 32],
    /// When it was stored, Unix ms.
    pub at_ms: u64,
    pub vector: Vec<f32>,
    pub payload: Bytes,
}

impl SharedEntry {
    /// `[dimensions: u32][vector: f32 × dimensions][payload]`, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.vector.len() * 4 + self.payload.len());
        out.extend_from_slice(&(self.vector.len() as u32).to_le_bytes());
        for x in &self.vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&self.payload);
        out
    }

    /// The vector and payload of `encode`'s bytes; `None` when they are not that.
    pub fn decode(bytes: &[u8]) -> Option<(Vec<f32>, Bytes)> {
        let dim = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let end = 4 + dim.checked_mul(4)?;
        let raw = bytes.get(4..end)?;
        let vector = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some((vector, Bytes::copy_from_slice(bytes.get(end..)?)))
    }
}
