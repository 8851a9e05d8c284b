//! Budget periods in UTC: the id of the period a moment falls in, and when that period ends.
//! Pure calendar arithmetic on Unix seconds (days from the civil date, after Howard Hinnant's
//! well-known algorithm), so no date crate is needed.

use crate::config::Period;
use crate::digits::push_decimal;

/// The period containing `unix_s`: its id (`2026-11-22`, `2026-W47`, `2026-11`, `total`) and
/// its end in Unix seconds (`None` for `total`, which never ends).
pub fn current(period: Period, unix_s: u64) -> (String, Option<u64>) {
    let days = (unix_s / 86_400) as i64;
    match period {
        Period::Total => ("total".into(), None),
        Period::Daily => {
            let (y, m, d) = civil_from_days(days);
            (date(y, m, Some(d)), Some((days as u64 + 1) * 86_400))
        }
        Period::Weekly => {
            // 1970-01-01 was a Thursday: weekday 0 = Monday.
            let weekday = (days + 3).rem_euclid(7);
            let monday = days - weekday;
            // The ISO year and week are those of the week's Thursday.
            let thursday = monday + 3;
            let (y, _, _) = civil_from_days(thursday);
            let week = (thursday - days_from_civil(y, 1, 1)) / 7 + 1;
            let mut id = String::with_capacity(8);
            push_decimal(&mut id, year(y), 4);
            id.push_str("-W");
            push_decimal(&mut id, week as u64, 2);
            // In i64: the week of 1970-01-01 began on a Monday before the epoch.
            (id, Some(((monday + 7) * 86_400) as u64))
        }
        Period::Monthly => {
            let (y, m, _) = civil_from_days(days);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let end = days_from_civil(ny, nm, 1) as u64 * 86_400;
            (date(y, m, None), Some(end))
        }
    }
}

/// `2026-11-22T08:30:00.123Z`: a Unix time in milliseconds as RFC 3339, UTC.
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    let mut s = date(y, m, Some(d));
    s.reserve(14);
    for (sep, n, width) in [
        ('T', t / 3600, 2),
        (':', t % 3600 / 60, 2),
        (':', t % 60, 2),
        ('.', unix_ms % 1000, 3),
    ] {
        s.push(sep);
        push_decimal(&mut s, n, width);
    }
    s.push('Z');
    s
}

/// `2026-11-22`, or `2026-11` without a day.
fn date(y: i64, m: u32, d: Option<u32>) -> String {
    let mut s = String::with_capacity(24);
    push_decimal(&mut s, year(y), 4);
    s.push('-');
    push_decimal(&mut s, u64::from(m), 2);
    if let Some(d) = d {
        s.push('-');
        push_decimal(&mut s, u64::from(d), 2);
    }
    s
}

/// Years here come from Unix times, which start in 1970.
fn year(y: i64) -> u64 {
    u64::try_from(y).unwrap_or(0)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-22T08:30:00Z is a Sunday of ISO week 47.
    const SUNDAY: u64 = 1_795_336_200;

    #[test]
    fn periods_of_a_known_moment() {
        assert_eq!(
            current(Period::Daily, SUNDAY),
            ("2026-11-22".into(), Some(1_795_392_000))
        );
        assert_eq!(
            current(Period::Weekly, SUNDAY),
            ("2026-W47".into(), Some(1_795_392_000))
        );
        assert_eq!(
            current(Period::Monthly, SUNDAY),
            ("2026-11".into(), Some(1_796_083_200))
        );
        assert_eq!(current(Period::Total, SUNDAY), ("total".into(), None));
    }

    #[test]
    fn timestamps_in_rfc3339() {
        assert_eq!(rfc3339_ms(1_795_336_200_123), "2026-11-22T08:30:00.123Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn ids_and_timestamps_read_as_format_writes_them() {
        // A spread of moments from 1970 to past the year 10000.
        let mut ms: u64 = 0;
        while ms < 300_000_000_000_000 {
            let secs = ms / 1000;
            let (y, m, d) = civil_from_days((secs / 86_400) as i64);
            let t = secs % 86_400;
            let expected = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                t / 3600,
                t % 3600 / 60,
                t % 60,
                ms % 1000
            );
            assert_eq!(rfc3339_ms(ms), expected);
            assert_eq!(
                current(Period::Daily, secs).0,
                format!("{y:04}-{m:02}-{d:02}")
            );
            assert_eq!(current(Period::Monthly, secs).0, format!("{y:04}-{m:02}"));
            let week = current(Period::Weekly, secs).0;
            assert!(
                week.len() >= 8 && week.as_bytes()[week.len() - 3] == b'W',
                "{week}"
            );
            // About 90 days and a few hours: every month, weekday and clock digit comes up.
            ms += 7_777_777_777;
        }
    }

    #[test]
    fn iso_weeks_at_year_ends() {
        // 2021-01-03 (Sunday) belongs to 2020-W53; 2024-12-30 (Monday) to 2025-W01.
        assert_eq!(current(Period::Weekly, 1_609_632_000).0, "2020-W53");
        assert_eq!(current(Period::Weekly, 1_735_516_800).0, "2025-W01");
    }

    #[test]
    fn month_ends_roll_the_year_and_leap_days() {
        // 2026-12-31 ends at 2027-01-01; 2024-02-29 is a day of February.
        let dec31 = days_from_civil(2026, 12, 31) as u64 * 86_400 + 3600;
        assert_eq!(
            current(Period::Monthly, dec31),
            (
                "2026-12".into(),
                Some(days_from_civil(2027, 1, 1) as u64 * 86_400)
            )
        );
        let leap = days_from_civil(2024, 2, 29) as u64 * 86_400;
        assert_eq!(current(Period::Daily, leap).0, "2024-02-29");
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
