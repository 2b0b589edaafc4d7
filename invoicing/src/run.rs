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
//!
//! Base fees billed in advance: the run of P bills the next period's fees
//! of plans billed in advance, and reconciles P against what the
//! *finalized* invoice of P−1 prepaid for it, read from the ledger
//! ([`tollgate_billing::advance`]).
//!
//! Usage belongs to a segment by its event's exact timestamp. When a
//! segment starts or ends inside a day, the period is cut at those
//! instants and each piece is queried on its own, so no row of usage
//! straddles two segments; without such instants it is one query.
//!
//! Discounts, tax and prepaid credits (`customers.toml`) are applied to
//! every draft by [`tollgate_billing::settle::settle`]. Credit balances
//! come from the finalized periods' wallet statements; a run writes its
//! period's statement with the drafts (projected burns), and finalization
//! freezes it with them. A run refuses to start when a grant a finalized
//! period used has changed or gone from the customers file.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tollgate_aggregator::Lake;
use tollgate_aggregator::usage::{DayUsage, MeterUsage, daily_usage};
use tollgate_billing::advance::{AdvanceLine, advance_fees, advance_lines};
use tollgate_billing::credit_note::{self, Correction, CreditNote, CreditNoteNumber};
use tollgate_billing::invoice::{
    Adjustment, Invoice, InvoiceNumber, SegmentUsage, Status, Usage, adjustments,
    draft_with_advance, rate_segment,
};
use tollgate_billing::period::Period;
use tollgate_billing::proration::Boundary;
use tollgate_billing::rate::LineKind;
use tollgate_billing::settle::{Used, check_used_grants, settle, used, wallet};
use tollgate_billing::subscription::Segment;
use tollgate_billing::{Billing, BillingConfig};
use tollgate_schemas::EpochMillis;
use tollgate_schemas::meter::Meter;

use crate::InvoicingError;
use crate::ledger::{
    CreditNoteSummary, InvoiceSummary, Ledger, PeriodState, Problem, RunReport, Unbilled,
};
use crate::wallet::WalletStatement;

/// What finalized periods burned or expired of each grant, after checking
/// that those grants are unchanged in the customers file.
async fn credit_used(
    ledger: &Ledger,
    billing: &Billing,
    finalized: &[Period],
) -> Result<Used, InvoicingError> {
    let mut statements = Vec::new();
    for &p in finalized {
        if let Some(st) = ledger.wallet(p).await? {
            statements.push((p, st.entries));
        }
    }
    check_used_grants(&billing.customers, &statements)
        .map_err(tollgate_billing::ConfigError::from)?;
    Ok(used(statements.iter().flat_map(|(_, e)| e)))
}

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

/// One consumer's usage of one day, from `start` (epoch ms: the day's
/// midnight, or the cut inside the day the piece it was queried in starts
/// at) to the end of that day or piece.
#[derive(Debug)]
struct Piece {
    start: i64,
    usage: DayUsage,
}

/// Sums the usage in `days` that falls in `segment` into per-meter usage.
fn segment_usage(days: &[&Piece], meters: &[Meter], segment: &Segment) -> SegmentUsage {
    let mut sum: BTreeMap<&Meter, MeterUsage> = BTreeMap::new();
    for d in days.iter().filter(|d| segment.holds_ms(d.start)) {
        for (m, u) in meters.iter().zip(&d.usage.meters) {
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

/// The instants inside `period` where one of `segments` starts or ends
/// off midnight: where the period's usage must be cut.
fn cuts<'a>(period: Period, segments: impl IntoIterator<Item = &'a Segment>) -> BTreeSet<Boundary> {
    let (start, end) = (Boundary::day(period.start()), Boundary::day(period.end()));
    segments
        .into_iter()
        .flat_map(|s| [s.from, s.to])
        .filter(|b| !b.is_midnight() && start < *b && *b < end)
        .collect()
}

/// `[from, to)` cut at `cuts`: the pieces to query, in order (just
/// `[from, to)` without cuts; none when it is empty).
fn piece_bounds(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cuts: &BTreeSet<Boundary>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut bounds = vec![from];
    bounds.extend(
        cuts.iter()
            .map(|c| c.instant())
            .filter(|c| from < *c && *c < to),
    );
    bounds.push(to);
    bounds
        .windows(2)
        .filter(|w| w[0] < w[1])
        .map(|w| (w[0], w[1]))
        .collect()
}

/// A period's usage per consumer and day (and piece).
#[derive(Debug, Default)]
struct PeriodUsage {
    pieces: Vec<Piece>,
    /// Rows dropped as duplicates (same `event_id`).
    duplicates: u64,
    /// Indices into `pieces` per consumer.
    by: BTreeMap<Option<String>, Vec<usize>>,
}

impl PeriodUsage {
    fn of(&self, consumer: &str) -> Vec<&Piece> {
        self.by
            .get(&Some(consumer.to_string()))
            .map(|ix| ix.iter().map(|&i| &self.pieces[i]).collect())
            .unwrap_or_default()
    }
}

/// Usage of `period` (up to `until`) per consumer and day, in pieces cut
/// at `cuts` (one query per piece; one query when there are none). A
/// duplicate of an event carries its timestamp, so it falls in the same
/// piece and is still counted once.
async fn usage_by_consumer(
    lake: &Lake,
    period: Period,
    until: Option<DateTime<Utc>>,
    consumer: Option<&str>,
    meters: &[Meter],
    cuts: &BTreeSet<Boundary>,
) -> Result<PeriodUsage, InvoicingError> {
    let (from, to) = period_range(period, until);
    let mut out = PeriodUsage::default();
    for (a, b) in piece_bounds(from, to, cuts) {
        let report = daily_usage(lake, a, b, consumer, meters).await?;
        out.duplicates += report.duplicates;
        for d in report.days {
            let midnight = Boundary::day(d.day).instant();
            out.pieces.push(Piece {
                start: a.max(midnight).timestamp_millis(),
                usage: d,
            });
        }
    }
    for (i, d) in out.pieces.iter().enumerate() {
        out.by.entry(d.usage.consumer.clone()).or_default().push(i);
    }
    Ok(out)
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
    let credit = credit_used(ledger, billing, &finalized).await?;
    let meters = billing.meters();
    let subscribed = billing.subscriptions.consumers(period);
    let period_cuts = cuts(
        period,
        &subscribed
            .iter()
            .flat_map(|c| billing.subscriptions.segments(c, period))
            .collect::<Vec<_>>(),
    );
    let usage = usage_by_consumer(lake, period, None, None, &meters, &period_cuts).await?;
    let mut report = RunReport {
        events: usage.pieces.iter().map(|d| d.usage.events).sum(),
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
            let p_cuts = cuts(
                p,
                invoices
                    .iter()
                    .flat_map(|i| i.segments.iter().map(|s| &s.segment)),
            );
            let fresh = usage_by_consumer(lake, p, None, None, &meters, &p_cuts).await?;
            for original in &invoices {
                let days = fresh.of(&original.consumer);
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
                    Some(Correction::CreditNote(mut note)) => {
                        credit_note::settle_note(&mut note, original, billing)
                            .map_err(|e| InvoicingError::Refused(e.to_string()))?;
                        notes.push(*note);
                    }
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

    // What the finalized invoices of the period before prepaid for this
    // one: the ledger's word, not today's subscriptions file.
    let prepaid = prepaid_for(ledger, &finalized, period).await?;
    let mut consumers: BTreeSet<String> = subscribed.into_iter().map(String::from).collect();
    consumers.extend(adjusted.keys().cloned());
    // A prepaid consumer no longer subscribed gets its credit.
    consumers.extend(prepaid.keys().cloned());
    let mut invoices = Vec::new();
    for consumer in &consumers {
        let consumer = consumer.as_str();
        let days = usage.of(consumer);
        let segments = billing.subscriptions.segments(consumer, period);
        let next = billing.subscriptions.segments(consumer, period.next());
        let paid = prepaid.get(consumer).map_or(&[][..], Vec::as_slice);
        let result = segments
            .iter()
            .map(|s| rate_segment(&billing.plans, s, &segment_usage(&days, &meters, s)))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|rated| {
                let advance = advance_lines(&billing.plans, period, paid, &segments, &next)?;
                draft_with_advance(
                    &billing.plans,
                    period,
                    consumer,
                    rated,
                    advance,
                    adjusted.remove(consumer).unwrap_or_default(),
                )
            })
            .map_err(|e| e.to_string())
            .and_then(|inv| match inv {
                Some(mut inv) => settle(&mut inv, billing, Some(&credit))
                    .map(|()| Some(inv))
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            });
        match result {
            Ok(Some(inv)) => invoices.push(inv),
            Ok(None) => {}
            Err(message) => report.problems.push(Problem {
                consumer: consumer.to_string(),
                message,
            }),
        }
    }
    // Traffic at times no subscription covers.
    for (consumer, ix) in &usage.by {
        let segments = consumer
            .as_deref()
            .map(|c| billing.subscriptions.segments(c, period))
            .unwrap_or_default();
        let mut u: Option<Unbilled> = None;
        for p in ix.iter().map(|&i| &usage.pieces[i]) {
            let d = &p.usage;
            if d.events == 0 || segments.iter().any(|s| s.holds_ms(p.start)) {
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
    let statement = WalletStatement {
        period,
        status: Status::Draft,
        entries: wallet(period, &billing.customers, &credit, &invoices),
    };
    ledger.write_wallet(&statement).await?;
    ledger.write_period(&state, &invoices, &notes).await?;
    Ok(RunOutcome::Drafted(state))
}

/// The advance fees for `period` on the finalized invoices of the period
/// before, per consumer (none when that period is not finalized: a draft
/// of `period` computed before it is must be run again before it can be
/// finalized, see [`finalize`]).
async fn prepaid_for(
    ledger: &Ledger,
    finalized: &[Period],
    period: Period,
) -> Result<BTreeMap<String, Vec<AdvanceLine>>, InvoicingError> {
    let prev = period.prev();
    if !finalized.contains(&prev) {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    for inv in ledger.invoices(prev).await? {
        let lines: Vec<AdvanceLine> = inv
            .advance
            .into_iter()
            .filter(|l| l.line.kind == LineKind::AdvanceFee && l.period == period)
            .collect();
        if !lines.is_empty() {
            out.insert(inv.consumer, lines);
        }
    }
    Ok(out)
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
    // The credit statement computed with the drafts becomes real: its
    // burns now count toward the grants' balances.
    if let Some(mut st) = ledger.wallet(period).await? {
        st.status = Status::Finalized;
        for e in &mut st.entries {
            if !e.burned.is_zero() {
                e.invoice = invoices
                    .iter()
                    .find(|i| i.consumer == e.consumer)
                    .and_then(|i| i.number.clone());
            }
        }
        ledger.write_wallet(&st).await?;
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
    let segments = billing.subscriptions.segments(consumer, period);
    let usage = usage_by_consumer(
        lake,
        period,
        Some(as_of),
        Some(consumer),
        &meters,
        &cuts(period, &segments),
    )
    .await?;
    let days: Vec<&Piece> = usage.pieces.iter().collect();
    estimate(billing, period, consumer, &days, &meters)
}

/// The draft of `consumer` for `period` with `days` of usage, as a preview:
/// the current period taken as prepaid as the subscriptions say now (the
/// run reconciles it with the ledger), the next period's advance fees as
/// the run would bill them.
fn estimate(
    billing: &Billing,
    period: Period,
    consumer: &str,
    days: &[&Piece],
    meters: &[Meter],
) -> Result<Option<Invoice>, InvoicingError> {
    let segments = billing.subscriptions.segments(consumer, period);
    let next = billing.subscriptions.segments(consumer, period.next());
    let rated = segments
        .iter()
        .map(|s| rate_segment(&billing.plans, s, &segment_usage(days, meters, s)))
        .collect::<Result<Vec<_>, _>>()?;
    let prepaid = advance_fees(&billing.plans, &segments)?;
    let advance = advance_lines(&billing.plans, period, &prepaid, &segments, &next)?;
    let mut inv = draft_with_advance(&billing.plans, period, consumer, rated, advance, Vec::new())?;
    // Discounts and tax; credits need the ledger, which an estimate does not read.
    if let Some(inv) = &mut inv {
        settle(inv, billing, None)?;
    }
    Ok(inv)
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
    let subscribed = billing.subscriptions.consumers(period);
    let period_cuts = cuts(
        period,
        &subscribed
            .iter()
            .flat_map(|c| billing.subscriptions.segments(c, period))
            .collect::<Vec<_>>(),
    );
    let (from, to) = period_range(period, Some(as_of));
    // Cut as the run cuts; an hour is in the piece it starts in.
    let mut pieces = Vec::new();
    for (a, b) in piece_bounds(from, to, &period_cuts) {
        let usage = tollgate_aggregator::usage::rollup_usage(lake, a, b, &meters).await?;
        for d in usage.days {
            let midnight = Boundary::day(d.day).instant();
            pieces.push(Piece {
                start: a.max(midnight).timestamp_millis(),
                usage: d,
            });
        }
    }
    let mut by: BTreeMap<Option<&str>, Vec<&Piece>> = BTreeMap::new();
    for d in &pieces {
        by.entry(d.usage.consumer.as_deref()).or_default().push(d);
    }
    let mut invoices = BTreeMap::new();
    for consumer in subscribed {
        let days = by.get(&Some(consumer)).cloned().unwrap_or_default();
        if let Some(inv) = estimate(billing, period, consumer, &days, &meters)? {
            invoices.insert(consumer.to_string(), inv);
        }
    }
    Ok(Estimates {
        period,
        as_of,
        invoices,
    })
}
