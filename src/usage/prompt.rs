//! [`estimate_prompt`]: the prompt tokens of a request body, counted before it is forwarded
//! (for limits and for the estimate when the provider reports no usage).
//!
//! Chat bodies follow OpenAI's cookbook (`num_tokens_from_messages`): every message costs
//! 3 tokens of framing plus the tokens of its fields (`name` one more), and the reply is
//! primed with 3. Images, audio and files are not counted. Tool definitions count as the
//! tokens of their compact JSON, a rough stand-in for the provider's own rendering.

use serde_json::Value;

use super::tokenizer::Encoding;
use crate::translate::ApiFormat;

/// Framing tokens of one message (`<|start|>{role}\n ... <|end|>`).
const PER_MESSAGE: u64 = 3;
/// Extra token of a message that has a `name`.
const PER_NAME: u64 = 1;
/// Tokens priming the reply (`<|start|>assistant<|message|>`).
const REPLY_PRIMING: u64 = 3;

/// Estimated prompt tokens of a request body in `format`, with the tokenizer for `model`.
///
/// - OpenAI chat (`messages`): per message 3 + role + name (+1) + content (a string or the
///   `text` parts) + refusal + each tool call's name and arguments; + 3 for the reply;
///   + the `tools` (and legacy `functions`) JSON. Tool results are messages like others.
/// - OpenAI embeddings (`input`) and legacy completions (`prompt`): a string, an array of
///   strings, or token arrays (their length); no framing.
/// - Anthropic (`system`, `messages`): the system text, then per message 3 + role + its
///   blocks (`text`, `thinking`, `tool_use` name and input JSON, `tool_result` content);
///   + 3 for the reply; + the `tools` JSON.
/// - Gemini (`systemInstruction`, `contents`): per content 3 + role + its parts (`text`,
///   `functionCall` name and args JSON, `functionResponse` name and response JSON); + 3;
///   + the `tools` JSON.
pub fn estimate_prompt(format: ApiFormat, model: &str, request: &Value) -> u64 {
    let mut c = Counter {
        enc: Encoding::for_model(model),
        tokens: 0,
    };
    match format {
        ApiFormat::OpenAi => c.openai(request),
        ApiFormat::Anthropic => c.anthropic(request),
        ApiFormat::Gemini => c.gemini(request),
    }
    c.tokens
}

struct Counter {
    enc: Encoding,
    tokens: u64,
}

impl Counter {
    fn add(&mut self, n: u64) {
        self.tokens = self.tokens.saturating_add(n);
    }

    fn text(&mut self, s: &str) {
        let n = self.enc.count(s);
        self.add(n);
    }

    /// A string field of `v`, if it is one.
    fn str_field(&mut self, v: &Value, key: &str) {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            self.text(s);
        }
    }

    /// The compact JSON of `v` (tool inputs and definitions); nothing for null.
    fn json(&mut self, v: Option<&Value>) {
        match v {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => self.text(s),
            Some(v) => self.text(&v.to_string()),
        }
    }

    fn openai(&mut self, req: &Value) {
        if let Some(messages) = req.get("messages").and_then(Value::as_array) {
            for m in messages {
                self.add(PER_MESSAGE);
                self.str_field(m, "role");
                if let Some(name) = m.get("name").and_then(Value::as_str) {
                    self.text(name);
                    self.add(PER_NAME);
                }
                self.openai_content(m.get("content"));
                self.str_field(m, "refusal");
                for call in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(f) = call.get("function") {
                        self.str_field(f, "name");
                        self.str_field(f, "arguments");
                    }
                }
                if let Some(f) = m.get("function_call") {
                    self.str_field(f, "name");
                    self.str_field(f, "arguments");
                }
            }
            self.add(REPLY_PRIMING);
            self.json(req.get("tools"));
            self.json(req.get("functions"));
            return;
        }
        for key in ["input", "prompt"] {
            match req.get(key) {
                Some(Value::String(s)) => self.text(s),
                Some(Value::Array(items)) => {
                    for item in items {
                        match item {
                            Value::String(s) => self.text(s),
                            // A token array, or a number of a token array.
                            Value::Array(tokens) => self.add(tokens.len() as u64),
                            Value::Number(_) => self.add(1),
                            _ => {}
                        }
                    }
                }
                _ => continue,
            }
            return;
        }
    }

    /// OpenAI `content`: a string, or parts of which the `text` ones count.
    fn openai_content(&mut self, content: Option<&Value>) {
        match content {
            Some(Value::String(s)) => self.text(s),
            Some(Value::Array(parts)) => {
                for p in parts {
                    self.str_field(p, "text");
                    self.str_field(p, "refusal");
                }
            }
            _ => {}
        }
    }

    fn anthropic(&mut self, req: &Value) {
        match req.get("system") {
            Some(Value::String(s)) => self.text(s),
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    self.str_field(b, "text");
                }
            }
            _ => {}
        }
        if let Some(messages) = req.get("messages").and_then(Value::as_array) {
            for m in messages {
                self.add(PER_MESSAGE);
                self.str_field(m, "role");
                self.anthropic_content(m.get("content"));
            }
            self.add(REPLY_PRIMING);
        }
        self.json(req.get("tools"));
    }

    fn anthropic_content(&mut self, content: Option<&Value>) {
        match content {
            Some(Value::String(s)) => self.text(s),
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    match b.get("type").and_then(Value::as_str) {
                        Some("text") => self.str_field(b, "text"),
                        Some("thinking") => self.str_field(b, "thinking"),
                        Some("tool_use") => {
                            self.str_field(b, "name");
                            self.json(b.get("input"));
                        }
                        Some("tool_result") => self.anthropic_content(b.get("content")),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn gemini(&mut self, req: &Value) {
        let system = req
            .get("systemInstruction")
            .or_else(|| req.get("system_instruction"));
        if let Some(sys) = system {
            self.gemini_parts(sys.get("parts"));
        }
        if let Some(contents) = req.get("contents").and_then(Value::as_array) {
            for c in contents {
                self.add(PER_MESSAGE);
                self.str_field(c, "role");
                self.gemini_parts(c.get("parts"));
            }
            self.add(REPLY_PRIMING);
        }
        self.json(req.get("tools"));
    }

    fn gemini_parts(&mut self, parts: Option<&Value>) {
        for p in parts.and_then(Value::as_array).into_iter().flatten() {
            self.str_field(p, "text");
            if let Some(call) = p.get("functionCall") {
                self.str_field(call, "name");
                self.json(call.get("args"));
            }
            if let Some(resp) = p.get("functionResponse") {
                self.str_field(resp, "name");
                self.json(resp.get("response"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::count_tokens;
    use serde_json::json;

    fn n(model: &str, s: &str) -> u64 {
        count_tokens(model, s)
    }

    #[test]
    fn openai_chat_counts_messages_as_the_cookbook_does() {
        // The cookbook's own example: 2 messages -> 3 + 3 framing, + 3 priming.
        let req = json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "name": "example_user", "content": "New synergies will help drive top-line growth."}
        ]});
        let m = "gpt-4o";
        let expected = 3
            + n(m, "system")
            + n(m, "You are a helpful assistant.")
            + 3
            + n(m, "user")
            + n(m, "example_user")
            + 1
            + n(m, "New synergies will help drive top-line growth.")
            + 3;
        assert_eq!(estimate_prompt(ApiFormat::OpenAi, m, &req), expected);
    }

    #[test]
    fn openai_chat_counts_text_parts_tool_calls_tool_results_and_tools() {
        let m = "gpt-4o-mini";
        let tools = json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
        let req = json!({"model": m, "tools": tools, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                                         {"type": "image_url", "image_url": {"url": "data:..."}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 21 C"}
        ]});
        let expected = 3 * 3
            + n(m, "user")
            + n(m, "Weather in Paris?")
            + n(m, "assistant")
            + n(m, "get_weather")
            + n(m, "{\"city\":\"Paris\"}")
            + n(m, "tool")
            + n(m, "Sunny, 21 C")
            + 3
            + n(m, &tools.to_string());
        assert_eq!(estimate_prompt(ApiFormat::OpenAi, m, &req), expected);
    }

    #[test]
    fn embeddings_count_their_inputs_without_framing() {
        let m = "text-embedding-3-small";
        let one = json!({"model": m, "input": "The food was delicious"});
        assert_eq!(
            estimate_prompt(ApiFormat::OpenAi, m, &one),
            n(m, "The food was delicious")
        );
        let many = json!({"model": m, "input": ["alpha beta", "gamma"]});
        assert_eq!(
            estimate_prompt(ApiFormat::OpenAi, m, &many),
            n(m, "alpha beta") + n(m, "gamma")
        );
        let tokens = json!({"model": m, "input": [[1, 2, 3], [4, 5]]});
        assert_eq!(estimate_prompt(ApiFormat::OpenAi, m, &tokens), 5);
        let flat = json!({"model": m, "input": [1, 2, 3, 4]});
        assert_eq!(estimate_prompt(ApiFormat::OpenAi, m, &flat), 4);
        assert_eq!(estimate_prompt(ApiFormat::OpenAi, m, &json!({})), 0);
    }

    #[test]
    fn anthropic_counts_system_blocks_tool_use_and_results() {
        let m = "claude-sonnet-4-5";
        let req = json!({"model": m, "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "Sunny"}]},
                {"type": "image", "source": {"type": "base64", "data": "xxxx"}}]}
        ]});
        let expected = n(m, "Be brief.")
            + 3 * 3
            + n(m, "user")
            + n(m, "Weather in Paris?")
            + n(m, "assistant")
            + n(m, "Checking.")
            + n(m, "get_weather")
            + n(m, "{\"city\":\"Paris\"}")
            + n(m, "user")
            + n(m, "Sunny")
            + 3;
        assert_eq!(estimate_prompt(ApiFormat::Anthropic, m, &req), expected);
        let plain = json!({"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]});
        assert_eq!(
            estimate_prompt(ApiFormat::Anthropic, m, &plain),
            n(m, "Be brief.") + 3 + n(m, "user") + n(m, "Hi") + 3
        );
    }

    #[test]
    fn gemini_counts_system_contents_and_function_parts() {
        let m = "gemini-2.5-flash";
        let req = json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {"c": "P"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"t": 21}}}]}
        ]});
        let expected = n(m, "Be brief.")
            + 3 * 3
            + n(m, "user")
            + n(m, "Weather?")
            + n(m, "model")
            + n(m, "w")
            + n(m, "{\"c\":\"P\"}")
            + n(m, "user")
            + n(m, "w")
            + n(m, "{\"t\":21}")
            + 3;
        assert_eq!(estimate_prompt(ApiFormat::Gemini, m, &req), expected);
    }

    #[test]
    fn odd_bodies_count_what_they_can() {
        for body in [
            json!(null),
            json!("text"),
            json!({"messages": "not an array"}),
            json!({"messages": [1, null, {"content": 5}]}),
        ] {
            let _ = estimate_prompt(ApiFormat::OpenAi, "gpt-4o", &body);
            let _ = estimate_prompt(ApiFormat::Anthropic, "claude", &body);
            let _ = estimate_prompt(ApiFormat::Gemini, "gemini", &body);
        }
        // Three messages of nothing still cost their framing.
        assert_eq!(
            estimate_prompt(
                ApiFormat::OpenAi,
                "gpt-4o",
                &json!({"messages": [1, null, {}]})
            ),
            3 * 3 + 3
        );
    }
}
