//! An in-memory vector index: exact cosine search over L2-normalised `f32` vectors, per scope.
//!
//! **Layout.** Entries are partitioned by scope (`[u8; 32]`, see `qualify`), so a search
//! only reads its own scope's vectors. A scope's vectors sit in one contiguous `Vec<f32>`,
//! row-major, used as a ring of rows (oldest first), so a search streams through memory
//! in at most two runs, and removing the oldest entry moves nothing. Beside it, a `VecDeque`
//! of entries (payload, expiry) in the same order.
//!
//! **Search** is exhaustive: one dot product per entry of the scope (the cosine, since both
//! sides are normalised), written as 16 independent accumulators over `[f32; 16]` chunks so
//! that LLVM vectorises it with the baseline target's SIMD (no `unsafe`, no intrinsics).
//! Expiry is checked only for a row that would become the best match, so expired entries
//! cost nothing until they are removed.
//!
//! **Bound and eviction: FIFO.** At most `max_entries` entries over all scopes; inserting
//! into a full index first removes the oldest entry. Every entry lives the same `ttl`, so
//! the oldest entry is also the one that expires first: FIFO evicts what the TTL would
//! remove next anyway, and the same queue drives expiry (removed lazily at the next insert,
//! or by `purge`). LRU would make every hit a write (moving a row, or touching a shared
//! clock), so searches could no longer share a read lock; a semantic cache's popular
//! questions come back after their TTL anyway, re-stored by the next miss. Removing the
//! oldest is O(dim) at worst (a ring buffer pop; the rows shrink when a quarter full).
//!
//! **Memory** per entry is `4 × dim` bytes of vector (6 KiB at 1,536 dimensions), about 80
//! bytes of bookkeeping, and the payload; `memory_bytes` reports the allocated total.

use std::collections::{HashMap, VecDeque};
use std::sync::{RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// What entries are partitioned by: a search only compares within one scope.
pub type Scope = [u8; 32];

/// Chunk width of the dot product: 16 independent accumulators (four SSE registers, two AVX
/// ones), enough to hide the latency of the additions.
const LANES: usize = 16;

/// Similarities carry rounding error of about this much (1,536 products summed in `f32`): a
/// row this close below the threshold still counts, so a threshold of 1.0 finds duplicates.
const ROUNDING: f32 = 1e-5;

/// Fewest rows a scope's storage is allocated for, and below which it is not shrunk.
const MIN_ROWS: usize = 4;

/// When the TTL cannot be added to `now` (absurdly far), entries live this long.
const FALLBACK_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("the vector is empty")]
    Empty,
    #[error("the vector has {got} dimensions, the index holds {expected}")]
    DimensionMismatch { expected: usize, got: usize },
    #[error("the vector is zero or not finite")]
    NotNormalisable,
}

/// The best match of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Cosine similarity with the query, at most 1.
    pub similarity: f32,
    /// What was stored with the match.
    pub payload: Bytes,
}

/// Scales `v` to unit length. `false` (and `v` unusable) when it is empty, zero, or not
/// finite (a NaN or infinite component, or a norm beyond `f32`).
pub fn normalise(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    let inv = 1.0 / norm;
    if !inv.is_finite() {
        return false;
    }
    v.iter_mut().for_each(|x| *x *= inv);
    true
}

/// The cosine similarity of two normalised vectors (their dot product). 0 (unrelated) when
/// their lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    dot(a, b)
}

/// The dot product over the common length, in 16 lanes (see `LANES`). The compiler keeps
/// `acc` in SIMD registers and vectorises the inner loop; summing lanes in this fixed order
/// makes the result deterministic.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

struct Entry {
    payload: Bytes,
    expires: Instant,
}

/// One scope's entries: a ring of rows and their entries, oldest first.
struct Partition {
    /// `capacity × dim` values; row `(head + i) % capacity` belongs to `entries[i]`.
    rows: Vec<f32>,
    head: usize,
    entries: VecDeque<Entry>,
}

impl Partition {
    fn new() -> Self {
        Partition {
            rows: Vec::new(),
            head: 0,
            entries: VecDeque::new(),
        }
    }

    fn capacity(&self, dim: usize) -> usize {
        self.rows.len() / dim.max(1)
    }

    /// The live rows, oldest first, as at most two contiguous runs.
    fn runs(&self, dim: usize) -> [&[f32]; 2] {
        let cap = self.capacity(dim);
        let end = self.head + self.entries.len();
        if end <= cap {
            [
                self.rows.get(self.head * dim..end * dim).unwrap_or(&[]),
                &[],
            ]
        } else {
            [
                self.rows.get(self.head * dim..).unwrap_or(&[]),
                self.rows.get(..(end - cap) * dim).unwrap_or(&[]),
            ]
        }
    }

    /// Re-lays the rows out from index 0 in storage for `cap` rows (at least the live ones).
    fn relayout(&mut self, dim: usize, cap: usize) {
        let cap = cap.max(self.entries.len());
        let mut rows = Vec::with_capacity(cap * dim);
        for run in self.runs(dim) {
            rows.extend_from_slice(run);
        }
        rows.resize(cap * dim, 0.0);
        self.rows = rows;
        self.head = 0;
        self.entries.shrink_to(cap);
    }

    /// Appends a row (`vector.len() == dim`), growing the storage up to `max_rows`.
    fn push(&mut self, vector: &[f32], entry: Entry, dim: usize, max_rows: usize) {
        let len = self.entries.len();
        let cap = self.capacity(dim);
        if len == cap {
            self.relayout(dim, (cap * 2).max(MIN_ROWS).min(max_rows).max(len + 1));
        }
        let cap = self.capacity(dim);
        let slot = (self.head + len) % cap.max(1);
        if let Some(dst) = self.rows.get_mut(slot * dim..(slot + 1) * dim) {
            dst.copy_from_slice(vector);
            self.entries.push_back(entry);
        }
    }

    /// Removes the oldest row, shrinking the storage when it is a quarter full.
    fn pop_front(&mut self, dim: usize) {
        if self.entries.pop_front().is_none() {
            return;
        }
        let cap = self.capacity(dim);
        self.head = (self.head + 1) % cap.max(1);
        let len = self.entries.len();
        // Empty: the partition is dropped whole, no need to shrink it first.
        if cap > MIN_ROWS && len > 0 && len * 4 <= cap {
            self.relayout(dim, cap / 2);
        }
    }

    fn memory_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<f32>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.entries.iter().map(|e| e.payload.len()).sum::<usize>()
    }
}

/// Exact cosine search over normalised vectors of one dimension, per scope, bounded by a
/// number of entries, each living `ttl`. Not synchronised: see `SharedIndex`.
pub struct VectorIndex {
    max_entries: usize,
    ttl: Duration,
    /// Set by the first insert (after `new` or `clear`).
    dim: Option<usize>,
    partitions: HashMap<Scope, Partition>,
    /// The scope of every entry, oldest first: what FIFO eviction and expiry walk.
    order: VecDeque<Scope>,
}

impl VectorIndex {
    /// An empty index of at most `max_entries` entries (at least 1), each kept `ttl`.
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        VectorIndex {
            max_entries: max_entries.max(1),
            ttl,
            dim: None,
            partitions: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Stores `vector` (normalised here) with `payload` in `scope`, expiring `ttl` after
    /// `now`. Expired entries are removed first; then, if the index is full, the oldest.
    pub fn insert(
        &mut self,
        scope: Scope,
        mut vector: Vec<f32>,
        payload: Bytes,
        now: Instant,
    ) -> Result<(), IndexError> {
        if vector.is_empty() {
            return Err(IndexError::Empty);
        }
        self.check_dim(vector.len())?;
        if !normalise(&mut vector) {
            return Err(IndexError::NotNormalisable);
        }
        self.insert_unit(scope, &vector, payload, now)
    }

    fn check_dim(&self, got: usize) -> Result<(), IndexError> {
        match self.dim {
            Some(expected) if expected != got => {
                Err(IndexError::DimensionMismatch { expected, got })
            }
            _ => Ok(()),
        }
    }

    /// `insert` of a vector already normalised.
    fn insert_unit(
        &mut self,
        scope: Scope,
        vector: &[f32],
        payload: Bytes,
        now: Instant,
    ) -> Result<(), IndexError> {
        self.check_dim(vector.len())?;
        if vector.is_empty() {
            return Err(IndexError::Empty);
        }
        let dim = *self.dim.get_or_insert(vector.len());
        self.purge(now);
        while self.order.len() >= self.max_entries && self.evict_oldest() {}
        let expires = now
            .checked_add(self.ttl)
            .or_else(|| now.checked_add(FALLBACK_TTL))
            .unwrap_or(now);
        let max_rows = self.max_entries;
        self.partitions
            .entry(scope)
            .or_insert_with(Partition::new)
            .push(vector, Entry { payload, expires }, dim, max_rows);
        self.order.push_back(scope);
        Ok(())
    }

    /// The entry of `scope` most similar to `query` (normalised or not; the similarity is
    /// computed as if it were), if its similarity is at least `threshold` and it has not
    /// expired at `now`. On a tie, the newest entry. `None` for a query of the wrong
    /// dimension, zero or not finite.
    pub fn search(
        &self,
        scope: &Scope,
        query: &[f32],
        threshold: f32,
        now: Instant,
    ) -> Option<Hit> {
        let dim = self.dim?;
        if query.len() != dim {
            return None;
        }
        let partition = self.partitions.get(scope)?;
        let norm = dot(query, query).sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        let inv = 1.0 / norm;
        let mut floor = threshold - ROUNDING;
        let mut best: Option<(f32, usize)> = None;
        let mut i = 0;
        for run in partition.runs(dim) {
            for row in run.chunks_exact(dim) {
                let s = dot(row, query) * inv;
                if s >= floor && partition.entries.get(i).is_some_and(|e| now < e.expires) {
                    best = Some((s, i));
                    floor = s;
                }
                i += 1;
            }
        }
        let (similarity, i) = best?;
        Some(Hit {
            similarity: similarity.min(1.0),
            payload: partition.entries.get(i)?.payload.clone(),
        })
    }

    /// Removes the entries expired at `now` that are oldest (every entry lives the same
    /// TTL, so that is all of them unless `now` went backwards between inserts); returns
    /// how many went. `insert` does this too.
    pub fn purge(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(scope) = self.order.front() {
            let expired = self
                .partitions
                .get(scope)
                .and_then(|p| p.entries.front())
                .is_none_or(|e| e.expires <= now);
            if !expired || !self.evict_oldest() {
                break;
            }
            removed += 1;
        }
        removed
    }

    /// Removes the oldest entry; `false` when there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some(scope) = self.order.pop_front() else {
            return false;
        };
        let dim = self.dim.unwrap_or(1);
        if let Some(p) = self.partitions.get_mut(&scope) {
            p.pop_front(dim);
            if p.entries.is_empty() {
                self.partitions.remove(&scope);
            }
        }
        if self.order.capacity() > 64 && self.order.len() * 4 <= self.order.capacity() {
            self.order.shrink_to(self.order.capacity() / 2);
        }
        true
    }

    /// Removes every entry; the next insert sets the dimension anew.
    pub fn clear(&mut self) {
        self.partitions = HashMap::new();
        self.order = VecDeque::new();
        self.dim = None;
    }

    /// Entries held, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Scopes with at least one entry.
    pub fn scopes(&self) -> usize {
        self.partitions.len()
    }

    /// The vectors' dimension, once the first has been inserted.
    pub fn dim(&self) -> Option<usize> {
        self.dim
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Approximate bytes allocated: vectors, bookkeeping and payloads (a payload sharing
    /// memory with others is counted whole).
    pub fn memory_bytes(&self) -> usize {
        let per_scope = std::mem::size_of::<(Scope, Partition)>() + 8;
        std::mem::size_of::<Self>()
            + self.partitions.capacity() * per_scope
            + self.order.capacity() * std::mem::size_of::<Scope>()
            + self
                .partitions
                .values()
                .map(Partition::memory_bytes)
                .sum::<usize>()
    }
}

/// A `VectorIndex` shared by threads: searches share a read lock, inserts take the write
/// lock. A panic while the lock was held (a bug) empties the index at the next insert or
/// purge; until then searches miss.
pub struct SharedIndex {
    inner: RwLock<VectorIndex>,
}

impl SharedIndex {
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        SharedIndex {
            inner: RwLock::new(VectorIndex::new(max_entries, ttl)),
        }
    }

    /// See `VectorIndex::insert`. The vector is checked and normalised before the lock is
    /// taken.
    pub fn insert(
        &self,
        scope: Scope,
        mut vector: Vec<f32>,
        payload: Bytes,
        now: Instant,
    ) -> Result<(), IndexError> {
        if vector.is_empty() {
            return Err(IndexError::Empty);
        }
        if !normalise(&mut vector) {
            return Err(IndexError::NotNormalisable);
        }
        self.write().insert_unit(scope, &vector, payload, now)
    }

    /// See `VectorIndex::search`.
    pub fn search(
        &self,
        scope: &Scope,
        query: &[f32],
        threshold: f32,
        now: Instant,
    ) -> Option<Hit> {
        self.inner.read().ok()?.search(scope, query, threshold, now)
    }

    /// See `VectorIndex::purge`.
    pub fn purge(&self, now: Instant) -> usize {
        self.write().purge(now)
    }

    pub fn clear(&self) {
        self.write().clear()
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|ix| ix.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn memory_bytes(&self) -> usize {
        self.inner.read().map(|ix| ix.memory_bytes()).unwrap_or(0)
    }

    /// The write lock; a poisoned index is emptied and the poison cleared.
    fn write(&self) -> RwLockWriteGuard<'_, VectorIndex> {
        match self.inner.write() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                guard.clear();
                self.inner.clear_poison();
                guard
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "index_tests.rs"]
mod tests;
