//! Helpers shared by the benches (each bench is its own crate and includes this module).

use std::sync::Arc;
use tollgate::redact::{CompiledPolicy, RedactionConfig, Redactor};

/// The policy `default` of a `redaction` section given as YAML; a bench that cannot build
/// its input stops with a message.
pub fn default_policy(yaml: &str) -> Arc<CompiledPolicy> {
    let cfg: RedactionConfig = match serde_yaml::from_str(yaml) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench config: {e}");
            std::process::exit(1);
        }
    };
    match Redactor::compile(&cfg).map(|r| r.policy("default").cloned()) {
        Ok(Some(p)) => p,
        _ => {
            eprintln!("bench config does not compile");
            std::process::exit(1);
        }
    }
}
