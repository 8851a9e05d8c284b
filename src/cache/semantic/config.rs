//! `cache.semantic:`, the semantic cache's section of the configuration file, as a serde
//! type, and the checks serde cannot express (`problems`).
//!
//! Every default is the conservative choice: a high threshold, short conversations only, low
//! temperatures only. A wrong hit (someone else's answer to a different question) costs more
//! than a miss (one provider call), so the operator widens these knowingly.
//!
//! **Absent `temperature` qualifies.** A request without `temperature` is sampled at the
//! provider's default (1.0 for OpenAI and Anthropic), which is above the default
//! `max_temperature`, yet it qualifies: many clients never set the field, and omitting it is
//! not a request for varied answers, whereas setting it high is. Such requests are already
//! served from the exact cache (an identical request gets an identical answer whatever its
//! temperature), and the semantic cache extends that, within the same scope, to rephrasings.
//! An application that wants fresh answers sets `temperature` above `max_temperature`, or
//! sends `cache-control: no-cache`.

use serde::Deserialize;

/// The largest `max_entries` accepted: exact search scans a scope's entries in full, and at
/// 1,536 dimensions a million entries already take about 6 GB.
pub const MAX_ENTRIES_LIMIT: usize = 1_000_000;

/// The longest `ttl_s` accepted (one year).
pub const MAX_TTL_S: u64 = 365 * 24 * 3600;

fn yes() -> bool {
    true
}
fn default_threshold() -> f32 {
    0.92
}
fn default_max_entries() -> usize {
    10_000
}
fn default_ttl_s() -> u64 {
    3600
}
fn default_max_messages() -> usize {
    4
}
fn default_max_question_chars() -> usize {
    2000
}
fn default_max_temperature() -> f32 {
    0.5
}

/// `cache.semantic:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemanticConfig {
    /// With the section present; `false` keeps the section but turns the cache off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The configured model (a name under `models:`) that embeds questions. Required.
    pub embedding_model: String,
    /// The least cosine similarity between two questions for one's answer to serve the other,
    /// in (0, 1].
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Entries kept on this node, over every key and scope; the oldest goes first.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// How long an entry is kept, in seconds.
    #[serde(default = "default_ttl_s")]
    pub ttl_s: u64,
    /// A conversation with more messages than this (system prompts not counted) does not
    /// qualify.
    #[serde(default = "default_max_messages")]
    pub max_messages: usize,
    /// A question (the last user message) longer than this, in characters, does not qualify.
    #[serde(default = "default_max_question_chars")]
    pub max_question_chars: usize,
    /// A request whose `temperature` is above this does not qualify; a request without
    /// `temperature` does (see the module documentation).
    #[serde(default = "default_max_temperature")]
    pub max_temperature: f32,
}

/// Problems serde cannot see, as `(path, message)`, paths starting `cache.semantic.`. That
/// `embedding_model` names a configured model is for the caller to check: it has the models.
pub fn problems(cfg: &SemanticConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut err = |field: &str, msg: String| out.push((format!("cache.semantic.{field}"), msg));
    if cfg.embedding_model.trim().is_empty() {
        err("embedding_model", "must name a configured model".into());
    }
    if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
        err(
            "threshold",
            "must be a cosine similarity above 0 and at most 1".into(),
        );
    }
    if cfg.max_entries == 0 || cfg.max_entries > MAX_ENTRIES_LIMIT {
        err(
            "max_entries",
            format!("must be between 1 and {MAX_ENTRIES_LIMIT}"),
        );
    }
    if cfg.ttl_s == 0 || cfg.ttl_s > MAX_TTL_S {
        err("ttl_s", format!("must be between 1 and {MAX_TTL_S}"));
    }
    if cfg.max_messages == 0 {
        err("max_messages", "must be at least 1".into());
    }
    if cfg.max_question_chars == 0 {
        err("max_question_chars", "must be at least 1".into());
    }
    if !(cfg.max_temperature >= 0.0 && cfg.max_temperature <= 2.0) {
        err("max_temperature", "must be between 0 and 2".into());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<SemanticConfig, serde_yaml::Error> {
        serde_yaml::from_str(yaml)
    }

    #[test]
    fn defaults_are_conservative() {
        let c = parse("embedding_model: text-embedding-3-small").unwrap();
        assert_eq!(
            c,
            SemanticConfig {
                enabled: true,
                embedding_model: "text-embedding-3-small".into(),
                threshold: 0.92,
                max_entries: 10_000,
                ttl_s: 3600,
                max_messages: 4,
                max_question_chars: 2000,
                max_temperature: 0.5,
            }
        );
        assert!(problems(&c).is_empty());
    }

    #[test]
    fn embedding_model_is_required_and_unknown_fields_are_errors() {
        assert!(parse("threshold: 0.9").is_err());
        assert!(parse("embedding_model: e\nthreshhold: 0.9").is_err());
        let c = parse("embedding_model: e\nenabled: false\nthreshold: 0.95\nmax_entries: 5\nttl_s: 60\nmax_messages: 1\nmax_question_chars: 10\nmax_temperature: 0").unwrap();
        assert!(!c.enabled);
        assert_eq!((c.threshold, c.max_entries, c.ttl_s), (0.95, 5, 60));
        assert_eq!((c.max_messages, c.max_question_chars), (1, 10));
        assert_eq!(c.max_temperature, 0.0);
        assert!(problems(&c).is_empty());
    }

    #[test]
    fn problems_name_their_paths() {
        let base = parse("embedding_model: e").unwrap();
        let paths = |c: SemanticConfig| -> Vec<String> {
            problems(&c).into_iter().map(|(p, _)| p).collect()
        };
        for (c, path) in [
            (
                SemanticConfig {
                    embedding_model: " ".into(),
                    ..base.clone()
                },
                "cache.semantic.embedding_model",
            ),
            (
                SemanticConfig {
                    threshold: 0.0,
                    ..base.clone()
                },
                "cache.semantic.threshold",
            ),
            (
                SemanticConfig {
                    threshold: 1.01,
                    ..base.clone()
                },
                "cache.semantic.threshold",
            ),
            (
                SemanticConfig {
                    threshold: f32::NAN,
                    ..base.clone()
                },
                "cache.semantic.threshold",
            ),
            (
                SemanticConfig {
                    max_entries: 0,
                    ..base.clone()
                },
                "cache.semantic.max_entries",
            ),
            (
                SemanticConfig {
                    max_entries: MAX_ENTRIES_LIMIT + 1,
                    ..base.clone()
                },
                "cache.semantic.max_entries",
            ),
            (
                SemanticConfig {
                    ttl_s: 0,
                    ..base.clone()
                },
                "cache.semantic.ttl_s",
            ),
            (
                SemanticConfig {
                    max_messages: 0,
                    ..base.clone()
                },
                "cache.semantic.max_messages",
            ),
            (
                SemanticConfig {
                    max_question_chars: 0,
                    ..base.clone()
                },
                "cache.semantic.max_question_chars",
            ),
            (
                SemanticConfig {
                    max_temperature: -0.1,
                    ..base.clone()
                },
                "cache.semantic.max_temperature",
            ),
        ] {
            assert_eq!(paths(c), [path]);
        }
        let one = SemanticConfig {
            threshold: 1.0,
            ..base
        };
        assert!(problems(&one).is_empty());
    }
}
