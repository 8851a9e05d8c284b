//! What redaction did to one request, for `tollgate_redactions_total` and the audit record:
//! a count per (entity, direction, action). Never the matched values.

use super::policy::{Action, Direction};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountEntry {
    /// The entity label: `email`, ..., a custom pattern's name, `deny_word`.
    pub entity: Arc<str>,
    pub direction: Direction,
    pub action: Action,
    pub count: u32,
}

/// A small map, kept as a list: a request meets a handful of (entity, direction, action)
/// combinations at most.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    entries: Vec<CountEntry>,
}

impl Counts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, entity: &Arc<str>, direction: Direction, action: Action, n: u32) {
        let found = self
            .entries
            .iter_mut()
            .find(|e| e.direction == direction && e.action == action && *e.entity == **entity);
        match found {
            Some(e) => e.count = e.count.saturating_add(n),
            None => self.entries.push(CountEntry {
                entity: Arc::clone(entity),
                direction,
                action,
                count: n,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &CountEntry> {
        self.entries.iter()
    }

    /// The count for one combination (0 when absent).
    pub fn get(&self, entity: &str, direction: Direction, action: Action) -> u32 {
        self.entries
            .iter()
            .filter(|e| &*e.entity == entity && e.direction == direction && e.action == action)
            .map(|e| e.count)
            .sum()
    }

    /// Entity label to count, both directions and all actions together (the audit field).
    pub fn by_entity(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for e in &self.entries {
            let n: &mut u32 = out.entry(e.entity.to_string()).or_default();
            *n = n.saturating_add(e.count);
        }
        out
    }

    pub fn merge(&mut self, other: &Counts) {
        for e in &other.entries {
            self.add(&e.entity, e.direction, e.action, e.count);
        }
    }
}
