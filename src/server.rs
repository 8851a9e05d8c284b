//! Assembling the process: load the configuration, open the mock providers' loopback ports,
//! compile the first snapshot, and start Pingora with the API, admin and metrics listeners.

use crate::admin::{AdminApp, MetricsApp};
use crate::config::{self, Config, ProviderType};
use crate::lifecycle::Signals;
use crate::mock_provider::MockServer;
use crate::proxy::Gateway;
use crate::snapshot::Snapshot;
use crate::{logging, metrics};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct RunOptions {
    pub config_path: PathBuf,
    pub upgrade: bool,
    pub daemon: bool,
}

/// Start the gateway and serve until a signal stops it. `Err` only for what prevents
/// starting (an invalid file, a port that cannot be opened), with a message for the operator.
pub fn run(opts: RunOptions) -> Result<(), String> {
    let loaded = config::load_file(&opts.config_path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!(
            "{}: invalid configuration\n{}",
            opts.config_path.display(),
            lines.join("\n")
        )
    })?;
    let config = loaded.config;
    logging::init(&config.server.log);
    for w in &loaded.warnings {
        log::warn!("{}: {w}", opts.config_path.display());
    }
    metrics::init();

    let (mock_addrs, mocks) = open_mock_providers(&config)?;
    let snapshot = Snapshot::compile(&config, &mock_addrs)?;
    let shared = Arc::new(ArcSwap::from_pointee(snapshot));

    let grace = Duration::from_secs(config.server.grace_period_s);
    let conf = ServerConf {
        threads: config.server.threads,
        pid_file: config.server.pid_file.clone(),
        upgrade_sock: config.server.upgrade_sock.clone(),
        daemon: opts.daemon,
        grace_period_seconds: Some(config.server.grace_period_s),
        graceful_shutdown_timeout_seconds: Some(1),
        // One runtime per thread: a request never migrates, so no cross-thread wake-ups
        // (measured in load-tests/RESULTS.md).
        work_stealing: false,
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        daemon: opts.daemon,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let spend = Arc::new(crate::spend::Spend::default());
    let health = Arc::new(crate::routing::health::Health::default());
    let mut api = pingora_proxy::http_proxy_service_with_name(
        &server.configuration,
        Gateway::new(shared.clone(), spend.clone(), health.clone()),
        "api",
    );
    for addr in config.server.listen.addresses() {
        api.add_tcp(addr);
    }
    let mut admin = Service::new(
        "admin".to_string(),
        AdminApp {
            config: shared.clone(),
            spend,
            health: health.clone(),
        },
    );
    admin.add_tcp(&config.server.admin_listen);
    let mut metrics_service = Service::new(
        "metrics".to_string(),
        MetricsApp {
            config: shared,
            health,
        },
    );
    metrics_service.add_tcp(&config.server.metrics_listen);
    server.add_service(api);
    server.add_service(admin);
    server.add_service(metrics_service);
    for (name, mock) in mocks {
        server.add_service(background_service(&format!("mock provider {name}"), mock));
    }
    log::info!(
        "tollgate {} listening on {} (admin {}, metrics {})",
        env!("CARGO_PKG_VERSION"),
        config.server.listen.addresses().join(", "),
        config.server.admin_listen,
        config.server.metrics_listen
    );
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals { grace }),
    });
    Ok(())
}

/// A `mock` provider's listener, bound before Pingora starts (so its address is in the first
/// snapshot) and served from a background service (so it runs in Pingora's runtime, after
/// any daemon fork).
struct MockService {
    listener: Mutex<Option<std::net::TcpListener>>,
    server: Arc<MockServer>,
}

#[async_trait]
impl BackgroundService for MockService {
    async fn start(&self, shutdown: ShutdownWatch) {
        let Some(std_listener) = self.listener.lock().ok().and_then(|mut l| l.take()) else {
            return;
        };
        match tokio::net::TcpListener::from_std(std_listener) {
            Ok(listener) => self.server.clone().serve(listener, shutdown).await,
            Err(e) => log::error!("mock provider cannot listen: {e}"),
        }
    }
}

type MockListeners = (HashMap<String, SocketAddr>, Vec<(String, MockService)>);

fn open_mock_providers(config: &Config) -> Result<MockListeners, String> {
    let mut addrs = HashMap::new();
    let mut services = Vec::new();
    for p in config
        .providers
        .iter()
        .filter(|p| p.kind == ProviderType::Mock)
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("mock provider {}: {e}", p.name))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("mock provider {}: {e}", p.name))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("mock provider {}: {e}", p.name))?;
        addrs.insert(p.name.clone(), addr);
        let server = MockServer::new(p.mock.clone().unwrap_or_default(), None);
        services.push((
            p.name.clone(),
            MockService {
                listener: Mutex::new(Some(listener)),
                server,
            },
        ));
    }
    Ok((addrs, services))
}
