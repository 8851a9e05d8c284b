//! The cache key: a normalised request.
//!
//! `cache_key` is SHA-256 over a canonical, injective encoding of
//! (version tag, key scope, client format, configured model, Anthropic betas, normalised
//! body):
//! - every part is length-prefixed (u64 little-endian), so `("ab","c")` and `("a","bc")`
//!   never encode alike;
//! - the body is walked as a tree with a tag byte per node, lengths before strings and
//!   counts before arrays and objects, so every encoding is self-delimiting and two
//!   different bodies never share one (no JSON escaping involved, and nothing can fail);
//! - object keys come in sorted order: this crate's serde_json is built WITHOUT the
//!   `preserve_order` feature (checked with `cargo tree -e features -i serde_json`), so
//!   `serde_json::Map` is a `BTreeMap` and iterates sorted. The test
//!   `map_iterates_sorted` fails if a dependency ever turns `preserve_order` on (the damage
//!   would only be misses: field order would then split keys, never merge them);
//! - top-level fields that do not change the answer are dropped: `model` (the configured
//!   name is its own part), `stream`, `stream_options`, `user`, and for Anthropic
//!   `metadata`. Everything else (messages, temperature, max_tokens, tools, ...) counts.
//!
//! Numbers count by their JSON text: `1` and `1.0` are different keys (a miss, not a
//! wrong hit). Of the request headers only `anthropic-beta` is part of the key (normalised at
//! admission): a beta changes what the provider answers, every other header the gateway
//! forwards is its own.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::translate::ApiFormat;

/// Bump when the encoding or the dropped fields change: old entries then simply miss.
const VERSION: &[u8] = b"tollgate.cache.v2";

/// Top-level body fields that never change the answer, in every format.
const DROPPED: &[&str] = &["model", "stream", "stream_options", "user"];
/// ... and in Anthropic's only.
const DROPPED_ANTHROPIC: &[&str] = &["metadata"];

/// The key of a request: `scope` is the virtual key's name (entries are per key), `format`
/// the client's API format, `model` the configured model name the client asked for,
/// `anthropic_beta` the client's normalised beta list (`proxy::admission::anthropic_beta`),
/// `body` the client's request body (before redaction or translation, as the caller chooses,
/// but consistently).
pub fn cache_key(
    scope: &str,
    format: ApiFormat,
    model: &str,
    anthropic_beta: Option<&str>,
    body: &Value,
) -> [u8; 32] {
    let mut h = Sha256::new();
    part(&mut h, VERSION);
    part(&mut h, scope.as_bytes());
    part(&mut h, format_label(format).as_bytes());
    part(&mut h, model.as_bytes());
    match anthropic_beta {
        None => h.update(b"-"),
        Some(betas) => {
            h.update(b"+");
            part(&mut h, betas.as_bytes());
        }
    }
    match body {
        Value::Object(map) => {
            let anthropic = format == ApiFormat::Anthropic;
            let kept = |k: &String| {
                let k = k.as_str();
                !(DROPPED.contains(&k) || anthropic && DROPPED_ANTHROPIC.contains(&k))
            };
            h.update(b"{");
            len(&mut h, map.keys().filter(|k| kept(k)).count());
            for (k, v) in map.iter().filter(|(k, _)| kept(k)) {
                part(&mut h, k.as_bytes());
                value(&mut h, v);
            }
        }
        other => value(&mut h, other),
    }
    h.finalize().into()
}

/// Lowercase hex of a key (64 characters), for store keys and logs.
pub fn hex(key: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in key {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A stable label per format (never `Debug`, which may change with a rename).
fn format_label(format: ApiFormat) -> &'static str {
    match format {
        ApiFormat::OpenAi => "openai",
        ApiFormat::Anthropic => "anthropic",
        ApiFormat::Gemini => "gemini",
    }
}

fn len(h: &mut Sha256, n: usize) {
    h.update((n as u64).to_le_bytes());
}

fn part(h: &mut Sha256, bytes: &[u8]) {
    len(h, bytes.len());
    h.update(bytes);
}

/// One node of the body: a tag byte, then its self-delimiting content.
fn value(h: &mut Sha256, v: &Value) {
    match v {
        Value::Null => h.update(b"n"),
        Value::Bool(false) => h.update(b"f"),
        Value::Bool(true) => h.update(b"t"),
        Value::Number(n) => {
            h.update(b"#");
            part(h, n.to_string().as_bytes());
        }
        Value::String(s) => {
            h.update(b"s");
            part(h, s.as_bytes());
        }
        Value::Array(items) => {
            h.update(b"[");
            len(h, items.len());
            for item in items {
                value(h, item);
            }
        }
        Value::Object(map) => {
            // Sorted: Map is a BTreeMap here (see the module comment).
            h.update(b"{");
            len(h, map.len());
            for (k, v) in map {
                part(h, k.as_bytes());
                value(h, v);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn openai() -> Value {
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "max_tokens": 100,
            "stream": false,
        })
    }

    fn key(body: &Value) -> [u8; 32] {
        cache_key("support-bot", ApiFormat::OpenAi, "gpt-4o-mini", None, body)
    }

    fn with(mut body: Value, field: &str, v: Value) -> Value {
        body.as_object_mut().unwrap().insert(field.into(), v);
        body
    }

    #[test]
    fn map_iterates_sorted() {
        // Guards the module's claim: without `preserve_order`, insertion order is lost.
        let v: Value = serde_json::from_str(r#"{"b":1,"c":2,"a":3}"#).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(v.to_string(), r#"{"a":3,"b":1,"c":2}"#);
    }

    #[test]
    fn same_request_same_key_and_field_order_is_irrelevant() {
        assert_eq!(key(&openai()), key(&openai()));
        let a: Value = serde_json::from_str(
            r#"{"model":"m","temperature":0,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"tools":[{"function":{"parameters":{"properties":{},"type":"object"},"name":"f"},"type":"function"}],"messages":[{"content":"x","role":"user"}],"temperature":0,"model":"m"}"#,
        )
        .unwrap();
        assert_eq!(key(&a), key(&b));
        // But array order is content.
        let c = with(
            openai(),
            "messages",
            json!([{"role": "user", "content": "hi"}, {"role": "system", "content": "be brief"}]),
        );
        assert_ne!(key(&openai()), key(&c));
    }

    #[test]
    fn scope_format_and_model_are_part_of_the_key() {
        let b = openai();
        let base = key(&b);
        assert_ne!(
            base,
            cache_key("other-bot", ApiFormat::OpenAi, "gpt-4o-mini", None, &b)
        );
        assert_ne!(
            base,
            cache_key("support-bot", ApiFormat::Anthropic, "gpt-4o-mini", None, &b)
        );
        assert_ne!(
            base,
            cache_key("support-bot", ApiFormat::OpenAi, "gpt-4o", None, &b)
        );
        // Length prefixes: shifting bytes between parts changes the key.
        assert_ne!(
            cache_key("ab", ApiFormat::OpenAi, "c", None, &b),
            cache_key("a", ApiFormat::OpenAi, "bc", None, &b)
        );
    }

    #[test]
    fn anthropic_betas_are_part_of_the_key() {
        let b = openai();
        let k = |betas| cache_key("support-bot", ApiFormat::Anthropic, "claude", betas, &b);
        assert_eq!(k(Some("a,b")), k(Some("a,b")));
        assert_ne!(k(None), k(Some("context-1m-2025-08-07")));
        assert_ne!(k(Some("a")), k(Some("a,b")));
        // Absent and empty never meet (admission never yields an empty list, but the
        // encoding does not rely on it).
        assert_ne!(k(None), k(Some("")));
        // Length-prefixed: bytes cannot move between the model and the betas.
        assert_ne!(
            cache_key("k", ApiFormat::Anthropic, "m+", None, &b),
            cache_key("k", ApiFormat::Anthropic, "m", Some(""), &b)
        );
    }

    #[test]
    fn fields_that_change_the_answer_change_the_key() {
        let base = key(&openai());
        for (field, v) in [
            ("temperature", json!(0.3)),
            ("max_tokens", json!(101)),
            ("messages", json!([{"role": "user", "content": "hi!"}])),
            (
                "tools",
                json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]),
            ),
            ("n", json!(2)),
        ] {
            assert_ne!(base, key(&with(openai(), field, v)), "{field}");
        }
        // Removing a field changes it too, and so do value types.
        let mut no_temp = openai();
        no_temp.as_object_mut().unwrap().remove("temperature");
        assert_ne!(base, key(&no_temp));
        assert_ne!(
            key(&with(openai(), "max_tokens", json!("100"))),
            key(&with(openai(), "max_tokens", json!(100)))
        );
        assert_ne!(
            key(&with(openai(), "stop", json!(["ab", "c"]))),
            key(&with(openai(), "stop", json!(["a", "bc"])))
        );
    }

    #[test]
    fn stream_options_user_and_body_model_do_not_change_the_key() {
        let base = key(&openai());
        let b = with(openai(), "stream", json!(true));
        let b = with(b, "stream_options", json!({"include_usage": true}));
        let b = with(b, "user", json!("u-42"));
        let b = with(b, "model", json!("some-alias"));
        assert_eq!(base, key(&b));
    }

    #[test]
    fn anthropic_metadata_is_dropped_only_for_anthropic() {
        let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        let meta = with(body.clone(), "metadata", json!({"user_id": "u-1"}));
        let k = |f, b: &Value| cache_key("k", f, "m", None, b);
        assert_eq!(
            k(ApiFormat::Anthropic, &body),
            k(ApiFormat::Anthropic, &meta)
        );
        assert_ne!(k(ApiFormat::OpenAi, &body), k(ApiFormat::OpenAi, &meta));
    }

    #[test]
    fn hex_is_lowercase_and_64_chars() {
        let mut k = [0u8; 32];
        k[0] = 0xab;
        k[31] = 0x0f;
        let s = hex(&k);
        assert_eq!(s.len(), 64);
        assert!(s.starts_with("ab00"));
        assert!(s.ends_with("000f"));
    }
}
