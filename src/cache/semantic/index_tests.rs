use super::*;

const TTL: Duration = Duration::from_secs(60);

fn scope(n: u8) -> Scope {
    [n; 32]
}

fn unit(dim: usize, axis: usize) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[axis] = 1.0;
    v
}

/// A unit vector at `cos` similarity to axis 0, in the plane of axes 0 and `other`.
fn at(dim: usize, other: usize, cos: f32) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[0] = cos;
    v[other] = (1.0 - cos * cos).sqrt();
    v
}

fn payload(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn hit_payload(h: Option<Hit>) -> Option<Bytes> {
    h.map(|h| h.payload)
}

/// A small deterministic PRNG (xorshift64*), for vectors.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect()
    }
}

#[test]
fn normalise_and_cosine() {
    let mut v = vec![3.0, 4.0];
    assert!(normalise(&mut v));
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    assert!((cosine(&v, &v) - 1.0).abs() < 1e-6);
    assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
    assert_eq!(cosine(&[1.0, 0.0], &[1.0]), 0.0);
    assert!(!normalise(&mut []));
    assert!(!normalise(&mut [0.0, 0.0]));
    assert!(!normalise(&mut [f32::NAN, 1.0]));
    assert!(!normalise(&mut [f32::INFINITY, 1.0]));
    // The chunked dot product agrees with the plain one, tail included.
    let mut rng = Rng(7);
    for dim in [1, 15, 16, 17, 100, 1536] {
        let (a, b) = (rng.vector(dim), rng.vector(dim));
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
        assert!((f64::from(dot(&a, &b)) - plain).abs() < 1e-4, "{dim}");
    }
}

#[test]
fn finds_the_best_match() {
    let mut ix = VectorIndex::new(100, TTL);
    let now = Instant::now();
    let s = scope(1);
    ix.insert(s, at(8, 1, 0.5), payload("far"), now).unwrap();
    ix.insert(s, at(8, 2, 0.97), payload("best"), now).unwrap();
    ix.insert(s, at(8, 3, 0.93), payload("close"), now).unwrap();
    ix.insert(s, unit(8, 4), payload("orthogonal"), now)
        .unwrap();
    let hit = ix.search(&s, &unit(8, 0), 0.9, now).unwrap();
    assert_eq!(hit.payload, payload("best"));
    assert!((hit.similarity - 0.97).abs() < 1e-5);
    // The query need not be normalised.
    let scaled: Vec<f32> = unit(8, 0).iter().map(|x| x * 42.0).collect();
    assert_eq!(
        hit_payload(ix.search(&s, &scaled, 0.9, now)),
        Some(payload("best"))
    );
    // Nor the stored vectors: they are normalised on insert.
    ix.insert(
        s,
        vec![5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        payload("exact"),
        now,
    )
    .unwrap();
    let hit = ix.search(&s, &unit(8, 0), 0.9, now).unwrap();
    assert_eq!(hit.payload, payload("exact"));
    assert!(hit.similarity <= 1.0 && hit.similarity > 0.9999);
    // A threshold of 1 finds exact duplicates despite rounding.
    assert!(ix.search(&s, &unit(8, 0), 1.0, now).is_some());
}

#[test]
fn ties_go_to_the_newest() {
    let mut ix = VectorIndex::new(10, TTL);
    let now = Instant::now();
    ix.insert(scope(1), unit(4, 0), payload("old"), now)
        .unwrap();
    ix.insert(scope(1), unit(4, 0), payload("new"), now)
        .unwrap();
    assert_eq!(
        hit_payload(ix.search(&scope(1), &unit(4, 0), 0.9, now)),
        Some(payload("new"))
    );
}

#[test]
fn the_threshold_is_respected() {
    let mut ix = VectorIndex::new(10, TTL);
    let now = Instant::now();
    ix.insert(scope(1), at(8, 1, 0.91), payload("a"), now)
        .unwrap();
    let q = unit(8, 0);
    assert!(ix.search(&scope(1), &q, 0.92, now).is_none());
    assert!(ix.search(&scope(1), &q, 0.90, now).is_some());
    assert!(ix.search(&scope(1), &q, 0.91, now).is_some());
    assert!(ix.search(&scope(1), &q, f32::NAN, now).is_none());
    // Opposite directions never match a positive threshold.
    let neg: Vec<f32> = q.iter().map(|x| -x).collect();
    assert!(ix.search(&scope(1), &neg, 0.1, now).is_none());
}

#[test]
fn scopes_are_isolated() {
    let mut ix = VectorIndex::new(10, TTL);
    let now = Instant::now();
    ix.insert(scope(1), unit(4, 0), payload("one"), now)
        .unwrap();
    ix.insert(scope(2), unit(4, 1), payload("two"), now)
        .unwrap();
    assert_eq!(
        hit_payload(ix.search(&scope(1), &unit(4, 0), 0.9, now)),
        Some(payload("one"))
    );
    assert!(ix.search(&scope(2), &unit(4, 0), 0.9, now).is_none());
    assert!(ix.search(&scope(3), &unit(4, 0), 0.9, now).is_none());
    assert_eq!(
        hit_payload(ix.search(&scope(2), &unit(4, 1), 0.9, now)),
        Some(payload("two"))
    );
    assert_eq!((ix.len(), ix.scopes()), (2, 2));
}

#[test]
fn the_oldest_entry_is_evicted_at_the_bound() {
    let mut ix = VectorIndex::new(3, TTL);
    let now = Instant::now();
    let names = ["a", "b", "c", "d", "e"];
    for (i, name) in names.iter().enumerate() {
        // Alternate scopes: the bound is over all of them.
        ix.insert(scope((i % 2) as u8), unit(8, i), payload(name), now)
            .unwrap();
        assert!(ix.len() <= 3);
    }
    assert_eq!(ix.len(), 3);
    for (i, name) in names.iter().enumerate() {
        let found = hit_payload(ix.search(&scope((i % 2) as u8), &unit(8, i), 0.9, now));
        let expected = (i >= 2).then(|| payload(name));
        assert_eq!(found, expected, "{name}");
    }
    // A scope whose entries are all evicted is gone.
    let mut ix = VectorIndex::new(1, TTL);
    ix.insert(scope(1), unit(4, 0), payload("a"), now).unwrap();
    ix.insert(scope(2), unit(4, 0), payload("b"), now).unwrap();
    assert_eq!((ix.len(), ix.scopes()), (1, 1));
    assert!(ix.search(&scope(1), &unit(4, 0), 0.9, now).is_none());
    // Zero is read as one.
    assert_eq!(VectorIndex::new(0, TTL).max_entries(), 1);
}

#[test]
fn entries_expire_after_the_ttl() {
    let mut ix = VectorIndex::new(10, TTL);
    let t0 = Instant::now();
    ix.insert(scope(1), unit(4, 0), payload("old"), t0).unwrap();
    let t1 = t0 + Duration::from_secs(30);
    ix.insert(scope(1), at(4, 1, 0.95), payload("newer"), t1)
        .unwrap();
    let q = unit(4, 0);
    assert_eq!(
        hit_payload(ix.search(&scope(1), &q, 0.9, t0 + TTL - Duration::from_millis(1))),
        Some(payload("old"))
    );
    // Expired entries are skipped by search before they are removed: the next best wins.
    assert_eq!(
        hit_payload(ix.search(&scope(1), &q, 0.9, t0 + TTL)),
        Some(payload("newer"))
    );
    assert_eq!(ix.len(), 2);
    assert_eq!(ix.purge(t0 + TTL), 1);
    assert_eq!(ix.len(), 1);
    assert!(ix.search(&scope(1), &q, 0.9, t1 + TTL).is_none());
    // An insert removes what expired.
    ix.insert(scope(2), unit(4, 2), payload("x"), t1 + TTL)
        .unwrap();
    assert_eq!((ix.len(), ix.scopes()), (1, 1));
}

#[test]
fn bad_vectors_are_rejected() {
    let mut ix = VectorIndex::new(10, TTL);
    let now = Instant::now();
    assert_eq!(
        ix.insert(scope(1), vec![], payload("a"), now),
        Err(IndexError::Empty)
    );
    assert_eq!(
        ix.insert(scope(1), vec![0.0; 4], payload("a"), now),
        Err(IndexError::NotNormalisable)
    );
    assert_eq!(
        ix.insert(scope(1), vec![1.0, f32::NAN, 0.0, 0.0], payload("a"), now),
        Err(IndexError::NotNormalisable)
    );
    // Rejections set no dimension.
    assert_eq!(ix.dim(), None);
    ix.insert(scope(1), unit(4, 0), payload("a"), now).unwrap();
    assert_eq!(ix.dim(), Some(4));
    assert_eq!(
        ix.insert(scope(2), unit(5, 0), payload("b"), now),
        Err(IndexError::DimensionMismatch {
            expected: 4,
            got: 5
        })
    );
    assert_eq!(ix.len(), 1);
    // Queries of the wrong dimension, zero or NaN find nothing.
    assert!(ix.search(&scope(1), &unit(5, 0), 0.5, now).is_none());
    assert!(ix.search(&scope(1), &[0.0; 4], -1.0, now).is_none());
    assert!(ix
        .search(&scope(1), &[f32::NAN, 0.0, 0.0, 0.0], -1.0, now)
        .is_none());
    // clear forgets the dimension.
    ix.clear();
    assert!(ix.is_empty());
    ix.insert(scope(1), unit(5, 0), payload("b"), now).unwrap();
    assert_eq!(ix.dim(), Some(5));
}

/// The ring of rows (and of codes) against a plain list: many inserts, evictions, expiries
/// and scopes, and every live entry is found as itself, every removed one is not. Exactly,
/// then in two stages with scopes of more than `RERANK` entries.
#[test]
fn ring_storage_matches_a_plain_model() {
    ring_storage_matches_a_plain_model_with(37, usize::MAX);
    ring_storage_matches_a_plain_model_with(300, 0);
}

fn ring_storage_matches_a_plain_model_with(max: usize, exact_up_to: usize) {
    let dim = 24;
    let mut ix = VectorIndex::with_exact_limit(max, TTL, exact_up_to);
    let mut rng = Rng(42);
    let mut largest = 0;
    let t0 = Instant::now();
    // (scope, vector, payload, inserted at)
    let mut model: VecDeque<(Scope, Vec<f32>, Bytes, Instant)> = VecDeque::new();
    for i in 0..2000u32 {
        let s = scope((rng.next() % 3) as u8);
        let now = t0 + Duration::from_millis(u64::from(i) * 100);
        let mut v = rng.vector(dim);
        let p = Bytes::from(i.to_string());
        ix.insert(s, v.clone(), p.clone(), now).unwrap();
        assert!(normalise(&mut v));
        model.push_back((s, v, p, now));
        while model.front().is_some_and(|(_, _, _, at)| *at + TTL <= now) || model.len() > max {
            model.pop_front();
        }
        assert_eq!(ix.len(), model.len(), "step {i}");
        largest = largest.max(ix.partitions.get(&s).map_or(0, |p| p.entries.len()));
        if i % 97 == 0 {
            for (s, v, p, _) in &model {
                let hit = ix.search(s, v, 0.999, now).unwrap();
                assert_eq!(&hit.payload, p);
            }
        }
        // Now and then, a pause long enough for everything to expire.
        if i % 500 == 499 {
            let later = now + TTL;
            assert_eq!(ix.purge(later), model.len());
            model.clear();
            assert_eq!((ix.len(), ix.scopes()), (0, 0));
        }
    }
    assert!(ix.memory_bytes() < 4 * max * (dim * 4 + 200) + 4096);
    // In the two-stage run, scopes grew past `RERANK` entries: candidates were chosen.
    assert!(exact_up_to > 0 || largest > RERANK, "{largest}");
}

#[test]
fn memory_is_about_the_vectors() {
    let dim = 1536;
    let mut ix = VectorIndex::new(1000, TTL);
    let mut rng = Rng(1);
    let now = Instant::now();
    let empty = ix.memory_bytes();
    for _ in 0..1000 {
        ix.insert(scope(1), rng.vector(dim), Bytes::new(), now)
            .unwrap();
    }
    let per_entry = (ix.memory_bytes() - empty) / 1000;
    // 6 KiB of vector and 192 bytes of sign code, with growth slack of at most a doubling.
    assert!(per_entry >= dim * 4 + dim / 8, "{per_entry}");
    assert!(per_entry < 2 * (dim * 4 + dim / 8) + 200, "{per_entry}");
    // The storage shrinks when entries go.
    let full = ix.memory_bytes();
    ix.purge(now + TTL);
    assert!(ix.memory_bytes() < full / 8);
}

#[test]
fn shared_index_serves_threads() {
    let ix = std::sync::Arc::new(SharedIndex::new(1000, TTL));
    let now = Instant::now();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let ix = ix.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    ix.insert(scope(t), unit(64, i), Bytes::from(format!("{t}:{i}")), now)
                        .unwrap();
                    let hit = ix.search(&scope(t), &unit(64, i), 0.99, now).unwrap();
                    assert_eq!(hit.payload, Bytes::from(format!("{t}:{i}")));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ix.len(), 200);
    assert!(!ix.is_empty());
    assert!(ix.memory_bytes() > 200 * 64 * 4);
    assert_eq!(
        ix.insert(scope(0), vec![0.0; 64], Bytes::new(), now),
        Err(IndexError::NotNormalisable)
    );
    assert_eq!(
        ix.insert(scope(0), unit(3, 0), Bytes::new(), now),
        Err(IndexError::DimensionMismatch {
            expected: 64,
            got: 3
        })
    );
    assert_eq!(ix.purge(now + TTL), 200);
    ix.clear();
    assert!(ix.is_empty());
}

#[test]
fn a_poisoned_shared_index_misses_then_starts_afresh() {
    let ix = std::sync::Arc::new(SharedIndex::new(10, TTL));
    let now = Instant::now();
    ix.insert(scope(1), unit(4, 0), payload("a"), now).unwrap();
    let poisoner = ix.clone();
    let _ = std::thread::spawn(move || {
        let _guard = poisoner.inner.write();
        panic!("poison the lock");
    })
    .join();
    assert!(ix.search(&scope(1), &unit(4, 0), 0.9, now).is_none());
    ix.insert(scope(1), unit(4, 1), payload("b"), now).unwrap();
    assert_eq!(ix.len(), 1);
    assert_eq!(
        hit_payload(ix.search(&scope(1), &unit(4, 1), 0.9, now)),
        Some(payload("b"))
    );
}

/// `v + scale × noise` for a random `noise`, normalised.
fn perturbed(rng: &mut Rng, v: &[f32], scale: f32) -> Vec<f32> {
    let mut noise = rng.vector(v.len());
    assert!(normalise(&mut noise));
    let mut q: Vec<f32> = v.iter().zip(&noise).map(|(x, n)| x + scale * n).collect();
    assert!(normalise(&mut q));
    q
}

#[test]
fn sign_codes() {
    let mut code = [0u64; 2];
    let mut v = vec![-1.0; 70];
    v[0] = 1.0;
    v[63] = 0.5;
    v[64] = 2.0;
    v[69] = f32::MIN_POSITIVE;
    encode(&v, &mut code);
    assert_eq!(code, [1 | 1 << 63, 1 | 1 << 5]);
    assert_eq!(code_words(70), 2);
    assert_eq!(code_words(1536), 24);
    // A positive scale changes nothing; zero counts as negative.
    let mut scaled = [0u64; 2];
    let mut v2: Vec<f32> = v.iter().map(|x| x * 1e-3).collect();
    v2[1] = 0.0;
    encode(&v2, &mut scaled);
    assert_eq!(scaled, code);
    assert_eq!(hamming(&code, &scaled), 0);
    assert_eq!(hamming(&code, &[0, 0]), 4);
    assert_eq!(hamming(&[u64::MAX; 3], &[0; 3]), 192);
}

/// Near-duplicates among 10,000 random vectors in one scope, searched in two stages: every
/// query finds its source, with the exact similarity, as the exact search does; a query
/// near nothing misses.
#[test]
fn two_stage_search_finds_what_exact_search_finds() {
    let dim = 256;
    let n = 10_000;
    let mut ix = VectorIndex::new(n, TTL);
    let mut rng = Rng(2024);
    let now = Instant::now();
    let mut sources = Vec::new();
    for i in 0..n {
        let mut v = rng.vector(dim);
        ix.insert(scope(1), v.clone(), Bytes::from(i.to_string()), now)
            .unwrap();
        if i % 50 == 0 {
            assert!(normalise(&mut v));
            sources.push((i, v));
        }
    }
    assert!(ix.len() > ix.exact_limit());
    assert_eq!(sources.len(), 200);
    for (k, (i, v)) in sources.iter().enumerate() {
        // Similarities from 0.995 down to 0.91.
        let q = perturbed(&mut rng, v, 0.1 + 0.35 * k as f32 / 200.0);
        let similarity = cosine(&q, v);
        assert!(similarity > 0.9, "{similarity}");
        let hit = ix.search(&scope(1), &q, 0.9, now).unwrap();
        assert_eq!(hit.payload, Bytes::from(i.to_string()));
        assert!((hit.similarity - similarity).abs() < 1e-5);
        if k % 10 == 0 {
            assert_eq!(Some(hit), ix.search_exact(&scope(1), &q, 0.9, now));
        }
    }
    for _ in 0..10 {
        let q = rng.vector(dim);
        assert!(ix.search(&scope(1), &q, 0.9, now).is_none());
        assert!(ix.search_exact(&scope(1), &q, 0.9, now).is_none());
    }
}

/// Expired entries never fill the candidates, evicted ones are never found, and ties go to
/// the newest, in two stages as exactly. (384 dimensions: a code width with its own loop;
/// the other tests' widths take the loop over any number of words.)
#[test]
fn two_stage_search_respects_ttl_eviction_and_ties() {
    let dim = 384;
    let mut ix = VectorIndex::with_exact_limit(1000, TTL, 0);
    let mut rng = Rng(5);
    let t0 = Instant::now();
    let x = rng.vector(dim);
    // Twice `RERANK` copies of `x`, all at Hamming distance 0 from it, then others.
    for k in 0..2 * RERANK {
        ix.insert(scope(1), x.clone(), Bytes::from(format!("stale {k}")), t0)
            .unwrap();
    }
    for _ in 0..200 {
        ix.insert(scope(1), rng.vector(dim), Bytes::new(), t0)
            .unwrap();
    }
    let t1 = t0 + Duration::from_secs(30);
    let near = perturbed(&mut rng, &x, 0.2);
    ix.insert(scope(1), near.clone(), payload("fresh"), t1)
        .unwrap();
    for _ in 0..200 {
        ix.insert(scope(1), rng.vector(dim), Bytes::new(), t1)
            .unwrap();
    }
    // The newest of the identical copies, though each ties with the others.
    let hit = ix.search(&scope(1), &x, 0.9, t1).unwrap();
    assert_eq!(
        hit.payload,
        Bytes::from(format!("stale {}", 2 * RERANK - 1))
    );
    assert_eq!(Some(hit), ix.search_exact(&scope(1), &x, 0.9, t1));
    // Expired, not yet removed: the copies are skipped, the live near match found.
    let later = t0 + TTL;
    assert_eq!(ix.len(), 2 * RERANK + 401);
    let hit = ix.search(&scope(1), &x, 0.9, later).unwrap();
    assert_eq!(hit.payload, payload("fresh"));
    assert!((hit.similarity - cosine(&near, &ix_unit(&x))).abs() < 1e-5);
    assert_eq!(Some(hit), ix.search_exact(&scope(1), &x, 0.9, later));
    assert!(ix.search(&scope(1), &x, 0.9, t1 + TTL).is_none());

    // Eviction at the bound: the last 300 of 1,000 are found, the others not.
    let mut ix = VectorIndex::with_exact_limit(300, TTL, 0);
    let vectors: Vec<Vec<f32>> = (0..1000).map(|_| rng.vector(dim)).collect();
    for (i, v) in vectors.iter().enumerate() {
        ix.insert(scope(1), v.clone(), Bytes::from(i.to_string()), t0)
            .unwrap();
    }
    assert_eq!(ix.len(), 300);
    for (i, v) in vectors.iter().enumerate() {
        let found = hit_payload(ix.search(&scope(1), v, 0.99, t0));
        assert_eq!(found, (i >= 700).then(|| Bytes::from(i.to_string())), "{i}");
    }
}

fn ix_unit(v: &[f32]) -> Vec<f32> {
    let mut v = v.to_vec();
    assert!(normalise(&mut v));
    v
}
