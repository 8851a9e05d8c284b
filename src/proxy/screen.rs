//! Screening the request's content before a provider sees it: the prompt-injection guardrail
//! (on the text as the client sent it), then the key's redaction policy on the request side.
//! What the answer side needs (the policy, the placeholders to restore) stays in the request
//! context; counts go to `tollgate_redactions_total` when the request is logged.

use super::admission::ParsedRequest;
use super::context::{RequestCtx, Route};
use crate::error::GatewayError;
use crate::metrics::METRICS;
use crate::redact::{self, CompiledPolicy, Counts, Direction, GuardAction, Placeholders};
use crate::snapshot::Snapshot;
use bytes::Bytes;
use std::sync::Arc;

/// A request's redaction state, from screening to the end of its answer.
#[derive(Default)]
pub struct Redaction {
    /// The key's policy, when it has one.
    pub policy: Option<Arc<CompiledPolicy>>,
    /// Placeholders given to the request's values, restored in the answer.
    pub placeholders: Placeholders,
    /// Matches found in both directions (never the values).
    pub counts: Counts,
    /// The guardrail rule that fired, and whether it blocked (`false`: flagged).
    pub guardrail: Option<(&'static str, bool)>,
}

impl Redaction {
    /// Whether the answer must be looked at: a response-side action, or placeholders to
    /// restore.
    pub fn answer_active(&self) -> bool {
        self.policy
            .as_ref()
            .is_some_and(|p| p.is_active(Direction::Response))
            || !self.placeholders.is_empty()
    }
}

/// The rule label of the prompt-injection guardrail.
const PROMPT_INJECTION: &str = "prompt_injection";

/// Screen `request` in place: refuse it (403 `content_blocked`) or redact its text, so the
/// body forwarded is the redacted one.
pub fn request(
    snapshot: &Snapshot,
    ctx: &mut RequestCtx,
    request: &mut ParsedRequest,
) -> Result<(), GatewayError> {
    let format = ctx
        .admission
        .route
        .unwrap_or(Route::ChatCompletions)
        .format();
    if let Some((guard, action)) = &snapshot.injection_guard {
        if let Some(phrase) = guard.check_request(format, &request.json) {
            let blocked = *action == GuardAction::Block;
            ctx.redaction.guardrail = Some((PROMPT_INJECTION, blocked));
            if blocked {
                METRICS
                    .guardrail_blocks_total
                    .with_label_values(&[PROMPT_INJECTION])
                    .inc();
                log::info!(
                    "request {}: blocked by the prompt-injection guardrail ({phrase:?})",
                    ctx.request_id
                );
                return Err(GatewayError::ContentBlocked(
                    "the request was blocked by the prompt-injection guardrail".into(),
                ));
            }
            METRICS
                .guardrail_flags_total
                .with_label_values(&[PROMPT_INJECTION])
                .inc();
        }
    }
    let Some(policy) = ctx.admission.key.as_ref().and_then(|k| k.redaction.clone()) else {
        return Ok(());
    };
    let red = &mut ctx.redaction;
    red.policy = Some(policy.clone());
    let changed = redact::redact_request(
        &policy,
        format,
        &mut request.json,
        &mut red.placeholders,
        &mut red.counts,
    )
    .map_err(|b| {
        GatewayError::ContentBlocked(format!(
            "the request contains content the redaction policy blocks ({})",
            b.entity
        ))
    })?;
    if changed {
        // The provider gets the redacted body; the client's own bytes are dropped. About as
        // long as theirs: sized once rather than grown by doubling through a large prompt.
        let mut raw = Vec::with_capacity(request.raw.len() + request.raw.len() / 8);
        serde_json::to_writer(&mut raw, &request.json)
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        request.raw = Bytes::from(raw);
    }
    Ok(())
}

/// Count what redaction found, once, when the request is logged.
pub fn record(counts: &Counts) {
    for c in counts.iter() {
        METRICS
            .redactions_total
            .with_label_values(&[&c.entity, c.direction.as_str(), c.action.as_str()])
            .inc_by(u64::from(c.count));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::redact::{Action, PolicyConfig};

    fn policy(request: Action, response: Action) -> Arc<CompiledPolicy> {
        let mut cfg = PolicyConfig::default();
        cfg.request.email = request;
        cfg.response.email = response;
        Arc::new(CompiledPolicy::compile("p", &cfg, 128).unwrap())
    }

    #[test]
    fn an_answer_needs_looking_at_only_with_a_response_policy_or_placeholders() {
        assert!(!Redaction::default().answer_active());
        let mut r = Redaction {
            policy: Some(policy(Action::Placeholder, Action::Off)),
            ..Redaction::default()
        };
        assert!(
            !r.answer_active(),
            "a request-only policy leaves answers alone"
        );
        r.placeholders.assign("EMAIL", "a@b.example");
        assert!(r.answer_active(), "placeholders must be restored");
        let masked = Redaction {
            policy: Some(policy(Action::Off, Action::Mask)),
            ..Redaction::default()
        };
        assert!(masked.answer_active());
    }
}
