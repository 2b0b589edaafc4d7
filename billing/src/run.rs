//! Invoice runs over the lake: usage from the aggregator, rating by the
//! pure core, documents kept in the lake (the "ledger").
//!
//! Ledger layout, under the lake root:
//!
//! - `billing/invoices/<YYYY-MM>/<consumer>.json`: one invoice, the stored
//!   form ([`crate::render::json`]); consumer ids are percent-encoded;
//! - `billing/periods/<YYYY-MM>.json`: the period's state ([`PeriodState`]),
//!   written last: it is the commit point of a run and of a finalization;
//! - `invoices/period=<YYYY-MM>/lines.parquet`: the `invoices` SQL table.
//!
//! Rules: a draft run may be repeated at will (it replaces the drafts). A
//! finalized period is never written again: a run for it changes nothing,
//! so its invoices stay byte-identical. Periods are finalized in order,
//! each after its month has ended, with numbers that continue the year's
//! sequence without gaps. Usage arriving late for a finalized period is
//! billed as adjustment lines on the next run of a later period (looking
//! back `adjust_lookback_months`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tollgate_aggregator::Lake;
use tollgate_aggregator::usage::{DayUsage, MeterUsage, daily_usage};
use tollgate_lake::store::LakeStore;
use tollgate_schemas::EpochMillis;
use tollgate_schemas::meter::Meter;

use crate::invoice::{
    Adjustment, Invoice, InvoiceError, InvoiceNumber, SegmentUsage, Status, Usage, adjustments,
    draft, meters, rate_segment,
};
use crate::period::Period;
use crate::plan::{PlanError, PlansFile};
use crate::render;
use crate::subscription::{Segment, SubscriptionError, SubscriptionsFile};

/// `[billing]` in `tollgate.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// The price plans (see `deploy/plans.toml`).
    pub plans: PathBuf,
    /// Who is on which plan (see `deploy/subscriptions.toml`).
    pub subscriptions: PathBuf,
    /// Prefix of invoice numbers: `INV-2026-000001`.
    pub number_prefix: String,
    /// How many finalized months back a run looks for late usage.
    pub adjust_lookback_months: u32,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            plans: "plans.toml".into(),
            subscriptions: "subscriptions.toml".into(),
            number_prefix: "INV-".into(),
            adjust_lookback_months: 3,
        }
    }
}

/// Why a billing command failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// A file could not be read.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What happened.
        why: String,
    },
    /// The plans file is wrong.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The subscriptions file is wrong.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    /// An invoice could not be made.
    #[error(transparent)]
    Invoice(#[from] InvoiceError),
    /// The lake could not be queried.
    #[error(transparent)]
    Analytics(#[from] tollgate_aggregator::AnalyticsError),
    /// The ledger could not be read or written.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The operation is not allowed now; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
}

/// Plans, subscriptions and settings, loaded and validated.
#[derive(Debug, Clone)]
pub struct Billing {
    /// The plans.
    pub plans: PlansFile,
    /// The subscriptions.
    pub subscriptions: SubscriptionsFile,
    /// The settings.
    pub config: BillingConfig,
}

impl Billing {
    /// Reads and validates the plans and subscriptions files.
    pub fn load(config: BillingConfig) -> Result<Billing, BillingError> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|e| BillingError::File {
                path: p.clone(),
                why: format!("{e}; set billing.plans / billing.subscriptions in tollgate.toml"),
            })
        };
        let plans = PlansFile::parse(&read(&config.plans)?)?;
        let subscriptions = SubscriptionsFile::parse(&read(&config.subscriptions)?, &plans)?;
        Ok(Billing {
            plans,
            subscriptions,
            config,
        })
    }

    /// Every meter any plan reads, once each, in a stable order.
    fn all_meters(&self) -> Vec<Meter> {
        let set: BTreeSet<Meter> = self.plans.plans.iter().flat_map(meters).collect();
        set.into_iter().collect()
    }
}

/// One invoice in a period's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSummary {
    /// Consumer.
    pub consumer: String,
    /// Number, once finalized.
    pub number: Option<InvoiceNumber>,
    /// Currency.
    pub currency: String,
    /// Total.
    pub total: Decimal,
}

/// Usage the run saw but could not bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unbilled {
    /// The consumer (`None`: events without a consumer).
    pub consumer: Option<String>,
    /// Events on days no subscription of the consumer covers.
    pub events: u64,
    /// First such day.
    pub first_day: NaiveDate,
    /// Last such day.
    pub last_day: NaiveDate,
}

/// A consumer the run could not invoice, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The consumer.
    pub consumer: String,
    /// What is wrong.
    pub message: String,
}

/// What a run found, kept with the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Events in the period (after deduplication).
    pub events: u64,
    /// Duplicate rows (same `event_id`) not counted.
    pub duplicates: u64,
    /// Consumers seen in traffic without a subscription for those days.
    pub unbilled: Vec<Unbilled>,
    /// Consumers not invoiced because of an error; finalization waits for none.
    pub problems: Vec<Problem>,
    /// Adjustment lines added for late usage of finalized periods.
    pub adjustments: usize,
    /// Sum of invoice totals per currency.
    pub totals: BTreeMap<String, Decimal>,
}

/// A period's state in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodState {
    /// The period.
    pub period: Period,
    /// Draft or finalized.
    pub status: Status,
    /// When the drafts were computed.
    pub run_at: DateTime<Utc>,
    /// When the period was finalized.
    #[serde(default)]
    pub finalized_at: Option<DateTime<Utc>>,
    /// The latest finalized period when the drafts were computed: the
    /// adjustments are relative to it, so finalization requires it unchanged.
    pub basis: Option<Period>,
    /// The invoices, by consumer.
    pub invoices: Vec<InvoiceSummary>,
    /// What the run found.
    pub report: RunReport,
}

/// What `run` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Drafts were (re)written.
    Drafted(PeriodState),
    /// The period is finalized; nothing was written.
    AlreadyFinalized(PeriodState),
}

/// The billing documents in the lake.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: LakeStore,
}

fn encode(consumer: &str) -> String {
    let mut out = String::new();
    for b in consumer.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

impl Ledger {
    /// The ledger of the lake at `location`.
    pub fn open(location: &str) -> Result<Ledger, BillingError> {
        let store = LakeStore::open(location).map_err(|e| BillingError::Ledger(e.to_string()))?;
        Ok(Ledger { store })
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
    ) -> Result<Option<T>, BillingError> {
        let Some(bytes) = self
            .store
            .get(path)
            .await
            .map_err(|e| BillingError::Ledger(e.to_string()))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BillingError::Ledger(format!("{path}: {e}")))
    }

    async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), BillingError> {
        self.store
            .put(path, Bytes::from(bytes))
            .await
            .map_err(|e| BillingError::Ledger(e.to_string()))
    }

    fn state_path(p: Period) -> String {
        format!("billing/periods/{p}.json")
    }

    fn invoice_path(p: Period, consumer: &str) -> String {
        format!("billing/invoices/{p}/{}.json", encode(consumer))
    }

    /// The state of `period`, if it was ever run.
    pub async fn state(&self, period: Period) -> Result<Option<PeriodState>, BillingError> {
        self.get_json(&Self::state_path(period)).await
    }

    /// Every period ever run, oldest first.
    pub async fn periods(&self) -> Result<Vec<PeriodState>, BillingError> {
        let paths = self
            .store
            .list("billing/periods/")
            .await
            .map_err(|e| BillingError::Ledger(e.to_string()))?;
        let mut out = Vec::new();
        for p in paths.iter().filter(|p| p.ends_with(".json")) {
            if let Some(s) = self.get_json::<PeriodState>(p).await? {
                out.push(s);
            }
        }
        out.sort_by_key(|s| s.period);
        Ok(out)
    }

    /// The stored bytes of one invoice (byte-identical to what was written).
    pub async fn invoice_bytes(
        &self,
        period: Period,
        consumer: &str,
    ) -> Result<Option<Vec<u8>>, BillingError> {
        Ok(self
            .store
            .get(&Self::invoice_path(period, consumer))
            .await
            .map_err(|e| BillingError::Ledger(e.to_string()))?
            .map(|b| b.to_vec()))
    }

    /// One invoice.
    pub async fn invoice(
        &self,
        period: Period,
        consumer: &str,
    ) -> Result<Option<Invoice>, BillingError> {
        self.get_json(&Self::invoice_path(period, consumer)).await
    }

    /// The invoices of a period, by consumer.
    pub async fn invoices(&self, period: Period) -> Result<Vec<Invoice>, BillingError> {
        let Some(state) = self.state(period).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for s in &state.invoices {
            if let Some(inv) = self.invoice(period, &s.consumer).await? {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// The invoice with this number.
    pub async fn find(&self, number: &str) -> Result<Option<Invoice>, BillingError> {
        for s in self.periods().await? {
            if let Some(i) = s
                .invoices
                .iter()
                .find(|i| i.number.as_ref().is_some_and(|n| n.0 == number))
            {
                return self.invoice(s.period, &i.consumer).await;
            }
        }
        Ok(None)
    }

    async fn write_period(
        &self,
        state: &PeriodState,
        invoices: &[Invoice],
    ) -> Result<(), BillingError> {
        for inv in invoices {
            self.put(
                &Self::invoice_path(inv.period, &inv.consumer),
                render::json(inv).into_bytes(),
            )
            .await?;
        }
        let batch =
            render::record_batch(invoices).map_err(|e| BillingError::Ledger(e.to_string()))?;
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)
            .map_err(|e| BillingError::Ledger(e.to_string()))?;
        w.write(&batch)
            .and_then(|_| w.close().map(|_| ()))
            .map_err(|e| BillingError::Ledger(e.to_string()))?;
        self.put(
            &format!("invoices/period={}/lines.parquet", state.period),
            buf,
        )
        .await?;
        let mut json = serde_json::to_vec_pretty(state).expect("state serializes");
        json.push(b'\n');
        self.put(&Self::state_path(state.period), json).await
    }
}

fn ms(t: Option<i64>) -> Option<EpochMillis> {
    t.map(EpochMillis)
}

/// Sums the days of `days` that fall in `segment` into per-meter usage.
fn segment_usage(days: &[&DayUsage], meters: &[Meter], segment: &Segment) -> SegmentUsage {
    let mut sum: BTreeMap<&Meter, MeterUsage> = BTreeMap::new();
    for d in days
        .iter()
        .filter(|d| d.day >= segment.from && d.day < segment.to)
    {
        for (m, u) in meters.iter().zip(&d.meters) {
            sum.entry(m).or_default().add(u);
        }
    }
    sum.into_iter()
        .map(|(m, u)| {
            (
                m.clone(),
                Usage {
                    quantity: u.quantity,
                    events: u.events,
                    first_ts: ms(u.first_ts),
                    last_ts: ms(u.last_ts),
                },
            )
        })
        .collect()
}

fn period_range(p: Period, until: Option<DateTime<Utc>>) -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"));
    let end = at(p.end());
    (at(p.start()), until.map_or(end, |u| u.min(end)))
}

/// Usage of `period` (up to `until`) per consumer and day.
async fn usage_by_consumer(
    lake: &Lake,
    period: Period,
    until: Option<DateTime<Utc>>,
    consumer: Option<&str>,
    meters: &[Meter],
) -> Result<
    (
        tollgate_aggregator::usage::UsageReport,
        BTreeMap<Option<String>, Vec<usize>>,
    ),
    BillingError,
> {
    let (from, to) = period_range(period, until);
    let report = if to > from {
        daily_usage(lake, from, to, consumer, meters).await?
    } else {
        Default::default()
    };
    let mut by: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, d) in report.days.iter().enumerate() {
        by.entry(d.consumer.clone()).or_default().push(i);
    }
    Ok((report, by))
}

/// Computes the draft invoices of `period` and writes them (see the module
/// doc for the rules). `now` is the clock.
pub async fn run(
    lake: &Lake,
    ledger: &Ledger,
    billing: &Billing,
    period: Period,
    now: DateTime<Utc>,
) -> Result<RunOutcome, BillingError> {
    if let Some(s) = ledger.state(period).await?
        && s.status == Status::Finalized
    {
        return Ok(RunOutcome::AlreadyFinalized(s));
    }
    if period.start() > now.date_naive() {
        return Err(BillingError::Refused(format!(
            "period {period} has not started yet"
        )));
    }
    let states = ledger.periods().await?;
    let finalized: Vec<Period> = states
        .iter()
        .filter(|s| s.status == Status::Finalized)
        .map(|s| s.period)
        .collect();
    if let Some(last) = finalized.last()
        && *last > period
    {
        return Err(BillingError::Refused(format!(
            "period {period} is before the finalized period {last}; late usage for it is billed as adjustments on the next run of an open period"
        )));
    }
    let meters = billing.all_meters();
    let (usage, by_consumer) = usage_by_consumer(lake, period, None, None, &meters).await?;
    let mut report = RunReport {
        events: usage.days.iter().map(|d| d.events).sum(),
        duplicates: usage.duplicates,
        ..RunReport::default()
    };

    // Late usage of finalized periods within the lookback.
    let lookback = {
        let mut p = period;
        for _ in 0..billing.config.adjust_lookback_months {
            p = p.prev();
        }
        p
    };
    let mut adjusted: BTreeMap<String, Vec<(String, Adjustment)>> = BTreeMap::new();
    let mut later_adjustments: Vec<Adjustment> = Vec::new();
    for &p in finalized.iter().rev() {
        // Newest first, so `later_adjustments` holds every finalized
        // adjustment made after `p` when `p` is examined.
        let invoices = ledger.invoices(p).await?;
        if p >= lookback {
            let (fresh, fresh_by) = usage_by_consumer(lake, p, None, None, &meters).await?;
            for original in &invoices {
                let days: Vec<&DayUsage> = fresh_by
                    .get(&Some(original.consumer.clone()))
                    .map(|ix| ix.iter().map(|&i| &fresh.days[i]).collect())
                    .unwrap_or_default();
                let seg_usage: Vec<SegmentUsage> = original
                    .segments
                    .iter()
                    .map(|s| segment_usage(&days, &meters, &s.segment))
                    .collect();
                let prior: Vec<&Adjustment> = later_adjustments
                    .iter()
                    .rev() // oldest first
                    .filter(|a| Some(&a.original) == original.number.as_ref())
                    .collect();
                let adj = adjustments(&billing.plans, original, &prior, &seg_usage)?;
                if !adj.is_empty() {
                    adjusted
                        .entry(original.consumer.clone())
                        .or_default()
                        .extend(adj);
                }
            }
        }
        // Add this period's adjustments newest-last within the reversed list.
        for inv in invoices.iter().rev() {
            for a in inv.adjustments.iter().rev() {
                later_adjustments.push(a.clone());
            }
        }
    }

    let mut consumers: BTreeSet<String> = billing
        .subscriptions
        .consumers(period)
        .into_iter()
        .map(String::from)
        .collect();
    consumers.extend(adjusted.keys().cloned());
    let mut invoices = Vec::new();
    for consumer in &consumers {
        let consumer = consumer.as_str();
        let days: Vec<&DayUsage> = by_consumer
            .get(&Some(consumer.to_string()))
            .map(|ix| ix.iter().map(|&i| &usage.days[i]).collect())
            .unwrap_or_default();
        let segments = billing.subscriptions.segments(consumer, period);
        let result = segments
            .iter()
            .map(|s| rate_segment(&billing.plans, s, &segment_usage(&days, &meters, s)))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|rated| {
                draft(
                    &billing.plans,
                    period,
                    consumer,
                    rated,
                    adjusted.remove(consumer).unwrap_or_default(),
                )
            });
        match result {
            Ok(Some(inv)) => invoices.push(inv),
            Ok(None) => {}
            Err(e) => report.problems.push(Problem {
                consumer: consumer.to_string(),
                message: e.to_string(),
            }),
        }
    }
    // Traffic on days no subscription covers.
    for (consumer, ix) in &by_consumer {
        let segments = consumer
            .as_deref()
            .map(|c| billing.subscriptions.segments(c, period))
            .unwrap_or_default();
        let mut u: Option<Unbilled> = None;
        for d in ix.iter().map(|&i| &usage.days[i]) {
            if d.events == 0 || segments.iter().any(|s| d.day >= s.from && d.day < s.to) {
                continue;
            }
            let e = u.get_or_insert(Unbilled {
                consumer: consumer.clone(),
                events: 0,
                first_day: d.day,
                last_day: d.day,
            });
            e.events += d.events;
            e.first_day = e.first_day.min(d.day);
            e.last_day = e.last_day.max(d.day);
        }
        report.unbilled.extend(u);
    }
    for inv in &invoices {
        report.adjustments += inv.adjustments.len();
        *report.totals.entry(inv.currency.clone()).or_default() += inv.total;
    }
    let state = PeriodState {
        period,
        status: Status::Draft,
        run_at: now,
        finalized_at: None,
        basis: finalized.last().copied(),
        invoices: invoices.iter().map(summary).collect(),
        report,
    };
    // Drafts of consumers no longer invoiced go away.
    if let Some(old) = ledger.state(period).await? {
        let keep: BTreeSet<&str> = invoices.iter().map(|i| i.consumer.as_str()).collect();
        for s in old
            .invoices
            .iter()
            .filter(|s| !keep.contains(s.consumer.as_str()))
        {
            ledger
                .store
                .delete(&Ledger::invoice_path(period, &s.consumer))
                .await
                .map_err(|e| BillingError::Ledger(e.to_string()))?;
        }
    }
    ledger.write_period(&state, &invoices).await?;
    Ok(RunOutcome::Drafted(state))
}

fn summary(inv: &Invoice) -> InvoiceSummary {
    InvoiceSummary {
        consumer: inv.consumer.clone(),
        number: inv.number.clone(),
        currency: inv.currency.clone(),
        total: inv.total,
    }
}

/// Freezes the drafts of `period` as they are, with sequential numbers.
pub async fn finalize(
    ledger: &Ledger,
    billing: &BillingConfig,
    period: Period,
    now: DateTime<Utc>,
) -> Result<RunOutcome, BillingError> {
    let states = ledger.periods().await?;
    let Some(state) = states.iter().find(|s| s.period == period).cloned() else {
        return Err(BillingError::Refused(format!(
            "period {period} has no invoices yet; run `tollgate invoice run --period {period}` first"
        )));
    };
    if state.status == Status::Finalized {
        return Ok(RunOutcome::AlreadyFinalized(state));
    }
    if period.end() > now.date_naive() {
        return Err(BillingError::Refused(format!(
            "period {period} is not over until {} (UTC); finalize it after that",
            period.end()
        )));
    }
    if let Some(p) = state.report.problems.first() {
        return Err(BillingError::Refused(format!(
            "{} consumer(s) could not be invoiced (first: {}: {}); fix the plans or subscriptions and run the period again",
            state.report.problems.len(),
            p.consumer,
            p.message
        )));
    }
    if let Some(open) = states
        .iter()
        .find(|s| s.period < period && s.status == Status::Draft)
    {
        return Err(BillingError::Refused(format!(
            "period {} is still a draft; finalize periods in order",
            open.period
        )));
    }
    let last_final = states
        .iter()
        .filter(|s| s.status == Status::Finalized)
        .map(|s| s.period)
        .max();
    if last_final.is_some_and(|l| l > period) {
        return Err(BillingError::Refused(format!(
            "a later period is finalized; {period} can no longer be finalized"
        )));
    }
    if last_final != state.basis {
        return Err(BillingError::Refused(format!(
            "period {} was finalized after these drafts were computed; run `tollgate invoice run --period {period}` again so its adjustments are current",
            last_final.map(|p| p.to_string()).unwrap_or_default()
        )));
    }
    let prefix = &billing.number_prefix;
    let year = period.year();
    let mut seq = states
        .iter()
        .filter(|s| s.status == Status::Finalized)
        .flat_map(|s| &s.invoices)
        .filter_map(|i| i.number.as_ref()?.sequence(prefix, year))
        .max()
        .unwrap_or(0);
    let mut invoices = ledger.invoices(period).await?;
    for inv in &mut invoices {
        seq += 1;
        inv.number = Some(InvoiceNumber::new(prefix, year, seq));
        inv.status = Status::Finalized;
        inv.issued = Some(now.date_naive());
    }
    let state = PeriodState {
        status: Status::Finalized,
        finalized_at: Some(now),
        invoices: invoices.iter().map(summary).collect(),
        ..state
    };
    ledger.write_period(&state, &invoices).await?;
    Ok(RunOutcome::Drafted(state))
}

/// What `consumer` would owe for the period containing `as_of` if it
/// closed then: usage up to `as_of`, recurring fees for the whole period.
/// Nothing is written.
pub async fn preview(
    lake: &Lake,
    billing: &Billing,
    consumer: &str,
    as_of: DateTime<Utc>,
) -> Result<Option<Invoice>, BillingError> {
    let period = Period::of(as_of.date_naive());
    let meters = billing.all_meters();
    let (usage, _) = usage_by_consumer(lake, period, Some(as_of), Some(consumer), &meters).await?;
    let days: Vec<&DayUsage> = usage.days.iter().collect();
    let segments = billing
        .subscriptions
        .segments(consumer, period)
        .iter()
        .map(|s| rate_segment(&billing.plans, s, &segment_usage(&days, &meters, s)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(draft(
        &billing.plans,
        period,
        consumer,
        segments,
        Vec::new(),
    )?)
}

/// Month-to-date estimates: what each subscribed consumer would owe for
/// the period containing `as_of` if it closed then.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimates {
    /// The period.
    pub period: Period,
    /// Usage counted up to here.
    pub as_of: DateTime<Utc>,
    /// Draft invoice per subscribed consumer (not numbered, not stored).
    pub invoices: BTreeMap<String, Invoice>,
}

/// [`preview`] for every consumer subscribed in the period of `as_of`, with
/// usage from the hourly rollups ([`tollgate_aggregator::usage::rollup_usage`]):
/// one cheap query for all consumers, so a dashboard can show it. An
/// estimate: the rollups are not deduplicated by `event_id`, so a
/// duplicated call counts twice until the invoice run removes it. Recurring
/// fees count for the whole period, as on the invoice.
pub async fn estimates(
    lake: &Lake,
    billing: &Billing,
    as_of: DateTime<Utc>,
) -> Result<Estimates, BillingError> {
    let period = Period::of(as_of.date_naive());
    let meters = billing.all_meters();
    let (from, to) = period_range(period, Some(as_of));
    let usage = if to > from {
        tollgate_aggregator::usage::rollup_usage(lake, from, to, &meters).await?
    } else {
        Default::default()
    };
    let mut by: BTreeMap<Option<&str>, Vec<&DayUsage>> = BTreeMap::new();
    for d in &usage.days {
        by.entry(d.consumer.as_deref()).or_default().push(d);
    }
    let mut invoices = BTreeMap::new();
    for consumer in billing.subscriptions.consumers(period) {
        let days = by.get(&Some(consumer)).cloned().unwrap_or_default();
        let segments = billing
            .subscriptions
            .segments(consumer, period)
            .iter()
            .map(|s| rate_segment(&billing.plans, s, &segment_usage(&days, &meters, s)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(inv) = draft(&billing.plans, period, consumer, segments, Vec::new())? {
            invoices.insert(consumer.to_string(), inv);
        }
    }
    Ok(Estimates {
        period,
        as_of,
        invoices,
    })
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn consumer_ids_become_safe_file_names() {
        assert_eq!(encode("acct-0001"), "acct-0001");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(encode("../x"), "%2E.%2Fx");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
