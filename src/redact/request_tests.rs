//! The request walker: exactly the user and tool text of each format is redacted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::test_support::{mask_all, policy};
use super::{redact_request, scan_text_fields, Counts, Placeholders, TextRole};
use crate::translate::ApiFormat;
use serde_json::json;

#[test]
fn openai_chat_bodies() {
    let p = mask_all();
    let image = "data:image/png;base64,a@b.io4111111111111111";
    let mut body = json!({
        "model": "a@b.io",
        "messages": [
            {"role": "system", "content": "Escalate to boss@corp.com"},
            {"role": "user", "name": "a@b.io", "content": [
                {"type": "text", "text": "my card is 4111 1111 1111 1111"},
                {"type": "image_url", "image_url": {"url": image}}
            ]},
            {"role": "assistant", "content": "noted 10.0.0.1", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup",
                 "arguments": "{\"email\":\"x@y.io\",\"n\":3,\"tags\":[\"ssn 123-45-6789\"]}"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "found EMP-123456"}
        ]
    });
    let mut ph = Placeholders::default();
    let mut counts = Counts::default();
    assert!(redact_request(&p, ApiFormat::OpenAi, &mut body, &mut ph, &mut counts).unwrap());
    let m = &body["messages"];
    assert_eq!(body["model"], "a@b.io");
    assert_eq!(m[0]["content"], "Escalate to [EMAIL]");
    assert_eq!(m[1]["name"], "a@b.io");
    assert_eq!(m[1]["content"][0]["text"], "my card is [CREDIT_CARD]");
    assert_eq!(m[1]["content"][1]["image_url"]["url"], image);
    assert_eq!(m[2]["content"], "noted [IP]");
    let args: serde_json::Value = serde_json::from_str(
        m[2]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        args,
        json!({"email": "[EMAIL]", "n": 3, "tags": ["ssn [SSN]"]})
    );
    assert_eq!(m[2]["tool_calls"][0]["function"]["name"], "lookup");
    assert_eq!(m[3]["content"], "found [EMPLOYEE_ID]");
    assert_eq!(counts.by_entity().get("email"), Some(&2));
}

#[test]
fn openai_embeddings_inputs() {
    let p = mask_all();
    let mut ph = Placeholders::default();
    let mut c = Counts::default();
    let mut one = json!({"model": "e", "input": "mail a@b.io"});
    assert!(redact_request(&p, ApiFormat::OpenAi, &mut one, &mut ph, &mut c).unwrap());
    assert_eq!(one["input"], "mail [EMAIL]");
    let mut many = json!({"model": "e", "input": ["a@b.io", "plain"]});
    assert!(redact_request(&p, ApiFormat::OpenAi, &mut many, &mut ph, &mut c).unwrap());
    assert_eq!(many["input"], json!(["[EMAIL]", "plain"]));
    let mut tokens = json!({"model": "e", "input": [[4111, 1111], [1, 2]]});
    let before = tokens.clone();
    assert!(!redact_request(&p, ApiFormat::OpenAi, &mut tokens, &mut ph, &mut c).unwrap());
    assert_eq!(tokens, before);
}

#[test]
fn anthropic_messages_bodies() {
    let p = policy("request: { email: placeholder, credit_card: mask }");
    let mut body = json!({
        "model": "claude",
        "system": [{"type": "text", "text": "Owner: own@corp.com"}],
        "messages": [
            {"role": "user", "content": "I am a@b.io"},
            {"role": "user", "content": [
                {"type": "text", "text": "also a@b.io and c@d.io"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "a@b.io"}},
                {"type": "document", "source": {"type": "text", "data": "c@d.io"}},
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "card 4111111111111111"}]},
                {"type": "tool_result", "tool_use_id": "t2", "content": "c@d.io"}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t3", "name": "a@b.io", "input": {"to": "a@b.io", "a@b.io": [1, "e@f.io"]}}
            ]}
        ]
    });
    let mut ph = Placeholders::default();
    let mut counts = Counts::default();
    assert!(redact_request(&p, ApiFormat::Anthropic, &mut body, &mut ph, &mut counts).unwrap());
    assert_eq!(body["system"][0]["text"], "Owner: [EMAIL_1]");
    let m = &body["messages"];
    assert_eq!(m[0]["content"], "I am [EMAIL_2]");
    assert_eq!(m[1]["content"][0]["text"], "also [EMAIL_2] and [EMAIL_3]");
    assert_eq!(m[1]["content"][1]["source"]["data"], "a@b.io");
    assert_eq!(m[1]["content"][2]["source"]["data"], "c@d.io");
    assert_eq!(
        m[1]["content"][3]["content"][0]["text"],
        "card [CREDIT_CARD]"
    );
    assert_eq!(m[1]["content"][4]["content"], "[EMAIL_3]");
    assert_eq!(m[2]["content"][0]["name"], "a@b.io");
    assert_eq!(
        m[2]["content"][0]["input"],
        json!({"to": "[EMAIL_2]", "a@b.io": [1, "[EMAIL_4]"]})
    );
    assert_eq!(ph.original("[EMAIL_2]"), Some("a@b.io"));
    assert_eq!(ph.original("[EMAIL_4]"), Some("e@f.io"));
}

#[test]
fn blocked_requests_and_untouched_bodies() {
    let p = policy("request: { secret: block }");
    let mut ph = Placeholders::default();
    let mut c = Counts::default();
    let mut body =
        json!({"messages": [{"role": "user", "content": "use sk-abcdefghijklmnopqrstuvwxyz"}]});
    let err = redact_request(&p, ApiFormat::OpenAi, &mut body, &mut ph, &mut c).unwrap_err();
    assert_eq!(err.entity, "secret");
    let mut clean = json!({"messages": [{"role": "user", "content": "hello"}]});
    assert!(!redact_request(&p, ApiFormat::OpenAi, &mut clean, &mut ph, &mut c).unwrap());
}

#[test]
fn scanning_reports_roles() {
    let body = json!({
        "system": "sys",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "u"}, {"type": "tool_result", "content": "t"}]},
            {"role": "assistant", "content": "a"}
        ]
    });
    let mut seen = Vec::new();
    scan_text_fields(ApiFormat::Anthropic, &body, &mut |role, text| {
        seen.push((role, text.to_string()));
        true
    });
    assert_eq!(
        seen,
        vec![
            (TextRole::System, "sys".to_string()),
            (TextRole::User, "u".to_string()),
            (TextRole::Tool, "t".to_string()),
            (TextRole::Assistant, "a".to_string()),
        ]
    );
}
