//! The semantic cache on the request path: after an exact-cache miss, a qualifying question
//! (see `cache::semantic::qualify`) is embedded through the gateway's own API, with the
//! client's own key (so the embedding call is routed, limited, counted and audited like any
//! other request of that key), and the key's most similar stored question of the same scope
//! answers when it is at least `threshold` similar. Otherwise the request goes on, and its
//! complete whole answer is stored under the embedding in `logging`.
//!
//! Conservative by design: a failed embedding call is a miss, never an error; a request whose
//! redaction gave values placeholders never qualifies (its answer carries this request's own
//! values, which another question must not get back).

use super::admission::ParsedRequest;
use super::cached::{self, Status};
use super::context::{RequestCtx, Route};
use super::loopback;
use crate::cache::semantic;
use crate::snapshot::Snapshot;
use crate::state::{SharedEntry, State};
use pingora_proxy::Session;
use std::time::Duration;

/// The longest the embedding call may take before the request goes on without it.
const EMBED_LIMIT: Duration = Duration::from_secs(10);

/// `Ok(true)`: answered from the semantic cache.
pub async fn lookup(
    state: &State,
    snapshot: &Snapshot,
    session: &mut Session,
    ctx: &mut RequestCtx,
    request: &ParsedRequest,
) -> bool {
    let (Some(cfg), Some(addr)) = (&snapshot.semantic, snapshot.self_addr) else {
        return false;
    };
    // Only after the exact cache was consulted and missed (not bypassed).
    if ctx.cache.status != Some(Status::Miss) || !ctx.redaction.placeholders.is_empty() {
        return false;
    }
    let (Some(route), Some(key), Some(model)) = (
        ctx.admission.route,
        ctx.admission.key.clone(),
        ctx.admission.model.clone(),
    ) else {
        return false;
    };
    if !matches!(route, Route::ChatCompletions | Route::Messages) {
        return false;
    }
    let betas = request.anthropic_beta.as_deref();
    let Some(question) =
        semantic::question(&key.name, route.format(), &model, betas, &request.json, cfg)
    else {
        return false;
    };
    // The client's own key, presented to the gateway's own API the same way.
    let Some(bearer) =
        crate::auth::presented_key(&session.req_header().headers).map(|k| format!("Bearer {k}"))
    else {
        return false;
    };
    let started = std::time::Instant::now();
    let vector = embed(addr, &cfg.embedding_model, &question.text, &bearer).await;
    ctx.upstream.waited += started.elapsed();
    let vector = match vector {
        Ok(v) => v,
        Err(e) => {
            log::info!(
                "request {}: semantic cache skipped, the embedding call failed: {e}",
                ctx.request_id
            );
            return false;
        }
    };
    let hit = state.semantic_search(cfg, &question.scope, &vector).await;
    if let Some(hit) = hit.and_then(|h| Some((h.similarity, cached::decode(h.payload)?))) {
        let (similarity, entry) = hit;
        ctx.cache.similarity = Some(similarity);
        if cached::serve(
            session,
            ctx,
            request,
            route.format(),
            entry,
            Status::SemanticHit,
        )
        .await
        {
            return true;
        }
        ctx.cache.similarity = None;
    }
    if !request.stream {
        ctx.cache.semantic = Some((question.scope, vector));
    }
    false
}

/// The embedding of `text` by the configured `model`, through the gateway's own API.
async fn embed(
    addr: std::net::SocketAddr,
    model: &str,
    text: &str,
    bearer: &str,
) -> Result<Vec<f32>, String> {
    let body = serde_json::json!({ "model": model, "input": text }).to_string();
    let (status, answer) = loopback::post_json(
        addr,
        "/v1/embeddings",
        ("authorization", bearer),
        body.as_bytes(),
        EMBED_LIMIT,
    )
    .await?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let v: serde_json::Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
    let vector: Vec<f32> = v
        .pointer("/data/0/embedding")
        .and_then(serde_json::Value::as_array)
        .ok_or("no embedding in the answer")?
        .iter()
        .filter_map(|x| x.as_f64().map(|x| x as f32))
        .collect();
    if vector.is_empty() {
        return Err("empty embedding".into());
    }
    Ok(vector)
}

/// Store the request's complete whole answer under its question's embedding (in `logging`).
pub async fn store(state: &State, snapshot: &Snapshot, ctx: &mut RequestCtx, status: u16) {
    let (Some(cfg), Some((scope, vector))) = (&snapshot.semantic, ctx.cache.semantic.take()) else {
        return;
    };
    let Some(body) = ctx.upstream.answer.clone() else {
        return;
    };
    if status != 200 || ctx.upstream.error_code.is_some() {
        return;
    }
    let payload = cached::encode(&cached::Entry {
        provider: ctx.upstream.provider.clone().unwrap_or_default(),
        upstream_model: ctx.upstream.upstream_model.clone().unwrap_or_default(),
        body,
    });
    let at_ms = crate::clock::unix_ms();
    let entry = SharedEntry {
        id: ctx.request_id.clone(),
        scope,
        at_ms,
        vector,
        payload,
    };
    state.semantic_store(cfg, entry).await;
}
