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
//! `start` and `end` are dates (midnight UTC) or RFC 3339 instants
//! (`"2026-10-16T14:30:00Z"`, any offset, whole seconds): see
//! [`Boundary`].
//!
//! A plan change is a second subscription starting when the first ends.
//! Subscriptions of one consumer must not overlap. Within a period, each
//! subscription covers a *segment*; recurring fees and minimums are
//! prorated by the share of the period the segment covers, in the plan's
//! [`Proration`] (whole days by default, or seconds), and usage is rated
//! per segment on the usage of its exact time range (tiers restart with
//! each segment: the customer was on a different contract).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::period::Period;
use crate::plan::{PlansFile, Seg, at, field_at, line_of, span_of};
use crate::proration::{Boundary, Proration};

/// One consumer on one plan version for a range of time.
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
    /// First instant covered: a date `YYYY-MM-DD` (midnight UTC) or an
    /// RFC 3339 instant.
    pub start: Boundary,
    /// First instant not covered (exclusive); open-ended when absent.
    #[serde(default)]
    pub end: Option<Boundary>,
    /// The plan's proration, resolved on load with the version.
    #[serde(skip)]
    pub proration: Proration,
}

/// The whole `subscriptions.toml`, validated against the plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsFile {
    /// Every subscription.
    #[serde(default, rename = "subscription")]
    pub subscriptions: Vec<Subscription>,
    /// Positions in `subscriptions` per consumer, in file order, built by
    /// [`SubscriptionsFile::parse_file`]: a run asks for every consumer's
    /// segments several times, and a scan of the file each time made a
    /// run over 10,000 subscriptions quadratic. Empty (a scan is used)
    /// for a file not built by the parser.
    #[serde(skip)]
    by_consumer: HashMap<String, Vec<usize>>,
}

/// A subscriptions file that cannot be used. Both kinds name the file and
/// the line, and the field when one is to blame.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubscriptionError {
    /// Not valid TOML, unknown keys, or a value that cannot be read (a
    /// start that is neither a date nor an instant).
    #[error("{file}{}: {message}", at(*line, field))]
    Parse {
        /// The file (as given to [`SubscriptionsFile::parse_file`]).
        file: String,
        /// 1-based line of the offending value, when known.
        line: Option<usize>,
        /// The key path of the offending value (`subscription[2].start`).
        field: Option<String>,
        /// What the TOML reader said.
        message: String,
    },
    /// A rule is broken.
    #[error("{file}{}: subscription of {consumer} starting {start}: {why}", at(line.map(|l| l as usize), &Some(field.clone())))]
    Invalid {
        /// The file (as given to [`SubscriptionsFile::parse_file`]).
        file: String,
        /// 1-based line of the field, when known (32 bits keep the error
        /// small enough to return by value).
        line: Option<u32>,
        /// The field: `subscription[2].end` (1-based).
        field: String,
        /// The consumer.
        consumer: String,
        /// Its start.
        start: Boundary,
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
    /// First instant (inclusive); a date when at midnight.
    pub from: Boundary,
    /// First instant after the segment (exclusive); a date when at midnight.
    pub to: Boundary,
    /// The share of the period the recurring fees are prorated by, in the
    /// plan's proration: days (or seconds) in the segment ÷ in the period
    /// (exact).
    #[serde(with = "rust_decimal::serde::str")]
    pub share: Decimal,
}

impl Segment {
    /// The billing period the segment is in.
    pub fn period(&self) -> Period {
        Period::of(self.from.date())
    }

    /// Whether the instant `t` (epoch ms) is in the segment.
    pub fn holds_ms(&self, t: i64) -> bool {
        self.from.millis() <= t && t < self.to.millis()
    }
}

impl SubscriptionsFile {
    /// Parses and validates `text` against `plans`; errors name it
    /// "subscriptions file".
    pub fn parse(text: &str, plans: &PlansFile) -> Result<SubscriptionsFile, SubscriptionError> {
        SubscriptionsFile::parse_file("subscriptions file", text, plans)
    }

    /// Parses the text of the subscriptions file `file` (its name, for
    /// errors) and checks it against `plans`: the plan (and version)
    /// exists, `start < end`, and one consumer's subscriptions do not
    /// overlap. Versions left out are resolved to the plan's highest
    /// version, and each subscription gets its plan's proration. Every
    /// error names the file, the line and the field.
    pub fn parse_file(
        file: &str,
        text: &str,
        plans: &PlansFile,
    ) -> Result<SubscriptionsFile, SubscriptionError> {
        let mut parsed: SubscriptionsFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            SubscriptionError::Parse {
                file: file.to_string(),
                line: offset.map(|o| line_of(text, o)),
                field: offset.and_then(|o| field_at(text, o)),
                message: e.message().trim_end().to_string(),
            }
        })?;
        let invalid = |i: usize, s: &Subscription, key: &'static str, why: String| {
            let path = [Seg::Key("subscription"), Seg::Index(i), Seg::Key(key)];
            SubscriptionError::Invalid {
                file: file.to_string(),
                line: span_of(text, &path).and_then(|o| u32::try_from(line_of(text, o)).ok()),
                field: format!("subscription[{}].{key}", i + 1),
                consumer: s.consumer.clone(),
                start: s.start,
                why,
            }
        };
        for (i, s) in parsed.subscriptions.iter_mut().enumerate() {
            let Some(plan) = plans.get(&s.plan, s.version) else {
                let (key, what) = match s.version {
                    Some(v) => ("version", format!(" version {v}")),
                    None => ("plan", String::new()),
                };
                return Err(invalid(
                    i,
                    s,
                    key,
                    format!("plan {:?}{what} is not in the plans file", s.plan),
                ));
            };
            s.version = Some(plan.version);
            s.proration = plan.proration;
            if s.end.is_some_and(|e| e <= s.start) {
                return Err(invalid(
                    i,
                    s,
                    "end",
                    "end must be after start (end is exclusive)".into(),
                ));
            }
        }
        let mut by_consumer: BTreeMap<&str, Vec<(usize, &Subscription)>> = BTreeMap::new();
        for (i, s) in parsed.subscriptions.iter().enumerate() {
            by_consumer.entry(&s.consumer).or_default().push((i, s));
        }
        for subs in by_consumer.values_mut() {
            subs.sort_by_key(|(_, s)| s.start);
            for w in subs.windows(2) {
                let ((_, a), (i, b)) = (w[0], w[1]);
                if a.end.is_none_or(|e| e > b.start) {
                    return Err(invalid(
                        i,
                        b,
                        "start",
                        format!(
                            "overlaps the subscription starting {}; end that one at {} (end is exclusive)",
                            a.start, b.start
                        ),
                    ));
                }
            }
        }
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in parsed.subscriptions.iter().enumerate() {
            index.entry(s.consumer.clone()).or_default().push(i);
        }
        parsed.by_consumer = index;
        Ok(parsed)
    }

    /// The subscriptions of `consumer`, in file order.
    pub fn of<'a>(&'a self, consumer: &'a str) -> impl Iterator<Item = &'a Subscription> + 'a {
        let indexed = (!self.by_consumer.is_empty()).then(|| {
            self.by_consumer
                .get(consumer)
                .into_iter()
                .flatten()
                .map(|&i| &self.subscriptions[i])
        });
        let scanned = indexed.is_none().then(|| {
            self.subscriptions
                .iter()
                .filter(move |s| s.consumer == consumer)
        });
        indexed
            .into_iter()
            .flatten()
            .chain(scanned.into_iter().flatten())
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

    /// The subscriptions in force at `t` (at most one per consumer), in
    /// file order; versions are resolved.
    pub fn active_at(&self, t: DateTime<Utc>) -> impl Iterator<Item = &Subscription> {
        self.subscriptions
            .iter()
            .filter(move |s| s.start.instant() <= t && s.end.is_none_or(|e| t < e.instant()))
    }

    /// The segments of `period` covered for `consumer`, in time order,
    /// each with its share in its plan's proration.
    pub fn segments(&self, consumer: &str, period: Period) -> Vec<Segment> {
        let mut out: Vec<Segment> = self
            .of(consumer)
            .filter_map(|s| {
                let (from, to) = overlap(s, period)?;
                Some(Segment {
                    plan: s.plan.clone(),
                    version: s.version.unwrap_or(1),
                    from,
                    to,
                    share: s.proration.coverage(period, from, to).share(),
                })
            })
            .collect();
        out.sort_by_key(|s| s.from);
        out
    }
}

fn overlap(s: &Subscription, period: Period) -> Option<(Boundary, Boundary)> {
    let (start, end) = (Boundary::day(period.start()), Boundary::day(period.end()));
    let from = s.start.max(start);
    let to = s.end.map_or(end, |e| e.min(end));
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

    /// The index by consumer answers as a scan of the file does, in file
    /// order, and a file built without the parser is scanned.
    #[test]
    fn subscriptions_by_consumer_are_those_of_a_scan() {
        let f = parse(
            "[[subscription]]\nconsumer = \"x\"\nplan = \"b\"\nstart = \"2026-03-01\"\n\
             [[subscription]]\nconsumer = \"y\"\nplan = \"a\"\nstart = \"2026-01-01\"\n\
             [[subscription]]\nconsumer = \"x\"\nplan = \"a\"\nstart = \"2026-01-01\"\nend = \"2026-03-01\"\n",
        )
        .unwrap();
        let scan = |f: &SubscriptionsFile, c: &str| -> Vec<Subscription> {
            f.subscriptions
                .iter()
                .filter(|s| s.consumer == c)
                .cloned()
                .collect()
        };
        for c in ["x", "y", "nobody"] {
            assert_eq!(f.of(c).cloned().collect::<Vec<_>>(), scan(&f, c), "{c}");
        }
        assert_eq!(f.of("x").count(), 2);
        let unindexed = SubscriptionsFile {
            subscriptions: f.subscriptions.clone(),
            by_consumer: HashMap::new(),
        };
        assert_eq!(
            unindexed.of("x").cloned().collect::<Vec<_>>(),
            scan(&f, "x")
        );
        let march: Period = "2026-03".parse().unwrap();
        assert_eq!(unindexed.segments("x", march), f.segments("x", march));
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
