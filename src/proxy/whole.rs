//! A whole answer read before it is sent: translated into the client's format, redacted, or
//! both, then written with its length. An OpenAI answer to an OpenAI client is read in one
//! pass and changed only where a text changed (`spliced`); any other is parsed as a tree and
//! written out again (`reencoded`).

use super::answer::{read_all, release, translate_error, write_whole, MAX_TRANSLATED_BODY};
use super::context::RequestCtx;
use super::exchange::Answer;
use crate::error::GatewayError;
use crate::providers::Provider;
use crate::translate::{dispatch, ApiFormat};
use crate::usage;
use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora_proxy::Session;

/// A whole answer that must be read before it is sent: translated into the client's format,
/// redacted, or both; then answered with its length.
pub(super) async fn answer(
    connector: &Connector,
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut answer: Answer,
    client: ApiFormat,
    model: &str,
) -> Result<(), GatewayError> {
    let waiting = std::time::Instant::now();
    let body = read_all(&mut answer, MAX_TRANSLATED_BODY, false).await;
    ctx.upstream.waited += waiting.elapsed();
    let body = body
        .map_err(|m| GatewayError::Upstream(format!("provider {}: {m}", answer.provider.name)))?;
    let sent = match spliced(ctx, &body, client, answer.provider.format()) {
        Some(spliced) => spliced?.unwrap_or(body),
        None => reencoded(ctx, body, client, &answer.provider, model)?,
    };
    release(connector, answer).await;
    if ctx.keeps_answer() {
        ctx.upstream.answer = Some(sent.clone());
    }
    let ct = http::HeaderValue::from_static("application/json");
    write_whole(session, ctx, 200, Some(ct), sent).await
}

/// The whole answer's fast path: an OpenAI answer to an OpenAI client, of the plain subset
/// `answer_view` reads, is read in one pass and its changed texts spliced into its bytes.
/// `None`: another pair of formats or another shape, for `reencoded`. Inside, `Ok(None)`:
/// the provider's bytes go out as they came.
fn spliced(
    ctx: &mut RequestCtx,
    body: &Bytes,
    client: ApiFormat,
    provider_format: ApiFormat,
) -> Option<Result<Option<Bytes>, GatewayError>> {
    if (client, provider_format) != (ApiFormat::OpenAi, ApiFormat::OpenAi) {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let view = crate::answer_view::openai(text)?;
    let reported = view.usage.and_then(usage::from_openai_usage);
    bill_whole(ctx, provider_format, reported, body);
    let red = &mut ctx.redaction;
    let policy = match red.policy.as_deref() {
        Some(policy) if red.answer_active() => policy,
        _ => return Some(Ok(None)),
    };
    let redacted = crate::redact::answer::redact_openai_view(
        policy,
        text,
        &view,
        &red.placeholders,
        &mut red.counts,
    );
    Some(redacted.map(|r| r.map(Bytes::from)).map_err(blocked))
}

/// The whole answer parsed as a tree: translated into the client's format, redacted in
/// place, and written out again when either changed it; else the provider's bytes.
fn reencoded(
    ctx: &mut RequestCtx,
    body: Bytes,
    client: ApiFormat,
    provider: &Provider,
    model: &str,
) -> Result<Bytes, GatewayError> {
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        GatewayError::Upstream(format!("provider {} sent invalid JSON: {e}", provider.name))
    })?;
    let provider_format = provider.format();
    let translated =
        dispatch::response(client, provider_format, &value, model).map_err(translate_error)?;
    bill_whole(
        ctx,
        provider_format,
        usage::from_value(provider_format, &value),
        &body,
    );
    // What goes out re-encoded: the translation, redacted in place, or the provider's own
    // answer when redaction changed it; `None` sends the provider's bytes as they came.
    // Redaction works on the value it is given (usage was read above), never on a copy.
    let encode = match ctx.redaction.policy.clone() {
        Some(policy) if ctx.redaction.answer_active() => {
            let was_translated = translated.is_some();
            let mut v = translated.unwrap_or(value);
            let red = &mut ctx.redaction;
            let changed = crate::redact::redact_answer(
                client,
                &policy,
                &mut v,
                &red.placeholders,
                &mut red.counts,
            )
            .map_err(blocked)?;
            (changed || was_translated).then_some(v)
        }
        _ => translated,
    };
    match encode {
        Some(v) => serde_json::to_vec(&v)
            .map(Bytes::from)
            .map_err(|e| GatewayError::Internal(e.to_string())),
        None => Ok(body),
    }
}

/// A whole answer read by the gateway: the provider answered, so it is billed from here, even
/// if redaction then refuses to pass it on; by the usage it `reported`, or else by its text.
fn bill_whole(
    ctx: &mut RequestCtx,
    provider_format: ApiFormat,
    reported: Option<usage::Usage>,
    body: &Bytes,
) {
    if ctx.accounting.enabled {
        ctx.accounting.answered_by = Some(provider_format);
        ctx.accounting.whole_answer(reported, || body.clone());
    }
}

/// A response-side `block` matched in a whole answer.
fn blocked(b: crate::redact::Blocked) -> GatewayError {
    GatewayError::ContentBlocked(format!(
        "the answer contained content the redaction policy blocks ({})",
        b.entity
    ))
}
