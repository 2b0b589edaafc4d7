//! Billing periods: calendar months in UTC.
//!
//! A period covers `[first day 00:00 UTC, first day of next month 00:00
//! UTC)`. UTC is the one clock every invoice agrees on; a customer in
//! another zone sees the same month boundaries as finance does.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A billing period: one calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    /// 1..=12.
    month: u32,
}

/// A period that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0:?} is not a billing period; write the month as YYYY-MM, e.g. 2026-10")]
pub struct PeriodError(String);

impl Period {
    /// The period `year`-`month`, if the month is 1..=12.
    pub fn new(year: i32, month: u32) -> Option<Period> {
        ((1..=12).contains(&month) && (1..=9999).contains(&year)).then_some(Period { year, month })
    }

    /// The period a day falls in.
    pub fn of(day: NaiveDate) -> Period {
        Period {
            year: day.year(),
            month: day.month(),
        }
    }

    /// The calendar year (invoice numbers are sequential per year).
    pub fn year(self) -> i32 {
        self.year
    }

    /// First day of the period.
    pub fn start(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("validated month")
    }

    /// First day after the period (exclusive end).
    pub fn end(self) -> NaiveDate {
        self.next().start()
    }

    /// Number of days in the period.
    pub fn days(self) -> i64 {
        (self.end() - self.start()).num_days()
    }

    /// The following month.
    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The previous month.
    pub fn prev(self) -> Period {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// Start as epoch milliseconds (UTC).
    pub fn start_ms(self) -> i64 {
        day_ms(self.start())
    }

    /// Exclusive end as epoch milliseconds (UTC).
    pub fn end_ms(self) -> i64 {
        day_ms(self.end())
    }
}

/// Midnight UTC of `day` in epoch milliseconds.
pub fn day_ms(day: NaiveDate) -> i64 {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .timestamp_millis()
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Period, PeriodError> {
        let bad = || PeriodError(s.to_string());
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        Period::new(year, month).ok_or_else(bad)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_have_their_days_and_neighbours() {
        let feb: Period = "2028-02".parse().unwrap();
        assert_eq!(feb.days(), 29);
        assert_eq!(feb.to_string(), "2028-02");
        assert_eq!(
            "2026-12".parse::<Period>().unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            "2027-01".parse::<Period>().unwrap().prev().to_string(),
            "2026-12"
        );
        assert_eq!(feb.start_ms(), 1_832_976_000_000); // date -d 2028-02-01Z +%s
        for bad in ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", "", "x"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
