//! What the mock provider says in OpenAI's wire format, as pure functions from a request body
//! to response bytes: chat completions (whole or as SSE chunks, with the final usage chunk
//! when `stream_options.include_usage` is set, text or a tool call) and embeddings. What the
//! answer is comes from `script`, shared with the other dialects.

use super::script::{self, Conversation, Last, Reply, Tool, ToolChoice};
use serde_json::{json, Value};

/// The parts of a chat request the mock looks at.
pub struct ChatAsk {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub conversation: Conversation,
}

pub fn parse_chat(body: &[u8]) -> Result<ChatAsk, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .ok_or("missing model")?
        .to_string();
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("missing messages")?;
    let mut conversation = Conversation {
        tools: tools(&v),
        tool_choice: tool_choice(v.get("tool_choice")),
        max_tokens: ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|f| v.get(*f).and_then(Value::as_u64))
            .map(|n| n as usize),
        ..Conversation::default()
    };
    for m in messages {
        let text = content_text(m.get("content"));
        conversation.prompt_chars += text.len();
        if m.get("role").and_then(Value::as_str) == Some("user") {
            conversation.last_user_text = text;
        }
    }
    conversation.last = match messages.last() {
        Some(m) => match m.get("role").and_then(Value::as_str) {
            Some("user") => Last::UserText,
            Some("tool") | Some("function") => Last::ToolResult(content_text(m.get("content"))),
            _ => Last::Other,
        },
        None => Last::Other,
    };
    Ok(ChatAsk {
        model,
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: v
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        conversation,
    })
}

/// The declared function tools: `tools: [{type: "function", function: {name, parameters}}]`.
fn tools(v: &Value) -> Vec<Tool> {
    v.get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    let f = t.get("function")?;
                    Some(Tool {
                        name: f.get("name")?.as_str()?.to_string(),
                        schema: f.get("parameters").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tool_choice(choice: Option<&Value>) -> ToolChoice {
    match choice {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(c) => c
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Named(n.to_string()))
            .unwrap_or_default(),
        None => ToolChoice::Auto,
    }
}

fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The ordinary answer's pieces: `chunks` of them, cycling through the words of a reply that
/// echoes the start of the last user message, so tests can see their prompt come back.
pub fn answer_pieces(ask: &ChatAsk, chunks: usize) -> Vec<String> {
    script::pieces(&script::greeting(&ask.conversation.last_user_text), chunks)
}

/// The id of the mock's (only) tool call in every OpenAI answer.
pub const TOOL_CALL_ID: &str = "call_mock_1";

fn usage(ask: &ChatAsk, completion_tokens: usize) -> Value {
    let prompt_tokens = ask.conversation.input_tokens();
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": { "cached_tokens": 0 },
    })
}

pub fn chat_completion(ask: &ChatAsk, chunks: usize, id: u64, created: u64) -> Vec<u8> {
    let reply = ask.conversation.reply(chunks);
    let (message, finish) = match &reply {
        Reply::Text(pieces) => (
            json!({ "role": "assistant", "content": pieces.concat(), "refusal": null }),
            "stop",
        ),
        Reply::ToolCall { name, arguments } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": { "name": name, "arguments": arguments.to_string() },
                }],
                "refusal": null,
            }),
            "tool_calls",
        ),
    };
    json!({
        "id": format!("chatcmpl-mock-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": ask.model,
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish,
        }],
        "usage": usage(ask, reply.output_tokens()),
    })
    .to_string()
    .into_bytes()
}

/// Every SSE event of a streamed answer, each a complete `data: ...\n\n` frame, ending with
/// `data: [DONE]`. Text: a role chunk, one chunk per piece, a `stop` chunk. A tool call: a
/// chunk with the role and the call's id and name, the arguments in 2-3 fragments, a
/// `tool_calls` chunk.
pub fn chat_stream_events(ask: &ChatAsk, chunks: usize, id: u64, created: u64) -> Vec<Vec<u8>> {
    let reply = ask.conversation.reply(chunks);
    let frame = |delta: Value, finish: Value, choices: bool, usage: Value| {
        let mut chunk = json!({
            "id": format!("chatcmpl-mock-{id}"),
            "object": "chat.completion.chunk",
            "created": created,
            "model": ask.model,
            "system_fingerprint": null,
            "choices": if choices { json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]) } else { json!([]) },
        });
        if ask.include_usage {
            chunk["usage"] = usage;
        }
        format!("data: {chunk}\n\n").into_bytes()
    };
    let mut events = Vec::with_capacity(chunks + 5);
    match &reply {
        Reply::Text(pieces) => {
            events.push(frame(
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null,
                true,
                Value::Null,
            ));
            for p in pieces {
                events.push(frame(
                    json!({ "content": p }),
                    Value::Null,
                    true,
                    Value::Null,
                ));
            }
            events.push(frame(json!({}), json!("stop"), true, Value::Null));
        }
        Reply::ToolCall { name, arguments } => {
            events.push(frame(
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "index": 0,
                        "id": TOOL_CALL_ID,
                        "type": "function",
                        "function": { "name": name, "arguments": "" },
                    }],
                    "refusal": null,
                }),
                Value::Null,
                true,
                Value::Null,
            ));
            for fragment in script::argument_fragments(arguments) {
                events.push(frame(
                    json!({ "tool_calls": [{ "index": 0, "function": { "arguments": fragment } }] }),
                    Value::Null,
                    true,
                    Value::Null,
                ));
            }
            events.push(frame(json!({}), json!("tool_calls"), true, Value::Null));
        }
    }
    if ask.include_usage {
        events.push(frame(
            Value::Null,
            Value::Null,
            false,
            usage(ask, reply.output_tokens()),
        ));
    }
    events.push(b"data: [DONE]\n\n".to_vec());
    events
}

/// Dimensions of the mock's embeddings unless the request asks for `dimensions`.
const EMBEDDING_DIMS: usize = 64;

/// Embeddings that carry some meaning: hashed counts of lower-cased words, L2-normalised, so
/// texts sharing words are close and unrelated texts are far.
pub fn embeddings(body: &[u8]) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .ok_or("missing model")?;
    let dims = v
        .get("dimensions")
        .and_then(Value::as_u64)
        .map(|d| d as usize)
        .unwrap_or(EMBEDDING_DIMS)
        .clamp(1, 4096);
    let inputs: Vec<String> = match v.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::Array(items)) => items.iter().map(|i| i.to_string()).collect(),
        _ => return Err("missing input".into()),
    };
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            tokens += text.split_whitespace().count().max(1);
            json!({ "object": "embedding", "index": i, "embedding": embed(text, dims) })
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })
    .to_string()
    .into_bytes())
}

pub fn embed(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0f32; dims];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = fnv1a(word.to_lowercase().as_bytes());
        let slot = (h % dims as u64) as usize;
        let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
        if let Some(x) = v.get_mut(slot) {
            *x += sign;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

pub fn models() -> Vec<u8> {
    json!({ "object": "list", "data": [{ "id": "mock", "object": "model", "created": 0, "owned_by": "tollgate" }] })
        .to_string()
        .into_bytes()
}

pub fn error(message: &str, kind: &str, code: &str) -> Vec<u8> {
    json!({ "error": { "message": message, "type": kind, "code": code, "param": null } })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(include_usage: bool) -> ChatAsk {
        parse_chat(
            format!(
                r#"{{"model":"m","stream":true,"stream_options":{{"include_usage":{include_usage}}},"messages":[{{"role":"user","content":"hi there"}}]}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn stream_has_role_content_finish_usage_done() {
        let events = chat_stream_events(&ask(true), 5, 1, 0);
        assert_eq!(events.len(), 1 + 5 + 1 + 1 + 1);
        assert!(events.last().unwrap().starts_with(b"data: [DONE]"));
        let usage: Value = serde_json::from_slice(&events[7][6..]).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 5);
        let no_usage = chat_stream_events(&ask(false), 5, 1, 0);
        assert_eq!(no_usage.len(), 8);
    }

    #[test]
    fn whole_answer_equals_streamed_pieces() {
        let a = ask(false);
        let whole: Value = serde_json::from_slice(&chat_completion(&a, 7, 1, 0)).unwrap();
        assert_eq!(
            whole["choices"][0]["message"]["content"],
            answer_pieces(&a, 7).concat()
        );
    }

    fn tool_request(stream: bool, last: Value) -> Vec<u8> {
        json!({
            "model": "m",
            "stream": stream,
            "stream_options": { "include_usage": true },
            "tools": [
                { "type": "function", "function": { "name": "get_weather", "parameters": {
                    "type": "object",
                    "properties": { "city": { "type": "string" }, "days": { "type": "integer" }, "metric": { "type": "boolean" } },
                    "required": ["city", "metric"] } } },
                { "type": "function", "function": { "name": "other", "parameters": { "type": "object" } } }
            ],
            "messages": [
                { "role": "system", "content": "be brief" },
                { "role": "user", "content": "weather?" },
                last,
            ],
        })
        .to_string()
        .into_bytes()
    }

    fn data(event: &[u8]) -> Value {
        let text = std::str::from_utf8(event).unwrap();
        serde_json::from_str(text.strip_prefix("data: ").unwrap().trim_end()).unwrap()
    }

    #[test]
    fn a_user_turn_with_tools_gets_a_tool_call() {
        let user = json!({ "role": "user", "content": [{ "type": "text", "text": "in Paris" }] });
        let whole: Value = serde_json::from_slice(&chat_completion(
            &parse_chat(&tool_request(false, user.clone())).unwrap(),
            5,
            1,
            0,
        ))
        .unwrap();
        let choice = &whole["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["id"], TOOL_CALL_ID);
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({ "city": "test", "metric": true }));
        assert_eq!(whole["usage"]["completion_tokens"], 10);

        let ask = parse_chat(&tool_request(true, user)).unwrap();
        let events = chat_stream_events(&ask, 5, 1, 0);
        let first = data(&events[0]);
        assert_eq!(
            first["choices"][0]["delta"]["tool_calls"],
            json!([{ "index": 0, "id": "call_mock_1", "type": "function",
                     "function": { "name": "get_weather", "arguments": "" } }])
        );
        let fragments: Vec<Value> = events[1..events.len() - 3]
            .iter()
            .map(|e| data(e))
            .collect();
        assert!((2..=3).contains(&fragments.len()));
        let mut arguments = String::new();
        for f in &fragments {
            let call = &f["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(call["index"], 0);
            assert!(call.get("id").is_none());
            arguments.push_str(call["function"]["arguments"].as_str().unwrap());
        }
        assert_eq!(
            serde_json::from_str::<Value>(&arguments).unwrap(),
            args_of(&whole)
        );
        let finish = data(&events[events.len() - 3]);
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            data(&events[events.len() - 2])["usage"]["completion_tokens"],
            10
        );
        assert!(events.last().unwrap().starts_with(b"data: [DONE]"));
    }

    fn args_of(whole: &Value) -> Value {
        serde_json::from_str(
            whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_tool_result_gets_text_and_tool_choice_is_honoured() {
        let result =
            json!({ "role": "tool", "tool_call_id": "call_mock_1", "content": "sunny, 21 C" });
        let ask = parse_chat(&tool_request(false, result.clone())).unwrap();
        let whole: Value = serde_json::from_slice(&chat_completion(&ask, 6, 1, 0)).unwrap();
        assert_eq!(whole["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            whole["choices"][0]["message"]["content"],
            "The tool said: sunny, 21 C"
        );
        let streamed: String =
            chat_stream_events(&parse_chat(&tool_request(true, result)).unwrap(), 6, 1, 0)
                .iter()
                .filter(|e| !e.starts_with(b"data: [DONE]"))
                .filter_map(|e| {
                    data(e)["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
        assert_eq!(streamed, "The tool said: sunny, 21 C");

        let mut none: Value = serde_json::from_slice(&tool_request(
            false,
            json!({ "role": "user", "content": "x" }),
        ))
        .unwrap();
        none["tool_choice"] = json!("none");
        let ask = parse_chat(none.to_string().as_bytes()).unwrap();
        let whole: Value = serde_json::from_slice(&chat_completion(&ask, 3, 1, 0)).unwrap();
        assert_eq!(whole["choices"][0]["message"]["content"], "Hello from the");
        none["tool_choice"] = json!({ "type": "function", "function": { "name": "other" } });
        let ask = parse_chat(none.to_string().as_bytes()).unwrap();
        let whole: Value = serde_json::from_slice(&chat_completion(&ask, 3, 1, 0)).unwrap();
        assert_eq!(
            whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
    }

    #[test]
    fn embeddings_of_rephrasings_are_closer_than_unrelated_text() {
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let q1 = embed("how do I reset my password", 64);
        let q2 = embed("how can I reset the password", 64);
        let q3 = embed("weather in paris tomorrow", 64);
        assert!(cos(&q1, &q2) > cos(&q1, &q3));
    }
}
