//! The state backends against one contract (src/state/mod.rs): the same checks run on the
#![allow(clippy::unwrap_used, clippy::panic)]
//! memory backend and on a real redis-server started on a free port.

mod common;

use common::RedisServer;
use std::sync::Arc;
use std::time::Duration;
use tollgate::state::memory::Memory;
use tollgate::state::redis::Redis;
use tollgate::state::{Ask, Backend, Limit, Outcome, ScopeAsk, Verdict};

fn scope(id: &str) -> ScopeAsk {
    ScopeAsk {
        id: id.into(),
        requests: None,
        tokens: None,
        window_ms: 60_000,
        max_concurrent: None,
        budget_nanos: None,
        period: "total".into(),
        keep_s: None,
    }
}

fn ask(id: &str, tokens: u64, cost: i64, scopes: Vec<ScopeAsk>) -> Ask {
    Ask {
        request_id: id.into(),
        tokens,
        cost_nanos: cost,
        scopes,
    }
}

fn used(tokens: u64, cost: i64) -> Outcome {
    Outcome {
        tokens,
        cost_nanos: cost,
        input_tokens: tokens,
        cached_input_tokens: 0,
        output_tokens: 0,
        counted: true,
    }
}

fn admitted(v: &Verdict) -> bool {
    matches!(v, Verdict::Admitted(_))
}

fn refused_by(v: &Verdict) -> Option<Limit> {
    match v {
        Verdict::Refused { limit, .. } => Some(*limit),
        Verdict::Admitted(_) => None,
    }
}

/// The whole contract, on one backend. Scope ids carry `tag` so runs never share state.
async fn contract(b: &dyn Backend, tag: &str) {
    // Requests per window: the third of two is refused, with a wait under the window.
    let mut s = scope(&format!("key:{tag}-rpm"));
    s.requests = Some(2);
    s.window_ms = 400;
    for i in 0..2 {
        let v = b
            .admit(&ask(&format!("r{i}"), 0, 0, vec![s.clone()]))
            .await
            .unwrap();
        assert!(admitted(&v), "{v:?}");
    }
    let v = b.admit(&ask("r2", 0, 0, vec![s.clone()])).await.unwrap();
    match v {
        Verdict::Refused {
            limit: Limit::Rpm,
            retry_after_ms: Some(ms),
            scope: 0,
        } => assert!(ms <= 400, "{ms}"),
        other => panic!("expected an rpm refusal, got {other:?}"),
    }
    // The window slides: once the first entries are older than it, room comes back.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let v = b.admit(&ask("r3", 0, 0, vec![s.clone()])).await.unwrap();
    assert_eq!(
        v,
        Verdict::Admitted(vec![tollgate::state::Remaining {
            requests: Some(1),
            tokens: None,
            budget_nanos: None
        }])
    );

    // Tokens: the reservation counts, and settling corrects it to what was used.
    let mut t = scope(&format!("key:{tag}-tpm"));
    t.tokens = Some(100);
    let a = ask("t1", 80, 0, vec![t.clone()]);
    assert!(admitted(&b.admit(&a).await.unwrap()));
    assert_eq!(
        refused_by(&b.admit(&ask("t2", 30, 0, vec![t.clone()])).await.unwrap()),
        Some(Limit::Tpm)
    );
    b.settle(&a, &used(50, 0)).await.unwrap();
    let v = b.admit(&ask("t3", 30, 0, vec![t.clone()])).await.unwrap();
    assert!(
        admitted(&v),
        "the correction to 50 tokens makes room: {v:?}"
    );
    // A correction finds its own entry among others admitted before and after it.
    let mut t = scope(&format!("key:{tag}-tpm-many"));
    t.tokens = Some(100);
    let middle = ask("m2", 30, 0, vec![t.clone()]);
    for a in [
        &ask("m1", 30, 0, vec![t.clone()]),
        &middle,
        &ask("m3", 30, 0, vec![t.clone()]),
    ] {
        assert!(admitted(&b.admit(a).await.unwrap()));
    }
    b.settle(&middle, &used(0, 0)).await.unwrap();
    assert!(admitted(
        &b.admit(&ask("m4", 40, 0, vec![t.clone()])).await.unwrap()
    ));
    assert_eq!(
        refused_by(&b.admit(&ask("m5", 1, 0, vec![t.clone()])).await.unwrap()),
        Some(Limit::Tpm),
        "m1, m3 and m4 hold the whole 100"
    );

    // Concurrency: a lease per request in flight, released by settling.
    let mut c = scope(&format!("key:{tag}-cc"));
    c.max_concurrent = Some(1);
    let first = ask("c1", 0, 0, vec![c.clone()]);
    assert!(admitted(&b.admit(&first).await.unwrap()));
    assert_eq!(
        refused_by(&b.admit(&ask("c2", 0, 0, vec![c.clone()])).await.unwrap()),
        Some(Limit::Concurrent)
    );
    b.settle(&first, &Outcome::default()).await.unwrap();
    assert!(admitted(
        &b.admit(&ask("c3", 0, 0, vec![c.clone()])).await.unwrap()
    ));
    // Settling the same request again releases nothing: c3 still holds the only lease.
    b.settle(&first, &Outcome::default()).await.unwrap();
    assert_eq!(
        refused_by(&b.admit(&ask("c4", 0, 0, vec![c.clone()])).await.unwrap()),
        Some(Limit::Concurrent)
    );

    // Budgets: reservations count against what is left; settling turns them into spend.
    let mut m = scope(&format!("key:{tag}-bud"));
    m.budget_nanos = Some(1000);
    m.period = "2026-11".into();
    m.keep_s = Some(3600);
    let r1 = ask("b1", 0, 600, vec![m.clone()]);
    match b.admit(&r1).await.unwrap() {
        Verdict::Admitted(left) => assert_eq!(left[0].budget_nanos, Some(400)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        refused_by(&b.admit(&ask("b2", 0, 600, vec![m.clone()])).await.unwrap()),
        Some(Limit::Budget)
    );
    let left = b.settle(&r1, &used(10, 250)).await.unwrap();
    assert_eq!(left, vec![Some(750)]);
    let f = b.figures(&m.id, &m.period).await.unwrap();
    assert_eq!(
        (f.requests, f.input_tokens, f.spent_nanos, f.reserved_nanos),
        (1, 10, 250, 0)
    );
    assert!(admitted(
        &b.admit(&ask("b3", 0, 600, vec![m.clone()])).await.unwrap()
    ));

    // All or nothing across scopes: a team that refuses leaves the key's counters untouched.
    let mut key = scope(&format!("key:{tag}-k"));
    key.requests = Some(10);
    let mut team = scope(&format!("team:{tag}-t"));
    team.max_concurrent = Some(0);
    let v = b
        .admit(&ask("x1", 0, 0, vec![key.clone(), team]))
        .await
        .unwrap();
    assert!(
        matches!(
            v,
            Verdict::Refused {
                scope: 1,
                limit: Limit::Concurrent,
                ..
            }
        ),
        "{v:?}"
    );
    match b.admit(&ask("x2", 0, 0, vec![key.clone()])).await.unwrap() {
        Verdict::Admitted(left) => assert_eq!(left[0].requests, Some(9)),
        other => panic!("{other:?}"),
    }

    // Usage of a scope without limits: settled without being admitted.
    let plain = scope(&format!("team:{tag}-plain"));
    let a = ask("u1", 0, 0, vec![plain.clone()]);
    b.settle(&a, &used(7, 3)).await.unwrap();
    b.settle(&ask("u2", 0, 0, vec![plain.clone()]), &used(5, 2))
        .await
        .unwrap();
    let f = b.figures(&plain.id, "total").await.unwrap();
    assert_eq!((f.requests, f.input_tokens, f.spent_nanos), (2, 12, 5));

    // The cache: what was put comes back until its TTL, keyed by the whole digest.
    let k1 = [tag.len() as u8; 32];
    let mut k2 = k1;
    k2[31] ^= 1;
    b.cache_put(&k1, bytes::Bytes::from_static(b"answer"), 1)
        .await
        .unwrap();
    assert_eq!(
        b.cache_get(&k1).await.unwrap().as_deref(),
        Some(&b"answer"[..])
    );
    assert_eq!(b.cache_get(&k2).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(b.cache_get(&k1).await.unwrap(), None, "expired");
}

#[tokio::test]
async fn the_memory_backend_keeps_the_contract() {
    contract(&Memory::new(100), "mem").await;
}

#[tokio::test]
async fn the_redis_backend_keeps_the_contract() {
    let redis = RedisServer::start();
    let backend = Redis::new(&redis.url(), Duration::from_millis(500)).unwrap();
    contract(&backend, "redis").await;
}

/// Many concurrent admissions against one budget: never more reserved than it holds.
async fn no_overspend(b: Arc<dyn Backend>, tag: &str) {
    let mut s = scope(&format!("key:{tag}-race"));
    s.budget_nanos = Some(50 * 1000);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (b, s) = (b.clone(), s.clone());
            tokio::spawn(async move {
                let a = ask(&format!("race-{i}"), 0, 1000, vec![s]);
                let v = b.admit(&a).await.unwrap();
                if admitted(&v) {
                    b.settle(&a, &used(1, 1000)).await.unwrap();
                    1
                } else {
                    0
                }
            })
        })
        .collect();
    let mut served = 0;
    for t in tasks {
        served += t.await.unwrap();
    }
    assert_eq!(served, 50);
    let f = b.figures(&s.id, "total").await.unwrap();
    assert_eq!(f.spent_nanos, 50 * 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_overspend_in_memory() {
    no_overspend(Arc::new(Memory::new(10)), "mem").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_overspend_in_redis() {
    let redis = RedisServer::start();
    let backend = Redis::new(&redis.url(), Duration::from_millis(1000)).unwrap();
    no_overspend(Arc::new(backend), "redis").await;
}

#[tokio::test]
async fn a_redis_outage_is_an_error_quickly_and_heals_on_its_own() {
    let mut redis = RedisServer::start();
    let backend = Redis::new(&redis.url(), Duration::from_millis(200)).unwrap();
    let s = scope("key:outage");
    assert!(backend.figures(&s.id, "total").await.is_ok());
    redis.stop();
    let started = std::time::Instant::now();
    assert!(backend.figures(&s.id, "total").await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    redis.restart();
    // The connection comes back by itself: a few calls at most fail while it reconnects.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if backend.figures(&s.id, "total").await.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
