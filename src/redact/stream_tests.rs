//! The streaming guarantee, as a property over random texts and random cuts, and the
//! placeholder restorer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::detect::{select, Candidate};
use super::test_support::{mask_all, policy, Rng};
use super::{CompiledPolicy, Counts, Direction, PlaceholderRestorer, Placeholders, StreamRedactor};
use std::sync::Arc;

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_Xg";
const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----";

const WORDS: &[&str] = &[
    "hello",
    "world",
    "the",
    "a",
    "x",
    "Bearer",
    "sk",
    "EMP",
    "GB82",
    "be",
    "héllo",
    "日本語",
    "😀",
    "naïve",
    "123",
    "2024",
    "4111",
    ":",
    "::",
    ".",
    ",",
    "-",
    "@",
    "(",
    ")",
    "+",
    "[",
    "]",
    "\n",
    "_",
    "fe80",
    "10.0",
    "\\",
    "EMAIL",
    "zeus",
    "project",
    "gi",
    "git",
    "github",
    "-----",
    "BEGIN",
    "eyJ",
    "AKIA",
    "DE89",
    "255",
    "1",
    "9",
];

const SPANS: &[&str] = &[
    "a.b@example.com",
    "bob@x.io",
    "4111 1111 1111 1111",
    "4111111111111111",
    "1234 5678 9012 3456",
    "+44 20 7946 0958",
    "(202) 555-0143",
    "202-555-0143",
    "123-45-6789",
    "GB82 WEST 1234 5698 7654 32",
    "GB82 WEST 1234 5698 7654 33",
    "10.0.0.1",
    "2001:db8::1",
    "fe80::1",
    "sk-abcdefghijklmnopqrstuvwxyz0123",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "github_pat_11ABCDEFG0123456789_abcdef",
    "Authorization: bearer\tabcdefghijklmnop==",
    "::ffff:1.2.3.4",
    "+1 (202) 555-0143",
    JWT,
    "Bearer abcdef0123456789abcdef",
    PEM,
    "EMP-123456",
    "project-zeus",
    "Project-Zeus",
    "[EMAIL_1]",
    "[EMAIL_",
    "top secret",
];

const SEPS: &[&str] = &[" ", "", "\n", ", ", ".", "-", ":", " ", " "];

/// A random text mixing words, entities and separators.
pub(super) fn text(rng: &mut Rng, short_only: bool) -> String {
    let mut s = String::new();
    for _ in 0..1 + rng.below(30) {
        let item = if rng.below(2) == 0 {
            *rng.pick(WORDS)
        } else {
            *rng.pick(SPANS)
        };
        if short_only && item.chars().count() > 12 {
            continue;
        }
        s.push_str(item);
        s.push_str(rng.pick::<&str>(SEPS));
    }
    s
}

/// `text` cut into pieces: one char each, or random lengths up to `max` chars.
pub(super) fn cut(rng: &mut Rng, text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let n = 1 + rng.below(max);
        let end = (i + n).min(chars.len());
        pieces.push(chars[i..end].iter().collect());
        i = end;
    }
    pieces
}

/// The matches the whole-text redaction replaces.
fn chosen(p: &CompiledPolicy, dir: Direction, text: &str, json: bool) -> (Vec<Candidate>, usize) {
    let mut cands = Vec::new();
    p.candidates(dir, text, 0, json, &mut cands);
    let longest = cands
        .iter()
        .map(|c| text[c.raw_start..c.raw_end.max(c.end)].chars().count())
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    select(&mut cands, &mut out);
    (out, longest)
}

/// Streams `pieces` and checks the guarantee against the whole-text result. Returns whether
/// the check applied (every match within `max_span`).
fn check_stream(
    p: &Arc<CompiledPolicy>,
    dir: Direction,
    text: &str,
    pieces: &[String],
    max_span: usize,
) -> bool {
    check_bursts(p, dir, text, pieces, max_span, false, &[1])
}

/// As `check_stream`, the pieces fed in bursts of the given sizes (cycled): a burst of
/// one through `push`, a longer one through `push_many`, whose per-piece parts must tile
/// what it emitted.
fn check_bursts(
    p: &Arc<CompiledPolicy>,
    dir: Direction,
    text: &str,
    pieces: &[String],
    max_span: usize,
    json: bool,
    sizes: &[usize],
) -> bool {
    let mut ph = Placeholders::default();
    let mut counts = Counts::default();
    let whole = p
        .redact_mode(dir, text, json, &mut ph, &mut counts)
        .map(|c| c.into_owned());
    let (matches, longest) = chosen(p, dir, text, json);
    let applies = longest <= max_span;
    let mut s = StreamRedactor::new(Arc::clone(p), dir, max_span).json(json);
    let mut out = String::new();
    let mut received = 0;
    let mut blocked = None;
    let mut next = 0;
    for size in sizes.iter().cycle() {
        let Some(burst) = pieces.get(next..(next + size).min(pieces.len())) else {
            break;
        };
        if burst.is_empty() {
            break;
        }
        next += burst.len();
        let fed = if let [piece] = burst {
            s.push(piece, &mut out)
        } else {
            let refs: Vec<&str> = burst.iter().map(String::as_str).collect();
            let (before, mut ends) = (out.len(), Vec::new());
            let r = s.push_many(&refs, &mut out, &mut ends);
            if r.is_ok() {
                assert_eq!(ends.len(), burst.len(), "one part per piece");
                assert!(ends.windows(2).all(|w| w[0] <= w[1]) && ends[0] >= before);
                assert_eq!(ends.last(), Some(&out.len()));
            } else {
                out.truncate(before);
            }
            r
        };
        if let Err(b) = fed {
            blocked = Some(b);
            break;
        }
        received += burst.iter().map(String::len).sum::<usize>();
        assert!(
            s.held_chars() <= 2 * max_span + 1,
            "held {} in {text:?}",
            s.held_chars()
        );
        assert!(s.emitted_bytes() <= received);
        if !applies {
            continue;
        }
        if let Ok(whole) = &whole {
            assert!(
                whole.starts_with(&out),
                "emitted {out:?} is not a prefix of {whole:?}\ntext {text:?}\npieces {pieces:?}"
            );
        }
        for m in matches.iter().filter(|m| m.end > received) {
            assert!(
                s.emitted_bytes() <= m.start,
                "emitted {} bytes into a match {}..{} completed later; text {text:?}, pieces {pieces:?}",
                s.emitted_bytes(),
                m.start,
                m.end
            );
        }
    }
    if blocked.is_none() {
        if let Err(b) = s.finish(&mut out) {
            blocked = Some(b);
        }
    }
    if !applies {
        return false;
    }
    match (&whole, blocked) {
        (Ok(whole), None) => {
            assert_eq!(&out, whole, "text {text:?}\npieces {pieces:?}");
            assert_eq!(s.counts(), &counts, "counts for {text:?}");
            assert_eq!(s.placeholders().len(), ph.len());
        }
        (Err(a), Some(b)) => assert_eq!(a, &b),
        (w, b) => panic!("whole {w:?} vs stream {b:?} for {text:?} / {pieces:?}"),
    }
    true
}

const MIXED: &str = r"
request: { email: placeholder, phone: hash, credit_card: mask, ssn: mask, iban: mask, ip: mask, secret: mask }
custom:
  - { name: employee_id, pattern: 'EMP-\d{6}', action: mask }
deny_words: { words: [project-zeus, top secret], action: hash }
";

/// Fed piece by piece, and fed in bursts of random sizes (`push_many`), with JSON-string
/// text now and then.
#[test]
fn streaming_equals_whole_text_for_any_cut_and_any_bursts() {
    let policies = [
        (policy(MIXED), Direction::Request),
        (mask_all(), Direction::Response),
    ];
    let mut rng = Rng::new(7);
    let mut applied = 0;
    let mut total = 0;
    for case in 0..400 {
        let text = text(&mut rng, false);
        let (p, dir) = &policies[case % 2];
        for max in [1, 3, 40] {
            let pieces = cut(&mut rng, &text, max);
            let sizes: Vec<usize> = (0..4).map(|_| 1 + rng.below(6)).collect();
            total += 2;
            if check_stream(p, *dir, &text, &pieces, 128) {
                applied += 1;
            }
            if check_bursts(p, *dir, &text, &pieces, 128, case % 3 == 0, &sizes) {
                applied += 1;
            }
        }
    }
    assert!(
        applied * 100 >= total * 95,
        "only {applied} of {total} cases applied"
    );
}

#[test]
fn pieces_of_one_burst_go_out_as_they_came_but_the_last_word() {
    let mut s = StreamRedactor::new(mask_all(), Direction::Response, 128);
    let (mut out, mut ends) = (String::new(), Vec::new());
    let pieces = ["Hello ", "from the ", "gateway, mail ", "jo@exa"];
    s.push_many(&pieces, &mut out, &mut ends).unwrap();
    let parts: Vec<&str> = [0, ends[0], ends[1], ends[2]]
        .iter()
        .zip(&ends)
        .map(|(&a, &b)| &out[a..b])
        .collect();
    assert_eq!(parts, ["Hello ", "from the ", "gateway, mail ", ""]);
    // The next burst releases the held address, masked, with its first piece.
    let (mut out, mut ends) = (String::new(), Vec::new());
    s.push_many(&["mple.org now", " or", " later"], &mut out, &mut ends)
        .unwrap();
    assert_eq!(&out[..ends[0]], "[EMAIL] now");
    assert_eq!(&out[ends[0]..ends[1]], " or");
    let mut rest = String::new();
    s.finish(&mut rest).unwrap();
    assert_eq!(format!("{}{rest}", &out[ends[1]..]), " later");
}

/// One entity at a time, so no other pattern's shape hides a wrong one.
#[test]
fn streaming_is_exact_for_each_entity_alone() {
    let singles = [
        "response: { email: mask }",
        "response: { phone: mask }",
        "response: { credit_card: mask }",
        "response: { ssn: mask }",
        "response: { iban: mask }",
        "response: { ip: mask }",
        "response: { secret: mask }",
        "custom: [{ name: emp, pattern: 'EMP-\\d{6}', action: mask }]",
        "custom: [{ name: tag, pattern: '(?i)z[eu]+s\\b', action: hash }]",
        "deny_words: { words: [project-zeus, top secret, '2024'], action: mask }",
    ];
    let mut rng = Rng::new(13);
    for yaml in singles {
        let p = policy(yaml);
        let mut applied = 0;
        for _ in 0..150 {
            let text = text(&mut rng, false);
            let max = 1 + rng.below(4);
            let pieces = cut(&mut rng, &text, max);
            if check_stream(&p, Direction::Response, &text, &pieces, 128) {
                applied += 1;
            }
        }
        assert!(applied > 140, "{yaml}: {applied}");
    }
}

#[test]
fn streaming_with_a_small_span_holds_little_and_stays_exact() {
    let p = mask_all();
    let mut rng = Rng::new(11);
    let mut applied = 0;
    for _ in 0..300 {
        let text = text(&mut rng, true);
        let pieces = cut(&mut rng, &text, 4);
        if check_stream(&p, Direction::Response, &text, &pieces, 16) {
            applied += 1;
        }
    }
    assert!(applied > 100, "{applied}");
}

#[test]
fn streaming_json_string_text_is_exact_too() {
    let p = mask_all();
    let mut rng = Rng::new(17);
    for _ in 0..300 {
        let mut text = String::new();
        for _ in 0..1 + rng.below(12) {
            text.push_str(rng.pick::<&str>(&["\\n", "\\u0041", "\\\\", "\\\"", "x", "é"]));
            text.push_str(rng.pick::<&str>(SPANS));
        }
        let max = 1 + rng.below(6);
        let pieces = cut(&mut rng, &text, max);
        check_bursts(&p, Direction::Response, &text, &pieces, 128, true, &[1]);
    }
}

#[test]
fn blocking_in_a_stream_emits_nothing_of_the_match() {
    let p = policy("response: { secret: block, email: mask }");
    let mut rng = Rng::new(3);
    for _ in 0..100 {
        let mut text = text(&mut rng, false);
        text.push_str(" sk-abcdefghijklmnopqrstuvwxyz0123 tail");
        let pieces = cut(&mut rng, &text, 5);
        check_stream(&p, Direction::Response, &text, &pieces, 128);
    }
}

#[test]
fn a_match_at_the_end_of_a_piece_waits_for_the_next() {
    let p = mask_all();
    let mut s = StreamRedactor::new(Arc::clone(&p), Direction::Response, 128);
    let mut out = String::new();
    s.push("write to a@b.co", &mut out).unwrap();
    assert_eq!(out, "write to ");
    s.push("m please", &mut out).unwrap();
    assert_eq!(out, "write to [EMAIL] ");
    s.finish(&mut out).unwrap();
    assert_eq!(out, "write to [EMAIL] please");
}

#[test]
fn prose_is_held_back_by_at_most_its_last_word() {
    let p = mask_all();
    let mut s = StreamRedactor::new(Arc::clone(&p), Direction::Response, 128);
    let mut out = String::new();
    for piece in [
        "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
    ] {
        s.push(piece, &mut out).unwrap();
        assert!(
            s.held_chars() <= 6,
            "held {} after {piece:?}",
            s.held_chars()
        );
    }
    // `dog.` may still become `dog.x@y.io`.
    assert_eq!(out, "The quick brown fox jumps over the lazy ");
    s.push(" Then", &mut out).unwrap();
    assert_eq!(out, "The quick brown fox jumps over the lazy dog. ");
    s.finish(&mut out).unwrap();
    assert_eq!(out, "The quick brown fox jumps over the lazy dog. Then");
}

#[test]
fn long_matches_beyond_the_cap_are_cut_without_panicking() {
    let p = mask_all();
    let mut s = StreamRedactor::new(Arc::clone(&p), Direction::Response, 8);
    let mut out = String::new();
    let long = "x".repeat(100) + "@example.com " + &"9".repeat(200);
    for c in long.chars() {
        s.push(&c.to_string(), &mut out).unwrap();
        assert!(s.held_chars() <= 17);
    }
    s.finish(&mut out).unwrap();
    assert!(out.ends_with(&"9".repeat(150)));
}

#[test]
fn placeholders_split_across_pieces_are_restored() {
    let mut ph = Placeholders::default();
    ph.assign("EMAIL", "a@b.io");
    for _ in 0..9 {
        ph.assign("EMAIL", &format!("x{}@b.io", ph.len()));
    }
    ph.assign("PHONE", "+1 202 555 0143");
    let ph = Arc::new(ph);
    let text = "Hi [EMAIL_1] and [EMAIL_10], call [PHONE_1] or [EMAIL_] [[EMAIL_2]] [EMAIL_1";
    let want = ph.restore(text).into_owned();
    assert!(want.contains("a@b.io") && want.contains("x9@b.io") && want.ends_with("[EMAIL_1"));
    let mut rng = Rng::new(5);
    for round in 0..200 {
        let pieces = cut(&mut rng, text, 1 + round % 7);
        let mut r = PlaceholderRestorer::new(Arc::clone(&ph));
        let mut out = String::new();
        for p in &pieces {
            r.push(p, &mut out);
            assert!(want.starts_with(&out), "{out:?}");
        }
        r.finish(&mut out);
        assert_eq!(out, want);
    }
}
