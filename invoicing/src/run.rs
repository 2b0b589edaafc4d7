//! Invoice runs over the lake: usage from the aggregator, rating by the
//! pure core, documents kept in the ledger ([`crate::ledger`]).
//!
//! Rules: a draft run may be repeated at will (it replaces the drafts). A
//! finalized period is never written again: a run for it changes nothing,
//! so its invoices stay byte-identical. Periods are finalized in order,
//! each after its month has ended, with numbers that continue the year's
//! sequence without gaps. Usage arriving late for a finalized period is
//! corrected by the next run of a later period (looking back
//! `adjust_lookback_months`): per finalized invoice, as adjustment lines
//! on the consumer's invoice when the change is zero or more, as a credit
//! note of the period being run when it is negative
//! ([`tollgate_billing::credit_note::correction`]). The period's credit
//! notes are drafted, numbered (their own sequence) and frozen with its
//! invoices.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tollgate_aggregator::Lake;
use tollgate_aggregator::usage::{DayUsage, MeterUsage, daily_usage};
use tollgate_billing::credit_note::{self, Correction, CreditNote, CreditNoteNumber};
use tollgate_billing::invoice::{
    Adjustment, Invoice, InvoiceNumber, SegmentUsage, Status, Usage, adjustments, draft,
    rate_segment,
};
use tollgate_billing::period::Period;
use tollgate_billing::subscription::Segment;
use tollgate_billing::{Billing, BillingConfig};
use tollgate_schemas::EpochMillis;
use tollgate_schemas::meter::Meter;

use crate::InvoicingError;
use crate::ledger::{
    CreditNoteSummary, InvoiceSummary, Ledger, PeriodState, Problem, RunReport, Unbilled,
};

/// What `run` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Drafts were (re)written.
    Drafted(PeriodState),
    /// The period is finalized; nothing was written.
    AlreadyFinalized(PeriodState),
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
    InvoicingError,
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
) -> Result<RunOutcome, InvoicingError> {
    if let Some(s) = ledger.state(period).await?
        && s.status == Status::Finalized
    {
        return Ok(RunOutcome::AlreadyFinalized(s));
    }
    if period.start() > now.date_naive() {
        return Err(InvoicingError::Refused(format!(
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
        return Err(InvoicingError::Refused(format!(
            "period {period} is before the finalized period {last}; late usage for it is billed as adjustments on the next run of an open period"
        )));
    }
    let meters = billing.meters();
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
    let mut notes: Vec<CreditNote> = Vec::new();
    let mut later_adjustments: Vec<Adjustment> = Vec::new();
    for &p in finalized.iter().rev() {
        // Newest first, so `later_adjustments` holds every finalized
        // adjustment and credit note line made after `p` when `p` is
        // examined: what was billed so far includes both.
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
                match credit_note::correction(period, original, adj) {
                    Some(Correction::Adjustments(adj)) => adjusted
                        .entry(original.consumer.clone())
                        .or_default()
                        .extend(adj),
                    Some(Correction::CreditNote(note)) => notes.push(note),
                    None => {}
                }
            }
        }
        // Add this period's corrections newest-last within the reversed
        // list. One original has either adjustments or a credit note in a
        // period, never both, so their order among each other is free.
        for note in ledger.credit_notes(p).await?.iter().rev() {
            for a in note.lines.iter().rev() {
                later_adjustments.push(a.clone());
            }
        }
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
    // In consumer order, as invoices are, so numbers follow it.
    notes.sort_by(|a, b| (&a.consumer, &a.invoice).cmp(&(&b.consumer, &b.invoice)));
    let state = PeriodState {
        period,
        status: Status::Draft,
        run_at: now,
        finalized_at: None,
        basis: finalized.last().copied(),
        invoices: invoices.iter().map(InvoiceSummary::of).collect(),
        credit_notes: notes.iter().map(CreditNoteSummary::of).collect(),
        report,
    };
    // Drafts of consumers no longer invoiced, and credit notes no longer
    // due, go away.
    if let Some(old) = ledger.state(period).await? {
        let keep: BTreeSet<&str> = invoices.iter().map(|i| i.consumer.as_str()).collect();
        for s in old
            .invoices
            .iter()
            .filter(|s| !keep.contains(s.consumer.as_str()))
        {
            ledger.delete_invoice(period, &s.consumer).await?;
        }
        let keep: BTreeSet<&InvoiceNumber> = notes.iter().map(|n| &n.invoice).collect();
        for s in old
            .credit_notes
            .iter()
            .filter(|s| !keep.contains(&s.invoice))
        {
            ledger.delete_credit_note(period, &s.invoice).await?;
        }
    }
    ledger.write_period(&state, &invoices, &notes).await?;
    Ok(RunOutcome::Drafted(state))
}

/// Freezes the drafts of `period` as they are, with sequential numbers:
/// its invoices (`number_prefix`) and its credit notes
/// (`credit_note_prefix`, a sequence of their own), in one commit.
pub async fn finalize(
    ledger: &Ledger,
    billing: &BillingConfig,
    period: Period,
    now: DateTime<Utc>,
) -> Result<RunOutcome, InvoicingError> {
    let states = ledger.periods().await?;
    let Some(state) = states.iter().find(|s| s.period == period).cloned() else {
        return Err(InvoicingError::Refused(format!(
            "period {period} has no invoices yet; run `tollgate invoice run --period {period}` first"
        )));
    };
    if state.status == Status::Finalized {
        return Ok(RunOutcome::AlreadyFinalized(state));
    }
    if period.end() > now.date_naive() {
        return Err(InvoicingError::Refused(format!(
            "period {period} is not over until {} (UTC); finalize it after that",
            period.end()
        )));
    }
    if let Some(p) = state.report.problems.first() {
        return Err(InvoicingError::Refused(format!(
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
        return Err(InvoicingError::Refused(format!(
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
        return Err(InvoicingError::Refused(format!(
            "a later period is finalized; {period} can no longer be finalized"
        )));
    }
    if last_final != state.basis {
        return Err(InvoicingError::Refused(format!(
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
    let note_prefix = &billing.credit_note_prefix;
    let mut note_seq = states
        .iter()
        .filter(|s| s.status == Status::Finalized)
        .flat_map(|s| &s.credit_notes)
        .filter_map(|n| n.number.as_ref()?.sequence(note_prefix, year))
        .max()
        .unwrap_or(0);
    let mut notes = ledger.credit_notes(period).await?;
    for note in &mut notes {
        note_seq += 1;
        note.number = Some(CreditNoteNumber::new(note_prefix, year, note_seq));
        note.status = Status::Finalized;
        note.issued = Some(now.date_naive());
    }
    let state = PeriodState {
        status: Status::Finalized,
        finalized_at: Some(now),
        invoices: invoices.iter().map(InvoiceSummary::of).collect(),
        credit_notes: notes.iter().map(CreditNoteSummary::of).collect(),
        ..state
    };
    ledger.write_period(&state, &invoices, &notes).await?;
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
) -> Result<Option<Invoice>, InvoicingError> {
    let period = Period::of(as_of.date_naive());
    let meters = billing.meters();
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
) -> Result<Estimates, InvoicingError> {
    let period = Period::of(as_of.date_naive());
    let meters = billing.meters();
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
