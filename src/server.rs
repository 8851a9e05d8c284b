//! Assembling the process: load the configuration, open the mock providers' loopback ports,
//! compile the first snapshot, and start Pingora with the API, admin and metrics listeners.

use crate::admin::{AdminApp, MetricsApp};
use crate::config::{self, Config, ProviderType};
use crate::lifecycle::Signals;
use crate::mock_provider::MockServer;
use crate::proxy::Gateway;
use crate::routing::health::Health;
use crate::snapshot::Snapshot;
use crate::{logging, metrics};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService, GenBackgroundService};
use pingora::services::listening::Service;
use pingora_load_balancing::health_check::HttpHealthCheck;
use pingora_load_balancing::selection::RoundRobin;
use pingora_load_balancing::LoadBalancer;
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
    crate::lifecycle::set_paths(
        &config.server.pid_file,
        &config.server.upgrade_sock,
        opts.upgrade,
        opts.daemon,
    );
    for w in &loaded.warnings {
        log::warn!("{}: {w}", opts.config_path.display());
    }
    metrics::init();

    let (mock_addrs, mocks) = open_mock_providers(&config)?;
    let snapshot = Snapshot::compile(&config, &mock_addrs)?;
    let shared = Arc::new(ArcSwap::from_pointee(snapshot));
    if let Some(a) = &config.audit {
        crate::audit::start(&a.path, a.buffer)?;
    }
    let reloader = Arc::new(crate::reload::Reloader::new(
        opts.config_path.clone(),
        shared.clone(),
        &config,
        mock_addrs.clone(),
    ));

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

    let cache_entries = config.cache.as_ref().map_or(1, |c| c.max_entries);
    let state = Arc::new(crate::state::State::new(&config.state, cache_entries)?);
    let health = Arc::new(crate::routing::health::Health::default());
    for check in active_checks(&config, &shared.load(), &health) {
        server.add_service(check);
    }
    if !opts.upgrade {
        check_free(&config.server.listen.addresses())?;
    }
    let workers = config.server.threads.max(1);
    let mut api_workers = Vec::with_capacity(workers);
    for worker in 0..workers {
        let mut api = pingora_proxy::http_proxy_service_with_name(
            &server.configuration,
            Gateway::new(shared.clone(), state.clone(), health.clone()),
            "api",
        );
        api.threads = Some(1);
        for addr in config.server.listen.addresses() {
            api.add_listener(api_listener(addr, worker));
        }
        api_workers.push(api);
    }
    let mut admin = Service::new(
        "admin".to_string(),
        AdminApp {
            config: shared.clone(),
            state,
            health: health.clone(),
            reloader: reloader.clone(),
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
    for api in api_workers {
        server.add_service(api);
    }
    server.add_service(admin);
    server.add_service(metrics_service);
    for (name, mock) in mocks {
        server.add_service(background_service(&format!("mock provider {name}"), mock));
    }
    server.add_service(background_service(
        "reload triggers",
        ReloadTriggers { reloader },
    ));
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

/// Worker `worker`'s socket on an API address.
///
/// The API runs as one Pingora service per worker thread, each with a runtime of one thread,
/// its own `Gateway` (so its own upstream connection pool) and its own `SO_REUSEPORT` socket
/// per address, among which the kernel spreads new connections. One service with N threads
/// accepts on one thread and hands each connection to a random one, and shares one pool:
/// either way a socket's readiness lands on one thread's reactor and wakes its task on
/// another, a cross-thread wake-up per read and write (measured in `load-tests/RESULTS.md`).
/// Like nginx's workers, each thread here accepts, proxies and answers its own connections.
///
/// Pingora's upgrade hands listening sockets over by their address text, so each worker's
/// socket needs its own text: worker `i` writes the port with `i` leading zeros, the same
/// address.
///
/// Connections read the socket directly instead of through Pingora's default 64 KiB read
/// buffer: plain HTTP/1 heads and bodies are read into buffers of their own anyway, so that
/// buffer only copied bytes once more, and it held 64 KiB per open connection (a third of
/// what a long stream cost; see `load-tests/RESULTS.md`).
fn api_listener(addr: &str, worker: usize) -> pingora::listeners::ListenerConfig {
    use pingora::listeners::{
        L4BufferSettings, ListenerConfig, TcpSocketOptions, DEFAULT_L4_WRITE_BUFFER_SIZE,
    };
    let mut options = TcpSocketOptions::default();
    options.so_reuseport = Some(true);
    ListenerConfig::tcp(worker_address(addr, worker))
        .tcp_socket_options(options)
        .l4_buffer(L4BufferSettings::new(0, DEFAULT_L4_WRITE_BUFFER_SIZE))
}

/// `addr` with `worker` zeros before its port: `127.0.0.1:8080`, `127.0.0.1:08080`, ...
fn worker_address(addr: &str, worker: usize) -> String {
    match addr.rsplit_once(':') {
        Some((host, port)) => format!("{host}:{}{port}", "0".repeat(worker)),
        None => addr.to_string(),
    }
}

/// Refuse to start on an API address something else listens on. The workers' sockets set
/// `SO_REUSEPORT`, so without this check a second gateway started by the same user on the
/// same port would silently share its connections instead of failing. Not on `--upgrade`,
/// where the old process holds the port on purpose.
fn check_free(addresses: &[&str]) -> Result<(), String> {
    for addr in addresses {
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }
    Ok(())
}

/// What reloads the configuration besides the admin endpoint: SIGHUP (which also reopens the
/// audit log, for rotation) and, with `server.watch_config`, the file changing (checked every
/// second by its modification time and length).
struct ReloadTriggers {
    reloader: Arc<crate::reload::Reloader>,
}

#[async_trait]
impl BackgroundService for ReloadTriggers {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            log::error!("cannot watch SIGHUP: reload through POST /admin/reload");
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let reloader = self.reloader.clone();
            tokio::select! {
                _ = hup.recv() => {
                    if let Some(path) = reloader.audit_path() {
                        crate::audit::reopen(&path);
                    }
                    let _ = tokio::task::spawn_blocking(move || reloader.reload("SIGHUP")).await;
                }
                _ = tick.tick() => {
                    let _ = tokio::task::spawn_blocking(move || reloader.reload_if_changed()).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
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

type CheckService = GenBackgroundService<LoadBalancer<RoundRobin>>;

/// One Pingora health-checked load balancer, with the provider as its only backend, per
/// provider that has a `health_check`; each runs as a background service and reports into
/// `health`. The provider's host is resolved here, once, at startup; a name that does not
/// resolve leaves that provider on passive health alone, with a warning.
fn active_checks(config: &Config, snapshot: &Snapshot, health: &Health) -> Vec<CheckService> {
    let mut services = Vec::new();
    for (p, cfg) in snapshot.providers.iter().zip(&config.providers) {
        let Some(hc_cfg) = &cfg.health_check else {
            continue;
        };
        let addr = format!("{}:{}", p.endpoint.host, p.endpoint.port);
        let addr = if p.endpoint.host.contains(':') {
            format!("[{}]:{}", p.endpoint.host, p.endpoint.port)
        } else {
            addr
        };
        let mut lb = match LoadBalancer::<RoundRobin>::try_from_iter([addr.as_str()]) {
            Ok(lb) => lb,
            Err(e) => {
                log::warn!(
                    "provider {}: no active health checks ({addr} does not resolve: {e})",
                    p.name
                );
                continue;
            }
        };
        let mut hc = HttpHealthCheck::new(&p.endpoint.host, p.endpoint.tls);
        match p.health_request(&hc_cfg.path) {
            Ok(req) => hc.req = req,
            Err(e) => {
                log::warn!("provider {}: no active health checks ({e})", p.name);
                continue;
            }
        }
        hc.consecutive_success = hc_cfg.healthy_after as usize;
        hc.consecutive_failure = hc_cfg.unhealthy_after as usize;
        hc.peer_template.options.connection_timeout =
            Some(Duration::from_millis(p.timeouts.connect_ms));
        hc.peer_template.options.read_timeout =
            Some(Duration::from_millis(p.timeouts.first_byte_ms.min(10_000)));
        hc.validator = Some(Box::new(|resp: &pingora::http::ResponseHeader| {
            if resp.status.is_success() {
                Ok(())
            } else {
                Err(pingora::Error::explain(
                    pingora::ErrorType::HTTPStatus(resp.status.as_u16()),
                    "health check",
                ))
            }
        }));
        lb.set_health_check(Box::new(hc));
        lb.health_check_frequency = Some(Duration::from_secs(hc_cfg.interval_s));
        let service = background_service(&format!("health check {}", p.name), lb);
        health.set_active(p.health_id(), service.task());
        services.push(service);
    }
    services
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::worker_address;
    use std::net::{SocketAddr, ToSocketAddrs};

    /// Each worker's address text is distinct (Pingora keys upgrade hand-over by it) and still
    /// names the same socket address.
    #[test]
    fn worker_addresses_differ_in_text_and_name_the_same_socket() {
        for addr in ["127.0.0.1:8080", "[::1]:8080", "0.0.0.0:443"] {
            let want: SocketAddr = addr.parse().unwrap();
            let texts: Vec<String> = (0..4).map(|w| worker_address(addr, w)).collect();
            assert_eq!(texts[0], addr);
            for (i, t) in texts.iter().enumerate() {
                assert!(texts[..i].iter().all(|o| o != t), "{texts:?}");
                let parsed: Vec<SocketAddr> = t.to_socket_addrs().unwrap().collect();
                assert_eq!(parsed, vec![want], "{t}");
            }
        }
    }
}
