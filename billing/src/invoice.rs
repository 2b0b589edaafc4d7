//! Invoices: rated segments of a period for one consumer, plus adjustment
//! lines for late usage of earlier, finalized periods. Pure: usage in,
//! documents out.
//!
//! Every line says how its amount was made: metric and filter, quantity,
//! plan id and version, the tier breakdown, and the number and time range
//! of the events behind it, so any amount can be re-derived from the lake.
//!
//! Late usage: a finalized invoice never changes. When the lake later holds
//! more usage for its period (late events), the next invoice run rates the
//! segment again with the new usage and adds, per line whose amount moved,
//! an adjustment line `amount_after − amount_before` that names the
//! original invoice. "Before" is what was billed so far: the original line
//! plus any finalized adjustments of it, so late usage is billed once.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tollgate_schemas::EpochMillis;
use tollgate_schemas::meter::{Filter, Meter};

use crate::advance::AdvanceLine;
use crate::period::Period;
use crate::plan::{Plan, PlansFile};
use crate::proration::Boundary;
use crate::rate::{Line, LineKind, Quantities, TierPart, events_key, fees_key, rate, rate_part};
use crate::subscription::Segment;

/// A finalized invoice's number: `{prefix}{year}-{sequence:06}`,
/// sequential without gaps within a year.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InvoiceNumber(pub String);

/// A document number: `{prefix}{year}-{seq:06}`; invoices' and credit
/// notes' (each their own sequence) alike.
pub(crate) fn number(prefix: &str, year: i32, seq: u64) -> String {
    format!("{prefix}{year}-{seq:06}")
}

/// The sequence part of a [`number`], if it has this prefix and year.
pub(crate) fn number_sequence(number: &str, prefix: &str, year: i32) -> Option<u64> {
    number
        .strip_prefix(prefix)?
        .strip_prefix(&format!("{year}-"))?
        .parse()
        .ok()
}

impl InvoiceNumber {
    /// The number `seq` of `year`.
    pub fn new(prefix: &str, year: i32, seq: u64) -> InvoiceNumber {
        InvoiceNumber(number(prefix, year, seq))
    }

    /// The sequence part, if the number has this prefix and year.
    pub fn sequence(&self, prefix: &str, year: i32) -> Option<u64> {
        number_sequence(&self.0, prefix, year)
    }
}

impl fmt::Display for InvoiceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Draft (recomputed by every run) or finalized (frozen forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recomputed by each `invoice run` until finalized.
    Draft,
    /// Numbered and immutable.
    Finalized,
}

impl Status {
    /// `draft` or `finalized`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Finalized => "finalized",
        }
    }
}

/// One meter's usage over a segment: what the lake says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Quantity of the metric (whole for counts; an `amount` metric's sum
    /// may be fractional). A whole one is a JSON number, as before.
    #[serde(with = "crate::quantity")]
    pub quantity: Decimal,
    /// Events behind it.
    pub events: u64,
    /// Earliest of those events.
    pub first_ts: Option<EpochMillis>,
    /// Latest of those events.
    pub last_ts: Option<EpochMillis>,
}

/// An invoice line with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// The rated line: kind, charge, quantity, tiers, amounts.
    #[serde(flatten)]
    pub line: Line,
    /// The filter of a usage line's metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Usage lines: events behind the quantity and their time range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// The lines of one segment (one plan version over some days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSegment {
    /// Plan, version, days and proration share.
    #[serde(flatten)]
    pub segment: Segment,
    /// Base fee, usage lines in plan order, minimum true-up.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the line amounts.
    pub subtotal: Decimal,
}

/// A correction of a finalized invoice's line, billed on a later invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    /// The invoice corrected.
    pub original: InvoiceNumber,
    /// Its period.
    pub period: Period,
    /// Plan id of the corrected segment.
    pub plan: String,
    /// Plan version of the corrected segment.
    pub version: u32,
    /// Start of the corrected segment (a date when at midnight).
    pub from: Boundary,
    /// End of it, exclusive.
    pub to: Boundary,
    /// Kind of the corrected line.
    pub kind: LineKind,
    /// Charge of the corrected line.
    pub charge: String,
    /// Text on the invoice.
    pub description: String,
    /// Quantity billed so far.
    #[serde(with = "crate::quantity")]
    pub quantity_before: Decimal,
    /// Quantity the lake holds now.
    #[serde(with = "crate::quantity")]
    pub quantity_after: Decimal,
    /// Amount billed so far for the line.
    pub amount_before: Decimal,
    /// Amount for the line with the current usage.
    pub amount_after: Decimal,
    /// `amount_after − amount_before`.
    pub amount: Decimal,
    /// Tier breakdown of `amount_after`.
    pub tiers: Vec<TierPart>,
    /// Events behind `quantity_after`, and their range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A coupon's discount on an invoice (before tax). Negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountLine {
    /// The coupon.
    pub coupon: String,
    /// Text on the invoice.
    pub description: String,
    /// Percent off, for a percentage coupon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    /// The plans whose lines it discounted.
    pub plans: Vec<String>,
    /// What those lines came to before this coupon (after earlier ones).
    pub base: Decimal,
    /// The discount: negative, never more than `base`.
    pub amount: Decimal,
}

/// The invoice's tax: one line, rounded once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxLine {
    /// The tax id.
    pub tax: String,
    /// Text on the invoice ("VAT 19%").
    pub name: String,
    /// The rate, a fraction (0.19).
    pub rate: Decimal,
    /// The taxed amount: subtotal plus discounts.
    pub taxable: Decimal,
    /// `rate × taxable`, rounded with the tax's rounding.
    pub amount: Decimal,
}

/// Prepaid credit burned on an invoice (after tax). Negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLine {
    /// The grant.
    pub grant: String,
    /// Text on the invoice.
    pub description: String,
    /// Its burn priority (lower first).
    pub priority: i64,
    /// Its expiry (exclusive), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
    /// The charges it may pay; the whole invoice when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charges: Option<Vec<String>>,
    /// The grant's balance before this invoice.
    pub balance_before: Decimal,
    /// What it paid: negative.
    pub amount: Decimal,
    /// The grant's balance after this invoice: `balance_before + amount`.
    pub balance_after: Decimal,
}

/// One consumer's invoice for one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Set on finalization.
    pub number: Option<InvoiceNumber>,
    /// Draft or finalized.
    pub status: Status,
    /// Day of finalization (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<NaiveDate>,
    /// The billing period.
    pub period: Period,
    /// The consumer billed.
    pub consumer: String,
    /// ISO 4217 code; one currency per invoice.
    pub currency: String,
    /// Segments in time order (one unless the plan changed).
    pub segments: Vec<InvoiceSegment>,
    /// Base fees billed in advance: the unused and remaining time of this
    /// period, then the next period's fees ([`crate::advance`]). Absent
    /// when none, so invoices without them keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advance: Vec<AdvanceLine>,
    /// Corrections of earlier finalized invoices.
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
    /// Sum of every line and adjustment amount, when the consumer has
    /// discounts, a tax or credits (`customers.toml`); absent otherwise,
    /// and `total` is that sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<Decimal>,
    /// One line per coupon, before tax (see [`crate::settle`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<DiscountLine>,
    /// The tax line, when a tax rate applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<TaxLine>,
    /// What the invoice bills: the lines and adjustments, plus discounts
    /// and tax (as Stripe's `total`). Credits pay part of it.
    pub total: Decimal,
    /// One line per grant burned, after tax, in burn order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credits: Vec<CreditLine>,
    /// `total` plus the (negative) credits, when `subtotal` is present:
    /// what is left to pay. Never below zero because of credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_due: Option<Decimal>,
}

impl Invoice {
    /// What is left to pay: `amount_due`, or `total` when the invoice has
    /// no settlement.
    pub fn due(&self) -> Decimal {
        self.amount_due.unwrap_or(self.total)
    }
}

pub use crate::error::InvoiceError;

/// Usage per meter over one segment.
pub type SegmentUsage = BTreeMap<Meter, Usage>;

/// The meters a plan's charges read: each charge's, and the per-event
/// fees of a percentage charge with a minimum or maximum fee per event.
pub fn meters(plan: &Plan) -> Vec<Meter> {
    plan.charges
        .iter()
        .flat_map(|c| std::iter::once(c.meter()).chain(c.fee_meter()))
        .collect()
}

fn plan_of<'p>(plans: &'p PlansFile, id: &str, version: u32) -> Result<&'p Plan, InvoiceError> {
    plans
        .get(id, Some(version))
        .ok_or_else(|| InvoiceError::MissingPlan {
            plan: id.to_string(),
            version,
        })
}

/// Rates one segment with its usage.
pub fn rate_segment(
    plans: &PlansFile,
    segment: &Segment,
    usage: &SegmentUsage,
) -> Result<InvoiceSegment, InvoiceError> {
    let plan = plan_of(plans, &segment.plan, segment.version)?;
    let of = |c: &crate::plan::Charge| usage.get(&c.meter()).copied().unwrap_or_default();
    let mut quantities = Quantities::new();
    for c in &plan.charges {
        let u = of(c);
        quantities.insert(c.id.clone(), u.quantity);
        quantities.insert(events_key(&c.id), Decimal::from(u.events));
        if let Some(m) = c.fee_meter() {
            let fees = usage.get(&m).copied().unwrap_or_default();
            quantities.insert(fees_key(&c.id), fees.quantity);
        }
    }
    let coverage = plan
        .proration
        .coverage(segment.period(), segment.from, segment.to);
    let rated = rate_part(plan, &quantities, segment.share, coverage)?;
    // A base fee billed in advance is not the segment's: the invoice of
    // the period before billed it (crate::advance).
    let kept: Vec<Line> = rated
        .lines
        .into_iter()
        .filter(|l| l.kind != LineKind::AdvanceFee)
        .collect();
    let subtotal = plan.currency().scaled(kept.iter().map(|l| l.amount).sum());
    let lines = kept
        .into_iter()
        .map(|line| {
            let charge = (line.kind == LineKind::Usage)
                .then(|| plan.charges.iter().find(|c| c.id == line.charge))
                .flatten();
            InvoiceLine {
                filter: charge.map(|c| c.filter.clone()).filter(|f| !f.is_empty()),
                usage: charge.map(of),
                line,
            }
        })
        .collect();
    Ok(InvoiceSegment {
        segment: segment.clone(),
        lines,
        subtotal,
    })
}

/// A draft invoice from rated segments and adjustments; `None` when there
/// is nothing to bill (no segment and no adjustment).
pub fn draft(
    plans: &PlansFile,
    period: Period,
    consumer: &str,
    segments: Vec<InvoiceSegment>,
    adjustments: Vec<(String, Adjustment)>,
) -> Result<Option<Invoice>, InvoiceError> {
    draft_with_advance(plans, period, consumer, segments, Vec::new(), adjustments)
}

/// [`draft`] with the base fees billed in advance ([`crate::advance`]);
/// `None` when there is nothing to bill.
pub fn draft_with_advance(
    plans: &PlansFile,
    period: Period,
    consumer: &str,
    segments: Vec<InvoiceSegment>,
    advance: Vec<AdvanceLine>,
    adjustments: Vec<(String, Adjustment)>,
) -> Result<Option<Invoice>, InvoiceError> {
    let mut currency: Option<String> = None;
    let mut check = |c: &str| match &currency {
        Some(a) if a != c => Err(InvoiceError::MixedCurrency {
            consumer: consumer.to_string(),
            a: a.clone(),
            b: c.to_string(),
        }),
        Some(_) => Ok(()),
        None => {
            currency = Some(c.to_string());
            Ok(())
        }
    };
    for s in &segments {
        let plan = plan_of(plans, &s.segment.plan, s.segment.version)?;
        check(plan.currency().code)?;
    }
    for l in &advance {
        let plan = plan_of(plans, &l.plan, l.version)?;
        check(plan.currency().code)?;
    }
    for (c, _) in &adjustments {
        check(c)?;
    }
    let Some(currency) = currency else {
        return Ok(None);
    };
    let adjustments: Vec<Adjustment> = adjustments.into_iter().map(|(_, a)| a).collect();
    let total = segments.iter().map(|s| s.subtotal).sum::<Decimal>()
        + advance.iter().map(|l| l.line.amount).sum::<Decimal>()
        + adjustments.iter().map(|a| a.amount).sum::<Decimal>();
    Ok(Some(Invoice {
        number: None,
        status: Status::Draft,
        issued: None,
        period,
        consumer: consumer.to_string(),
        currency,
        segments,
        advance,
        adjustments,
        subtotal: None,
        discounts: Vec::new(),
        tax: None,
        total,
        credits: Vec::new(),
        amount_due: None,
    }))
}

/// The adjustments of `original` (a finalized invoice) given the usage the
/// lake holds now for each of its segments (`fresh`, in segment order) and
/// the finalized adjustments of it made so far (`prior`, in order).
/// Returns each with the currency it is in.
pub fn adjustments(
    plans: &PlansFile,
    original: &Invoice,
    prior: &[&Adjustment],
    fresh: &[SegmentUsage],
) -> Result<Vec<(String, Adjustment)>, InvoiceError> {
    let Some(number) = &original.number else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (seg, usage) in original.segments.iter().zip(fresh) {
        let s = &seg.segment;
        // What was billed so far, per usage charge: the original quantity,
        // then each finalized adjustment's new quantity.
        // A percentage charge also needs the events behind the quantity
        // and, with per-event limits, the sum of the clamped fees: that
        // sum is the line's exact amount (the sum of its parts).
        let mut billed = Quantities::new();
        let mut bill =
            |charge: &str, quantity: Decimal, usage: Option<Usage>, tiers: &[TierPart]| {
                billed.insert(charge.to_string(), quantity);
                billed.insert(
                    events_key(charge),
                    Decimal::from(usage.map_or(0, |u| u.events)),
                );
                billed.insert(fees_key(charge), tiers.iter().map(|t| t.amount).sum());
            };
        for l in seg.lines.iter().filter(|l| l.line.kind == LineKind::Usage) {
            bill(&l.line.charge, l.line.quantity, l.usage, &l.line.tiers);
        }
        for a in prior
            .iter()
            .filter(|a| a.from == s.from && a.plan == s.plan)
        {
            if a.kind == LineKind::Usage {
                bill(&a.charge, a.quantity_after, a.usage, &a.tiers);
            }
        }
        let plan = plan_of(plans, &s.plan, s.version)?;
        let before = rate(plan, &billed, s.share)?;
        let now = rate_segment(plans, s, usage)?;
        let key = |kind: LineKind, charge: &str| (kind, charge.to_string());
        let before_lines: BTreeMap<_, &Line> = before
            .lines
            .iter()
            // An advance fee is not the segment's (see rate_segment).
            .filter(|l| l.kind != LineKind::AdvanceFee)
            .map(|l| (key(l.kind, &l.charge), l))
            .collect();
        let mut seen = Vec::new();
        for l in &now.lines {
            let k = key(l.line.kind, &l.line.charge);
            let b = before_lines.get(&k);
            seen.push(k);
            let (q0, a0) = b.map_or((Decimal::ZERO, Decimal::ZERO), |b| (b.quantity, b.amount));
            if a0 == l.line.amount && q0 == l.line.quantity {
                continue;
            }
            out.push((
                original.currency.clone(),
                Adjustment {
                    original: number.clone(),
                    period: original.period,
                    plan: s.plan.clone(),
                    version: s.version,
                    from: s.from,
                    to: s.to,
                    kind: l.line.kind,
                    charge: l.line.charge.clone(),
                    description: format!(
                        "Adjustment of {number} ({}): {}",
                        original.period, l.line.description
                    ),
                    quantity_before: q0,
                    quantity_after: l.line.quantity,
                    amount_before: a0,
                    amount_after: l.line.amount,
                    amount: l.line.amount - a0,
                    tiers: l.line.tiers.clone(),
                    usage: l.usage,
                },
            ));
        }
        // A line billed before that is gone now (a true-up no longer due).
        for (k, b) in &before_lines {
            if seen.contains(k) || b.amount.is_zero() {
                continue;
            }
            out.push((
                original.currency.clone(),
                Adjustment {
                    original: number.clone(),
                    period: original.period,
                    plan: s.plan.clone(),
                    version: s.version,
                    from: s.from,
                    to: s.to,
                    kind: b.kind,
                    charge: b.charge.clone(),
                    description: format!(
                        "Adjustment of {number} ({}): {} no longer due",
                        original.period, b.description
                    ),
                    quantity_before: b.quantity,
                    quantity_after: Decimal::ZERO,
                    amount_before: b.amount,
                    amount_after: Decimal::ZERO,
                    amount: -b.amount,
                    tiers: Vec::new(),
                    usage: None,
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const PLANS: &str = r#"
[[plan]]
id = "p"
version = 1
currency = "USD"
base_fee = "31"
minimum = "10"
[[plan.charge]]
id = "calls"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"
"#;

    fn seg(from: &str, to: &str, days: i64) -> Segment {
        Segment {
            plan: "p".into(),
            version: 1,
            from: Boundary::from_str(from).unwrap(),
            to: Boundary::from_str(to).unwrap(),
            share: Decimal::from(days) / Decimal::from(31),
        }
    }

    fn usage(q: u64) -> SegmentUsage {
        let meter = Meter {
            metric: tollgate_schemas::meter::Metric::Calls,
            filter: Filter {
                status_below: Some(500),
                ..Filter::default()
            },
        };
        [(
            meter,
            Usage {
                quantity: Decimal::from(q),
                events: q,
                first_ts: None,
                last_ts: None,
            },
        )]
        .into_iter()
        .collect()
    }

    fn invoice(q: u64) -> Invoice {
        let plans = PlansFile::parse(PLANS).unwrap();
        let s = rate_segment(&plans, &seg("2026-10-01", "2026-11-01", 31), &usage(q)).unwrap();
        let mut inv = draft(&plans, "2026-10".parse().unwrap(), "c", vec![s], vec![])
            .unwrap()
            .unwrap();
        inv.number = Some(InvoiceNumber::new("INV-", 2026, 7));
        inv.status = Status::Finalized;
        inv
    }

    #[test]
    fn lines_carry_their_evidence_and_the_total_adds_up() {
        let inv = invoice(2_000);
        let l = &inv.segments[0].lines;
        assert_eq!(l[0].line.amount, Decimal::from(31));
        assert_eq!(l[1].line.amount, Decimal::from(20));
        assert_eq!(l[1].usage.unwrap().events, 2_000);
        assert_eq!(l[1].filter.as_ref().unwrap().status_below, Some(500));
        assert_eq!(inv.total, Decimal::from(51));
        assert_eq!(inv.number.as_ref().unwrap().0, "INV-2026-000007");
        assert_eq!(inv.number.as_ref().unwrap().sequence("INV-", 2026), Some(7));
        assert_eq!(inv.number.as_ref().unwrap().sequence("INV-", 2025), None);
    }

    #[test]
    fn late_usage_is_billed_once_as_adjustments() {
        let plans = PlansFile::parse(PLANS).unwrap();
        // 500 calls = 5.00 < minimum 10: a true-up of 5.00 was billed.
        let original = invoice(500);
        assert_eq!(original.total, Decimal::from_str("41.00").unwrap());
        // Same usage: nothing to adjust.
        assert!(
            adjustments(&plans, &original, &[], &[usage(500)])
                .unwrap()
                .is_empty()
        );
        // 700 more calls arrive late: usage +7.00, the true-up (5.00) goes.
        let adj = adjustments(&plans, &original, &[], &[usage(1_200)]).unwrap();
        let amounts: Vec<_> = adj
            .iter()
            .map(|(_, a)| (a.charge.as_str(), a.amount))
            .collect();
        assert_eq!(
            amounts,
            vec![
                ("calls", Decimal::from_str("7.00").unwrap()),
                ("minimum", Decimal::from_str("-5.00").unwrap())
            ]
        );
        let net: Decimal = adj.iter().map(|(_, a)| a.amount).sum();
        assert_eq!(net, Decimal::from(2)); // 12.00 usage instead of the 10.00 minimum
        // Once those are billed, the same lake state adjusts nothing more…
        let prior: Vec<&Adjustment> = adj.iter().map(|(_, a)| a).collect();
        assert!(
            adjustments(&plans, &original, &prior, &[usage(1_200)])
                .unwrap()
                .is_empty()
        );
        // …and 100 more calls adjust only by their own amount.
        let more = adjustments(&plans, &original, &prior, &[usage(1_300)]).unwrap();
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].1.amount, Decimal::from_str("1.00").unwrap());
        assert_eq!(more[0].1.quantity_before, Decimal::from(1_200));
        assert_eq!(more[0].1.original.0, "INV-2026-000007");
    }
}
