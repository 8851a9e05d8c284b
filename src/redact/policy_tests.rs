//! Actions, placeholders, counts, and the compiled `Redactor`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::test_support::{policy, redact};
use super::{Action, Counts, Direction, Entity, Placeholders, RedactionConfig, Redactor};
use std::borrow::Cow;

#[test]
fn each_action() {
    let p = policy(
        r"
request: { email: mask, phone: hash, credit_card: placeholder, secret: block, ip: off }
",
    );
    assert_eq!(redact(&p, "a@b.io"), "[EMAIL]");
    let hashed = redact(&p, "+1-202-555-0143");
    assert!(
        hashed.starts_with("[PHONE:") && hashed.len() == "[PHONE:123456]".len(),
        "{hashed}"
    );
    assert_eq!(redact(&p, "+1-202-555-0143"), hashed, "stable");
    assert_ne!(redact(&p, "+1-202-555-0144"), hashed);
    assert_eq!(redact(&p, "4111 1111 1111 1111"), "[CREDIT_CARD_1]");
    assert_eq!(
        redact(&p, "key sk-abcdefghijklmnopqrstuvwxyz"),
        "<blocked:secret>"
    );
    assert_eq!(redact(&p, "10.0.0.1"), "10.0.0.1");
}

#[test]
fn hash_is_the_first_six_hex_of_sha256() {
    let p = policy("request: { email: hash }");
    assert_eq!(redact(&p, "to a@b.io."), "to [EMAIL:0f3306].");
}

#[test]
fn placeholders_are_numbered_per_entity_and_stable_per_value() {
    let p = policy("request: { email: placeholder, phone: placeholder }");
    let mut ph = Placeholders::default();
    let mut counts = Counts::default();
    let text = "a@x.io b@x.io a@x.io +1-202-555-0143";
    let out = p
        .redact(Direction::Request, text, &mut ph, &mut counts)
        .unwrap();
    assert_eq!(out, "[EMAIL_1] [EMAIL_2] [EMAIL_1] [PHONE_1]");
    // A second field of the same request continues the numbering.
    let out = p
        .redact(Direction::Request, "c@x.io, b@x.io", &mut ph, &mut counts)
        .unwrap();
    assert_eq!(out, "[EMAIL_3], [EMAIL_2]");
    assert_eq!(ph.len(), 4);
    assert_eq!(
        ph.restore("Hi [EMAIL_2] and [EMAIL_3], call [PHONE_1]. [EMAIL_9] [x]"),
        "Hi b@x.io and c@x.io, call +1-202-555-0143. [EMAIL_9] [x]"
    );
    assert!(matches!(
        ph.restore("no placeholder here"),
        Cow::Borrowed(_)
    ));
    assert_eq!(
        counts.get("email", Direction::Request, Action::Placeholder),
        5
    );
    assert_eq!(
        counts.get("phone", Direction::Request, Action::Placeholder),
        1
    );
    assert_eq!(counts.by_entity().get("email"), Some(&5));
}

#[test]
fn nothing_matched_borrows_and_counts_nothing() {
    let p = policy("request: { email: mask, credit_card: mask }");
    let mut ph = Placeholders::default();
    let mut counts = Counts::default();
    let text = "An ordinary sentence with numbers 12 and 2024.";
    let out = p
        .redact(Direction::Request, text, &mut ph, &mut counts)
        .unwrap();
    assert!(matches!(out, Cow::Borrowed(t) if std::ptr::eq(t, text)));
    assert!(counts.is_empty());
}

#[test]
fn blocks_are_counted_and_name_the_entity_only() {
    let p = policy("request: { email: mask }\ndeny_words: { words: [project-zeus] }");
    let mut ph = Placeholders::default();
    let mut counts = Counts::default();
    let err = p
        .redact(
            Direction::Request,
            "a@b.io on Project-Zeus",
            &mut ph,
            &mut counts,
        )
        .unwrap_err();
    assert_eq!(err.entity, "deny_word");
    assert!(!err.to_string().contains("zeus"));
    assert_eq!(
        counts.get("deny_word", Direction::Request, Action::Block),
        1
    );
}

#[test]
fn directions_and_custom_directions_are_separate() {
    let p = policy(
        r"
request: { email: placeholder }
response: { email: mask }
custom:
  - { name: ticket, pattern: 'TCK-[0-9]+', action: mask, direction: response }
  - { name: emp, pattern: 'EMP-[0-9]+', action: placeholder, direction: both }
",
    );
    let mut ph = Placeholders::default();
    let mut c = Counts::default();
    let req = p
        .redact(Direction::Request, "a@b.io TCK-1 EMP-7", &mut ph, &mut c)
        .unwrap();
    assert_eq!(req, "[EMAIL_1] TCK-1 [EMP_1]");
    let resp = p
        .redact(Direction::Response, "a@b.io TCK-1 EMP-7", &mut ph, &mut c)
        .unwrap();
    assert_eq!(resp, "[EMAIL] [TICKET] EMP-7");
    assert_eq!(
        p.action(Direction::Response, Entity::Custom(1)),
        Action::Off
    );
    assert_eq!(p.label(Entity::Custom(0)), "ticket");
    assert_eq!(p.mask(Entity::Custom(0)), "[TICKET]");
    assert!(p.is_active(Direction::Response));
}

#[test]
fn redactor_compiles_policies_and_picks_the_default() {
    let cfg: RedactionConfig = serde_yaml::from_str(
        r"
default_policy: strict
policies:
  strict: { request: { email: mask } }
  lax: {}
",
    )
    .unwrap();
    let r = Redactor::compile(&cfg).unwrap();
    assert_eq!(r.max_span_chars(), 128);
    assert_eq!(r.default_policy().unwrap().name(), "strict");
    assert_eq!(r.policy_for(Some("lax")).unwrap().name(), "lax");
    assert!(r.policy_for(Some("nope")).is_none());
    assert!(!r.policy("lax").unwrap().is_active(Direction::Request));
    let bad: RedactionConfig =
        serde_yaml::from_str("policies: { p: { custom: [{ name: x, pattern: '(' }] } }").unwrap();
    let errs = Redactor::compile(&bad).unwrap_err();
    assert_eq!(errs[0].0, "redaction.policies.p.custom[0].pattern");
}
