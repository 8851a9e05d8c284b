//! The fast reading against `serde_json`'s strict reading: wherever the fast one answers, the
//! answers are the same; and it answers for the events providers really send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{anthropic, openai};
use crate::sse::test_support::{show_openai, texts, Rng, OPENAI};
use crate::sse::view::{self, AnthropicEvent};

/// Anthropic events as the API sends them, and a few as it could.
const ANTHROPIC: &[&str] = &[
    r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1,"cache_creation_input_tokens":0}}}"#,
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#,
    r#"{"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","text":"{\"q\":1}"}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, \"world\"\n"}}"#,
    r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"San Fra"}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":7}}"#,
    r#"{"type":"content_block_stop","index":0}"#,
    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
    r#"{"type":"message_stop"}"#,
    r#"{"type": "ping"}"#,
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    r#"{"type":null,"index":null,"delta":null,"content_block":null}"#,
];

fn show_anthropic(e: &AnthropicEvent<'_>) -> String {
    format!("{:?} {} {}", e.kind, e.index, texts(e.text.as_slice()))
}

/// Where the fast reading answers, `serde_json` answers the same. Returns whether it answered.
fn agrees(data: &str) -> (bool, bool) {
    let oa = match openai(data) {
        Some(fast) => {
            let slow = view::openai_serde(data)
                .unwrap_or_else(|_| panic!("fast read what serde refuses: {data}"));
            assert_eq!(show_openai(&fast), show_openai(&slow), "{data}");
            for t in fast.choices.iter().flat_map(|c| &c.texts) {
                assert!(data.contains(t.raw), "raw is a part of the data: {data}");
            }
            true
        }
        None => false,
    };
    let an = match anthropic(data) {
        Some(fast) => {
            let slow = view::anthropic_serde(data)
                .unwrap_or_else(|_| panic!("fast read what serde refuses: {data}"));
            assert_eq!(show_anthropic(&fast), show_anthropic(&slow), "{data}");
            true
        }
        None => false,
    };
    (oa, an)
}

#[test]
fn the_events_providers_send_are_read_fast_and_alike() {
    for data in OPENAI {
        let usage = data.contains("\"usage\":{");
        assert_eq!(
            agrees(data).0,
            !usage,
            "read fast unless a usage chunk: {data}"
        );
    }
    for data in ANTHROPIC {
        assert!(agrees(data).1, "read fast: {data}");
    }
}

#[test]
fn what_the_fast_reading_leaves_to_serde_json() {
    for data in [
        // A repeated known key, an escaped key, the wrong type for a known field.
        r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
        r#"{"choices":[{"delta":{"cont\u0065nt":"a"}}]}"#,
        r#"{"choices":[{"index":"0","delta":{"content":"a"}}]}"#,
        r#"{"choices":{"0":1}}"#,
        // Surrogates, raw control characters, numbers out of the grammar, deep nesting.
        r#"{"choices":[{"delta":{"content":"\ud83d\ude00"}}]}"#,
        "{\"choices\":[{\"delta\":{\"content\":\"a\u{1}b\"}}]}",
        r#"{"choices":[],"x":01}"#,
        r#"{"choices":[],"x":NaN}"#,
        r#"{"choices":[],"x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}"#,
        // A choice as an array, trailing commas, trailing bytes.
        r#"{"choices":[[0,{"content":"a"}]]}"#,
        r#"{"choices":[],}"#,
        r#"{"choices":[]} x"#,
        "[DONE]",
        "",
    ] {
        assert!(openai(data).is_none(), "{data}");
        agrees(data);
    }
}

/// Random edits of real events: whatever the fast reading accepts, `serde_json` reads alike.
#[test]
fn mutated_events_are_read_alike_or_left_to_serde_json() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds: Vec<&str> = OPENAI.iter().chain(ANTHROPIC).copied().collect();
    let (mut tried, mut fast) = (0, 0);
    for _ in 0..40_000 {
        let seed = seeds[rng.below(seeds.len())];
        let data = rng.mutate(seed);
        let (oa, an) = agrees(&data);
        tried += 1;
        fast += usize::from(oa || an);
    }
    // The mutations must not all break the events, or the test checks nothing.
    eprintln!("{fast} of {tried} read fast");
    assert!(fast > tried / 10, "{fast} of {tried} read fast");
}
