//! The immutable runtime compiled from one validated configuration: key index, providers,
//! models and their targets. A request loads one `Arc<Snapshot>` at its start and reads only
//! that, so a reload (swapping the `ArcSwap`) never changes a request mid-way.

use crate::auth::{self, KeyIndex, VirtualKey};
use crate::config::{CacheConfig, Config, OnError, ProviderType, Strategy};
use crate::limits::Rules;
use crate::providers::{Endpoint, Provider};
use crate::redact::GuardAction;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Snapshot {
    pub max_body_bytes: usize,
    /// Names of the configured keys and teams (for the admin API).
    pub key_names: std::collections::HashSet<String>,
    pub team_names: std::collections::HashSet<String>,
    /// `prices:` from the configuration, by model name.
    pub prices: HashMap<String, crate::config::PriceConfig>,
    /// The admin API's bearer token; empty: loopback clients only.
    pub admin_token: crate::secret::Secret,
    pub keys: KeyIndex,
    pub models: HashMap<String, Model>,
    /// Model names in configuration order, for `GET /v1/models`.
    pub model_order: Vec<String>,
    pub providers: Vec<Arc<Provider>>,
    /// Limits and budgets of every key (`key:NAME`) and team (`team:NAME`).
    pub scopes: HashMap<String, Arc<Rules>>,
    pub on_error: OnError,
    /// The response cache, when configured and enabled.
    pub cache: Option<CacheConfig>,
    /// The prompt-injection guardrail and what a hit does, when it is on.
    pub injection_guard: Option<(Arc<crate::redact::InjectionGuard>, GuardAction)>,
    /// Audit records carry bodies (`audit.include_bodies`).
    pub audit_bodies: bool,
    /// Reload when the file changes (`server.watch_config`).
    pub watch_config: bool,
    /// The semantic cache, when it and the exact cache are enabled.
    pub semantic: Option<crate::cache::semantic::SemanticConfig>,
    /// Where the gateway's own API answers on loopback (the first `server.listen`), for the
    /// requests it makes to itself.
    pub self_addr: Option<SocketAddr>,
}

pub struct Model {
    pub name: String,
    pub strategy: Strategy,
    pub max_attempts: usize,
    pub targets: Vec<Target>,
    /// What the strategy needs, compiled once (see `routing::strategy`).
    pub selection: crate::routing::strategy::Selection,
    /// The dearest price its targets may charge, per direction (for budget reservations).
    pub worst_price: Option<crate::usage::Price>,
    pub default_max_tokens: u64,
}

pub struct Target {
    pub provider: Arc<Provider>,
    /// The model name the provider knows.
    pub model: String,
    pub weight: u32,
}

impl Snapshot {
    /// Compile a validated configuration. `mock_addrs` holds the loopback address the gateway
    /// opened for each `mock` provider. Fails only on what validation cannot know (a mock
    /// provider with no address), never on user input that `config::validate` accepted.
    pub fn compile(
        config: &Config,
        mock_addrs: &HashMap<String, SocketAddr>,
    ) -> Result<Snapshot, String> {
        let mut providers: HashMap<&str, Arc<Provider>> = HashMap::new();
        let mut provider_list = Vec::new();
        for p in &config.providers {
            let endpoint = match p.kind {
                ProviderType::Mock => {
                    let addr = mock_addrs
                        .get(&p.name)
                        .ok_or_else(|| format!("mock provider {:?} has no listener", p.name))?;
                    Endpoint {
                        tls: false,
                        host: addr.ip().to_string(),
                        port: addr.port(),
                        base_path: "/v1".into(),
                    }
                }
                kind => {
                    let url = p
                        .base_url
                        .as_deref()
                        .or(crate::providers::default_base_url(kind));
                    Endpoint::parse(url.unwrap_or_default())?
                }
            };
            let provider = Arc::new(Provider {
                health_id: crate::providers::identity(&p.name, &endpoint),
                name: p.name.clone(),
                kind: p.kind,
                endpoint,
                api_key: p.api_key.clone(),
                api_version: p.api_version.clone(),
                timeouts: p.timeouts,
                enabled: p.kind == ProviderType::Mock || !p.api_key.is_empty(),
                health_policy: crate::routing::health::Policy {
                    unhealthy_after: p.health_check.as_ref().map_or(2, |h| h.unhealthy_after),
                    ..Default::default()
                },
            });
            providers.insert(&p.name, provider.clone());
            provider_list.push(provider);
        }
        let mut models = HashMap::new();
        let mut model_order = Vec::new();
        for m in &config.models {
            let targets = m
                .targets
                .iter()
                .map(|t| {
                    let provider = providers
                        .get(t.provider.as_str())
                        .cloned()
                        .ok_or_else(|| format!("no provider {:?}", t.provider))?;
                    Ok(Target {
                        provider,
                        model: t.model.clone(),
                        weight: t.weight,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            model_order.push(m.name.clone());
            let weights: Vec<u32> = targets.iter().map(|t| t.weight).collect();
            let prices: Vec<Option<crate::usage::Price>> = targets
                .iter()
                .map(|t| {
                    let configured = config
                        .prices
                        .get(&t.model)
                        .or_else(|| config.prices.get(&m.name));
                    configured
                        .map(|p| crate::usage::Price::from(*p))
                        .or_else(|| crate::usage::builtin_price(&t.model))
                })
                .collect();
            let costs: Vec<Option<f64>> = prices
                .iter()
                .map(|p| p.map(|p| p.input + p.output))
                .collect();
            let selection = crate::routing::strategy::Selection::new(m.strategy, &weights, &costs);
            models.insert(
                m.name.clone(),
                Model {
                    name: m.name.clone(),
                    strategy: m.strategy,
                    max_attempts: m.max_attempts,
                    targets,
                    selection,
                    worst_price: crate::limits::dearest(prices),
                    default_max_tokens: m.default_max_tokens,
                },
            );
        }
        let redactor = match &config.redaction {
            Some(c) => Some(crate::redact::Redactor::compile(c).map_err(|problems| {
                let first = problems.first().cloned().unwrap_or_default();
                format!("{}: {}", first.0, first.1)
            })?),
            None => None,
        };
        let mut keys = KeyIndex::default();
        for k in &config.keys {
            let digest = match (&k.key_sha256, &k.key) {
                (Some(hex), _) => auth::parse_digest(hex)
                    .ok_or_else(|| format!("key {:?}: bad digest", k.name))?,
                (None, Some(plain)) => auth::digest(plain.expose()),
                (None, None) => return Err(format!("key {:?} has no key", k.name)),
            };
            keys.insert(
                digest,
                VirtualKey {
                    name: k.name.clone(),
                    team: k.team.clone(),
                    models: k.models.as_ref().map(|m| m.iter().cloned().collect()),
                    redaction: match k.redaction.as_deref() {
                        Some("off") => None,
                        named => redactor.as_ref().and_then(|r| r.policy_for(named)).cloned(),
                    },
                },
            );
        }
        let injection_guard = match config
            .guardrails
            .as_ref()
            .and_then(|g| g.prompt_injection.as_ref())
        {
            Some(pi) if pi.action != GuardAction::Off => Some((
                Arc::new(crate::redact::InjectionGuard::new(&pi.extra_phrases)?),
                pi.action,
            )),
            _ => None,
        };
        let key_names = config.keys.iter().map(|k| k.name.clone()).collect();
        let team_names: std::collections::HashSet<String> = config
            .keys
            .iter()
            .filter_map(|k| k.team.clone())
            .chain(config.teams.iter().map(|t| t.name.clone()))
            .collect();
        let mut scopes = HashMap::new();
        for k in &config.keys {
            let id = format!("key:{}", k.name);
            let rules = Rules::new(id.clone(), k.limits, k.budget);
            scopes.insert(id, Arc::new(rules));
        }
        for name in &team_names {
            let id = format!("team:{name}");
            let team = config.teams.iter().find(|t| &t.name == name);
            let rules = Rules::new(
                id.clone(),
                team.and_then(|t| t.limits),
                team.and_then(|t| t.budget),
            );
            scopes.insert(id, Arc::new(rules));
        }
        // Ready to serve means ready to count: the tokenizers of its models are loaded now,
        // not by the first requests after a start or a reload (`Encoding::load`).
        for target in models.values().flat_map(|m| m.targets.iter()) {
            crate::usage::Encoding::for_model(&target.model).load();
        }
        Ok(Snapshot {
            key_names,
            team_names,
            prices: config.prices.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            admin_token: config.server.admin_token.clone(),
            max_body_bytes: config.server.max_body_bytes,
            keys,
            models,
            model_order,
            providers: provider_list,
            scopes,
            on_error: config.state.on_error,
            cache: config.cache.clone().filter(|c| c.enabled),
            injection_guard,
            audit_bodies: config.audit.as_ref().is_some_and(|a| a.include_bodies),
            watch_config: config.server.watch_config,
            semantic: config
                .cache
                .as_ref()
                .filter(|c| c.enabled)
                .and_then(|c| c.semantic.clone())
                .filter(|s| s.enabled),
            self_addr: config
                .server
                .listen
                .addresses()
                .first()
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .map(|mut a| {
                    if a.ip().is_unspecified() {
                        a.set_ip(if a.is_ipv4() {
                            std::net::Ipv4Addr::LOCALHOST.into()
                        } else {
                            std::net::Ipv6Addr::LOCALHOST.into()
                        });
                    }
                    a
                }),
        })
    }

    /// Whether any provider can take traffic (for `/readyz`).
    pub fn any_provider_enabled(&self) -> bool {
        self.providers.iter().any(|p| p.enabled)
    }
}
