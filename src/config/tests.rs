use super::*;

fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

fn errors(yaml: &str) -> Vec<String> {
    match load_str(yaml, &env(&[])) {
        Ok(_) => vec![],
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

const MINIMAL: &str = "providers:\n  - { name: local, type: mock }\nmodels:\n  - name: demo\n    targets: [{ provider: local, model: m }]\nkeys:\n  - { name: dev, key: tg-dev }\n";

#[test]
fn minimal_file_loads_with_defaults() {
    let loaded = load_str(MINIMAL, &env(&[])).unwrap();
    let c = loaded.config;
    assert_eq!(c.server.listen.addresses(), ["127.0.0.1:8080"]);
    assert_eq!(c.server.max_body_bytes, 16 * 1024 * 1024);
    assert_eq!(c.models[0].max_attempts, 3);
    assert_eq!(c.providers[0].timeouts.first_byte_ms, 60_000);
    assert_eq!(
        loaded.warnings.len(),
        1,
        "plaintext key warns: {:?}",
        loaded.warnings
    );
}

#[test]
fn env_expansion_with_defaults_and_types() {
    let yaml = "server:\n  threads: ${T:-4}\n  listen: [\"${HOST}:${PORT:-9000}\", 127.0.0.1:1]\n  admin_token: \"$${LITERAL}\"\n";
    let c = load_str(yaml, &env(&[("HOST", "0.0.0.0")])).unwrap().config;
    assert_eq!(c.server.threads, 4);
    assert_eq!(c.server.listen.addresses(), ["0.0.0.0:9000", "127.0.0.1:1"]);
    assert_eq!(c.server.admin_token.expose(), "${LITERAL}");
    let c = load_str(yaml, &env(&[("HOST", "::1"), ("T", "8"), ("PORT", "")])).unwrap_err();
    assert!(c[0].to_string().contains("server.listen[0]"), "{c:?}");
}

#[test]
fn a_variable_with_no_value_and_no_default_names_its_field() {
    let e = errors("providers:\n  - { name: o, type: openai, api_key: \"${OPENAI_KEY}\" }\n");
    assert_eq!(
        e,
        ["providers[0].api_key: environment variable OPENAI_KEY is not set and has no default"]
    );
}

#[test]
fn unknown_fields_and_wrong_types_name_their_path() {
    let e = errors("server:\n  listn: 1\n");
    assert!(
        e[0].starts_with("server") && e[0].contains("listn"),
        "{e:?}"
    );
    let e = errors("models:\n  - name: x\n    max_attempts: many\n    targets: []\n");
    assert!(e[0].starts_with("models[0].max_attempts"), "{e:?}");
    let e = errors("providers:\n  - { name: x, type: openia }\n");
    assert!(e[0].starts_with("providers[0].type"), "{e:?}");
    let e = errors("nonsense: 1\n");
    assert!(e[0].contains("nonsense"), "{e:?}");
}

#[test]
fn references_names_and_addresses_are_checked() {
    let yaml = "server: { listen: nowhere, threads: 0 }\nproviders:\n  - { name: a, type: mock }\n  - { name: a, type: openai_compatible }\nmodels:\n  - name: m\n    targets: [{ provider: b, model: x }]\n  - name: m\n    targets: []\nkeys:\n  - { name: k, key: x, key_sha256: abc }\n  - { name: j }\n";
    let e = errors(yaml);
    for expected in [
        "server.listen: \"nowhere\" is not an address",
        "server.threads: must be at least 1",
        "providers[1].name: duplicate provider name",
        "providers[1].base_url: required for provider type openai_compatible",
        "models[0].targets[0].provider: no provider named \"b\"",
        "models[1].name: duplicate model name",
        "models[1].targets: at least one target is required",
        "keys[0]: set key_sha256 or key, not both",
        "keys[1]: one of key_sha256 or key is required",
    ] {
        assert!(
            e.iter().any(|p| p.starts_with(expected)),
            "missing {expected:?} in {e:#?}"
        );
    }
}

#[test]
fn settings_of_capabilities_not_built_yet_are_refused_not_ignored() {
    let yaml = format!("{MINIMAL}budget_typo: 1\n");
    assert!(errors(&yaml)[0].contains("budget_typo"));
    let yaml = format!("{MINIMAL}prices: {{ m: {{ input: 1, output: -2 }}, n: {{ input: 1, output: 2, cahced: 1 }} }}\n");
    let e = errors(&yaml);
    assert!(
        e.iter()
            .any(|p| p.starts_with("prices") && p.contains("cahced")),
        "{e:?}"
    );
    let yaml = format!("{MINIMAL}prices: {{ m: {{ input: 1, output: -2 }} }}\n");
    assert_eq!(
        errors(&yaml),
        ["prices.m.output: must be a number of USD per 1M tokens, 0 or more"]
    );
    let yaml =
        format!("{MINIMAL}cache: {{ semantic: {{ embedding_model: embedz, threshold: 2 }} }}\n");
    assert_eq!(
        errors(&yaml),
        [
            "cache.semantic.threshold: must be a cosine similarity above 0 and at most 1",
            "cache.semantic.embedding_model: no model named \"embedz\""
        ]
    );
    let yaml = format!("{MINIMAL}audit: {{ path: '', buffer: 0 }}\n");
    assert_eq!(
        errors(&yaml),
        [
            "audit.path: must name a file, or - for standard output",
            "audit.buffer: must be at least 1"
        ]
    );
    let yaml = format!("{MINIMAL}keys_extra: 1\n");
    assert!(errors(&yaml)[0].contains("keys_extra"));
    let yaml = MINIMAL.replace("key: tg-dev }", "key: tg-dev, redaction: nosuch }");
    assert_eq!(
        errors(&yaml),
        ["keys[0].redaction: no redaction policy named \"nosuch\" (redaction.policies)"]
    );
}

#[test]
fn limits_budgets_teams_and_state_are_checked() {
    let yaml = MINIMAL.replace(
        "key: tg-dev }",
        "key: tg-dev, limits: { rpm: 0, window_s: 7200 }, budget: { usd: -1, period: daily } }",
    );
    assert_eq!(
        errors(&yaml),
        [
            "keys[0].limits.rpm: must be at least 1",
            "keys[0].limits.window_s: must be at most 3600",
            "keys[0].budget.usd: must be a number of USD, 0 or more",
        ]
    );
    let yaml =
        format!("{MINIMAL}teams:\n  - {{ name: a, budget: {{ usd: 5, period: fortnightly }} }}\n");
    assert!(errors(&yaml)[0].starts_with("teams[0].budget.period: unknown variant"));
    let yaml = format!("{MINIMAL}teams: [{{ name: a }}, {{ name: a }}]\nstate: {{ backend: redis, redis_url: 'http://:pw@x' }}\n");
    let e = errors(&yaml);
    assert_eq!(
        e,
        [
            "state.redis_url: not a Redis URL (redis://[:password@]host[:port][/db])",
            "teams[1].name: duplicate team name",
        ]
    );
    let yaml = format!("{MINIMAL}state: {{ backend: redis, redis_url: 'redis://127.0.0.1:1/0', on_error: fail_closed }}\ncache: {{ ttl_s: 60 }}\n");
    let c = load_str(&yaml, &env(&[])).unwrap().config;
    assert_eq!(c.state.on_error, crate::config::OnError::FailClosed);
    assert_eq!(
        c.cache.map(|c| (c.enabled, c.ttl_s, c.max_entries)),
        Some((true, 60, 10_000))
    );
}

#[test]
fn secrets_do_not_print() {
    let c = load_str(
        "providers:\n  - { name: o, type: openai, api_key: sk-very-secret }\n",
        &env(&[]),
    )
    .unwrap()
    .config;
    assert!(!format!("{c:?}").contains("sk-very-secret"));
}

#[test]
fn expand_str_edge_cases() {
    let e = env(&[("A", "1")]);
    assert_eq!(env::expand_str("x${A}y${B:-2}z$", &e).unwrap(), "x1y2z$");
    assert!(env::expand_str("${A", &e).is_err());
    assert!(env::expand_str("${}", &e).is_err());
    assert!(env::expand_str("${A-B}", &e).is_err());
}

#[test]
fn every_strategy_is_accepted_and_weighted_needs_weights() {
    for strategy in ["priority", "weighted", "latency", "cost"] {
        let yaml = MINIMAL.replace(
            "  - name: demo\n",
            &format!("  - name: demo\n    strategy: {strategy}\n"),
        );
        assert!(errors(&yaml).is_empty(), "{strategy}: {:?}", errors(&yaml));
    }
    let yaml = MINIMAL
        .replace(
            "  - name: demo\n",
            "  - name: demo\n    strategy: weighted\n",
        )
        .replace("model: m }", "model: m, weight: 0 }");
    assert_eq!(
        errors(&yaml),
        ["models[0].targets[0].weight: must be at least 1 for the weighted strategy"]
    );
    assert!(errors(&MINIMAL.replace(
        "  - name: demo\n",
        "  - name: demo\n    strategy: fastest\n"
    ))[0]
        .starts_with("models[0].strategy"));
}

#[test]
fn health_checks_are_typed_and_checked() {
    let with = |hc: &str| {
        MINIMAL.replace(
            "{ name: local, type: mock }",
            &format!("{{ name: local, type: mock, health_check: {hc} }}"),
        )
    };
    assert!(errors(&with("{ path: /v1/models }")).is_empty());
    let c = load_str(&with("{ path: /v1/models }"), &env(&[]))
        .unwrap()
        .config;
    let hc = c.providers[0].health_check.clone().unwrap();
    assert_eq!(
        (hc.interval_s, hc.unhealthy_after, hc.healthy_after),
        (15, 2, 1)
    );
    assert_eq!(
        errors(&with("{ path: v1, interval_s: 0 }")),
        [
            "providers[0].health_check.path: must start with /",
            "providers[0].health_check.interval_s: must be at least 1",
        ]
    );
    assert!(errors(&with("{ path: /x, every: 3 }"))[0].contains("every"));
}
