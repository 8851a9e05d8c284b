//! PII redaction and prompt-injection guardrails (issue 6): pure, compiled once per
//! configuration, no I/O.
//!
//! - `config`: the `redaction:` and `guardrails:` sections and their validation.
//! - `detect`, `validate`, `shape`: what a match is (patterns, checksums, the shape the stream
//!   redactor reasons about) and how overlapping matches are resolved.
//! - `policy`: actions, `CompiledPolicy::redact` (whole text), `Redactor` (policies by name).
//! - `placeholders`, `counts`: per-request state the caller keeps (placeholders to restore in
//!   the answer; counts for metrics and audit).
//! - `request`: request-side redaction of exactly the user and tool text of a body.
//! - `stream`, `sse_stream`, `answer`: the answer side, streamed (per text channel, per SSE
//!   event) or whole, each followed by placeholder restoring. `crate::sse::view` reads and
//!   splices the text fields of one event without a JSON tree.
//! - `guard`: the prompt-injection guardrail.
//!
//! Nothing here panics or allocates when there is nothing to redact.

pub mod answer;
pub mod config;
pub mod counts;
pub mod detect;
pub mod guard;
pub mod placeholders;
pub mod policy;
pub mod request;
mod shape;
pub mod sse_stream;
pub mod stream;
mod validate;

pub use answer::redact_answer;
pub use config::{
    guardrail_problems, problems, GuardAction, GuardrailsConfig, PolicyConfig,
    PromptInjectionConfig, RedactionConfig,
};
pub use counts::{CountEntry, Counts};
pub use detect::Entity;
pub use guard::InjectionGuard;
pub use placeholders::Placeholders;
pub use policy::{Action, Blocked, CompiledPolicy, Direction, Redactor};
pub use request::{redact_request, scan_text_fields, TextRole};
pub use sse_stream::{Outcome, Rewrite, SseRedactor, Stop};
pub use stream::{PlaceholderRestorer, StreamRedactor};

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod detect_tests;
#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod sse_tests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
pub(crate) mod test_support;
