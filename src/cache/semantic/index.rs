//! An in-memory vector index: cosine search over L2-normalised `f32` vectors, per scope;
//! exact in small scopes, in two stages (approximate) in large ones.
//!
//! **Layout.** Entries are partitioned by scope (`[u8; 32]`, see `qualify`), so a search
//! only reads its own scope's vectors. A scope's vectors sit in one contiguous `Vec<f32>`,
//! row-major, used as a ring of rows (oldest first), so a search streams through memory
//! in at most two runs, and removing the oldest entry moves nothing. In the same ring slots
//! of a contiguous `Vec<u64>`, each vector's 1-bit sign code (bit `j` set when component `j`
//! is positive: `dim / 64` words, 192 bytes at 1,536 dimensions), and beside both a
//! `VecDeque` of entries (payload, expiry) in the same order. Insert, eviction, expiry and
//! shrinking move rows and codes together.
//!
//! **Exact search**, in scopes of at most `EXACT_UP_TO` (2,048) entries: one dot product per
//! entry of the scope (the cosine, since both sides are normalised), written as 16
//! independent accumulators over `[f32; 16]` chunks so that LLVM vectorises it with the
//! target's SIMD (no `unsafe`, no intrinsics). Expiry is checked only for a row that would
//! become the best match, so expired entries cost nothing until they are removed. It reads
//! `4 × dim` bytes per entry and runs at memory bandwidth: 2 ms at 10,000 entries of 1,536
//! dimensions, 21 ms at 100,000, no faster than a plain read of the same 600 MB.
//!
//! **Two-stage search**, in larger scopes. First, the query's sign code is compared with
//! every live entry's: XOR and `count_ones` over the words give the Hamming distance, whose
//! share of the bits estimates the angle between the two vectors, from 1/32 of the bytes.
//! The `RERANK` (64) nearest by it are kept in a bounded max-heap (expired entries are
//! skipped). Second, those candidates are compared exactly, by the same dot product, and
//! the best at or above the threshold wins, with its exact similarity. Measured
//! (`benches/semantic.rs`, one core, 1,536 dimensions, all entries in one scope, built for
//! x86-64-v2): 0.06 ms at 10,000 entries, 0.53 ms at 100,000 (1.4 ms on the baseline x86-64
//! target, whose `count_ones` has no `popcnt` instruction: see `.cargo/config.toml`).
//!
//! **Large scopes therefore search approximately.** The answer is the exact search's
//! whenever the true best match is among the 64 candidates. A hit is never worse than the
//! threshold (its similarity is the exact cosine); the approximation can only cause misses
//! (or a lesser match still at or above the threshold), when more than 64 entries look at
//! least as near by sign code as the best match: not a near-duplicate among unrelated
//! entries (each of 300 queries at cosine 0.93 to 0.99 to their source, among 10,000 or
//! 100,000 random vectors, found it), but possible in a crowded neighbourhood (with 500
//! entries at cosine 0.90 to the query and the source at 0.93, 39 of 40 were found; at
//! 0.91, 37 of 40). The two-stage search is already the faster at 128 entries, the fewest
//! measured (10 against 14 µs), but up to 2,048 exact search costs under 0.25 ms, so it
//! keeps small scopes free of that question; `VectorIndex::with_exact_limit` sets another
//! limit.
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
//! **Memory** per entry is `4 × dim` bytes of vector and `dim / 8` of sign code (6 KiB and
//! 192 bytes at 1,536 dimensions), about 80 bytes of bookkeeping, and the payload;
//! `memory_bytes` reports the allocated total (about 6,450 bytes per entry at 1,536
//! dimensions, growth slack included).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
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

/// Scopes of at most this many entries are searched exactly by default (see the module
/// doc); larger ones in two stages. `VectorIndex::with_exact_limit` sets another limit.
pub const EXACT_UP_TO: usize = 2048;

/// How many entries nearest by sign code the two-stage search re-ranks by exact cosine.
pub const RERANK: usize = 64;

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

/// `u64` words of a sign code of `dim` dimensions: one bit per dimension.
fn code_words(dim: usize) -> usize {
    dim.div_ceil(64)
}

/// Writes the sign code of `v` into `code` (`code_words(v.len())` words): bit `j % 64` of
/// word `j / 64` is set when component `j` is positive. Scaling `v` by a positive factor
/// does not change it, so a query need not be normalised.
fn encode(v: &[f32], code: &mut [u64]) {
    for (word, chunk) in code.iter_mut().zip(v.chunks(64)) {
        *word = chunk
            .iter()
            .enumerate()
            .fold(0, |w, (bit, x)| w | (u64::from(*x > 0.0) << bit));
    }
}

/// The number of differing bits of two codes: the Hamming distance, whose share of all bits
/// estimates the angle between the vectors over pi. One XOR and one `count_ones` per word:
/// a `popcnt` instruction each with POPCNT (see `.cargo/config.toml`), SIMD bit arithmetic
/// without it.
#[inline]
fn hamming(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// The `len` items of a ring of `width`-wide items starting at slot `head`, oldest first,
/// as at most two contiguous runs.
fn ring_runs<T>(buf: &[T], width: usize, head: usize, len: usize) -> [&[T]; 2] {
    let cap = buf.len() / width.max(1);
    let end = head + len;
    if end <= cap {
        [buf.get(head * width..end * width).unwrap_or(&[]), &[]]
    } else {
        [
            buf.get(head * width..).unwrap_or(&[]),
            buf.get(..(end - cap) * width).unwrap_or(&[]),
        ]
    }
}

struct Entry {
    payload: Bytes,
    expires: Instant,
}

/// One scope's entries: a ring of rows, their sign codes and their entries, oldest first.
struct Partition {
    /// `capacity × dim` values; row `(head + i) % capacity` belongs to `entries[i]`.
    rows: Vec<f32>,
    /// `capacity × code_words(dim)` words, in the same slots as `rows`: the rows' sign codes.
    codes: Vec<u64>,
    head: usize,
    entries: VecDeque<Entry>,
}

impl Partition {
    fn new() -> Self {
        Partition {
            rows: Vec::new(),
            codes: Vec::new(),
            head: 0,
            entries: VecDeque::new(),
        }
    }

    fn capacity(&self, dim: usize) -> usize {
        self.rows.len() / dim.max(1)
    }

    /// The live rows, oldest first, as at most two contiguous runs.
    fn runs(&self, dim: usize) -> [&[f32]; 2] {
        ring_runs(&self.rows, dim, self.head, self.entries.len())
    }

    /// The live rows' sign codes (`words` each), oldest first, as at most two runs.
    fn code_runs(&self, words: usize) -> [&[u64]; 2] {
        ring_runs(&self.codes, words, self.head, self.entries.len())
    }

    /// The row of `entries[i]`.
    fn row(&self, i: usize, dim: usize) -> Option<&[f32]> {
        let slot = (self.head + i) % self.capacity(dim).max(1);
        self.rows.get(slot * dim..(slot + 1) * dim)
    }

    /// Re-lays the rows and codes out from index 0 in storage for `cap` rows (at least the
    /// live ones).
    fn relayout(&mut self, dim: usize, cap: usize) {
        let cap = cap.max(self.entries.len());
        let words = code_words(dim);
        let mut rows = Vec::with_capacity(cap * dim);
        for run in self.runs(dim) {
            rows.extend_from_slice(run);
        }
        rows.resize(cap * dim, 0.0);
        let mut codes = Vec::with_capacity(cap * words);
        for run in self.code_runs(words) {
            codes.extend_from_slice(run);
        }
        codes.resize(cap * words, 0);
        self.rows = rows;
        self.codes = codes;
        self.head = 0;
        self.entries.shrink_to(cap);
    }

    /// Appends a row (`vector.len() == dim`) and its code, growing the storage up to
    /// `max_rows`.
    fn push(&mut self, vector: &[f32], entry: Entry, dim: usize, max_rows: usize) {
        let len = self.entries.len();
        let cap = self.capacity(dim);
        if len == cap {
            self.relayout(dim, (cap * 2).max(MIN_ROWS).min(max_rows).max(len + 1));
        }
        let cap = self.capacity(dim);
        let slot = (self.head + len) % cap.max(1);
        let words = code_words(dim);
        let row = self.rows.get_mut(slot * dim..(slot + 1) * dim);
        let code = self.codes.get_mut(slot * words..(slot + 1) * words);
        if let (Some(row), Some(code)) = (row, code) {
            row.copy_from_slice(vector);
            encode(vector, code);
            self.entries.push_back(entry);
        }
    }

    /// Exact search: the best row at or above `floor` (its similarity and entry index) by
    /// one dot product per row, `query` scaled by `inv` (one over its norm). On a tie, the
    /// newest. Expiry is checked only for a row that would become the best match, so
    /// expired entries cost nothing until they are removed.
    fn best_exact(
        &self,
        query: &[f32],
        inv: f32,
        mut floor: f32,
        now: Instant,
        dim: usize,
    ) -> Option<(f32, usize)> {
        let mut best = None;
        let mut i = 0;
        for run in self.runs(dim) {
            for row in run.chunks_exact(dim) {
                let s = dot(row, query) * inv;
                if s >= floor && self.entries.get(i).is_some_and(|e| now < e.expires) {
                    best = Some((s, i));
                    floor = s;
                }
                i += 1;
            }
        }
        best
    }

    /// Two-stage search: the `RERANK` live entries nearest to the query by sign code, then
    /// `best_exact`'s rule over their rows only. The same answer whenever the exact best
    /// match is among those candidates.
    fn best_two_stage(
        &self,
        query: &[f32],
        inv: f32,
        mut floor: f32,
        now: Instant,
        dim: usize,
    ) -> Option<(f32, usize)> {
        let mut code = vec![0; code_words(dim)];
        encode(query, &mut code);
        let mut best = None;
        // Oldest first, so that a tie goes to the newest as in `best_exact`.
        for i in self.nearest_codes(&code, now) {
            let Some(row) = self.row(i, dim) else {
                continue;
            };
            let s = dot(row, query) * inv;
            if s >= floor {
                best = Some((s, i));
                floor = s;
            }
        }
        best
    }

    /// The indices (in `entries`, ascending) of the `RERANK` live entries whose codes differ
    /// least from `query`; on a tie of distances, the newest. One pass over the codes,
    /// keeping the candidates in a bounded max-heap whose top (the farthest, then oldest)
    /// is replaced by anything at least as near: after the first few thousand rows that is
    /// rare, so the pass costs about one Hamming distance and one comparison per row.
    /// Expiry is checked only for a row that would enter the heap.
    fn nearest_codes(&self, query: &[u64], now: Instant) -> Vec<usize> {
        // The common widths (384, 512, 768, 1,024, 1,536 and 3,072 dimensions) get a copy
        // of the loop for their number of words, which the compiler unrolls.
        match query.len() {
            6 => self.nearest_codes_of::<6>(query, now),
            8 => self.nearest_codes_of::<8>(query, now),
            12 => self.nearest_codes_of::<12>(query, now),
            16 => self.nearest_codes_of::<16>(query, now),
            24 => self.nearest_codes_of::<24>(query, now),
            48 => self.nearest_codes_of::<48>(query, now),
            _ => self.nearest_codes_of::<0>(query, now),
        }
    }

    /// `nearest_codes` for codes of `W` words, or of `query.len()` words if `W` is 0.
    fn nearest_codes_of<const W: usize>(&self, query: &[u64], now: Instant) -> Vec<usize> {
        let words = if W == 0 { query.len() } else { W };
        let Some(query) = query.get(..words) else {
            return Vec::new();
        };
        if words == 0 {
            return Vec::new();
        }
        let mut heap: BinaryHeap<(u32, Reverse<usize>)> = BinaryHeap::with_capacity(RERANK + 1);
        let mut worst = u32::MAX;
        let mut i = 0;
        for run in self.code_runs(words) {
            for code in run.chunks_exact(words) {
                let d = hamming(code, query);
                if d <= worst && self.entries.get(i).is_some_and(|e| now < e.expires) {
                    heap.push((d, Reverse(i)));
                    if heap.len() > RERANK {
                        heap.pop();
                    }
                    if heap.len() == RERANK {
                        worst = heap.peek().map_or(u32::MAX, |&(d, _)| d);
                    }
                }
                i += 1;
            }
        }
        let mut out: Vec<usize> = heap.into_iter().map(|(_, Reverse(i))| i).collect();
        out.sort_unstable();
        out
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
            + self.codes.capacity() * std::mem::size_of::<u64>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.entries.iter().map(|e| e.payload.len()).sum::<usize>()
    }
}

/// Cosine search over normalised vectors of one dimension, per scope, bounded by a number
/// of entries, each living `ttl`: exact in scopes of at most `exact_limit` entries, two-stage
/// (approximate) in larger ones. Not synchronised: see `SharedIndex`.
pub struct VectorIndex {
    max_entries: usize,
    ttl: Duration,
    /// Scopes of at most this many entries are searched exactly.
    exact_up_to: usize,
    /// Set by the first insert (after `new` or `clear`).
    dim: Option<usize>,
    partitions: HashMap<Scope, Partition>,
    /// The scope of every entry, oldest first: what FIFO eviction and expiry walk.
    order: VecDeque<Scope>,
}

impl VectorIndex {
    /// An empty index of at most `max_entries` entries (at least 1), each kept `ttl`, that
    /// searches scopes of more than `EXACT_UP_TO` entries in two stages.
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        Self::with_exact_limit(max_entries, ttl, EXACT_UP_TO)
    }

    /// `new`, searching exactly the scopes of at most `exact_up_to` entries (`usize::MAX`:
    /// all of them; 0: none).
    pub fn with_exact_limit(max_entries: usize, ttl: Duration, exact_up_to: usize) -> Self {
        VectorIndex {
            max_entries: max_entries.max(1),
            ttl,
            exact_up_to,
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
    ///
    /// In a scope of more than `exact_limit` entries the search is approximate: only the
    /// `RERANK` entries nearest by sign code are compared exactly, so the best match may be
    /// missed (a miss, or a lesser match at or above `threshold`); a hit's similarity is
    /// still its exact cosine, never below `threshold`.
    pub fn search(
        &self,
        scope: &Scope,
        query: &[f32],
        threshold: f32,
        now: Instant,
    ) -> Option<Hit> {
        let (partition, dim, inv) = self.prepare(scope, query)?;
        let floor = threshold - ROUNDING;
        let best = if partition.entries.len() <= self.exact_up_to {
            partition.best_exact(query, inv, floor, now, dim)
        } else {
            partition.best_two_stage(query, inv, floor, now, dim)
        };
        Self::hit(partition, best)
    }

    /// `search` comparing every entry of the scope exactly, whatever its size: the reference
    /// the two-stage search is measured against.
    pub fn search_exact(
        &self,
        scope: &Scope,
        query: &[f32],
        threshold: f32,
        now: Instant,
    ) -> Option<Hit> {
        let (partition, dim, inv) = self.prepare(scope, query)?;
        let best = partition.best_exact(query, inv, threshold - ROUNDING, now, dim);
        Self::hit(partition, best)
    }

    /// The scope's partition, the dimension and one over the query's norm; `None` when
    /// nothing can match.
    fn prepare(&self, scope: &Scope, query: &[f32]) -> Option<(&Partition, usize, f32)> {
        let dim = self.dim?;
        if query.len() != dim {
            return None;
        }
        let partition = self.partitions.get(scope)?;
        let norm = dot(query, query).sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        Some((partition, dim, 1.0 / norm))
    }

    fn hit(partition: &Partition, best: Option<(f32, usize)>) -> Option<Hit> {
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

    /// Scopes of at most this many entries are searched exactly.
    pub fn exact_limit(&self) -> usize {
        self.exact_up_to
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
