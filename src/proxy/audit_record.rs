//! The audit record of one request, built in `logging` from what its context learned.

use super::context::{RequestCtx, Route};
use crate::audit::Record;
use crate::usage::Source;

/// The record of a request that ended with `status` sent to the client (0: none).
pub fn build(ctx: &RequestCtx, status: u16) -> Record {
    let key = ctx.admission.key.as_ref();
    let elapsed = ctx.started.elapsed();
    let settled = ctx.accounting.result.as_ref();
    let token_source = settled.map(|s| match (s.input_source, s.output_source) {
        (Source::Provider, Source::Provider) => "provider",
        (Source::Estimate, Source::Estimate) => "estimate",
        _ => "mixed",
    });
    let guardrail = ctx
        .redaction
        .guardrail
        .map(|(rule, blocked)| format!("{rule}:{}", if blocked { "blocked" } else { "flagged" }));
    let started_ms = crate::clock::unix_ms().saturating_sub(elapsed.as_millis() as u64);
    let text =
        |b: &Option<bytes::Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    Record {
        ts: crate::state::period::rfc3339_ms(started_ms),
        request_id: ctx.request_id.clone(),
        key: key.map(|k| k.name.clone()),
        team: key.and_then(|k| k.team.clone()),
        route: ctx.admission.route.map_or("unknown", Route::label),
        model: ctx.admission.model.clone(),
        provider: ctx.upstream.provider.clone(),
        upstream_model: ctx.upstream.upstream_model.clone(),
        stream: ctx.admission.stream,
        status,
        attempts: ctx.upstream.attempts,
        input_tokens: settled.map_or(0, |s| s.usage.input + s.usage.cached_input),
        output_tokens: settled.map_or(0, |s| s.usage.output),
        token_source,
        cost_usd: settled.map_or(0.0, |s| s.cost_usd),
        latency_ms: ms(elapsed),
        ttft_ms: ctx
            .upstream
            .first_byte_at
            .map(|t| ms(t.duration_since(ctx.started))),
        overhead_ms: ms(elapsed.saturating_sub(ctx.upstream.waited)),
        cache: ctx.cache.status.map(|s| s.header()),
        redactions: ctx.redaction.counts.by_entity(),
        guardrail,
        error: ctx.upstream.error_code,
        outcome: ctx.upstream.client_gone.then_some("client_gone"),
        request_body: text(&ctx.audit_request),
        response_body: if ctx.audit_request.is_some() {
            text(&ctx.upstream.answer)
        } else {
            None
        },
    }
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
