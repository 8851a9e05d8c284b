//! The `redaction:` and `guardrails:` sections of the configuration file, as serde types, and
//! the checks serde cannot express (`problems`). Strict like the rest of the file: every
//! struct denies unknown fields, so a typo is an error naming its path.

use super::policy::Action;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// The largest `max_span_chars` accepted: the streaming redactor holds back up to twice this
/// many characters per text channel, so it bounds memory and latency.
pub const MAX_SPAN_LIMIT: usize = 4096;

fn default_max_span() -> usize {
    128
}

/// `redaction:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// The policy for keys that name none. Absent: such keys get no redaction.
    #[serde(default)]
    pub default_policy: Option<String>,
    /// The longest match the streaming redactor is guaranteed to catch whole (see `stream`).
    #[serde(default = "default_max_span")]
    pub max_span_chars: usize,
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyConfig>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            default_policy: None,
            max_span_chars: default_max_span(),
            policies: BTreeMap::new(),
        }
    }
}

/// One named policy: an action per built-in entity and direction, custom patterns, deny words.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Applied to the client's request before a provider sees it.
    #[serde(default)]
    pub request: EntityActions,
    /// Applied to the provider's answer before the client sees it.
    #[serde(default)]
    pub response: EntityActions,
    #[serde(default)]
    pub custom: Vec<CustomPattern>,
    #[serde(default)]
    pub deny_words: Option<DenyWordsConfig>,
}

/// The action per built-in entity for one direction; an entity left out is `off`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntityActions {
    pub email: Action,
    pub phone: Action,
    pub credit_card: Action,
    pub ssn: Action,
    pub iban: Action,
    pub ip: Action,
    pub secret: Action,
}

impl EntityActions {
    /// (field name, action), in the order the entities are scanned.
    pub fn fields(&self) -> [(&'static str, Action); 7] {
        [
            ("email", self.email),
            ("phone", self.phone),
            ("credit_card", self.credit_card),
            ("ssn", self.ssn),
            ("iban", self.iban),
            ("ip", self.ip),
            ("secret", self.secret),
        ]
    }
}

/// Which side of the exchange a custom pattern or the deny words apply to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Applies {
    Request,
    Response,
    #[default]
    Both,
}

fn default_mask() -> Action {
    Action::Mask
}

fn default_block() -> Action {
    Action::Block
}

/// A pattern of the operator's own (`EMP-\d{6}`), with the entity name it is reported under.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Label in metrics and audit; upper-cased it names the mask (`[EMPLOYEE_ID]`).
    pub name: String,
    /// Rust `regex` syntax.
    pub pattern: String,
    #[serde(default = "default_mask")]
    pub action: Action,
    /// With `both` and `placeholder`, the request side gets placeholders and the answer side
    /// only has them restored (placeholder is not an answer-side action).
    #[serde(default)]
    pub direction: Applies,
}

/// Words refused (or masked) wherever they appear as whole words, ASCII case-insensitively.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyWordsConfig {
    pub words: Vec<String>,
    #[serde(default = "default_block")]
    pub action: Action,
    #[serde(default)]
    pub direction: Applies,
}

/// Names a custom pattern may not take: they would be confused with a built-in entity.
const RESERVED: &[&str] = &[
    "email",
    "phone",
    "credit_card",
    "ssn",
    "iban",
    "ip",
    "secret",
    "deny_word",
    "denied",
];

/// Every problem in `cfg` as (field path, message), paths starting at `redaction`.
pub fn problems(cfg: &RedactionConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut err = |path: String, msg: String| out.push((path, msg));
    if cfg.max_span_chars == 0 || cfg.max_span_chars > MAX_SPAN_LIMIT {
        err(
            "redaction.max_span_chars".into(),
            format!("must be between 1 and {MAX_SPAN_LIMIT}"),
        );
    }
    if let Some(name) = &cfg.default_policy {
        if !cfg.policies.contains_key(name) {
            err(
                "redaction.default_policy".into(),
                format!("no policy named {name:?} in redaction.policies"),
            );
        }
    }
    for (name, policy) in &cfg.policies {
        let base = format!("redaction.policies.{name}");
        for (field, action) in policy.response.fields() {
            if action == Action::Placeholder {
                err(
                    format!("{base}.response.{field}"),
                    "placeholder is a request-side action only".into(),
                );
            }
        }
        let mut names = HashSet::new();
        for (i, c) in policy.custom.iter().enumerate() {
            let path = format!("{base}.custom[{i}]");
            if !valid_name(&c.name) {
                err(
                    format!("{path}.name"),
                    "must be letters, digits and _, starting with a letter".into(),
                );
            } else if RESERVED.contains(&c.name.to_ascii_lowercase().as_str()) {
                err(
                    format!("{path}.name"),
                    format!("{:?} is the name of a built-in entity", c.name),
                );
            } else if !names.insert(c.name.to_ascii_uppercase()) {
                err(
                    format!("{path}.name"),
                    format!("another custom pattern is named {:?}", c.name),
                );
            }
            match regex::Regex::new(&c.pattern) {
                Err(e) => err(
                    format!("{path}.pattern"),
                    format!("invalid regular expression: {e}"),
                ),
                Ok(re) if re.is_match("") => err(
                    format!("{path}.pattern"),
                    "must not match the empty string".into(),
                ),
                Ok(_) => {}
            }
            if c.action == Action::Placeholder && c.direction == Applies::Response {
                err(
                    format!("{path}.action"),
                    "placeholder is a request-side action only".into(),
                );
            }
        }
        if let Some(deny) = &policy.deny_words {
            for (i, w) in deny.words.iter().enumerate() {
                if w.trim().is_empty() {
                    err(
                        format!("{base}.deny_words.words[{i}]"),
                        "must not be empty".into(),
                    );
                }
            }
            if deny.action == Action::Placeholder && deny.direction == Applies::Response {
                err(
                    format!("{base}.deny_words.action"),
                    "placeholder is a request-side action only".into(),
                );
            }
        }
    }
    out
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `guardrails:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailsConfig {
    #[serde(default)]
    pub prompt_injection: Option<PromptInjectionConfig>,
}

/// What a prompt-injection hit does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardAction {
    /// Refuse the request with 403 `content_blocked`.
    #[default]
    Block,
    /// Let it through; count it and record it in the audit log.
    Flag,
    Off,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptInjectionConfig {
    #[serde(default)]
    pub action: GuardAction,
    /// Phrases added to the built-in set, matched after the same normalisation.
    #[serde(default)]
    pub extra_phrases: Vec<String>,
}

/// Every problem in `cfg` as (field path, message), paths starting at `guardrails`.
pub fn guardrail_problems(cfg: &GuardrailsConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(pi) = &cfg.prompt_injection {
        for (i, p) in pi.extra_phrases.iter().enumerate() {
            if super::guard::normalise(p).trim().is_empty() {
                out.push((
                    format!("guardrails.prompt_injection.extra_phrases[{i}]"),
                    "must contain letters or digits".into(),
                ));
            }
        }
    }
    out
}
