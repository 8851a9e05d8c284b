//! The `memory` backend: one instance's state in this process, behind one mutex so that a
//! check and its update are one step. The critical sections are short (a few map lookups),
//! and only requests of keys with limits or budgets take it before forwarding.
//! The cache is pingora-memory-cache (TinyUFO admission and eviction, bounded entries, TTL).

use super::{Ask, Backend, Figures, Limit, Outcome, Remaining, StateError, Verdict};
use async_trait::async_trait;
use bytes::Bytes;
use pingora_memory_cache::MemoryCache;
// Fx hashing: every key here is Tollgate's own (scope ids from the configuration, request ids
// it generated), so the SipHash default's defence against chosen colliding keys buys nothing,
// and its cost showed in the request path's profile (load-tests/RESULTS.md, session 12).
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Memory {
    inner: Mutex<Inner>,
    epoch: Instant,
    cache: MemoryCache<[u8; 32], Entry>,
}

/// A cached value with its full key: the cache indexes by a 64-bit hash of the key, so a
/// hit is confirmed against the whole key before it is served.
#[derive(Clone)]
struct Entry {
    key: [u8; 32],
    value: Bytes,
}

#[derive(Default)]
struct Inner {
    windows: HashMap<String, Window>,
    in_flight: HashMap<String, u64>,
    /// By (scope id, period).
    periods: HashMap<(String, String), Figures>,
    /// Requests admitted and not yet settled, by request id: the ticket of their window
    /// entries. Settling releases leases and reservations only of a request found here, so
    /// a request is released at most once.
    open: HashMap<String, u64>,
    /// The next ticket; tickets grow with time, so each window's log is ordered by them.
    next_ticket: u64,
}

/// One admitted request in a sliding window.
struct Logged {
    at_ms: u64,
    ticket: u64,
    tokens: u64,
}

/// A sliding window's log: each admitted request with its time and tokens, oldest first.
/// 24 bytes an entry: a window holds every request it admitted in the last `window_ms`.
#[derive(Default)]
struct Window {
    log: VecDeque<Logged>,
    tokens: u64,
}

impl Window {
    fn expire(&mut self, now: u64, window_ms: u64) {
        while let Some(e) = self.log.front() {
            if e.at_ms + window_ms > now {
                break;
            }
            self.tokens = self.tokens.saturating_sub(e.tokens);
            self.log.pop_front();
        }
    }

    /// Milliseconds until the oldest entry leaves the window.
    fn wait(&self, now: u64, window_ms: u64) -> u64 {
        self.log
            .front()
            .map_or(window_ms, |e| (e.at_ms + window_ms).saturating_sub(now))
    }

    /// Replace the tokens of the entry with `ticket` by what the request really used; an
    /// entry that already left the window needs no correction. A binary search: the log is
    /// ordered by ticket, and may hold every request of the last minute.
    fn correct(&mut self, ticket: u64, tokens: u64) {
        let i = self.log.partition_point(|e| e.ticket < ticket);
        if let Some(e) = self.log.get_mut(i).filter(|e| e.ticket == ticket) {
            self.tokens = self.tokens - e.tokens + tokens;
            e.tokens = tokens;
        }
    }
}

impl Memory {
    pub fn new(cache_entries: usize) -> Memory {
        Memory {
            inner: Mutex::new(Inner::default()),
            epoch: Instant::now(),
            cache: MemoryCache::new(cache_entries.max(1)),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StateError> {
        self.inner
            .lock()
            .map_err(|_| StateError::Backend("state lock poisoned".into()))
    }
}

#[async_trait]
impl Backend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn admit(&self, ask: &Ask) -> Result<Verdict, StateError> {
        let now = self.now_ms();
        let mut inner = self.lock()?;
        let mut remaining = Vec::with_capacity(ask.scopes.len());
        // Check every scope before changing any.
        for (i, s) in ask.scopes.iter().enumerate() {
            let mut left = Remaining::default();
            if s.has_window() {
                let w = inner.windows.entry(s.id.clone()).or_default();
                w.expire(now, s.window_ms);
                let refuse = |limit| Verdict::Refused {
                    scope: i,
                    limit,
                    retry_after_ms: Some(w.wait(now, s.window_ms)),
                };
                if let Some(max) = s.requests {
                    let count = w.log.len() as u64;
                    if count + 1 > max {
                        return Ok(refuse(Limit::Rpm));
                    }
                    left.requests = Some(max - count - 1);
                }
                if let Some(max) = s.tokens {
                    if w.tokens + ask.tokens > max {
                        return Ok(refuse(Limit::Tpm));
                    }
                    left.tokens = Some(max - w.tokens - ask.tokens);
                }
            }
            if let Some(max) = s.max_concurrent {
                if inner.in_flight.get(&s.id).copied().unwrap_or(0) + 1 > max {
                    return Ok(Verdict::Refused {
                        scope: i,
                        limit: Limit::Concurrent,
                        retry_after_ms: Some(1000),
                    });
                }
            }
            if let Some(budget) = s.budget_nanos {
                let p = inner
                    .periods
                    .entry((s.id.clone(), s.period.clone()))
                    .or_default();
                let (spent, reserved) = (p.spent_nanos, p.reserved_nanos);
                if spent >= budget || spent + reserved + ask.cost_nanos > budget {
                    return Ok(Verdict::Refused {
                        scope: i,
                        limit: Limit::Budget,
                        retry_after_ms: None,
                    });
                }
                left.budget_nanos = Some(budget - spent - reserved - ask.cost_nanos);
            }
            remaining.push(left);
        }
        // Every scope admits it: take it into each.
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        let mut took = false;
        for s in &ask.scopes {
            if s.has_window() {
                let w = inner.windows.entry(s.id.clone()).or_default();
                w.log.push_back(Logged {
                    at_ms: now,
                    ticket,
                    tokens: ask.tokens,
                });
                w.tokens += ask.tokens;
                took = true;
            }
            if s.max_concurrent.is_some() {
                *inner.in_flight.entry(s.id.clone()).or_default() += 1;
                took = true;
            }
            if s.budget_nanos.is_some() {
                let p = inner
                    .periods
                    .entry((s.id.clone(), s.period.clone()))
                    .or_default();
                p.reserved_nanos += ask.cost_nanos;
                took = true;
            }
        }
        if took {
            inner.open.insert(ask.request_id.clone(), ticket);
        }
        Ok(Verdict::Admitted(remaining))
    }

    async fn settle(&self, ask: &Ask, outcome: &Outcome) -> Result<Vec<Option<i64>>, StateError> {
        let mut inner = self.lock()?;
        // `None`: never admitted (a scope without limits only records usage), or released.
        let ticket = inner.open.remove(&ask.request_id);
        let mut left = Vec::with_capacity(ask.scopes.len());
        for s in &ask.scopes {
            if let Some(ticket) = ticket {
                if s.has_window() {
                    if let Some(w) = inner.windows.get_mut(&s.id) {
                        w.correct(ticket, outcome.tokens);
                    }
                }
                if s.max_concurrent.is_some() {
                    if let Some(n) = inner.in_flight.get_mut(&s.id) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            let f = inner
                .periods
                .entry((s.id.clone(), s.period.clone()))
                .or_default();
            if ticket.is_some() && s.budget_nanos.is_some() {
                f.reserved_nanos -= ask.cost_nanos;
            }
            if outcome.counted {
                f.requests += 1;
                f.input_tokens += outcome.input_tokens;
                f.cached_input_tokens += outcome.cached_input_tokens;
                f.output_tokens += outcome.output_tokens;
                f.spent_nanos += outcome.cost_nanos;
            }
            let f = *f;
            left.push(s.budget_nanos.map(|b| b - f.spent_nanos - f.reserved_nanos));
        }
        Ok(left)
    }

    async fn figures(&self, scope_id: &str, period: &str) -> Result<Figures, StateError> {
        let inner = self.lock()?;
        Ok(inner
            .periods
            .get(&(scope_id.to_string(), period.to_string()))
            .copied()
            .unwrap_or_default())
    }

    async fn cache_get(&self, key: &[u8; 32]) -> Result<Option<Bytes>, StateError> {
        let (entry, _) = self.cache.get(key);
        Ok(entry.filter(|e| &e.key == key).map(|e| e.value))
    }

    async fn cache_put(&self, key: &[u8; 32], value: Bytes, ttl_s: u64) -> Result<(), StateError> {
        let entry = Entry { key: *key, value };
        self.cache.put(key, entry, Some(Duration::from_secs(ttl_s)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(tickets: &[u64]) -> Window {
        let mut w = Window::default();
        for &ticket in tickets {
            w.log.push_back(Logged {
                at_ms: ticket * 10,
                ticket,
                tokens: 5,
            });
            w.tokens += 5;
        }
        w
    }

    fn tokens(w: &Window) -> Vec<u64> {
        w.log.iter().map(|e| e.tokens).collect()
    }

    #[test]
    fn a_correction_changes_its_own_entry_and_the_sum() {
        // Tickets skip numbers: other windows' requests took the ones in between.
        let mut w = window(&[3, 7, 8, 12]);
        w.correct(8, 1);
        assert_eq!(tokens(&w), [5, 5, 1, 5]);
        assert_eq!(w.tokens, 16);
    }

    #[test]
    fn an_entry_that_left_the_window_or_never_was_corrects_nothing() {
        let mut w = window(&[3, 7, 8, 12]);
        w.expire(75, 0); // 3 and 7 leave
        assert_eq!(w.log.front().map(|e| e.ticket), Some(8));
        for gone in [3, 7, 10, 13] {
            w.correct(gone, 100);
        }
        assert_eq!(tokens(&w), [5, 5]);
        assert_eq!(w.tokens, 10);
    }
}
