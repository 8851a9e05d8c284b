//! The template against the full reading: whatever it reads, it reads as `view::openai` does;
//! and the chunks of a real stream fit it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::OpenAiTemplate;
use crate::mock_provider::answers::{chat_stream_events, parse_chat};
use crate::sse::test_support::{show_openai, Rng, OPENAI, PIECES};
use crate::sse::view;

/// The full strict reading, written out (`None`: refused).
fn strict(data: &str) -> Option<String> {
    view::openai(data).ok().map(|c| show_openai(&c))
}

/// The reading through `t`, written out.
fn through(t: &mut OpenAiTemplate, data: &str) -> Option<String> {
    t.read(data).ok().map(|c| show_openai(&c))
}

/// `data` would be read from the kept template, not in full.
fn fits(t: &OpenAiTemplate, data: &str) -> bool {
    t.kept.as_ref().is_some_and(|k| k.fit(data).is_some())
}

/// A template primed with `first`, which it must keep.
fn primed(first: &str) -> OpenAiTemplate {
    let mut t = OpenAiTemplate::default();
    assert_eq!(through(&mut t, first), strict(first));
    assert!(t.kept.is_some(), "kept: {first}");
    t
}

#[test]
fn the_chunks_of_a_mock_stream_fit_the_template_of_the_second() {
    let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Tell me about \"quotes\", tabs\tand naïve café"}]}"#;
    let ask = parse_chat(body.as_bytes()).unwrap();
    let events = chat_stream_events(&ask, 40, 7, 1_700_000_000);
    let chunks: Vec<String> = events
        .iter()
        .map(|e| {
            let e = std::str::from_utf8(e).unwrap();
            e.strip_prefix("data: ").unwrap().trim_end().to_string()
        })
        .filter(|d| d != "[DONE]")
        .collect();
    let mut t = OpenAiTemplate::default();
    let mut fitted = 0;
    for (i, data) in chunks.iter().enumerate() {
        let fit = fits(&t, data);
        fitted += usize::from(fit);
        // The role chunk and the first text chunk differ in their keys; every other text
        // chunk fits.
        if (2..chunks.len() - 1).contains(&i) {
            assert!(fit, "chunk {i} fits: {data}");
        }
        assert_eq!(through(&mut t, data), strict(data), "{data}");
    }
    assert!(fitted >= 38, "{fitted} of {} fitted", chunks.len());
}

#[test]
fn strings_may_change_in_length_and_escapes() {
    let base = r#"{"id":"c1","object":"chat.completion.chunk","created":5,"choices":[{"index":0,"delta":{"content":"abc"},"logprobs":null,"finish_reason":null}],"obfuscation":"x"}"#;
    let mut t = primed(base);
    for data in [
        r#"{"id":"c1","object":"chat.completion.chunk","created":5,"choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":null}],"obfuscation":"x"}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":5,"choices":[{"index":0,"delta":{"content":"line\none \"two\" \u00e9 \\ end"},"logprobs":null,"finish_reason":null}],"obfuscation":"qwertyuiop"}"#,
        r#"{"id":"another id","object":"x","created":5,"choices":[{"index":0,"delta":{"content":"bob@example.com"},"logprobs":null,"finish_reason":null}],"obfuscation":""}"#,
    ] {
        assert!(fits(&t, data), "{data}");
        assert_eq!(through(&mut t, data), strict(data), "{data}");
    }
    // Fitting chunks do not replace the template.
    assert_eq!(t.kept.as_ref().unwrap().data, base);
}

#[test]
fn values_that_repeat_keep_their_escapes() {
    // Values the next chunk repeats byte for byte are taken from the template unread, with
    // their escapes (a text that repeats, "\n" twice, must still be decoded).
    let base = r#"{"id":"c\"1","choices":[{"index":0,"delta":{"content":"line\n"},"finish_reason":null}],"obfuscation":"\u00e9"}"#;
    let mut t = primed(base);
    for data in [
        base,
        r#"{"id":"c\"1","choices":[{"index":0,"delta":{"content":"plain"},"finish_reason":null}],"obfuscation":"\u00e9"}"#,
        r#"{"id":"c\"1","choices":[{"index":0,"delta":{"content":"line\n\n"},"finish_reason":null}],"obfuscation":"e"}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"content":"line\n"},"finish_reason":null}],"obfuscation":"\u00e9"}"#,
    ] {
        assert!(fits(&t, data), "{data}");
        assert_eq!(through(&mut t, data), strict(data), "{data}");
    }
    let chunk = t.read(base).map_err(|_| "refused").unwrap();
    assert_eq!(chunk.choices[0].texts[0].text, "line\n");
}

#[test]
fn anything_else_that_differs_is_read_in_full() {
    let base = r#"{"id":"c1","created":5,"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":null}],"usage":null}"#;
    for data in [
        // A number, the index, a null where a string was, a string where null was.
        r#"{"id":"c1","created":6,"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","created":5,"choices":[{"index":1,"delta":{"content":"abc"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","created":5,"choices":[{"index":0,"delta":{"content":null},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","created":5,"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":"stop"}],"usage":null}"#,
        // A key, whitespace, the usage chunk, a second choice, a repeated key, trailing bytes.
        r#"{"id":"c1","created":5,"choices":[{"index":0,"delta":{"refusal":"abc"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1", "created":5,"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","created":5,"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        r#"{"id":"c1","created":5,"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":null},{"index":1,"delta":{"content":"d"}}],"usage":null}"#,
        r#"{"id":"c1","created":5,"choices":[{"index":0,"delta":{"content":"abc","content":"x"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","created":5,"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":null}],"usage":null} x"#,
        // A string the reading leaves to serde (a surrogate), a raw control character.
        r#"{"id":"\ud83d\ude00","created":5,"choices":[{"index":0,"delta":{"content":"abc"},"finish_reason":null}],"usage":null}"#,
        "{\"id\":\"c1\",\"created\":5,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\u{1}\"},\"finish_reason\":null}],\"usage\":null}",
        "[DONE]",
        "",
    ] {
        let mut t = primed(base);
        assert!(!fits(&t, data), "{data}");
        assert_eq!(through(&mut t, data), strict(data), "{data}");
    }
}

#[test]
fn texts_keep_their_order_and_tools() {
    // Tool arguments before the content in the bytes; the reading lists the content first.
    let base = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"{\"a\":"}}],"content":"x"}}]}"#;
    let next = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"1}"}}],"content":"yz"}}]}"#;
    let mut t = primed(base);
    assert!(fits(&t, next));
    assert_eq!(through(&mut t, next), strict(next));
}

#[test]
fn a_refusal_or_a_long_chunk_is_not_kept() {
    let mut t = OpenAiTemplate::default();
    let refusal = r#"{"choices":[{"index":0,"delta":{"refusal":"no"}}]}"#;
    assert_eq!(through(&mut t, refusal), strict(refusal));
    assert!(t.kept.is_none());
    let long = format!(
        r#"{{"choices":[{{"index":0,"delta":{{"content":"{}"}}}}]}}"#,
        "a".repeat(super::MAX_TEMPLATE_BYTES)
    );
    assert_eq!(through(&mut t, &long), strict(&long));
    assert!(t.kept.is_none());
    let many: Vec<String> = (0..=super::MAX_HOLES)
        .map(|i| format!(r#""k{i}":"v""#))
        .collect();
    let many = format!(r#"{{"choices":[],{}}}"#, many.join(","));
    assert_eq!(through(&mut t, &many), strict(&many));
    assert!(t.kept.is_none());
}

/// Random edits of real chunks, anywhere or inside one string value, read through a template
/// of the chunk they came from: the same reading as in full, whether they fit or not.
#[test]
fn edited_chunks_read_through_a_template_read_as_in_full() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut tried, mut fitted) = (0, 0);
    for _ in 0..40_000 {
        let base = OPENAI[rng.below(OPENAI.len())];
        let mut t = OpenAiTemplate::default();
        assert_eq!(through(&mut t, base), strict(base));
        if t.kept.is_none() {
            continue;
        }
        let data = match rng.below(2) {
            0 => rng.mutate(base),
            // New bytes inside one string value, most of them still a string.
            _ => {
                let holes = &t.kept.as_ref().unwrap().holes;
                let Some(hole) = holes.get(rng.below(holes.len().max(1))) else {
                    continue;
                };
                let inside: String = (0..rng.below(4))
                    .map(|_| PIECES[rng.below(PIECES.len())])
                    .collect();
                let mut data = base.to_string();
                data.replace_range(hole.start + 1..hole.end - 1, &inside);
                data
            }
        };
        let fit = fits(&t, &data);
        assert_eq!(through(&mut t, &data), strict(&data), "{base}\n{data}");
        tried += 1;
        fitted += usize::from(fit);
    }
    // Enough edits must fit, or the test checks only the fallback.
    eprintln!("{fitted} of {tried} fitted");
    assert!(fitted > tried / 4, "{fitted} of {tried} fitted");
}
