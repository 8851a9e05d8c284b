//! Spend per key and per team: requests, tokens and USD, settled once per request. Kept in
//! memory for now (one instance, since start); the limits work moves it to the shared state
//! backend and gives it budget periods.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Key,
    Team,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Team => "team",
        }
    }
}

/// What one scope has spent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

/// One settled request, as it is added to its key's and team's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Charge {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

pub struct Spend {
    totals: Mutex<HashMap<(Scope, String), Totals>>,
    /// Unix seconds when counting started (the process start, for the memory store).
    pub since: u64,
}

impl Default for Spend {
    fn default() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Spend {
            totals: Mutex::new(HashMap::new()),
            since,
        }
    }
}

impl Spend {
    /// Add one request to its key and, when it has one, its team.
    pub fn record(&self, key: &str, team: Option<&str>, charge: Charge) {
        let Ok(mut totals) = self.totals.lock() else {
            return;
        };
        let scopes = [(Scope::Key, Some(key)), (Scope::Team, team)];
        for (scope, name) in scopes {
            if let Some(name) = name {
                let t = totals.entry((scope, name.to_string())).or_default();
                t.requests = t.requests.saturating_add(1);
                t.input_tokens = t.input_tokens.saturating_add(charge.input_tokens);
                t.cached_input_tokens = t
                    .cached_input_tokens
                    .saturating_add(charge.cached_input_tokens);
                t.output_tokens = t.output_tokens.saturating_add(charge.output_tokens);
                t.cost_usd += charge.cost_usd;
            }
        }
    }

    pub fn get(&self, scope: Scope, name: &str) -> Totals {
        self.totals
            .lock()
            .ok()
            .and_then(|t| t.get(&(scope, name.to_string())).copied())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_counts_for_its_key_and_team() {
        let s = Spend::default();
        let c = Charge {
            input_tokens: 10,
            cached_input_tokens: 2,
            output_tokens: 5,
            cost_usd: 0.5,
        };
        s.record("k", Some("t"), c);
        s.record("k", None, c);
        s.record("j", Some("t"), c);
        assert_eq!(s.get(Scope::Key, "k").requests, 2);
        assert_eq!(s.get(Scope::Key, "k").cost_usd, 1.0);
        assert_eq!(s.get(Scope::Team, "t").output_tokens, 10);
        assert_eq!(s.get(Scope::Team, "none"), Totals::default());
    }
}
