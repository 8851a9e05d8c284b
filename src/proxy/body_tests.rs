//! `Tap::burst`: what the client gets of a passthrough stream's bursts, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{join, Burst, Tap};
use crate::redact::{Placeholders, RedactionConfig, Redactor, SseRedactor};
use crate::translate::ApiFormat;
use crate::usage::StreamUsage;
use bytes::Bytes;

fn redactor(secret: &str) -> SseRedactor {
    let yaml = format!(
        "policies:\n  p:\n    response: {{ email: mask, secret: {secret} }}\n    request: {{}}\n"
    );
    let cfg: RedactionConfig = serde_yaml::from_str(&yaml).unwrap();
    let policy = Redactor::compile(&cfg)
        .unwrap()
        .policy("p")
        .cloned()
        .unwrap();
    let span = policy.max_span_chars();
    SseRedactor::new(ApiFormat::OpenAi, policy, Placeholders::default(), span)
}

fn delta(text: &str) -> String {
    format!(
        r#"{{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{{"content":"{text}"}},"finish_reason":null}}]}}"#
    )
}

const USAGE: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

fn burst(data: &str, end: bool) -> Burst {
    Burst {
        data: Some(Bytes::copy_from_slice(data.as_bytes())),
        end,
        error: None,
    }
}

/// The first chunk of an OpenAI stream: the role, no text.
const ROLE: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#;

#[test]
fn unchanged_events_go_out_as_the_same_bytes_without_a_copy() {
    // Odd but valid framing (no space after the colon, CRLF) that re-encoding would change.
    let first = format!("data:{ROLE}\r\n\r\ndata: {}\n\n", delta("Hello "));
    let second = format!("data: {}\n\n", delta(" friend"));
    let mut tap = Tap::new(true, None);
    let mut usage = StreamUsage::new(ApiFormat::OpenAi);
    let b = burst(&first, false);
    let out = tap.burst(&b, Some(&mut usage)).unwrap().unwrap();
    assert_eq!(&out[..], first.as_bytes());
    let sent = b.data.as_ref().unwrap();
    assert_eq!(
        out.as_ptr(),
        sent.as_ptr(),
        "a slice of the burst, not a copy"
    );
    let out = tap.burst(&burst(&second, true), Some(&mut usage)).unwrap();
    assert_eq!(&out.unwrap()[..], second.as_bytes());

    // Redacting, an event with nothing to redact or hold back is not copied either.
    let mut tap = Tap::new(true, Some(redactor("mask")));
    let b = burst(&format!("data:{ROLE}\r\n\r\n"), false);
    let out = tap.burst(&b, Some(&mut usage)).unwrap().unwrap();
    assert_eq!(out, b.data.clone().unwrap());
    assert_eq!(out.as_ptr(), b.data.as_ref().unwrap().as_ptr());
}

#[test]
fn a_hidden_usage_chunk_leaves_every_other_byte_as_it_came() {
    let before = format!("data:{ROLE}\r\n\r\n");
    let data = format!("{before}data: {USAGE}\n\ndata:[DONE]\r\n\r\n");
    for redacting in [false, true] {
        let mut tap = Tap::new(true, redacting.then(|| redactor("mask")));
        let mut usage = StreamUsage::new(ApiFormat::OpenAi);
        let out = tap.burst(&burst(&data, true), Some(&mut usage)).unwrap();
        assert_eq!(
            String::from_utf8(out.unwrap().to_vec()).unwrap(),
            format!("{before}data:[DONE]\r\n\r\n"),
            "redacting: {redacting}"
        );
        assert_eq!(usage.reported().map(|u| u.output), Some(2));
    }
}

#[test]
fn events_before_a_rewritten_one_keep_their_bytes() {
    let before = format!("data:{ROLE}\r\n\r\n");
    let changed = format!("data: {}\n\n", delta("mail jane@example.com now"));
    let data = format!("{before}{changed}data: [DONE]\n\n");
    let mut tap = Tap::new(false, Some(redactor("mask")));
    let out = tap.burst(&burst(&data, true), None).unwrap();
    let out = String::from_utf8(out.unwrap().to_vec()).unwrap();
    assert!(out.starts_with(&before), "{out}");
    assert!(!out.contains("jane@example.com"), "{out}");
    assert!(out.contains("now"), "{out}");
    assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
}

#[test]
fn after_a_block_only_the_events_before_it_are_left_for_the_client() {
    let a = format!("data:{}\r\n\r\n", delta("fine "));
    let data = format!(
        "{a}data: {}\n\ndata: {}\n\n",
        delta("AKIAIOSFODNN7EXAMPLE "),
        delta("more")
    );
    let mut tap = Tap::new(false, Some(redactor("block")));
    let e = tap.burst(&burst(&data, false), None).unwrap_err();
    assert_eq!(e.status(), 403, "{e}");
    let left = tap.leftover.take().unwrap();
    assert_eq!(&left[..], a.as_bytes());
}

#[test]
fn a_block_found_when_the_stream_ends_leaves_what_came_before() {
    // The key is the burst's last word: held back as it might grow, it is only judged when
    // the stream ends (`SseRedactor::finish`), after the event carrying it was rewritten.
    let before = format!("data:{ROLE}\r\n\r\n");
    let mut tap = Tap::new(false, Some(redactor("block")));
    let out = tap.burst(&burst(&before, false), None).unwrap();
    assert_eq!(&out.unwrap()[..], before.as_bytes());
    let last = format!("data: {}\n\n", delta("the key AKIAIOSFODNN7EXAMPLE"));
    let e = tap.burst(&burst(&last, true), None).unwrap_err();
    assert_eq!(e.status(), 403, "{e}");
    let left = String::from_utf8(tap.leftover.take().unwrap().to_vec()).unwrap();
    assert!(left.contains("the key"), "{left}");
    assert!(!left.contains("AKIA"), "{left}");
}

#[test]
fn a_burst_is_its_chunks_in_order_in_one_buffer() {
    let first = Bytes::from_static(b"data: 1\n\n");
    assert_eq!(join(first.clone(), &[]), first);
    let more = [Bytes::from_static(b"data: 2"), Bytes::from_static(b"\n\n")];
    let joined = join(first, &more);
    assert_eq!(&joined[..], b"data: 1\n\ndata: 2\n\n");
}
