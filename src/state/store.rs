//! `State`: the backend chosen by `state.backend`, with the failure policy of
//! `state.on_error` applied in one place. It lives outside the configuration snapshot, so
//! counters, budgets and the cache survive a reload.

use super::{
    memory::Memory, redis::Redis, Ask, Backend, Figures, Outcome, SharedEntry, StateError, Verdict,
};
use crate::cache::semantic::{Hit, SemanticConfig, SharedIndex};
use crate::config::{OnError, StateConfig};
use crate::error::GatewayError;
use crate::metrics::METRICS;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct State {
    backend: Box<dyn Backend>,
    /// The semantic cache's entries on this node, built on first use (its bounds are the
    /// configuration's at that moment: changing them takes a restart).
    semantic: once_cell::sync::OnceCell<SharedIndex>,
    /// Per scope, the newest shared entry already in `semantic` (Unix ms).
    synced: std::sync::Mutex<std::collections::HashMap<[u8; 32], u64>>,
    /// Unix seconds of the last warning about the backend, so an outage warns once per
    /// interval, not once per request.
    last_warning: AtomicU64,
}

/// One warning per this many seconds while the backend fails.
const WARN_EVERY_S: u64 = 10;

impl State {
    pub fn new(config: &StateConfig, cache_entries: usize) -> Result<State, String> {
        let backend: Box<dyn Backend> = match config.backend {
            crate::config::Backend::Memory => Box::new(Memory::new(cache_entries)),
            crate::config::Backend::Redis => Box::new(
                Redis::new(
                    config.redis_url.expose(),
                    Duration::from_millis(config.timeout_ms),
                )
                .map_err(|e| e.to_string())?,
            ),
        };
        Ok(State::with_backend(backend))
    }

    pub fn with_backend(backend: Box<dyn Backend>) -> State {
        State {
            backend,
            semantic: once_cell::sync::OnceCell::new(),
            synced: Default::default(),
            last_warning: AtomicU64::new(0),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Admit `ask`. `Ok(None)`: the backend failed and `fail_open` serves the request
    /// unlimited; `fail_closed` answers 503 instead.
    pub async fn admit(
        &self,
        ask: &Ask,
        on_error: OnError,
    ) -> Result<Option<Verdict>, GatewayError> {
        match self.backend.admit(ask).await {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.failed(&e);
                match on_error {
                    OnError::FailOpen => Ok(None),
                    OnError::FailClosed => Err(GatewayError::StateUnavailable(
                        "limits and budgets cannot be checked right now".into(),
                    )),
                }
            }
        }
    }

    /// Settle an admitted request; each scope's budget left, or `None` when the backend
    /// failed (counted and warned; the request itself is over).
    pub async fn settle(&self, ask: &Ask, outcome: &Outcome) -> Option<Vec<Option<i64>>> {
        match self.backend.settle(ask, outcome).await {
            Ok(left) => Some(left),
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    pub async fn figures(&self, scope_id: &str, period: &str) -> Result<Figures, StateError> {
        let figures = self.backend.figures(scope_id, period).await;
        if let Err(e) = &figures {
            self.failed(e);
        }
        figures
    }

    /// A cached answer; a failing backend is a miss.
    pub async fn cache_get(&self, key: &[u8; 32]) -> Option<Bytes> {
        match self.backend.cache_get(key).await {
            Ok(v) => v,
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    pub async fn cache_put(&self, key: &[u8; 32], value: Bytes, ttl_s: u64) {
        if let Err(e) = self.backend.cache_put(key, value, ttl_s).await {
            self.failed(&e);
        }
    }

    fn index(&self, cfg: &SemanticConfig) -> &SharedIndex {
        self.semantic.get_or_init(|| {
            SharedIndex::new(cfg.max_entries, std::time::Duration::from_secs(cfg.ttl_s))
        })
    }

    /// The best stored answer of `scope` whose question is at least `cfg.threshold` similar
    /// to `query`. With a shared backend, the scope's entries stored elsewhere since the last
    /// look are fetched first; a backend failure only means fewer entries to search.
    pub async fn semantic_search(
        &self,
        cfg: &SemanticConfig,
        scope: &[u8; 32],
        query: &[f32],
    ) -> Option<Hit> {
        let index = self.index(cfg);
        let since = self
            .synced
            .lock()
            .ok()
            .and_then(|s| s.get(scope).copied())
            .unwrap_or(0);
        match self.backend.semantic_since(scope, since, cfg.ttl_s).await {
            Ok(entries) => {
                let now_ms = crate::clock::unix_ms();
                let now = std::time::Instant::now();
                let mut newest = since;
                for e in entries {
                    newest = newest.max(e.at_ms);
                    // Its age elsewhere counts against its time to live here too.
                    let age = std::time::Duration::from_millis(now_ms.saturating_sub(e.at_ms));
                    let stored = now.checked_sub(age).unwrap_or(now);
                    let _ = index.insert(e.scope, e.vector, e.payload, stored);
                }
                if let Ok(mut s) = self.synced.lock() {
                    s.insert(*scope, newest);
                }
            }
            Err(e) => self.failed(&e),
        }
        index.search(scope, query, cfg.threshold, std::time::Instant::now())
    }

    /// Keep an answer under its question's embedding: shared through the backend when it
    /// shares (every instance then fetches it), else in this node's index.
    pub async fn semantic_store(&self, cfg: &SemanticConfig, entry: SharedEntry) {
        match self.backend.semantic_publish(&entry, cfg.ttl_s).await {
            Ok(true) => {}
            Ok(false) => {
                let now = std::time::Instant::now();
                let _ = self
                    .index(cfg)
                    .insert(entry.scope, entry.vector, entry.payload, now);
            }
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&self, e: &StateError) {
        METRICS
            .state_backend_errors_total
            .with_label_values(&[self.backend.name()])
            .inc();
        let now = crate::clock::unix_s();
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + WARN_EVERY_S
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log::warn!(
                "state backend {}: {e} (counted in tollgate_state_backend_errors_total)",
                self.backend.name()
            );
        }
    }
}
