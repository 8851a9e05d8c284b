//! What the mock provider says, as pure functions from a request body to response bytes, in
//! OpenAI's wire format: chat completions (whole or as SSE chunks, with the final usage chunk
//! when `stream_options.include_usage` is set) and embeddings.

use serde_json::{json, Value};

/// The parts of a chat request the mock looks at.
pub struct ChatAsk {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub prompt_chars: usize,
    pub last_user_text: String,
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
    let mut prompt_chars = 0;
    let mut last_user_text = String::new();
    for m in messages {
        let text = content_text(m.get("content"));
        prompt_chars += text.len();
        if m.get("role").and_then(Value::as_str) == Some("user") {
            last_user_text = text;
        }
    }
    Ok(ChatAsk {
        model,
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: v
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        prompt_chars,
        last_user_text,
    })
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

/// The answer's pieces: `chunks` of them, cycling through the words of a reply that echoes
/// the start of the last user message, so tests can see their prompt come back.
pub fn answer_pieces(ask: &ChatAsk, chunks: usize) -> Vec<String> {
    let echo: String = ask.last_user_text.chars().take(200).collect();
    let text = format!("Hello from the Tollgate mock provider. You said: {echo}");
    let words: Vec<&str> = text.split_whitespace().collect();
    (0..chunks.max(1))
        .map(|i| {
            let w = words.get(i % words.len().max(1)).copied().unwrap_or("mock");
            if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

fn usage(ask: &ChatAsk, completion_tokens: usize) -> Value {
    let prompt_tokens = ask.prompt_chars.div_ceil(4) + 3;
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": { "cached_tokens": 0 },
    })
}

pub fn chat_completion(ask: &ChatAsk, chunks: usize, id: u64, created: u64) -> Vec<u8> {
    let pieces = answer_pieces(ask, chunks);
    json!({
        "id": format!("chatcmpl-mock-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": ask.model,
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": pieces.concat(), "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(ask, pieces.len()),
    })
    .to_string()
    .into_bytes()
}

/// Every SSE event of a streamed answer, each a complete `data: ...\n\n` frame, ending with
/// `data: [DONE]`.
pub fn chat_stream_events(ask: &ChatAsk, chunks: usize, id: u64, created: u64) -> Vec<Vec<u8>> {
    let pieces = answer_pieces(ask, chunks);
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
    let mut events = Vec::with_capacity(pieces.len() + 4);
    events.push(frame(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
        true,
        Value::Null,
    ));
    for p in &pieces {
        events.push(frame(
            json!({ "content": p }),
            Value::Null,
            true,
            Value::Null,
        ));
    }
    events.push(frame(json!({}), json!("stop"), true, Value::Null));
    if ask.include_usage {
        events.push(frame(
            Value::Null,
            Value::Null,
            false,
            usage(ask, pieces.len()),
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

    #[test]
    fn embeddings_of_rephrasings_are_closer_than_unrelated_text() {
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let q1 = embed("how do I reset my password", 64);
        let q2 = embed("how can I reset the password", 64);
        let q3 = embed("weather in paris tomorrow", 64);
        assert!(cos(&q1, &q2) > cos(&q1, &q3));
    }
}
