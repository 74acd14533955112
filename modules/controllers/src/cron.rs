//! Cron schedules as CronJobs read them (the standard five fields of robfig/cron, which
//! kube uses): minute, hour, day of month, month, day of week; `*` and `?`, values, ranges
//! `a-b`, steps `*/n`, `a-b/n` and `a/n`, lists `a,b`, month and weekday names (`JAN`,
//! `MON`; 7 is Sunday too), and the descriptors `@yearly`/`@annually`, `@monthly`,
//! `@weekly`, `@daily`/`@midnight`, `@hourly`. When both day fields are restricted a day
//! matching either is taken, as in cron.
//!
//! Times are computed in a time zone (`spec.timeZone`, UTC by default) on civil dates, so a
//! daily job runs at the same wall-clock time across daylight-saving changes.

use std::fmt;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// How far ahead a next time is looked for (a schedule such as `0 0 30 2 *` never fires).
const HORIZON_DAYS: i32 = 366 * 5;

/// Why a schedule does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// A parsed schedule: the allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether day-of-month or day-of-week was `*`/`?` (then both must match, else either).
    any_day_star: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    fn value(&self, s: &str) -> Result<u32, ParseError> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(self.min + i as u32);
        }
        let v: u32 = s
            .parse()
            .map_err(|_| ParseError(format!("failed to parse int from {s}: invalid syntax")))?;
        // Sunday is 0 or 7.
        let v = if self.name == WEEKDAY.name && v == 7 {
            0
        } else {
            v
        };
        if v < self.min || v > self.max {
            return Err(ParseError(format!(
                "{} value {v} out of range ({}-{})",
                self.name, self.min, self.max
            )));
        }
        Ok(v)
    }

    /// The bits of one comma-separated field, and whether it was `*`/`?`.
    fn parse(&self, expr: &str) -> Result<(u64, bool), ParseError> {
        let mut bits = 0u64;
        let mut star = false;
        for part in expr.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step.parse().map_err(|_| {
                        ParseError(format!("failed to parse int from {step}: invalid syntax"))
                    })?;
                    if step == 0 {
                        return Err(ParseError(format!(
                            "step of range should be a positive number: {part}"
                        )));
                    }
                    (range, Some(step))
                }
                None => (part, None),
            };
            let (start, end) = if range == "*" || range == "?" {
                if step.is_none_or(|s| s == 1) {
                    star = true;
                }
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?)
            } else {
                let v = self.value(range)?;
                // `a/n` runs from a to the field's end.
                (v, if step.is_some() { self.max } else { v })
            };
            if start > end {
                return Err(ParseError(format!(
                    "beginning of range ({start}) beyond end of range ({end}): {part}"
                )));
            }
            let step = step.unwrap_or(1);
            let mut v = start;
            while v <= end {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, star))
    }
}

impl Schedule {
    /// Parses a five-field schedule or a descriptor.
    pub fn parse(spec: &str) -> Result<Self, ParseError> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(ParseError(format!("unrecognized descriptor: {other}")));
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(ParseError(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            )));
        }
        let (minutes, _) = MINUTE.parse(fields[0])?;
        let (hours, _) = HOUR.parse(fields[1])?;
        let (days, day_star) = DAY.parse(fields[2])?;
        let (months, _) = MONTH.parse(fields[3])?;
        let (weekdays, weekday_star) = WEEKDAY.parse(fields[4])?;
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            weekdays,
            any_day_star: day_star || weekday_star,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        if self.months & (1 << date.month() as u32) == 0 {
            return false;
        }
        let dom = self.days & (1 << date.day() as u32) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset() as u32) != 0;
        if self.any_day_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first time strictly after `after` the schedule fires in `tz`, within five years.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = tz.to_datetime(after);
        let mut date = start.date();
        for _ in 0..HORIZON_DAYS {
            if self.day_matches(date) {
                for hour in bits(self.hours) {
                    for minute in bits(self.minutes) {
                        let civil = DateTime::new(
                            date.year(),
                            date.month(),
                            date.day(),
                            hour as i8,
                            minute as i8,
                            0,
                            0,
                        )
                        .ok()?;
                        let Ok(zoned) = tz.to_ambiguous_zoned(civil).compatible() else {
                            continue;
                        };
                        if zoned.timestamp() > after {
                            return Some(zoned.timestamp());
                        }
                    }
                }
            }
            date = date.checked_add(1.day()).ok()?;
        }
        None
    }

    /// The latest time in `(earliest, now]` the schedule fired, and how many times it fired
    /// in that span (counting stops past `cap`).
    pub fn most_recent(
        &self,
        earliest: Timestamp,
        now: Timestamp,
        tz: &TimeZone,
        cap: u32,
    ) -> (Option<Timestamp>, u32) {
        let mut count = 0;
        let mut last = None;
        let mut t = earliest;
        while let Some(next) = self.next_after(t, tz) {
            if next > now {
                return (last, count);
            }
            count += 1;
            last = Some(next);
            t = next;
            if count > cap {
                break;
            }
        }
        if count <= cap {
            return (last, count);
        }
        // Too many to walk: find the last one from windows closer to now.
        for window_secs in [60i64, 3_600, 86_400, 7 * 86_400, 31 * 86_400, 366 * 86_400] {
            let Ok(from) = now.checked_sub(window_secs.seconds()) else {
                continue;
            };
            let mut t = from.max(t);
            let mut found = None;
            while let Some(next) = self.next_after(t, tz).filter(|n| *n <= now) {
                found = Some(next);
                t = next;
            }
            if found.is_some() {
                return (found, count);
            }
        }
        (last, count)
    }
}

/// The values set in a bit set, ascending.
fn bits(set: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |b| set & (1 << b) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec)
            .unwrap()
            .next_after(ts(after), &TimeZone::UTC)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn fields_ranges_steps_and_names() {
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T00:07:00Z"),
            "2024-01-01T00:15:00Z"
        );
        assert_eq!(
            next("5 4 * * *", "2024-01-01T04:05:00Z"),
            "2024-01-02T04:05:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2024-01-01T13:00:00Z"),
            "2024-01-01T17:00:00Z"
        );
        assert_eq!(
            next("30 2 * FEB-MAR *", "2024-01-15T00:00:00Z"),
            "2024-02-01T02:30:00Z"
        );
        assert_eq!(
            next("0 0 * * MON,fri", "2024-01-02T00:00:00Z"),
            "2024-01-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2024-01-01T00:00:00Z"),
            "2024-01-07T00:00:00Z"
        );
        assert_eq!(
            next("10/20 * * * *", "2024-01-01T00:31:00Z"),
            "2024-01-01T00:50:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2024-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
    }

    #[test]
    fn descriptors() {
        assert_eq!(
            next("@hourly", "2024-01-01T00:00:00Z"),
            "2024-01-01T01:00:00Z"
        );
        assert_eq!(
            next("@daily", "2024-01-01T00:00:00Z"),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2024-01-01T00:00:00Z"),
            "2024-01-07T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2024-01-31T00:00:00Z"),
            "2024-02-01T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2024-01-01T00:00:00Z"),
            "2025-01-01T00:00:00Z"
        );
    }

    #[test]
    fn restricted_day_fields_match_either() {
        // The 13th, or any Friday.
        assert_eq!(
            next("0 0 13 * 5", "2024-01-01T00:00:00Z"),
            "2024-01-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * 5", "2024-01-12T00:00:00Z"),
            "2024-01-13T00:00:00Z"
        );
        // With a star, both must match: Fridays only.
        assert_eq!(
            next("0 0 * * 5", "2024-01-05T00:00:00Z"),
            "2024-01-12T00:00:00Z"
        );
        // A stepped star restricts: every other day of the month or Mondays.
        assert_eq!(
            next("0 0 */2 * 1", "2024-01-01T00:00:00Z"),
            "2024-01-03T00:00:00Z"
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "5-1 * * * *",
            "*/0 * * * *",
            "@every 5m",
            "a * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Schedule::parse("* * * *").unwrap_err().to_string(),
            "expected exactly 5 fields, found 4: [* * * *]"
        );
    }

    #[test]
    fn impossible_dates_never_fire() {
        assert_eq!(next("0 0 30 2 *", "2024-01-01T00:00:00Z"), "");
    }

    #[test]
    fn time_zones_keep_the_wall_clock() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let s = Schedule::parse("0 9 * * *").unwrap();
        // 09:00 EST is 14:00 UTC; after the March change 09:00 EDT is 13:00 UTC.
        let winter = s.next_after(ts("2024-03-08T00:00:00Z"), &tz).unwrap();
        assert_eq!(winter.to_string(), "2024-03-08T14:00:00Z");
        let summer = s.next_after(ts("2024-03-11T00:00:00Z"), &tz).unwrap();
        assert_eq!(summer.to_string(), "2024-03-11T13:00:00Z");
    }

    #[test]
    fn most_recent_counts_missed_times() {
        let s = Schedule::parse("*/10 * * * *").unwrap();
        let (last, n) = s.most_recent(
            ts("2024-01-01T00:00:00Z"),
            ts("2024-01-01T00:35:00Z"),
            &TimeZone::UTC,
            100,
        );
        assert_eq!(last.unwrap().to_string(), "2024-01-01T00:30:00Z");
        assert_eq!(n, 3);
        let (none, zero) = s.most_recent(
            ts("2024-01-01T00:00:00Z"),
            ts("2024-01-01T00:09:00Z"),
            &TimeZone::UTC,
            100,
        );
        assert_eq!((none, zero), (None, 0));
        // A year of minutes: the count stops past the cap, the latest is still found.
        let every = Schedule::parse("* * * * *").unwrap();
        let (last, n) = every.most_recent(
            ts("2023-01-01T00:00:00Z"),
            ts("2024-01-01T12:34:56Z"),
            &TimeZone::UTC,
            100,
        );
        assert_eq!(last.unwrap().to_string(), "2024-01-01T12:34:00Z");
        assert_eq!(n, 101);
    }
}
