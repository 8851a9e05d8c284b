//! Checks a pattern match must pass to count: checksums (Luhn, IBAN mod-97) and the structural
//! rules a regular expression cannot say simply (SSN number ranges, IPv6 grammar, phone digit
//! counts).
//!
//! Every check sees the whole haystack and the raw match `[start, end)` and answers with the
//! end of the accepted match, possibly shorter than the raw one (a card number followed by a
//! stray digit group is found by trying the shorter groupings), or `None` to reject. Checks
//! look at most one character past `end`, so the streaming redactor's settledness rule holds.

/// Which check a pattern's matches must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    None,
    /// International phone numbers: 8 to 15 digits (E.164 allows at most 15).
    PhoneDigits,
    /// 13 to 19 digits, Luhn, not all zeros; shorter groupings tried.
    Card,
    /// Area not 000, 666 or 9xx; group not 00; serial not 0000.
    Ssn,
    /// Length 15 to 34 and mod-97 == 1; shorter groupings tried.
    Iban,
    /// Parses as an IPv6 address (embedded IPv4 allowed), not followed by a word character;
    /// shorter forms tried (`fe80::1.` at the end of a sentence).
    Ipv6,
}

impl Check {
    /// Whether a match carries a checksum, so it wins over an unvalidated overlapping one.
    pub(crate) fn is_checksum(self) -> bool {
        matches!(self, Check::Card | Check::Iban)
    }

    /// The accepted end of the raw match `hay[start..end]`, or `None`.
    pub(crate) fn accept(self, hay: &str, start: usize, end: usize) -> Option<usize> {
        let m = hay.get(start..end)?;
        match self {
            Check::None => Some(end),
            Check::PhoneDigits => {
                let digits = m.bytes().filter(u8::is_ascii_digit).count();
                (8..=15).contains(&digits).then_some(end)
            }
            Check::Card => shrink(m, &[' ', '-'], card_ok).map(|n| start + n),
            Check::Ssn => ssn_ok(m).then_some(end),
            Check::Iban => shrink(m, &[' '], iban_ok).map(|n| start + n),
            Check::Ipv6 => {
                let after_ok = hay
                    .get(end..)
                    .and_then(|t| t.chars().next())
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                if !after_ok {
                    return None;
                }
                shrink(m, &[':', '.'], ipv6_ok).map(|n| start + n)
            }
        }
    }
}

/// The longest prefix of `m` that passes `ok`: `m` itself, or `m` cut just before one of the
/// separators, longest first. The length of that prefix, or `None`.
fn shrink(m: &str, seps: &[char], ok: fn(&str) -> bool) -> Option<usize> {
    if ok(m) {
        return Some(m.len());
    }
    m.char_indices()
        .rev()
        .filter(|(_, c)| seps.contains(c))
        .map(|(i, _)| i)
        .find(|&i| m.get(..i).is_some_and(ok))
}

/// The Luhn checksum over the ASCII digits of `s` (other characters skipped).
pub(crate) fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum.is_multiple_of(10)
}

fn card_ok(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    !s.ends_with([' ', '-'])
        && (13..=19).contains(&digits)
        && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
        && luhn(s)
}

fn ssn_ok(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(area), Some(group), Some(serial)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// IBAN mod-97 (ISO 13616) over `s` with spaces removed: letters count as 10..35, the first
/// four characters move to the end, and the number must leave 1.
pub(crate) fn iban_ok(s: &str) -> bool {
    if s.ends_with(' ') {
        return false;
    }
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    if !head.iter().take(2).all(u8::is_ascii_uppercase)
        || !head.iter().skip(2).all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem = 0u32;
    for &b in tail.iter().chain(head) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn ipv6_ok(s: &str) -> bool {
    // `::` alone (and `::` runs in code like `a::b`) is not worth masking.
    s.bytes().any(|b| b.is_ascii_hexdigit()) && s.parse::<std::net::Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_iban_checksums() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(luhn("378282246310005"));
        assert!(iban_ok("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_ok("GB82WEST12345698765432"));
        assert!(!iban_ok("GB82 WEST 1234 5698 7654 33"));
        assert!(iban_ok("DE89 3704 0044 0532 0130 00"));
        assert!(!iban_ok("DE89 3704"));
    }

    #[test]
    fn shrinking_finds_the_valid_grouping() {
        let hay = "4111 1111 1111 1111 12";
        assert_eq!(Check::Card.accept(hay, 0, hay.len()), Some(19));
        let hay = "GB82 WEST 1234 5698 7654 32 1234";
        assert_eq!(Check::Iban.accept(hay, 0, hay.len()), Some(27));
        let hay = "fe80::1: up";
        assert_eq!(Check::Ipv6.accept(hay, 0, 8), Some(7));
        assert_eq!(Check::Ipv6.accept("12:30:45", 0, 8), None);
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn_ok("123-45-6789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!ssn_ok(bad), "{bad}");
        }
    }
}
