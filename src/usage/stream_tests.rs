//! Tests of [`StreamUsage`]: usage and text per provider stream shape, the usage-only chunk
//! detection, the estimate that never re-tokenizes, and the property that a streamed
//! answer and the same whole answer give the same usage and cost.

use serde_json::json;

use super::fixtures::{self, Fixture, Tool};
use super::stream::MAX_TEXT_BYTES;
use super::{count_tokens, from_answer, from_value, Price, StreamUsage, Usage};
use crate::sse::view::{self, Reading};
use crate::sse::{SseDecoder, SseEvent};
use crate::translate::ApiFormat;

fn u(input: u64, cached_input: u64, output: u64) -> Usage {
    Usage {
        input,
        cached_input,
        output,
    }
}

fn data(v: serde_json::Value) -> SseEvent {
    SseEvent::data(v.to_string())
}

fn named(name: &str, v: serde_json::Value) -> SseEvent {
    SseEvent::named(name, v.to_string())
}

/// Decode `wire` in chunks of the given sizes (cycled) and feed every event; returns the
/// tracker and how many events were usage-only chunks.
fn run(format: ApiFormat, wire: &[u8], sizes: &[usize]) -> (StreamUsage, usize) {
    let mut tracker = StreamUsage::new(format);
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    let mut hidden = 0;
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len())
            .copied()
            .unwrap_or(1)
            .clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        decoder.feed(chunk, &mut events).unwrap();
        rest = tail;
        i += 1;
    }
    decoder.finish(&mut events).unwrap();
    for ev in &events {
        if tracker.on_event(ev) {
            hidden += 1;
        }
    }
    (tracker, hidden)
}

#[test]
fn openai_usage_chunk_is_detected_and_read() {
    let mut t = StreamUsage::new(ApiFormat::OpenAi);
    let content = data(json!({"object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": null}], "usage": null}));
    let finish = data(
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                             "usage": null}),
    );
    let usage = data(json!({"object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 2, "total_tokens": 1202,
                  "prompt_tokens_details": {"cached_tokens": 1024}}}));
    assert!(!t.on_event(&content));
    assert_eq!(t.reported(), None);
    assert!(!t.on_event(&finish));
    assert!(t.on_event(&usage));
    assert!(!t.on_event(&SseEvent::data("[DONE]")));
    assert_eq!(t.reported(), Some(u(176, 1024, 2)));
    assert_eq!(t.text(), "Hel");
}

#[test]
fn openai_usage_beside_choices_is_read_but_not_usage_only() {
    let mut t = StreamUsage::new(ApiFormat::OpenAi);
    let both = data(json!({"choices": [{"index": 0, "delta": {"content": "x"}}],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 1}}));
    assert!(!t.on_event(&both));
    assert_eq!(t.reported(), Some(u(5, 0, 1)));
    // No `choices` at all, with usage: nothing for the client but usage.
    let bare = data(json!({"usage": {"prompt_tokens": 5, "completion_tokens": 2}}));
    assert!(t.on_event(&bare));
    assert_eq!(t.reported(), Some(u(5, 0, 2)));
    // Empty choices with null usage is not a usage chunk.
    assert!(!t.on_event(&data(json!({"choices": [], "usage": null}))));
    assert!(!t.on_event(&data(json!({"choices": []}))));
}

#[test]
fn openai_keeps_content_refusals_and_tool_arguments() {
    let mut t = StreamUsage::new(ApiFormat::OpenAi);
    for ev in [
        data(json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]})),
        data(json!({"choices": [{"delta": {"content": "Say \"hi\"\n\u{e9}"}}]})),
        data(json!({"choices": [{"delta": {"refusal": " no"}}]})),
        data(
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1",
            "function": {"name": "f", "arguments": "{\"a\":"}}]}}]}),
        ),
        data(json!({"choices": [{"delta": {"tool_calls": [{"index": 0,
            "function": {"arguments": "1}"}}, {"index": 1, "function": {"arguments": "[]"}}]}}]})),
        data(json!({"choices": [{"delta": {"content": null, "tool_calls": null}}]})),
        SseEvent::data("not json"),
        SseEvent::data(": comment-like"),
    ] {
        assert!(!t.on_event(&ev));
    }
    assert_eq!(t.text(), "Say \"hi\"\n\u{e9} no{\"a\":1}[]");
    assert_eq!(t.reported(), None);
}

#[test]
fn anthropic_merges_start_and_delta_and_never_lets_a_zero_overwrite() {
    let mut t = StreamUsage::new(ApiFormat::Anthropic);
    let start = named(
        "message_start",
        json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 12,
        "cache_creation_input_tokens": 8, "cache_read_input_tokens": 100, "output_tokens": 1}}}),
    );
    assert!(!t.on_event(&start));
    // The output placeholder is reported as is until the final count arrives.
    assert_eq!(t.reported(), Some(u(20, 100, 1)));
    let delta = named(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 30, "input_tokens": 0, "cache_read_input_tokens": null}}),
    );
    assert!(!t.on_event(&delta));
    assert_eq!(t.reported(), Some(u(20, 100, 30)));
    // A newer API repeats the input fields in message_delta: same values, same usage.
    let repeat = named(
        "message_delta",
        json!({"type": "message_delta", "usage": {"input_tokens": 12,
        "cache_creation_input_tokens": 8, "cache_read_input_tokens": 100, "output_tokens": 31}}),
    );
    t.on_event(&repeat);
    assert_eq!(t.reported(), Some(u(20, 100, 31)));
}

#[test]
fn anthropic_reads_only_named_events_and_keeps_text_and_tool_json() {
    let mut t = StreamUsage::new(ApiFormat::Anthropic);
    let usage = json!({"type": "message_delta", "usage": {"output_tokens": 5}});
    // Unnamed, or named otherwise: ignored even though the data has usage.
    t.on_event(&data(usage.clone()));
    t.on_event(&named("message_stop", usage.clone()));
    assert_eq!(t.reported(), None);
    for ev in [
        named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        ),
        named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "text_delta", "text": "Hi "}}),
        ),
        named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Par"}}),
        ),
        named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": "is\"}"}}),
        ),
        named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "signature_delta", "signature": "abc"}}),
        ),
        named(
            "content_block_delta",
            json!({"type": "content_block_delta"}),
        ),
        named("ping", json!({"type": "ping"})),
        named(
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error"}}),
        ),
    ] {
        assert!(!t.on_event(&ev));
    }
    assert_eq!(t.text(), "Hi {\"city\": \"Paris\"}");
    t.on_event(&named("message_delta", usage));
    assert_eq!(t.reported(), Some(u(0, 0, 5)));
}

#[test]
fn gemini_last_usage_wins_field_by_field_with_thoughts_and_cache() {
    let mut t = StreamUsage::new(ApiFormat::Gemini);
    for ev in [
        data(
            json!({"candidates": [{"content": {"parts": [{"text": "thinking...", "thought": true}]}}],
            "usageMetadata": {"promptTokenCount": 100, "cachedContentTokenCount": 64, "totalTokenCount": 100}}),
        ),
        data(
            json!({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 1}}),
        ),
        data(json!({"candidates": [{"content": {"parts": [{"text": "lo"},
                {"functionCall": {"name": "f", "args": {"a": "x y", "b": [1, 2]}}}]},
                "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                              "thoughtsTokenCount": 30, "totalTokenCount": 150}})),
    ] {
        assert!(!t.on_event(&ev));
    }
    assert_eq!(t.reported(), Some(u(36, 64, 50)));
    assert_eq!(t.text(), "Hello{\"a\":\"x y\",\"b\":[1,2]}");
}

#[test]
fn gemini_without_usage_reports_nothing() {
    let mut t = StreamUsage::new(ApiFormat::Gemini);
    t.on_event(&data(
        json!({"candidates": [{"content": {"parts": [{"text": "a"}]}}]}),
    ));
    t.on_event(&data(json!({"usageMetadata": {"promptTokenCount": 0}})));
    t.on_event(&SseEvent::data("{broken"));
    assert_eq!(t.reported(), None);
    assert_eq!(t.text(), "a");
}

#[test]
fn estimate_output_tokenizes_each_byte_once() {
    let mut t = StreamUsage::new(ApiFormat::OpenAi);
    assert_eq!(t.estimate_output("gpt-4o"), 0);
    let first = "The quick brown fox jumps over the lazy dog.";
    t.on_event(&data(json!({"choices": [{"delta": {"content": first}}]})));
    let n1 = t.estimate_output("gpt-4o");
    assert_eq!(n1, count_tokens("gpt-4o", first));
    assert_eq!(t.tokenized_bytes(), first.len() as u64);
    // Nothing new: the same count, and nothing tokenized again.
    assert_eq!(t.estimate_output("gpt-4o"), n1);
    assert_eq!(t.tokenized_bytes(), first.len() as u64);
    // More text: only the new bytes are tokenized.
    let second = " And then it slept.";
    t.on_event(&data(json!({"choices": [{"delta": {"content": second}}]})));
    let n2 = t.estimate_output("gpt-4o-2024-08-06");
    assert_eq!(n2, n1 + count_tokens("gpt-4o", second));
    assert_eq!(t.tokenized_bytes(), (first.len() + second.len()) as u64);
    // Another encoding counts the whole text again, with that encoding.
    let all = format!("{first}{second}");
    assert_eq!(
        t.estimate_output("claude-sonnet-4-5"),
        count_tokens("claude-sonnet-4-5", &all)
    );
    assert_eq!(t.tokenized_bytes(), 2 * all.len() as u64);
}

#[test]
fn text_beyond_the_cap_counts_as_bytes_over_four() {
    let mut t = StreamUsage::new(ApiFormat::Anthropic);
    // "é" is 2 bytes: the cut must land on a character boundary.
    let piece = "é".repeat(300_000); // 600,000 bytes
    for _ in 0..4 {
        t.on_event(&named(
            "content_block_delta",
            json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    assert_eq!(t.text().len(), MAX_TEXT_BYTES);
    let overflow = 4 * piece.len() - MAX_TEXT_BYTES;
    let kept_tokens = count_tokens("claude-haiku-4-5", t.text());
    assert_eq!(
        t.estimate_output("claude-haiku-4-5"),
        kept_tokens + (overflow as u64).div_ceil(4)
    );
    // Beyond the cap nothing more is kept or tokenized.
    let before = t.tokenized_bytes();
    t.on_event(&named(
        "content_block_delta",
        json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "abcd"}}),
    ));
    assert_eq!(
        t.estimate_output("claude-haiku-4-5"),
        kept_tokens + (overflow as u64 + 4).div_ceil(4)
    );
    assert_eq!(t.tokenized_bytes(), before);
}

/// xorshift64*: a small deterministic generator for the property test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn price(&mut self) -> f64 {
        (self.below(10_000_000) as f64) / 1000.0
    }
}

const WORDS: &[&str] = &[
    " hello",
    " world",
    ",",
    " \"quoted\"",
    "\n",
    " naïve",
    " 東京",
    " tab\there",
    " 42",
    " emoji 🦀",
    " back\\slash",
    "",
    " the",
    " end.",
];

const TOOLS: &[Tool] = &[
    Tool {
        name: "get_weather",
        args: "{\"city\":\"Paris\",\"unit\":\"c\"}",
    },
    Tool {
        name: "lookup",
        args: "{\"ids\":[1,2,3],\"q\":\"a \\\"b\\\"\"}",
    },
];

#[test]
fn streamed_and_whole_answers_give_the_same_usage_and_cost() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..300 {
        let deltas: Vec<&str> = (0..rng.below(40))
            .filter_map(|_| WORDS.get(rng.below(WORDS.len() as u64) as usize).copied())
            .collect();
        let tool = match rng.below(3) {
            0 => None,
            i => TOOLS.get(i as usize - 1).copied(),
        };
        let big = if rng.below(4) == 0 { 10_000_000 } else { 5_000 };
        let prompt = 1 + rng.below(big);
        let cached = if rng.below(2) == 0 {
            0
        } else {
            rng.below(prompt + 1)
        };
        let output = 1 + rng.below(big);
        let extra = if rng.below(2) == 0 { 0 } else { rng.below(big) };
        let (format, fx): (ApiFormat, Fixture) = match case % 3 {
            0 => (
                ApiFormat::OpenAi,
                fixtures::openai(prompt, cached, output, &deltas, tool),
            ),
            1 => (
                ApiFormat::Anthropic,
                fixtures::anthropic(
                    [prompt, extra, cached, output],
                    &deltas,
                    tool,
                    rng.below(2) == 0,
                ),
            ),
            _ => (
                ApiFormat::Gemini,
                fixtures::gemini([prompt, cached, output, extra], &deltas, tool),
            ),
        };
        let whole = from_answer(format, fx.whole.as_bytes());
        let parsed: serde_json::Value = serde_json::from_str(&fx.whole).unwrap();
        assert_eq!(whole, from_value(format, &parsed), "case {case}");
        assert!(whole.is_some(), "case {case}: {}", fx.whole);
        let sizes: Vec<usize> = (0..4).map(|_| 1 + rng.below(700) as usize).collect();
        let (mut tracker, hidden) = run(format, &fx.stream, &sizes);
        assert_eq!(tracker.reported(), whole, "case {case} {format:?}");
        assert_eq!(
            hidden,
            usize::from(format == ApiFormat::OpenAi),
            "case {case}"
        );
        assert_eq!(tracker.text(), fx.kept_text, "case {case}");
        // The estimate of the streamed text is the count of the text as one piece.
        assert_eq!(
            tracker.estimate_output("gpt-4o"),
            count_tokens("gpt-4o", &fx.kept_text)
        );
        let price = Price {
            input: rng.price(),
            output: rng.price(),
            cached_input: rng.price(),
        };
        let (Some(w), Some(s)) = (whole, tracker.reported()) else {
            unreachable!()
        };
        assert_eq!(
            price.cost(&w).to_bits(),
            price.cost(&s).to_bits(),
            "case {case}"
        );
    }
}

#[test]
fn fixtures_map_as_documented() {
    let d = ["Hello", " world"];
    let oa = fixtures::openai(1200, 1024, 40, &d, None);
    assert_eq!(
        from_answer(ApiFormat::OpenAi, oa.whole.as_bytes()),
        Some(u(176, 1024, 40))
    );
    let an = fixtures::anthropic([12, 8, 100, 30], &d, None, false);
    assert_eq!(
        from_answer(ApiFormat::Anthropic, an.whole.as_bytes()),
        Some(u(20, 100, 30))
    );
    let ge = fixtures::gemini([100, 64, 20, 30], &d, None);
    assert_eq!(
        from_answer(ApiFormat::Gemini, ge.whole.as_bytes()),
        Some(u(36, 64, 50))
    );
}

/// Feeds `events` both ways, `on_event` and the reading shared with the stream redactor;
/// both must keep the same text, report the same usage and hide the same events.
fn same_through_the_view(format: ApiFormat, events: &[SseEvent]) {
    let mut direct = StreamUsage::new(format);
    let mut shared = StreamUsage::new(format);
    for ev in events {
        let hidden = direct.on_event(ev);
        let via_view = match format {
            ApiFormat::OpenAi => view::read_openai(ev.data.trim(), |_, chunk| {
                shared.observe(ev, Reading::OpenAi(chunk))
            }),
            ApiFormat::Anthropic => view::read_anthropic(&ev.data, |_, event| {
                shared.observe(ev, Reading::Anthropic(event))
            }),
            ApiFormat::Gemini => unreachable!("Gemini streams are not redacted"),
        };
        assert_eq!(hidden, via_view, "hidden differs on {:?}", ev.data);
    }
    assert_eq!(direct.text(), shared.text());
    assert_eq!(direct.reported(), shared.reported());
}

fn events_of(wire: &[u8]) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut decoder = SseDecoder::default();
    decoder.feed(wire, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events
}

#[test]
fn the_view_shared_with_redaction_reads_what_on_event_reads() {
    let tool = Some(Tool {
        name: "lookup",
        args: r#"{"city":"Zürich","n":2}"#,
    });
    let deltas = ["Hel", "lo \"wo", "rld\"\n", "é!"];
    for tool in [None, tool] {
        let oa = fixtures::openai(1200, 1024, 40, &deltas, tool);
        same_through_the_view(ApiFormat::OpenAi, &events_of(&oa.stream));
        for repeats in [false, true] {
            let an = fixtures::anthropic([12, 8, 100, 30], &deltas, tool, repeats);
            same_through_the_view(ApiFormat::Anthropic, &events_of(&an.stream));
        }
    }
    // A refusal, a usage-only chunk without `choices`, and `[DONE]`.
    let odd = [
        data(json!({"choices": [{"index": 0, "delta": {"refusal": "I can't"}}]})),
        data(json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4}})),
        SseEvent::data("[DONE]"),
    ];
    same_through_the_view(ApiFormat::OpenAi, &odd);
    let mut t = StreamUsage::new(ApiFormat::OpenAi);
    let usage_only = SseEvent::data(r#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#);
    let hidden = view::read_openai(&usage_only.data, |_, c| {
        t.observe(&usage_only, Reading::OpenAi(c))
    });
    assert!(hidden, "a usage-only chunk is hidden");
    assert_eq!(t.reported(), Some(u(3, 0, 4)));
}
