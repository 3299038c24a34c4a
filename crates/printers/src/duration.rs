//! Durations and timestamps as upstream prints them: `duration.HumanDuration`
//! and RFC 3339 (`metav1.Time` / `metav1.MicroTime`) parsing and formatting.

use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

const SECOND: i128 = 1_000_000_000;
const MINUTE: i128 = 60 * SECOND;
const HOUR: i128 = 60 * MINUTE;

/// Nanoseconds since the Unix epoch of Go's zero `time.Time` (0001-01-01T00:00:00Z).
const GO_ZERO_TIME: i128 = -62_135_596_800 * SECOND;

/// A succinct, human representation of a duration given in nanoseconds, exactly
/// as upstream's `k8s.io/apimachinery/pkg/util/duration.HumanDuration`: about
/// two to three significant figures ("45s", "5m30s", "3h", "2d4h", "3y10d").
/// Durations below -1s print as `<invalid>` and small negative ones as `0s`.
pub fn human_duration(nanos: i128) -> String {
    // Go truncates the float seconds toward zero.
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / MINUTE;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// `now` as nanoseconds since the Unix epoch (negative before it).
pub(crate) fn system_time_nanos(now: SystemTime) -> i128 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Parses an RFC 3339 timestamp ("2024-05-01T10:00:00Z", optional fraction,
/// `Z` or a `±hh:mm` offset) into nanoseconds since the Unix epoch.
pub fn parse_rfc3339(text: &str) -> Option<i128> {
    let b = text.trim().as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        let mut scale = SECOND;
        while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
            scale /= 10;
            frac += i128::from(d - b'0') * scale;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            let off = oh * 3600 + om * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * SECOND + frac)
}

/// Formats nanoseconds since the epoch as Go's `time.RFC3339` in UTC
/// ("2024-05-01T10:00:00Z", whole seconds), like `metav1.Time` marshals.
pub(crate) fn format_rfc3339(nanos: i128) -> String {
    let secs = nanos.div_euclid(SECOND) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A timestamp field: `None` when absent, unparsable, or Go's zero time.
pub(crate) fn timestamp(v: &Value) -> Option<i128> {
    v.as_str()
        .and_then(parse_rfc3339)
        .filter(|&t| t != GO_ZERO_TIME)
}

/// Upstream's `translateTimestampSince`: the human age of a timestamp field
/// relative to `now`, or `<unknown>` when it is unset.
pub(crate) fn since(v: &Value, now: i128) -> String {
    match timestamp(v) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_owned(),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i128) -> i128 {
        s * SECOND
    }

    #[test]
    fn human_duration_table() {
        let cases: &[(i128, &str)] = &[
            (secs(-3), "<invalid>"),
            (secs(-2), "<invalid>"),
            (-SECOND - SECOND / 2, "0s"),
            (secs(-1), "0s"),
            (0, "0s"),
            (SECOND / 2, "0s"),
            (secs(1), "1s"),
            (secs(45), "45s"),
            (secs(59), "59s"),
            (secs(60), "60s"),
            (secs(119), "119s"),
            (secs(120), "2m"),
            (secs(121), "2m1s"),
            (secs(5 * 60 + 30), "5m30s"),
            (secs(9 * 60 + 59), "9m59s"),
            (secs(10 * 60), "10m"),
            (secs(10 * 60 + 59), "10m"),
            (secs(179 * 60), "179m"),
            (secs(3 * 3600), "3h"),
            (secs(3 * 3600 + 25 * 60), "3h25m"),
            (secs(7 * 3600 + 59 * 60), "7h59m"),
            (secs(8 * 3600), "8h"),
            (secs(47 * 3600 + 59 * 60), "47h"),
            (secs(48 * 3600), "2d"),
            (secs(4 * 86_400 + 5 * 3600), "4d5h"),
            (secs(7 * 86_400 + 23 * 3600), "7d23h"),
            (secs(8 * 86_400), "8d"),
            (secs(729 * 86_400), "729d"),
            (secs(730 * 86_400), "2y"),
            (secs(3 * 365 * 86_400 + 10 * 86_400), "3y10d"),
            (secs(8 * 365 * 86_400), "8y"),
            (secs(9 * 365 * 86_400 + 100 * 86_400), "9y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "duration {d}ns");
        }
    }

    #[test]
    fn parses_rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00Z"), Some(secs(60)));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00Z"),
            Some(secs(1_709_208_000))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T13:30:00+01:30"),
            Some(secs(1_709_208_000))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.250000Z"),
            Some(secs(1_709_208_000) + SECOND / 4)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(secs(-1)));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(GO_ZERO_TIME));
        for bad in [
            "",
            "2024-02-29",
            "2024-02-29T12:00:00",
            "2024-13-01T00:00:00Z",
            "2024-02-29T12:00:00Zx",
            "x024-02-29T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(secs(1_709_208_000) + 5),
            "2024-02-29T12:00:00Z"
        );
        assert_eq!(format_rfc3339(GO_ZERO_TIME), "0001-01-01T00:00:00Z");
        let t = parse_rfc3339("2023-07-04T01:02:03-05:00").unwrap();
        assert_eq!(format_rfc3339(t), "2023-07-04T06:02:03Z");
    }

    #[test]
    fn since_handles_unset_and_zero() {
        let now = parse_rfc3339("2024-01-01T00:05:00Z").unwrap();
        assert_eq!(since(&Value::from("2024-01-01T00:00:00Z"), now), "5m");
        assert_eq!(since(&Value::Null, now), "<unknown>");
        assert_eq!(
            since(&Value::from("0001-01-01T00:00:00Z"), now),
            "<unknown>"
        );
        assert_eq!(since(&Value::from("garbage"), now), "<unknown>");
        assert_eq!(
            since(&Value::from("2024-01-01T00:10:00Z"), now),
            "<invalid>"
        );
    }
}
