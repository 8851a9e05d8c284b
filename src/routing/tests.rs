use super::*;
use crate::config::{ProviderType, Timeouts};
use crate::providers::{Endpoint, Provider};
use crate::routing::strategy::Selection;
use std::sync::Arc;
use std::time::Duration;

fn model(strategy: Strategy, weights: &[u32], costs: &[Option<f64>]) -> Model {
    let targets = weights
        .iter()
        .enumerate()
        .map(|(i, w)| Target {
            provider: Arc::new(Provider {
                name: format!("p{i}"),
                kind: ProviderType::OpenaiCompatible,
                endpoint: Endpoint {
                    tls: false,
                    host: "127.0.0.1".into(),
                    port: 9000 + i as u16,
                    base_path: "/v1".into(),
                },
                api_key: crate::secret::Secret::new("k"),
                api_version: String::new(),
                timeouts: Timeouts::default(),
                enabled: true,
                health_policy: Default::default(),
                health_id: format!("p{i}"),
            }),
            model: format!("m{i}"),
            weight: *w,
        })
        .collect();
    Model {
        name: "m".into(),
        strategy,
        max_attempts: 3,
        targets,
        selection: Selection::new(strategy, weights, costs),
        worst_price: None,
        default_max_tokens: 4096,
    }
}

fn picks(m: &Model, health: &Health, n: usize) -> Vec<usize> {
    let mut counts = vec![0; m.targets.len()];
    for _ in 0..n {
        let (i, _) = next_target(m, &[], health, Instant::now()).unwrap();
        counts[i] += 1;
    }
    counts
}

#[test]
fn priority_takes_the_first_usable_target() {
    let m = model(Strategy::Priority, &[1, 1, 1], &[None, None, None]);
    let h = Health::default();
    assert_eq!(
        next_target(&m, &[], &h, Instant::now()).map(|(i, _)| i),
        Some(0)
    );
    assert_eq!(
        next_target(&m, &[0], &h, Instant::now()).map(|(i, _)| i),
        Some(1)
    );
    assert!(next_target(&m, &[0, 1, 2], &h, Instant::now()).is_none());
}

#[test]
fn weighted_splits_ten_thousand_requests_by_weight() {
    let m = model(Strategy::Weighted, &[3, 1], &[None, None]);
    let counts = picks(&m, &Health::default(), 10_000);
    let share = counts[0] as f64 / 10_000.0;
    assert!((share - 0.75).abs() <= 0.05, "{counts:?}");
    // A cooling target's share goes to the others; tried targets are skipped.
    let h = Health::default();
    let policy = health::Policy::default();
    h.failure(
        m.targets[0].provider.health_id(),
        Instant::now(),
        Some(Duration::from_secs(60)),
        "x",
        &policy,
    );
    assert_eq!(picks(&m, &h, 100), vec![0, 100]);
    assert_eq!(
        next_target(&m, &[1], &h, Instant::now()).map(|(i, _)| i),
        None
    );
}

#[test]
fn cost_takes_the_cheapest_priced_target_first() {
    let m = model(Strategy::Cost, &[1, 1, 1], &[Some(10.0), None, Some(2.0)]);
    let h = Health::default();
    assert_eq!(
        next_target(&m, &[], &h, Instant::now()).map(|(i, _)| i),
        Some(2)
    );
    assert_eq!(
        next_target(&m, &[2], &h, Instant::now()).map(|(i, _)| i),
        Some(0)
    );
    assert_eq!(
        next_target(&m, &[2, 0], &h, Instant::now()).map(|(i, _)| i),
        Some(1),
        "unpriced last"
    );
}

#[test]
fn latency_measures_everyone_then_prefers_the_fastest_and_explores() {
    let m = model(Strategy::Latency, &[1, 1], &[None, None]);
    let h = Health::default();
    // Unmeasured targets first.
    assert_eq!(
        next_target(&m, &[], &h, Instant::now()).map(|(i, _)| i),
        Some(0)
    );
    h.success(
        m.targets[0].provider.health_id(),
        Duration::from_millis(300),
    );
    assert_eq!(
        next_target(&m, &[], &h, Instant::now()).map(|(i, _)| i),
        Some(1)
    );
    h.success(m.targets[1].provider.health_id(), Duration::from_millis(20));
    let counts = picks(&m, &h, 1000);
    assert!(
        counts[1] >= 900 && counts[0] >= 30,
        "mostly the fast one, some exploration: {counts:?}"
    );
}
