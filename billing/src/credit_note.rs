//! Credit notes: the document that lowers a finalized invoice.
//!
//! A finalized invoice never changes. When the lake later says it billed
//! too much (see docs/BILLING.md, "Late usage", for what can lower usage
//! in Tollgate), the correction is its own numbered document, as finance
//! expects from Stripe, Lago or Metronome, not a negative line hidden in
//! another month's invoice.
//!
//! The rule, per original invoice and run ([`correction`]): the run
//! computes the original's adjustment lines
//! ([`crate::invoice::adjustments`]). If their net amount is negative,
//! all of them (so the note explains the whole change, a true-up that
//! comes back included) become one [`CreditNote`] that names the original
//! invoice; if it is zero or positive, they stay adjustment lines on the
//! consumer's next invoice, as before credit notes existed.
//!
//! Sign: a note's lines are signed changes, `amount_after −
//! amount_before`, exactly as adjustment lines are, and its `total` is
//! their sum, so it is **negative**: what the original invoice's amount
//! changes by. The amount credited to the customer (what Stripe shows as
//! a credit note's positive amount) is [`CreditNote::credited`], `−total`.
//! Summing invoice totals and credit note totals gives net revenue.
//!
//! A note is drafted by the run of an open period and numbered and frozen
//! with that period's invoices; once finalized it never changes, and a
//! later change of the same original is computed against what was billed
//! so far, this note's lines included, so nothing is credited twice.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use maud::{Markup, PreEscaped, html};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::Billing;
use crate::invoice::{Adjustment, Invoice, InvoiceNumber, Status, TaxLine, Usage};
use crate::money::Currency;
use crate::period::Period;

/// A finalized credit note's number: `{prefix}{year}-{sequence:06}`
/// (`CN-2026-000001`), its own sequence, without gaps within a year,
/// apart from the invoices'.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CreditNoteNumber(pub String);

impl CreditNoteNumber {
    /// The number `seq` of `year`.
    pub fn new(prefix: &str, year: i32, seq: u64) -> CreditNoteNumber {
        CreditNoteNumber(crate::invoice::number(prefix, year, seq))
    }

    /// The sequence part, if the number has this prefix and year.
    pub fn sequence(&self, prefix: &str, year: i32) -> Option<u64> {
        crate::invoice::number_sequence(&self.0, prefix, year)
    }
}

impl fmt::Display for CreditNoteNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A credit note: the lines by which one finalized invoice billed too
/// much, and, when that invoice had coupons or a tax, their share of the
/// lines given back ([`settle_note`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNote {
    /// Set on finalization.
    pub number: Option<CreditNoteNumber>,
    /// Draft (recomputed by each run of its period) or finalized (frozen).
    pub status: Status,
    /// Day of finalization (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<NaiveDate>,
    /// The billing period whose run issued the note (not the credited
    /// one): it is finalized and numbered with that period's invoices.
    pub period: Period,
    /// The invoice credited.
    pub invoice: InvoiceNumber,
    /// Its billing period.
    pub invoice_period: Period,
    /// The consumer, the credited invoice's.
    pub consumer: String,
    /// ISO 4217 code, the credited invoice's.
    pub currency: String,
    /// Every line of the original whose amount moved: signed changes
    /// `amount_after − amount_before`, some may be positive (a minimum
    /// true-up that comes back), their sum is negative.
    pub lines: Vec<Adjustment>,
    /// Sum of the line amounts, when the credited invoice had coupons or a
    /// tax; absent otherwise, and `total` is that sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<Decimal>,
    /// The credited invoice's coupons' share of the lines, which the
    /// customer never paid and so is not credited back (positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<DiscountShare>,
    /// The credited invoice's tax on the credited amount, reversed
    /// (negative): its rate × `subtotal + discount`, rounded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<TaxLine>,
    /// The signed change of what the credited invoice billed: the lines,
    /// plus the discount share and the tax reversal: negative (see the
    /// module doc).
    pub total: Decimal,
}

/// A credited invoice's coupons' share of a credit note's lines, in
/// proportion, as Lago prorates coupons on credit notes: each coupon of
/// the invoice takes off the note's lines on the plans it covered the
/// fraction it took off its base there (`amount ÷ base` of its discount
/// line), after the coupons before it, as [`crate::settle`] applied them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountShare {
    /// The coupons that covered some of the lines, in the invoice's order.
    pub coupons: Vec<String>,
    /// The share, rounded once with the rounding of the invoice's first
    /// plan: positive, it lowers what is credited.
    pub amount: Decimal,
}

impl CreditNote {
    /// The amount credited to the customer: `−total`, positive.
    pub fn credited(&self) -> Decimal {
        -self.total
    }

    /// Its number, or `draft` for a draft.
    pub fn label(&self) -> String {
        self.number
            .as_ref()
            .map_or_else(|| "draft".to_string(), |n| n.0.clone())
    }
}

/// How a run corrects one finalized invoice whose amounts moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Correction {
    /// Net zero or more: adjustment lines (each with its currency) on the
    /// consumer's invoice of the period being run.
    Adjustments(Vec<(String, Adjustment)>),
    /// Net negative: a draft credit note of the period being run (boxed:
    /// a note is much larger than the list of lines).
    CreditNote(Box<CreditNote>),
}

/// The rule of the module doc: the correction of `original` (a finalized
/// invoice) by `adjustments` (its adjustment lines from
/// [`crate::invoice::adjustments`]), made by the run of `period`. `None`
/// when nothing moved.
pub fn correction(
    period: Period,
    original: &Invoice,
    adjustments: Vec<(String, Adjustment)>,
) -> Option<Correction> {
    let number = original.number.as_ref()?;
    if adjustments.is_empty() {
        return None;
    }
    let total: Decimal = adjustments.iter().map(|(_, a)| a.amount).sum();
    if total >= Decimal::ZERO {
        return Some(Correction::Adjustments(adjustments));
    }
    Some(Correction::CreditNote(Box::new(CreditNote {
        number: None,
        status: Status::Draft,
        issued: None,
        period,
        invoice: number.clone(),
        invoice_period: original.period,
        consumer: original.consumer.clone(),
        currency: original.currency.clone(),
        lines: adjustments.into_iter().map(|(_, a)| a).collect(),
        subtotal: None,
        discount: None,
        tax: None,
        total,
    })))
}

/// Why a credit note could not be settled.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("credit note for {invoice}: an amount overflows while reversing its coupons and tax")]
pub struct NoteOverflow {
    /// The credited invoice.
    pub invoice: InvoiceNumber,
}

/// Gives `note` the credited invoice's coupons and tax, as that invoice
/// applied them, so that the invoice and its notes together bill what the
/// invoice would have billed with the corrected lines, up to rounding:
///
/// ```text
/// subtotal  = the lines (negative)
/// discount  = per coupon: its lines × its amount ÷ its base  (positive, rounded once)
/// tax       = rate × (subtotal + discount)                 (negative, rounded once)
/// total     = subtotal + discount + tax
/// ```
///
/// The discount is the coupons' share in proportion (as Lago prorates
/// coupons on a credit note), not the coupons recomputed: a coupon takes
/// its fraction of the lines on the plans it covered (a 10% coupon 10% of
/// them, a fixed coupon capped at its whole base all of them, a coupon of
/// other plans nothing), on what the coupons before it left. The tax is the invoice's rate, rounded
/// with that tax's rounding in `billing`'s customers file (the default
/// when the tax has gone from it). Prepaid credits burned on the invoice
/// are not restored to their grants: the credited amount is owed to the
/// customer, as a credit note's amount is in Stripe. An invoice without
/// coupons or tax leaves the note as it is.
pub fn settle_note(
    note: &mut CreditNote,
    original: &Invoice,
    billing: &Billing,
) -> Result<(), NoteOverflow> {
    let overflow = || NoteOverflow {
        invoice: note.invoice.clone(),
    };
    let lines: Decimal = note.lines.iter().map(|a| a.amount).sum();
    if original.discounts.is_empty() && original.tax.is_none() {
        note.subtotal = None;
        note.discount = None;
        note.tax = None;
        note.total = lines;
        return Ok(());
    }
    let currency = Currency::from_code(&note.currency).unwrap_or(Currency {
        code: "XXX",
        minor_units: 2,
    });
    // The note's lines per plan, shrunk coupon by coupon as settlement
    // shrank the invoice's.
    let mut left: BTreeMap<&str, Decimal> = BTreeMap::new();
    for a in &note.lines {
        *left.entry(a.plan.as_str()).or_default() += a.amount;
    }
    let (mut raw, mut coupons) = (Decimal::ZERO, Vec::new());
    for d in original.discounts.iter().filter(|d| d.base > Decimal::ZERO) {
        let fraction = d.amount.checked_div(d.base).ok_or_else(overflow)?;
        let mut covered = false;
        for p in &d.plans {
            if let Some(v) = left.get_mut(p.as_str()) {
                let taken = v.checked_mul(fraction).ok_or_else(overflow)?;
                raw += taken;
                *v += taken;
                covered = true;
            }
        }
        if covered {
            coupons.push(d.coupon.clone());
        }
    }
    let discount = if coupons.is_empty() {
        None
    } else {
        let rounding = original
            .segments
            .first()
            .and_then(|s| billing.plans.get(&s.segment.plan, Some(s.segment.version)))
            .map(|p| p.rounding)
            .unwrap_or_default();
        Some(DiscountShare {
            coupons,
            // Never more than the lines give back.
            amount: rounding.apply(raw, currency).min(-lines),
        })
    };
    let taxable = lines + discount.as_ref().map_or(Decimal::ZERO, |d| d.amount);
    let tax = match &original.tax {
        Some(t) => {
            let rounding = billing
                .customers
                .tax(&t.tax)
                .map(|x| x.rounding)
                .unwrap_or_default();
            Some(TaxLine {
                tax: t.tax.clone(),
                name: t.name.clone(),
                rate: t.rate,
                taxable,
                amount: rounding.apply(taxable.checked_mul(t.rate).ok_or_else(overflow)?, currency),
            })
        }
        None => None,
    };
    note.subtotal = Some(lines);
    note.total = taxable + tax.as_ref().map_or(Decimal::ZERO, |t| t.amount);
    note.discount = discount;
    note.tax = tax;
    Ok(())
}

/// The stored form: pretty JSON with a final newline, like an invoice's.
pub fn json(note: &CreditNote) -> String {
    let mut s = serde_json::to_string_pretty(note).expect("credit notes serialize");
    s.push('\n');
    s
}

/// One row per credit note line, flattened: what the CSV and the
/// `credit_notes` table hold.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteRow {
    /// Credit note number (empty for drafts).
    pub number: Option<String>,
    /// draft / finalized.
    pub status: &'static str,
    /// The period that issued it, `YYYY-MM`.
    pub period: String,
    /// Consumer.
    pub consumer: String,
    /// Currency.
    pub currency: String,
    /// 1-based line number.
    pub line: i32,
    /// Kind of the corrected line: base_fee / usage / minimum.
    pub kind: &'static str,
    /// Charge id of the corrected line.
    pub charge: String,
    /// Text.
    pub description: String,
    /// Plan id of the corrected segment.
    pub plan: String,
    /// Its version.
    pub plan_version: u32,
    /// First day of the corrected segment.
    pub from: NaiveDate,
    /// First day after it.
    pub to: NaiveDate,
    /// Quantity billed so far.
    pub quantity_before: Decimal,
    /// Quantity the lake holds now.
    pub quantity_after: Decimal,
    /// Amount billed so far.
    pub amount_before: Decimal,
    /// Amount with the usage the lake holds now.
    pub amount_after: Decimal,
    /// `amount_after − amount_before` (signed).
    pub amount: Decimal,
    /// Events behind `quantity_after`.
    pub usage: Option<Usage>,
    /// The credited invoice.
    pub credits_invoice: String,
    /// Its period.
    pub credits_period: String,
    /// The note's total (negative).
    pub note_total: Decimal,
}

/// The note as rows, in line order.
pub fn rows(note: &CreditNote) -> Vec<NoteRow> {
    note.lines
        .iter()
        .enumerate()
        .map(|(i, a)| NoteRow {
            number: note.number.as_ref().map(|n| n.0.clone()),
            status: note.status.name(),
            period: note.period.to_string(),
            consumer: note.consumer.clone(),
            currency: note.currency.clone(),
            line: i as i32 + 1,
            kind: a.kind.name(),
            charge: a.charge.clone(),
            description: a.description.clone(),
            plan: a.plan.clone(),
            plan_version: a.version,
            from: a.from.date(),
            to: a.to.ceil_date(),
            quantity_before: a.quantity_before,
            quantity_after: a.quantity_after,
            amount_before: a.amount_before,
            amount_after: a.amount_after,
            amount: a.amount,
            usage: a.usage,
            credits_invoice: note.invoice.0.clone(),
            credits_period: note.invoice_period.to_string(),
            note_total: note.total,
        })
        .collect()
}

/// The CSV header of [`csv`].
pub const CSV_HEADER: &str = "number,status,period,consumer,currency,line,kind,charge,description,plan,plan_version,segment_from,segment_to,quantity_before,quantity_after,amount_before,amount_after,amount,events,first_ts,last_ts,credits_invoice,credits_period,note_total\n";

/// RFC 4180 CSV, one row per line of every note, with a header.
pub fn csv(notes: &[CreditNote]) -> String {
    let mut out = String::from(CSV_HEADER);
    for note in notes {
        for r in rows(note) {
            let ts = |t: Option<tollgate_schemas::EpochMillis>| {
                t.map(|t| t.to_string()).unwrap_or_default()
            };
            let cells = [
                r.number.unwrap_or_default(),
                r.status.to_string(),
                r.period,
                r.consumer,
                r.currency,
                r.line.to_string(),
                r.kind.to_string(),
                r.charge,
                r.description,
                r.plan,
                r.plan_version.to_string(),
                r.from.to_string(),
                r.to.to_string(),
                r.quantity_before.to_string(),
                r.quantity_after.to_string(),
                r.amount_before.to_string(),
                r.amount_after.to_string(),
                r.amount.to_string(),
                r.usage.map(|u| u.events.to_string()).unwrap_or_default(),
                ts(r.usage.and_then(|u| u.first_ts)),
                ts(r.usage.and_then(|u| u.last_ts)),
                r.credits_invoice,
                r.credits_period,
                r.note_total.to_string(),
            ];
            let line: Vec<String> = cells.iter().map(|c| crate::render::field(c)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

/// The note's title: its number, or "Draft credit note" with the invoice
/// it credits.
fn title(note: &CreditNote) -> String {
    match &note.number {
        Some(n) => format!("Credit note {n}"),
        None => format!("Draft credit note for {}", note.invoice),
    }
}

/// A printable, self-contained HTML page, styled like the invoices
/// ([`crate::render::html`]); every value is escaped by the template.
pub fn html(note: &CreditNote) -> String {
    let page = html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title(note)) }
                style { (PreEscaped(crate::render::STYLE)) }
            }
            body { (html_body(note)) }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

/// The note without the page around it (what [`html()`] puts in `<body>`),
/// for the dashboard's frame.
pub fn html_body(note: &CreditNote) -> Markup {
    html! {
        h1 { (title(note)) }
        p {
            "Consumer " b { (note.consumer) }
            " · credits invoice " b id="credits" { (note.invoice) }
            " (period " (note.invoice_period) ")"
            " · issued with period " (note.period)
            " · status " b class=(note.status.name()) { (note.status.name()) }
            @if let Some(d) = note.issued { " · issued " (d) }
        }
        table {
            thead {
                tr {
                    th { "#" } th { "Description" } th { "Plan" } th { "Days" }
                    th class="n" { "Quantity billed" } th class="n" { "Quantity now" }
                    th class="n" { "Billed" } th class="n" { "Now" } th class="n" { "Change" }
                }
            }
            tbody {
                @for (i, a) in note.lines.iter().enumerate() {
                    tr {
                        td { (i + 1) }
                        td {
                            (a.description)
                            @for t in &a.tiers {
                                div class="tiers" {
                                    "tier " (t.tier) " ("
                                    @match t.up_to {
                                        Some(u) => { (t.from_unit) "–" (u) },
                                        None => { (t.from_unit) "+" },
                                    }
                                    "): " (t.units) " × " (t.unit_price.normalize())
                                    @if !t.flat_fee.is_zero() { " + " (t.flat_fee.normalize()) }
                                    " = " (t.amount.normalize())
                                    @if let Some(r) = t.rounded { " → " (r) }
                                }
                            }
                            @if let Some(u) = a.usage {
                                div class="tiers" {
                                    (u.events) " events"
                                    @if let (Some(x), Some(y)) = (u.first_ts, u.last_ts) { ", " (x) " – " (y) }
                                }
                            }
                        }
                        td { (a.plan) " v" (a.version) }
                        td { (crate::render::covered(a.from, a.to)) }
                        td class="n" { (a.quantity_before) }
                        td class="n" { (a.quantity_after) }
                        td class="n" { (a.amount_before) }
                        td class="n" { (a.amount_after) }
                        td class="n" { (a.amount) " " (note.currency) }
                    }
                }
            }
            tfoot {
                @if let Some(sub) = note.subtotal {
                    tr {
                        th colspan="8" { "Lines" }
                        th class="n" id="subtotal" { (sub) " " (note.currency) }
                    }
                }
                @if let Some(d) = &note.discount {
                    tr {
                        th colspan="8" {
                            "Coupons' share, not paid (" (d.coupons.join(", ")) ")"
                        }
                        th class="n" id="discount" { (d.amount) " " (note.currency) }
                    }
                }
                @if let Some(t) = &note.tax {
                    tr {
                        th colspan="8" { (t.name) " reversed (" (t.rate.normalize()) " × " (t.taxable) ")" }
                        th class="n" id="tax" { (t.amount) " " (note.currency) }
                    }
                }
                tr {
                    th colspan="8" { "Total change" }
                    th class="n" id="total" { (note.total) " " (note.currency) }
                }
                tr {
                    th colspan="8" { "Amount credited" }
                    th class="n" id="credited" { (note.credited()) " " (note.currency) }
                }
            }
        }
        p class="tiers" {
            "Each line is the change of one line of invoice " (note.invoice)
            ": its amount re-rated with the usage the lake holds now, minus what was billed so far for it. "
            "Amounts are rounded per line to the currency's minor unit."
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tollgate_schemas::meter::{Filter, Meter, Metric};

    use super::*;
    use crate::invoice::{SegmentUsage, adjustments, draft, rate_segment};
    use crate::plan::PlansFile;
    use crate::subscription::Segment;

    /// Volume pricing: every call at the price of the tier the total
    /// reaches, so more calls can cost less; and a 10.00 minimum.
    const PLANS: &str = r#"
[[plan]]
id = "v"
version = 1
currency = "USD"
base_fee = "20"
minimum = "10"
[[plan.charge]]
id = "calls"
description = "API calls"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "volume"
tiers = [{ up_to = 1000, unit_price = "0.05" }, { unit_price = "0.02" }]
"#;

    fn usage(q: u64) -> SegmentUsage {
        let meter = Meter {
            metric: Metric::Calls,
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

    fn october() -> Segment {
        Segment {
            plan: "v".into(),
            version: 1,
            from: NaiveDate::from_str("2026-10-01").unwrap().into(),
            to: NaiveDate::from_str("2026-11-01").unwrap().into(),
            share: Decimal::ONE,
        }
    }

    /// October's finalized invoice for `q` calls.
    fn original(plans: &PlansFile, q: u64) -> Invoice {
        let s = rate_segment(plans, &october(), &usage(q)).unwrap();
        let mut inv = draft(plans, "2026-10".parse().unwrap(), "acme", vec![s], vec![])
            .unwrap()
            .unwrap();
        inv.number = Some(InvoiceNumber::new("INV-", 2026, 41));
        inv.status = Status::Finalized;
        inv
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn a_late_decrease_becomes_a_credit_note_worked_by_hand() {
        let plans = PlansFile::parse(PLANS).unwrap();
        // 1,000 calls: volume tier 1, 1,000 × 0.05 = 50.00; base 20.00;
        // above the 10.00 minimum. Total 70.00.
        let inv = original(&plans, 1_000);
        assert_eq!(inv.total, d("70.00"));
        // 200 late calls: 1,200 × 0.02 = 24.00 (tier 2 prices them all).
        // Change −26.00: net negative, a credit note.
        let november: Period = "2026-11".parse().unwrap();
        let adj = adjustments(&plans, &inv, &[], &[usage(1_200)]).unwrap();
        let Some(Correction::CreditNote(note)) = correction(november, &inv, adj) else {
            panic!("a credit note")
        };
        assert_eq!(note.lines.len(), 1);
        let l = &note.lines[0];
        assert_eq!(
            (l.quantity_before, l.quantity_after),
            (d("1000"), d("1200"))
        );
        assert_eq!((l.amount_before, l.amount_after), (d("50.00"), d("24.00")));
        assert_eq!(l.amount, d("-26.00"));
        assert_eq!(note.total, d("-26.00"));
        assert_eq!(note.credited(), d("26.00"));
        assert_eq!(note.invoice.0, "INV-2026-000041");
        assert_eq!(note.invoice_period.to_string(), "2026-10");
        assert_eq!(note.period, november);
        assert_eq!(
            (note.consumer.as_str(), note.currency.as_str()),
            ("acme", "USD")
        );
        assert_eq!(note.status, Status::Draft);
        assert!(note.number.is_none());

        // Finalized, the note is what was billed so far: the same lake
        // state corrects nothing more…
        let prior: Vec<&Adjustment> = note.lines.iter().collect();
        assert!(
            adjustments(&plans, &inv, &prior, &[usage(1_200)])
                .unwrap()
                .is_empty()
        );
        // …and 100 more calls, 1,300 × 0.02 = 26.00, are +2.00 against the
        // 24.00 the note left: an adjustment line, not a second credit.
        let more = adjustments(&plans, &inv, &prior, &[usage(1_300)]).unwrap();
        let Some(Correction::Adjustments(more)) = correction(november, &inv, more) else {
            panic!("adjustments")
        };
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].1.amount_before, d("24.00"));
        assert_eq!(more[0].1.amount, d("2.00"));
    }

    #[test]
    fn the_note_carries_every_moved_line_and_a_zero_net_stays_an_adjustment() {
        let plans = PlansFile::parse(PLANS).unwrap();
        // 100 calls: 100 × 0.05 = 5.00, true-up 10 − 5 = 5.00; base 20.00.
        // Total 30.00.
        let inv = original(&plans, 100);
        assert_eq!(inv.total, d("30.00"));
        let p: Period = "2026-11".parse().unwrap();
        // Usage down to 60 calls: 3.00 (−2.00), true-up 7.00 (+2.00): net
        // 0, adjustment lines on the next invoice as before.
        let adj = adjustments(&plans, &inv, &[], &[usage(60)]).unwrap();
        assert_eq!(adj.len(), 2);
        assert!(matches!(
            correction(p, &inv, adj),
            Some(Correction::Adjustments(a)) if a.len() == 2
        ));
        // Nothing moved: no correction.
        let none = adjustments(&plans, &inv, &[], &[usage(100)]).unwrap();
        assert_eq!(correction(p, &inv, none), None);
        // A net increase: adjustments (1,000 calls: 50.00 − 5.00 = +45.00,
        // the true-up −5.00 goes; net +40.00).
        let up = adjustments(&plans, &inv, &[], &[usage(1_000)]).unwrap();
        let Some(Correction::Adjustments(up)) = correction(p, &inv, up) else {
            panic!("adjustments")
        };
        assert_eq!(
            up.iter().map(|(_, a)| a.amount).sum::<Decimal>(),
            d("40.00")
        );
        // An unnumbered (draft) original is never corrected.
        let mut drafted = inv.clone();
        drafted.number = None;
        let adj = adjustments(&plans, &inv, &[], &[usage(1_200)]).unwrap();
        assert_eq!(correction(p, &drafted, adj), None);
    }

    /// acme on `v` from October, with a 10% coupon and VAT 19%.
    fn settled_billing() -> Billing {
        let subs = "[[subscription]]\nconsumer = \"acme\"\nplan = \"v\"\nstart = \"2026-10-01\"\n";
        let customers = r#"
[[tax]]
id = "vat"
name = "VAT 19%"
rate = "0.19"

[[coupon]]
id = "ten"
percent = "10"

[[customer]]
consumer = "acme"
tax = "vat"
coupons = [{ coupon = "ten" }]
"#;
        Billing::parse_with_customers(
            crate::config::BillingConfig::default(),
            PLANS,
            subs,
            Some(customers),
        )
        .unwrap()
    }

    #[test]
    fn a_credit_note_gives_back_the_coupon_share_and_reverses_the_tax() {
        let b = settled_billing();
        // October, 1,000 calls: 50.00 + base 20.00 = 70.00; 10% off −7.00;
        // VAT 0.19 × 63.00 = 11.97; total 74.97.
        let mut inv = original(&b.plans, 1_000);
        crate::settle::settle(&mut inv, &b, None).unwrap();
        assert_eq!(inv.total, d("74.97"));
        // 1,200 calls: 24.00, the line −26.00. The coupons' share:
        // −26.00 × −7.00 ÷ 70.00 = 2.60. Taxable −23.40; VAT 0.19 × −23.40
        // = −4.446 → −4.45 (half away from zero). Total −27.85.
        let adj = adjustments(&b.plans, &inv, &[], &[usage(1_200)]).unwrap();
        let Some(Correction::CreditNote(mut note)) =
            correction("2026-11".parse().unwrap(), &inv, adj)
        else {
            panic!("a credit note")
        };
        settle_note(&mut note, &inv, &b).unwrap();
        assert_eq!(note.subtotal, Some(d("-26.00")));
        let share = note.discount.clone().unwrap();
        assert_eq!(
            (share.coupons, share.amount),
            (vec!["ten".to_string()], d("2.60"))
        );
        let tax = note.tax.clone().unwrap();
        assert_eq!((tax.taxable, tax.amount), (d("-23.40"), d("-4.45")));
        assert_eq!(note.total, d("-27.85"));
        assert_eq!(note.credited(), d("27.85"));
        // The invoice and its note bill what an invoice of 1,200 calls
        // would: 24.00 + 20.00 = 44.00, −4.40, VAT 0.19 × 39.60 = 7.52,
        // 47.12 = 74.97 − 27.85.
        let mut redone = original(&b.plans, 1_200);
        crate::settle::settle(&mut redone, &b, None).unwrap();
        assert_eq!(redone.total, d("47.12"));
        assert_eq!(inv.total + note.total, redone.total);

        let page = html(&note);
        assert!(page.contains("id=\"discount\">2.60 USD<"), "{page}");
        assert!(page.contains("VAT 19% reversed (0.19 × -23.40)"), "{page}");
        assert!(page.contains("id=\"credited\">27.85 USD<"), "{page}");
        let back: CreditNote = serde_json::from_str(&json(&note)).unwrap();
        assert_eq!(back, *note);

        // A coupon of other plans never discounted these lines: none of it
        // comes back, and the tax is on all of them: VAT 0.19 × −26.00 =
        // −4.94, total −30.94.
        let mut other = inv.clone();
        other.discounts[0].plans = vec!["other".into()];
        let adj = adjustments(&b.plans, &other, &[], &[usage(1_200)]).unwrap();
        let Some(Correction::CreditNote(mut note)) =
            correction("2026-11".parse().unwrap(), &other, adj)
        else {
            panic!("a credit note")
        };
        settle_note(&mut note, &other, &b).unwrap();
        assert_eq!(note.discount, None);
        assert_eq!(note.tax.clone().unwrap().amount, d("-4.94"));
        assert_eq!(note.total, d("-30.94"));

        // An invoice without coupons or tax: the note is its lines.
        let plain = original(&b.plans, 1_000);
        let adj = adjustments(&b.plans, &plain, &[], &[usage(1_200)]).unwrap();
        let Some(Correction::CreditNote(mut note)) =
            correction("2026-11".parse().unwrap(), &plain, adj)
        else {
            panic!("a credit note")
        };
        settle_note(&mut note, &plain, &b).unwrap();
        assert_eq!((note.subtotal, note.total), (None, d("-26.00")));
        assert!(!json(&note).contains("subtotal"));
    }

    #[test]
    fn a_coupon_that_paid_the_whole_invoice_leaves_nothing_to_credit() {
        let subs = "[[subscription]]\nconsumer = \"acme\"\nplan = \"v\"\nstart = \"2026-10-01\"\n";
        let customers = "[[tax]]\nid = \"vat\"\nname = \"VAT\"\nrate = \"0.19\"\n\n\
                         [[coupon]]\nid = \"free\"\namount = \"500.00\"\ncurrency = \"USD\"\n\n\
                         [[customer]]\nconsumer = \"acme\"\ntax = \"vat\"\ncoupons = [{ coupon = \"free\" }]\n";
        let b = Billing::parse_with_customers(
            crate::config::BillingConfig::default(),
            PLANS,
            subs,
            Some(customers),
        )
        .unwrap();
        // 70.00, all of it discounted (500.00 capped at 70.00): total 0.00.
        let mut inv = original(&b.plans, 1_000);
        crate::settle::settle(&mut inv, &b, None).unwrap();
        assert_eq!(inv.total, d("0.00"));
        // The line −26.00, the coupons' share −26.00 × −70.00 ÷ 70.00 =
        // 26.00: nothing was paid for it, nothing is credited.
        let adj = adjustments(&b.plans, &inv, &[], &[usage(1_200)]).unwrap();
        let Some(Correction::CreditNote(mut note)) =
            correction("2026-11".parse().unwrap(), &inv, adj)
        else {
            panic!("a credit note")
        };
        settle_note(&mut note, &inv, &b).unwrap();
        assert_eq!(note.discount.unwrap().amount, d("26.00"));
        assert_eq!(note.tax.unwrap().amount, d("0.00"));
        assert_eq!(note.total, d("0.00"));
    }

    #[test]
    fn numbers_are_their_own_sequence_and_documents_render() {
        let n = CreditNoteNumber::new("CN-", 2026, 1);
        assert_eq!(n.0, "CN-2026-000001");
        assert_eq!(n.sequence("CN-", 2026), Some(1));
        assert_eq!(n.sequence("INV-", 2026), None);
        assert_eq!(n.sequence("CN-", 2027), None);

        let plans = PlansFile::parse(PLANS).unwrap();
        let inv = original(&plans, 1_000);
        let adj = adjustments(&plans, &inv, &[], &[usage(1_200)]).unwrap();
        let Some(Correction::CreditNote(mut note)) =
            correction("2026-11".parse().unwrap(), &inv, adj)
        else {
            panic!("a credit note")
        };
        note.consumer = "<b>acme</b>".into();
        note.number = Some(n);
        note.status = Status::Finalized;
        note.issued = Some(NaiveDate::from_str("2026-12-01").unwrap());

        let back: CreditNote = serde_json::from_str(&json(&note)).unwrap();
        assert_eq!(back, *note);
        assert!(json(&note).ends_with("}\n"));

        let csv = csv(std::slice::from_ref(&*note));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{csv}");
        assert_eq!(
            lines[1],
            "CN-2026-000001,finalized,2026-11,<b>acme</b>,USD,1,usage,calls,\
             Adjustment of INV-2026-000041 (2026-10): API calls,v,1,2026-10-01,2026-11-01,\
             1000,1200,50.00,24.00,-26.00,1200,,,INV-2026-000041,2026-10,-26.00"
        );

        let page = html(&note);
        assert!(page.contains("<title>Credit note CN-2026-000001</title>"));
        assert!(page.contains("&lt;b&gt;acme&lt;/b&gt;") && !page.contains("<b>acme"));
        assert!(
            page.contains("<b id=\"credits\">INV-2026-000041</b>"),
            "{page}"
        );
        assert!(page.contains("id=\"total\">-26.00 USD<"), "{page}");
        assert!(page.contains("id=\"credited\">26.00 USD<"), "{page}");
        assert!(page.contains(&format!("<body>{}</body>", html_body(&note).into_string())));
    }
}
