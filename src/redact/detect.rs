//! Detection: the built-in entity patterns, custom patterns and deny words of one policy side,
//! compiled once into a `Detector` that lists candidate matches, and `select`, which resolves
//! overlaps between them.
//!
//! Why a `RegexSet` gate and then one regex per pattern: most text has no match at all, and
//! for that case what counts is one pass of one lazy DFA over the text. Measured on 32 KB of
//! English with no match: the set's `is_match` 57 µs, one big alternation's `is_match` the
//! same 57 µs, every pattern's own regex in turn 200 µs (the patterns without a literal to
//! search for each cost a full DFA pass). `RegexSet::is_match_at` stops at the first hit and
//! allocates nothing, so the common case is one scan and no allocation. When something
//! fires, `matches_at` names the patterns and only those run, each on its own: an alternation
//! reports one branch per position (leftmost-first), which would hide an overlapping
//! candidate of another entity and make "a checksum failed, try the next candidate" need the
//! per-pattern regexes anyway. All built-in patterns use ASCII classes and ASCII word
//! boundaries (`(?-u:\b)`), so the DFA never falls back to the slower engines on non-ASCII
//! text.
//!
//! Deny words go through one Aho-Corasick automaton (ASCII case-insensitive), every
//! overlapping occurrence considered, kept when it is a whole word.

use super::shape::{CharSet, Shape};
use super::validate::Check;
use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// What a match is. Built-ins first, in scan order; `Custom(i)` is the policy's `custom[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Email,
    Phone,
    CreditCard,
    Ssn,
    Iban,
    Ip,
    Secret,
    Custom(usize),
    DenyWord,
}

impl Entity {
    /// The built-in entities, in the order of `EntityActions::fields`.
    pub const BUILTIN: [Entity; 7] = [
        Entity::Email,
        Entity::Phone,
        Entity::CreditCard,
        Entity::Ssn,
        Entity::Iban,
        Entity::Ip,
        Entity::Secret,
    ];

    /// The stable label (metrics, audit) of a built-in entity or deny words; `None` for a
    /// custom pattern, whose label is its configured name.
    pub fn builtin_label(self) -> Option<&'static str> {
        Some(match self {
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::CreditCard => "credit_card",
            Entity::Ssn => "ssn",
            Entity::Iban => "iban",
            Entity::Ip => "ip",
            Entity::Secret => "secret",
            Entity::DenyWord => "deny_word",
            Entity::Custom(_) => return None,
        })
    }

    /// The name inside masks, hashes and placeholders (`EMAIL` of `[EMAIL]`, `[EMAIL:3f2a9c]`,
    /// `[EMAIL_1]`); `None` for a custom pattern (its upper-cased name).
    pub fn builtin_tag(self) -> Option<&'static str> {
        Some(match self {
            Entity::Email => "EMAIL",
            Entity::Phone => "PHONE",
            Entity::CreditCard => "CREDIT_CARD",
            Entity::Ssn => "SSN",
            Entity::Iban => "IBAN",
            Entity::Ip => "IP",
            Entity::Secret => "SECRET",
            Entity::DenyWord => "DENIED",
            Entity::Custom(_) => return None,
        })
    }
}

/// One built-in pattern: its source, check, and shape (see `shape`).
struct Builtin {
    entity: Entity,
    source: &'static str,
    check: Check,
    shape: fn() -> Shape,
}

/// The IPv4 octet, 0 to 255 without leading zeros.
macro_rules! octet {
    () => {
        "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    };
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        entity: Entity::Email,
        // Local part, then dot-separated labels and a letter TLD; also inside URLs
        // (`?u=a.b@example.com` starts at `a`).
        source: r"[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?-u:\b)",
        check: Check::None,
        shape: || {
            Shape::new(CharSet::ascii("a-zA-Z0-9._%+@-")).first(CharSet::ascii("a-zA-Z0-9._%+-"))
        },
    },
    Builtin {
        entity: Entity::Phone,
        // International: `+`, country code, 2 to 6 groups (brackets allowed), 8 to 15 digits.
        source: r"(?-u:\B)\+[1-9][0-9]{0,2}(?:[ .\-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})){2,6}(?-u:\b)",
        check: Check::PhoneDigits,
        shape: || {
            Shape::new(CharSet::ascii("0-9 .()+-"))
                .first(CharSet::ascii("+"))
                .max(48)
        },
    },
    Builtin {
        entity: Entity::Phone,
        // North American: `(202) 555-0143`, `202-555-0143`, `202.555.0143`, `202 555 0143`;
        // area and exchange start with 2-9, separators are required (no bare digit runs).
        source: r"(?:\([2-9][0-9]{2}\)[ .\-]?|(?-u:\b)[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}(?-u:\b)",
        check: Check::None,
        shape: || {
            Shape::new(CharSet::ascii("0-9 .()-"))
                .first(CharSet::ascii("(0-9"))
                .max(14)
        },
    },
    Builtin {
        entity: Entity::CreditCard,
        source: r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)",
        check: Check::Card,
        shape: || {
            Shape::new(CharSet::ascii("0-9 -"))
                .first(CharSet::ascii("0-9"))
                .max(37)
        },
    },
    Builtin {
        entity: Entity::Ssn,
        source: r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
        check: Check::Ssn,
        shape: || {
            Shape::new(CharSet::ascii("0-9-"))
                .first(CharSet::ascii("0-9"))
                .max(11)
        },
    },
    Builtin {
        entity: Entity::Iban,
        // Country, check digits, then the account in groups of four (spaces optional).
        source: r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
        check: Check::Iban,
        shape: || {
            Shape::new(CharSet::ascii("A-Z0-9 "))
                .first(CharSet::ascii("A-Z"))
                .max(43)
        },
    },
    Builtin {
        entity: Entity::Ip,
        source: concat!(r"(?-u:\b)(?:", octet!(), r"\.){3}", octet!(), r"(?-u:\b)"),
        check: Check::None,
        shape: || {
            Shape::new(CharSet::ascii("0-9."))
                .first(CharSet::ascii("0-9"))
                .max(15)
        },
    },
    Builtin {
        entity: Entity::Ip,
        // Loose on purpose: the check parses the text as an IPv6 address (full, `::`
        // compressed, embedded IPv4) and trims what follows it.
        source: r"(?:(?-u:\b)[0-9A-Fa-f]{1,4}:|(?-u:\B)::)[0-9A-Fa-f:.]*",
        check: Check::Ipv6,
        shape: || Shape::new(CharSet::ascii("0-9A-Fa-f:.")).first(CharSet::ascii("0-9A-Fa-f:")),
    },
    Builtin {
        entity: Entity::Secret,
        // OpenAI `sk-...`, `sk-proj-...`, Anthropic `sk-ant-...`.
        source: r"(?-u:\b)sk-[A-Za-z0-9_\-]{20,}",
        check: Check::None,
        shape: || Shape::new(CharSet::ascii("a-zA-Z0-9_-")).prefix("sk-", false),
    },
    Builtin {
        entity: Entity::Secret,
        // AWS access key ids (long-lived and temporary).
        source: r"(?-u:\b)(?:AKIA|ASIA)[0-9A-Z]{16}(?-u:\b)",
        check: Check::None,
        shape: || Shape::new(CharSet::ascii("A-Z0-9")).max(20),
    },
    Builtin {
        entity: Entity::Secret,
        // GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens.
        source: r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{30,}",
        check: Check::None,
        shape: || Shape::new(CharSet::ascii("a-zA-Z0-9_")).prefix("gh", false),
    },
    Builtin {
        entity: Entity::Secret,
        // GitHub fine-grained personal access tokens.
        source: r"(?-u:\b)github_pat_[A-Za-z0-9_]{20,}",
        check: Check::None,
        shape: || Shape::new(CharSet::ascii("a-zA-Z0-9_")).prefix("github_pat_", false),
    },
    Builtin {
        entity: Entity::Secret,
        source: r"-----BEGIN[A-Z ]*PRIVATE KEY-----(?s:.)*?-----END[A-Z ]*PRIVATE KEY-----",
        check: Check::None,
        shape: || Shape::new(CharSet::ANY).prefix("-----BEGIN", false),
    },
    Builtin {
        entity: Entity::Secret,
        // JWTs: header and payload are base64url JSON objects, so both start `eyJ`.
        source: r"(?-u:\b)eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+",
        check: Check::None,
        shape: || Shape::new(CharSet::ascii("a-zA-Z0-9_.-")).prefix("eyJ", false),
    },
    Builtin {
        entity: Entity::Secret,
        source: r"(?-u:\b)[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+[A-Za-z0-9\-._~+/]{16,}=*",
        check: Check::None,
        shape: || Shape::new(CharSet::ascii("a-zA-Z0-9 \t._~+/=-")).prefix("bearer", true),
    },
];

/// A candidate match: `[start, end)` is what gets replaced. `raw_start..raw_end` is what the
/// pattern matched before checks trimmed it; the stream redactor keeps cuts out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub start: usize,
    pub end: usize,
    pub raw_start: usize,
    pub raw_end: usize,
    pub entity: Entity,
    /// Passed a checksum: wins over unvalidated candidates it overlaps.
    pub checksum: bool,
    /// The pattern's position in the detector: the last tie-break.
    pub rank: usize,
}

struct Pattern {
    entity: Entity,
    regex: Regex,
    check: Check,
    shape: Shape,
}

struct DenyWords {
    automaton: AhoCorasick,
    shape: Shape,
}

/// The compiled patterns of one policy side.
pub(crate) struct Detector {
    patterns: Vec<Pattern>,
    set: Option<RegexSet>,
    deny: Option<DenyWords>,
}

const REGEX_SIZE_LIMIT: usize = 32 * 1024 * 1024;

impl Detector {
    /// Compiles the built-in `entities`, the custom patterns `(index, source)` and the deny
    /// words. An `Err` carries the regex error text (config validation reports it first).
    pub(crate) fn new(
        entities: &[Entity],
        custom: &[(usize, &str)],
        deny_words: &[String],
    ) -> Result<Detector, String> {
        let mut patterns = Vec::new();
        for b in BUILTINS.iter().filter(|b| entities.contains(&b.entity)) {
            patterns.push(Pattern {
                entity: b.entity,
                regex: build(b.source)?,
                check: b.check,
                shape: (b.shape)(),
            });
        }
        for &(i, source) in custom {
            patterns.push(Pattern {
                entity: Entity::Custom(i),
                regex: build(source)?,
                check: Check::None,
                shape: Shape::of_pattern(source),
            });
        }
        let set = if patterns.is_empty() {
            None
        } else {
            let sources = patterns.iter().map(|p| p.regex.as_str());
            Some(
                RegexSetBuilder::new(sources)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
        };
        let words: Vec<&str> = deny_words
            .iter()
            .map(|w| w.trim())
            .filter(|w| !w.is_empty())
            .collect();
        let deny = if words.is_empty() {
            None
        } else {
            let automaton = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&words)
                .map_err(|e| e.to_string())?;
            let longest = words.iter().map(|w| w.chars().count()).max().unwrap_or(0);
            DenyWords {
                automaton,
                shape: Shape::new(case_insensitive(words.iter().flat_map(|w| w.chars())))
                    .first(case_insensitive(
                        words.iter().filter_map(|w| w.chars().next()),
                    ))
                    .max(longest),
            }
            .into()
        };
        Ok(Detector {
            patterns,
            set,
            deny,
        })
    }

    /// Nothing to look for.
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_none() && self.deny.is_none()
    }

    /// Appends every candidate starting at or after `from`; `hay[..from]` is context only (a
    /// word boundary looks one character back). `json`: the text is the inside of a JSON
    /// string, so a candidate never starts inside an escape (`\n` + `bob@x.io` masks `bob@x.io`
    /// and keeps the `n`), which would leave an invalid escape behind.
    ///
    /// Per pattern, the search resumes at the end of an accepted match, or one character after
    /// the start of a rejected one, so a failed checksum never hides a real match behind it.
    pub(crate) fn candidates(&self, hay: &str, from: usize, json: bool, out: &mut Vec<Candidate>) {
        if let Some(set) = &self.set {
            if set.is_match_at(hay, from) {
                for rank in set.matches_at(hay, from).iter() {
                    if let Some(p) = self.patterns.get(rank) {
                        p.candidates(hay, from, json, rank, out);
                    }
                }
            }
        }
        if let Some(deny) = &self.deny {
            let input = aho_corasick::Input::new(hay).range(from..hay.len());
            for m in deny.automaton.find_overlapping_iter(input) {
                let (s, e) = (m.start(), m.end());
                let before = hay.get(..s).and_then(|t| t.chars().next_back());
                let after = hay.get(e..).and_then(|t| t.chars().next());
                if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
                    push_trimmed(
                        hay,
                        json,
                        Candidate {
                            start: s,
                            end: e,
                            raw_start: s,
                            raw_end: e,
                            entity: Entity::DenyWord,
                            checksum: false,
                            rank: self.patterns.len(),
                        },
                        out,
                    );
                }
            }
        }
    }

    /// The earliest position `>= floor` where a match of any pattern could still change when
    /// text is appended to `hay` (see `Shape::reach`).
    pub(crate) fn reach(&self, hay: &str, floor: usize) -> usize {
        let patterns = self.patterns.iter().map(|p| p.shape.reach(hay, floor));
        let deny = self.deny.iter().map(|d| d.shape.reach(hay, floor));
        patterns.chain(deny).min().unwrap_or(hay.len())
    }
}

impl Pattern {
    fn candidates(
        &self,
        hay: &str,
        from: usize,
        json: bool,
        rank: usize,
        out: &mut Vec<Candidate>,
    ) {
        let mut at = from;
        while at <= hay.len() {
            let Some(m) = self.regex.find_at(hay, at) else {
                break;
            };
            let (s, e) = (m.start(), m.end());
            match self.check.accept(hay, s, e).filter(|&end| end > s) {
                Some(end) => {
                    push_trimmed(
                        hay,
                        json,
                        Candidate {
                            start: s,
                            end,
                            raw_start: s,
                            raw_end: e,
                            entity: self.entity,
                            checksum: self.check.is_checksum(),
                            rank,
                        },
                        out,
                    );
                    at = end;
                }
                None => at = next_char(hay, s),
            }
        }
    }
}

fn build(source: &str) -> Result<Regex, String> {
    RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// The characters `chars`, in both ASCII cases (the deny-word automaton ignores ASCII case).
fn case_insensitive(chars: impl Iterator<Item = char>) -> CharSet {
    let mut set = CharSet::EMPTY;
    let mut buf = [0u8; 4];
    for c in chars {
        for v in [c.to_ascii_lowercase(), c.to_ascii_uppercase()] {
            set = set.union(CharSet::ascii(v.encode_utf8(&mut buf)));
        }
    }
    set
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The char boundary after the character at `i` (past the end when `i` is the end).
fn next_char(hay: &str, i: usize) -> usize {
    i + hay
        .get(i..)
        .and_then(|t| t.chars().next())
        .map_or(1, char::len_utf8)
}

/// Pushes `c`, first moving its start past a JSON escape it would begin inside of.
fn push_trimmed(hay: &str, json: bool, mut c: Candidate, out: &mut Vec<Candidate>) {
    if json && hay.get(..c.start).is_some_and(|t| t.ends_with('\\')) {
        let rest = hay.get(c.start..).unwrap_or_default();
        let skip = match rest.as_bytes() {
            [b'u', a, b, x, y, ..] if [a, b, x, y].iter().all(|d| d.is_ascii_hexdigit()) => 5,
            _ => rest.chars().next().map_or(1, char::len_utf8),
        };
        c.start += skip;
    }
    if c.start < c.end {
        out.push(c);
    }
}

/// Resolves overlaps among `cands` into `out`, sorted by start: checksum-validated candidates
/// first, leftmost then longest; then the others, leftmost, longest, pattern order, each kept
/// only when it overlaps nothing kept. The outcome for a candidate depends only on candidates
/// it is connected to through overlaps, which is what lets a stream cut between them.
pub(crate) fn select(cands: &mut [Candidate], out: &mut Vec<Candidate>) {
    out.clear();
    cands.sort_unstable_by_key(|c| (c.start, std::cmp::Reverse(c.end), c.rank));
    let mut end = 0;
    for c in cands.iter().filter(|c| c.checksum) {
        if c.start >= end || out.is_empty() {
            out.push(*c);
            end = c.end;
        }
    }
    let validated = out.len();
    let mut j = 0;
    let mut end = 0;
    let mut any = false;
    for c in cands.iter().filter(|c| !c.checksum) {
        if any && c.start < end {
            continue;
        }
        while out
            .get(j)
            .is_some_and(|v| j < validated && v.end <= c.start)
        {
            j += 1;
        }
        let blocked = j < validated && out.get(j).is_some_and(|v| v.start < c.end);
        if !blocked {
            out.push(*c);
            end = c.end;
            any = true;
        }
    }
    out.sort_unstable_by_key(|c| c.start);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text holding matches of every built-in pattern, including borderline ones.
    const CORPUS: &str = "mail a.b@example.com, +44 20 7946 0958 (202) 555-0143 202.555.0143 \
        4111 1111 1111 1111 4111-1111-1111-1111 378282246310005 123-45-6789 \
        GB82 WEST 1234 5698 7654 32 GB82WEST12345698765432 10.0.0.1 255.255.255.255 \
        2001:db8::1 ::ffff:1.2.3.4 fe80::1: sk-proj-abcdefghijklmnopqrstuvwxyz_0123 \
        AKIAIOSFODNN7EXAMPLE ghp_abcdefghijklmnopqrstuvwxyz0123456789 github_pat_abcdefghijklmnopqrstuvwxyz \
        -----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY----- \
        eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-x Bearer abcdefghijklmnop0123== \
        BEARER\tabcdefghijklmnop/+~. 12:30:45 +1-202-555-0143";

    /// The hand-written shapes must describe every raw match of their pattern.
    #[test]
    fn shapes_describe_their_patterns() {
        for b in BUILTINS {
            let re = Regex::new(b.source).unwrap();
            let shape = (b.shape)();
            let mut seen = 0;
            for m in re.find_iter(CORPUS) {
                seen += 1;
                let text = m.as_str();
                for c in text.chars() {
                    assert!(
                        shape.alphabet.contains(c),
                        "{c:?} of {text:?} ({})",
                        b.source
                    );
                }
                let first = text.chars().next().unwrap();
                assert!(shape.first.contains(first), "first of {text:?}");
                if let Some(max) = shape.max_chars {
                    assert!(text.chars().count() <= max, "{text:?} longer than {max}");
                }
                if let Some((p, ci)) = &shape.prefix {
                    let head = &text[..p.len()];
                    assert!(
                        if *ci {
                            head.eq_ignore_ascii_case(p)
                        } else {
                            head == p
                        },
                        "{text:?}"
                    );
                }
            }
            assert!(seen > 0, "no sample for {}", b.source);
        }
    }

    #[test]
    fn ascii_word_boundaries_are_accepted_in_unicode_regexes() {
        assert!(Regex::new(r"(?-u:\b)a").unwrap().is_match("é a"));
    }
}
