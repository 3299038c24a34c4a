//! Formatting of `meta/v1` times and durations the way their Go JSON marshallers write them.

/// Seconds from the Unix epoch to Go's zero `time.Time` (0001-01-01T00:00:00Z), which
/// `metav1.Time` writes as `null`.
pub const GO_ZERO_SECONDS: i64 = -62_135_596_800;

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // `day` and `month` are within the ranges noted above, so the casts are lossless.
    (year, month as u32, day as u32)
}

/// Formats a Unix time in UTC as RFC 3339: seconds precision when `micros` is `None`
/// (`metav1.Time`), else with six fractional digits (`metav1.MicroTime`).
///
/// `None` when the year is outside `0..=9999`, which Go's marshaller refuses too.
pub fn rfc3339(seconds: i64, micros: Option<u32>) -> Option<String> {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let date = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    Some(match micros {
        None => format!("{date}Z"),
        Some(us) => format!("{date}.{us:06}Z"),
    })
}

/// Normalises `(seconds, nanos)` so that `nanos` is in `0..1e9`, as Go's `time.Unix` does.
pub fn normalise(seconds: i64, nanos: i64) -> Option<(i64, u32)> {
    let seconds = seconds.checked_add(nanos.div_euclid(1_000_000_000))?;
    // rem_euclid of a positive modulus is in [0, 1e9), so it fits a u32.
    Some((seconds, nanos.rem_euclid(1_000_000_000) as u32))
}

/// A nanosecond count as Go's `time.Duration.String` writes it (`"1h2m3.5s"`, `"150ms"`).
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000_000_000 {
        // Below one second: a single unit, with a fraction.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fixed(u, scale));
    }
    let total_secs = u / 1_000_000_000;
    let frac = u % 1_000_000_000;
    let (h, m, s) = (total_secs / 3600, total_secs / 60 % 60, total_secs % 60);
    let secs = fixed(s * 1_000_000_000 + frac, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// `value / scale` in decimal, with trailing zeros of the fraction dropped.
fn fixed(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    let frac = format!("{frac:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-719_162), (1, 1, 1));
    }

    #[test]
    fn seconds_precision() {
        assert_eq!(rfc3339(0, None).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(951_782_400, None).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339(1_704_164_645, None).as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(rfc3339(-1, None).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            rfc3339(253_402_300_799, None).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(
            rfc3339(GO_ZERO_SECONDS, None).as_deref(),
            Some("0001-01-01T00:00:00Z")
        );
        assert_eq!(rfc3339(253_402_300_800, None), None);
        assert_eq!(rfc3339(i64::MIN, None), None);
        assert_eq!(rfc3339(i64::MAX, None), None);
    }

    #[test]
    fn micro_precision() {
        assert_eq!(
            rfc3339(1_704_164_645, Some(123_456)).as_deref(),
            Some("2024-01-02T03:04:05.123456Z")
        );
        assert_eq!(
            rfc3339(0, Some(0)).as_deref(),
            Some("1970-01-01T00:00:00.000000Z")
        );
    }

    #[test]
    fn normalising() {
        assert_eq!(normalise(10, 1_500_000_000), Some((11, 500_000_000)));
        assert_eq!(normalise(10, -1), Some((9, 999_999_999)));
        assert_eq!(normalise(i64::MAX, 1_000_000_000), None);
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(150_000_000), "150ms");
        assert_eq!(go_duration(1_000_000_000), "1s");
        assert_eq!(go_duration(90 * 1_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600 * 1_000_000_000), "1h0m0s");
        assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(go_duration(-2_000_000_000), "-2s");
        assert_eq!(go_duration(i64::MIN), "-2562047h47m16.854775808s");
    }
}
