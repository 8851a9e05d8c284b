//! Requests: OpenAI Chat Completions -> Anthropic Messages and back.

use serde_json::{json, Map, Value};

use super::{str_at, DEFAULT_MAX_TOKENS};
use crate::translate::{openai_content_text, TranslateError};

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

// ---------------------------------------------------------------------------------------
// OpenAI -> Anthropic
// ---------------------------------------------------------------------------------------

/// One Anthropic message being assembled. A message keeps its plain string content until a
/// neighbour of the same role is merged into it.
struct Turn {
    role: &'static str,
    content: Content,
}

enum Content {
    Text(String),
    Blocks(Vec<Value>),
}

impl Content {
    fn into_blocks(self) -> Vec<Value> {
        match self {
            Content::Text(t) if t.is_empty() => Vec::new(),
            Content::Text(t) => vec![json!({"type": "text", "text": t})],
            Content::Blocks(b) => b,
        }
    }

    fn into_value(self) -> Value {
        match self {
            Content::Text(t) => Value::String(t),
            Content::Blocks(b) => Value::Array(b),
        }
    }
}

/// Append a message, merging it into the previous one when the role repeats: Anthropic
/// requires user and assistant turns to alternate.
fn push_turn(turns: &mut Vec<Turn>, role: &'static str, content: Content) {
    if let Some(last) = turns.last_mut() {
        if last.role == role {
            let prev = std::mem::replace(&mut last.content, Content::Blocks(Vec::new()));
            let mut blocks = prev.into_blocks();
            blocks.extend(content.into_blocks());
            last.content = Content::Blocks(blocks);
            return;
        }
    }
    turns.push(Turn { role, content });
}

/// An OpenAI image URL as an Anthropic image block: base64 data URLs inline, http(s) by URL.
fn image_block(url: &str) -> Result<Value, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| invalid("an image data URL has no ',' before its data"))?;
        let media_type = meta
            .strip_suffix(";base64")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                invalid("image data URLs must be data:<media type>;base64,<data> for Anthropic providers")
            })?;
        return Ok(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(invalid(
        "image_url must be an http(s) URL or a base64 data URL for Anthropic providers",
    ))
}

/// One OpenAI content part as an Anthropic block; `None` for an empty text part (Anthropic
/// refuses empty text blocks).
fn part_to_block(part: &Value, at: &str) -> Result<Option<Value>, TranslateError> {
    let kind = str_at(part, "type").unwrap_or("");
    match kind {
        "text" | "refusal" => {
            let text = str_at(part, kind)
                .ok_or_else(|| invalid(format!("{at}: a {kind} part has no {kind} string")))?;
            if text.is_empty() {
                return Ok(None);
            }
            Ok(Some(json!({"type": "text", "text": text})))
        }
        "image_url" => {
            let url = match part.get("image_url") {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(obj) => str_at(obj, "url"),
                None => None,
            }
            .ok_or_else(|| invalid(format!("{at}: an image_url part has no url")))?;
            image_block(url).map(Some)
        }
        other => Err(invalid(format!(
            "{at}: content part type {other:?} is not supported by Anthropic providers"
        ))),
    }
}

fn content_from_openai(content: Option<&Value>, at: &str) -> Result<Content, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(Content::Blocks(Vec::new())),
        Some(Value::String(s)) => Ok(Content::Text(s.clone())),
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                if let Some(b) = part_to_block(part, &format!("{at}.content[{i}]"))? {
                    blocks.push(b);
                }
            }
            Ok(Content::Blocks(blocks))
        }
        Some(_) => Err(invalid(format!(
            "{at}.content must be a string or an array of parts"
        ))),
    }
}

/// An assistant message: its text, then one `tool_use` block per tool call.
fn assistant_from_openai(msg: &Value, at: &str) -> Result<Option<Content>, TranslateError> {
    let content = content_from_openai(msg.get("content"), at)?;
    let calls = match msg.get("tool_calls") {
        None | Some(Value::Null) => return Ok(non_empty(content)),
        Some(Value::Array(calls)) if calls.is_empty() => return Ok(non_empty(content)),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(invalid(format!("{at}.tool_calls must be an array"))),
    };
    let mut blocks = content.into_blocks();
    for (i, call) in calls.iter().enumerate() {
        let at = format!("{at}.tool_calls[{i}]");
        let id = str_at(call, "id").ok_or_else(|| invalid(format!("{at}.id is missing")))?;
        let function = call.get("function");
        let name = function
            .and_then(|f| str_at(f, "name"))
            .ok_or_else(|| invalid(format!("{at}.function.name is missing")))?;
        let args = function.and_then(|f| str_at(f, "arguments")).unwrap_or("");
        let input = if args.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str::<Value>(args)
                .map_err(|e| invalid(format!("{at}.function.arguments is not valid JSON: {e}")))?
        };
        if !input.is_object() {
            return Err(invalid(format!(
                "{at}.function.arguments must be a JSON object for Anthropic providers"
            )));
        }
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(Some(Content::Blocks(blocks)))
}

/// `None` for content with nothing in it (an assistant turn Anthropic would refuse).
fn non_empty(content: Content) -> Option<Content> {
    match &content {
        Content::Text(t) if t.is_empty() => None,
        Content::Blocks(b) if b.is_empty() => None,
        _ => Some(content),
    }
}

fn tools_from_openai(tools: &[Value]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let kind = str_at(tool, "type").unwrap_or("function");
        if kind != "function" {
            return Err(invalid(format!(
                "tools[{i}]: tool type {kind:?} is not supported by Anthropic providers"
            )));
        }
        let function = tool
            .get("function")
            .ok_or_else(|| invalid(format!("tools[{i}].function is missing")))?;
        let name = str_at(function, "name")
            .ok_or_else(|| invalid(format!("tools[{i}].function.name is missing")))?;
        let mut t = Map::new();
        t.insert("name".into(), name.into());
        if let Some(d) = str_at(function, "description") {
            t.insert("description".into(), d.into());
        }
        let schema = match function.get("parameters") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(p) => p.clone(),
        };
        t.insert("input_schema".into(), schema);
        out.push(Value::Object(t));
    }
    Ok(out)
}

fn tool_choice_from_openai(choice: &Value) -> Result<Value, TranslateError> {
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(json!({"type": "auto"})),
            "required" => Ok(json!({"type": "any"})),
            "none" => Ok(json!({"type": "none"})),
            other => Err(invalid(format!("tool_choice {other:?} is not supported"))),
        },
        Value::Object(_) if str_at(choice, "type") == Some("function") => {
            let name = choice
                .get("function")
                .and_then(|f| str_at(f, "name"))
                .ok_or_else(|| invalid("tool_choice.function.name is missing"))?;
            Ok(json!({"type": "tool", "name": name}))
        }
        _ => Err(invalid(
            "tool_choice must be \"auto\", \"required\", \"none\" or a function for Anthropic providers",
        )),
    }
}

fn number_field(obj: &Map<String, Value>, key: &str) -> Result<Option<Value>, TranslateError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(_) => Err(invalid(format!("{key} must be a number"))),
    }
}

fn max_tokens_field(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, TranslateError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a non-negative integer"))),
    }
}

/// OpenAI chat request -> Anthropic Messages request.
pub fn request_from_openai(req: &Value, upstream_model: &str) -> Result<Value, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;

    // Refusals first: nothing else matters if the request cannot be expressed.
    if let Some(rf) = obj.get("response_format").filter(|v| !v.is_null()) {
        let kind = str_at(rf, "type").unwrap_or("");
        if kind != "text" {
            return Err(invalid(format!(
                "response_format {kind:?} is not supported by Anthropic providers"
            )));
        }
    }
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => {
            return Err(invalid(
                "n other than 1 is not supported by Anthropic providers",
            ))
        }
    }

    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages must be an array"))?;
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = str_at(msg, "role").ok_or_else(|| invalid(format!("{at}.role is missing")))?;
        match role {
            "system" | "developer" => {
                let text = match msg.get("content") {
                    Some(c @ (Value::String(_) | Value::Array(_))) => openai_content_text(c),
                    _ => return Err(invalid(format!("{at}.content must be text"))),
                };
                if !text.is_empty() {
                    system.push(text);
                }
            }
            "user" => push_turn(
                &mut turns,
                "user",
                content_from_openai(msg.get("content"), &at)?,
            ),
            "assistant" => {
                if let Some(content) = assistant_from_openai(msg, &at)? {
                    push_turn(&mut turns, "assistant", content);
                }
            }
            "tool" => {
                let id = str_at(msg, "tool_call_id")
                    .ok_or_else(|| invalid(format!("{at}.tool_call_id is missing")))?;
                let text = msg
                    .get("content")
                    .map(openai_content_text)
                    .unwrap_or_default();
                let block = json!({"type": "tool_result", "tool_use_id": id, "content": text});
                push_turn(&mut turns, "user", Content::Blocks(vec![block]));
            }
            other => {
                return Err(invalid(format!(
                    "{at}: role {other:?} is not supported by Anthropic providers"
                )))
            }
        }
    }
    if turns.is_empty() {
        return Err(invalid(
            "messages must contain at least one user or assistant message",
        ));
    }

    let mut out = Map::new();
    out.insert("model".into(), upstream_model.into());
    if !system.is_empty() {
        out.insert("system".into(), system.join("\n\n").into());
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|t| json!({"role": t.role, "content": t.content.into_value()}))
        .collect();
    out.insert("messages".into(), Value::Array(messages));

    let max_tokens = match max_tokens_field(obj, "max_completion_tokens")? {
        Some(n) => n,
        None => max_tokens_field(obj, "max_tokens")?.unwrap_or(DEFAULT_MAX_TOKENS),
    };
    out.insert("max_tokens".into(), max_tokens.into());
    for key in ["temperature", "top_p"] {
        if let Some(v) = number_field(obj, key)? {
            out.insert(key.into(), v);
        }
    }
    match obj.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            if !a.is_empty() {
                out.insert("stop_sequences".into(), Value::Array(a.clone()));
            }
        }
        Some(_) => return Err(invalid("stop must be a string or an array of strings")),
    }
    match obj.get("stream") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Bool(_)) => {
            out.insert("stream".into(), v.clone());
        }
        Some(_) => return Err(invalid("stream must be a boolean")),
    }
    if let Some(user) = obj.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }

    let tools = match obj.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(t)) => tools_from_openai(t)?,
        Some(_) => return Err(invalid("tools must be an array")),
    };
    let mut tool_choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(c) => Some(tool_choice_from_openai(c)?),
    };
    let no_parallel = obj.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false);
    if no_parallel && !tools.is_empty() {
        let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        // `{type: none}` takes no other field: with no tool calls there is nothing to limit.
        if str_at(choice, "type") != Some("none") {
            if let Some(c) = choice.as_object_mut() {
                c.insert("disable_parallel_tool_use".into(), true.into());
            }
        }
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(c) = tool_choice {
        out.insert("tool_choice".into(), c);
    }
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------------------------------
// Anthropic -> OpenAI
// ---------------------------------------------------------------------------------------

/// An Anthropic image block as an OpenAI `image_url` part.
fn image_part(block: &Value, at: &str) -> Result<Value, TranslateError> {
    let source = block
        .get("source")
        .ok_or_else(|| invalid(format!("{at}: an image block has no source")))?;
    let url = match str_at(source, "type") {
        Some("base64") => {
            let media_type = str_at(source, "media_type")
                .ok_or_else(|| invalid(format!("{at}.source.media_type is missing")))?;
            let data = str_at(source, "data")
                .ok_or_else(|| invalid(format!("{at}.source.data is missing")))?;
            format!("data:{media_type};base64,{data}")
        }
        Some("url") => str_at(source, "url")
            .ok_or_else(|| invalid(format!("{at}.source.url is missing")))?
            .to_string(),
        other => {
            return Err(invalid(format!(
                "{at}: image source type {other:?} is not supported by OpenAI providers"
            )))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn text_of(block: &Value, at: &str) -> Result<String, TranslateError> {
    str_at(block, "text")
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("{at}: a text block has no text")))
}

/// OpenAI content from parts: one text part becomes a plain string.
fn parts_content(parts: Vec<Value>) -> Value {
    if let [only] = parts.as_slice() {
        if str_at(only, "type") == Some("text") {
            if let Some(t) = only.get("text") {
                return t.clone();
            }
        }
    }
    Value::Array(parts)
}

fn tool_result_text(block: &Value, at: &str) -> Result<String, TranslateError> {
    match block.get("content") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(blocks)) => {
            let mut text = String::new();
            for (i, b) in blocks.iter().enumerate() {
                match str_at(b, "type") {
                    Some("text") => text.push_str(&text_of(b, &format!("{at}.content[{i}]"))?),
                    other => {
                        return Err(invalid(format!(
                            "{at}.content[{i}]: {other:?} blocks in a tool_result are not supported by OpenAI providers"
                        )))
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(invalid(format!(
            "{at}.content must be a string or an array"
        ))),
    }
}

/// A user message: one `tool` message per `tool_result` block, then the rest as one message.
fn user_to_openai(blocks: &[Value], at: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let mut parts = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{i}]");
        match str_at(block, "type") {
            Some("text") => parts.push(json!({"type": "text", "text": text_of(block, &at)?})),
            Some("image") => parts.push(image_part(block, &at)?),
            Some("tool_result") => {
                let id = str_at(block, "tool_use_id")
                    .ok_or_else(|| invalid(format!("{at}.tool_use_id is missing")))?;
                let text = tool_result_text(block, &at)?;
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            Some("thinking") | Some("redacted_thinking") => {}
            other => {
                return Err(invalid(format!(
                    "{at}: content block type {other:?} is not supported by OpenAI providers"
                )))
            }
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts_content(parts)}));
    }
    Ok(())
}

/// An assistant message: text parts, and `tool_use` blocks as `tool_calls`.
fn assistant_to_openai(blocks: &[Value], at: &str) -> Result<Value, TranslateError> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{i}]");
        match str_at(block, "type") {
            Some("text") => parts.push(json!({"type": "text", "text": text_of(block, &at)?})),
            Some("tool_use") => {
                let id =
                    str_at(block, "id").ok_or_else(|| invalid(format!("{at}.id is missing")))?;
                let name = str_at(block, "name")
                    .ok_or_else(|| invalid(format!("{at}.name is missing")))?;
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            Some("thinking") | Some("redacted_thinking") => {}
            other => {
                return Err(invalid(format!(
                    "{at}: content block type {other:?} is not supported by OpenAI providers"
                )))
            }
        }
    }
    let content = if parts.is_empty() {
        if calls.is_empty() {
            Value::String(String::new())
        } else {
            Value::Null
        }
    } else {
        parts_content(parts)
    };
    let mut msg = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        if let Some(m) = msg.as_object_mut() {
            m.insert("tool_calls".into(), Value::Array(calls));
        }
    }
    Ok(msg)
}

fn system_to_openai(system: &Value) -> Result<String, TranslateError> {
    match system {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                if str_at(b, "type") != Some("text") {
                    return Err(invalid(format!("system[{i}] must be a text block")));
                }
                texts.push(text_of(b, &format!("system[{i}]"))?);
            }
            Ok(texts.join("\n\n"))
        }
        _ => Err(invalid(
            "system must be a string or an array of text blocks",
        )),
    }
}

fn tools_to_openai(tools: &[Value]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        match str_at(tool, "type") {
            None | Some("custom") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "tools[{i}]: tool type {other:?} is not supported by OpenAI providers"
                )))
            }
        }
        let name =
            str_at(tool, "name").ok_or_else(|| invalid(format!("tools[{i}].name is missing")))?;
        let mut f = Map::new();
        f.insert("name".into(), name.into());
        if let Some(d) = str_at(tool, "description") {
            f.insert("description".into(), d.into());
        }
        let schema = tool
            .get("input_schema")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        f.insert("parameters".into(), schema);
        out.push(json!({"type": "function", "function": Value::Object(f)}));
    }
    Ok(out)
}

fn tool_choice_to_openai(choice: &Value) -> Result<Value, TranslateError> {
    match str_at(choice, "type") {
        Some("auto") => Ok("auto".into()),
        Some("any") => Ok("required".into()),
        Some("none") => Ok("none".into()),
        Some("tool") => {
            let name =
                str_at(choice, "name").ok_or_else(|| invalid("tool_choice.name is missing"))?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        other => Err(invalid(format!(
            "tool_choice type {other:?} is not supported"
        ))),
    }
}

/// Anthropic Messages request -> OpenAI chat request.
pub fn request_to_openai(req: &Value, upstream_model: &str) -> Result<Value, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages is required and must be an array"))?;
    let max_tokens = obj
        .get("max_tokens")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("max_tokens is required and must be a non-negative integer"))?;

    let mut out_msgs = Vec::with_capacity(messages.len() + 1);
    let system = obj
        .get("system")
        .map(system_to_openai)
        .transpose()?
        .unwrap_or_default();
    if !system.is_empty() {
        out_msgs.push(json!({"role": "system", "content": system}));
    }
    for (i, msg) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = str_at(msg, "role");
        match (role, msg.get("content")) {
            (Some(r @ ("user" | "assistant")), Some(Value::String(s))) => {
                out_msgs.push(json!({"role": r, "content": s}));
            }
            (Some("user"), Some(Value::Array(blocks))) => {
                user_to_openai(blocks, &at, &mut out_msgs)?
            }
            (Some("assistant"), Some(Value::Array(blocks))) => {
                out_msgs.push(assistant_to_openai(blocks, &at)?)
            }
            (Some("user" | "assistant"), _) => {
                return Err(invalid(format!(
                    "{at}.content must be a string or an array of blocks"
                )))
            }
            (other, _) => return Err(invalid(format!("{at}: role {other:?} is not supported"))),
        }
    }

    let mut out = Map::new();
    out.insert("model".into(), upstream_model.into());
    out.insert("messages".into(), Value::Array(out_msgs));
    out.insert("max_tokens".into(), max_tokens.into());
    for key in ["temperature", "top_p"] {
        if let Some(v) = number_field(obj, key)? {
            out.insert(key.into(), v);
        }
    }
    match obj.get("stop_sequences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            out.insert("stop".into(), Value::Array(a.clone()));
        }
        Some(_) => return Err(invalid("stop_sequences must be an array of strings")),
    }
    if obj.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), true.into());
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(user) = obj.get("metadata").and_then(|m| str_at(m, "user_id")) {
        out.insert("user".into(), user.into());
    }
    match obj.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(t)) => {
            if !t.is_empty() {
                out.insert("tools".into(), Value::Array(tools_to_openai(t)?));
            }
        }
        Some(_) => return Err(invalid("tools must be an array")),
    }
    if let Some(choice) = obj.get("tool_choice").filter(|c| !c.is_null()) {
        out.insert("tool_choice".into(), tool_choice_to_openai(choice)?);
        if choice
            .get("disable_parallel_tool_use")
            .and_then(Value::as_bool)
            == Some(true)
        {
            out.insert("parallel_tool_calls".into(), false.into());
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
