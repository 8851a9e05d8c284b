//! Actions, compiled policies and the `Redactor` that holds them by name.
//!
//! A policy is compiled once per configuration into one `Detector` per direction holding
//! only the patterns whose action there is not `off` (so an entity that is off costs nothing
//! and never competes in overlap resolution). `CompiledPolicy::redact` is the whole-text
//! operation; the request walker, the whole-answer function and the stream redactor all come
//! down to it or to its two halves (`find`, `render`).

use super::config::{Applies, PolicyConfig, RedactionConfig};
use super::counts::Counts;
use super::detect::{select, Candidate, Detector, Entity};
use super::placeholders::Placeholders;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// What happens to a match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Not looked for.
    #[default]
    Off,
    /// `[EMAIL]`.
    Mask,
    /// `[EMAIL:3f2a9c]`: the first 6 hex digits of the SHA-256 of the value, stable across
    /// requests so equal values can be correlated without being revealed.
    Hash,
    /// `[EMAIL_1]`, restored in the answer (request side only).
    Placeholder,
    /// Refuse the request (403), or end the answer stream with an error event.
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Off => "off",
            Action::Mask => "mask",
            Action::Hash => "hash",
            Action::Placeholder => "placeholder",
            Action::Block => "block",
        }
    }
}

/// Which way the text travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to provider.
    Request,
    /// Provider to client.
    Response,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

/// A `block` action fired: the request is refused or the answer stream ends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content blocked by the redaction policy ({entity})")]
pub struct Blocked {
    /// The entity label (`secret`, `deny_word`, a custom pattern's name); never the value.
    pub entity: String,
}

/// Labels and replacement names per entity slot: built-ins 0..7, deny words 7, custom 8+i.
struct Names {
    labels: Vec<Arc<str>>,
    tags: Vec<String>,
}

fn slot(e: Entity) -> usize {
    match e {
        Entity::Email => 0,
        Entity::Phone => 1,
        Entity::CreditCard => 2,
        Entity::Ssn => 3,
        Entity::Iban => 4,
        Entity::Ip => 5,
        Entity::Secret => 6,
        Entity::DenyWord => 7,
        Entity::Custom(i) => 8 + i,
    }
}

/// One direction of a policy.
struct Side {
    detector: Detector,
    /// Action per entity slot.
    actions: Vec<Action>,
}

/// A policy ready to use; shared (`Arc`) by every request whose key names it.
pub struct CompiledPolicy {
    name: String,
    max_span_chars: usize,
    names: Names,
    request: Side,
    response: Side,
}

impl std::fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CompiledPolicy {
    /// Compiles `cfg`. Errors are (field path, message), like `config::problems`, which
    /// should have been checked first. A response-side `placeholder` on a built-in entity
    /// (a configuration error) masks; on a custom pattern or deny words applying to `both`
    /// it means placeholders on the request side and nothing more on the answer side.
    pub fn compile(
        name: &str,
        cfg: &PolicyConfig,
        max_span_chars: usize,
    ) -> Result<CompiledPolicy, Vec<(String, String)>> {
        let mut labels: Vec<Arc<str>> = Vec::new();
        let mut tags = Vec::new();
        for e in Entity::BUILTIN.iter().chain(&[Entity::DenyWord]) {
            labels.push(Arc::from(e.builtin_label().unwrap_or_default()));
            tags.push(e.builtin_tag().unwrap_or_default().to_string());
        }
        for c in &cfg.custom {
            labels.push(Arc::from(c.name.as_str()));
            tags.push(c.name.to_ascii_uppercase());
        }
        let base = format!("redaction.policies.{name}");
        let side = |dir: Direction| -> Result<Side, Vec<(String, String)>> {
            let (fields, applies) = match dir {
                Direction::Request => (cfg.request.fields(), Applies::Request),
                Direction::Response => (cfg.response.fields(), Applies::Response),
            };
            let on_side = |a: Applies| a == Applies::Both || a == applies;
            let fix = |a: Action, builtin: bool| match (dir, a) {
                (Direction::Response, Action::Placeholder) if builtin => Action::Mask,
                (Direction::Response, Action::Placeholder) => Action::Off,
                _ => a,
            };
            let mut actions = vec![Action::Off; 8 + cfg.custom.len()];
            let mut entities = Vec::new();
            for (e, (_, a)) in Entity::BUILTIN.iter().zip(fields) {
                let a = fix(a, true);
                if let Some(slot) = actions.get_mut(slot(*e)) {
                    *slot = a;
                }
                if a != Action::Off {
                    entities.push(*e);
                }
            }
            let mut custom = Vec::new();
            for (i, c) in cfg.custom.iter().enumerate() {
                let a = if on_side(c.direction) {
                    fix(c.action, false)
                } else {
                    Action::Off
                };
                if let Some(slot) = actions.get_mut(slot(Entity::Custom(i))) {
                    *slot = a;
                }
                if a != Action::Off {
                    custom.push((i, c.pattern.as_str()));
                }
            }
            let mut words: &[String] = &[];
            if let Some(d) = &cfg.deny_words {
                let a = if on_side(d.direction) {
                    fix(d.action, false)
                } else {
                    Action::Off
                };
                if let Some(slot) = actions.get_mut(slot(Entity::DenyWord)) {
                    *slot = a;
                }
                if a != Action::Off {
                    words = &d.words;
                }
            }
            let detector = Detector::new(&entities, &custom, words)
                .map_err(|e| vec![(base.clone(), format!("cannot compile: {e}"))])?;
            Ok(Side { detector, actions })
        };
        Ok(CompiledPolicy {
            name: name.to_string(),
            max_span_chars,
            request: side(Direction::Request)?,
            response: side(Direction::Response)?,
            names: Names { labels, tags },
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `redaction.max_span_chars` of the configuration this policy came from.
    pub fn max_span_chars(&self) -> usize {
        self.max_span_chars
    }

    /// Whether anything is looked for in this direction (else `redact` is the identity).
    pub fn is_active(&self, dir: Direction) -> bool {
        !self.side(dir).detector.is_empty()
    }

    /// The entity's label: `email`, ..., the custom pattern's name, `deny_word`.
    pub fn label(&self, e: Entity) -> &str {
        self.names.labels.get(slot(e)).map_or("", |l| l)
    }

    /// What a mask of this entity says: `[EMAIL]`, `[EMPLOYEE_ID]`, `[DENIED]`.
    pub fn mask(&self, e: Entity) -> String {
        format!("[{}]", self.tag(e))
    }

    /// The action for `e` in direction `dir` (`off` when the policy does not look for it).
    pub fn action(&self, dir: Direction, e: Entity) -> Action {
        self.side(dir)
            .actions
            .get(slot(e))
            .copied()
            .unwrap_or(Action::Off)
    }

    fn tag(&self, e: Entity) -> &str {
        self.names.tags.get(slot(e)).map_or("", String::as_str)
    }

    fn side(&self, dir: Direction) -> &Side {
        match dir {
            Direction::Request => &self.request,
            Direction::Response => &self.response,
        }
    }

    /// `text` with every match replaced per the policy's action for `dir`. Borrowed, with no
    /// allocation, when nothing matched. `Err` when a `block` action matched (counted).
    pub fn redact<'t>(
        &self,
        dir: Direction,
        text: &'t str,
        placeholders: &mut Placeholders,
        counts: &mut Counts,
    ) -> Result<Cow<'t, str>, Blocked> {
        self.redact_mode(dir, text, false, placeholders, counts)
    }

    /// As `redact`; `json`: `text` is the inside of a JSON string (see `Detector::candidates`).
    pub(crate) fn redact_mode<'t>(
        &self,
        dir: Direction,
        text: &'t str,
        json: bool,
        placeholders: &mut Placeholders,
        counts: &mut Counts,
    ) -> Result<Cow<'t, str>, Blocked> {
        let mut cands = Vec::new();
        self.candidates(dir, text, 0, json, &mut cands);
        if cands.is_empty() {
            return Ok(Cow::Borrowed(text));
        }
        let mut chosen = Vec::new();
        select(&mut cands, &mut chosen);
        let mut out = String::with_capacity(text.len());
        self.render(
            dir,
            text,
            0..text.len(),
            &chosen,
            placeholders,
            counts,
            &mut out,
        )?;
        Ok(Cow::Owned(out))
    }

    /// Candidates in `hay[from..]`, `hay[..from]` being context (see `Detector::candidates`).
    pub(crate) fn candidates(
        &self,
        dir: Direction,
        hay: &str,
        from: usize,
        json: bool,
        out: &mut Vec<Candidate>,
    ) {
        self.side(dir).detector.candidates(hay, from, json, out);
    }

    /// See `Detector::reach`.
    pub(crate) fn reach(&self, dir: Direction, hay: &str, floor: usize) -> usize {
        self.side(dir).detector.reach(hay, floor)
    }

    /// `Err` (counted) when a chosen match inside `range` has the `block` action.
    pub(crate) fn check_block(
        &self,
        dir: Direction,
        range: std::ops::Range<usize>,
        chosen: &[Candidate],
        counts: &mut Counts,
    ) -> Result<(), Blocked> {
        let blocking = chosen.iter().find(|m| {
            m.start >= range.start
                && m.end <= range.end
                && self.action(dir, m.entity) == Action::Block
        });
        let Some(m) = blocking else {
            return Ok(());
        };
        if let Some(label) = self.names.labels.get(slot(m.entity)) {
            counts.add(label, dir, Action::Block, 1);
        }
        Err(Blocked {
            entity: self.label(m.entity).to_string(),
        })
    }

    /// Writes `hay[range]` to `out` with the `chosen` matches inside it replaced (matches are
    /// sorted, non-overlapping, and lie wholly inside or outside the range). A `block` match
    /// writes nothing, is counted, and is the `Err`.
    #[allow(clippy::too_many_arguments)] // the two halves of `redact`, shared with streams
    pub(crate) fn render(
        &self,
        dir: Direction,
        hay: &str,
        range: std::ops::Range<usize>,
        chosen: &[Candidate],
        placeholders: &mut Placeholders,
        counts: &mut Counts,
        out: &mut String,
    ) -> Result<(), Blocked> {
        self.check_block(dir, range.clone(), chosen, counts)?;
        let inside = || {
            chosen
                .iter()
                .filter(|m| m.start >= range.start && m.end <= range.end)
        };
        let mut at = range.start;
        for m in inside() {
            out.push_str(hay.get(at..m.start).unwrap_or_default());
            let value = hay.get(m.start..m.end).unwrap_or_default();
            let tag = self.tag(m.entity);
            let action = self.action(dir, m.entity);
            match action {
                Action::Off => out.push_str(value),
                Action::Mask | Action::Block => {
                    out.push('[');
                    out.push_str(tag);
                    out.push(']');
                }
                Action::Hash => {
                    let digest = Sha256::digest(value.as_bytes());
                    out.push('[');
                    out.push_str(tag);
                    out.push(':');
                    for b in digest.iter().take(3) {
                        let _ = write!(out, "{b:02x}");
                    }
                    out.push(']');
                }
                Action::Placeholder => out.push_str(placeholders.assign(tag, value)),
            }
            if action != Action::Off {
                if let Some(label) = self.names.labels.get(slot(m.entity)) {
                    counts.add(label, dir, action, 1);
                }
            }
            at = m.end;
        }
        out.push_str(hay.get(at..range.end).unwrap_or_default());
        Ok(())
    }
}

/// Every policy of a configuration, compiled, by name.
#[derive(Debug, Default)]
pub struct Redactor {
    policies: BTreeMap<String, Arc<CompiledPolicy>>,
    default_policy: Option<String>,
    max_span_chars: usize,
}

impl Redactor {
    /// Validates (`config::problems`) and compiles every policy.
    pub fn compile(cfg: &RedactionConfig) -> Result<Redactor, Vec<(String, String)>> {
        let problems = super::config::problems(cfg);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut policies = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, p) in &cfg.policies {
            match CompiledPolicy::compile(name, p, cfg.max_span_chars) {
                Ok(c) => {
                    policies.insert(name.clone(), Arc::new(c));
                }
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Redactor {
            policies,
            default_policy: cfg.default_policy.clone(),
            max_span_chars: cfg.max_span_chars,
        })
    }

    /// The policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&Arc<CompiledPolicy>> {
        self.policies.get(name)
    }

    /// `redaction.default_policy`, compiled.
    pub fn default_policy(&self) -> Option<&Arc<CompiledPolicy>> {
        self.default_policy.as_deref().and_then(|n| self.policy(n))
    }

    /// The policy for a key: the one it names, else the default (`None`: no redaction).
    pub fn policy_for(&self, key_policy: Option<&str>) -> Option<&Arc<CompiledPolicy>> {
        match key_policy {
            Some(name) => self.policy(name),
            None => self.default_policy(),
        }
    }

    pub fn max_span_chars(&self) -> usize {
        self.max_span_chars
    }
}
