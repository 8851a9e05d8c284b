//! A configuration loads the tokenizers its models count with before it serves, so that the
//! first requests after a start or a reload do not wait for one (tens of milliseconds, with
//! the worker thread blocked: load-tests/RESULTS.md, session 15).
//!
//! Its own test binary on purpose: the encodings are loaded once per process, and no other
//! test here may load one first.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use tollgate::snapshot::Snapshot;
use tollgate::usage::Encoding;

/// A snapshot of a configuration whose one model is served as `upstream_model`.
fn compile(upstream_model: &str) -> Snapshot {
    let yaml = format!(
        "providers:\n  - {{ name: up, type: openai_compatible, base_url: \"http://127.0.0.1:1/v1\", api_key: sk-test }}\n\
         models:\n  - name: chat\n    targets: [{{ provider: up, model: {upstream_model} }}]\n"
    );
    let loaded = tollgate::config::load_str(&yaml, &|_| None).unwrap();
    Snapshot::compile(&loaded.config, &HashMap::new()).unwrap()
}

#[test]
fn a_configuration_loads_its_models_tokenizers_and_only_those() {
    assert!(!Encoding::O200kBase.is_loaded());
    assert!(!Encoding::Cl100kBase.is_loaded());

    // Start: a gpt-4o model counts with o200k_base.
    let _start = compile("gpt-4o-mini");
    assert!(Encoding::O200kBase.is_loaded());
    assert!(
        !Encoding::Cl100kBase.is_loaded(),
        "an encoding no model uses is not loaded (it costs memory)"
    );

    // Reload: a model on another encoding loads it before the new snapshot serves.
    let _reloaded = compile("claude-sonnet-4-5");
    assert!(Encoding::Cl100kBase.is_loaded());
}
