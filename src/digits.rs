//! Numbers written at a fixed width without `format!`. The audit timestamp, the budget
//! period ids and the request id are built for every request, and `format!`'s argument
//! machinery cost more than the rest of building them (`load-tests/RESULTS.md`, session 12).

/// Append `n` in decimal, zero-padded to at least `width` digits (`{n:0width$}`).
pub fn push_decimal(out: &mut String, n: u64, width: usize) {
    push::<10>(out, n, width);
}

/// Append `n` in lowercase hexadecimal, zero-padded to at least `width` digits
/// (`{n:0width$x}`).
pub fn push_hex(out: &mut String, n: u64, width: usize) {
    push::<16>(out, n, width);
}

fn push<const RADIX: u64>(out: &mut String, mut n: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // 20 decimal or 16 hex digits hold any u64; wider padding is clamped to the buffer.
    let mut buf = [b'0'; 24];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % RADIX) as usize];
        n /= RADIX;
        if n == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.extend(buf[start..].iter().map(|&b| char::from(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(n: u64, width: usize) -> String {
        let mut s = String::new();
        push_decimal(&mut s, n, width);
        s
    }

    fn hex(n: u64, width: usize) -> String {
        let mut s = String::new();
        push_hex(&mut s, n, width);
        s
    }

    #[test]
    fn writes_what_format_writes() {
        let mut n: u64 = 1;
        let mut samples = vec![0, 9, 10, 99, 100, 999, 1000, 65_535, u64::MAX];
        for _ in 0..400 {
            // A cheap spread over the whole range of u64.
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            samples.push(n >> (n % 64));
        }
        for n in samples {
            for width in [0, 1, 2, 3, 4, 8, 12, 20] {
                assert_eq!(decimal(n, width), format!("{n:0width$}"), "{n} {width}");
                assert_eq!(hex(n, width), format!("{n:0width$x}"), "{n} {width}");
            }
        }
    }

    #[test]
    fn appends_after_what_is_there() {
        let mut s = String::from("tg-");
        push_hex(&mut s, 0xbeef, 8);
        s.push('.');
        push_decimal(&mut s, 7, 3);
        assert_eq!(s, "tg-0000beef.007");
    }
}
