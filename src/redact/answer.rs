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
use crate::answer_view::OpenAiAnswer;
use crate::sse::view::Splice;
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
    let Some(mut text) = AnswerText::new(policy, placeholders) else {
        return Ok(false);
    };
    walk_answer(format, body, &mut |_, s, json| {
        text.in_place(s, json, counts)
    })
}

/// As [`redact_answer`], on an OpenAI answer read by `answer_view` from `body`: the changed
/// texts are spliced into `body`, the rest of it goes out as it came. `Ok(None)`: nothing
/// changed.
pub fn redact_openai_view(
    policy: &CompiledPolicy,
    body: &str,
    answer: &OpenAiAnswer<'_>,
    placeholders: &Placeholders,
    counts: &mut Counts,
) -> Result<Option<String>, Blocked> {
    let Some(mut text) = AnswerText::new(policy, placeholders) else {
        return Ok(None);
    };
    let mut splice = Splice::default();
    for t in &answer.texts {
        let new = if t.json {
            // Tool arguments: their string values, as the tree reading redacts them.
            let mut args = t.text.to_string();
            let mut visit = |_, s: &mut String, json| text.in_place(s, json, counts);
            arguments_mut(TextRole::Assistant, &mut args, &mut visit)?.then_some(args)
        } else {
            text.redact(&t.text, false, counts)?
        };
        if let Some(new) = new {
            splice.set(body, t.raw, &new);
        }
    }
    Ok((!splice.is_empty()).then(|| splice.apply(body)))
}

/// One answer text's redaction: the response side of the policy (when active), then the
/// request's placeholders put back.
struct AnswerText<'p> {
    policy: &'p CompiledPolicy,
    active: bool,
    placeholders: &'p Placeholders,
    /// Response-side actions never assign placeholders; this one stays empty.
    unused: Placeholders,
}

impl<'p> AnswerText<'p> {
    /// `None` when there is nothing to do to any text.
    fn new(policy: &'p CompiledPolicy, placeholders: &'p Placeholders) -> Option<Self> {
        let active = policy.is_active(Direction::Response);
        (active || !placeholders.is_empty()).then(|| AnswerText {
            policy,
            active,
            placeholders,
            unused: Placeholders::default(),
        })
    }

    /// The text `s` redacted and restored; `None` when it stays as it is.
    fn redact(
        &mut self,
        s: &str,
        json: bool,
        counts: &mut Counts,
    ) -> Result<Option<String>, Blocked> {
        let redacted = if self.active {
            self.policy
                .redact_mode(Direction::Response, s, json, &mut self.unused, counts)?
        } else {
            Cow::Borrowed(s)
        };
        let restored = if json {
            self.placeholders.restore_json(&redacted)
        } else {
            self.placeholders.restore(&redacted)
        };
        let restored = match restored {
            Cow::Owned(o) => Some(o),
            Cow::Borrowed(_) => None,
        };
        Ok(match (restored, redacted) {
            (Some(o), _) | (None, Cow::Owned(o)) => Some(o),
            (None, Cow::Borrowed(_)) => None,
        })
    }

    /// As `redact`, replacing `s`; `Ok(true)` when it changed.
    fn in_place(
        &mut self,
        s: &mut String,
        json: bool,
        counts: &mut Counts,
    ) -> Result<bool, Blocked> {
        let new = self.redact(s, json, counts)?;
        let changed = new.is_some();
        if let Some(new) = new {
            *s = new;
        }
        Ok(changed)
    }
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
