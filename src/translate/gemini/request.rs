//! OpenAI Chat Completions request -> Gemini `generateContent` body (the model goes in the
//! URL, not the body).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::translate::TranslateError;

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// Translate an OpenAI chat request into a Gemini `generateContent` body.
///
/// `Err(Invalid)` when the request cannot be expressed for Gemini: a malformed message, an
/// unknown content part, a tool result whose call is not in the conversation, unparsable
/// tool-call arguments, or a parameter of the wrong type.
pub fn request_from_openai(req: &Value) -> Result<Value, TranslateError> {
    let req = req
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    for legacy in ["functions", "function_call"] {
        if req.get(legacy).is_some_and(|v| !v.is_null()) {
            return Err(invalid(format!(
                "`{legacy}` is not supported for Gemini providers; use `tools` and `tool_choice`"
            )));
        }
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;

    let mut out = Map::new();
    let (system, contents) = convert_messages(messages)?;
    if contents.is_empty() {
        return Err(invalid(
            "Gemini needs at least one user or assistant message with content",
        ));
    }
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system.join("\n\n")}]}),
        );
    }
    if let Some(tools) = convert_tools(req.get("tools"))? {
        out.insert("tools".into(), tools);
    }
    if let Some(choice) = convert_tool_choice(req.get("tool_choice"))? {
        out.insert(
            "toolConfig".into(),
            json!({ "functionCallingConfig": choice }),
        );
    }
    let config = generation_config(req)?;
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(out))
}

/// Messages -> (system texts, Gemini contents with consecutive same-role contents merged).
fn convert_messages(messages: &[Value]) -> Result<(Vec<String>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    // (role, parts) in order; merged when the role repeats.
    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // tool_call_id -> function name, from the assistant messages seen so far.
    let mut call_names: HashMap<String, String> = HashMap::new();

    for (i, msg) in messages.iter().enumerate() {
        let role = msg
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("messages[{i}] has no `role`")))?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        let (gemini_role, parts) = match role {
            "system" | "developer" => {
                let text = system_text(content, i)?;
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            "user" => ("user", content_parts(content, i)?),
            "assistant" => {
                let mut parts = content_parts(content, i)?;
                parts.extend(tool_call_parts(msg, i, &mut call_names)?);
                ("model", parts)
            }
            "tool" => ("user", vec![tool_result_part(msg, i, &call_names)?]),
            other => {
                return Err(invalid(format!(
                    "messages[{i}]: role `{other}` is not supported for Gemini providers"
                )))
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((last_role, last_parts)) if *last_role == gemini_role => last_parts.extend(parts),
            _ => contents.push((gemini_role, parts)),
        }
    }
    let contents = contents
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok((system, contents))
}

/// A system or developer message's text: a string, or an array of `text` parts joined.
fn system_text(content: &Value, i: usize) -> Result<String, TranslateError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(part_text(part, i)?),
                    _ => {
                        return Err(invalid(format!(
                            "messages[{i}]: a system message may only contain text parts"
                        )))
                    }
                }
            }
            Ok(text)
        }
        _ => Err(invalid(format!(
            "messages[{i}]: `content` must be a string or an array"
        ))),
    }
}

fn part_text(part: &Value, i: usize) -> Result<&str, TranslateError> {
    part.get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("messages[{i}]: a text part has no `text` string")))
}

/// OpenAI message content -> Gemini parts. Empty texts are left out (Gemini refuses them).
fn content_parts(content: &Value, i: usize) -> Result<Vec<Value>, TranslateError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({ "text": s })]),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for part in parts {
                if let Some(p) = content_part(part, i)? {
                    out.push(p);
                }
            }
            Ok(out)
        }
        _ => Err(invalid(format!(
            "messages[{i}]: `content` must be a string or an array"
        ))),
    }
}

fn content_part(part: &Value, i: usize) -> Result<Option<Value>, TranslateError> {
    let kind = part
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("messages[{i}]: a content part has no `type`")))?;
    match kind {
        // A refusal is the assistant's own earlier text.
        "text" | "refusal" => {
            let key = if kind == "text" { "text" } else { "refusal" };
            let text = part.get(key).and_then(Value::as_str).ok_or_else(|| {
                invalid(format!(
                    "messages[{i}]: a {kind} part has no `{key}` string"
                ))
            })?;
            Ok((!text.is_empty()).then(|| json!({ "text": text })))
        }
        "image_url" => {
            let url = match part.get("image_url") {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(obj) => obj.get("url").and_then(Value::as_str),
                None => None,
            }
            .ok_or_else(|| invalid(format!("messages[{i}]: an image_url part has no `url`")))?;
            image_part(url, i).map(Some)
        }
        "input_audio" => {
            let audio = part.get("input_audio");
            let data = audio
                .and_then(|a| a.get("data"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("messages[{i}]: input_audio has no `data`")))?;
            let mime = match audio.and_then(|a| a.get("format")).and_then(Value::as_str) {
                Some("wav") => "audio/wav",
                Some("mp3") => "audio/mp3",
                other => {
                    return Err(invalid(format!(
                        "messages[{i}]: input_audio format {other:?} is not supported"
                    )))
                }
            };
            Ok(Some(
                json!({"inlineData": {"mimeType": mime, "data": data}}),
            ))
        }
        "file" => {
            let data = part
                .get("file")
                .and_then(|f| f.get("file_data"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid(format!(
                        "messages[{i}]: a file part needs `file_data` (a data: URL); \
                         OpenAI file ids mean nothing to Gemini"
                    ))
                })?;
            let (mime, b64) = parse_data_url(data).ok_or_else(|| {
                invalid(format!(
                    "messages[{i}]: `file_data` must be a data:<mime>;base64, URL"
                ))
            })?;
            Ok(Some(json!({"inlineData": {"mimeType": mime, "data": b64}})))
        }
        other => Err(invalid(format!(
            "messages[{i}]: content part type `{other}` is not supported for Gemini providers"
        ))),
    }
}

/// An image URL -> `inlineData` for a base64 data URL, `fileData` for anything else.
fn image_part(url: &str, i: usize) -> Result<Value, TranslateError> {
    if url.starts_with("data:") {
        let (mime, data) = parse_data_url(url).ok_or_else(|| {
            invalid(format!(
                "messages[{i}]: an image data URL must be data:<mime>;base64,<data>"
            ))
        })?;
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    Ok(json!({"fileData": {"mimeType": mime_from_extension(url), "fileUri": url}}))
}

/// `data:<mime>;base64,<data>` -> (mime, data). Parameters before `;base64` (such as
/// `;charset=`) are dropped from the MIME type.
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let mime = meta.split(';').next().unwrap_or_default();
    if mime.is_empty() || data.is_empty() {
        return None;
    }
    Some((mime, data))
}

/// The MIME type of an image URL, from the extension of its path: png, jpeg/jpg, gif, webp;
/// anything else is taken as `image/jpeg`.
fn mime_from_extension(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let ext = match last.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => String::new(),
    };
    match ext.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => "image/jpeg",
    }
}

/// An assistant message's `tool_calls` -> `functionCall` parts; records id -> name.
fn tool_call_parts(
    msg: &Value,
    i: usize,
    call_names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, TranslateError> {
    let calls = match msg.get("tool_calls") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(_) => {
            return Err(invalid(format!(
                "messages[{i}]: `tool_calls` must be an array"
            )))
        }
    };
    let mut parts = Vec::with_capacity(calls.len());
    for call in calls {
        if let Some(kind) = call.get("type").and_then(Value::as_str) {
            if kind != "function" {
                return Err(invalid(format!(
                    "messages[{i}]: tool call type `{kind}` is not supported for Gemini providers"
                )));
            }
        }
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("messages[{i}]: a tool call has no function name")))?;
        let args = parse_arguments(function.and_then(|f| f.get("arguments")), name, i)?;
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            call_names.insert(id.to_string(), name.to_string());
        }
        parts.push(json!({"functionCall": {"name": name, "args": args}}));
    }
    Ok(parts)
}

/// Tool-call `arguments` (a JSON string) -> the object Gemini wants. An empty string is `{}`.
fn parse_arguments(args: Option<&Value>, name: &str, i: usize) -> Result<Value, TranslateError> {
    let text = match args {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Object(_)) => return Ok(args.cloned().unwrap_or_default()),
        Some(_) => {
            return Err(invalid(format!(
                "messages[{i}]: arguments of `{name}` must be a JSON string"
            )))
        }
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(invalid(format!(
            "messages[{i}]: arguments of `{name}` must be a JSON object"
        ))),
        Err(e) => Err(invalid(format!(
            "messages[{i}]: arguments of `{name}` are not valid JSON: {e}"
        ))),
    }
}

/// A `tool` message -> a `functionResponse` part named after the call it answers.
fn tool_result_part(
    msg: &Value,
    i: usize,
    call_names: &HashMap<String, String>,
) -> Result<Value, TranslateError> {
    let id = msg
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid(format!(
                "messages[{i}]: a tool message has no `tool_call_id`"
            ))
        })?;
    let name = call_names.get(id).ok_or_else(|| {
        invalid(format!(
            "messages[{i}]: tool_call_id `{id}` matches no earlier assistant tool call"
        ))
    })?;
    let text = match msg.get("content").unwrap_or(&Value::Null) {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(part_text(part, i)?),
                    _ => {
                        return Err(invalid(format!(
                            "messages[{i}]: a tool message may only contain text parts"
                        )))
                    }
                }
            }
            text
        }
        _ => {
            return Err(invalid(format!(
                "messages[{i}]: `content` must be a string or an array"
            )))
        }
    };
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(obj @ Value::Object(_)) => obj,
        _ => json!({ "content": text }),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

/// OpenAI `tools` -> `[{functionDeclarations:[...]}]`; `None` when there are none.
fn convert_tools(tools: Option<&Value>) -> Result<Option<Value>, TranslateError> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(t)) => t,
        Some(_) => return Err(invalid("`tools` must be an array")),
    };
    let mut decls = Vec::with_capacity(tools.len());
    for (k, tool) in tools.iter().enumerate() {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        if kind != "function" {
            return Err(invalid(format!(
                "tools[{k}]: tool type `{kind}` is not supported for Gemini providers"
            )));
        }
        let f = tool
            .get("function")
            .ok_or_else(|| invalid(format!("tools[{k}] has no `function`")))?;
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("tools[{k}] has no function name")))?;
        let mut decl = Map::new();
        decl.insert("name".into(), json!(name));
        if let Some(d) = f.get("description").filter(|d| !d.is_null()) {
            decl.insert("description".into(), d.clone());
        }
        if let Some(p) = f.get("parameters").filter(|p| !p.is_null()) {
            decl.insert("parameters".into(), p.clone());
        }
        decls.push(Value::Object(decl));
    }
    if decls.is_empty() {
        return Ok(None);
    }
    Ok(Some(json!([{ "functionDeclarations": decls }])))
}

/// OpenAI `tool_choice` -> Gemini `functionCallingConfig`.
fn convert_tool_choice(choice: Option<&Value>) -> Result<Option<Value>, TranslateError> {
    let config = match choice {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "none" => json!({"mode": "NONE"}),
            "required" => json!({"mode": "ANY"}),
            other => return Err(invalid(format!("tool_choice `{other}` is not supported"))),
        },
        Some(obj @ Value::Object(_)) => {
            let kind = obj.get("type").and_then(Value::as_str);
            let name = obj
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match (kind, name) {
                (Some("function"), Some(name)) => {
                    json!({"mode": "ANY", "allowedFunctionNames": [name]})
                }
                _ => {
                    return Err(invalid(
                        "tool_choice must be auto, none, required or {type: function, function: {name}}",
                    ))
                }
            }
        }
        Some(_) => return Err(invalid("tool_choice must be a string or an object")),
    };
    Ok(Some(config))
}

/// A numeric parameter, or `None` when absent or null.
fn number(req: &Map<String, Value>, key: &str) -> Result<Option<Value>, TranslateError> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(_) => Err(invalid(format!("`{key}` must be a number"))),
    }
}

/// An integer parameter, or `None` when absent or null.
fn integer(req: &Map<String, Value>, key: &str) -> Result<Option<Value>, TranslateError> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if v.is_i64() || v.is_u64() => Ok(Some(v.clone())),
        Some(_) => Err(invalid(format!("`{key}` must be an integer"))),
    }
}

fn generation_config(req: &Map<String, Value>) -> Result<Map<String, Value>, TranslateError> {
    let mut cfg = Map::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            cfg.insert(key.to_string(), v);
        }
    };
    put("temperature", number(req, "temperature")?);
    put("topP", number(req, "top_p")?);
    let max = match integer(req, "max_completion_tokens")? {
        Some(v) => Some(v),
        None => integer(req, "max_tokens")?,
    };
    put("maxOutputTokens", max);
    put("stopSequences", stop_sequences(req.get("stop"))?);
    // One choice is all the answer translation returns, so asking Gemini for more would
    // silently drop them: `n` above 1 is refused, `n: 1` is the default and not sent.
    if let Some(n) = integer(req, "n")? {
        if n.as_u64() != Some(1) {
            return Err(invalid(
                "`n` other than 1 is not supported for Gemini providers".to_string(),
            ));
        }
    }
    put("seed", integer(req, "seed")?);
    put("presencePenalty", number(req, "presence_penalty")?);
    put("frequencyPenalty", number(req, "frequency_penalty")?);
    match req.get("response_format") {
        None | Some(Value::Null) => {}
        Some(rf) => match rf.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => put("responseMimeType", Some(json!("application/json"))),
            Some("json_schema") => {
                put("responseMimeType", Some(json!("application/json")));
                let schema = rf
                    .get("json_schema")
                    .and_then(|s| s.get("schema"))
                    .filter(|s| !s.is_null())
                    .cloned();
                put("responseJsonSchema", schema);
            }
            other => {
                return Err(invalid(format!(
                    "response_format type {other:?} is not supported for Gemini providers"
                )))
            }
        },
    }
    Ok(cfg)
}

/// `stop`: a string or an array of strings -> `stopSequences` (`None` when empty).
fn stop_sequences(stop: Option<&Value>) -> Result<Option<Value>, TranslateError> {
    match stop {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(json!([s]))),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok((!items.is_empty()).then(|| Value::Array(items.clone())))
        }
        Some(_) => Err(invalid("`stop` must be a string or an array of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(req: Value) -> Value {
        request_from_openai(&req).unwrap()
    }

    fn refused(req: Value) -> String {
        match request_from_openai(&req) {
            Err(TranslateError::Invalid(msg)) => msg,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": text})
    }

    #[test]
    fn system_and_developer_messages_become_one_system_instruction() {
        let out = translate(json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            user("Hi"),
        ]}));
        assert_eq!(
            out,
            json!({
                "systemInstruction": {"parts": [{"text": "Be brief.\n\nUse French."}]},
                "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]
            })
        );
        assert!(refused(json!({"messages": [
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
            user("Hi"),
        ]}))
        .contains("system"));
    }

    #[test]
    fn roles_map_and_consecutive_same_roles_merge() {
        let out = translate(json!({"messages": [
            user("a"), user("b"),
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
            user("e"),
        ]}));
        assert_eq!(
            out["contents"],
            json!([
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
                {"role": "user", "parts": [{"text": "e"}]},
            ])
        );
    }

    #[test]
    fn images_as_data_urls_and_as_links() {
        let out = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://x.test/cat.WEBP?size=2", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "gs://bucket/dog.gif"}},
            {"type": "image_url", "image_url": {"url": "https://x.test/photo"}},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.JPG"}},
        ]}]}));
        assert_eq!(
            out["contents"][0]["parts"],
            json!([
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/cat.WEBP?size=2"}},
                {"fileData": {"mimeType": "image/gif", "fileUri": "gs://bucket/dog.gif"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/photo"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/a.JPG"}},
            ])
        );
        refused(json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}]}]}));
    }

    #[test]
    fn unknown_parts_and_roles_are_refused() {
        assert!(refused(json!({"messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": "x"}}]}]}))
        .contains("video_url"));
        assert!(
            refused(json!({"messages": [{"role": "function", "content": "x"}]}))
                .contains("function")
        );
        refused(json!({"messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": "file-123"}}]}]}));
        refused(json!({"messages": "hi"}));
        refused(json!({"messages": [{"role": "system", "content": "only system"}]}));
        refused(json!({"messages": [user("x")], "functions": [{"name": "f"}]}));
    }

    #[test]
    fn audio_and_file_parts_become_inline_data() {
        let out = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
        ]}]}));
        assert_eq!(
            out["contents"][0]["parts"],
            json!([
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
            ])
        );
    }

    #[test]
    fn tool_calls_and_results_round_trip_with_the_name_looked_up() {
        let out = translate(json!({"messages": [
            user("Weather in Paris and Rome?"),
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function",
                 "function": {"name": "get_time", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\":21}"},
            {"role": "tool", "tool_call_id": "call_a", "content": "[1,2]"},
        ]}));
        assert_eq!(
            out["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_time", "args": {}}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                    {"functionResponse": {"name": "get_weather", "response": {"content": "[1,2]"}}},
                ]},
            ])
        );
    }

    #[test]
    fn unknown_tool_call_ids_and_bad_arguments_are_refused() {
        assert!(refused(json!({"messages": [
            user("x"),
            {"role": "tool", "tool_call_id": "call_zz", "content": "r"},
        ]}))
        .contains("call_zz"));
        let bad = |args: &str| {
            json!({"messages": [{"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}]}]})
        };
        assert!(refused(bad("{not json")).contains("not valid JSON"));
        assert!(refused(bad("[1]")).contains("JSON object"));
    }

    #[test]
    fn tools_become_function_declarations() {
        let out = translate(json!({"messages": [user("x")], "tools": [
            {"type": "function", "function": {"name": "a", "description": "A.",
             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "b"}},
        ]}));
        assert_eq!(
            out["tools"],
            json!([{"functionDeclarations": [
                {"name": "a", "description": "A.",
                 "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
                {"name": "b"},
            ]}])
        );
        refused(
            json!({"messages": [user("x")], "tools": [{"type": "custom", "custom": {"name": "c"}}]}),
        );
    }

    #[test]
    fn tool_choice_variants() {
        let choice = |c: Value| {
            translate(json!({"messages": [user("x")], "tool_choice": c}))["toolConfig"].clone()
        };
        assert_eq!(
            choice(json!("auto")),
            json!({"functionCallingConfig": {"mode": "AUTO"}})
        );
        assert_eq!(
            choice(json!("none")),
            json!({"functionCallingConfig": {"mode": "NONE"}})
        );
        assert_eq!(
            choice(json!("required")),
            json!({"functionCallingConfig": {"mode": "ANY"}})
        );
        assert_eq!(
            choice(json!({"type": "function", "function": {"name": "get_weather"}})),
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
        assert_eq!(choice(Value::Null), Value::Null);
        refused(json!({"messages": [user("x")], "tool_choice": "sometimes"}));
        refused(json!({"messages": [user("x")], "tool_choice": {"type": "allowed_tools"}}));
    }

    #[test]
    fn generation_parameters() {
        let out = translate(json!({"messages": [user("x")],
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 10, "max_completion_tokens": 20,
            "stop": "END", "n": 1, "seed": 7, "presence_penalty": 0.5, "frequency_penalty": -0.5,
        }));
        assert_eq!(
            out["generationConfig"],
            json!({"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 20,
                   "stopSequences": ["END"], "seed": 7,
                   "presencePenalty": 0.5, "frequencyPenalty": -0.5})
        );
        let out = translate(json!({"messages": [user("x")], "max_tokens": 10, "stop": ["a", "b"]}));
        assert_eq!(
            out["generationConfig"],
            json!({"maxOutputTokens": 10, "stopSequences": ["a", "b"]})
        );
        refused(json!({"messages": [user("x")], "temperature": "hot"}));
        refused(json!({"messages": [user("x")], "n": 2}));
        refused(json!({"messages": [user("x")], "stop": [1]}));
    }

    #[test]
    fn response_format_variants() {
        let rf = |f: Value| {
            translate(json!({"messages": [user("x")], "response_format": f}))
                .get("generationConfig")
                .cloned()
        };
        assert_eq!(rf(json!({"type": "text"})), None);
        assert_eq!(
            rf(json!({"type": "json_object"})),
            Some(json!({"responseMimeType": "application/json"}))
        );
        let schema =
            json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]});
        assert_eq!(
            rf(
                json!({"type": "json_schema", "json_schema": {"name": "s", "strict": true, "schema": schema}})
            ),
            Some(json!({"responseMimeType": "application/json", "responseJsonSchema": schema}))
        );
        refused(json!({"messages": [user("x")], "response_format": {"type": "grammar"}}));
    }

    #[test]
    fn dropped_parameters_and_empty_config_leave_no_trace() {
        let out = translate(json!({"model": "gemini-2.5-flash", "messages": [user("x")],
            "stream": true, "stream_options": {"include_usage": true}, "user": "u",
            "logit_bias": {"1": 2}, "logprobs": true, "top_logprobs": 2,
            "parallel_tool_calls": false, "store": true, "metadata": {"a": "b"},
            "service_tier": "auto", "reasoning_effort": "low"}));
        assert_eq!(
            out,
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
        );
    }
}
