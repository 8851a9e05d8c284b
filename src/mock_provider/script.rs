//! What the mock says, before any dialect dresses it: every dialect parses its request into a
//! `Conversation`, asks it for a `Reply` and renders that reply in its own wire format. So the
//! same conversation gets the same text (or the same tool call) from every dialect, and tests
//! can compare them.
//!
//! The rules, the same in every dialect:
//! - the request declares tools and its last message is a user message that is not a tool
//!   result: call the first declared tool (or the one `tool_choice` names; none when
//!   `tool_choice` says none), with arguments built from its JSON schema (`tool_arguments`);
//! - the last message is a tool result: "The tool said: <result, first 200 characters>";
//! - otherwise: `"Hello from the Tollgate mock provider. You said: <last user text>"`.
//!
//! Text is cut into `chunks` pieces by cycling through its words (`pieces`).

use serde_json::{Map, Value};

/// Output tokens reported for a tool call.
pub const TOOL_CALL_TOKENS: usize = 10;
/// How much of the last user text, or of a tool result, an answer echoes (in characters).
pub const ECHO_CHARS: usize = 200;

/// A tool the request declares: its name and the JSON schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub schema: Value,
}

/// What the request says about calling tools.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ToolChoice {
    /// Call the first declared tool (OpenAI `auto`/`required`, Anthropic `auto`/`any`, Gemini
    /// `AUTO`/`ANY`, or nothing said).
    #[default]
    Auto,
    /// Never call a tool (OpenAI `none`, Anthropic `{type:"none"}`, Gemini `NONE`).
    None,
    /// Call this tool (OpenAI `{type:"function",function:{name}}`, Anthropic
    /// `{type:"tool",name}`, Gemini `allowedFunctionNames[0]`).
    Named(String),
}

/// What the conversation's last message is.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Last {
    /// A user message that is not a tool result.
    UserText,
    /// A tool result, as text.
    ToolResult(String),
    /// Anything else (an assistant prefill, a system message, no message at all).
    #[default]
    Other,
}

/// The dialect-neutral view of a request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    /// Characters of prompt text (system, messages, tool results), for the usage numbers.
    pub prompt_chars: usize,
    /// The text of the last user message that is not only tool results.
    pub last_user_text: String,
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    pub last: Last,
    /// The request's bound on output tokens: like a real model, the mock stops there (one
    /// token per piece), so budget tests can make an answer cost exactly its worst case.
    pub max_tokens: Option<usize>,
}

/// The mock's answer to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Text, already cut into the pieces a stream sends one by one.
    Text(Vec<String>),
    /// A call of `name` with these arguments (a JSON object).
    ToolCall { name: String, arguments: Value },
}

impl Reply {
    pub fn output_tokens(&self) -> usize {
        match self {
            Reply::Text(pieces) => pieces.len(),
            Reply::ToolCall { .. } => TOOL_CALL_TOKENS,
        }
    }
}

impl Conversation {
    pub fn reply(&self, chunks: usize) -> Reply {
        let chunks = self.max_tokens.map_or(chunks, |m| chunks.min(m.max(1)));
        match &self.last {
            Last::ToolResult(result) => Reply::Text(pieces(&tool_result_text(result), chunks)),
            Last::UserText => match self.chosen_tool() {
                Some(tool) => Reply::ToolCall {
                    name: tool.name.clone(),
                    arguments: tool_arguments(&tool.schema),
                },
                None => Reply::Text(pieces(&greeting(&self.last_user_text), chunks)),
            },
            Last::Other => Reply::Text(pieces(&greeting(&self.last_user_text), chunks)),
        }
    }

    fn chosen_tool(&self) -> Option<&Tool> {
        match &self.tool_choice {
            ToolChoice::None => None,
            ToolChoice::Auto => self.tools.first(),
            ToolChoice::Named(name) => self
                .tools
                .iter()
                .find(|t| &t.name == name)
                .or(self.tools.first()),
        }
    }

    /// Prompt tokens: a quarter of the prompt characters, rounded up, plus 3.
    pub fn input_tokens(&self) -> usize {
        self.prompt_chars.div_ceil(4) + 3
    }
}

/// The ordinary answer: a greeting echoing the start of the last user text.
pub fn greeting(last_user_text: &str) -> String {
    let echo: String = last_user_text.chars().take(ECHO_CHARS).collect();
    format!("Hello from the Tollgate mock provider. You said: {echo}")
}

/// The answer to a tool result.
pub fn tool_result_text(result: &str) -> String {
    let echo: String = result.chars().take(ECHO_CHARS).collect();
    format!("The tool said: {echo}")
}

/// `chunks` pieces (at least one), cycling through the words of `text`: the first piece is a
/// word, the others a space and a word, so the pieces concatenate into readable text.
pub fn pieces(text: &str, chunks: usize) -> Vec<String> {
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

/// Arguments for a tool with this JSON schema: for each property named in `required` (or,
/// when nothing is required, every property), `"test"` for a string, `1` for a number or an
/// integer, `true` for a boolean and `null` for anything else. Type names are compared without
/// case (Gemini writes `STRING`); a list of types counts as its first non-null entry.
pub fn tool_arguments(schema: &Value) -> Value {
    let properties = schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let names: Vec<&str> = if required.is_empty() {
        properties
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default()
    } else {
        required
    };
    let mut args = Map::new();
    for name in names {
        let kind = properties
            .and_then(|p| p.get(name))
            .and_then(schema_type)
            .unwrap_or_default();
        let value = match kind.as_str() {
            "string" => Value::from("test"),
            "number" | "integer" => Value::from(1),
            "boolean" => Value::Bool(true),
            _ => Value::Null,
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args)
}

fn schema_type(property: &Value) -> Option<String> {
    match property.get("type")? {
        Value::String(t) => Some(t.to_ascii_lowercase()),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .find(|t| t != "null"),
        _ => None,
    }
}

/// A tool call's arguments, serialised, in the fragments a stream sends them in: three
/// (two when the text is shorter than three characters), cut on character boundaries.
pub fn argument_fragments(arguments: &Value) -> Vec<String> {
    let text = arguments.to_string();
    let chars: Vec<char> = text.chars().collect();
    let parts = if chars.len() >= 3 { 3 } else { 2 };
    let size = chars.len().div_ceil(parts).max(1);
    let fragments: Vec<String> = chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect();
    if fragments.is_empty() {
        vec![text]
    } else {
        fragments
    }
}

/// What the server writes for a request: a whole body, or a stream of pre-framed events.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Whole {
        status: u16,
        body: Vec<u8>,
    },
    Stream {
        content_type: &'static str,
        events: Vec<Vec<u8>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_fill_required_properties_by_type() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": { "type": "string" },
                "days": { "type": "integer" },
                "temp": { "type": "number" },
                "metric": { "type": "boolean" },
                "tags": { "type": "array", "items": { "type": "string" } },
                "unit": { "type": ["string", "null"] },
                "nullable": { "type": ["null", "boolean"] },
                "optional": { "type": "string" }
            },
            "required": ["city", "days", "temp", "metric", "tags", "unit", "nullable", "ghost"]
        });
        assert_eq!(
            tool_arguments(&schema),
            json!({
                "city": "test", "days": 1, "temp": 1, "metric": true, "tags": null,
                "unit": "test", "nullable": true, "ghost": null
            })
        );
    }

    #[test]
    fn arguments_use_every_property_when_nothing_is_required() {
        let schema = json!({
            "type": "OBJECT",
            "properties": { "q": { "type": "STRING" }, "n": { "type": "NUMBER" } }
        });
        assert_eq!(tool_arguments(&schema), json!({ "q": "test", "n": 1 }));
        let empty_required =
            json!({ "properties": { "b": { "type": "boolean" } }, "required": [] });
        assert_eq!(tool_arguments(&empty_required), json!({ "b": true }));
        assert_eq!(tool_arguments(&json!({})), json!({}));
        assert_eq!(tool_arguments(&Value::Null), json!({}));
    }

    #[test]
    fn fragments_reassemble_the_arguments() {
        for args in [
            json!({}),
            json!({"city": "test", "days": 1}),
            json!({"é": "ü"}),
        ] {
            let f = argument_fragments(&args);
            assert!((2..=3).contains(&f.len()), "{f:?}");
            assert_eq!(f.concat(), args.to_string());
        }
    }

    fn conversation(last: Last, tools: Vec<Tool>, choice: ToolChoice) -> Conversation {
        Conversation {
            prompt_chars: 10,
            last_user_text: "hi there".into(),
            tools,
            tool_choice: choice,
            last,
            max_tokens: None,
        }
    }

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            schema: json!({"properties": {"q": {"type": "string"}}}),
        }
    }

    #[test]
    fn a_user_turn_with_tools_calls_the_first_tool() {
        let c = conversation(Last::UserText, vec![tool("a"), tool("b")], ToolChoice::Auto);
        assert_eq!(
            c.reply(5),
            Reply::ToolCall {
                name: "a".into(),
                arguments: json!({"q": "test"})
            }
        );
        assert_eq!(c.reply(5).output_tokens(), TOOL_CALL_TOKENS);
        let named = conversation(
            Last::UserText,
            vec![tool("a"), tool("b")],
            ToolChoice::Named("b".into()),
        );
        assert!(matches!(named.reply(5), Reply::ToolCall { name, .. } if name == "b"));
        let none = conversation(Last::UserText, vec![tool("a")], ToolChoice::None);
        assert!(matches!(none.reply(5), Reply::Text(_)));
        let no_tools = conversation(Last::UserText, vec![], ToolChoice::Auto);
        assert_eq!(
            no_tools.reply(9),
            Reply::Text(pieces(&greeting("hi there"), 9))
        );
    }

    #[test]
    fn a_tool_result_is_echoed() {
        let long = "x".repeat(300);
        let c = conversation(Last::ToolResult(long), vec![tool("a")], ToolChoice::Auto);
        let Reply::Text(p) = c.reply(4) else {
            panic!("text expected")
        };
        assert_eq!(p.len(), 4);
        assert_eq!(p[0], "The");
        assert_eq!(p[3], format!(" {}", "x".repeat(200)));
    }

    #[test]
    fn pieces_cycle_words_and_usage_counts_prompt_chars() {
        assert_eq!(pieces("a b", 5), ["a", " b", " a", " b", " a"]);
        assert_eq!(pieces("", 2), ["mock", " mock"]);
        assert_eq!(pieces("a b", 0), ["a"]);
        let c = conversation(Last::Other, vec![], ToolChoice::Auto);
        assert_eq!(c.input_tokens(), 3 + 3);
    }
}
