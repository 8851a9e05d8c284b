//! The configuration of shared state, rate limits, budgets, teams and the response cache.

use crate::secret::Secret;
use serde::Deserialize;

/// `state:` where counters, budgets and the cache live.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub backend: Backend,
    /// A secret: it may carry a password (`redis://:pw@host:6379/0`).
    pub redis_url: Secret,
    pub on_error: OnError,
    /// How long one backend call may take before it counts as failed (extension; default 250).
    pub timeout_ms: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            backend: Backend::Memory,
            redis_url: Secret::new("redis://127.0.0.1:6379/0"),
            on_error: OnError::FailOpen,
            timeout_ms: 250,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One instance: counters in this process.
    Memory,
    /// Many instances share one Redis.
    Redis,
}

/// What a request gets when the state backend cannot be reached.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Serve without limits, counting and warning.
    FailOpen,
    /// Answer 503 at once.
    FailClosed,
}

/// `limits:` of a key or a team.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens (input and output) per minute.
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrent: Option<u64>,
    /// The sliding window over which `rpm` and `tpm` are enforced, pro rata (extension;
    /// default 60: `rpm: 600, window_s: 10` admits 100 requests in any 10 seconds).
    pub window_s: Option<u64>,
}

/// `budget:` of a key or a team, in USD per period (UTC).
#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub usd: f64,
    #[serde(default = "default_period")]
    pub period: Period,
}

fn default_period() -> Period {
    Period::Monthly
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Total,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    pub limits: Option<LimitsConfig>,
    pub budget: Option<BudgetConfig>,
}

/// `cache:` the exact-match response cache.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub enabled: bool,
    pub ttl_s: u64,
    /// Bound of the memory backend's entries (Redis bounds itself with its own `maxmemory`).
    pub max_entries: usize,
    /// A cached answer is replayed as SSE to a streaming request.
    pub streaming: bool,
    /// The semantic cache (see `cache::semantic`).
    pub semantic: Option<crate::cache::semantic::SemanticConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            ttl_s: 600,
            max_entries: 10_000,
            streaming: true,
            semantic: None,
        }
    }
}

/// Problems in these sections, by field path.
pub(super) fn check(config: &super::Config, errors: &mut Vec<super::Problem>) {
    use super::Problem;
    let mut err = |path: String, msg: &str| errors.push(Problem::new(path, msg));
    if config.state.backend == Backend::Redis {
        // The URL may carry a password: the message never repeats it.
        if redis::Client::open(config.state.redis_url.expose()).is_err() {
            err(
                "state.redis_url".into(),
                "not a Redis URL (redis://[:password@]host[:port][/db])",
            );
        }
    }
    if config.state.timeout_ms == 0 {
        err("state.timeout_ms".into(), "must be at least 1");
    }
    let mut teams = std::collections::HashSet::new();
    for (i, t) in config.teams.iter().enumerate() {
        if t.name.is_empty() {
            err(format!("teams[{i}].name"), "must not be empty");
        } else if !teams.insert(t.name.as_str()) {
            err(format!("teams[{i}].name"), "duplicate team name");
        }
        check_scope(&format!("teams[{i}]"), t.limits, t.budget, &mut err);
    }
    for (i, k) in config.keys.iter().enumerate() {
        check_scope(&format!("keys[{i}]"), k.limits, k.budget, &mut err);
    }
    for (i, m) in config.models.iter().enumerate() {
        if m.default_max_tokens == 0 {
            err(
                format!("models[{i}].default_max_tokens"),
                "must be at least 1",
            );
        }
    }
    if let Some(c) = &config.cache {
        if c.ttl_s == 0 {
            err("cache.ttl_s".into(), "must be at least 1");
        }
        if c.max_entries == 0 {
            err("cache.max_entries".into(), "must be at least 1");
        }
        if let Some(s) = &c.semantic {
            for (path, message) in crate::cache::semantic::problems(s) {
                errors.push(Problem::new(path, message));
            }
            if !s.embedding_model.trim().is_empty()
                && !config.models.iter().any(|m| m.name == s.embedding_model)
            {
                errors.push(Problem::new(
                    "cache.semantic.embedding_model",
                    format!("no model named {:?}", s.embedding_model),
                ));
            }
        }
    }
}

fn check_scope(
    path: &str,
    limits: Option<LimitsConfig>,
    budget: Option<BudgetConfig>,
    err: &mut impl FnMut(String, &str),
) {
    if let Some(l) = limits {
        for (field, v) in [
            ("rpm", l.rpm),
            ("tpm", l.tpm),
            ("max_concurrent", l.max_concurrent),
            ("window_s", l.window_s),
        ] {
            if v == Some(0) {
                err(format!("{path}.limits.{field}"), "must be at least 1");
            }
        }
        if l.window_s.is_some_and(|w| w > 3600) {
            err(format!("{path}.limits.window_s"), "must be at most 3600");
        }
    }
    if let Some(b) = budget {
        if !(b.usd.is_finite() && b.usd >= 0.0) {
            err(
                format!("{path}.budget.usd"),
                "must be a number of USD, 0 or more",
            );
        }
    }
}
