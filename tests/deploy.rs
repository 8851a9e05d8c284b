//! The deployment artefacts in deploy/ against what Tollgate really is: every YAML and JSON
//! file parses; the container and Kubernetes configurations are valid Tollgate
//! configurations (the real parser, validator and compiler); compose, Kubernetes, Prometheus
//! and Grafana use the ports, paths, environment variables, metric names and labels Tollgate
//! has; promtool checks and unit-tests the alert rules and parses every dashboard query; the
//! Docker HEALTHCHECK script is run against a live gateway.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use tollgate::config::{Backend, Config};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(rel: &str) -> PathBuf {
    root().join("deploy").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Yaml {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `v["a"]["b"]...`, failing with the path when something is missing.
fn at<'a>(v: &'a Yaml, path: &[&str]) -> &'a Yaml {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        cur = cur
            .get(*k)
            .unwrap_or_else(|| panic!("missing {}", path[..=i].join(".")));
    }
    cur
}

fn s(v: &Yaml) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn seq(v: &Yaml) -> &Vec<Yaml> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr:?}"))
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap()
}

/// "40s", "1m30s", "2m".
fn seconds(d: &str) -> u64 {
    let (mut total, mut num) = (0, String::new());
    for c in d.chars() {
        match c {
            '0'..='9' => num.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = num.parse().unwrap_or_else(|_| panic!("bad duration {d:?}"));
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                num.clear();
            }
            _ => panic!("bad duration {d:?}"),
        }
    }
    assert!(num.is_empty(), "bad duration {d:?}");
    total
}

// --- Tollgate's configuration --------------------------------------------------------------

/// `${VAR}` and `${VAR:-default}` in a configuration text: name to "has a default".
fn config_vars(text: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let end = rest[i..].find('}').expect("closing brace") + i;
        let inner = &rest[i + 2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, _)) => (n, true),
            None => (inner, false),
        };
        let entry = out.entry(name.to_string()).or_insert(default);
        *entry = *entry && default;
        rest = &rest[end + 1..];
    }
    out
}

/// Load, validate and compile a configuration with `env` as the environment.
fn load_config(what: &str, text: &str, env: &HashMap<String, String>) -> Config {
    let loaded = tollgate::config::load_str(text, &|name| env.get(name).cloned()).unwrap_or_else(
        |problems| {
            panic!(
                "{what} is not a valid Tollgate configuration:\n{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        },
    );
    let mocks: HashMap<String, std::net::SocketAddr> = loaded
        .config
        .providers
        .iter()
        .map(|p| (p.name.clone(), "127.0.0.1:1".parse().unwrap()))
        .collect();
    if let Err(e) = tollgate::snapshot::Snapshot::compile(&loaded.config, &mocks) {
        panic!("{what} does not compile: {e}");
    }
    loaded.config
}

/// The providers a configuration would enable.
fn enabled_providers(config: &Config) -> Vec<String> {
    let mocks: HashMap<String, std::net::SocketAddr> = config
        .providers
        .iter()
        .map(|p| (p.name.clone(), "127.0.0.1:1".parse().unwrap()))
        .collect();
    let snapshot = tollgate::snapshot::Snapshot::compile(config, &mocks).unwrap();
    snapshot
        .providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.name.clone())
        .collect()
}

struct Ports {
    api: u16,
    admin: u16,
    metrics: u16,
}

/// A container's configuration: every listener on all interfaces; its ports.
fn container_ports(what: &str, config: &Config) -> Ports {
    let api = config.server.listen.addresses();
    assert_eq!(api.len(), 1, "{what}: one API address");
    for addr in [
        api[0],
        &config.server.admin_listen,
        &config.server.metrics_listen,
    ] {
        assert!(
            ["0.0.0.0", "[::]"].contains(&host_of(addr)),
            "{what}: {addr} must listen on all interfaces in a container"
        );
    }
    Ports {
        api: port_of(api[0]),
        admin: port_of(&config.server.admin_listen),
        metrics: port_of(&config.server.metrics_listen),
    }
}

fn parent_dir(path: &str) -> &str {
    Path::new(path).parent().and_then(Path::to_str).unwrap()
}

fn docker_config_text() -> String {
    read(&deploy("docker/tollgate.yaml"))
}

// --- compose -------------------------------------------------------------------------------

fn compose() -> Yaml {
    yaml(&deploy("docker-compose.yaml"))
}

fn service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
    at(compose, &["services", name])
}

/// "HOST:CONTAINER[:ro]" volume entries: container path to host path.
fn volumes(svc: &Yaml) -> BTreeMap<String, String> {
    seq(at(svc, &["volumes"]))
        .iter()
        .map(|v| {
            let parts: Vec<&str> = s(v).split(':').collect();
            assert!(parts.len() >= 2, "volume {v:?}");
            (parts[1].to_string(), parts[0].to_string())
        })
        .collect()
}

/// Compose interpolation of an environment value: `${X:-d}` is `d` (the shell has no X).
fn compose_value(v: &str) -> String {
    match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(inner) => inner.split_once(":-").map_or("", |(_, d)| d).to_string(),
        None => v.to_string(),
    }
}

fn compose_env(svc: &Yaml) -> HashMap<String, String> {
    at(svc, &["environment"])
        .as_mapping()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| (s(k).to_string(), compose_value(s(v))))
        .collect()
}

#[test]
fn container_config_is_valid_and_compose_matches_it() {
    let text = docker_config_text();
    let compose = compose();
    let gw = service(&compose, "tollgate");
    let env = compose_env(gw);

    // Every variable the file needs is passed in; everything passed in is used.
    let vars = config_vars(&text);
    for (name, has_default) in &vars {
        assert!(
            *has_default || env.contains_key(name),
            "deploy/docker/tollgate.yaml needs ${{{name}}}: set it in the compose environment"
        );
    }
    for name in env.keys() {
        assert!(
            vars.contains_key(name),
            "compose sets {name}, which the configuration does not use"
        );
    }

    let config = load_config("deploy/docker/tollgate.yaml", &text, &env);
    let ports = container_ports("deploy/docker/tollgate.yaml", &config);
    assert!(
        !enabled_providers(&config).is_empty(),
        "with no provider keys, the container must still be ready (the mock provider)"
    );
    // With provider keys, the real providers are enabled too.
    let mut with_keys = env.clone();
    for k in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"] {
        with_keys.insert(k.into(), "sk-test".into());
    }
    let enabled = enabled_providers(&load_config("with keys", &text, &with_keys));
    for p in ["openai", "anthropic", "gemini"] {
        assert!(
            enabled.contains(&p.to_string()),
            "{p} not enabled by its key"
        );
    }

    // Redis: the compose service, on Redis's port.
    assert_eq!(config.state.backend, Backend::Redis);
    let url = config.state.redis_url.expose();
    let hostport = url
        .strip_prefix("redis://")
        .and_then(|r| r.split('/').next())
        .expect("redis:// URL");
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    service(&compose, host);
    assert_eq!(port, "6379");
    let redis_cmd: Vec<&str> = seq(at(service(&compose, host), &["command"]))
        .iter()
        .map(s)
        .collect();
    assert!(
        !redis_cmd.contains(&"--port"),
        "redis listens on its default port"
    );

    // The configuration file is mounted where the command reads it.
    let command: Vec<&str> = seq(at(gw, &["command"])).iter().map(s).collect();
    assert_eq!(command[..2], ["run", "-c"]);
    let mounts = volumes(gw);
    let host_file = mounts
        .get(command[2])
        .unwrap_or_else(|| panic!("{} is not mounted", command[2]));
    assert_eq!(
        deploy(host_file).canonicalize().unwrap(),
        deploy("docker/tollgate.yaml").canonicalize().unwrap()
    );

    // Every listener is published on its port.
    let published: BTreeSet<u16> = seq(at(gw, &["ports"]))
        .iter()
        .map(|p| {
            p.as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(
        published,
        BTreeSet::from([ports.api, ports.admin, ports.metrics])
    );

    // The audit log on a volume; pid file and upgrade socket on a tmpfs (read-only root).
    let audit = config.audit.as_ref().expect("audit section");
    assert!(audit.path.starts_with('/'), "absolute audit path");
    assert!(
        mounts.contains_key(parent_dir(&audit.path)),
        "the audit directory {} is a volume",
        parent_dir(&audit.path)
    );
    assert_eq!(at(gw, &["read_only"]).as_bool(), Some(true));
    let tmpfs: Vec<&str> = seq(at(gw, &["tmpfs"])).iter().map(s).collect();
    for f in [&config.server.pid_file, &config.server.upgrade_sock] {
        assert!(
            tmpfs.contains(&parent_dir(f)),
            "{f} is on the read-only root"
        );
    }

    // docker compose stop waits longer than the drain.
    let stop = seconds(s(at(gw, &["stop_grace_period"])));
    assert!(
        stop > config.server.grace_period_s,
        "stop_grace_period {stop}s must exceed grace_period_s {}",
        config.server.grace_period_s
    );

    // The image is built from deploy/Dockerfile with the repository as context.
    let context = deploy(s(at(gw, &["build", "context"])));
    assert_eq!(
        context.canonicalize().unwrap(),
        root().canonicalize().unwrap()
    );
    assert!(context.join(s(at(gw, &["build", "dockerfile"]))).is_file());
}

#[test]
fn prometheus_scrapes_the_metrics_listener() {
    let compose = compose();
    let config = load_config(
        "deploy/docker/tollgate.yaml",
        &docker_config_text(),
        &compose_env(service(&compose, "tollgate")),
    );
    let metrics_port = port_of(&config.server.metrics_listen);

    let prom = yaml(&deploy("prometheus/prometheus.yml"));
    let jobs = seq(at(&prom, &["scrape_configs"]));
    let job = jobs
        .iter()
        .find(|j| s(at(j, &["job_name"])) == "tollgate")
        .expect("a tollgate scrape job");
    let path = job.get("metrics_path").map_or("/metrics", s);
    assert_eq!(path, "/metrics");
    let targets: Vec<&str> = seq(at(job, &["static_configs"]))
        .iter()
        .flat_map(|c| seq(at(c, &["targets"])).iter().map(s))
        .collect();
    assert!(!targets.is_empty());
    for t in targets {
        let (host, port) = t.rsplit_once(':').unwrap();
        service(&compose, host);
        assert_eq!(port.parse::<u16>().unwrap(), metrics_port, "target {t}");
    }

    // TollgateDown names this job.
    assert!(read(&deploy("prometheus/alerts.yml")).contains("up{job=\"tollgate\"}"));

    // The rule file is next to the configuration, and mounted next to it.
    let rules: Vec<&str> = seq(at(&prom, &["rule_files"])).iter().map(s).collect();
    assert_eq!(rules, ["alerts.yml"]);
    let p = service(&compose, "prometheus");
    let mounts = volumes(p);
    let cmd: Vec<&str> = seq(at(p, &["command"])).iter().map(s).collect();
    let conf_in_container = cmd
        .iter()
        .find_map(|a| a.strip_prefix("--config.file="))
        .expect("--config.file");
    for (file, host) in [
        (conf_in_container.to_string(), "./prometheus/prometheus.yml"),
        (
            format!("{}/alerts.yml", parent_dir(conf_in_container)),
            "./prometheus/alerts.yml",
        ),
    ] {
        assert_eq!(mounts.get(&file).map(String::as_str), Some(host), "{file}");
    }
}

#[test]
fn grafana_provisioning_points_at_prometheus_and_the_dashboard() {
    let compose = compose();
    let g = service(&compose, "grafana");
    let mounts = volumes(g);
    let mounted = |container: &str| -> PathBuf {
        deploy(
            mounts
                .get(container)
                .unwrap_or_else(|| panic!("{container} is not mounted")),
        )
    };

    let ds_dir = mounted("/etc/grafana/provisioning/datasources");
    let ds = yaml(&ds_dir.join("prometheus.yaml"));
    let sources = seq(at(&ds, &["datasources"]));
    assert_eq!(sources.len(), 1);
    assert_eq!(s(at(&sources[0], &["type"])), "prometheus");
    let url = s(at(&sources[0], &["url"]));
    let hostport = url.strip_prefix("http://").unwrap();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    let prom = service(&compose, host);
    assert_eq!(port, "9090");
    let prom_args: Vec<&str> = seq(at(prom, &["command"])).iter().map(s).collect();
    assert!(!prom_args
        .iter()
        .any(|a| a.starts_with("--web.listen-address")));

    let dash_prov = yaml(&mounted("/etc/grafana/provisioning/dashboards").join("tollgate.yaml"));
    let providers = seq(at(&dash_prov, &["providers"]));
    let path = s(at(&providers[0], &["options", "path"]));
    let dash_dir = mounted(path);
    assert!(dash_dir.join("tollgate.json").is_file());
    let home = compose_env(g)
        .get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
        .cloned()
        .unwrap();
    assert_eq!(home, format!("{path}/tollgate.json"));
}

// --- Dockerfile ------------------------------------------------------------------------------

/// The instructions of each stage: (KEYWORD, arguments), continuations joined.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = read(&deploy("Dockerfile"));
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && logical.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(t);
        let (kw, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((&logical, ""));
        let kw = kw.to_uppercase();
        if kw == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("FROM first")
            .push((kw, args.trim().to_string()));
        logical.clear();
    }
    stages
}

fn instruction<'a>(stage: &'a [(String, String)], kw: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(k, _)| k == kw)
        .map(|(_, a)| a.as_str())
        .collect()
}

fn words(args: &str) -> Vec<&str> {
    args.split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect()
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_checks_health() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "multi-stage");
    assert!(instruction(&stages[0], "FROM")[0].starts_with("rust:1-bookworm "));
    let runtime = stages.last().unwrap();
    assert_eq!(instruction(runtime, "FROM"), ["debian:bookworm-slim"]);

    // Non-root, by number (Kubernetes' runAsNonRoot checks that), the same as the pods'.
    let user = instruction(runtime, "USER");
    assert_eq!(user.len(), 1, "one USER in the runtime stage");
    let uid: u32 = user[0]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric USER");
    assert_ne!(uid, 0);
    let deployment = k8s_object("Deployment");
    let pod_security = at(
        &deployment,
        &["spec", "template", "spec", "securityContext"],
    );
    assert_eq!(
        at(pod_security, &["runAsUser"]).as_u64(),
        Some(u64::from(uid))
    );
    assert!(instruction(runtime, "RUN")
        .iter()
        .any(|r| r.contains(&format!("--uid {uid}"))));

    // What is copied from the context exists and is let through the .dockerignore.
    let ignore = read(&deploy("Dockerfile.dockerignore"));
    let allowed: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    assert!(ignore.lines().any(|l| l.trim() == "*"));
    let mut copied: HashMap<String, String> = HashMap::new();
    for stage in &stages {
        for args in instruction(stage, "COPY") {
            if args.contains("--from=") {
                continue;
            }
            let w = words(args);
            let (dest, sources) = w.split_last().unwrap();
            for src in sources {
                let src = src.trim_end_matches('/');
                assert!(root().join(src).exists(), "COPY {src}: no such file");
                assert!(
                    allowed.contains(&src),
                    "COPY {src}: excluded by the .dockerignore"
                );
                copied.insert(dest.to_string(), src.to_string());
            }
        }
    }

    // The image's own configuration: conf/tollgate.yaml with the listeners from ENV.
    let mut env = HashMap::new();
    for args in instruction(runtime, "ENV") {
        for pair in args.split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV K=V");
            env.insert(k.to_string(), v.to_string());
        }
    }
    let default_conf = copied
        .iter()
        .find(|(dest, _)| dest.ends_with("tollgate.yaml"))
        .map(|(_, src)| root().join(src))
        .expect("a default configuration in the image");
    let image_config = load_config("the image's configuration", &read(&default_conf), &env);
    let image_ports = container_ports("the image's configuration", &image_config);

    let compose = compose();
    let docker_config = load_config(
        "deploy/docker/tollgate.yaml",
        &docker_config_text(),
        &compose_env(service(&compose, "tollgate")),
    );
    let ports = container_ports("deploy/docker/tollgate.yaml", &docker_config);
    let exposed: BTreeSet<u16> = instruction(runtime, "EXPOSE")
        .iter()
        .flat_map(|a| a.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
        .collect();
    for p in [&image_ports, &ports] {
        assert_eq!(
            exposed,
            BTreeSet::from([p.api, p.admin, p.metrics]),
            "EXPOSE"
        );
    }

    // HEALTHCHECK: the script from deploy/docker, on the admin port, /healthz.
    let hc = instruction(runtime, "HEALTHCHECK");
    assert_eq!(hc.len(), 1, "one HEALTHCHECK");
    let cmd: Vec<String> =
        serde_json::from_str(hc[0].split_once("CMD").expect("HEALTHCHECK CMD").1.trim())
            .expect("exec form");
    assert_eq!(
        copied.get(&cmd[0]).map(String::as_str),
        Some("deploy/docker/healthcheck.sh")
    );
    assert_eq!(cmd[1].parse::<u16>().unwrap(), image_ports.admin);
    assert_eq!(cmd[1].parse::<u16>().unwrap(), ports.admin);
    assert_eq!(cmd[2], "/healthz");

    // Started as `tollgate run -c FILE`, FILE being where the configuration is.
    let entry: Vec<String> =
        serde_json::from_str(instruction(runtime, "ENTRYPOINT")[0]).expect("exec form");
    let bin_copy = instruction(runtime, "COPY")
        .into_iter()
        .find(|a| a.contains("--from=build"))
        .expect("the binary from the build stage");
    assert_eq!(words(bin_copy).last().copied(), Some(entry[0].as_str()));
    let run: Vec<String> = serde_json::from_str(instruction(runtime, "CMD")[0]).unwrap();
    assert_eq!(run[..2], ["run", "-c"]);
    assert!(copied.contains_key(&run[2]));
    assert_eq!(instruction(runtime, "STOPSIGNAL"), ["SIGTERM"]);
}

/// The HEALTHCHECK script against a real gateway: healthy on 200, unhealthy otherwise.
#[tokio::test]
async fn healthcheck_script_probes_the_admin_listener() {
    let gw = common::Gateway::start(
        "providers:\n  - { name: local, type: mock }\nmodels:\n  - { name: demo, targets: [{ provider: local, model: mock-1 }] }\nkeys:\n  - { name: k, key: tg-k }\n",
    )
    .await;
    let script = deploy("docker/healthcheck.sh");
    let probe = |port: u16, path: &str| -> bool {
        Command::new(&script)
            .args([port.to_string().as_str(), path])
            .status()
            .expect("run deploy/docker/healthcheck.sh (executable, bash)")
            .success()
    };
    let admin = gw.admin.port();
    assert!(probe(admin, "/healthz"));
    assert!(probe(admin, "/readyz"));
    assert!(!probe(admin, "/no-such-path"), "404 is unhealthy");
    assert!(!probe(common::dead_addr().port(), "/healthz"), "refused");
}

// --- Kubernetes ------------------------------------------------------------------------------

fn k8s_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

fn k8s_objects() -> Vec<(PathBuf, Yaml)> {
    let mut out = Vec::new();
    for f in k8s_files() {
        let text = read(&f);
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v = <Yaml as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !v.is_null() {
                out.push((f.clone(), v));
            }
        }
    }
    out
}

fn k8s_object(kind: &str) -> Yaml {
    let found: Vec<Yaml> = k8s_objects()
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| v.get("kind").and_then(Yaml::as_str) == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found.into_iter().next().unwrap()
}

fn string_map(v: &Yaml) -> HashMap<String, String> {
    v.as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (s(k).to_string(), s(v).to_string()))
        .collect()
}

fn labels_match(selector: &Yaml, labels: &Yaml) {
    let want = string_map(at(selector, &["matchLabels"]));
    let have = string_map(labels);
    for (k, v) in &want {
        assert_eq!(have.get(k), Some(v), "selector {k}={v} matches the pods");
    }
}

/// The ConfigMap's tollgate.yaml, loaded with the Secret's values as the environment.
fn k8s_config(secret_values: &HashMap<String, String>) -> Config {
    let cm = k8s_object("ConfigMap");
    let text = s(at(&cm, &["data", "tollgate.yaml"]));
    load_config("the ConfigMap's tollgate.yaml", text, secret_values)
}

fn secret_values() -> HashMap<String, String> {
    let secret = k8s_object("Secret");
    string_map(at(&secret, &["stringData"]))
}

#[test]
fn kubernetes_manifests_match_the_configuration() {
    // Every file parses, has the basics, and is in the kustomization.
    let objects = k8s_objects();
    let mut kinds = BTreeSet::new();
    for (f, v) in &objects {
        for k in ["apiVersion", "kind"] {
            assert!(v.get(k).is_some(), "{}: no {k}", f.display());
        }
        if s(at(v, &["kind"])) != "Kustomization" {
            at(v, &["metadata", "name"]);
        }
        kinds.insert(s(at(v, &["kind"])).to_string());
    }
    for k in [
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Kustomization",
    ] {
        assert!(kinds.contains(k), "no {k}");
    }
    let kustomization = k8s_object("Kustomization");
    let listed: BTreeSet<String> = seq(at(&kustomization, &["resources"]))
        .iter()
        .map(|r| s(r).to_string())
        .collect();
    let files: BTreeSet<String> = k8s_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .filter(|n| n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, files, "kustomization resources");

    // The configuration and the Secret: every variable it needs is a key of the Secret,
    // every key of the Secret is used.
    let cm = k8s_object("ConfigMap");
    let text = s(at(&cm, &["data", "tollgate.yaml"]));
    let secret = k8s_object("Secret");
    let values = secret_values();
    let vars = config_vars(text);
    for (name, has_default) in &vars {
        assert!(
            *has_default || values.contains_key(name),
            "the ConfigMap needs ${{{name}}}: add it to the Secret"
        );
    }
    for name in values.keys() {
        assert!(vars.contains_key(name), "Secret key {name} is not used");
    }
    let config = k8s_config(&values);
    let ports = container_ports("the ConfigMap's tollgate.yaml", &config);
    // With a provider key filled in, that provider serves (and /readyz is 200).
    let mut filled = values.clone();
    filled.insert("OPENAI_API_KEY".into(), "sk-test".into());
    assert_eq!(enabled_providers(&k8s_config(&filled)), ["openai"]);

    // The Deployment.
    let dep = k8s_object("Deployment");
    let pod = at(&dep, &["spec", "template"]);
    labels_match(
        at(&dep, &["spec", "selector"]),
        at(pod, &["metadata", "labels"]),
    );
    let spec = at(pod, &["spec"]);
    let containers = seq(at(spec, &["containers"]));
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let named: HashMap<String, u64> = seq(at(c, &["ports"]))
        .iter()
        .map(|p| {
            (
                s(at(p, &["name"])).to_string(),
                at(p, &["containerPort"]).as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(named.get("http"), Some(&u64::from(ports.api)));
    assert_eq!(named.get("admin"), Some(&u64::from(ports.admin)));
    assert_eq!(named.get("metrics"), Some(&u64::from(ports.metrics)));
    let resolve = |port: &Yaml| -> u64 {
        port.as_u64()
            .or_else(|| named.get(s(port)).copied())
            .unwrap_or_else(|| panic!("no container port {port:?}"))
    };

    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = at(c, &[probe, "httpGet"]);
        assert_eq!(s(at(get, &["path"])), path, "{probe}");
        assert_eq!(
            resolve(at(get, &["port"])),
            u64::from(ports.admin),
            "{probe}"
        );
    }

    // Shutdown: preStop sleep, then SIGTERM and the drain, all inside the grace period.
    let pre_stop: Vec<&str> = seq(at(c, &["lifecycle", "preStop", "exec", "command"]))
        .iter()
        .map(s)
        .collect();
    assert_eq!(pre_stop.len(), 2);
    assert_eq!(pre_stop[0], "sleep");
    let sleep: u64 = pre_stop[1].parse().unwrap();
    assert!((3..=30).contains(&sleep), "preStop sleeps a few seconds");
    let termination = at(spec, &["terminationGracePeriodSeconds"])
        .as_u64()
        .unwrap();
    assert!(
        termination > sleep + config.server.grace_period_s,
        "terminationGracePeriodSeconds {termination} must exceed preStop {sleep} + grace_period_s {}",
        config.server.grace_period_s
    );
    assert!(termination > config.server.grace_period_s);

    // Configuration from the ConfigMap, where the args read it; secrets from the Secret.
    let args: Vec<&str> = seq(at(c, &["args"])).iter().map(s).collect();
    assert_eq!(args[..2], ["run", "-c"]);
    let volumes: HashMap<&str, &Yaml> = seq(at(spec, &["volumes"]))
        .iter()
        .map(|v| (s(at(v, &["name"])), v))
        .collect();
    let mounts: HashMap<&str, &str> = seq(at(c, &["volumeMounts"]))
        .iter()
        .map(|m| (s(at(m, &["mountPath"])), s(at(m, &["name"]))))
        .collect();
    let config_dir = parent_dir(args[2]);
    let config_volume = volumes[mounts
        .get(config_dir)
        .unwrap_or_else(|| panic!("{config_dir} is not mounted"))];
    assert_eq!(
        s(at(config_volume, &["configMap", "name"])),
        s(at(&cm, &["metadata", "name"]))
    );
    assert!(
        seq(at(c, &["volumeMounts"]))
            .iter()
            .all(|m| m.get("subPath").is_none()),
        "no subPath: ConfigMap updates must reach the file for watch_config"
    );
    let key = Path::new(args[2]).file_name().unwrap().to_str().unwrap();
    assert!(at(&cm, &["data"]).get(key).is_some());
    let env_from = seq(at(c, &["envFrom"]));
    assert_eq!(
        s(at(&env_from[0], &["secretRef", "name"])),
        s(at(&secret, &["metadata", "name"]))
    );

    // Read-only root: the pid file and upgrade socket are on a mounted volume; the audit log
    // goes to standard output or a mounted volume.
    assert_eq!(
        at(c, &["securityContext", "readOnlyRootFilesystem"]).as_bool(),
        Some(true)
    );
    for f in [&config.server.pid_file, &config.server.upgrade_sock] {
        assert!(
            mounts.contains_key(parent_dir(f)),
            "{f} is on the read-only root"
        );
    }
    if let Some(audit) = &config.audit {
        assert!(audit.path == "-" || mounts.contains_key(parent_dir(&audit.path)));
    }
    assert_eq!(
        at(spec, &["securityContext", "runAsNonRoot"]).as_bool(),
        Some(true)
    );

    // Prometheus annotations on the metrics listener.
    let ann = string_map(at(pod, &["metadata", "annotations"]));
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], ports.metrics.to_string());
    assert_eq!(ann["prometheus.io/path"], "/metrics");

    // The Service: the pods, the API and metrics ports; never the admin listener.
    let svc = k8s_object("Service");
    let selector = string_map(at(&svc, &["spec", "selector"]));
    let pod_labels = string_map(at(pod, &["metadata", "labels"]));
    for (k, v) in &selector {
        assert_eq!(pod_labels.get(k), Some(v), "Service selector");
    }
    let targets: BTreeSet<u64> = seq(at(&svc, &["spec", "ports"]))
        .iter()
        .map(|p| resolve(at(p, &["targetPort"])))
        .collect();
    assert!(targets.contains(&u64::from(ports.api)));
    assert!(!targets.contains(&u64::from(ports.admin)));

    // The autoscaler: more than one pod needs the shared Redis state; CPU requests to scale on.
    let hpa = k8s_object("HorizontalPodAutoscaler");
    assert_eq!(
        s(at(&hpa, &["spec", "scaleTargetRef", "kind"])),
        "Deployment"
    );
    assert_eq!(
        s(at(&hpa, &["spec", "scaleTargetRef", "name"])),
        s(at(&dep, &["metadata", "name"]))
    );
    let min = at(&hpa, &["spec", "minReplicas"]).as_u64().unwrap();
    let max = at(&hpa, &["spec", "maxReplicas"]).as_u64().unwrap();
    assert!(min >= 2 && max >= min);
    assert_eq!(
        config.state.backend,
        Backend::Redis,
        "several replicas need state.backend: redis"
    );
    at(c, &["resources", "requests", "cpu"]);
    assert!(
        at(&dep, &["spec"]).get("replicas").is_none(),
        "the HPA owns replicas"
    );

    // The disruption budget covers the pods.
    let pdb = k8s_object("PodDisruptionBudget");
    labels_match(
        at(&pdb, &["spec", "selector"]),
        at(pod, &["metadata", "labels"]),
    );
    assert!(at(&pdb, &["spec"]).get("maxUnavailable").is_some());
}

// --- metrics: alert rules and dashboard -------------------------------------------------------

/// Every series name Tollgate exposes (histograms as `_bucket`, `_sum`, `_count`), with its
/// label names: from each metric's description, so that label sets with no series yet count.
fn tollgate_series() -> HashMap<String, BTreeSet<String>> {
    use prometheus::core::Collector;
    use prometheus::proto::MetricType;
    tollgate::metrics::init();
    let m = &tollgate::metrics::METRICS;
    let all: [&dyn Collector; 18] = [
        &m.requests_total,
        &m.request_duration_seconds,
        &m.time_to_first_token_seconds,
        &m.overhead_seconds,
        &m.tokens_total,
        &m.cost_usd_total,
        &m.unpriced_requests_total,
        &m.failovers_total,
        &m.provider_up,
        &m.budget_remaining_usd,
        &m.ratelimited_total,
        &m.cache_requests_total,
        &m.state_backend_errors_total,
        &m.redactions_total,
        &m.guardrail_blocks_total,
        &m.guardrail_flags_total,
        &m.config_reloads_total,
        &m.audit_dropped_total,
    ];
    let mut out = HashMap::new();
    for c in all {
        let desc = c.desc()[0];
        let labels: BTreeSet<String> = desc.variable_labels.iter().cloned().collect();
        let families = c.collect();
        if families[0].get_field_type() == MetricType::HISTOGRAM {
            let mut with_le = labels.clone();
            with_le.insert("le".into());
            out.insert(format!("{}_bucket", desc.fq_name), with_le);
            out.insert(format!("{}_sum", desc.fq_name), labels.clone());
            out.insert(format!("{}_count", desc.fq_name), labels);
        } else {
            out.insert(desc.fq_name.clone(), labels);
        }
    }
    // Families registered since this list was written, as far as the registry serves them
    // (it leaves out label sets with no series yet).
    for family in m.registry.gather() {
        let labels: BTreeSet<String> = family
            .get_metric()
            .first()
            .map(|x| {
                x.get_label()
                    .iter()
                    .map(|l| l.get_name().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let name = family.get_name();
        if family.get_field_type() == MetricType::HISTOGRAM {
            let mut with_le = labels.clone();
            with_le.insert("le".into());
            out.entry(format!("{name}_bucket")).or_insert(with_le);
            out.entry(format!("{name}_sum")).or_insert(labels.clone());
            out.entry(format!("{name}_count")).or_insert(labels);
        } else {
            out.entry(name.to_string()).or_insert(labels);
        }
    }
    out
}

/// Labels every scraped series also has.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];
/// Metrics Prometheus itself makes, allowed in expressions.
const PROMETHEUS_SERIES: [&str; 1] = ["up"];
/// PromQL keywords and aggregation operators: not series names.
const KEYWORDS: &str = "by without on ignoring group_left group_right and or unless offset bool \
    sum min max avg count group stddev stdvar topk bottomk quantile count_values atan2";
const GROUPING: &str = "by without on ignoring group_left group_right";

/// What an expression uses: series (with the label names of their matchers) and the label
/// names of `by`, `on`, ... clauses.
#[derive(Default, Debug)]
struct Uses {
    series: Vec<(String, Vec<String>)>,
    grouping: Vec<String>,
}

fn promql_uses(expr: &str) -> Uses {
    let chars: Vec<char> = expr.chars().collect();
    let mut uses = Uses::default();
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    let read_ident = |mut j: usize| {
        let start = j;
        while j < chars.len() && ident_char(chars[j]) {
            j += 1;
        }
        (chars[start..j].iter().collect::<String>(), j)
    };
    // A "..." or '...' string starting at j; the index after it.
    let skip_string = |mut j: usize| {
        let q = chars[j];
        j += 1;
        while j < chars.len() && chars[j] != q {
            if chars[j] == '\\' {
                j += 1;
            }
            j += 1;
        }
        j + 1
    };
    // Label names of a `{name op "value", ...}` matcher list starting at the brace.
    let matchers = |mut j: usize| {
        let mut names = Vec::new();
        j += 1;
        loop {
            j = skip_ws(j);
            match chars.get(j) {
                Some('}') => return (names, j + 1),
                Some(',') => j += 1,
                Some(c) if ident_start(*c) => {
                    let (name, k) = read_ident(j);
                    names.push(name);
                    j = skip_ws(k);
                    while j < chars.len() && "=!~".contains(chars[j]) {
                        j += 1;
                    }
                    j = skip_string(skip_ws(j));
                }
                other => panic!("unexpected {other:?} in matchers of {expr}"),
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i = skip_string(i);
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if ident_start(c) {
            let (name, j) = read_ident(i);
            let next = skip_ws(j);
            let is_grouping = GROUPING.split_whitespace().any(|k| k == name);
            if is_grouping && chars.get(next) == Some(&'(') {
                let close = next + chars[next..].iter().position(|&c| c == ')').unwrap();
                let list: String = chars[next + 1..close].iter().collect();
                uses.grouping.extend(
                    list.split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
                i = close + 1;
            } else if KEYWORDS.split_whitespace().any(|k| k == name)
                || chars.get(next) == Some(&'(')
            {
                i = j;
            } else {
                let (labels, after) = if chars.get(next) == Some(&'{') {
                    matchers(next)
                } else {
                    (Vec::new(), j)
                };
                uses.series.push((name, labels));
                i = after;
            }
        } else {
            i += 1;
        }
    }
    uses
}

/// Checks an expression's series and labels against Tollgate's; returns the series.
fn check_expr(
    what: &str,
    expr: &str,
    known: &HashMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let uses = promql_uses(expr);
    assert!(!uses.series.is_empty(), "{what}: no series in {expr}");
    let mut all_labels: BTreeSet<String> = TARGET_LABELS.iter().map(|l| l.to_string()).collect();
    let mut names = BTreeSet::new();
    for (series, matchers) in &uses.series {
        if PROMETHEUS_SERIES.contains(&series.as_str()) {
            continue;
        }
        let labels = known.get(series).unwrap_or_else(|| {
            panic!("{what}: {series} is not a series Tollgate exposes (in {expr})")
        });
        for l in matchers {
            assert!(
                labels.contains(l) || TARGET_LABELS.contains(&l.as_str()),
                "{what}: {series} has no label {l}"
            );
        }
        all_labels.extend(labels.iter().cloned());
        names.insert(series.clone());
    }
    for l in &uses.grouping {
        assert!(
            all_labels.contains(l),
            "{what}: groups by {l}, a label none of its series has ({expr})"
        );
    }
    names
}

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool: {e}; it is installed by scripts/test.sh (scripts/setup.sh promtool)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {}:\n{text}", args.join(" "));
    text
}

#[test]
fn promtool_checks_and_tests_the_rules_and_the_prometheus_config() {
    let dir = deploy("prometheus");
    promtool(&["check", "rules", "alerts.yml"], &dir);
    promtool(&["test", "rules", "alerts_test.yml"], &dir);
    promtool(&["check", "config", "prometheus.yml"], &dir);
}

#[test]
fn alert_rules_use_tollgate_metrics() {
    let known = tollgate_series();
    let rules = yaml(&deploy("prometheus/alerts.yml"));
    let mut alerts = BTreeMap::new();
    for group in seq(at(&rules, &["groups"])) {
        for rule in seq(at(group, &["rules"])) {
            let name = s(at(rule, &["alert"])).to_string();
            let expr = s(at(rule, &["expr"]));
            let used = check_expr(&name, expr, &known);
            let sev = s(at(rule, &["labels", "severity"]));
            assert!(["warning", "critical"].contains(&sev), "{name}: severity");
            for a in ["summary", "description"] {
                at(rule, &["annotations", a]);
            }
            alerts.insert(name, used);
        }
    }
    // What the alerts must cover, by the metric that tells.
    for (topic, metric) in [
        ("provider down", "tollgate_provider_up"),
        ("error ratio", "tollgate_requests_total"),
        ("p99 latency", "tollgate_time_to_first_token_seconds_bucket"),
        ("budget nearly spent", "tollgate_budget_remaining_usd"),
        ("reload failed", "tollgate_config_reloads_total"),
        ("audit records dropped", "tollgate_audit_dropped_total"),
    ] {
        assert!(
            alerts.values().any(|m| m.contains(metric)),
            "no alert for {topic} ({metric})"
        );
    }
    // The unit tests exercise every alert.
    let tests = read(&deploy("prometheus/alerts_test.yml"));
    for name in alerts.keys() {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name} has no test in alerts_test.yml"
        );
    }
}

/// Grafana's variables replaced by values PromQL accepts.
fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$job", ".*")
        .replace("$model", ".*")
        .replace("$team", ".*")
}

fn walk_panels<'a>(panels: &'a [Json], out: &mut Vec<&'a Json>) {
    for p in panels {
        out.push(p);
        if let Some(inner) = p.get("panels").and_then(Json::as_array) {
            walk_panels(inner, out);
        }
    }
}

#[test]
fn dashboard_queries_use_tollgate_metrics_and_parse() {
    let known = tollgate_series();
    let text = read(&deploy("grafana/dashboards/tollgate.json"));
    let dash: Json = serde_json::from_str(&text).expect("dashboard JSON");
    assert_eq!(dash["uid"], "tollgate");
    let mut panels = Vec::new();
    walk_panels(dash["panels"].as_array().expect("panels"), &mut panels);

    // Variables: a Prometheus data source picker, queries over Tollgate's labels.
    let vars = dash["templating"]["list"].as_array().unwrap();
    let ds_var = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a data source variable");
    assert_eq!(ds_var["query"], "prometheus");
    let ds_ref = format!("${{{}}}", ds_var["name"].as_str().unwrap());
    let var_names: BTreeSet<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let q = v["query"].as_str().unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .expect("label_values(series, label)");
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let used = check_expr("a variable", &grafana_to_promql(selector), &known);
        let series = used.iter().next().unwrap();
        assert!(
            known[series].contains(label.trim()) || TARGET_LABELS.contains(&label.trim()),
            "variable {}: {series} has no label {label}",
            v["name"]
        );
    }

    let mut exprs = Vec::new();
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    let mut cells: Vec<(i64, i64, i64, i64, String)> = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("").to_string();
        assert!(ids.insert(p["id"].as_i64().unwrap()), "duplicate panel id");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(x >= 0 && w > 0 && x + w <= 24, "{title}: inside 24 columns");
        for (ox, oy, ow, oh, other) in &cells {
            let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
            assert!(!overlap, "panels {title:?} and {other:?} overlap");
        }
        cells.push((x, y, w, h, title.clone()));
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"],
            ds_ref.as_str(),
            "{title}: data source"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            for var in expr.split('$').skip(1) {
                let name: String = var
                    .trim_start_matches('{')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    name.starts_with("__") || var_names.contains(name.as_str()),
                    "{title}: unknown variable ${name}"
                );
            }
            let promql = grafana_to_promql(expr);
            used.extend(check_expr(&title, &promql, &known));
            // The legend names labels the query keeps.
            let grouping = promql_uses(&promql).grouping;
            let legend = t["legendFormat"].as_str().unwrap_or("");
            for part in legend.split("{{").skip(1) {
                let label = part.split("}}").next().unwrap().trim();
                assert!(
                    grouping.iter().any(|g| g == label),
                    "{title}: legend {{{{{label}}}}} is not a label of the result"
                );
            }
            exprs.push((title.clone(), promql));
        }
    }

    // What the dashboard must show.
    for (topic, series) in [
        ("requests and errors", "tollgate_requests_total"),
        ("latency", "tollgate_request_duration_seconds_bucket"),
        (
            "time to first token",
            "tollgate_time_to_first_token_seconds_bucket",
        ),
        ("tokens", "tollgate_tokens_total"),
        ("spend", "tollgate_cost_usd_total"),
        ("provider health", "tollgate_provider_up"),
        ("failovers", "tollgate_failovers_total"),
        ("cache hit ratio", "tollgate_cache_requests_total"),
        ("redactions", "tollgate_redactions_total"),
    ] {
        assert!(
            used.contains(series),
            "the dashboard shows no {topic} ({series})"
        );
    }
    let tokens_by_team = exprs
        .iter()
        .any(|(_, e)| e.contains("tollgate_tokens_total") && e.contains("by (team"));
    let spend_by_team = exprs
        .iter()
        .any(|(_, e)| e.contains("tollgate_cost_usd_total") && e.contains("by (team"));
    assert!(tokens_by_team && spend_by_team, "tokens and spend per team");
    for q in ["0.5", "0.99"] {
        assert!(
            exprs
                .iter()
                .any(|(_, e)| e.contains(&format!("histogram_quantile({q}, "))
                    && e.contains("tollgate_time_to_first_token_seconds_bucket")),
            "time to first token p{q}"
        );
    }

    // Every query parses: promtool checks them as recording rules.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      # {title}\n      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.yml"), rules).unwrap();
    promtool(&["check", "rules", "dashboard.yml"], dir.path());
}

#[test]
fn every_yaml_and_json_file_in_deploy_parses() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("deploy"), &mut files);
    let mut n = 0;
    for f in files {
        match f.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => {
                for doc in serde_yaml::Deserializer::from_str(&read(&f)) {
                    <Yaml as serde::Deserialize>::deserialize(doc)
                        .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                }
                n += 1;
            }
            Some("json") => {
                serde_json::from_str::<Json>(&read(&f))
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                n += 1;
            }
            _ => {}
        }
    }
    assert!(n >= 14, "only {n} YAML and JSON files");
}

/// The systemd unit's sandbox, and a stop timeout longer than the default drain.
#[test]
fn systemd_unit_is_hardened() {
    let unit = read(&deploy("tollgate.service"));
    let service: Vec<(&str, &str)> = unit
        .split("\n[")
        .find(|section| section.starts_with("Service]"))
        .expect("[Service]")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    let value = |k: &str| {
        service
            .iter()
            .filter(|(key, _)| *key == k)
            .map(|(_, v)| *v)
            .collect::<Vec<_>>()
    };
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert!(value(k).contains(&v), "[Service] {k}={v}");
    }
    let stop: u64 = value("TimeoutStopSec")[0].parse().unwrap();
    assert!(
        stop > 30,
        "TimeoutStopSec beyond the default grace_period_s"
    );
}
