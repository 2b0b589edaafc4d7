//! Base fees billed in advance (`base_fee_timing = "advance"`).
//!
//! Tollgate invoices once a month, after the month. For a plan billed in
//! advance, the invoice of period P bills P's usage (and minimums) in
//! arrears, as always, and the base fee of the *next* period P+1 in
//! advance: one [`LineKind::AdvanceFee`] line per segment of P+1 on such a
//! plan, prorated when the subscription is already known to end or change
//! inside P+1.
//!
//! What was paid in advance for P is therefore on the invoice of P−1. When
//! P turns out differently (a plan change, a cancellation, a new version,
//! a subscription that starts in P and so was never prepaid), P's invoice
//! reconciles it ([`reconcile`]):
//!
//! - an [`LineKind::UnusedTime`] credit (negative) for each stretch of
//!   prepaid time no longer on the plan version that was prepaid: the
//!   prepaid fee × the stretch's share of P;
//! - a [`LineKind::RemainingTime`] debit for each stretch of P on a plan
//!   billed in advance that was not prepaid on that plan version: that
//!   plan's fee × the stretch's share of P.
//!
//! Time still on the prepaid plan version is left alone, so a period that
//! went as prepaid adds no line. Shares are the plan's proration (days or
//! seconds, [`crate::proration`]); each line is rounded on its own with the
//! plan's rounding, a credit as the negative of the same debit.
//!
//! The prepaid lines come from the *finalized* invoice of P−1 (the
//! invoicing layer reads them from the ledger), never recomputed from
//! today's subscriptions, which may have changed since.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::InvoiceError;
use crate::period::Period;
use crate::plan::{BaseFeeTiming, Plan, PlansFile};
use crate::proration::Boundary;
use crate::rate::{Line, LineKind};
use crate::subscription::Segment;

/// A line of a base fee billed in advance, or of its reconciliation, with
/// the time it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceLine {
    /// Kind ([`LineKind::AdvanceFee`], [`LineKind::UnusedTime`] or
    /// [`LineKind::RemainingTime`]), charge `base_fee`, text and amounts.
    #[serde(flatten)]
    pub line: Line,
    /// Plan id.
    pub plan: String,
    /// Plan version.
    pub version: u32,
    /// The period the covered time is in: the next period for an advance
    /// fee, the invoice's own period for a credit or debit.
    pub period: Period,
    /// First instant covered (inclusive); a date when at midnight.
    pub from: Boundary,
    /// First instant not covered (exclusive); a date when at midnight.
    pub to: Boundary,
    /// The share of `period` covered, in the plan's proration (exact).
    #[serde(with = "rust_decimal::serde::str")]
    pub share: Decimal,
    /// The plan's base fee for a whole period: `share` of it is the
    /// unrounded amount (negated for a credit).
    pub fee: Decimal,
}

fn plan_of<'p>(plans: &'p PlansFile, id: &str, version: u32) -> Result<&'p Plan, InvoiceError> {
    plans
        .get(id, Some(version))
        .ok_or_else(|| InvoiceError::MissingPlan {
            plan: id.to_string(),
            version,
        })
}

fn in_advance(plan: &Plan) -> bool {
    plan.base_fee_timing == BaseFeeTiming::Advance
}

/// One line of `plan`'s fee over `[from, to)` of `period` (negated for a
/// credit); `None` when the time is no whole unit of the plan's proration
/// (less than a day, by day).
fn line(
    plan: &Plan,
    fee: Decimal,
    kind: LineKind,
    period: Period,
    (from, to): (Boundary, Boundary),
) -> Result<Option<AdvanceLine>, InvoiceError> {
    let coverage = plan.proration.coverage(period, from, to);
    if coverage.units == 0 {
        return Ok(None);
    }
    let share = coverage.share();
    let exact = fee
        .checked_mul(share)
        .ok_or_else(|| crate::rate::RateError::Overflow {
            charge: "base_fee".into(),
        })?;
    let rounded = plan.rounding.apply(exact, plan.currency());
    let (unrounded, amount) = match kind {
        LineKind::UnusedTime => (-exact, -rounded),
        _ => (exact, rounded),
    };
    let id = format!("{} v{}", plan.id, plan.version);
    let description = match kind {
        LineKind::AdvanceFee if coverage.is_whole() => format!("Base fee in advance for {period}"),
        LineKind::AdvanceFee => format!(
            "Base fee in advance for {period}, {from} to {to}: {}",
            coverage.describe()
        ),
        LineKind::UnusedTime => {
            format!(
                "Unused time on {id}, {from} to {to}: {}",
                coverage.describe()
            )
        }
        _ => format!(
            "Remaining time on {id}, {from} to {to}: {}",
            coverage.describe()
        ),
    };
    Ok(Some(AdvanceLine {
        line: Line {
            kind,
            charge: "base_fee".into(),
            description,
            metric: None,
            quantity: Decimal::ONE,
            tiers: Vec::new(),
            unrounded,
            amount,
        },
        plan: plan.id.0.clone(),
        version: plan.version,
        period,
        from,
        to,
        share,
        fee,
    }))
}

/// The advance fees of `next`, the segments of the period after the
/// invoice's: one line per segment on a plan billed in advance, its fee ×
/// the segment's share (other segments give none).
pub fn advance_fees(plans: &PlansFile, next: &[Segment]) -> Result<Vec<AdvanceLine>, InvoiceError> {
    let mut out = Vec::new();
    for s in next {
        let plan = plan_of(plans, &s.plan, s.version)?;
        let Some(fee) = plan.base_fee.filter(|_| in_advance(plan)) else {
            continue;
        };
        out.extend(line(
            plan,
            fee,
            LineKind::AdvanceFee,
            s.period(),
            (s.from, s.to),
        )?);
    }
    Ok(out)
}

/// `range` without the parts in `cuts`, in order.
fn minus(range: (Boundary, Boundary), cuts: &[(Boundary, Boundary)]) -> Vec<(Boundary, Boundary)> {
    let mut cuts: Vec<_> = cuts.iter().filter(|c| c.0 < c.1).copied().collect();
    cuts.sort();
    let (mut at, end) = range;
    let mut out = Vec::new();
    for (a, b) in cuts {
        if b <= at || a >= end {
            continue;
        }
        if a > at {
            out.push((at, a));
        }
        at = at.max(b);
    }
    if at < end {
        out.push((at, end));
    }
    out
}

/// The unused-time credits and remaining-time debits of `period`, given
/// what was prepaid for it (`prepaid`: the [`LineKind::AdvanceFee`] lines
/// for `period` on the finalized invoice of the period before; other
/// lines are ignored) and its actual segments (`actual`, on any plan:
/// only those billed in advance count). Credits first, then debits, each
/// in time order.
pub fn reconcile(
    plans: &PlansFile,
    period: Period,
    prepaid: &[AdvanceLine],
    actual: &[Segment],
) -> Result<Vec<AdvanceLine>, InvoiceError> {
    let prepaid: Vec<&AdvanceLine> = prepaid
        .iter()
        .filter(|l| l.line.kind == LineKind::AdvanceFee && l.period == period)
        .collect();
    let mut advance = Vec::new();
    for s in actual {
        let plan = plan_of(plans, &s.plan, s.version)?;
        if let Some(fee) = plan.base_fee.filter(|_| in_advance(plan)) {
            advance.push((s, plan, fee));
        }
    }
    let mut out = Vec::new();
    for p in &prepaid {
        let still: Vec<_> = advance
            .iter()
            .filter(|(s, ..)| s.plan == p.plan && s.version == p.version)
            .map(|(s, ..)| (s.from, s.to))
            .collect();
        let plan = plan_of(plans, &p.plan, p.version)?;
        for gap in minus((p.from, p.to), &still) {
            out.extend(line(plan, p.fee, LineKind::UnusedTime, period, gap)?);
        }
    }
    for (s, plan, fee) in &advance {
        let paid: Vec<_> = prepaid
            .iter()
            .filter(|p| p.plan == s.plan && p.version == s.version)
            .map(|p| (p.from, p.to))
            .collect();
        for gap in minus((s.from, s.to), &paid) {
            out.extend(line(plan, *fee, LineKind::RemainingTime, period, gap)?);
        }
    }
    Ok(out)
}

/// Every advance line of one consumer's invoice of `period`: the
/// reconciliation of `period` ([`reconcile`]) then the advance fees of the
/// next period ([`advance_fees`] of `next`). An advance fee in another
/// currency than the invoice's (a plan change to another currency at the
/// month's end) is left to the next period's invoice, where it is billed
/// as remaining time, since an invoice has one currency.
pub fn advance_lines(
    plans: &PlansFile,
    period: Period,
    prepaid: &[AdvanceLine],
    this: &[Segment],
    next: &[Segment],
) -> Result<Vec<AdvanceLine>, InvoiceError> {
    let mut out = reconcile(plans, period, prepaid, this)?;
    let first = this
        .iter()
        .map(|s| (&s.plan, s.version))
        .chain(out.iter().map(|l| (&l.plan, l.version)))
        .next();
    let currency = match first {
        Some((id, version)) => Some(plan_of(plans, id, version)?.currency().code),
        None => None,
    };
    for l in advance_fees(plans, next)? {
        let c = plan_of(plans, &l.plan, l.version)?.currency().code;
        if currency.is_none_or(|cur| cur == c) {
            out.push(l);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscription::SubscriptionsFile;
    use std::str::FromStr;

    /// a: 31.00 a month in advance; b: 62.00 in advance; s: 31.00 in
    /// advance prorated by the second; r: 10.00 in arrears.
    const PLANS: &str = r#"
[[plan]]
id = "a"
version = 1
currency = "USD"
base_fee = "31.00"
base_fee_timing = "advance"
[[plan]]
id = "b"
version = 1
currency = "USD"
base_fee = "62.00"
base_fee_timing = "advance"
[[plan]]
id = "sa"
version = 1
currency = "USD"
base_fee = "31.00"
base_fee_timing = "advance"
proration = "second"
[[plan]]
id = "sb"
version = 1
currency = "USD"
base_fee = "62.00"
base_fee_timing = "advance"
proration = "second"
[[plan]]
id = "r"
version = 1
currency = "USD"
base_fee = "10.00"
"#;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn plans() -> PlansFile {
        PlansFile::parse(PLANS).unwrap()
    }

    fn subs(text: &str) -> SubscriptionsFile {
        SubscriptionsFile::parse(text, &plans()).unwrap()
    }

    fn amounts(lines: &[AdvanceLine]) -> Vec<(LineKind, &str, Decimal)> {
        lines
            .iter()
            .map(|l| (l.line.kind, l.plan.as_str(), l.line.amount))
            .collect()
    }

    const ON_A: &str = "[[subscription]]\nconsumer = \"c\"\nplan = \"a\"\nstart = \"2026-09-01\"\n";

    /// September's invoice prepaid October on plan a (what the ledger holds).
    fn prepaid_october() -> Vec<AdvanceLine> {
        let oct: Period = "2026-10".parse().unwrap();
        advance_fees(&plans(), &subs(ON_A).segments("c", oct)).unwrap()
    }

    #[test]
    fn in_advance_proration_credit_and_debit() {
        let sep: Period = "2026-09".parse().unwrap();
        let oct = sep.next();
        // September's invoice: October's fee of plan a in advance, 31.00.
        let prepaid = prepaid_october();
        assert_eq!(amounts(&prepaid), [(LineKind::AdvanceFee, "a", d("31.00"))]);
        assert_eq!(
            prepaid[0].line.description,
            "Base fee in advance for 2026-10"
        );
        assert_eq!(
            (prepaid[0].from.to_string(), prepaid[0].to.to_string()),
            ("2026-10-01".into(), "2026-11-01".into())
        );
        // Then, during October, an upgrade to b from 16 October 00:00.
        let changed = subs(
            "[[subscription]]\nconsumer = \"c\"\nplan = \"a\"\nstart = \"2026-09-01\"\nend = \"2026-10-16\"\n\
             [[subscription]]\nconsumer = \"c\"\nplan = \"b\"\nstart = \"2026-10-16\"\n",
        );
        let lines = advance_lines(
            &plans(),
            oct,
            &prepaid,
            &changed.segments("c", oct),
            &changed.segments("c", oct.next()),
        )
        .unwrap();
        // Unused time on a, 16–31 October: 16 of 31 days × 31.00 = 16.00
        // back. Remaining time on b, the same 16 days: 16/31 × 62.00 =
        // 32.00. November on b in advance: 62.00 (30 of 30 days).
        assert_eq!(
            amounts(&lines),
            [
                (LineKind::UnusedTime, "a", d("-16.00")),
                (LineKind::RemainingTime, "b", d("32.00")),
                (LineKind::AdvanceFee, "b", d("62.00")),
            ]
        );
        assert_eq!(
            lines[0].line.description,
            "Unused time on a v1, 2026-10-16 to 2026-11-01: 16 of 31 days"
        );
        assert_eq!(
            lines[1].line.description,
            "Remaining time on b v1, 2026-10-16 to 2026-11-01: 16 of 31 days"
        );
        assert_eq!(lines[2].period, oct.next());
        // Net for October's fees: 31.00 prepaid − 16.00 + 32.00 = 47.00 =
        // 15 days of a (15.00) + 16 days of b (32.00).
        let net: Decimal = prepaid[0].line.amount + lines[0].line.amount + lines[1].line.amount;
        assert_eq!(net, d("47.00"));
    }

    #[test]
    fn a_change_at_an_instant_is_prorated_by_the_second() {
        let oct: Period = "2026-10".parse().unwrap();
        let on_sa = "[[subscription]]\nconsumer = \"c\"\nplan = \"sa\"\nstart = \"2026-09-01\"\n";
        let prepaid = advance_fees(&plans(), &subs(on_sa).segments("c", oct)).unwrap();
        assert_eq!(prepaid[0].line.amount, d("31.00"));
        let changed = subs(
            "[[subscription]]\nconsumer = \"c\"\nplan = \"sa\"\nstart = \"2026-09-01\"\nend = \"2026-10-16T14:30:00Z\"\n\
             [[subscription]]\nconsumer = \"c\"\nplan = \"sb\"\nstart = \"2026-10-16T14:30:00Z\"\n",
        );
        let lines = reconcile(&plans(), oct, &prepaid, &changed.segments("c", oct)).unwrap();
        // 16 Oct 14:30 to 1 Nov 00:00 = 15 d 9 h 30 min = 1,330,200 s of
        // 31 × 86,400 = 2,678,400 s.
        // Unused: 31 × 1,330,200 / 2,678,400 = 15.395833… → −15.40.
        // Remaining: 62 × 1,330,200 / 2,678,400 = 30.791666… → 30.79.
        assert_eq!(
            amounts(&lines),
            [
                (LineKind::UnusedTime, "sa", d("-15.40")),
                (LineKind::RemainingTime, "sb", d("30.79")),
            ]
        );
        assert_eq!(
            lines[0].line.description,
            "Unused time on sa v1, 2026-10-16T14:30:00Z to 2026-11-01: 1330200 of 2678400 seconds"
        );
        assert_eq!(lines[1].from.to_string(), "2026-10-16T14:30:00Z");
        assert_eq!(lines[0].line.unrounded.round_dp(6), d("-15.395833"));
    }

    #[test]
    fn a_period_as_prepaid_adds_nothing_and_a_cancellation_credits_the_rest() {
        let oct: Period = "2026-10".parse().unwrap();
        let prepaid = prepaid_october();
        let same = subs(ON_A);
        assert!(
            reconcile(&plans(), oct, &prepaid, &same.segments("c", oct))
                .unwrap()
                .is_empty()
        );
        // Cancelled from 21 October: 11 of 31 days unused, 11.00 back, and
        // nothing for November.
        let cancelled = subs(&format!("{ON_A}end = \"2026-10-21\"\n"));
        let lines = advance_lines(
            &plans(),
            oct,
            &prepaid,
            &cancelled.segments("c", oct),
            &cancelled.segments("c", oct.next()),
        )
        .unwrap();
        assert_eq!(amounts(&lines), [(LineKind::UnusedTime, "a", d("-11.00"))]);
        // Gone entirely (no segment in October): the whole 31.00 back.
        let lines = reconcile(&plans(), oct, &prepaid, &[]).unwrap();
        assert_eq!(amounts(&lines), [(LineKind::UnusedTime, "a", d("-31.00"))]);
    }

    #[test]
    fn a_first_period_bills_its_own_remaining_time_and_arrears_plans_none() {
        let oct: Period = "2026-10".parse().unwrap();
        // Starts on plan a on 10 October; nothing was prepaid: 22 of 31
        // days × 31.00 = 22.00 for October, and November's 31.00.
        let new =
            subs("[[subscription]]\nconsumer = \"c\"\nplan = \"a\"\nstart = \"2026-10-10\"\n");
        let lines = advance_lines(
            &plans(),
            oct,
            &[],
            &new.segments("c", oct),
            &new.segments("c", oct.next()),
        )
        .unwrap();
        assert_eq!(
            amounts(&lines),
            [
                (LineKind::RemainingTime, "a", d("22.00")),
                (LineKind::AdvanceFee, "a", d("31.00")),
            ]
        );
        // Switching to an arrears plan from October: the prepaid October
        // comes back whole; r bills its own fee in its segment, not here.
        let to_r = subs(
            "[[subscription]]\nconsumer = \"c\"\nplan = \"a\"\nstart = \"2026-09-01\"\nend = \"2026-10-01\"\n\
             [[subscription]]\nconsumer = \"c\"\nplan = \"r\"\nstart = \"2026-10-01\"\n",
        );
        let lines = advance_lines(
            &plans(),
            oct,
            &prepaid_october(),
            &to_r.segments("c", oct),
            &to_r.segments("c", oct.next()),
        )
        .unwrap();
        assert_eq!(amounts(&lines), [(LineKind::UnusedTime, "a", d("-31.00"))]);
    }

    #[test]
    fn a_change_inside_the_next_period_prorates_its_advance_fee() {
        // On a, known to move to b from 11 November (a 30-day month):
        // a 10/30 × 31.00 = 10.333… → 10.33; b 20/30 × 62.00 = 41.333… →
        // 41.33.
        let s = subs(
            "[[subscription]]\nconsumer = \"c\"\nplan = \"a\"\nstart = \"2026-09-01\"\nend = \"2026-11-11\"\n\
             [[subscription]]\nconsumer = \"c\"\nplan = \"b\"\nstart = \"2026-11-11\"\n",
        );
        let nov: Period = "2026-11".parse().unwrap();
        let lines = advance_fees(&plans(), &s.segments("c", nov)).unwrap();
        assert_eq!(
            amounts(&lines),
            [
                (LineKind::AdvanceFee, "a", d("10.33")),
                (LineKind::AdvanceFee, "b", d("41.33")),
            ]
        );
        assert_eq!(
            lines[0].line.description,
            "Base fee in advance for 2026-11, 2026-11-01 to 2026-11-11: 10 of 30 days"
        );
    }

    #[test]
    fn minus_leaves_the_uncut_parts_in_order() {
        let b = |s: &str| Boundary::from_str(s).unwrap();
        let r = (b("2026-10-01"), b("2026-11-01"));
        let got = minus(
            r,
            &[
                (b("2026-10-20"), b("2026-10-25")),
                (b("2026-09-20"), b("2026-10-05")),
            ],
        );
        assert_eq!(
            got,
            [
                (b("2026-10-05"), b("2026-10-20")),
                (b("2026-10-25"), b("2026-11-01"))
            ]
        );
        assert!(minus(r, &[r]).is_empty());
        assert_eq!(minus(r, &[]), [r]);
    }
}
