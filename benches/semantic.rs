//! Criterion benchmarks of the semantic cache's vector index: search time against the
//! number of entries in one scope (1k, 10k, 100k vectors of 1,536 dimensions, random and
//! normalised, from a small deterministic PRNG), insert time into a full index (with its
//! eviction), and memory per entry (printed). Goal: under 1 ms search at 100k × 1,536 on
//! one core.
//!
//! Besides the index, `semantic_floor` measures what bounds an exhaustive scan on this
//! machine, at 100k × 1,536: one plain read pass over the same `f32` data (memory
//! bandwidth), and the same scan over `i8`-quantised vectors (a quarter of the bytes) and
//! over 1-bit sign codes (1/32 of them), the alternatives to the index's exact `f32` scan.
//!
//! cargo bench --bench semantic -- --warm-up-time 1 --measurement-time 3
//!
//! Measured on the development VM (AMD EPYC Zen 5, 2 vCPU, 32 MiB L3, default target, so
//! SSE2 code), median per search, all entries in one scope:
//!
//! | entries | index (exact f32) | memory |
//! | --- | --- | --- |
//! | 1,000 | 0.20 ms | 5.9 MiB, 6,229 B/entry |
//! | 10,000 | 3.1 ms | 60 MiB, 6,279 B/entry |
//! | 100,000 | 25 ms | 596 MiB, 6,253 B/entry |
//!
//! Insert into a full index of 10,000 (with eviction): 0.9 µs. The floor at 100k: a plain
//! read pass over the f32 data takes 23 ms (about 27 GB/s), so the exact scan runs at
//! memory bandwidth and no f32 scan can reach 1 ms; the i8 scan takes 10.8 ms (7.0 ms
//! with `-C target-cpu=native`), the sign-bit scan 1.5 ms (0.59 ms native). The goal of
//! 1 ms at 100k × 1,536 in one scope needs approximate 1-bit codes (plus a re-rank) or
//! shorter vectors; see `src/cache/semantic/mod.rs`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tollgate::cache::semantic::{normalise, SharedIndex, VectorIndex};

const DIM: usize = 1536;
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const SCOPE: [u8; 32] = [7; 32];
const TTL: Duration = Duration::from_secs(3600);
const THRESHOLD: f32 = 0.92;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random unit vector (uniform components in [-0.5, 0.5), normalised).
    fn unit(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect();
        normalise(&mut v);
        v
    }
}

fn index_of(n: usize, rng: &mut Rng, now: Instant) -> VectorIndex {
    let mut ix = VectorIndex::new(n, TTL);
    for i in 0..n {
        let _ = ix.insert(SCOPE, rng.unit(), Bytes::from(i.to_string()), now);
    }
    ix
}

fn search(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("semantic_search_1536d");
    for n in SIZES {
        let mut rng = Rng(0x5eed + n as u64);
        let ix = index_of(n, &mut rng, now);
        let bytes = ix.memory_bytes();
        println!(
            "index of {n} entries x {DIM} dims: {:.1} MiB, {} bytes per entry ({} of them vector)",
            bytes as f64 / (1024.0 * 1024.0),
            bytes / n,
            DIM * 4
        );
        // A random query matches nothing at 0.92: the whole scope is scanned, as on a
        // miss (a hit scans it all too).
        let miss = rng.unit();
        // A stored vector, slightly perturbed: a hit.
        let mut hit: Vec<f32> = Rng(0x5eed + n as u64).unit();
        hit.iter_mut()
            .zip(rng.unit())
            .for_each(|(x, noise)| *x += 0.1 * noise);
        assert!(ix.search(&SCOPE, &hit, THRESHOLD, now).is_some());
        assert!(ix.search(&SCOPE, &miss, THRESHOLD, now).is_none());
        group.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            group.sample_size(20);
        } else {
            group.sample_size(100);
        }
        group.bench_function(format!("miss/{n}"), |b| {
            b.iter(|| ix.search(&SCOPE, black_box(&miss), THRESHOLD, now))
        });
        group.bench_function(format!("hit/{n}"), |b| {
            b.iter(|| ix.search(&SCOPE, black_box(&hit), THRESHOLD, now))
        });
        if n == 10_000 {
            // Through the shared index: the read lock's cost.
            let shared = SharedIndex::new(n, TTL);
            let mut rng = Rng(0x5eed + n as u64);
            for i in 0..n {
                let _ = shared.insert(SCOPE, rng.unit(), Bytes::from(i.to_string()), now);
            }
            group.bench_function(format!("shared_miss/{n}"), |b| {
                b.iter(|| shared.search(&SCOPE, black_box(&miss), THRESHOLD, now))
            });
        }
    }
    group.finish();
}

fn insert(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("semantic_insert_1536d");
    group.throughput(Throughput::Elements(1));
    let n = 10_000;
    let mut rng = Rng(99);
    let mut ix = index_of(n, &mut rng, now);
    let pool: Vec<Vec<f32>> = (0..64).map(|_| rng.unit()).collect();
    let mut i = 0usize;
    // Into a full index: every insert also evicts the oldest entry.
    group.bench_function(format!("full_index/{n}"), |b| {
        b.iter_batched(
            || {
                i += 1;
                pool[i % pool.len()].clone()
            },
            |v| ix.insert(SCOPE, v, Bytes::from_static(b"answer"), now),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

// --- What bounds an exhaustive scan, measured on this machine (not the index's code). ---

/// A plain read pass: the sum of every value, 16 lanes like the index's dot product.
fn sum_all(data: &[f32]) -> f32 {
    let (chunks, rest) = data.as_chunks::<16>();
    let mut acc = [0f32; 16];
    for c in chunks {
        for (s, x) in acc.iter_mut().zip(c) {
            *s += x;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// Per-vector scale to `i8` (max |x| to 127).
fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v
        .iter()
        .fold(0f32, |m, x| m.max(x.abs()))
        .max(f32::MIN_POSITIVE);
    let scale = 127.0 / max;
    (v.iter().map(|x| (x * scale).round() as i8).collect(), scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let (ca, _) = a.as_chunks::<32>();
    let (cb, _) = b.as_chunks::<32>();
    let mut acc = [0i32; 32];
    for (x, y) in ca.iter().zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += i32::from(i16::from(*x) * i16::from(*y));
        }
    }
    acc.iter().sum()
}

/// The best `i8` dot product over rows of `DIM` bytes, with each row's scale.
fn scan_i8(rows: &[i8], scales: &[f32], q: &[i8], q_scale: f32) -> (f32, usize) {
    let mut best = (f32::MIN, 0);
    for (i, (row, s)) in rows.chunks_exact(DIM).zip(scales).enumerate() {
        let sim = dot_i8(row, q) as f32 / (s * q_scale);
        if sim > best.0 {
            best = (sim, i);
        }
    }
    best
}

const WORDS: usize = DIM / 64;

fn signs(v: &[f32]) -> [u64; WORDS] {
    let mut out = [0u64; WORDS];
    for (w, chunk) in out.iter_mut().zip(v.chunks_exact(64)) {
        for (bit, x) in chunk.iter().enumerate() {
            if *x > 0.0 {
                *w |= 1 << bit;
            }
        }
    }
    out
}

/// The fewest differing sign bits over all rows.
fn scan_bits(rows: &[[u64; WORDS]], q: &[u64; WORDS]) -> (u32, usize) {
    let mut best = (u32::MAX, 0);
    for (i, row) in rows.iter().enumerate() {
        let d: u32 = row.iter().zip(q).map(|(a, b)| (a ^ b).count_ones()).sum();
        if d < best.0 {
            best = (d, i);
        }
    }
    best
}

fn floor(c: &mut Criterion) {
    let n = 100_000;
    let mut rng = Rng(0xf100);
    let vectors: Vec<Vec<f32>> = (0..n).map(|_| rng.unit()).collect();
    let query = rng.unit();
    let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
    let mut i8_rows = Vec::with_capacity(n * DIM);
    let mut scales = Vec::with_capacity(n);
    for v in &vectors {
        let (q, s) = quantise(v);
        i8_rows.extend_from_slice(&q);
        scales.push(s);
    }
    let bits: Vec<[u64; WORDS]> = vectors.iter().map(|v| signs(v)).collect();
    drop(vectors);
    let (q8, q8_scale) = quantise(&query);
    let qbits = signs(&query);

    let mut group = c.benchmark_group("semantic_floor_100k_1536d");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20);
    group.bench_function("f32_read_pass", |b| b.iter(|| sum_all(black_box(&flat))));
    group.bench_function("i8_scan", |b| {
        b.iter(|| scan_i8(&i8_rows, &scales, black_box(&q8), q8_scale))
    });
    group.bench_function("sign_bits_scan", |b| {
        b.iter(|| scan_bits(&bits, black_box(&qbits)))
    });
    group.finish();
}

criterion_group!(benches, search, insert, floor);
criterion_main!(benches);
