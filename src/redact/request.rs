//! Which fields of a request body are user or tool text, and the request-side redaction of
//! exactly those: model names, tool names, ids, image and document data are never touched.
//!
//! OpenAI (chat): `messages[].content` (a string, or the `text` of `{type: text}` parts),
//! for every role, and `messages[].tool_calls[].function.arguments` (and the legacy
//! `function_call.arguments`). OpenAI (embeddings): `input`, a string or an array of strings;
//! token arrays are left alone. Anthropic: `system` (a string or text blocks), and
//! `messages[].content` (a string or blocks: `text`; `tool_result` content, a string or text
//! blocks; `tool_use.input` string values, recursively). Gemini: `contents[].parts[].text`
//! and `systemInstruction.parts[].text`.
//!
//! Tool-call arguments are JSON text: they are parsed and their string values redacted, then
//! written back (only when something changed); arguments that do not parse are redacted as
//! the inside of a JSON string.

use super::counts::Counts;
use super::placeholders::Placeholders;
use super::policy::{Blocked, CompiledPolicy, Direction};
use crate::translate::ApiFormat;
use serde_json::Value;
use std::borrow::Cow;

/// Whose text a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRole {
    System,
    User,
    Assistant,
    Tool,
}

impl TextRole {
    fn of(role: Option<&str>) -> TextRole {
        match role {
            Some("system") | Some("developer") => TextRole::System,
            Some("assistant") | Some("model") => TextRole::Assistant,
            Some("tool") | Some("function") => TextRole::Tool,
            _ => TextRole::User,
        }
    }
}

/// A visitor of text fields: (role, text, is the inside of a JSON string) -> changed it.
pub(crate) type VisitMut<'a> = dyn FnMut(TextRole, &mut String, bool) -> Result<bool, Blocked> + 'a;

/// Redacts the user and tool text of `body` (the client's request, in `format`) with the
/// policy's request side. `Ok(true)` when anything changed. `Err` when a `block` matched.
pub fn redact_request(
    policy: &CompiledPolicy,
    format: ApiFormat,
    body: &mut Value,
    placeholders: &mut Placeholders,
    counts: &mut Counts,
) -> Result<bool, Blocked> {
    if !policy.is_active(Direction::Request) {
        return Ok(false);
    }
    let mut visit = |_: TextRole, s: &mut String, json: bool| -> Result<bool, Blocked> {
        let redacted =
            match policy.redact_mode(Direction::Request, s, json, placeholders, counts)? {
                Cow::Owned(o) => o,
                Cow::Borrowed(_) => return Ok(false),
            };
        *s = redacted;
        Ok(true)
    };
    walk_mut(format, body, &mut visit)
}

/// Calls `f` with every text field of a request `body` and its role, in order, until `f`
/// returns `false`. Tool-call arguments are visited string value by string value.
pub fn scan_text_fields(
    format: ApiFormat,
    body: &Value,
    f: &mut dyn FnMut(TextRole, &str) -> bool,
) {
    let _ = walk(format, body, f);
}

fn walk_mut(format: ApiFormat, body: &mut Value, f: &mut VisitMut<'_>) -> Result<bool, Blocked> {
    let mut changed = false;
    match format {
        ApiFormat::OpenAi => {
            let messages = body.get_mut("messages").and_then(Value::as_array_mut);
            for m in messages.into_iter().flatten() {
                let role = TextRole::of(m.get("role").and_then(Value::as_str));
                if let Some(c) = m.get_mut("content") {
                    changed |= content_mut(role, c, f)?;
                }
                let calls = m.get_mut("tool_calls").and_then(Value::as_array_mut);
                for call in calls.into_iter().flatten() {
                    if let Some(Value::String(a)) = call.pointer_mut("/function/arguments") {
                        changed |= arguments_mut(role, a, f)?;
                    }
                }
                if let Some(Value::String(a)) = m.pointer_mut("/function_call/arguments") {
                    changed |= arguments_mut(role, a, f)?;
                }
            }
            match body.get_mut("input") {
                Some(Value::String(s)) => changed |= f(TextRole::User, s, false)?,
                Some(Value::Array(items)) => {
                    for item in items {
                        if let Value::String(s) = item {
                            changed |= f(TextRole::User, s, false)?;
                        }
                    }
                }
                _ => {}
            }
        }
        ApiFormat::Anthropic => {
            if let Some(system) = body.get_mut("system") {
                changed |= content_mut(TextRole::System, system, f)?;
            }
            let messages = body.get_mut("messages").and_then(Value::as_array_mut);
            for m in messages.into_iter().flatten() {
                let role = TextRole::of(m.get("role").and_then(Value::as_str));
                if let Some(c) = m.get_mut("content") {
                    changed |= content_mut(role, c, f)?;
                }
            }
        }
        ApiFormat::Gemini => {
            if let Some(parts) = body.pointer_mut("/systemInstruction/parts") {
                changed |= content_mut(TextRole::System, parts, f)?;
            }
            let contents = body.get_mut("contents").and_then(Value::as_array_mut);
            for c in contents.into_iter().flatten() {
                let role = TextRole::of(c.get("role").and_then(Value::as_str));
                if let Some(parts) = c.get_mut("parts") {
                    changed |= content_mut(role, parts, f)?;
                }
            }
        }
    }
    Ok(changed)
}

/// A message content: a string, or an array of blocks of which `text` ones (and Gemini parts
/// with a `text`), Anthropic `tool_result` content and `tool_use` input are text.
pub(crate) fn content_mut(
    role: TextRole,
    content: &mut Value,
    f: &mut VisitMut<'_>,
) -> Result<bool, Blocked> {
    let blocks = match content {
        Value::String(s) => return f(role, s, false),
        Value::Array(blocks) => blocks,
        _ => return Ok(false),
    };
    let mut changed = false;
    for block in blocks {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("text");
        match kind {
            "text" => {
                if let Some(Value::String(t)) = block.get_mut("text") {
                    changed |= f(role, t, false)?;
                }
            }
            "tool_result" => {
                if let Some(c) = block.get_mut("content") {
                    changed |= content_mut(TextRole::Tool, c, f)?;
                }
            }
            "tool_use" | "server_tool_use" => {
                if let Some(input) = block.get_mut("input") {
                    changed |= values_mut(role, input, f)?;
                }
            }
            _ => {}
        }
    }
    Ok(changed)
}

/// Tool-call arguments (JSON text): string values redacted, or the raw text when it is not
/// JSON.
pub(crate) fn arguments_mut(
    role: TextRole,
    args: &mut String,
    f: &mut VisitMut<'_>,
) -> Result<bool, Blocked> {
    match serde_json::from_str::<Value>(args) {
        Ok(mut v) => {
            let changed = values_mut(role, &mut v, f)?;
            if changed {
                *args = v.to_string();
            }
            Ok(changed)
        }
        Err(_) => f(role, args, true),
    }
}

/// Every string value inside `v`, recursively (object keys untouched).
pub(crate) fn values_mut(
    role: TextRole,
    v: &mut Value,
    f: &mut VisitMut<'_>,
) -> Result<bool, Blocked> {
    let mut changed = false;
    match v {
        Value::String(s) => changed |= f(role, s, false)?,
        Value::Array(items) => {
            for item in items {
                changed |= values_mut(role, item, f)?;
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                changed |= values_mut(role, item, f)?;
            }
        }
        _ => {}
    }
    Ok(changed)
}

/// The read-only twin of `walk_mut` (same fields); `None` once `f` asked to stop.
fn walk(format: ApiFormat, body: &Value, f: &mut dyn FnMut(TextRole, &str) -> bool) -> Option<()> {
    match format {
        ApiFormat::OpenAi => {
            let messages = body.get("messages").and_then(Value::as_array);
            for m in messages.into_iter().flatten() {
                let role = TextRole::of(m.get("role").and_then(Value::as_str));
                if let Some(c) = m.get("content") {
                    content(role, c, f)?;
                }
                let calls = m.get("tool_calls").and_then(Value::as_array);
                let args = calls
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.pointer("/function/arguments"))
                    .chain(m.pointer("/function_call/arguments"));
                for a in args.filter_map(Value::as_str) {
                    match serde_json::from_str::<Value>(a) {
                        Ok(v) => values(role, &v, f)?,
                        Err(_) => visit(role, a, f)?,
                    }
                }
            }
            match body.get("input") {
                Some(Value::String(s)) => visit(TextRole::User, s, f)?,
                Some(Value::Array(items)) => {
                    for s in items.iter().filter_map(Value::as_str) {
                        visit(TextRole::User, s, f)?;
                    }
                }
                _ => {}
            }
        }
        ApiFormat::Anthropic => {
            if let Some(system) = body.get("system") {
                content(TextRole::System, system, f)?;
            }
            let messages = body.get("messages").and_then(Value::as_array);
            for m in messages.into_iter().flatten() {
                let role = TextRole::of(m.get("role").and_then(Value::as_str));
                if let Some(c) = m.get("content") {
                    content(role, c, f)?;
                }
            }
        }
        ApiFormat::Gemini => {
            if let Some(parts) = body.pointer("/systemInstruction/parts") {
                content(TextRole::System, parts, f)?;
            }
            let contents = body.get("contents").and_then(Value::as_array);
            for c in contents.into_iter().flatten() {
                let role = TextRole::of(c.get("role").and_then(Value::as_str));
                if let Some(parts) = c.get("parts") {
                    content(role, parts, f)?;
                }
            }
        }
    }
    Some(())
}

fn visit(role: TextRole, s: &str, f: &mut dyn FnMut(TextRole, &str) -> bool) -> Option<()> {
    f(role, s).then_some(())
}

fn content(role: TextRole, c: &Value, f: &mut dyn FnMut(TextRole, &str) -> bool) -> Option<()> {
    let blocks = match c {
        Value::String(s) => return visit(role, s, f),
        Value::Array(blocks) => blocks,
        _ => return Some(()),
    };
    for block in blocks {
        match block.get("type").and_then(Value::as_str).unwrap_or("text") {
            "text" => {
                if let Some(t) = block.get("text").and_then(Value::as_str) {
                    visit(role, t, f)?;
                }
            }
            "tool_result" => {
                if let Some(c) = block.get("content") {
                    content(TextRole::Tool, c, f)?;
                }
            }
            "tool_use" | "server_tool_use" => {
                if let Some(input) = block.get("input") {
                    values(role, input, f)?;
                }
            }
            _ => {}
        }
    }
    Some(())
}

fn values(role: TextRole, v: &Value, f: &mut dyn FnMut(TextRole, &str) -> bool) -> Option<()> {
    match v {
        Value::String(s) => visit(role, s, f)?,
        Value::Array(items) => {
            for item in items {
                values(role, item, f)?;
            }
        }
        Value::Object(map) => {
            for item in map.values() {
                values(role, item, f)?;
            }
        }
        _ => {}
    }
    Some(())
}
