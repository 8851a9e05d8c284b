//! Configuration reload: on SIGHUP, `POST /admin/reload`, or the file changing (with
//! `server.watch_config`). The new file is read, validated and compiled off the request path,
//! then swapped in atomically; requests in flight finish on the snapshot they started with.
//! Health, limit and budget counters and the cache live outside the snapshot and survive.
//!
//! An invalid file changes nothing: its field-path problems are logged, returned to the admin
//! endpoint, and counted in `tollgate_config_reloads_total{result="error"}`. Settings that
//! cannot change in a running process (listen addresses, threads, the state backend, ...) keep
//! their running values and are reported as needing an upgrade, never half-applied.

use crate::config::{self, Config, ProviderType};
use crate::metrics::METRICS;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub applied: bool,
    /// Why the file was rejected, each as `path.to.field: message`.
    pub problems: Vec<String>,
    /// Changed settings that keep their running values until an upgrade or restart.
    pub needs_restart: Vec<String>,
    pub warnings: Vec<String>,
}

pub struct Reloader {
    path: PathBuf,
    shared: Arc<ArcSwap<Snapshot>>,
    /// The settings fixed at start, as their text, by field path.
    fixed: Vec<(&'static str, String)>,
    /// The loopback address of each `mock` provider, opened at start.
    mock_addrs: HashMap<String, SocketAddr>,
    /// The audit log's path in force.
    audit_path: Mutex<Option<String>>,
    /// One reload at a time; and the file's stamp last loaded, for the watcher.
    state: Mutex<Option<Stamp>>,
}

/// What identifies a version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        shared: Arc<ArcSwap<Snapshot>>,
        started: &Config,
        mock_addrs: HashMap<String, SocketAddr>,
    ) -> Reloader {
        let stamp = stamp(&path);
        Reloader {
            fixed: fixed(started),
            audit_path: Mutex::new(started.audit.as_ref().map(|a| a.path.clone())),
            path,
            shared,
            mock_addrs,
            state: Mutex::new(stamp),
        }
    }

    /// The audit log's path in force (for reopening it on SIGHUP).
    pub fn audit_path(&self) -> Option<String> {
        self.audit_path.lock().ok().and_then(|p| p.clone())
    }

    /// Reload now. Blocking (reads and compiles): call it off the request path.
    pub fn reload(&self, cause: &str) -> Report {
        let Ok(mut last) = self.state.lock() else {
            return Report {
                problems: vec!["reload state poisoned".into()],
                ..Report::default()
            };
        };
        let current = stamp(&self.path);
        let report = self.load();
        if report.applied {
            *last = current;
            METRICS
                .config_reloads_total
                .with_label_values(&["ok"])
                .inc();
            log::info!(
                "configuration reloaded ({cause}) from {}",
                self.path.display()
            );
            for field in &report.needs_restart {
                log::warn!(
                    "reload ({cause}): {field} changed; the running value stays until an upgrade (tollgate run --upgrade)"
                );
            }
        } else {
            METRICS
                .config_reloads_total
                .with_label_values(&["error"])
                .inc();
            log::error!(
                "reload ({cause}) rejected; the running configuration keeps serving:\n{}",
                report.problems.join("\n")
            );
        }
        report
    }

    /// With `server.watch_config`: reload when the file's stamp changed since the last load.
    pub fn reload_if_changed(&self) -> Option<Report> {
        if !self.shared.load().watch_config {
            return None;
        }
        let now = stamp(&self.path);
        let changed = self.state.lock().ok().is_some_and(|last| *last != now);
        changed.then(|| self.reload("file changed"))
    }

    fn load(&self) -> Report {
        let loaded = match config::load_file(&self.path) {
            Ok(l) => l,
            Err(problems) => {
                return Report {
                    problems: problems.iter().map(ToString::to_string).collect(),
                    ..Report::default()
                }
            }
        };
        let config = loaded.config;
        let mut problems = Vec::new();
        for (i, p) in config.providers.iter().enumerate() {
            if p.kind == ProviderType::Mock && !self.mock_addrs.contains_key(&p.name) {
                problems.push(format!(
                    "providers[{i}]: mock provider {:?} is new; mock providers start with the process (tollgate run --upgrade)",
                    p.name
                ));
            }
        }
        if !problems.is_empty() {
            return Report {
                problems,
                ..Report::default()
            };
        }
        let snapshot = match Snapshot::compile(&config, &self.mock_addrs) {
            Ok(s) => s,
            Err(e) => {
                return Report {
                    problems: vec![e],
                    ..Report::default()
                }
            }
        };
        let new_fixed = fixed(&config);
        let needs_restart = self
            .fixed
            .iter()
            .zip(&new_fixed)
            .filter(|(old, new)| old != new)
            .map(|(old, _)| old.0.to_string())
            .collect();
        self.apply_audit(&config);
        self.shared.store(Arc::new(snapshot));
        Report {
            applied: true,
            problems: Vec::new(),
            needs_restart,
            warnings: loaded.warnings.iter().map(ToString::to_string).collect(),
        }
    }

    /// A new audit path is opened at once (records switch files between two requests).
    fn apply_audit(&self, config: &Config) {
        let Some(new) = config.audit.as_ref() else {
            return;
        };
        let Ok(mut current) = self.audit_path.lock() else {
            return;
        };
        if current.as_deref() != Some(new.path.as_str()) {
            if let Err(e) = crate::audit::start(&new.path, new.buffer) {
                log::error!("{e}");
                return;
            }
            *current = Some(new.path.clone());
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// The settings a running process cannot change, by field path, as comparable text.
fn fixed(c: &Config) -> Vec<(&'static str, String)> {
    let s = &c.server;
    let mocks: Vec<String> = c
        .providers
        .iter()
        .filter(|p| p.kind == ProviderType::Mock)
        .map(|p| format!("{}={:?}", p.name, p.mock))
        .collect();
    let checks: Vec<String> = c
        .providers
        .iter()
        .map(|p| format!("{}={:?}", p.name, p.health_check))
        .collect();
    vec![
        ("server.listen", format!("{:?}", s.listen.addresses())),
        ("server.admin_listen", s.admin_listen.clone()),
        ("server.metrics_listen", s.metrics_listen.clone()),
        ("server.threads", s.threads.to_string()),
        ("server.pid_file", s.pid_file.clone()),
        ("server.upgrade_sock", s.upgrade_sock.clone()),
        ("server.grace_period_s", s.grace_period_s.to_string()),
        ("server.log", format!("{:?}", s.log)),
        (
            "state",
            // Compared, never printed: the URL may carry a password.
            format!(
                "{:?} {} {}",
                c.state.backend,
                c.state.redis_url.expose(),
                c.state.timeout_ms
            ),
        ),
        (
            "cache.max_entries",
            format!("{:?}", c.cache.as_ref().map(|c| c.max_entries)),
        ),
        ("providers[].mock", mocks.join(",")),
        ("providers[].health_check", checks.join(",")),
    ]
}
