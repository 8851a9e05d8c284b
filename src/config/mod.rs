//! The configuration file: typed, strict serde structs (`deny_unknown_fields` everywhere),
//! `${VAR}` expansion, and validation that names the field path of every problem.
//! Parsing never touches the network; compiling into a runtime snapshot is `snapshot.rs`'s job.

mod env;
mod limits;
mod validate;

use crate::secret::Secret;
use serde::Deserialize;
use std::path::Path;

pub use limits::{
    Backend, BudgetConfig, CacheConfig, LimitsConfig, OnError, Period, StateConfig, TeamConfig,
};
pub use validate::Problem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub teams: Vec<TeamConfig>,
    /// USD per 1M tokens, by model name (the provider's model name, or a gateway model name);
    /// entries override the built-in table.
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, PriceConfig>,
    pub redaction: Option<crate::redact::RedactionConfig>,
    pub guardrails: Option<crate::redact::GuardrailsConfig>,
    pub cache: Option<CacheConfig>,
    pub audit: Option<AuditConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: Listen,
    pub admin_listen: String,
    pub metrics_listen: String,
    pub admin_token: Secret,
    pub threads: usize,
    pub max_body_bytes: usize,
    pub grace_period_s: u64,
    pub watch_config: bool,
    pub pid_file: String,
    pub upgrade_sock: String,
    pub log: LogConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: Listen::One("127.0.0.1:8080".into()),
            admin_listen: "127.0.0.1:8081".into(),
            metrics_listen: "127.0.0.1:9091".into(),
            admin_token: Secret::default(),
            threads: 2,
            max_body_bytes: 16 * 1024 * 1024,
            grace_period_s: 30,
            watch_config: false,
            pid_file: "/tmp/tollgate.pid".into(),
            upgrade_sock: "/tmp/tollgate_upgrade.sock".into(),
            log: LogConfig::default(),
        }
    }
}

/// `server.listen` takes one address or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Listen {
    One(String),
    Many(Vec<String>),
}

impl Listen {
    pub fn addresses(&self) -> Vec<&str> {
        match self {
            Listen::One(a) => vec![a.as_str()],
            Listen::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LogLevel::Info,
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ProviderType {
    Openai,
    Azure,
    Anthropic,
    Gemini,
    OpenaiCompatible,
    Mock,
}

impl ProviderType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderType::Openai => "openai",
            ProviderType::Azure => "azure",
            ProviderType::Anthropic => "anthropic",
            ProviderType::Gemini => "gemini",
            ProviderType::OpenaiCompatible => "openai_compatible",
            ProviderType::Mock => "mock",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ProviderType,
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Secret,
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub timeouts: Timeouts,
    pub health_check: Option<HealthCheckConfig>,
    pub mock: Option<MockConfig>,
}

/// Active health checks of a provider, and the threshold of its passive health.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Path of a GET that answers 2xx while the provider is healthy (e.g. `/v1/models`).
    pub path: String,
    #[serde(default = "default_interval")]
    pub interval_s: u64,
    /// Consecutive failures (of checks, and of live requests) that mark it unhealthy.
    #[serde(default = "default_unhealthy_after")]
    pub unhealthy_after: u32,
    /// Consecutive successful checks that mark it healthy again.
    #[serde(default = "default_healthy_after")]
    pub healthy_after: u32,
}

fn default_interval() -> u64 {
    15
}

fn default_unhealthy_after() -> u32 {
    2
}

fn default_healthy_after() -> u32 {
    1
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub connect_ms: u64,
    pub first_byte_ms: u64,
    pub idle_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: 2000,
            first_byte_ms: 60_000,
            idle_ms: 120_000,
        }
    }
}

/// How the built-in mock provider behaves (see `mock_provider`).
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MockConfig {
    /// Delay before the response header.
    pub latency_ms: u64,
    /// Number of content events a streamed answer is split into.
    pub chunks: usize,
    /// Delay between streamed events.
    pub chunk_delay_ms: u64,
    /// Share of requests, 0.0 to 1.0, answered with a 500 error.
    pub failure_rate: f64,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            latency_ms: 0,
            chunks: 20,
            chunk_delay_ms: 0,
            failure_rate: 0.0,
        }
    }
}

/// One `prices:` entry, USD per 1M tokens. `cached_input` defaults to `input`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Priority,
    Weighted,
    Latency,
    Cost,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    #[serde(default = "default_strategy")]
    pub strategy: Strategy,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: usize,
    pub targets: Vec<TargetConfig>,
    /// Output tokens a request that sets no `max_tokens` is assumed to use at worst, when a
    /// budget reserves its cost before forwarding (extension; default 4096).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u64,
}

fn default_max_tokens() -> u64 {
    4096
}

fn default_strategy() -> Strategy {
    Strategy::Priority
}

fn default_max_attempts() -> usize {
    3
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub provider: String,
    pub model: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub name: String,
    pub team: Option<String>,
    pub key_sha256: Option<String>,
    /// Plaintext key, accepted for development with a warning.
    pub key: Option<Secret>,
    pub models: Option<Vec<String>>,
    pub limits: Option<LimitsConfig>,
    pub budget: Option<BudgetConfig>,
    /// The redaction policy of this key (`off`: none); absent: `redaction.default_policy`.
    pub redaction: Option<String>,
}

/// `audit:` the audit log.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A file (appended to; its directory is created), or `-` for standard output.
    pub path: String,
    /// Request and whole-answer bodies in the records, after redaction.
    pub include_bodies: bool,
    /// Records waiting for the writer before new ones are dropped (extension).
    pub buffer: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            path: "logs/audit.jsonl".into(),
            include_bodies: false,
            buffer: 65_536,
        }
    }
}

/// A parsed and validated configuration, with the warnings validation produced.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

/// Read, expand, parse and validate a configuration file. Every problem found is returned,
/// each naming its field path, so `tollgate check` can print them all at once.
pub fn load_file(path: &Path) -> Result<Loaded, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Problem::new(
            "",
            format!("cannot read {}: {e}", path.display()),
        )]
    })?;
    load_str(&text, &|name| std::env::var(name).ok())
}

/// As `load_file`, from text, with the environment given as a lookup (tests pass their own).
pub fn load_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Vec<Problem>> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|e| vec![Problem::new("", format!("invalid YAML: {e}"))])?;
    if value.is_null() {
        value = serde_yaml::Value::Mapping(Default::default());
    }
    env::expand(&mut value, lookup)?;
    let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![Problem::new(path, e.into_inner().to_string())]
    })?;
    let report = validate::validate(&config);
    if report.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: report.warnings,
        })
    } else {
        Err(report.errors)
    }
}

#[cfg(test)]
mod tests;
