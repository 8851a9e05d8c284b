//! Which requests the semantic cache may answer, and the scope their entries live in.
//!
//! A request qualifies only when its answer depends on nothing but its last question and
//! things that must match exactly:
//! - a client format the cache replays (OpenAI or Anthropic, not Gemini);
//! - no `tools`, `functions`, `tool_choice` or `function_call` (even empty or `none`), and no
//!   tool traffic in the conversation (OpenAI `tool`/`function` messages or assistant
//!   `tool_calls`; Anthropic blocks whose type mentions `tool`);
//! - at most `max_messages` messages, system prompts (OpenAI `system`/`developer` messages,
//!   Anthropic `system`) not counted;
//! - the last message is the user's, and its content is text: a string or only `text` parts
//!   (an image, audio or file part disqualifies), not blank, at most `max_question_chars`
//!   characters;
//! - `n` absent, `null` or 1;
//! - `temperature` at most `max_temperature`, or absent (see `config`'s documentation).
//!
//! The **scope** is where the question's entries live; two questions are only ever compared
//! within one scope. It is the exact cache's key (`key::cache_key`: the virtual key's name, the
//! client format, the configured model, the Anthropic betas, and the body without `stream`,
//! `stream_options`, `user`, Anthropic `metadata`) of the body with the last message's content replaced by a
//! fixed marker, hashed again with a version tag and the embedding model's name. So a scope
//! is "the same everything except the question": every system prompt, every earlier turn,
//! every parameter that changes the answer (temperature, max_tokens, response_format, ...)
//! and the embedding model whose vectors are compared.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::config::SemanticConfig;
use crate::cache::key::cache_key;
use crate::translate::ApiFormat;

/// Bump when what goes into a scope changes: old entries then simply miss.
const SCOPE_VERSION: &[u8] = b"tollgate.semantic.v1";

/// What replaces the question in the body the scope hashes. NUL bytes: no client text is
/// likely to equal it, and if one did, the entry would still need a similar question.
const QUESTION_MARKER: &str = "\u{0}tollgate.semantic.question\u{0}";

/// Top-level fields that disqualify a request when present (and not `null`).
const TOOL_FIELDS: &[&str] = &["tools", "functions", "tool_choice", "function_call"];

/// A request the semantic cache may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The last user message's text (text parts joined by newlines), to embed.
    pub text: String,
    /// The scope its entries are searched and stored in.
    pub scope: [u8; 32],
}

/// The question of `body`, a request of `key_name` (the virtual key's name) in the client's
/// `format` for the configured `model` with `anthropic_beta` (as in `key::cache_key`), or
/// `None` when the request does not qualify (see the module documentation). Pure and cheap:
/// the body is cloned only once it qualifies.
pub fn question(
    key_name: &str,
    format: ApiFormat,
    model: &str,
    anthropic_beta: Option<&str>,
    body: &Value,
    cfg: &SemanticConfig,
) -> Option<Question> {
    let obj = body.as_object()?;
    if format == ApiFormat::Gemini || !parameters_qualify(obj, cfg) {
        return None;
    }
    let messages = obj.get("messages")?.as_array()?;
    let (last, earlier) = messages.split_last()?;
    let mut turns = 1;
    for m in earlier {
        match earlier_message(format, m)? {
            Earlier::SystemPrompt => {}
            Earlier::Turn => turns += 1,
        }
    }
    if turns > cfg.max_messages {
        return None;
    }
    let text = last_user_text(format, last)?;
    if text.trim().is_empty() || text.chars().count() > cfg.max_question_chars {
        return None;
    }
    let last = messages.len() - 1;
    let scope = scope(key_name, format, model, anthropic_beta, obj, last, cfg);
    Some(Question { text, scope })
}

/// No tools, one choice, a low (or unset) temperature.
fn parameters_qualify(obj: &Map<String, Value>, cfg: &SemanticConfig) -> bool {
    let present = |f: &str| obj.get(f).is_some_and(|v| !v.is_null());
    if TOOL_FIELDS.iter().any(|f| present(f)) {
        return false;
    }
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => return false,
    }
    match obj.get("temperature") {
        None | Some(Value::Null) => true,
        Some(t) => t
            .as_f64()
            .is_some_and(|t| t <= f64::from(cfg.max_temperature)),
    }
}

enum Earlier {
    SystemPrompt,
    Turn,
}

/// What an earlier message is, or `None` when it disqualifies the request.
fn earlier_message(format: ApiFormat, m: &Value) -> Option<Earlier> {
    let role = m.get("role")?.as_str()?;
    match (format, role) {
        (ApiFormat::OpenAi, "system" | "developer") => Some(Earlier::SystemPrompt),
        (ApiFormat::OpenAi, "user") => Some(Earlier::Turn),
        (ApiFormat::OpenAi, "assistant") => {
            let calls = ["tool_calls", "function_call"]
                .iter()
                .any(|f| m.get(*f).is_some_and(|v| !v.is_null()));
            (!calls).then_some(Earlier::Turn)
        }
        (ApiFormat::Anthropic, "user" | "assistant") => {
            let tool_block = m
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|b| {
                    b.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.contains("tool"))
                });
            (!tool_block).then_some(Earlier::Turn)
        }
        // Tool results, unknown roles, Gemini.
        _ => None,
    }
}

/// The text of the last message when it is the user's and text only.
fn last_user_text(format: ApiFormat, m: &Value) -> Option<String> {
    if m.get("role")?.as_str()? != "user" {
        return None;
    }
    if format == ApiFormat::OpenAi && m.get("tool_call_id").is_some() {
        return None;
    }
    match m.get("content")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let mut texts = Vec::with_capacity(parts.len());
            for p in parts {
                if p.get("type")?.as_str()? != "text" {
                    return None;
                }
                texts.push(p.get("text")?.as_str()?);
            }
            Some(texts.join("\n"))
        }
        _ => None,
    }
}

/// The scope of a qualifying request: see the module documentation. `last` is the index of
/// the question's message.
fn scope(
    key_name: &str,
    format: ApiFormat,
    model: &str,
    anthropic_beta: Option<&str>,
    obj: &Map<String, Value>,
    last: usize,
    cfg: &SemanticConfig,
) -> [u8; 32] {
    let mut marked = obj.clone();
    if let Some(m) = marked
        .get_mut("messages")
        .and_then(|ms| ms.get_mut(last))
        .and_then(Value::as_object_mut)
    {
        m.insert("content".into(), Value::String(QUESTION_MARKER.into()));
    }
    let exact = cache_key(
        key_name,
        format,
        model,
        anthropic_beta,
        &Value::Object(marked),
    );
    let mut h = Sha256::new();
    for part in [SCOPE_VERSION, cfg.embedding_model.as_bytes(), &exact] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> SemanticConfig {
        serde_yaml::from_str("embedding_model: embed").unwrap()
    }

    fn openai(last: &str) -> Value {
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are the support bot."},
                {"role": "user", "content": last},
            ],
            "temperature": 0.2,
            "max_tokens": 200,
        })
    }

    fn anthropic(last: &str) -> Value {
        json!({
            "model": "claude",
            "system": "You are the support bot.",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": [{"type": "text", "text": last}]}],
        })
    }

    fn ask(body: &Value) -> Option<Question> {
        question(
            "support-bot",
            ApiFormat::OpenAi,
            "gpt-4o-mini",
            None,
            body,
            &cfg(),
        )
    }

    fn ask_anthropic(body: &Value) -> Option<Question> {
        question(
            "support-bot",
            ApiFormat::Anthropic,
            "claude",
            None,
            body,
            &cfg(),
        )
    }

    fn scope_of(body: &Value) -> [u8; 32] {
        ask(body).unwrap().scope
    }

    fn with(mut body: Value, field: &str, v: Value) -> Value {
        body.as_object_mut().unwrap().insert(field.into(), v);
        body
    }

    fn without(mut body: Value, field: &str) -> Value {
        body.as_object_mut().unwrap().remove(field);
        body
    }

    #[test]
    fn a_plain_question_qualifies_with_its_text() {
        let q = ask(&openai("How do I reset my password?")).unwrap();
        assert_eq!(q.text, "How do I reset my password?");
        let q = ask_anthropic(&anthropic("How do I reset my password?")).unwrap();
        assert_eq!(q.text, "How do I reset my password?");
        // Text parts are joined; OpenAI parts too.
        let parts = with(
            openai(""),
            "messages",
            json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]),
        );
        assert_eq!(ask(&parts).unwrap().text, "a\nb");
    }

    #[test]
    fn tools_disqualify() {
        let base = openai("hi");
        for (field, v) in [
            (
                "tools",
                json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]),
            ),
            ("tools", json!([])),
            ("functions", json!([{"name": "f"}])),
            ("tool_choice", json!("none")),
            ("function_call", json!("auto")),
        ] {
            assert_eq!(ask(&with(base.clone(), field, v)), None, "{field}");
        }
        // null is absent.
        assert!(ask(&with(base, "tools", Value::Null)).is_some());
        let a = with(
            anthropic("hi"),
            "tools",
            json!([{"name": "f", "input_schema": {}}]),
        );
        assert_eq!(ask_anthropic(&a), None);
    }

    #[test]
    fn tool_messages_disqualify() {
        let tool_turn = json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "user", "content": "thanks, and tomorrow?"},
        ]);
        assert_eq!(ask(&with(openai(""), "messages", tool_turn)), None);
        let assistant_call = json!([
            {"role": "assistant", "content": "x", "tool_calls": [{"id": "c1"}]},
            {"role": "user", "content": "q"},
        ]);
        assert_eq!(ask(&with(openai(""), "messages", assistant_call)), None);
        let last_is_tool = json!([{"role": "tool", "tool_call_id": "c1", "content": "sunny"}]);
        assert_eq!(ask(&with(openai(""), "messages", last_is_tool)), None);
        let function_role = json!([
            {"role": "function", "name": "f", "content": "1"},
            {"role": "user", "content": "q"},
        ]);
        assert_eq!(ask(&with(openai(""), "messages", function_role)), None);
        let anthropic_tools = json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
        ]);
        assert_eq!(
            ask_anthropic(&with(anthropic(""), "messages", anthropic_tools)),
            None
        );
        let earlier_tool_result = json!([
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and tomorrow?"},
        ]);
        assert_eq!(
            ask_anthropic(&with(anthropic(""), "messages", earlier_tool_result)),
            None
        );
    }

    #[test]
    fn long_conversations_disqualify_and_system_prompts_do_not_count() {
        let turns = |n: usize| {
            let mut ms = vec![
                json!({"role": "system", "content": "s"}),
                json!({"role": "developer", "content": "d"}),
            ];
            for i in 0..n {
                let role = if (n - i) % 2 == 1 {
                    "user"
                } else {
                    "assistant"
                };
                ms.push(json!({"role": role, "content": format!("m{i}")}));
            }
            with(openai(""), "messages", Value::Array(ms))
        };
        assert!(ask(&turns(1)).is_some());
        assert!(ask(&turns(3)).is_some());
        assert!(ask(&turns(4)).is_some());
        assert_eq!(ask(&turns(5)), None);
        let short = SemanticConfig {
            max_messages: 1,
            ..cfg()
        };
        let q = |b: &Value| question("k", ApiFormat::OpenAi, "m", None, b, &short);
        assert!(q(&turns(1)).is_some());
        assert_eq!(q(&turns(2)), None);
    }

    #[test]
    fn the_last_message_must_be_a_users_text() {
        let last_assistant = json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]);
        assert_eq!(ask(&with(openai(""), "messages", last_assistant)), None);
        let image = json!([{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ]}]);
        assert_eq!(ask(&with(openai(""), "messages", image)), None);
        let anthropic_image = json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            {"type": "text", "text": "what is this?"},
        ]}]);
        assert_eq!(
            ask_anthropic(&with(anthropic(""), "messages", anthropic_image)),
            None
        );
        assert_eq!(ask(&with(openai(""), "messages", json!([]))), None);
        assert_eq!(ask(&without(openai("q"), "messages")), None);
        assert_eq!(ask(&openai("   \n")), None);
        let null_content = json!([{"role": "user", "content": null}]);
        assert_eq!(ask(&with(openai(""), "messages", null_content)), None);
        let unknown_role =
            json!([{"role": "narrator", "content": "x"}, {"role": "user", "content": "q"}]);
        assert_eq!(ask(&with(openai(""), "messages", unknown_role)), None);
        assert_eq!(ask(&json!("not an object")), None);
    }

    #[test]
    fn several_choices_disqualify() {
        assert_eq!(ask(&with(openai("q"), "n", json!(2))), None);
        assert_eq!(ask(&with(openai("q"), "n", json!("1"))), None);
        assert!(ask(&with(openai("q"), "n", json!(1))).is_some());
        assert!(ask(&with(openai("q"), "n", Value::Null)).is_some());
    }

    #[test]
    fn temperature_above_the_maximum_disqualifies_and_absent_qualifies() {
        assert!(ask(&with(openai("q"), "temperature", json!(0.5))).is_some());
        assert!(ask(&with(openai("q"), "temperature", json!(0))).is_some());
        assert_eq!(ask(&with(openai("q"), "temperature", json!(0.51))), None);
        assert_eq!(ask(&with(openai("q"), "temperature", json!(1))), None);
        assert_eq!(ask(&with(openai("q"), "temperature", json!("0.1"))), None);
        assert!(ask(&without(openai("q"), "temperature")).is_some());
        assert!(ask(&with(openai("q"), "temperature", Value::Null)).is_some());
        assert!(ask_anthropic(&anthropic("q")).is_some());
        assert_eq!(
            ask_anthropic(&with(anthropic("q"), "temperature", json!(0.9))),
            None
        );
    }

    #[test]
    fn long_questions_disqualify() {
        let c = SemanticConfig {
            max_question_chars: 5,
            ..cfg()
        };
        let q = |s: &str| question("k", ApiFormat::OpenAi, "m", None, &openai(s), &c);
        assert!(q("abcde").is_some());
        // Characters, not bytes.
        assert!(q("ééééé").is_some());
        assert_eq!(q("abcdef"), None);
    }

    #[test]
    fn gemini_never_qualifies() {
        let body = json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}]});
        assert_eq!(
            question("k", ApiFormat::Gemini, "m", None, &body, &cfg()),
            None
        );
        assert_eq!(
            question("k", ApiFormat::Gemini, "m", None, &openai("q"), &cfg()),
            None
        );
    }

    #[test]
    fn a_rephrased_question_keeps_its_scope() {
        let a = ask(&openai("How do I reset my password?")).unwrap();
        let b = ask(&openai("How can I reset my password")).unwrap();
        assert_ne!(a.text, b.text);
        assert_eq!(a.scope, b.scope);
        // Also as text parts, and whatever stream, user or body model say.
        let parts = with(
            openai(""),
            "messages",
            json!([
                {"role": "system", "content": "You are the support bot."},
                {"role": "user", "content": [{"type": "text", "text": "reset password?"}]},
            ]),
        );
        let parts = with(parts, "stream", json!(true));
        let parts = with(parts, "stream_options", json!({"include_usage": true}));
        let parts = with(parts, "user", json!("u-1"));
        let parts = with(parts, "model", json!("alias"));
        assert_eq!(scope_of(&parts), a.scope);
        let x = ask_anthropic(&anthropic("How do I reset my password?")).unwrap();
        let meta = with(
            anthropic("Password reset, how?"),
            "metadata",
            json!({"user_id": "u"}),
        );
        assert_eq!(x.scope, ask_anthropic(&meta).unwrap().scope);
    }

    #[test]
    fn the_scope_differs_by_key_format_model_betas_and_embedding_model() {
        // A body both formats accept (no system message, which Anthropic does not have).
        let body = with(
            openai(""),
            "messages",
            json!([{"role": "user", "content": "q"}]),
        );
        let base = scope_of(&body);
        let c = cfg();
        let s = |key: &str, f: ApiFormat, model: &str, c: &SemanticConfig| {
            question(key, f, model, None, &body, c).unwrap().scope
        };
        assert_ne!(base, s("other-bot", ApiFormat::OpenAi, "gpt-4o-mini", &c));
        assert_ne!(base, s("support-bot", ApiFormat::OpenAi, "gpt-4o", &c));
        assert_ne!(
            base,
            s("support-bot", ApiFormat::Anthropic, "gpt-4o-mini", &c)
        );
        let other_embedder = SemanticConfig {
            embedding_model: "embed-2".into(),
            ..cfg()
        };
        assert_ne!(
            base,
            s(
                "support-bot",
                ApiFormat::OpenAi,
                "gpt-4o-mini",
                &other_embedder
            )
        );
        let with_beta = question(
            "support-bot",
            ApiFormat::OpenAi,
            "gpt-4o-mini",
            Some("b"),
            &body,
            &c,
        );
        assert_ne!(base, with_beta.unwrap().scope);
    }

    #[test]
    fn the_scope_differs_by_system_prompt_earlier_turns_and_parameters() {
        let base = scope_of(&openai("q"));
        let system = with(
            openai(""),
            "messages",
            json!([{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "q"}]),
        );
        assert_ne!(base, scope_of(&system));
        let no_system = with(
            openai(""),
            "messages",
            json!([{"role": "user", "content": "q"}]),
        );
        assert_ne!(base, scope_of(&no_system));
        let earlier = |answer: &str| {
            with(
                openai(""),
                "messages",
                json!([
                    {"role": "system", "content": "You are the support bot."},
                    {"role": "user", "content": "I use the mobile app."},
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": "How do I reset my password?"},
                ]),
            )
        };
        assert_ne!(base, scope_of(&earlier("OK.")));
        assert_ne!(scope_of(&earlier("OK.")), scope_of(&earlier("Noted.")));
        for (field, v) in [
            ("temperature", json!(0.3)),
            ("max_tokens", json!(201)),
            ("top_p", json!(0.9)),
            ("response_format", json!({"type": "json_object"})),
            ("seed", json!(7)),
        ] {
            assert_ne!(base, scope_of(&with(openai("q"), field, v)), "{field}");
        }
        assert_ne!(base, scope_of(&without(openai("q"), "temperature")));
        // Anthropic's system prompt is a field of its own.
        let a = ask_anthropic(&anthropic("q")).unwrap().scope;
        let pirate = with(anthropic("q"), "system", json!("You are a pirate."));
        assert_ne!(a, ask_anthropic(&pirate).unwrap().scope);
        assert_ne!(
            a,
            ask_anthropic(&without(anthropic("q"), "system"))
                .unwrap()
                .scope
        );
        // Fields of the question's message other than its content count too.
        let named = with(
            openai(""),
            "messages",
            json!([
                {"role": "system", "content": "You are the support bot."},
                {"role": "user", "name": "alice", "content": "q"},
            ]),
        );
        assert_ne!(base, scope_of(&named));
    }
}
