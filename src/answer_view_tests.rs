//! The one-pass reading of whole OpenAI answers against the tree reading it stands in for:
//! wherever it answers, redaction spliced into the bytes gives the answer the tree gives, with
//! the same counts, and usage reads the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::openai;
use crate::redact::answer::redact_openai_view;
use crate::redact::{redact_answer, Blocked, CompiledPolicy, Counts, Placeholders};
use crate::sse::test_support::Rng;
use crate::translate::ApiFormat;
use crate::usage;
use serde_json::Value;

/// Answers as the API sends them, and a few as it could.
const ANSWERS: &[&str] = &[
    r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! Mail jane@corp.com or call 415-555-0100.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_1"}"#,
    r#"{
  "id": "chatcmpl-2",
  "choices": [
    {"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "send", "arguments": "{\"to\":\"[EMAIL_1]\",\"cc\":\"bob@x.io\"}"}},
      {"id": "call_2", "type": "function", "function": {"name": "note", "arguments": "not json: bob@x.io"}}
    ]}, "finish_reason": "tool_calls"},
    {"index": 1, "message": {"content": "Write [EMAIL_1], card 4111 1111 1111 1111\n\"quoted\" \u00e9t\u00e9", "role": "assistant"}, "finish_reason": "stop"}
  ],
  "usage": {"prompt_tokens": 50, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 30}}
}"#,
    r#"{"choices":[{"message":{"tool_calls":[{"function":{"arguments":"{\"a\":[\"x@y.io\",{\"b\":\"EMP-123456\"}]}"},"id":"c"}],"content":"key sk-abcdefghijklmnopqrstuvwxyz0123"}}],"usage":null}"#,
    r#"{"choices":[{"message":{"content":"nothing to see","refusal":"no"},"logprobs":{"content":[{"token":"a","logprob":-0.1,"bytes":[97],"top_logprobs":[]}]}}]}"#,
    r#"{"choices":[{"message":{"content":"project-zeus is top secret"}},{"message":null},{"finish_reason":"stop"}],"usage":{"prompt_tokens":"7","completion_tokens":3.9}}"#,
    r#"{"choices":null,"usage":{"prompt_tokens":5}}"#,
    r#"{"choices":[],"usage":[1,2]}"#,
    r#"{"choices":[{"message":{"content":"","tool_calls":null}}]}"#,
    r#"{"choices":[{"message":{"tool_calls":[{"function":{"arguments":7}},{"function":null},{"type":"x"}]}}]}"#,
];

/// The request's placeholders and a policy with something of every action on answers.
fn setup() -> (std::sync::Arc<CompiledPolicy>, Placeholders) {
    let p = crate::redact::test_support::policy(
        r"
request: { email: placeholder }
response: { email: mask, phone: mask, credit_card: mask, secret: block }
custom:
  - { name: employee_id, pattern: 'EMP-\d{6}', action: mask }
deny_words: { words: [project-zeus], action: mask }
",
    );
    let mut ph = Placeholders::default();
    ph.assign("EMAIL", "jane@corp.com");
    (p, ph)
}

type Outcome = Result<Option<Value>, Blocked>;

/// The tree reading: the answer out (`None`: unchanged), the counts, the usage.
fn by_tree(body: &str, p: &CompiledPolicy, ph: &Placeholders) -> (Outcome, Counts) {
    let mut v: Value = serde_json::from_str(body).unwrap();
    let mut counts = Counts::default();
    let out = redact_answer(ApiFormat::OpenAi, p, &mut v, ph, &mut counts);
    (out.map(|changed| changed.then_some(v)), counts)
}

/// The one-pass reading, when it answers.
fn by_view(body: &str, p: &CompiledPolicy, ph: &Placeholders) -> Option<(Outcome, Counts)> {
    let view = openai(body)?;
    for t in &view.texts {
        assert!(body.contains(t.raw), "raw is a part of the body: {body}");
    }
    let from_tree = usage::from_value(ApiFormat::OpenAi, &serde_json::from_str(body).unwrap());
    assert_eq!(
        view.usage.and_then(usage::from_openai_usage),
        from_tree,
        "{body}"
    );
    let mut counts = Counts::default();
    let out = redact_openai_view(p, body, &view, ph, &mut counts);
    let out = out.map(|new| new.map(|s| serde_json::from_str(&s).expect("spliced JSON parses")));
    Some((out, counts))
}

/// Where the one-pass reading answers, it answers as the tree does. Whether it answered.
fn agrees(body: &str, p: &CompiledPolicy, ph: &Placeholders) -> bool {
    let Some(fast) = by_view(body, p, ph) else {
        return false;
    };
    assert_eq!(fast, by_tree(body, p, ph), "{body}");
    true
}

#[test]
fn the_answers_providers_send_are_read_in_one_pass_and_alike() {
    let (p, ph) = setup();
    for body in ANSWERS {
        assert!(agrees(body, &p, &ph), "read in one pass: {body}");
    }
    // And the cases are not all alike: something is changed, something blocked, something not.
    let outcomes: Vec<_> = ANSWERS.iter().map(|b| by_tree(b, &p, &ph).0).collect();
    assert!(outcomes.iter().any(|o| matches!(o, Ok(Some(_)))));
    assert!(outcomes.iter().any(|o| matches!(o, Ok(None))));
    assert!(outcomes.iter().any(|o| o.is_err()));
}

#[test]
fn a_spliced_answer_keeps_every_other_byte() {
    let (p, ph) = setup();
    let body = r#"{ "choices" : [ {"message": {"content": "to jane@corp.com", "z": 1} } ], "b": 2, "a": 1 }"#;
    let view = openai(body).unwrap();
    let out = redact_openai_view(&p, body, &view, &ph, &mut Counts::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        out,
        r#"{ "choices" : [ {"message": {"content": "to [EMAIL]", "z": 1} } ], "b": 2, "a": 1 }"#
    );
}

#[test]
fn what_the_one_pass_reading_leaves_to_the_tree() {
    let (p, ph) = setup();
    for body in [
        // Content as parts, or of another type.
        r#"{"choices":[{"message":{"content":[{"type":"text","text":"a@b.io"}]}}]}"#,
        r#"{"choices":[{"message":{"content":7}}]}"#,
        // A repeated known key, at each level.
        r#"{"choices":[],"choices":[{"message":{"content":"a@b.io"}}]}"#,
        r#"{"choices":[{"message":{"content":"x"},"message":{"content":"a@b.io"}}]}"#,
        r#"{"choices":[{"message":{"content":"x","content":"a@b.io"}}]}"#,
        r#"{"choices":[{"message":{"tool_calls":[{"function":{"arguments":"1","arguments":"a@b.io"}}]}}]}"#,
        r#"{"usage":{},"usage":{"prompt_tokens":1}}"#,
        // An escaped key, a surrogate, the wrong shapes.
        r#"{"choices":[{"message":{"cont\u0065nt":"a@b.io"}}]}"#,
        r#"{"choices":[{"message":{"content":"\ud83d\ude00 a@b.io"}}]}"#,
        r#"{"choices":{"0":{"message":{"content":"a@b.io"}}}}"#,
        r#"{"choices":["a@b.io"]}"#,
        r#"{"choices":[{"message":"a@b.io"}]}"#,
        r#"{"choices":[{"message":{"tool_calls":["a@b.io"]}}]}"#,
        r#"{"choices":[{"message":{"tool_calls":[{"function":"a@b.io"}]}}]}"#,
        r#"{"choices":[{"message":{"tool_calls":[{"function":{"arguments":{"to":"a@b.io"}}}]}}]}"#,
        r#"["a@b.io"]"#,
    ] {
        assert!(openai(body).is_none(), "{body}");
        // The tree reading still takes it (it is valid JSON).
        let _ = by_tree(body, &p, &ph);
    }
    for body in ["", "{", r#"{"choices":[]} x"#, r#"{"choices":[],}"#] {
        assert!(openai(body).is_none(), "{body}");
    }
}

/// Random edits of real answers: whatever the one-pass reading accepts, the tree reads alike.
#[test]
fn mutated_answers_are_read_alike_or_left_to_the_tree() {
    let (p, ph) = setup();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut tried, mut fast) = (0, 0);
    for _ in 0..20_000 {
        let seed = ANSWERS[rng.below(ANSWERS.len())];
        let body = rng.mutate(seed);
        if serde_json::from_str::<Value>(&body).is_err() {
            assert!(openai(&body).is_none(), "read what is not JSON: {body}");
            continue;
        }
        tried += 1;
        fast += usize::from(agrees(&body, &p, &ph));
    }
    eprintln!("{fast} of {tried} read in one pass");
    // The mutations must not all break the answers, or the test checks nothing.
    assert!(fast > tried / 4, "{fast} of {tried} read in one pass");
}
