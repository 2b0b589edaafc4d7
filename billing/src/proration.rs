//! Time in subscriptions and segments, and how a part of a period becomes
//! a share of its recurring fees.
//!
//! A [`Boundary`] is a UTC instant where a subscription or a segment
//! starts or ends. Files and invoices write it as a date (`2026-10-16`,
//! midnight UTC) when it is at midnight, so everything that was a date
//! before reads and writes the same bytes, and as an RFC 3339 instant
//! (`2026-10-16T14:30:00Z`) otherwise.
//!
//! A plan's [`Proration`] says how a part `[from, to)` of a period becomes
//! a share of the period ([`Coverage`]):
//!
//! - `day` (the default): whole UTC days. A boundary inside a day counts
//!   from the start of that day: the day of a change is billed at the plan
//!   that starts in it, and the last, partial day of a cancellation is not
//!   billed. So a segment's days are `date(to) − date(from)`, and the days
//!   of the segments of a period always add up to the period's days.
//! - `second`: `seconds in [from, to) ÷ seconds in the period`. When both
//!   boundaries are at midnight this is the same share as the days (a
//!   whole day is 86,400 seconds), and the lines say days, as before.
//!
//! Usage is never prorated: whatever the proration, an event belongs to
//! the segment its exact timestamp falls in.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Timelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::period::Period;

/// A UTC instant where a subscription or segment starts or ends, on a
/// whole second. Written as a date when at midnight UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Boundary(DateTime<Utc>);

/// A boundary that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "{0:?} is not a date (2026-10-16, midnight UTC) or an RFC 3339 instant on a whole second (2026-10-16T14:30:00Z)"
)]
pub struct BoundaryError(pub String);

impl Boundary {
    /// Midnight UTC at the start of `day`.
    pub fn day(day: NaiveDate) -> Boundary {
        Boundary(Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)))
    }

    /// `at`, if it is on a whole second.
    pub fn at(at: DateTime<Utc>) -> Option<Boundary> {
        (at.nanosecond() == 0).then_some(Boundary(at))
    }

    /// The instant.
    pub fn instant(self) -> DateTime<Utc> {
        self.0
    }

    /// Epoch milliseconds.
    pub fn millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The UTC day the instant falls in (the day itself at midnight).
    pub fn date(self) -> NaiveDate {
        self.0.date_naive()
    }

    /// The first day starting at or after the instant: the exclusive end
    /// date of a range that ends here (the day of a mid-day end counts as
    /// touched).
    pub fn ceil_date(self) -> NaiveDate {
        if self.is_midnight() {
            self.date()
        } else {
            self.date().succ_opt().unwrap_or(self.date())
        }
    }

    /// Whether the instant is midnight UTC.
    pub fn is_midnight(self) -> bool {
        self.0.time() == NaiveTime::MIN
    }
}

impl fmt::Display for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_midnight() {
            write!(f, "{}", self.date())
        } else {
            f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
        }
    }
}

impl FromStr for Boundary {
    type Err = BoundaryError;

    /// A date (`2026-10-16`: midnight UTC) or an RFC 3339 instant with any
    /// offset (`2026-10-16T14:30:00Z`, `2026-10-16T16:30:00+02:00`), on a
    /// whole second.
    fn from_str(s: &str) -> Result<Boundary, BoundaryError> {
        let bad = || BoundaryError(s.to_string());
        let t = s.trim();
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(Boundary::day(d));
        }
        let at = DateTime::parse_from_rfc3339(t).map_err(|_| bad())?;
        Boundary::at(at.with_timezone(&Utc)).ok_or_else(bad)
    }
}

impl From<NaiveDate> for Boundary {
    fn from(d: NaiveDate) -> Boundary {
        Boundary::day(d)
    }
}

impl Serialize for Boundary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Boundary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Boundary, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How a plan prorates its recurring fees (base fee, minimums) over a part
/// of a period (`proration` in `plans.toml`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Proration {
    /// Whole UTC days; a boundary inside a day counts from the start of
    /// that day (the default, and the only behaviour before it was a choice).
    #[default]
    Day,
    /// Seconds: `seconds covered ÷ seconds in the period`.
    Second,
}

impl Proration {
    /// The name used in plans.
    pub fn name(self) -> &'static str {
        match self {
            Proration::Day => "day",
            Proration::Second => "second",
        }
    }

    /// What `[from, to)` covers of `period`. The range must lie in the
    /// period (callers clip it); a reversed range covers nothing.
    pub fn coverage(self, period: Period, from: Boundary, to: Boundary) -> Coverage {
        let days = (to.date() - from.date()).num_days().max(0);
        let whole_days = from.is_midnight() && to.is_midnight();
        match self {
            Proration::Second if !whole_days => Coverage {
                units: (to.0 - from.0).num_seconds().max(0),
                period_units: period.days() * 86_400,
                unit: Unit::Second,
            },
            _ => Coverage {
                units: days,
                period_units: period.days(),
                unit: Unit::Day,
            },
        }
    }
}

/// The unit a [`Coverage`] counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// UTC days.
    Day,
    /// Seconds.
    Second,
}

/// How much of a period a range covers: `units` of `period_units`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// Days or seconds covered.
    pub units: i64,
    /// Days or seconds in the period.
    pub period_units: i64,
    /// Days or seconds.
    pub unit: Unit,
}

impl Coverage {
    /// All of a period of `days` days.
    pub fn whole(days: i64) -> Coverage {
        Coverage {
            units: days,
            period_units: days,
            unit: Unit::Day,
        }
    }

    /// `units ÷ period_units`, exact to `Decimal`'s 28 digits, as segments
    /// have always had it.
    pub fn share(self) -> Decimal {
        if self.period_units == 0 {
            return Decimal::ZERO;
        }
        Decimal::from(self.units) / Decimal::from(self.period_units)
    }

    /// Whether it is the whole period.
    pub fn is_whole(self) -> bool {
        self.units == self.period_units
    }

    /// `10 of 31 days`, `1330200 of 2678400 seconds`: how invoice lines
    /// and quotes say the proration.
    pub fn describe(self) -> String {
        let unit = match self.unit {
            Unit::Day => "days",
            Unit::Second => "seconds",
        };
        format!("{} of {} {unit}", self.units, self.period_units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Boundary {
        s.parse().unwrap()
    }

    #[test]
    fn boundaries_read_dates_and_instants_and_write_midnight_as_a_date() {
        assert_eq!(b("2026-10-16").to_string(), "2026-10-16");
        assert_eq!(b("2026-10-16T00:00:00Z").to_string(), "2026-10-16");
        assert_eq!(
            b("2026-10-16T14:30:00Z").to_string(),
            "2026-10-16T14:30:00Z"
        );
        // Any offset, kept as the same instant in UTC.
        assert_eq!(b("2026-10-16T16:30:00+02:00"), b("2026-10-16T14:30:00Z"));
        assert_eq!(b("2026-10-16T14:30:00Z").date().to_string(), "2026-10-16");
        assert_eq!(
            b("2026-10-16T14:30:00Z").ceil_date().to_string(),
            "2026-10-17"
        );
        assert_eq!(b("2026-10-16").ceil_date().to_string(), "2026-10-16");
        let json = serde_json::to_string(&b("2026-10-16T14:30:00Z")).unwrap();
        assert_eq!(json, "\"2026-10-16T14:30:00Z\"");
        for bad in [
            "2026-02-30",
            "2026-10-16 14:30",
            "2026-10-16T14:30:00.5Z",
            "2026-10-16T14:30:00",
            "x",
        ] {
            assert!(bad.parse::<Boundary>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_day_boundary_counts_from_the_start_of_its_day() {
        let oct: Period = "2026-10".parse().unwrap();
        let day = |a, z| Proration::Day.coverage(oct, b(a), b(z));
        // Oct 1 .. Oct 16 14:30 is the 15 days Oct 1..=15; Oct 16 14:30 ..
        // Nov 1 the 16 days Oct 16..=31: 15 + 16 = 31.
        assert_eq!(day("2026-10-01", "2026-10-16T14:30:00Z").units, 15);
        assert_eq!(day("2026-10-16T14:30:00Z", "2026-11-01").units, 16);
        assert_eq!(
            day("2026-10-16T14:30:00Z", "2026-11-01").describe(),
            "16 of 31 days"
        );
        // Within one day: no day.
        assert_eq!(day("2026-10-16T01:00:00Z", "2026-10-16T14:30:00Z").units, 0);
    }

    #[test]
    fn a_second_boundary_counts_seconds_and_whole_days_stay_days() {
        let oct: Period = "2026-10".parse().unwrap();
        let sec = |a, z| Proration::Second.coverage(oct, b(a), b(z));
        // Oct 16 14:30 to Nov 1 00:00: 15 days 9 h 30 min = 15 × 86,400 +
        // 34,200 = 1,330,200 s of 31 × 86,400 = 2,678,400 s.
        let c = sec("2026-10-16T14:30:00Z", "2026-11-01");
        assert_eq!((c.units, c.period_units), (1_330_200, 2_678_400));
        assert_eq!(c.describe(), "1330200 of 2678400 seconds");
        // Whole days: the day share, described in days.
        let d = sec("2026-10-16", "2026-11-01");
        assert_eq!(
            d,
            Proration::Day.coverage(oct, b("2026-10-16"), b("2026-11-01"))
        );
        assert_eq!(d.share(), Decimal::from(16) / Decimal::from(31));
    }
}
