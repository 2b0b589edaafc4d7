//! Invoices for people and for tools: JSON (the stored form), a printable
//! HTML page, CSV rows (one per line item) and the flattened [`Row`]s of
//! the lake's `invoices` table. Values only: turning rows into Arrow and
//! Parquet is the invoicing crate's (`tollgate_invoicing::table`).

use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::invoice::{Invoice, Usage};
use crate::rate::LineKind;

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
    /// base_fee / usage / minimum / adjustment.
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
    /// First day covered.
    pub from: NaiveDate,
    /// First day after.
    pub to: NaiveDate,
    /// Quantity.
    pub quantity: u64,
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

fn kind_name(k: LineKind) -> &'static str {
    match k {
        LineKind::BaseFee => "base_fee",
        LineKind::Usage => "usage",
        LineKind::Minimum => "minimum",
    }
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
        from: inv.period.start(),
        to: inv.period.end(),
        quantity: 0,
        amount: Decimal::ZERO,
        usage: None,
        adjusts_invoice: None,
        adjusts_period: None,
        invoice_total: inv.total,
    };
    for s in &inv.segments {
        for l in &s.lines {
            out.push(Row {
                kind: kind_name(l.line.kind),
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
            quantity: a.quantity_after.saturating_sub(a.quantity_before),
            amount: a.amount,
            usage: a.usage,
            adjusts_invoice: Some(a.original.0.clone()),
            adjusts_period: Some(a.period.to_string()),
            ..base(out.len() + 1)
        });
    }
    out
}

/// The CSV header of [`csv`].
pub const CSV_HEADER: &str = "number,status,period,consumer,currency,line,kind,charge,description,metric,plan,plan_version,segment_from,segment_to,quantity,amount,events,first_ts,last_ts,adjusts_invoice,adjusts_period,invoice_total\n";

fn field(s: &str) -> String {
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A printable, self-contained HTML page (no external assets).
pub fn html(inv: &Invoice) -> String {
    let title = match &inv.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice {} {}", inv.consumer, inv.period),
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#111}}\
         table{{border-collapse:collapse;width:100%;margin:1em 0}}\
         td,th{{border-bottom:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}}\
         .n{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}\
         .tiers{{color:#555;font-size:.85em}}.draft{{color:#b00}}\
         @media print{{.noprint{{display:none}}}}</style></head><body>\
         <h1>{t}</h1>",
        t = esc(&title)
    );
    let _ = write!(
        h,
        "<p>Consumer <b>{}</b> · period <b>{}</b> ({} to {}, UTC) · status <b class=\"{}\">{}</b>{}</p>",
        esc(&inv.consumer),
        inv.period,
        inv.period.start(),
        inv.period.end().pred_opt().unwrap_or(inv.period.end()),
        inv.status.name(),
        inv.status.name(),
        inv.issued
            .map(|d| format!(" · issued {d}"))
            .unwrap_or_default()
    );
    h.push_str(
        "<table><thead><tr><th>#</th><th>Description</th><th>Plan</th><th>Days</th>\
         <th class=\"n\">Quantity</th><th class=\"n\">Amount</th></tr></thead><tbody>",
    );
    let rs = rows(inv);
    let mut tiers_of = Vec::new();
    for s in &inv.segments {
        for l in &s.lines {
            tiers_of.push(&l.line.tiers);
        }
    }
    for a in &inv.adjustments {
        tiers_of.push(&a.tiers);
    }
    for (r, tiers) in rs.iter().zip(tiers_of) {
        let mut detail = String::new();
        for t in tiers {
            let range = match t.up_to {
                Some(u) => format!("{}–{u}", t.from_unit),
                None => format!("{}+", t.from_unit),
            };
            let _ = write!(
                detail,
                "<div class=\"tiers\">tier {} ({range}): {} × {}{} = {}</div>",
                t.tier,
                t.units,
                t.unit_price.normalize(),
                if t.flat_fee.is_zero() {
                    String::new()
                } else {
                    format!(" + {}", t.flat_fee.normalize())
                },
                t.amount.normalize()
            );
        }
        if let Some(u) = r.usage {
            let range = match (u.first_ts, u.last_ts) {
                (Some(a), Some(b)) => format!(", {a} – {b}"),
                _ => String::new(),
            };
            let _ = write!(
                detail,
                "<div class=\"tiers\">{} events{range}</div>",
                u.events
            );
        }
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}{}</td><td>{} v{}</td><td>{} – {}</td><td class=\"n\">{}</td><td class=\"n\">{} {}</td></tr>",
            r.line,
            esc(&r.description),
            detail,
            esc(&r.plan),
            r.plan_version,
            r.from,
            r.to.pred_opt().unwrap_or(r.to),
            r.quantity,
            r.amount,
            esc(&r.currency)
        );
    }
    let _ = writeln!(
        h,
        "</tbody><tfoot><tr><th colspan=\"5\">Total</th><th class=\"n\" id=\"total\">{} {}</th></tr></tfoot></table>\
         <p class=\"tiers\">Amounts are rounded per line to the currency's minor unit; the total is the sum of the lines.</p>\
         </body></html>",
        inv.total,
        esc(&inv.currency)
    );
    h
}
