//! Helpers shared by the redaction tests: policies from YAML and a small deterministic PRNG.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::config::PolicyConfig;
use super::{CompiledPolicy, Counts, Direction, Placeholders};
use std::sync::Arc;

/// A policy compiled from the YAML of one `redaction.policies` entry.
pub fn policy(yaml: &str) -> Arc<CompiledPolicy> {
    let cfg: PolicyConfig = serde_yaml::from_str(yaml).unwrap();
    Arc::new(CompiledPolicy::compile("test", &cfg, 128).unwrap())
}

/// Every built-in entity masked both ways, a custom `employee_id`, deny word `project-zeus`.
pub const MASK_ALL: &str = r"
request: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: mask, secret: mask }
response: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: mask, secret: mask }
custom:
  - { name: employee_id, pattern: 'EMP-\d{6}', action: mask }
deny_words: { words: [project-zeus, top secret], action: mask }
";

pub fn mask_all() -> Arc<CompiledPolicy> {
    policy(MASK_ALL)
}

/// Request-side redaction of `text`, as a string (blocked: `<blocked:entity>`).
pub fn redact(p: &CompiledPolicy, text: &str) -> String {
    let mut ph = Placeholders::default();
    let mut counts = Counts::default();
    match p.redact(Direction::Request, text, &mut ph, &mut counts) {
        Ok(t) => t.into_owned(),
        Err(b) => format!("<blocked:{}>", b.entity),
    }
}

/// xorshift64*: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
