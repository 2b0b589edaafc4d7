//! Subscriptions: which consumer is on which plan, from when to when.
//!
//! `subscriptions.toml`:
//!
//! ```toml
//! [[subscription]]
//! consumer = "acct-0001"
//! plan = "growth"
//! version = 1            # optional: the plan's highest version when absent
//! start = "2026-01-01"   # first day covered (UTC)
//! end = "2026-10-16"     # optional: first day NOT covered (exclusive)
//! ```
//!
//! A plan change is a second subscription starting on the day the first
//! ends. Subscriptions of one consumer must not overlap. Within a period,
//! each subscription covers a *segment* of whole days; recurring fees and
//! minimums are prorated by `days in segment ÷ days in period`, and usage
//! is rated per segment on the usage of those days (tiers restart with
//! each segment: the customer was on a different contract).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::period::Period;
use crate::plan::PlansFile;

/// One consumer on one plan version for a range of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// The consumer id as it appears in the events.
    pub consumer: String,
    /// Plan id.
    pub plan: String,
    /// Plan version; the highest version in the plans file when absent.
    #[serde(default)]
    pub version: Option<u32>,
    /// First day covered, `YYYY-MM-DD` (UTC).
    pub start: NaiveDate,
    /// First day not covered (exclusive); open-ended when absent.
    #[serde(default)]
    pub end: Option<NaiveDate>,
}

/// The whole `subscriptions.toml`, validated against the plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsFile {
    /// Every subscription.
    #[serde(default, rename = "subscription")]
    pub subscriptions: Vec<Subscription>,
}

/// A subscriptions file that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubscriptionError {
    /// Not valid TOML, or unknown keys.
    #[error("subscriptions file: {0}")]
    Parse(String),
    /// A rule is broken.
    #[error("subscription of {consumer} starting {start}: {why}")]
    Invalid {
        /// The consumer.
        consumer: String,
        /// Its start day.
        start: NaiveDate,
        /// What is wrong and what to do.
        why: String,
    },
}

/// The part of a period one subscription covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Plan id.
    pub plan: String,
    /// Plan version (resolved).
    pub version: u32,
    /// First day (inclusive).
    pub from: NaiveDate,
    /// First day after the segment (exclusive).
    pub to: NaiveDate,
    /// Days in the segment ÷ days in the period (exact).
    #[serde(with = "rust_decimal::serde::str")]
    pub share: Decimal,
}

impl SubscriptionsFile {
    /// Parses `text` and checks it against `plans`: the plan (and version)
    /// exists, `start < end`, and one consumer's subscriptions do not overlap.
    /// Versions left out are resolved to the plan's highest version.
    pub fn parse(text: &str, plans: &PlansFile) -> Result<SubscriptionsFile, SubscriptionError> {
        let mut file: SubscriptionsFile =
            toml::from_str(text).map_err(|e| SubscriptionError::Parse(e.to_string()))?;
        for s in &mut file.subscriptions {
            let invalid = |why: String| SubscriptionError::Invalid {
                consumer: s.consumer.clone(),
                start: s.start,
                why,
            };
            let plan = plans.get(&s.plan, s.version).ok_or_else(|| {
                invalid(format!(
                    "plan {:?}{} is not in the plans file",
                    s.plan,
                    s.version
                        .map(|v| format!(" version {v}"))
                        .unwrap_or_default()
                ))
            })?;
            s.version = Some(plan.version);
            if s.end.is_some_and(|e| e <= s.start) {
                return Err(invalid("end must be after start (end is exclusive)".into()));
            }
        }
        let mut by_consumer: BTreeMap<&str, Vec<&Subscription>> = BTreeMap::new();
        for s in &file.subscriptions {
            by_consumer.entry(&s.consumer).or_default().push(s);
        }
        for subs in by_consumer.values_mut() {
            subs.sort_by_key(|s| s.start);
            for w in subs.windows(2) {
                if w[0].end.is_none_or(|e| e > w[1].start) {
                    return Err(SubscriptionError::Invalid {
                        consumer: w[1].consumer.clone(),
                        start: w[1].start,
                        why: format!(
                            "overlaps the subscription starting {}; end that one on {} (end is exclusive)",
                            w[0].start, w[1].start
                        ),
                    });
                }
            }
        }
        Ok(file)
    }

    /// Every consumer with a subscription covering part of `period`.
    pub fn consumers(&self, period: Period) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .subscriptions
            .iter()
            .filter(|s| overlap(s, period).is_some())
            .map(|s| s.consumer.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The subscriptions in force on `day` (at most one per consumer), in
    /// file order; versions are resolved.
    pub fn active_on(&self, day: NaiveDate) -> impl Iterator<Item = &Subscription> {
        self.subscriptions
            .iter()
            .filter(move |s| s.start <= day && s.end.is_none_or(|e| day < e))
    }

    /// The segments of `period` covered for `consumer`, in time order.
    pub fn segments(&self, consumer: &str, period: Period) -> Vec<Segment> {
        let mut out: Vec<Segment> = self
            .subscriptions
            .iter()
            .filter(|s| s.consumer == consumer)
            .filter_map(|s| {
                let (from, to) = overlap(s, period)?;
                let days = (to - from).num_days();
                Some(Segment {
                    plan: s.plan.clone(),
                    version: s.version.unwrap_or(1),
                    from,
                    to,
                    share: Decimal::from(days) / Decimal::from(period.days()),
                })
            })
            .collect();
        out.sort_by_key(|s| s.from);
        out
    }
}

fn overlap(s: &Subscription, period: Period) -> Option<(NaiveDate, NaiveDate)> {
    let from = s.start.max(period.start());
    let to = s.end.map_or(period.end(), |e| e.min(period.end()));
    (from < to).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLANS: &str = r#"
[[plan]]
id = "a"
version = 1
currency = "USD"
[[plan]]
id = "a"
version = 2
currency = "USD"
[[plan]]
id = "b"
version = 1
currency = "USD"
"#;

    fn parse(text: &str) -> Result<SubscriptionsFile, SubscriptionError> {
        SubscriptionsFile::parse(text, &PlansFile::parse(PLANS).unwrap())
    }

    #[test]
    fn a_mid_month_plan_change_splits_the_period_by_day() {
        let f = parse(
            r#"
[[subscription]]
consumer = "c"
plan = "a"
version = 1
start = "2026-01-01"
end = "2026-10-11"
[[subscription]]
consumer = "c"
plan = "b"
start = "2026-10-11"
"#,
        )
        .unwrap();
        let oct: Period = "2026-10".parse().unwrap();
        let segs = f.segments("c", oct);
        assert_eq!(segs.len(), 2);
        assert_eq!((segs[0].plan.as_str(), segs[0].version), ("a", 1));
        assert_eq!(segs[0].share, Decimal::from(10) / Decimal::from(31));
        assert_eq!(segs[1].from.to_string(), "2026-10-11");
        assert_eq!(segs[1].to.to_string(), "2026-11-01");
        assert_eq!(segs[0].share + segs[1].share, Decimal::ONE);
        assert_eq!(
            f.segments("c", "2026-09".parse().unwrap())[0].share,
            Decimal::ONE
        );
        assert!(f.segments("c", "2025-12".parse().unwrap()).is_empty());
        assert_eq!(f.consumers(oct), vec!["c"]);
    }

    #[test]
    fn versions_resolve_to_the_highest_and_bad_files_are_refused() {
        let f = parse("[[subscription]]\nconsumer = \"c\"\nplan = \"a\"\nstart = \"2026-01-01\"\n")
            .unwrap();
        assert_eq!(f.subscriptions[0].version, Some(2));
        let cases = [
            (
                "plan = \"zz\"\nstart = \"2026-01-01\"",
                "not in the plans file",
            ),
            (
                "plan = \"a\"\nversion = 9\nstart = \"2026-01-01\"",
                "version 9",
            ),
            (
                "plan = \"a\"\nstart = \"2026-02-01\"\nend = \"2026-02-01\"",
                "end must be after",
            ),
            ("plan = \"a\"\nstart = \"2026-02-30\"", "subscriptions file"),
        ];
        for (body, want) in cases {
            let e = parse(&format!("[[subscription]]\nconsumer = \"c\"\n{body}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{body}: {e}");
        }
        let overlap = "[[subscription]]\nconsumer = \"c\"\nplan = \"a\"\nstart = \"2026-01-01\"\n\
                       [[subscription]]\nconsumer = \"c\"\nplan = \"b\"\nstart = \"2026-03-01\"\n";
        assert!(parse(overlap).unwrap_err().to_string().contains("overlaps"));
    }
}
