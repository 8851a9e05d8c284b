//! Redaction of a whole (non-streamed) answer in the client's format: response-side
//! redaction, then placeholder restoring, on the answer's text only.
//!
//! OpenAI: `choices[].message.content` (a string or text parts) and
//! `choices[].message.tool_calls[].function.arguments`. Anthropic: `content[]` text blocks
//! and `tool_use` input string values.

use super::counts::Counts;
use super::placeholders::Placeholders;
use super::policy::{Blocked, CompiledPolicy, Direction};
use super::request::{arguments_mut, content_mut, TextRole, VisitMut};
use crate::translate::ApiFormat;
use serde_json::Value;
use std::borrow::Cow;

/// Redacts and restores the answer `body` in place. `Ok(true)` when anything changed; `Err`
/// when a response-side `block` matched.
pub fn redact_answer(
    format: ApiFormat,
    policy: &CompiledPolicy,
    body: &mut Value,
    placeholders: &Placeholders,
    counts: &mut Counts,
) -> Result<bool, Blocked> {
    let active = policy.is_active(Direction::Response);
    if !active && placeholders.is_empty() {
        return Ok(false);
    }
    // Response-side actions never assign placeholders; this one stays empty.
    let mut unused = Placeholders::default();
    let mut visit = |_: TextRole, s: &mut String, json: bool| -> Result<bool, Blocked> {
        let redacted = if active {
            policy.redact_mode(Direction::Response, s, json, &mut unused, counts)?
        } else {
            Cow::Borrowed(s.as_str())
        };
        let restored = if json {
            placeholders.restore_json(&redacted)
        } else {
            placeholders.restore(&redacted)
        };
        let restored = match restored {
            Cow::Owned(o) => Some(o),
            Cow::Borrowed(_) => None,
        };
        let new = match (restored, redacted) {
            (Some(o), _) | (None, Cow::Owned(o)) => o,
            (None, Cow::Borrowed(_)) => return Ok(false),
        };
        *s = new;
        Ok(true)
    };
    walk_answer(format, body, &mut visit)
}

fn walk_answer(format: ApiFormat, body: &mut Value, f: &mut VisitMut<'_>) -> Result<bool, Blocked> {
    let mut changed = false;
    match format {
        ApiFormat::OpenAi => {
            let choices = body.get_mut("choices").and_then(Value::as_array_mut);
            for choice in choices.into_iter().flatten() {
                let Some(message) = choice.get_mut("message") else {
                    continue;
                };
                if let Some(c) = message.get_mut("content") {
                    changed |= content_mut(TextRole::Assistant, c, f)?;
                }
                let calls = message.get_mut("tool_calls").and_then(Value::as_array_mut);
                for call in calls.into_iter().flatten() {
                    if let Some(Value::String(a)) = call.pointer_mut("/function/arguments") {
                        changed |= arguments_mut(TextRole::Assistant, a, f)?;
                    }
                }
            }
        }
        ApiFormat::Anthropic => {
            if let Some(c) = body.get_mut("content") {
                changed |= content_mut(TextRole::Assistant, c, f)?;
            }
        }
        ApiFormat::Gemini => {}
    }
    Ok(changed)
}
