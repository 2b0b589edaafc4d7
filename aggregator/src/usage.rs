//! Billable usage: per consumer and UTC day, each meter's quantity, the
//! number of events behind it and their time range, deduplicated by
//! `event_id`.
//!
//! Deduplication: rows that share an `event_id` on the same UTC day are
//! one call delivered more than once; the call counts once. (A copy is the
//! same access-log record delivered again, so it carries the call's
//! timestamp and lands in the call's day; ids are grouped per day so an
//! invoice run's memory is bounded by one day's events, not a month's.) Of the copies, the one kept is the
//! smallest by (consumer, ts, status, api, route, method, bytes), so the
//! result does not depend on file order or on how the lake is split. Copies
//! are rare, so the totals are computed over all rows and the extra copies
//! subtracted, with the same SQL expressions (the two cannot disagree). The
//! time range of a line is that of the matching rows before deduplication
//! (copies of one call share its timestamp).
//!
//! Amounts: an `amount` meter sums the events' exact `amount` (the
//! `DECIMAL(38, 9)` column; files from before it read as null) over the
//! events that have one, and an `event_fees` meter sums each such event's
//! fee ([`tollgate_schemas::meter::EventFee`]: `least(greatest(amount ×
//! rate + fixed, min), max)`) in exact decimal SQL. Quantities are
//! `Decimal`s, whole for the counting metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use arrow_array::{Array as _, RecordBatch};
use arrow_schema::DataType;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tollgate_schemas::meter::{EventFee, Meter, Metric};

use crate::AnalyticsError;
use crate::lake::Lake;
use crate::query::{quote, ts_literal};

/// One meter's usage for one consumer and day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MeterUsage {
    /// The quantity: matching calls, the sum of their bytes, of their
    /// amounts or of their fees (exact; whole for calls and bytes).
    pub quantity: Decimal,
    /// Matching events.
    pub events: u64,
    /// Earliest matching event, epoch ms.
    pub first_ts: Option<i64>,
    /// Latest matching event, epoch ms.
    pub last_ts: Option<i64>,
}

impl MeterUsage {
    /// Adds `o` (another day of the same meter).
    pub fn add(&mut self, o: &MeterUsage) {
        self.quantity = self.quantity.saturating_add(o.quantity);
        self.events = self.events.saturating_add(o.events);
        self.first_ts = min_opt(self.first_ts, o.first_ts);
        self.last_ts = self.last_ts.max(o.last_ts);
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One consumer's usage on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayUsage {
    /// The consumer (`None`: calls without a consumer).
    pub consumer: Option<String>,
    /// The UTC day.
    pub day: NaiveDate,
    /// Events that day, after deduplication.
    pub events: u64,
    /// One entry per meter asked for, in the same order.
    pub meters: Vec<MeterUsage>,
}

/// The answer to [`daily_usage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    /// Per consumer and day, sorted.
    pub days: Vec<DayUsage>,
    /// Rows dropped because their `event_id` was already counted.
    pub duplicates: u64,
}

/// Usage over `[from, to)`, optionally for one consumer, per meter.
pub async fn daily_usage(
    lake: &Lake,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    consumer: Option<&str>,
    meters: &[Meter],
) -> Result<UsageReport, AnalyticsError> {
    if to <= from {
        return Err(AnalyticsError::Invalid("`to` must be after `from`".into()));
    }
    let last = to - chrono::Duration::milliseconds(1);
    let mut w = format!(
        "date >= '{}' AND date <= '{}' AND ts >= {} AND ts < {}",
        from.format("%Y-%m-%d"),
        last.format("%Y-%m-%d"),
        ts_literal(from),
        ts_literal(to)
    );
    if let Some(c) = consumer {
        let _ = write!(w, " AND consumer = {}", quote(c));
    }
    let aggs = aggregates(meters, Source::Events);
    let totals = format!(
        "SELECT CAST(consumer AS VARCHAR), CAST(date AS VARCHAR), CAST(count(*) AS BIGINT), {aggs} \
         FROM events WHERE {w} GROUP BY consumer, date"
    );
    let mut days: BTreeMap<(Option<String>, NaiveDate), DayUsage> = BTreeMap::new();
    for b in lake.query(&totals).await? {
        for d in read(&b, meters.len())? {
            days.insert((d.consumer.clone(), d.day), d);
        }
    }
    // The extra copies, one UTC day at a time: a copy is the same log
    // record delivered again, with the call's timestamp, so all copies of a
    // call are in one day. Grouping a day's ids (not a month's) keeps the
    // memory to one day's events; the ids seen more than once are few and
    // on the build side of the join.
    let mut duplicates = 0;
    let mut day = from.date_naive();
    while day <= last.date_naive() {
        let wd = format!("{w} AND date = '{}'", day.format("%Y-%m-%d"));
        let extra = format!(
            "WITH dup AS (SELECT event_id FROM events WHERE {wd} GROUP BY event_id HAVING count(*) > 1), \
             copies AS (SELECT e.consumer, e.date, e.ts, e.status, e.api, e.route, e.method, \
             e.request_bytes, e.response_bytes, e.amount, row_number() OVER (PARTITION BY e.event_id \
             ORDER BY e.consumer, e.ts, e.status, e.api, e.route, e.method, e.request_bytes, \
             e.response_bytes) AS copy_no \
             FROM dup JOIN (SELECT * FROM events WHERE {wd}) e ON e.event_id = dup.event_id) \
             SELECT CAST(consumer AS VARCHAR), CAST(date AS VARCHAR), CAST(count(*) AS BIGINT), {aggs} \
             FROM copies WHERE copy_no > 1 GROUP BY consumer, date"
        );
        for b in lake.query(&extra).await? {
            for x in read(&b, meters.len())? {
                duplicates += x.events;
                if let Some(d) = days.get_mut(&(x.consumer.clone(), x.day)) {
                    d.events = d.events.saturating_sub(x.events);
                    for (m, e) in d.meters.iter_mut().zip(&x.meters) {
                        m.quantity = (m.quantity - e.quantity).max(Decimal::ZERO);
                        m.events = m.events.saturating_sub(e.events);
                    }
                }
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    Ok(UsageReport {
        days: days.into_values().collect(),
        duplicates,
    })
}

/// Usage over `[from, to)` estimated from the hourly rollups: every
/// consumer, per meter, in the same shape as [`daily_usage`] but **not
/// deduplicated** (the rollups count every row) and with hours as the time
/// range (`first_ts`/`last_ts` are the starts of the first and last hour).
/// Cheap enough for a dashboard's month-to-date estimate; invoices use
/// [`daily_usage`]. Hours are selected by their start, as the traffic
/// questions select them.
pub async fn rollup_usage(
    lake: &Lake,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    meters: &[Meter],
) -> Result<UsageReport, AnalyticsError> {
    if to <= from {
        return Err(AnalyticsError::Invalid("`to` must be after `from`".into()));
    }
    // The rollups carry no amounts: those meters come from the events
    // (deduplicated, so exact), the others from the rollups.
    let (from_events, from_rollups): (Vec<usize>, Vec<usize>) =
        (0..meters.len()).partition(|&i| meters[i].metric.reads_amount());
    let rollup_meters: Vec<Meter> = from_rollups.iter().map(|&i| meters[i].clone()).collect();
    let mut days = rollup_days(lake, from, to, &rollup_meters).await?;
    for d in &mut days {
        let mut all = vec![MeterUsage::default(); meters.len()];
        for (&i, u) in from_rollups.iter().zip(&d.meters) {
            all[i] = *u;
        }
        d.meters = all;
    }
    if !from_events.is_empty() {
        let event_meters: Vec<Meter> = from_events.iter().map(|&i| meters[i].clone()).collect();
        let exact = daily_usage(lake, from, to, None, &event_meters).await?;
        for x in exact.days {
            let at = days.binary_search_by(|d| (&d.consumer, d.day).cmp(&(&x.consumer, x.day)));
            let i = match at {
                Ok(i) => i,
                Err(i) => {
                    days.insert(
                        i,
                        DayUsage {
                            consumer: x.consumer.clone(),
                            day: x.day,
                            events: x.events,
                            meters: vec![MeterUsage::default(); meters.len()],
                        },
                    );
                    i
                }
            };
            for (&m, u) in from_events.iter().zip(&x.meters) {
                days[i].meters[m] = *u;
            }
        }
    }
    Ok(UsageReport {
        days,
        duplicates: 0,
    })
}

/// [`rollup_usage`] of meters the rollups can answer, sorted.
async fn rollup_days(
    lake: &Lake,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    meters: &[Meter],
) -> Result<Vec<DayUsage>, AnalyticsError> {
    let last = to - chrono::Duration::milliseconds(1);
    let sql = format!(
        "SELECT CAST(consumer AS VARCHAR), CAST(date AS VARCHAR), CAST(sum(calls) AS BIGINT), {} \
         FROM rollups_hourly WHERE date >= '{}' AND date <= '{}' AND hour >= {} AND hour < {} \
         GROUP BY consumer, date",
        aggregates(meters, Source::Rollups),
        from.format("%Y-%m-%d"),
        last.format("%Y-%m-%d"),
        ts_literal(from),
        ts_literal(to)
    );
    let mut days = Vec::new();
    for b in lake.query(&sql).await? {
        days.extend(read(&b, meters.len())?);
    }
    days.sort_by(|a, b| (&a.consumer, a.day).cmp(&(&b.consumer, b.day)));
    Ok(days)
}

/// What the aggregates are computed over.
#[derive(Clone, Copy)]
enum Source {
    /// One row per event.
    Events,
    /// One row per hourly rollup group, `calls` events each.
    Rollups,
}

/// `d` as an exact SQL decimal of the amount column's type (plans keep
/// fees and rates within its 9 decimal places).
fn sql_decimal(d: Decimal) -> String {
    format!("CAST('{}' AS DECIMAL(38, 9))", d.normalize())
}

/// One event's fee in SQL: [`EventFee::of`].
fn fee_sql(f: &EventFee) -> String {
    let mut fee = format!(
        "amount * {} + {}",
        sql_decimal(f.rate),
        sql_decimal(f.fixed)
    );
    if let Some(min) = f.min {
        fee = format!("greatest({fee}, {})", sql_decimal(min));
    }
    if let Some(max) = f.max {
        fee = format!("least({fee}, {})", sql_decimal(max));
    }
    fee
}

/// Four columns per meter: quantity, events, first and last ts.
fn aggregates(meters: &[Meter], source: Source) -> String {
    let mut out = Vec::new();
    for (i, m) in meters.iter().enumerate() {
        let cond = condition(m);
        if m.metric.reads_amount() {
            // Exact decimal sums (no BIGINT cast); [`read`] takes either.
            let value = match m.metric {
                Metric::EventFees(f) => fee_sql(&f),
                _ => "amount".to_string(),
            };
            out.push(format!(
                "sum(CASE WHEN {cond} THEN {value} END) AS q{i}, \
                 CAST(count(CASE WHEN {cond} THEN 1 END) AS BIGINT) AS n{i}, \
                 CAST(min(CASE WHEN {cond} THEN ts END) AS BIGINT) AS first{i}, \
                 CAST(max(CASE WHEN {cond} THEN ts END) AS BIGINT) AS last{i}"
            ));
            continue;
        }
        let (value, events, ts) = match (source, m.metric) {
            (Source::Events, Metric::Calls) => ("1", "1", "ts"),
            (Source::Events, Metric::RequestBytes) => ("coalesce(request_bytes, 0)", "1", "ts"),
            (Source::Events, Metric::ResponseBytes) => ("coalesce(response_bytes, 0)", "1", "ts"),
            (Source::Rollups, Metric::Calls) => ("calls", "calls", "hour"),
            (Source::Rollups, Metric::RequestBytes) => ("request_bytes", "calls", "hour"),
            (Source::Rollups, Metric::ResponseBytes) => ("response_bytes", "calls", "hour"),
            (_, Metric::Amount | Metric::EventFees(_)) => unreachable!("handled above"),
        };
        out.push(format!(
            "CAST(coalesce(sum(CASE WHEN {cond} THEN {value} ELSE 0 END), 0) AS BIGINT) AS q{i}"
        ));
        out.push(format!(
            "CAST(coalesce(sum(CASE WHEN {cond} THEN {events} ELSE 0 END), 0) AS BIGINT) AS n{i}"
        ));
        out.push(format!(
            "CAST(min(CASE WHEN {cond} THEN {ts} END) AS BIGINT) AS first{i}"
        ));
        out.push(format!(
            "CAST(max(CASE WHEN {cond} THEN {ts} END) AS BIGINT) AS last{i}"
        ));
    }
    if out.is_empty() {
        out.push("CAST(0 AS BIGINT) AS none".into());
    }
    out.join(", ")
}

/// The filter as a SQL condition (`TRUE` when empty). NULL never matches.
fn condition(m: &Meter) -> String {
    let f = &m.filter;
    let mut parts = Vec::new();
    if let Some(s) = f.status_below {
        parts.push(format!("status < {s}"));
    }
    if let Some(a) = &f.api {
        parts.push(format!("api = {}", quote(a)));
    }
    if let Some(r) = &f.route_prefix {
        parts.push(format!("starts_with(route, {})", quote(r)));
    }
    if let Some(m) = &f.method {
        parts.push(format!("method = {}", quote(m)));
    }
    if m.metric.reads_amount() {
        // Only events with an amount are the metric's events.
        parts.push("amount IS NOT NULL".into());
    }
    if parts.is_empty() {
        "TRUE".into()
    } else {
        format!("coalesce({}, FALSE)", parts.join(" AND "))
    }
}

fn read(b: &RecordBatch, meters: usize) -> Result<Vec<DayUsage>, AnalyticsError> {
    let consumer = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
    let consumer = consumer.as_string::<i32>();
    let date = datafusion::arrow::compute::cast(b.column(1), &DataType::Utf8)?;
    let date = date.as_string::<i32>();
    let int = |i: usize| b.column(i).as_primitive::<Int64Type>();
    let opt = |i: usize, r: usize| (!int(i).is_null(r)).then(|| int(i).value(r));
    let count = |i: usize, r: usize| opt(i, r).unwrap_or(0).max(0) as u64;
    let quantity = |i: usize, r: usize| -> Result<Decimal, AnalyticsError> {
        let col = b.column(i);
        if col.is_null(r) {
            return Ok(Decimal::ZERO);
        }
        match col.data_type() {
            DataType::Decimal128(_, scale) => {
                let v = col.as_primitive::<Decimal128Type>().value(r);
                exact(v, *scale).ok_or_else(|| {
                    AnalyticsError::Lake(format!(
                        "a day's sum of amounts ({v} × 10^-{scale}) is too large to bill exactly"
                    ))
                })
            }
            _ => Ok(Decimal::from(count(i, r))),
        }
    };
    let mut out = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        let day = NaiveDate::parse_from_str(date.value(r), "%Y-%m-%d").map_err(|e| {
            AnalyticsError::Lake(format!("date partition {:?}: {e}", date.value(r)))
        })?;
        out.push(DayUsage {
            consumer: (!consumer.is_null(r)).then(|| consumer.value(r).to_string()),
            day,
            events: count(2, r),
            meters: (0..meters)
                .map(|m| {
                    let c = 3 + 4 * m;
                    Ok(MeterUsage {
                        quantity: quantity(c, r)?,
                        events: count(c + 1, r),
                        first_ts: opt(c + 2, r),
                        last_ts: opt(c + 3, r),
                    })
                })
                .collect::<Result<_, AnalyticsError>>()?,
        });
    }
    Ok(out)
}

/// `v × 10^-scale` as a `Decimal` (96-bit mantissa), exactly: trailing
/// zeros are dropped when the value needs it; `None` when it cannot be
/// held exactly.
fn exact(mut v: i128, mut scale: i8) -> Option<Decimal> {
    while scale > 28 || v.unsigned_abs() >= 1u128 << 96 {
        if scale <= 0 || v % 10 != 0 {
            return None;
        }
        v /= 10;
        scale -= 1;
    }
    if scale < 0 {
        return Decimal::from_i128_with_scale(v, 0).checked_mul(Decimal::from(
            10i64.checked_pow(u32::from(scale.unsigned_abs()))?,
        ));
    }
    Some(Decimal::from_i128_with_scale(v, scale as u32))
}
