//! Per-detector true and false positives, overlaps, and checksum fallbacks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::test_support::{mask_all, policy, redact};
use super::{Counts, Direction, Placeholders};

fn check(cases: &[(&str, &str)]) {
    let p = mask_all();
    for (input, want) in cases {
        assert_eq!(redact(&p, input), *want, "input: {input:?}");
    }
}

fn untouched(inputs: &[&str]) {
    let p = mask_all();
    for input in inputs {
        assert_eq!(redact(&p, input), *input, "should not match: {input:?}");
    }
}

#[test]
fn emails_including_inside_urls() {
    check(&[
        ("mail a.b@example.com now", "mail [EMAIL] now"),
        ("<Jane.Doe+tag@mail.example.co.uk>", "<[EMAIL]>"),
        (
            "https://x.com/?u=a.b@example.com&x=1",
            "https://x.com/?u=[EMAIL]&x=1",
        ),
        ("mailto:bob@example.org.", "mailto:[EMAIL]."),
        ("two: a@x.io, b@y.io", "two: [EMAIL], [EMAIL]"),
    ]);
    untouched(&["a@b", "user@localhost", "@handle", "x@y.1", "email me at"]);
}

#[test]
fn phones_international_and_north_american() {
    check(&[
        ("call +44 20 7946 0958 today", "call [PHONE] today"),
        ("+1-202-555-0143", "[PHONE]"),
        ("(202) 555-0143", "[PHONE]"),
        ("tel 202-555-0143.", "tel [PHONE]."),
        ("202.555.0143", "[PHONE]"),
        ("+33 1 42 68 53 00", "[PHONE]"),
    ]);
    untouched(&[
        "2025550143",
        "order 12345678901234",
        "id 123-456-7890",
        "+12",
        "1.2.3",
        "in 2024 we had 5000 users",
    ]);
}

#[test]
fn credit_cards_are_luhn_checked() {
    check(&[
        ("card 4111 1111 1111 1111 exp", "card [CREDIT_CARD] exp"),
        ("4111-1111-1111-1111", "[CREDIT_CARD]"),
        ("4111111111111111", "[CREDIT_CARD]"),
        ("amex 378282246310005", "amex [CREDIT_CARD]"),
        ("5555 5555 5555 4444 12", "[CREDIT_CARD] 12"),
    ]);
    // 16 digits failing Luhn: an order number, not a card.
    untouched(&[
        "order 1234567812345678",
        "1234 5678 9012 3456",
        "0000 0000 0000 0000",
        "12345678901234567890123",
    ]);
}

#[test]
fn a_rejected_candidate_does_not_hide_a_later_match() {
    check(&[
        (
            "1234 5678 9012 3456 and 4111 1111 1111 1111",
            "1234 5678 9012 3456 and [CREDIT_CARD]",
        ),
        // The bad grouping starts earlier; the valid card is found after it.
        ("1234 4111 1111 1111 1111", "1234 [CREDIT_CARD]"),
        (
            "GB82 WEST 1234 5698 7654 33 or GB82 WEST 1234 5698 7654 32",
            "GB82 WEST 1234 5698 7654 33 or [IBAN]",
        ),
    ]);
}

#[test]
fn ssns_exclude_invalid_numbers() {
    check(&[("ssn 123-45-6789.", "ssn [SSN].")]);
    untouched(&[
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-6789",
        "123-45-0000",
        "1234-45-6789",
    ]);
}

#[test]
fn ibans_are_checksum_checked() {
    check(&[
        ("pay GB82 WEST 1234 5698 7654 32 now", "pay [IBAN] now"),
        ("GB82WEST12345698765432", "[IBAN]"),
        ("DE89 3704 0044 0532 0130 00", "[IBAN]"),
    ]);
    untouched(&[
        "pay GB82 WEST 1234 5698 7654 33 now",
        "GB82WEST12345698765433",
        "AB12 CDEF GHIJ",
    ]);
}

#[test]
fn ip_addresses_v4_and_v6() {
    check(&[
        ("host 10.0.0.1 up", "host [IP] up"),
        ("192.168.100.255:8080", "[IP]:8080"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[IP]"),
        ("addr 2001:db8::1, ok", "addr [IP], ok"),
        ("fe80::1ff:fe23:4567:890a", "[IP]"),
        ("loopback ::1.", "loopback [IP]."),
        ("mapped ::ffff:192.0.2.1", "mapped [IP]"),
        ("route fe80::1: up", "route [IP]: up"),
    ]);
    untouched(&[
        "256.1.1.1",
        "1.2.3",
        "at 12:30:45 we met",
        "std::vector<int>",
        "a:b:c",
        "00:1a:2b:3c:4d:5e",
        "Note: face: bad",
    ]);
}

#[test]
fn secrets_of_each_kind() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let pem =
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1\nabc==\n-----END RSA PRIVATE KEY-----";
    check(&[
        ("key sk-abcdefghijklmnopqrstuvwxyz012345", "key [SECRET]"),
        ("sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz_0123-456", "[SECRET]"),
        (
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-xyz",
            "[SECRET]",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE.", "aws [SECRET]."),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[SECRET]"),
        ("gho_abcdefghijklmnopqrstuvwxyz0123456789 x", "[SECRET] x"),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "[SECRET]",
        ),
        (&format!("token {jwt} end"), "token [SECRET] end"),
        (&format!("here:\n{pem}\nthanks"), "here:\n[SECRET]\nthanks"),
        (
            "Authorization: Bearer abcdef0123456789abcdef==",
            "Authorization: [SECRET]",
        ),
    ]);
    untouched(&[
        "task-force",
        "sk-short",
        "AKIA1234",
        "ghp_short",
        "a Bearer token",
        "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
        "eyJhbGciOiJIUzI1NiJ9",
    ]);
}

#[test]
fn custom_patterns_and_deny_words() {
    check(&[
        ("ask EMP-123456 today", "ask [EMPLOYEE_ID] today"),
        ("Project-Zeus launches", "[DENIED] launches"),
        ("about PROJECT-ZEUS.", "about [DENIED]."),
        ("this is Top  Secret", "this is Top  Secret"),
        ("this is TOP SECRET!", "this is [DENIED]!"),
    ]);
    untouched(&[
        "EMP-12345",
        "myproject-zeus",
        "project-zeusx",
        "project_zeus",
    ]);
}

#[test]
fn a_validated_match_beats_an_unvalidated_overlapping_one() {
    let p = policy(
        r"
request: { credit_card: mask }
custom:
  - { name: ref, pattern: 'ref [0-9]{4}', action: mask }
",
    );
    assert_eq!(redact(&p, "ref 4111 1111 1111 1111"), "ref [CREDIT_CARD]");
    assert_eq!(
        redact(&p, "ref 1234 1111 1111 1111"),
        "[REF] 1111 1111 1111"
    );
}

#[test]
fn leftmost_then_longest() {
    let p = policy(
        r"
request: {}
custom:
  - { name: short, pattern: 'abc', action: mask }
  - { name: long, pattern: 'abcdef', action: mask }
  - { name: later, pattern: 'cdefgh', action: mask }
",
    );
    assert_eq!(redact(&p, "xabcdefgh"), "x[LONG]gh");
}

#[test]
fn json_string_text_never_splits_an_escape() {
    let p = mask_all();
    let mut ph = Placeholders::default();
    let mut c = Counts::default();
    let raw = r#"{"to":"line\nbob@x.io","u":"\u0041bob@x.io"}"#;
    let got = p
        .redact_mode(Direction::Request, raw, true, &mut ph, &mut c)
        .unwrap();
    assert_eq!(got, r#"{"to":"line\n[EMAIL]","u":"\u0041[EMAIL]"}"#);
    assert!(serde_json::from_str::<serde_json::Value>(&got).is_ok());
}

#[test]
fn unicode_text_around_matches() {
    check(&[
        ("héllo wörld a@b.io 日本語", "héllo wörld [EMAIL] 日本語"),
        ("電話 +81 3 1234 5678 です", "電話 [PHONE] です"),
    ]);
    untouched(&["naïve café — 😀 ok"]);
}
