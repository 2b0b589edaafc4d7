//! Invoices for people and for tools: JSON (the stored form), a printable
//! HTML page (a maud template, so every value is escaped), CSV rows (one
//! per line item) and the flattened [`Row`]s of the lake's `invoices`
//! table. Values only: turning rows into Arrow and Parquet is the
//! invoicing crate's (`tollgate_invoicing::table`).

use maud::{Markup, PreEscaped, html};
use rust_decimal::Decimal;

use crate::invoice::{CreditLine, Invoice, TaxLine, Usage};
use crate::proration::Boundary;

/// The stored form: pretty JSON with a final newline. Field order is fixed
/// by the types, so the same invoice always gives the same bytes.
pub fn json(inv: &Invoice) -> String {
    let mut s = serde_json::to_string_pretty(inv).expect("invoices serialize");
    s.push('\n');
    s
}

/// One row per invoice line, flattened: what the CSV and the `invoices`
/// table hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Invoice number (empty for drafts).
    pub number: Option<String>,
    /// draft / finalized.
    pub status: &'static str,
    /// Period `YYYY-MM`.
    pub period: String,
    /// Consumer.
    pub consumer: String,
    /// Currency.
    pub currency: String,
    /// 1-based line number.
    pub line: i32,
    /// base_fee / usage / minimum / advance_fee / unused_time /
    /// remaining_time / adjustment, then the settlement's discount / tax /
    /// credit (see [`crate::settle`]).
    pub kind: &'static str,
    /// Charge id.
    pub charge: String,
    /// Text.
    pub description: String,
    /// Metric of usage lines.
    pub metric: Option<String>,
    /// Plan id.
    pub plan: String,
    /// Plan version.
    pub plan_version: u32,
    /// Start of the time covered: the segment's, or an advance line's
    /// (a date when at midnight).
    pub from: Boundary,
    /// End of it, exclusive.
    pub to: Boundary,
    /// Quantity (an adjustment's: what was added, 0 if usage went down).
    pub quantity: Decimal,
    /// Amount (rounded).
    pub amount: Decimal,
    /// Events behind a usage line.
    pub usage: Option<Usage>,
    /// Adjusted invoice.
    pub adjusts_invoice: Option<String>,
    /// Adjusted period.
    pub adjusts_period: Option<String>,
    /// Invoice total.
    pub invoice_total: Decimal,
}

/// The invoice as rows, in invoice order.
pub fn rows(inv: &Invoice) -> Vec<Row> {
    let mut out = Vec::new();
    let base = |line: usize| Row {
        number: inv.number.as_ref().map(|n| n.0.clone()),
        status: inv.status.name(),
        period: inv.period.to_string(),
        consumer: inv.consumer.clone(),
        currency: inv.currency.clone(),
        line: line as i32,
        kind: "",
        charge: String::new(),
        description: String::new(),
        metric: None,
        plan: String::new(),
        plan_version: 0,
        from: Boundary::day(inv.period.start()),
        to: Boundary::day(inv.period.end()),
        quantity: Decimal::ZERO,
        amount: Decimal::ZERO,
        usage: None,
        adjusts_invoice: None,
        adjusts_period: None,
        invoice_total: inv.total,
    };
    for s in &inv.segments {
        for l in &s.lines {
            out.push(Row {
                kind: l.line.kind.name(),
                charge: l.line.charge.clone(),
                description: l.line.description.clone(),
                metric: l.line.metric.clone(),
                plan: s.segment.plan.clone(),
                plan_version: s.segment.version,
                from: s.segment.from,
                to: s.segment.to,
                quantity: l.line.quantity,
                amount: l.line.amount,
                usage: l.usage,
                ..base(out.len() + 1)
            });
        }
    }
    for a in &inv.advance {
        out.push(Row {
            kind: a.line.kind.name(),
            charge: a.line.charge.clone(),
            description: a.line.description.clone(),
            metric: None,
            plan: a.plan.clone(),
            plan_version: a.version,
            from: a.from,
            to: a.to,
            quantity: a.line.quantity,
            amount: a.line.amount,
            ..base(out.len() + 1)
        });
    }
    for a in &inv.adjustments {
        out.push(Row {
            kind: "adjustment",
            charge: a.charge.clone(),
            description: a.description.clone(),
            metric: None,
            plan: a.plan.clone(),
            plan_version: a.version,
            from: a.from,
            to: a.to,
            quantity: (a.quantity_after - a.quantity_before).max(Decimal::ZERO),
            amount: a.amount,
            usage: a.usage,
            adjusts_invoice: Some(a.original.0.clone()),
            adjusts_period: Some(a.period.to_string()),
            ..base(out.len() + 1)
        });
    }
    for d in &inv.discounts {
        out.push(Row {
            kind: "discount",
            charge: d.coupon.clone(),
            description: d.description.clone(),
            plan: d.plans.join(","),
            quantity: Decimal::ONE,
            amount: d.amount,
            ..base(out.len() + 1)
        });
    }
    if let Some(t) = &inv.tax {
        out.push(Row {
            kind: "tax",
            charge: t.tax.clone(),
            description: tax_text(t),
            quantity: Decimal::ONE,
            amount: t.amount,
            ..base(out.len() + 1)
        });
    }
    for c in &inv.credits {
        out.push(Row {
            kind: "credit",
            charge: c.grant.clone(),
            description: credit_text(c),
            quantity: Decimal::ONE,
            amount: c.amount,
            ..base(out.len() + 1)
        });
    }
    out
}

/// "VAT 19% (0.19 × 80.00)".
fn tax_text(t: &TaxLine) -> String {
    format!("{} ({} × {})", t.name, t.rate.normalize(), t.taxable)
}

/// "Prepaid credit g1 (balance 100.00 → 60.00)".
fn credit_text(c: &CreditLine) -> String {
    format!(
        "{} (balance {} → {})",
        c.description, c.balance_before, c.balance_after
    )
}

/// The CSV header of [`csv`].
pub const CSV_HEADER: &str = "number,status,period,consumer,currency,line,kind,charge,description,metric,plan,plan_version,segment_from,segment_to,quantity,amount,events,first_ts,last_ts,adjusts_invoice,adjusts_period,invoice_total\n";

/// One RFC 4180 CSV cell: quoted when it holds a comma, a quote or a line
/// break.
pub(crate) fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// RFC 4180 CSV, one row per line item of every invoice, with a header.
pub fn csv(invoices: &[Invoice]) -> String {
    let mut out = String::from(CSV_HEADER);
    for inv in invoices {
        for r in rows(inv) {
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
                r.metric.unwrap_or_default(),
                r.plan,
                r.plan_version.to_string(),
                r.from.to_string(),
                r.to.to_string(),
                r.quantity.to_string(),
                r.amount.to_string(),
                r.usage.map(|u| u.events.to_string()).unwrap_or_default(),
                ts(r.usage.and_then(|u| u.first_ts)),
                ts(r.usage.and_then(|u| u.last_ts)),
                r.adjusts_invoice.unwrap_or_default(),
                r.adjusts_period.unwrap_or_default(),
                r.invoice_total.to_string(),
            ];
            let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

/// The invoice's style: the printable page's `<style>`, and what the
/// dashboard's own stylesheet leaves to the invoice when it embeds it.
pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#111}\
     table{border-collapse:collapse;width:100%;margin:1em 0}\
     td,th{border-bottom:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
     .n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
     .tiers{color:#555;font-size:.85em}.draft{color:#b00}\
     @media print{.noprint{display:none}}";

/// The invoice's title: its number, or "Draft invoice" with consumer and
/// period.
fn title(inv: &Invoice) -> String {
    match &inv.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice {} {}", inv.consumer, inv.period),
    }
}

/// The time a row covers as the invoice page shows it: whole days as
/// first – last day (inclusive), other ranges as their exact instants with
/// the end exclusive.
pub(crate) fn covered(from: Boundary, to: Boundary) -> String {
    if from.is_midnight() && to.is_midnight() {
        let last = to.date().pred_opt().unwrap_or(to.date());
        format!("{from} – {last}")
    } else {
        format!("{from} – {to} (exclusive)")
    }
}

/// A printable, self-contained HTML page (no external assets).
///
/// Built with [`maud`], as the dashboard's pages are: every value (a
/// consumer id, a description, a plan) is escaped by the template.
pub fn html(inv: &Invoice) -> String {
    let page = html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title(inv)) }
                style { (PreEscaped(STYLE)) }
            }
            body { (html_body(inv)) }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

/// The invoice's content without the page around it (what [`html()`] puts in
/// `<body>`), for a page that frames it (the dashboard's invoice page).
pub fn html_body(inv: &Invoice) -> Markup {
    let mut tiers_of = Vec::new();
    for s in &inv.segments {
        for l in &s.lines {
            tiers_of.push(&l.line.tiers);
        }
    }
    for a in &inv.advance {
        tiers_of.push(&a.line.tiers);
    }
    for a in &inv.adjustments {
        tiers_of.push(&a.tiers);
    }
    // The charge lines are the body; the settlement's lines (discounts,
    // tax, credits: the rows after them) are in the footer.
    let per_tier = tiers_of
        .iter()
        .flat_map(|t| t.iter())
        .any(|t| t.rounded.is_some());
    let rs = rows(inv);
    html! {
        h1 { (title(inv)) }
        p {
            "Consumer " b { (inv.consumer) }
            " · period " b { (inv.period) }
            " (" (inv.period.start()) " to " (inv.period.end().pred_opt().unwrap_or(inv.period.end())) ", UTC)"
            " · status " b class=(inv.status.name()) { (inv.status.name()) }
            @if let Some(d) = inv.issued { " · issued " (d) }
        }
        table {
            thead {
                tr {
                    th { "#" } th { "Description" } th { "Plan" } th { "Days" }
                    th class="n" { "Quantity" } th class="n" { "Amount" }
                }
            }
            tbody {
                @for (r, tiers) in rs.iter().zip(tiers_of) {
                    tr {
                        td { (r.line) }
                        td {
                            (r.description)
                            @for t in tiers {
                                @if let Some(label) = &t.label {
                                    div class="tiers" {
                                        (label) " = " (t.amount.normalize())
                                        @if let Some(r) = t.rounded { " → " (r) }
                                    }
                                } @else {
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
                            }
                            @if let Some(u) = r.usage {
                                div class="tiers" {
                                    (u.events) " events"
                                    @if let (Some(a), Some(b)) = (u.first_ts, u.last_ts) { ", " (a) " – " (b) }
                                }
                            }
                        }
                        td { (r.plan) " v" (r.plan_version) }
                        td { (covered(r.from, r.to)) }
                        td class="n" { (r.quantity) }
                        td class="n" { (r.amount) " " (r.currency) }
                    }
                }
            }
            tfoot {
                @if let Some(sub) = inv.subtotal {
                    tr {
                        th colspan="5" { "Subtotal" }
                        th class="n" id="subtotal" { (sub) " " (inv.currency) }
                    }
                    @for d in &inv.discounts {
                        tr class="discount" {
                            td colspan="5" { (d.description) }
                            td class="n" { (d.amount) " " (inv.currency) }
                        }
                    }
                    @if let Some(t) = &inv.tax {
                        tr class="tax" {
                            td colspan="5" { (tax_text(t)) }
                            td class="n" { (t.amount) " " (inv.currency) }
                        }
                    }
                }
                tr {
                    th colspan="5" { "Total" }
                    th class="n" id="total" { (inv.total) " " (inv.currency) }
                }
                @if let Some(due) = inv.amount_due {
                    @for c in &inv.credits {
                        tr class="credit" {
                            td colspan="5" {
                                (c.description)
                                div class="tiers" {
                                    "balance " (c.balance_before) " → " (c.balance_after) " " (inv.currency)
                                    @if let Some(e) = c.expires { " · valid until " (e.pred_opt().unwrap_or(e)) }
                                }
                            }
                            td class="n" { (c.amount) " " (inv.currency) }
                        }
                    }
                    tr {
                        th colspan="5" { "Amount due" }
                        th class="n" id="amount-due" { (due) " " (inv.currency) }
                    }
                }
            }
        }
        @if per_tier {
            p class="tiers" { "Usage amounts are rounded per tier to the currency's minor unit (a line is the sum of its rounded tiers); the total is the sum of the lines." }
        } @else {
            p class="tiers" { "Amounts are rounded per line to the currency's minor unit; the total is the sum of the lines." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::Status;

    /// A draft for a consumer and currency that need escaping.
    fn hostile() -> Invoice {
        Invoice {
            number: None,
            status: Status::Draft,
            issued: None,
            period: "2026-10".parse().unwrap(),
            consumer: "<script>alert(\"c\")</script>&co".into(),
            currency: "U\"S&D".into(),
            segments: Vec::new(),
            advance: Vec::new(),
            adjustments: Vec::new(),
            subtotal: None,
            discounts: Vec::new(),
            tax: None,
            total: Decimal::from(12),
            credits: Vec::new(),
            amount_due: None,
        }
    }

    #[test]
    fn the_html_invoice_escapes_what_it_shows() {
        let page = html(&hostile());
        let c = "&lt;script&gt;alert(&quot;c&quot;)&lt;/script&gt;&amp;co";
        assert!(page.starts_with("<!doctype html><html lang=\"en\"><head>"));
        assert!(page.ends_with("</body></html>\n"));
        assert!(!page.contains("<script"), "{page}");
        assert!(
            page.contains(&format!("<title>Draft invoice {c} 2026-10</title>")),
            "{page}"
        );
        assert!(page.contains(&format!("Consumer <b>{c}</b>")), "{page}");
        assert!(
            page.contains("<th class=\"n\" id=\"total\">12 U&quot;S&amp;D</th>"),
            "{page}"
        );
        // The style is the page's own, passed through unescaped.
        assert!(page.contains("<style>body{font-family:system-ui,sans-serif;"));
        assert!(page.contains("<b class=\"draft\">draft</b>"), "{page}");
    }

    #[test]
    fn the_body_is_the_page_without_its_frame() {
        let inv = hostile();
        let body = html_body(&inv).into_string();
        assert!(body.starts_with("<h1>"), "{body}");
        assert!(html(&inv).contains(&format!("<body>{body}</body>")));
    }
}
