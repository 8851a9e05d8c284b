//! Event-level stream redaction (OpenAI and Anthropic) and whole answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::stream_tests::{cut, text};
use super::test_support::Rng;
use super::test_support::{mask_all, policy};
use super::{redact_answer, CompiledPolicy, Counts, Direction, Outcome, Placeholders};
use super::{Blocked, Rewrite, SseRedactor, Stop};
use crate::sse::SseEvent;
use crate::translate::ApiFormat;
use serde_json::{json, Value};
use std::sync::Arc;

fn oa_chunk(delta: Value, finish: Option<&str>) -> SseEvent {
    SseEvent::data(
        json!({"id":"c1","object":"chat.completion.chunk","created":7,"model":"m",
               "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}]})
        .to_string(),
    )
}

/// Runs `events` through `r` one by one; returns the events as the client gets them.
fn run(r: &mut SseRedactor, events: &[SseEvent]) -> Vec<SseEvent> {
    let mut sent = Vec::new();
    for ev in events {
        let mut out = Vec::new();
        match r.on_event(ev, &mut out).unwrap() {
            Rewrite::Unchanged => {
                assert!(out.is_empty());
                sent.push(ev.clone());
            }
            Rewrite::Rewritten => sent.extend(out),
        }
    }
    let mut out = Vec::new();
    r.finish(&mut out).unwrap();
    sent.extend(out);
    sent
}

/// Runs `events` through `r` in bursts of the given sizes (cycled); returns the events as
/// the client gets them and how many of them are rewrites.
fn run_bursts(r: &mut SseRedactor, events: &[SseEvent], sizes: &[usize]) -> (Vec<SseEvent>, usize) {
    let (mut sent, mut rewritten, mut at) = (Vec::new(), 0, 0);
    for &size in sizes.iter().cycle() {
        let Some(burst) = events.get(at..(at + size.max(1)).min(events.len())) else {
            break;
        };
        if burst.is_empty() {
            break;
        }
        at += burst.len();
        let (mut outcomes, mut replaced) = (Vec::new(), Vec::new());
        r.on_burst(burst, |_, _| false, &mut outcomes, &mut replaced)
            .unwrap();
        assert_eq!(outcomes.len(), burst.len());
        for (ev, outcome) in burst.iter().zip(&outcomes) {
            match outcome {
                Outcome::Unchanged => sent.push(ev.clone()),
                Outcome::Replaced(range) => {
                    rewritten += range.len();
                    sent.extend(replaced[range.clone()].iter().cloned());
                }
                Outcome::Hidden => panic!("nothing is hidden here"),
            }
        }
    }
    let mut out = Vec::new();
    r.finish(&mut out).unwrap();
    rewritten += out.len();
    sent.extend(out);
    (sent, rewritten)
}

/// The text a client reassembles from OpenAI chunks: (content, tool arguments by index).
fn openai_text(events: &[SseEvent]) -> (String, Vec<String>) {
    let mut content = String::new();
    let mut tools: Vec<String> = Vec::new();
    for ev in events {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            continue;
        };
        for c in v["choices"].as_array().into_iter().flatten() {
            if let Some(t) = c["delta"]["content"].as_str() {
                content.push_str(t);
            }
            for call in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let i = call["index"].as_u64().unwrap() as usize;
                if tools.len() <= i {
                    tools.resize(i + 1, String::new());
                }
                if let Some(a) = call["function"]["arguments"].as_str() {
                    tools[i].push_str(a);
                }
            }
        }
    }
    (content, tools)
}

fn anthropic_text(events: &[SseEvent]) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for ev in events {
        let v: Value = serde_json::from_str(&ev.data).unwrap();
        if v["type"] == "content_block_delta" {
            let i = v["index"].as_u64().unwrap() as usize;
            if blocks.len() <= i {
                blocks.resize(i + 1, String::new());
            }
            let d = &v["delta"];
            let t = d["text"].as_str().or(d["partial_json"].as_str()).unwrap();
            blocks[i].push_str(t);
        }
    }
    blocks
}

#[test]
fn openai_split_email_and_card_arrive_masked_and_are_flushed_before_finish() {
    let mut r = SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128);
    let events = vec![
        oa_chunk(json!({"role":"assistant","content":""}), None),
        oa_chunk(json!({"content":"Mail jo"}), None),
        oa_chunk(json!({"content":"hn@exa"}), None),
        oa_chunk(json!({"content":"mple.com, card 4111 11"}), None),
        oa_chunk(json!({"content":"11 1111 1111"}), None),
        oa_chunk(json!({}), Some("stop")),
        SseEvent::data("[DONE]"),
    ];
    let sent = run(&mut r, &events);
    let (content, _) = openai_text(&sent);
    assert_eq!(content, "Mail [EMAIL], card [CREDIT_CARD]");
    for ev in &sent {
        assert!(
            !ev.data.contains("jo") || ev.data.contains("Mail"),
            "{}",
            ev.data
        );
        assert!(!ev.data.contains("4111"), "{}", ev.data);
    }
    // The held card was flushed in an extra chunk before the finish chunk, then [DONE].
    let n = sent.len();
    assert_eq!(sent[n - 1].data, "[DONE]");
    assert_eq!(
        sent[n - 2],
        events[5],
        "the finish chunk goes out unchanged"
    );
    let extra: Value = serde_json::from_str(&sent[n - 3].data).unwrap();
    assert_eq!(extra["choices"][0]["delta"]["content"], "[CREDIT_CARD]");
    assert_eq!(extra["id"], "c1");
    assert_eq!(extra["model"], "m");
    assert_eq!(extra["created"], 7);
    let counts = r.counts();
    assert_eq!(counts.by_entity().get("email"), Some(&1));
    assert_eq!(counts.by_entity().get("credit_card"), Some(&1));
}

#[test]
fn events_without_text_and_text_needing_nothing_pass_unchanged() {
    let mut r = SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128);
    let role = oa_chunk(json!({"role":"assistant"}), None);
    let mut out = Vec::new();
    assert_eq!(r.on_event(&role, &mut out).unwrap(), Rewrite::Unchanged);
    let punct = oa_chunk(json!({"content":"Hi. "}), None);
    assert_eq!(r.on_event(&punct, &mut out).unwrap(), Rewrite::Unchanged);
    let usage = SseEvent::data(r#"{"id":"c1","choices":[],"usage":{"total_tokens":3}}"#);
    assert_eq!(r.on_event(&usage, &mut out).unwrap(), Rewrite::Unchanged);
    assert!(out.is_empty());
    // A policy with nothing on the answer side and no placeholders leaves everything alone.
    let p = policy("request: { email: mask }");
    let mut idle = SseRedactor::new(ApiFormat::OpenAi, p, Placeholders::default(), 128);
    let text = oa_chunk(json!({"content":"a@b.io"}), None);
    assert_eq!(idle.on_event(&text, &mut out).unwrap(), Rewrite::Unchanged);
}

#[test]
fn a_placeholder_split_across_events_is_restored_even_where_the_answer_masks_emails() {
    let p = policy("request: { email: placeholder }\nresponse: { email: mask }");
    let mut ph = Placeholders::default();
    assert_eq!(ph.assign("EMAIL", "jane@corp.com"), "[EMAIL_1]");
    let mut r = SseRedactor::new(ApiFormat::OpenAi, p, ph, 128);
    let events = vec![
        oa_chunk(json!({"content":"Reply to [EMA"}), None),
        oa_chunk(json!({"content":"IL_1] or x@y.io"}), None),
        oa_chunk(json!({"content":" today"}), Some("stop")),
        SseEvent::data("[DONE]"),
    ];
    let sent = run(&mut r, &events);
    assert_eq!(
        openai_text(&sent).0,
        "Reply to jane@corp.com or [EMAIL] today"
    );
    for ev in &sent {
        assert!(!ev.data.contains("x@y.io"));
    }
}

#[test]
fn openai_tool_call_arguments_are_redacted_as_json() {
    let mut r = SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128);
    let events = vec![
        oa_chunk(
            json!({"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"send","arguments":""}}]}),
            None,
        ),
        oa_chunk(
            json!({"tool_calls":[{"index":0,"function":{"arguments":"{\"to\":\"line\\nbo"}}]}),
            None,
        ),
        oa_chunk(
            json!({"tool_calls":[{"index":0,"function":{"arguments":"b@x.io\"}"}}]}),
            None,
        ),
        oa_chunk(json!({}), Some("tool_calls")),
        SseEvent::data("[DONE]"),
    ];
    let sent = run(&mut r, &events);
    let (_, tools) = openai_text(&sent);
    assert_eq!(tools[0], r#"{"to":"line\n[EMAIL]"}"#);
    let v: Value = serde_json::from_str(&tools[0]).unwrap();
    assert_eq!(v["to"], "line\n[EMAIL]");
    // The name and id are untouched.
    assert!(sent[0].data.contains("\"name\":\"send\"") && sent[0].data.contains("\"t1\""));
}

#[test]
fn anthropic_text_blocks_are_masked_and_flushed_before_block_stop() {
    let mut r = SseRedactor::new(
        ApiFormat::Anthropic,
        mask_all(),
        Placeholders::default(),
        128,
    );
    let ev = |name: &str, data: Value| SseEvent::named(name, data.to_string());
    let delta = |i: u64, t: &str| {
        ev(
            "content_block_delta",
            json!({"type":"content_block_delta","index":i,"delta":{"type":"text_delta","text":t}}),
        )
    };
    let events = vec![
        ev(
            "message_start",
            json!({"type":"message_start","message":{"id":"m1"}}),
        ),
        ev(
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        delta(0, "Call +44 20 79"),
        delta(0, "46 0958 or mail a@"),
        ev("ping", json!({"type":"ping"})),
        delta(0, "b.io"),
        ev(
            "content_block_stop",
            json!({"type":"content_block_stop","index":0}),
        ),
        ev(
            "content_block_start",
            json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}}),
        ),
        ev(
            "content_block_delta",
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"ip\":\"10.0.0.1\"}"}}),
        ),
        ev(
            "content_block_stop",
            json!({"type":"content_block_stop","index":1}),
        ),
        ev(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"end_turn"}}),
        ),
        ev("message_stop", json!({"type":"message_stop"})),
    ];
    let sent = run(&mut r, &events);
    let blocks = anthropic_text(&sent);
    assert_eq!(blocks[0], "Call [PHONE] or mail [EMAIL]");
    assert_eq!(blocks[1], r#"{"ip":"[IP]"}"#);
    // Unchanged events come through as they were, in order.
    assert_eq!(sent[0], events[0]);
    assert!(sent.contains(&events[4]));
    let stop0 = sent.iter().position(|e| *e == events[6]).unwrap();
    let flushed: Value = serde_json::from_str(&sent[stop0 - 1].data).unwrap();
    assert_eq!(
        sent[stop0 - 1].event.as_deref(),
        Some("content_block_delta")
    );
    assert_eq!(flushed["delta"]["text"], "[EMAIL]");
    assert_eq!(sent.last(), events.last());
    for e in &sent {
        assert!(!e.data.contains("7946") && !e.data.contains("a@") && !e.data.contains("10.0.0.1"));
    }
}

#[test]
fn a_response_block_ends_the_stream_with_an_error() {
    let p = policy("response: { secret: block }");
    let mut r = SseRedactor::new(ApiFormat::OpenAi, p, Placeholders::default(), 128);
    let mut out = Vec::new();
    let first = oa_chunk(json!({"content":"key: sk-abcdefghij"}), None);
    let _ = r.on_event(&first, &mut out).unwrap();
    let second = oa_chunk(json!({"content":"klmnopqrstuvwxyz0123 done"}), None);
    let err = r.on_event(&second, &mut out).unwrap_err();
    assert_eq!(
        err,
        Stop::Blocked(Blocked {
            entity: "secret".into()
        })
    );
    assert!(out.iter().all(|e| !e.data.contains("sk-")));
}

#[test]
fn whole_answers_are_redacted_then_restored() {
    let p = policy("request: { email: placeholder }\nresponse: { email: mask, credit_card: mask }");
    let mut ph = Placeholders::default();
    ph.assign("EMAIL", "jane@corp.com");
    let mut counts = Counts::default();
    let mut oa = json!({
        "id": "x", "model": "gpt",
        "choices": [{"index": 0, "message": {"role": "assistant",
            "content": "Write [EMAIL_1], not bob@x.io; card 4111 1111 1111 1111",
            "tool_calls": [{"id":"t","type":"function","function":{"name":"f",
                "arguments":"{\"to\":\"[EMAIL_1]\",\"cc\":\"bob@x.io\"}"}}]}}]
    });
    assert!(redact_answer(ApiFormat::OpenAi, &p, &mut oa, &ph, &mut counts).unwrap());
    assert_eq!(
        oa["choices"][0]["message"]["content"],
        "Write jane@corp.com, not [EMAIL]; card [CREDIT_CARD]"
    );
    let args: Value = serde_json::from_str(
        oa["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args, json!({"to": "jane@corp.com", "cc": "[EMAIL]"}));
    let mut an = json!({
        "content": [
            {"type": "text", "text": "Hi [EMAIL_1] from a@b.io"},
            {"type": "tool_use", "id": "t", "name": "mail", "input": {"to": ["[EMAIL_1]", "c@d.io"], "n": 1}}
        ]
    });
    assert!(redact_answer(ApiFormat::Anthropic, &p, &mut an, &ph, &mut counts).unwrap());
    assert_eq!(an["content"][0]["text"], "Hi jane@corp.com from [EMAIL]");
    assert_eq!(
        an["content"][1]["input"],
        json!({"to": ["jane@corp.com", "[EMAIL]"], "n": 1})
    );
    let mut plain = json!({"content": [{"type": "text", "text": "nothing here"}]});
    assert!(!redact_answer(ApiFormat::Anthropic, &p, &mut plain, &ph, &mut counts).unwrap());
}

/// A rewritten event keeps every other byte as the provider wrote it: only the text field
/// changes (no tree round trip reorders keys or rewrites escapes).
#[test]
fn a_rewritten_event_changes_only_its_text_field() {
    let mut r = SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128);
    let data = r#"{"model":"m","id":"c\u00e9", "choices":[{"index":0,"delta":{"content":"mail me at jane@corp.com\u0021 ok"},"finish_reason":"stop"}] ,"z":1}"#;
    let sent = run(&mut r, &[SseEvent::data(data)]);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].data,
        r#"{"model":"m","id":"c\u00e9", "choices":[{"index":0,"delta":{"content":"mail me at [EMAIL]! ok"},"finish_reason":"stop"}] ,"z":1}"#
    );
    let anthropic = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"to a@b.io"}}"#;
    let stop = r#"{"type":"content_block_stop","index":0}"#;
    let mut r = SseRedactor::new(
        ApiFormat::Anthropic,
        mask_all(),
        Placeholders::default(),
        128,
    );
    let events = [
        SseEvent::named("content_block_delta", anthropic),
        SseEvent::named("content_block_stop", stop),
    ];
    let sent = run(&mut r, &events);
    assert_eq!(anthropic_text(&sent), vec!["to [EMAIL]"]);
    assert!(sent.iter().all(|e| !e.data.contains("a@b.io")), "{sent:?}");
    assert_eq!(sent.last().unwrap().data, stop);
}

/// Valid JSON the fast reading refuses (a repeated key, an index written as a string) is
/// still redacted: the event is normalised once and read again.
#[test]
fn odd_but_valid_events_are_still_redacted() {
    let events = [
        // serde_json keeps the last of repeated keys, and so does a client parsing it.
        SseEvent::data(
            r#"{"choices":[{"index":0,"delta":{"content":"safe","content":"mail jane@corp.com"}}]}"#,
        ),
        SseEvent::data(
            r#"{"choices":[{"index":"0","delta":{"content":" or 4111 1111 1111 1111"},"finish_reason":"stop"}]}"#,
        ),
        SseEvent::data("[DONE]"),
    ];
    let mut r = SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128);
    let sent = run(&mut r, &events);
    let (content, _) = openai_text(&sent);
    assert_eq!(content, "mail [EMAIL] or [CREDIT_CARD]");
    for ev in &sent {
        assert!(
            !ev.data.contains("jane@") && !ev.data.contains("1111"),
            "{ev:?}"
        );
    }
    let mut r = SseRedactor::new(
        ApiFormat::Anthropic,
        mask_all(),
        Placeholders::default(),
        128,
    );
    let dup = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","text":"a@b.io"},"delta":{"type":"text_delta","text":"to a@b.io"}}"#;
    let sent = run(&mut r, &[SseEvent::named("content_block_delta", dup)]);
    assert_eq!(anthropic_text(&sent), vec!["to [EMAIL]"]);
}

/// Odd JSON whose last value needs nothing still goes out as its normalised copy: a client
/// that keeps the first of repeated keys must not see the value redaction never read.
#[test]
fn an_odd_event_goes_out_as_the_copy_redaction_read() {
    let first_wins = SseEvent::data(
        r#"{"choices":[{"index":0,"delta":{"content":"jane@corp.com","content":"bye"},"finish_reason":"stop"}]}"#,
    );
    for sizes in [&[1][..], &[2]] {
        let mut r = SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128);
        let (sent, _) = run_bursts(
            &mut r,
            &[first_wins.clone(), SseEvent::data("[DONE]")],
            sizes,
        );
        assert_eq!(openai_text(&sent).0, "bye");
        assert!(sent.iter().all(|e| !e.data.contains("jane")), "{sent:?}");
    }
    let mut r = SseRedactor::new(
        ApiFormat::Anthropic,
        mask_all(),
        Placeholders::default(),
        128,
    );
    let dup = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a@b.io","text":"fine"}}"#;
    let sent = run(&mut r, &[SseEvent::named("content_block_delta", dup)]);
    assert_eq!(anthropic_text(&sent), vec!["fine"]);
    assert!(sent.iter().all(|e| !e.data.contains("a@b.io")), "{sent:?}");
    assert_eq!(sent[0].event.as_deref(), Some("content_block_delta"));
}

/// Fed in bursts of any size, a stream reaches the client with the same text as fed event
/// by event, which is the whole text redacted; and the same counts.
#[test]
fn bursts_of_any_size_give_the_text_and_counts_events_one_by_one_give() {
    let p = mask_all();
    let mut rng = Rng::new(5);
    for case in 0..150 {
        let text = text(&mut rng, true);
        let pieces = cut(&mut rng, &text, 1 + case % 12);
        let mut ph = Placeholders::default();
        let mut counts = Counts::default();
        let Ok(whole) = p.redact(Direction::Response, &text, &mut ph, &mut counts) else {
            continue;
        };
        let sizes: Vec<usize> = (0..3).map(|_| 1 + rng.below(8)).collect();
        // OpenAI: a role chunk, the text deltas, a finish chunk, `[DONE]`.
        let mut events = vec![oa_chunk(json!({"role":"assistant","content":""}), None)];
        events.extend(
            pieces
                .iter()
                .map(|t| oa_chunk(json!({ "content": t }), None)),
        );
        events.push(oa_chunk(json!({}), Some("stop")));
        events.push(SseEvent::data("[DONE]"));
        let (one, by_one) = fed_both_ways(&p, ApiFormat::OpenAi, &events, &sizes);
        assert_eq!(openai_text(&one).0, whole, "pieces {pieces:?}");
        assert_eq!(
            openai_text(&by_one).0,
            whole,
            "bursts {sizes:?}, pieces {pieces:?}"
        );
        // Anthropic: one text block.
        let ev = |name: &str, data: Value| SseEvent::named(name, data.to_string());
        let mut events = vec![ev(
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        )];
        events.extend(pieces.iter().map(|t| {
            ev(
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":t}}),
            )
        }));
        events.push(ev(
            "content_block_stop",
            json!({"type":"content_block_stop","index":0}),
        ));
        events.push(ev("message_stop", json!({"type":"message_stop"})));
        let (one, by_one) = fed_both_ways(&p, ApiFormat::Anthropic, &events, &sizes);
        assert_eq!(anthropic_text(&one).concat(), whole);
        assert_eq!(anthropic_text(&by_one).concat(), whole, "bursts {sizes:?}");
    }
}

/// The events a client gets fed one by one, and fed in bursts of `sizes`; the counts agree.
fn fed_both_ways(
    p: &Arc<CompiledPolicy>,
    format: ApiFormat,
    events: &[SseEvent],
    sizes: &[usize],
) -> (Vec<SseEvent>, Vec<SseEvent>) {
    let mut a = SseRedactor::new(format, Arc::clone(p), Placeholders::default(), 128);
    let mut b = SseRedactor::new(format, Arc::clone(p), Placeholders::default(), 128);
    let one = run(&mut a, events);
    let (bursts, _) = run_bursts(&mut b, events, sizes);
    assert_eq!(a.counts(), b.counts());
    (one, bursts)
}

/// The point of bursts: text deltas whose text is already final keep their bytes. One by
/// one, each delta's last word is held and released into the next: all are rewritten.
#[test]
fn in_one_burst_only_the_deltas_around_held_text_are_rewritten() {
    let mut events = vec![oa_chunk(json!({"role":"assistant","content":""}), None)];
    for i in 0..40 {
        events.push(oa_chunk(json!({ "content": format!("word{i} ") }), None));
    }
    let (_, one_by_one) = run_bursts(
        &mut SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128),
        &events,
        &[1],
    );
    let (sent, in_bursts) = run_bursts(
        &mut SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128),
        &events,
        &[11, 30],
    );
    assert!(one_by_one >= 39, "one by one: {one_by_one} rewritten");
    // Per burst: its first delta (gets the held word), its last (holds its word); then the
    // word still held at the end goes out in an extra delta.
    assert!(in_bursts <= 5, "in bursts: {in_bursts} rewritten");
    let content = openai_text(&sent).0;
    assert!(content.starts_with("word0 word1 ") && content.ends_with("word39 "));
}

/// A block inside a batch: the burst's events before the batch still go out, none of the
/// batch does.
#[test]
fn a_block_in_a_burst_keeps_only_the_events_before_its_batch() {
    let p = policy("response: { secret: block }");
    let mut r = SseRedactor::new(ApiFormat::OpenAi, p, Placeholders::default(), 128);
    let burst = [
        oa_chunk(json!({"role":"assistant","content":"Here:"}), None),
        oa_chunk(json!({"content":" fine, key: sk-abcdefghij"}), None),
        oa_chunk(json!({"content":"klmnopqrstuvwxyz0123 done"}), None),
    ];
    let (mut outcomes, mut replaced) = (Vec::new(), Vec::new());
    let err = r
        .on_burst(&burst, |_, _| false, &mut outcomes, &mut replaced)
        .unwrap_err();
    assert_eq!(
        err,
        Stop::Blocked(Blocked {
            entity: "secret".into()
        })
    );
    assert_eq!(
        outcomes,
        vec![Outcome::Unchanged],
        "only the first event goes out"
    );
}

/// `serde_json` refuses an unpaired surrogate escape that JavaScript and Python clients
/// accept; the text around it is still read, and redacted.
#[test]
fn text_beside_an_unpaired_surrogate_escape_is_redacted() {
    let oa = SseEvent::data(
        r#"{"choices":[{"index":0,"delta":{"content":"\ud800 mail jane@corp.com"},"finish_reason":"stop"}]}"#,
    );
    let an = SseEvent::named(
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\udc00 mail jane@corp.com"}}"#,
    );
    for (format, ev) in [(ApiFormat::OpenAi, oa), (ApiFormat::Anthropic, an)] {
        let mut r = SseRedactor::new(format, mask_all(), Placeholders::default(), 128);
        let sent = run(&mut r, &[ev]);
        assert!(sent.iter().all(|e| !e.data.contains("jane")), "{sent:?}");
        assert!(sent.iter().any(|e| e.data.contains("[EMAIL]")), "{sent:?}");
    }
}

/// JSON that `serde_json` cannot read but clients' parsers may (Python reads `NaN`, both
/// read unpaired surrogates), or no JSON at all: with redaction on, such an event stops the
/// stream, after the events before it with their held text settled. Odd values the strict
/// reading skips (`1e400`, deep nesting) leave the text readable: it is redacted.
#[test]
fn an_event_redaction_cannot_read_stops_the_stream_after_the_events_before_it() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases = [
        (r#"{"choices":[{"index":0,"delta":{"content":"jane@corp.com"}}],"x":NaN}"#.to_string(), false),
        (r#"{"choices":[{"index":0,"delta":{"content":"a"},"delta":{"content":"jane@corp.com"}}],"\ud800":1}"#.to_string(), false),
        ("jane@corp.com".to_string(), false),
        (r#"{"choices":[{"index":0,"delta":{"content":"jane@corp.com"}}],"x":1e400}"#.to_string(), true),
        (format!(r#"{{"choices":[{{"index":0,"delta":{{"content":"jane@corp.com"}}}}],"x":{deep}}}"#), true),
    ];
    for (data, readable) in cases {
        let burst = [
            oa_chunk(json!({"role":"assistant","content":"Mail jo"}), None),
            oa_chunk(json!({"content":"hn@corp.com now"}), None),
            SseEvent::data(data.clone()),
            oa_chunk(json!({"content":"the end"}), None),
        ];
        let mut r = SseRedactor::new(ApiFormat::OpenAi, mask_all(), Placeholders::default(), 128);
        let (mut outcomes, mut replaced) = (Vec::new(), Vec::new());
        let res = r.on_burst(&burst, |_, _| false, &mut outcomes, &mut replaced);
        if readable {
            assert_eq!(res, Ok(()), "{data}");
        } else {
            assert_eq!(res, Err(Stop::Unreadable), "{data}");
            assert_eq!(outcomes.len(), 2, "{data}");
        }
        let sent: Vec<SseEvent> = burst
            .iter()
            .zip(&outcomes)
            .flat_map(|(ev, o)| match o {
                Outcome::Replaced(r) => replaced[r.clone()].to_vec(),
                _ => vec![ev.clone()],
            })
            .collect();
        assert!(
            sent.iter()
                .all(|e| !e.data.contains("john") && !e.data.contains("jane")),
            "{sent:?}"
        );
        assert!(openai_text(&sent).0.starts_with("Mail [EMAIL]"), "{sent:?}");
    }
    let mut r = SseRedactor::new(
        ApiFormat::Anthropic,
        mask_all(),
        Placeholders::default(),
        128,
    );
    let nan = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"jane@corp.com"},"x":NaN}"#;
    let res = r.on_event(
        &SseEvent::named("content_block_delta", nan),
        &mut Vec::new(),
    );
    assert_eq!(res, Err(Stop::Unreadable));
}

/// `[DONE]` and an event with no data carry nothing: they pass.
#[test]
fn done_and_empty_events_pass_a_redacted_stream() {
    for format in [ApiFormat::OpenAi, ApiFormat::Anthropic] {
        let mut r = SseRedactor::new(format, mask_all(), Placeholders::default(), 128);
        let events = [SseEvent::data(""), SseEvent::data("[DONE]")];
        assert_eq!(run(&mut r, &events), events.to_vec());
    }
}
