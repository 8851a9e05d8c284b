//! Admission: route the path, authenticate the key, read and bound the body, parse it and
//! resolve the model. Everything here runs before any provider is contacted, so whatever it
//! refuses never costs an upstream call.

use super::context::Route;
use crate::auth::{self, VirtualKey};
use crate::error::GatewayError;
use crate::snapshot::{Model, Snapshot};
use bytes::{Bytes, BytesMut};
use pingora_proxy::Session;
use serde_json::Value;
use std::sync::Arc;

pub fn route(method: &http::Method, path: &str) -> Result<Route, GatewayError> {
    let path = path.trim_end_matches('/');
    let (route, allowed) = match path {
        "/v1/chat/completions" | "/chat/completions" => {
            (Route::ChatCompletions, http::Method::POST)
        }
        "/v1/messages" | "/messages" => (Route::Messages, http::Method::POST),
        "/v1/embeddings" | "/embeddings" => (Route::Embeddings, http::Method::POST),
        "/v1/models" | "/models" => (Route::Models, http::Method::GET),
        _ => {
            return Err(GatewayError::RouteNotFound(
                path.chars().take(100).collect(),
            ))
        }
    };
    if *method != allowed {
        return Err(GatewayError::MethodNotAllowed(method.to_string()));
    }
    Ok(route)
}

pub fn authenticate(
    headers: &http::HeaderMap,
    snapshot: &Snapshot,
) -> Result<Arc<VirtualKey>, GatewayError> {
    let presented = auth::presented_key(headers).ok_or_else(|| {
        GatewayError::InvalidApiKey(
            "missing API key: send Authorization: Bearer <key> or x-api-key".into(),
        )
    })?;
    snapshot
        .keys
        .lookup(presented)
        .ok_or_else(|| GatewayError::InvalidApiKey("invalid API key".into()))
}

/// Read the whole body, refusing more than `max` bytes: first by the declared length, before
/// reading anything, then by counting, for chunked uploads that declare none.
pub async fn read_body(session: &mut Session, max: usize) -> Result<Bytes, GatewayError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        discard_rest(session).await;
        return Err(GatewayError::RequestTooLarge(max));
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        // curl and others wait for this before sending a large body.
        let _ = session.write_continue_response().await;
    }
    // Room for the declared length, but not reserved in full before the bytes arrive.
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(1024 * 1024));
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    discard_rest(session).await;
                    return Err(GatewayError::RequestTooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => {
                return Err(GatewayError::InvalidRequest(format!(
                    "could not read the request body: {}",
                    e.etype().as_str()
                )))
            }
        }
    }
}

/// Most of what a refused upload still has in flight: read and dropped, so that closing the
/// connection does not reset it (a reset can destroy the 413 before the client reads it).
/// Bounded in bytes and time; whatever is left after that is the client's problem.
const DISCARD_BYTES: usize = 8 * 1024 * 1024;
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn discard_rest(session: &mut Session) {
    let mut left = DISCARD_BYTES;
    let _ = tokio::time::timeout(DISCARD_TIME, async {
        while let Ok(Some(chunk)) = session.read_request_body().await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

/// A parsed API request: the client's JSON object (always a `Value::Object`) and the bytes
/// it came as.
pub struct ParsedRequest {
    pub model: String,
    pub stream: bool,
    pub json: Value,
    pub raw: Bytes,
    /// The Anthropic beta features the client asked for (`anthropic-beta`, normalised by
    /// `anthropic_beta`), forwarded to Anthropic-type providers only. Part of the cache key.
    pub anthropic_beta: Option<String>,
}

impl ParsedRequest {
    /// The body for an OpenAI-format provider, asking for the final usage chunk of a stream
    /// (`stream_options.include_usage`) when the client did not, so usage is always known.
    /// Without `stream_options` in the body, the option is spliced in after the opening brace
    /// rather than re-encoding what may be a large prompt.
    pub fn body_with_stream_usage(&self, upstream_model: &str) -> Result<Bytes, GatewayError> {
        if !self.stream || self.include_usage() {
            return self.body_for(upstream_model);
        }
        let has_options = self
            .json
            .get("stream_options")
            .is_some_and(|v| !v.is_null());
        if !has_options {
            let body = self.body_for(upstream_model)?;
            if let Some(open) = body
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .filter(|i| body.get(*i) == Some(&b'{'))
            {
                let mut out = Vec::with_capacity(body.len() + 40);
                out.extend_from_slice(body.get(..=open).unwrap_or_default());
                out.extend_from_slice(br#""stream_options":{"include_usage":true},"#);
                out.extend_from_slice(body.get(open + 1..).unwrap_or_default());
                return Ok(Bytes::from(out));
            }
        }
        self.reencode(upstream_model, true)
    }

    /// Whether an OpenAI client asked for the final usage chunk of a stream.
    pub fn include_usage(&self) -> bool {
        self.json
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The body for a target serving `upstream_model`: the client's own bytes when the model
    /// name is unchanged (no re-serialisation of a large prompt), else the object re-encoded.
    pub fn body_for(&self, upstream_model: &str) -> Result<Bytes, GatewayError> {
        if upstream_model == self.model {
            return Ok(self.raw.clone());
        }
        self.reencode(upstream_model, false)
    }

    /// The client's object with `model` set, and `stream_options.include_usage` when asked.
    fn reencode(&self, upstream_model: &str, stream_usage: bool) -> Result<Bytes, GatewayError> {
        let mut json = self.json.clone();
        if let Some(obj) = json.as_object_mut() {
            obj.insert("model".into(), Value::String(upstream_model.into()));
            if stream_usage {
                obj.insert(
                    "stream_options".into(),
                    serde_json::json!({ "include_usage": true }),
                );
            }
        }
        serde_json::to_vec(&json)
            .map(Bytes::from)
            .map_err(|e| GatewayError::Internal(format!("encoding the upstream body: {e}")))
    }
}

/// Parse and check the fields the gateway relies on, in the order a client would fix them.
pub fn parse(route: Route, raw: Bytes) -> Result<ParsedRequest, GatewayError> {
    let invalid = |m: String| GatewayError::InvalidRequest(m);
    if raw.is_empty() {
        return Err(invalid(
            "the request body is empty; expected a JSON object".into(),
        ));
    }
    let value: Value = serde_json::from_slice(&raw)
        .map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(json) = value else {
        return Err(invalid("the body must be a JSON object".into()));
    };
    let model = match json.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) | None => {
            return Err(invalid("missing required field: model".into()))
        }
        Some(_) => return Err(invalid("model must be a string".into())),
    };
    let stream = match json.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream must be a boolean".into())),
    };
    match route {
        Route::ChatCompletions => match json.get("messages") {
            Some(Value::Array(m)) if !m.is_empty() => {
                if m.iter().any(|msg| !msg.is_object()) {
                    return Err(invalid("each of messages must be an object".into()));
                }
            }
            Some(Value::Array(_)) => return Err(invalid("messages must not be empty".into())),
            Some(_) => return Err(invalid("messages must be an array".into())),
            None => return Err(invalid("missing required field: messages".into())),
        },
        Route::Messages => {
            match json.get("messages") {
                Some(Value::Array(m)) if !m.is_empty() => {
                    if m.iter().any(|msg| !msg.is_object()) {
                        return Err(invalid("each of messages must be an object".into()));
                    }
                }
                Some(Value::Array(_)) => {
                    return Err(invalid("messages: at least one message is required".into()))
                }
                Some(_) => return Err(invalid("messages must be an array".into())),
                None => return Err(invalid("messages: field required".into())),
            }
            match json.get("max_tokens") {
                Some(v) if v.as_u64().is_some_and(|n| n > 0) => {}
                Some(_) => return Err(invalid("max_tokens must be a positive integer".into())),
                None => return Err(invalid("max_tokens: field required".into())),
            }
        }
        Route::Embeddings => match json.get("input") {
            Some(Value::String(_)) | Some(Value::Array(_)) => {}
            Some(_) => return Err(invalid("input must be a string or an array".into())),
            None => return Err(invalid("missing required field: input".into())),
        },
        Route::Models | Route::Unknown => {}
    }
    Ok(ParsedRequest {
        model,
        stream,
        json: Value::Object(json),
        raw,
        anthropic_beta: None,
    })
}

/// The most beta names one request may ask for, and the longest name: far above what
/// Anthropic defines, low enough that the header stays a header.
const MAX_BETAS: usize = 32;
const MAX_BETA_NAME: usize = 100;

/// The client's `anthropic-beta` header(s), normalised: names split on commas (several
/// header lines count as one list), trimmed, sorted and deduplicated, joined by `,`. Order
/// means nothing to Anthropic, so sorting lets equal requests share a cache key. `None`
/// when the client sent no name. A name outside `[A-Za-z0-9._-]` is a 400: it could never
/// be a beta, and refusing it here keeps the provider's error (and a wasted attempt) away.
pub fn anthropic_beta(headers: &http::HeaderMap) -> Result<Option<String>, GatewayError> {
    let invalid = |m: String| GatewayError::InvalidRequest(format!("anthropic-beta: {m}"));
    let mut names = Vec::new();
    for value in headers.get_all("anthropic-beta") {
        let value = value
            .to_str()
            .map_err(|_| invalid("the header is not ASCII".into()))?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let well_formed = name.len() <= MAX_BETA_NAME
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !well_formed {
                let shown: String = name.chars().take(MAX_BETA_NAME).collect();
                return Err(invalid(format!("{shown:?} is not a beta name")));
            }
            names.push(name);
        }
    }
    names.sort_unstable();
    names.dedup();
    if names.len() > MAX_BETAS {
        return Err(invalid(format!("more than {MAX_BETAS} beta names")));
    }
    Ok((!names.is_empty()).then(|| names.join(",")))
}

/// The configured model a request names, if this key may use it.
pub fn resolve_model<'s>(
    snapshot: &'s Snapshot,
    key: &VirtualKey,
    name: &str,
) -> Result<&'s Model, GatewayError> {
    let model = snapshot
        .models
        .get(name)
        .ok_or_else(|| GatewayError::ModelNotFound(name.chars().take(200).collect()))?;
    if !key.allows(name) {
        return Err(GatewayError::ModelNotAllowed(name.to_string()));
    }
    Ok(model)
}

/// `GET /v1/models`: the models this key may use and some enabled provider serves, in the
/// OpenAI list format.
pub fn models_list(snapshot: &Snapshot, key: &VirtualKey) -> Bytes {
    let data: Vec<Value> = snapshot
        .model_order
        .iter()
        .filter(|m| key.allows(m))
        .filter(|m| snapshot.models.get(*m).is_some_and(|m| m.targets.iter().any(|t| t.provider.enabled)))
        .map(|m| serde_json::json!({ "id": m, "object": "model", "created": 0, "owned_by": "tollgate" }))
        .collect();
    Bytes::from(serde_json::json!({ "object": "list", "data": data }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Result<ParsedRequest, GatewayError> {
        parse(Route::ChatCompletions, Bytes::from(body.to_string()))
    }

    #[test]
    fn routes_and_methods() {
        assert_eq!(
            route(&http::Method::POST, "/v1/chat/completions"),
            Ok(Route::ChatCompletions)
        );
        assert_eq!(route(&http::Method::GET, "/v1/models/"), Ok(Route::Models));
        assert_eq!(
            route(&http::Method::POST, "/v1/messages"),
            Ok(Route::Messages)
        );
        assert_eq!(
            route(&http::Method::GET, "/v1/chat/completions")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            route(&http::Method::POST, "/v2/x").unwrap_err().status(),
            404
        );
    }

    #[test]
    fn bad_bodies_are_invalid_requests() {
        for body in [
            "",
            "{",
            "[]",
            r#"{"messages":[{"role":"user","content":"x"}]}"#,
            r#"{"model":7,"messages":[]}"#,
            r#"{"model":"m"}"#,
            r#"{"model":"m","messages":{}}"#,
            r#"{"model":"m","messages":[]}"#,
            r#"{"model":"m","messages":[1]}"#,
            r#"{"model":"m","messages":[{}],"stream":"yes"}"#,
        ] {
            let e = p(body).err().unwrap_or_else(|| panic!("accepted {body:?}"));
            assert_eq!(e.code(), "invalid_request", "{body}");
        }
        let bad_utf8 = parse(
            Route::ChatCompletions,
            Bytes::from_static(b"{\"model\":\"m\xff\",\"messages\":[{}]}"),
        );
        assert_eq!(bad_utf8.err().map(|e| e.status()), Some(400));
    }

    #[test]
    fn anthropic_messages_need_messages_and_max_tokens() {
        let m = |b: &str| parse(Route::Messages, Bytes::from(b.to_string()));
        assert!(
            m(r#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#)
                .is_ok()
        );
        for body in [
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","max_tokens":"9","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","max_tokens":9,"messages":[]}"#,
            r#"{"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#,
        ] {
            assert_eq!(m(body).err().map(|e| e.status()), Some(400), "{body}");
        }
    }

    #[test]
    fn streams_ask_for_usage_without_reencoding_the_prompt() {
        let r = p(r#" {"model":"demo","messages":[{"role":"user","content":"hi"}],"stream":true}"#)
            .unwrap();
        let body = r.body_with_stream_usage("demo").unwrap();
        assert_eq!(
            &body[..],
            br#" {"stream_options":{"include_usage":true},"model":"demo","messages":[{"role":"user","content":"hi"}],"stream":true}"#
        );
        let renamed: Value =
            serde_json::from_slice(&r.body_with_stream_usage("gpt-4o").unwrap()).unwrap();
        assert_eq!(
            (
                renamed["model"].as_str(),
                renamed["stream_options"]["include_usage"].as_bool()
            ),
            (Some("gpt-4o"), Some(true))
        );
        let off = p(r#"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false}}"#).unwrap();
        let v: Value = serde_json::from_slice(&off.body_with_stream_usage("m").unwrap()).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        let asked = p(r#"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}}"#).unwrap();
        assert_eq!(asked.body_with_stream_usage("m").unwrap(), asked.raw);
        let whole = p(r#"{"model":"m","messages":[{}]}"#).unwrap();
        assert_eq!(whole.body_with_stream_usage("m").unwrap(), whole.raw);
    }

    #[test]
    fn body_is_reused_unless_the_model_changes() {
        let r = p(r#"{"model":"demo","messages":[{"role":"user","content":"hi"}],"stream":true}"#)
            .unwrap();
        assert!(r.stream);
        assert_eq!(r.body_for("demo").unwrap(), r.raw);
        let other: Value = serde_json::from_slice(&r.body_for("gpt-4o").unwrap()).unwrap();
        assert_eq!(other["model"], "gpt-4o");
        assert_eq!(other["messages"][0]["content"], "hi");
    }

    fn beta(lines: &[&[u8]]) -> Result<Option<String>, GatewayError> {
        let mut h = http::HeaderMap::new();
        for l in lines {
            h.append("anthropic-beta", http::HeaderValue::from_bytes(l).unwrap());
        }
        anthropic_beta(&h)
    }

    #[test]
    fn beta_names_are_normalised_into_one_sorted_list() {
        assert_eq!(beta(&[]), Ok(None));
        assert_eq!(beta(&[b" , ,"]), Ok(None));
        assert_eq!(
            beta(&[b"output-128k-2025-02-19"]),
            Ok(Some("output-128k-2025-02-19".into()))
        );
        // Two header lines, spaces, a repeat and reversed order: one canonical value.
        assert_eq!(
            beta(&[
                b"interleaved-thinking-2025-05-14, context-1m-2025-08-07",
                b"context-1m-2025-08-07,",
            ]),
            Ok(Some(
                "context-1m-2025-08-07,interleaved-thinking-2025-05-14".into()
            ))
        );
    }

    #[test]
    fn malformed_beta_names_are_invalid_requests() {
        let long = "a".repeat(MAX_BETA_NAME + 1);
        let many = (0..=MAX_BETAS)
            .map(|i| format!("b{i}"))
            .collect::<Vec<_>>()
            .join(",");
        for bad in [
            &b"context 1m"[..],
            b"x;y",
            b"a,\"quoted\"",
            b"caf\xc3\xa9",
            long.as_bytes(),
            many.as_bytes(),
        ] {
            let e = beta(&[bad]).unwrap_err();
            assert_eq!(e.status(), 400, "{bad:?}");
            assert!(e.to_string().contains("anthropic-beta"), "{e}");
        }
        // At the limits is fine.
        let at = (0..MAX_BETAS).map(|i| format!("b{i}")).collect::<Vec<_>>();
        assert_eq!(
            beta(&[at.join(",").as_bytes()])
                .unwrap()
                .unwrap()
                .split(',')
                .count(),
            MAX_BETAS
        );
        assert!(beta(&["a".repeat(MAX_BETA_NAME).as_bytes()]).is_ok());
    }
}
