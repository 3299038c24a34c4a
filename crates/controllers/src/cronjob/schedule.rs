//! CronJob schedules as upstream accepts them (robfig/cron's standard parser): five fields
//! (minute, hour, day of month, month, day of week) of `*`, `?`, values, ranges, steps and
//! lists, month and weekday names, the descriptors `@yearly`/`@annually`, `@monthly`,
//! `@weekly`, `@daily`/`@midnight`, `@hourly` and `@every <duration>`; and the next time a
//! schedule fires in a time zone.
//!
//! Daylight-saving transitions: a wall-clock time that does not exist that day (spring forward)
//! is skipped, and one that happens twice (fall back) fires once, at its first occurrence.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use std::time::Duration;

/// Schedules look at most this far ahead (as robfig/cron does) before giving up.
const SEARCH_YEARS: i16 = 5;

/// Why a schedule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not five fields.
    #[error("expected exactly 5 fields, found {0}: {1:?}")]
    FieldCount(usize, String),
    /// A field is malformed or out of range.
    #[error("{field}: {message}")]
    Field {
        /// Which field (`minute`, `hour`, …).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An unknown `@` descriptor.
    #[error("unrecognized descriptor: {0}")]
    Descriptor(String),
    /// `@every` with a bad duration.
    #[error("failed to parse duration {0:?}")]
    Duration(String),
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Five cron fields.
    Cron(Fields),
    /// `@every <duration>`: that long after the previous time, in whole seconds.
    Every(Duration),
}

/// The five fields as bit sets, with whether the day fields were `*` (which makes day of month
/// and day of week combine with AND instead of OR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    dom_star: bool,
    dow_star: bool,
}

struct Bounds {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    name: "day of week",
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Bounds {
    fn err(&self, message: String) -> ScheduleError {
        ScheduleError::Field {
            field: self.name,
            message,
        }
    }

    fn value(&self, s: &str) -> Result<u32, ScheduleError> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(self.min + i as u32);
        }
        s.parse::<u32>()
            .map_err(|_| self.err(format!("failed to parse int from {s}")))
    }

    /// The bits of one field and whether it was a plain `*`/`?`.
    fn parse(&self, field: &str) -> Result<(u64, bool), ScheduleError> {
        let mut bits = 0u64;
        let mut star = false;
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step = s
                        .parse::<u32>()
                        .map_err(|_| self.err(format!("failed to parse int from {s}")))?;
                    if step == 0 {
                        return Err(
                            self.err(format!("step of range should be a positive number: {part}"))
                        );
                    }
                    (r, Some(step))
                }
                None => (part, None),
            };
            let (start, end, is_star) = if range == "*" || range == "?" {
                (self.min, self.max, true)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?, false)
            } else {
                let v = self.value(range)?;
                // `N/step` means `N-max/step`.
                (v, if step.is_some() { self.max } else { v }, false)
            };
            if start < self.min || end > self.max || start > end {
                return Err(self.err(format!(
                    "{part} is outside {}-{} or backwards",
                    self.min, self.max
                )));
            }
            let step = step.unwrap_or(1);
            star |= is_star && step == 1;
            let mut v = start;
            while v <= end {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, star))
    }
}

/// Parses a Go duration as `@every` takes it (`1h30m`, `90s`, `1.5h`), in whole seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    // robfig/cron rounds down to whole seconds and never goes below one.
    Some(Duration::from_secs((total.floor() as u64).max(1)))
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(spec: &str) -> Result<Schedule, ScheduleError> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ if spec.starts_with("@every ") => {
                let d = &spec["@every ".len()..];
                return parse_duration(d)
                    .map(Schedule::Every)
                    .ok_or_else(|| ScheduleError::Duration(d.to_owned()));
            }
            _ if spec.starts_with('@') => return Err(ScheduleError::Descriptor(spec.to_owned())),
            _ => spec,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(ScheduleError::FieldCount(parts.len(), spec.to_owned()));
        }
        let (minute, _) = MINUTE.parse(parts[0])?;
        let (hour, _) = HOUR.parse(parts[1])?;
        let (dom, dom_star) = DOM.parse(parts[2])?;
        let (month, _) = MONTH.parse(parts[3])?;
        let (dow, dow_star) = DOW.parse(parts[4])?;
        Ok(Schedule::Cron(Fields {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
        }))
    }
}

fn has(bits: u64, v: i8) -> bool {
    bits & (1 << v) != 0
}

impl Fields {
    fn day_matches(&self, date: Date) -> bool {
        let dom = has(self.dom, date.day());
        let dow = has(self.dow, date.weekday().to_sunday_zero_offset());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first wall-clock minute at or after `dt` that matches, within the search window.
    fn next_civil(&self, mut dt: DateTime, limit: Date) -> Option<DateTime> {
        while dt.date() <= limit {
            if !has(self.month, dt.month()) {
                let first = dt.date().first_of_month().checked_add(1.month()).ok()?;
                dt = first.to_datetime(jiff::civil::Time::midnight());
            } else if !self.day_matches(dt.date()) {
                dt = dt
                    .date()
                    .tomorrow()
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
            } else if !has(self.hour, dt.hour()) {
                dt = dt
                    .date()
                    .at(dt.hour(), 0, 0, 0)
                    .checked_add(1.hour())
                    .ok()?;
            } else if !has(self.minute, dt.minute()) {
                dt = dt.checked_add(1.minute()).ok()?;
            } else {
                return Some(dt);
            }
        }
        None
    }
}

impl Schedule {
    /// The first time strictly after `after` that the schedule fires in `tz`; `None` if it never
    /// does within five years (e.g. `0 0 30 2 *`).
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match self {
            Schedule::Every(d) => {
                let whole = Timestamp::from_second(after.as_second()).ok()?;
                whole
                    .checked_add(jiff::SignedDuration::from_secs(d.as_secs() as i64))
                    .ok()
            }
            Schedule::Cron(fields) => {
                let local = after.to_zoned(tz.clone()).datetime();
                let mut start = local
                    .date()
                    .at(local.hour(), local.minute(), 0, 0)
                    .checked_add(1.minute())
                    .ok()?;
                let limit = local.date().checked_add(SEARCH_YEARS.years()).ok()?;
                loop {
                    let dt = fields.next_civil(start, limit)?;
                    let ambiguous = tz.to_ambiguous_timestamp(dt);
                    match ambiguous.offset() {
                        // Not a time on this day's clock: skipped.
                        AmbiguousOffset::Gap { .. } => {}
                        _ => {
                            let t = ambiguous.earlier().ok()?;
                            if t > after {
                                return Some(t);
                            }
                        }
                    }
                    start = dt.checked_add(1.minute()).ok()?;
                }
            }
        }
    }
}

/// The times a CronJob missed: the most recent one at or before `now` and after `earliest`, and
/// how many there were (above 100, estimated from the interval between the first two, as
/// upstream does).
pub fn most_recent(
    schedule: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
) -> (Option<Timestamp>, usize) {
    let mut last = None;
    let mut count = 0;
    let mut t = earliest;
    while let Some(next) = schedule.next(t, tz) {
        if next > now {
            return (last, count);
        }
        count += 1;
        last = Some(next);
        t = next;
        if count > 100 {
            break;
        }
    }
    if count <= 100 {
        return (last, count);
    }
    let count = estimate_count(schedule, tz, earliest, now).unwrap_or(count);
    // Too many to walk: look back from `now` in widening windows for the latest one.
    let mut window = jiff::SignedDuration::from_mins(1);
    loop {
        let from = now.checked_sub(window).unwrap_or(earliest).max(earliest);
        let mut found = None;
        let mut t = from;
        while let Some(next) = schedule.next(t, tz) {
            if next > now {
                break;
            }
            found = Some(next);
            t = next;
        }
        if found.is_some() || from == earliest {
            return (found.or(last), count);
        }
        window = window.checked_mul(4).unwrap_or(window);
    }
}

/// Upstream's count of missed times when there are many: the time from the first to `now`
/// over the interval between the first two.
fn estimate_count(
    schedule: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
) -> Option<usize> {
    let t1 = schedule.next(earliest, tz)?;
    let t2 = schedule.next(t1, tz)?;
    let interval = t1.duration_until(t2).as_secs();
    let elapsed = t1.duration_until(now).as_secs();
    (interval > 0).then(|| (elapsed / interval + 1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str, tz: &str) -> String {
        let tz = TimeZone::get(tz).unwrap();
        let s: Schedule = spec.parse().unwrap();
        s.next(ts(after), &tz).unwrap().to_string()
    }

    #[test]
    fn parses_fields_names_and_descriptors() {
        assert!("* * * * *".parse::<Schedule>().is_ok());
        assert!("*/15 0-6,22 1 JAN-mar mon-FRI".parse::<Schedule>().is_ok());
        assert!("5/10 * ? * *".parse::<Schedule>().is_ok());
        assert_eq!(
            "@daily".parse::<Schedule>(),
            "0 0 * * *".parse::<Schedule>()
        );
        assert_eq!(
            "@every 1h30m".parse::<Schedule>(),
            Ok(Schedule::Every(Duration::from_secs(5400)))
        );
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 7",
            "*/0 * * * *",
            "5-1 * * * *",
            "@fortnightly",
            "@every soon",
            "x * * * *",
        ] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn next_times_in_utc() {
        assert_eq!(
            next("* * * * *", "2026-03-01T10:00:30Z", "UTC"),
            "2026-03-01T10:01:00Z"
        );
        assert_eq!(
            next("* * * * *", "2026-03-01T10:00:00Z", "UTC"),
            "2026-03-01T10:01:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-03-01T10:31:00Z", "UTC"),
            "2026-03-01T10:45:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-12-31T23:30:00Z", "UTC"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2026-01-31T12:00:00Z", "UTC"),
            "2026-02-01T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z", "UTC"),
            "2028-02-29T00:00:00Z"
        );
        // 2026-03-02 is a Monday: day of week alone, and day of month OR day of week.
        assert_eq!(
            next("0 9 * * mon", "2026-02-27T00:00:00Z", "UTC"),
            "2026-03-02T09:00:00Z"
        );
        assert_eq!(
            next("0 9 15 * mon", "2026-03-03T00:00:00Z", "UTC"),
            "2026-03-09T09:00:00Z"
        );
        assert_eq!(
            next("@every 90s", "2026-03-01T10:00:00.5Z", "UTC"),
            "2026-03-01T10:01:30Z"
        );
        let never: Schedule = "0 0 30 2 *".parse().unwrap();
        assert_eq!(never.next(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC), None);
    }

    #[test]
    fn next_times_in_a_time_zone_across_daylight_saving() {
        // 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
        assert_eq!(
            next("0 9 * * *", "2026-01-10T15:00:00Z", "America/New_York"),
            "2026-01-11T14:00:00Z"
        );
        assert_eq!(
            next("0 9 * * *", "2026-07-10T15:00:00Z", "America/New_York"),
            "2026-07-11T13:00:00Z"
        );
        // 02:30 does not exist on 2026-03-08 in New York: skipped to the next day.
        assert_eq!(
            next("30 2 * * *", "2026-03-07T12:00:00Z", "America/New_York"),
            "2026-03-09T06:30:00Z"
        );
        // 01:30 happens twice on 2026-11-01: once, the first time (EDT, -04:00).
        assert_eq!(
            next("30 1 * * *", "2026-10-31T12:00:00Z", "America/New_York"),
            "2026-11-01T05:30:00Z"
        );
        assert_eq!(
            next("30 1 * * *", "2026-11-01T05:30:00Z", "America/New_York"),
            "2026-11-02T06:30:00Z"
        );
    }

    #[test]
    fn missed_times_are_counted_and_the_latest_found() {
        let every_minute: Schedule = "* * * * *".parse().unwrap();
        let (last, n) = most_recent(
            &every_minute,
            &TimeZone::UTC,
            ts("2026-03-01T10:00:00Z"),
            ts("2026-03-01T10:05:30Z"),
        );
        assert_eq!((last, n), (Some(ts("2026-03-01T10:05:00Z")), 5));
        let (last, n) = most_recent(
            &every_minute,
            &TimeZone::UTC,
            ts("2026-03-01T10:00:00Z"),
            ts("2026-03-01T10:00:59Z"),
        );
        assert_eq!((last, n), (None, 0));
        let (last, n) = most_recent(
            &every_minute,
            &TimeZone::UTC,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-03-01T10:05:30Z"),
        );
        assert_eq!((last, n), (Some(ts("2026-03-01T10:05:00Z")), 85_565));
        let daily: Schedule = "@daily".parse().unwrap();
        let (last, n) = most_recent(
            &daily,
            &TimeZone::UTC,
            ts("2020-01-01T00:00:00Z"),
            ts("2026-03-01T10:05:30Z"),
        );
        assert_eq!((last, n), (Some(ts("2026-03-01T00:00:00Z")), 2251));
    }
}
