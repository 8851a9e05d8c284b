//! Semantic checks that serde cannot express: references between sections, unique names,
//! addresses that parse, and the settings whose capability has not landed yet.

use super::{Config, KeyConfig, ProviderConfig, ProviderType, Strategy};
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

/// One problem in a configuration file, named by its field path (`models[1].targets[0].provider`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Default)]
pub struct Report {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Report {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem::new(path, message));
    }
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(path, message));
    }
}

pub fn validate(config: &Config) -> Report {
    let mut r = Report::default();
    server(config, &mut r);
    audit_and_health_checks(config, &mut r);
    let providers = providers(&config.providers, &mut r);
    let models = models(config, &providers, &mut r);
    keys(&config.keys, &models, &mut r);
    prices(config, &mut r);
    super::limits::check(config, &mut r.errors);
    redaction(config, &mut r);
    r
}

/// The `redaction` and `guardrails` sections (their own checks), and the policy each key names.
fn redaction(config: &Config, r: &mut Report) {
    if let Some(red) = &config.redaction {
        for (path, message) in crate::redact::problems(red) {
            r.error(path, message);
        }
    }
    if let Some(g) = &config.guardrails {
        for (path, message) in crate::redact::guardrail_problems(g) {
            r.error(path, message);
        }
    }
    for (i, k) in config.keys.iter().enumerate() {
        let Some(name) = k.redaction.as_deref() else {
            continue;
        };
        let known = name == "off"
            || config
                .redaction
                .as_ref()
                .is_some_and(|red| red.policies.contains_key(name));
        if !known {
            r.error(
                format!("keys[{i}].redaction"),
                format!("no redaction policy named {name:?} (redaction.policies)"),
            );
        }
    }
}

fn prices(config: &Config, r: &mut Report) {
    for (model, p) in &config.prices {
        let fields = [
            ("input", Some(p.input)),
            ("output", Some(p.output)),
            ("cached_input", p.cached_input),
        ];
        for (field, value) in fields {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    r.error(
                        format!("prices.{model}.{field}"),
                        "must be a number of USD per 1M tokens, 0 or more",
                    );
                }
            }
        }
    }
}

fn server(config: &Config, r: &mut Report) {
    let s = &config.server;
    let listen = s.listen.addresses();
    if listen.is_empty() {
        r.error("server.listen", "at least one address is required");
    }
    for (i, addr) in listen.iter().enumerate() {
        let path = match &s.listen {
            super::Listen::One(_) => "server.listen".to_string(),
            super::Listen::Many(_) => format!("server.listen[{i}]"),
        };
        check_addr(&path, addr, r);
    }
    check_addr("server.admin_listen", &s.admin_listen, r);
    check_addr("server.metrics_listen", &s.metrics_listen, r);
    if s.threads == 0 {
        r.error("server.threads", "must be at least 1");
    }
    if s.max_body_bytes == 0 {
        r.error("server.max_body_bytes", "must be at least 1");
    }
}

fn check_addr(path: &str, addr: &str, r: &mut Report) {
    if addr.parse::<SocketAddr>().is_err() {
        r.error(
            path,
            format!("{addr:?} is not an address of the form IP:PORT"),
        );
    }
}

/// The audit log's and the providers' health checks' values.
fn audit_and_health_checks(config: &Config, r: &mut Report) {
    if let Some(a) = &config.audit {
        if a.path.is_empty() {
            r.error("audit.path", "must name a file, or - for standard output");
        }
        if a.buffer == 0 {
            r.error("audit.buffer", "must be at least 1");
        }
    }
    for (i, p) in config.providers.iter().enumerate() {
        if let Some(hc) = &p.health_check {
            let path = format!("providers[{i}].health_check");
            if !hc.path.starts_with('/') {
                r.error(format!("{path}.path"), "must start with /");
            }
            for (field, v) in [
                ("interval_s", hc.interval_s),
                ("unhealthy_after", u64::from(hc.unhealthy_after)),
                ("healthy_after", u64::from(hc.healthy_after)),
            ] {
                if v == 0 {
                    r.error(format!("{path}.{field}"), "must be at least 1");
                }
            }
        }
    }
}

fn providers<'a>(providers: &'a [ProviderConfig], r: &mut Report) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    for (i, p) in providers.iter().enumerate() {
        let path = format!("providers[{i}]");
        if p.name.is_empty() {
            r.error(format!("{path}.name"), "must not be empty");
        } else if !names.insert(p.name.as_str()) {
            r.error(
                format!("{path}.name"),
                format!("duplicate provider name {:?}", p.name),
            );
        }
        if p.kind == ProviderType::Mock {
            if p.base_url.is_some() {
                r.error(
                    format!("{path}.base_url"),
                    "a mock provider is served by the gateway itself and takes no base_url",
                );
            }
        } else {
            if p.mock.is_some() {
                r.error(
                    format!("{path}.mock"),
                    "only a provider of type mock takes mock settings",
                );
            }
            match (&p.base_url, crate::providers::default_base_url(p.kind)) {
                (None, None) => r.error(
                    format!("{path}.base_url"),
                    format!("required for provider type {}", p.kind.as_str()),
                ),
                (Some(url), _) => {
                    if let Err(e) = crate::providers::Endpoint::parse(url) {
                        r.error(format!("{path}.base_url"), e);
                    }
                }
                (None, Some(_)) => {}
            }
            if p.api_key.is_empty() {
                r.warn(
                    format!("{path}.api_key"),
                    format!("empty: provider {:?} is disabled", p.name),
                );
            }
        }
        match p.kind {
            ProviderType::Azure if p.api_version.is_empty() => r.error(
                format!("{path}.api_version"),
                "required for azure (for example 2024-10-21)",
            ),
            ProviderType::Azure | ProviderType::Anthropic => {}
            _ if !p.api_version.is_empty() => r.error(
                format!("{path}.api_version"),
                "only azure and anthropic providers take an api_version",
            ),
            _ => {}
        }
        if let Some(m) = &p.mock {
            if !(0.0..=1.0).contains(&m.failure_rate) {
                r.error(
                    format!("{path}.mock.failure_rate"),
                    "must be between 0 and 1",
                );
            }
        }
        let t = &p.timeouts;
        for (field, v) in [
            ("connect_ms", t.connect_ms),
            ("first_byte_ms", t.first_byte_ms),
            ("idle_ms", t.idle_ms),
        ] {
            if v == 0 {
                r.error(format!("{path}.timeouts.{field}"), "must be at least 1");
            }
        }
    }
    names
}

fn models<'a>(config: &'a Config, providers: &HashSet<&str>, r: &mut Report) -> HashSet<&'a str> {
    let mut names = HashSet::new();
    for (i, m) in config.models.iter().enumerate() {
        let path = format!("models[{i}]");
        if m.name.is_empty() {
            r.error(format!("{path}.name"), "must not be empty");
        } else if !names.insert(m.name.as_str()) {
            r.error(
                format!("{path}.name"),
                format!("duplicate model name {:?}", m.name),
            );
        }
        if m.strategy == Strategy::Weighted {
            for (j, t) in m.targets.iter().enumerate() {
                if t.weight == 0 {
                    r.error(
                        format!("{path}.targets[{j}].weight"),
                        "must be at least 1 for the weighted strategy",
                    );
                }
            }
        }
        if m.max_attempts == 0 {
            r.error(format!("{path}.max_attempts"), "must be at least 1");
        }
        if m.targets.is_empty() {
            r.error(format!("{path}.targets"), "at least one target is required");
        }
        for (j, t) in m.targets.iter().enumerate() {
            if !providers.contains(t.provider.as_str()) {
                r.error(
                    format!("{path}.targets[{j}].provider"),
                    format!("no provider named {:?}", t.provider),
                );
            }
            if t.model.is_empty() {
                r.error(format!("{path}.targets[{j}].model"), "must not be empty");
            }
        }
    }
    names
}

fn keys(keys: &[KeyConfig], models: &HashSet<&str>, r: &mut Report) {
    let mut names = HashSet::new();
    let mut digests = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let path = format!("keys[{i}]");
        if k.name.is_empty() {
            r.error(format!("{path}.name"), "must not be empty");
        } else if !names.insert(k.name.as_str()) {
            r.error(
                format!("{path}.name"),
                format!("duplicate key name {:?}", k.name),
            );
        }
        let digest = match (&k.key_sha256, &k.key) {
            (Some(_), Some(_)) => {
                r.error(path.clone(), "set key_sha256 or key, not both");
                None
            }
            (None, None) => {
                r.error(path.clone(), "one of key_sha256 or key is required");
                None
            }
            (Some(hex), None) => match crate::auth::parse_digest(hex) {
                Some(d) => Some(d),
                None => {
                    r.error(
                        format!("{path}.key_sha256"),
                        "must be 64 hexadecimal characters (tollgate hash-key KEY prints it)",
                    );
                    None
                }
            },
            (None, Some(plain)) => {
                if plain.is_empty() {
                    r.error(format!("{path}.key"), "must not be empty");
                    None
                } else {
                    r.warn(
                        format!("{path}.key"),
                        "plaintext key: fine for development, store key_sha256 in production",
                    );
                    Some(crate::auth::digest(plain.expose()))
                }
            }
        };
        if let Some(d) = digest {
            if !digests.insert(d) {
                r.error(path.clone(), "the same key is configured twice");
            }
        }
        for (j, m) in k.models.iter().flatten().enumerate() {
            if !models.contains(m.as_str()) {
                r.error(
                    format!("{path}.models[{j}]"),
                    format!("no model named {m:?}"),
                );
            }
        }
    }
}
