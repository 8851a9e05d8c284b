//! Parsing and validation of the `redaction:` and `guardrails:` sections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::config::{
    guardrail_problems, problems, Applies, GuardAction, GuardrailsConfig, RedactionConfig,
};
use super::Action;

const EXAMPLE: &str = r"
default_policy: default
max_span_chars: 128
policies:
  default:
    request:  { email: placeholder, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: off, secret: block }
    response: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: off, secret: mask }
    custom:
      - { name: employee_id, pattern: 'EMP-\d{6}', action: mask, direction: both }
    deny_words: { words: [project-zeus], action: block }
";

#[test]
fn the_documented_example_parses_and_is_valid() {
    let cfg: RedactionConfig = serde_yaml::from_str(EXAMPLE).unwrap();
    assert!(problems(&cfg).is_empty(), "{:?}", problems(&cfg));
    let p = &cfg.policies["default"];
    assert_eq!(p.request.email, Action::Placeholder);
    assert_eq!(p.request.ip, Action::Off);
    assert_eq!(p.custom[0].direction, Applies::Both);
    assert_eq!(p.deny_words.as_ref().unwrap().action, Action::Block);
    let g: GuardrailsConfig =
        serde_yaml::from_str("prompt_injection: { action: block, extra_phrases: [] }").unwrap();
    assert_eq!(g.prompt_injection.unwrap().action, GuardAction::Block);
}

#[test]
fn defaults_and_unknown_fields() {
    let cfg: RedactionConfig =
        serde_yaml::from_str("policies: { p: { request: { email: mask } } }").unwrap();
    assert_eq!(cfg.max_span_chars, 128);
    assert_eq!(cfg.default_policy, None);
    let p = &cfg.policies["p"];
    assert_eq!(p.request.phone, Action::Off);
    assert_eq!(p.response.email, Action::Off);
    let d: RedactionConfig = serde_yaml::from_str(
        "policies: { p: { deny_words: { words: [x] }, custom: [{name: a, pattern: b}] } }",
    )
    .unwrap();
    assert_eq!(
        d.policies["p"].deny_words.as_ref().unwrap().action,
        Action::Block
    );
    assert_eq!(d.policies["p"].custom[0].action, Action::Mask);
    for bad in [
        "policies: { p: { request: { emial: mask } } }",
        "policies: { p: { request: { email: scramble } } }",
        "max_spans: 3",
        "policies: { p: { custom: [{ name: a, pattern: b, dir: both }] } }",
    ] {
        assert!(
            serde_yaml::from_str::<RedactionConfig>(bad).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn problems_name_their_fields() {
    let cfg: RedactionConfig = serde_yaml::from_str(
        r"
default_policy: missing
max_span_chars: 0
policies:
  default:
    response: { email: placeholder }
    custom:
      - { name: employee_id, pattern: 'EMP-(\d{6}', action: mask }
      - { name: email, pattern: 'x', action: mask }
      - { name: any, pattern: 'x*', action: mask }
      - { name: t, pattern: 'x', action: placeholder, direction: response }
    deny_words: { words: [ok, '  '] }
",
    )
    .unwrap();
    let got: Vec<String> = problems(&cfg).into_iter().map(|(p, _)| p).collect();
    for want in [
        "redaction.max_span_chars",
        "redaction.default_policy",
        "redaction.policies.default.response.email",
        "redaction.policies.default.custom[0].pattern",
        "redaction.policies.default.custom[1].name",
        "redaction.policies.default.custom[2].pattern",
        "redaction.policies.default.custom[3].action",
        "redaction.policies.default.deny_words.words[1]",
    ] {
        assert!(got.iter().any(|g| g == want), "missing {want} in {got:?}");
    }
    let big: RedactionConfig = serde_yaml::from_str("max_span_chars: 5000").unwrap();
    assert_eq!(problems(&big)[0].0, "redaction.max_span_chars");
    let g: GuardrailsConfig =
        serde_yaml::from_str("prompt_injection: { action: flag, extra_phrases: ['...', 'ok'] }")
            .unwrap();
    let gp = guardrail_problems(&g);
    assert_eq!(gp.len(), 1);
    assert_eq!(gp[0].0, "guardrails.prompt_injection.extra_phrases[0]");
}
