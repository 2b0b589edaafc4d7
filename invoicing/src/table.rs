//! The lake's `invoices` table: one Parquet file per period,
//! `invoices/period=<YYYY-MM>/lines.parquet`, one row per invoice line
//! ([`tollgate_billing::render::rows`]), in the schema
//! [`tollgate_schemas::lake::invoice_line_schema`] declares.
//!
//! The billing core flattens invoices into rows (values); turning them
//! into Arrow and Parquet is here, so the core builds without either.

use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tollgate_billing::invoice::Invoice;
use tollgate_billing::render;
use tollgate_schemas::lake::{MONEY_SCALE, QUANTITY_SCALE, invoice_line_schema};

/// Why the `invoices` table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The rows do not fit the table's schema.
    #[error("invoices table: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The Parquet encoder failed.
    #[error("invoices table: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The lake path of `period`'s table file.
pub fn path(period: tollgate_billing::period::Period) -> String {
    tollgate_lake::layout::invoice_lines_file(&period.to_string())
}

/// The `invoices` table file of `invoices`: one Parquet file, every line of
/// every invoice, in invoice then line order.
pub fn parquet(invoices: &[Invoice]) -> Result<Vec<u8>, TableError> {
    let batch = record_batch(invoices)?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)?;
    w.write(&batch)?;
    w.close()?;
    Ok(buf)
}

/// The rows of `invoices` as one record batch of the `invoices` table.
pub fn record_batch(invoices: &[Invoice]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let schema = invoice_line_schema();
    let (mut number, mut status, mut consumer, mut currency) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut line, mut kind, mut charge, mut description, mut metric) = (
        Int32Builder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut plan, mut version, mut from, mut to) = (
        StringBuilder::new(),
        Int32Builder::new(),
        Date32Builder::new(),
        Date32Builder::new(),
    );
    let money = || Decimal128Builder::new().with_precision_and_scale(38, MONEY_SCALE);
    let (mut quantity, mut amount, mut events) = (
        Decimal128Builder::new().with_precision_and_scale(38, QUANTITY_SCALE)?,
        money()?,
        Int64Builder::new(),
    );
    let ts = || TimestampMillisecondBuilder::new().with_timezone("UTC");
    let (mut first, mut last) = (ts(), ts());
    let (mut adj_inv, mut adj_period, mut total) =
        (StringBuilder::new(), StringBuilder::new(), money()?);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let days = |d: NaiveDate| (d - epoch).num_days() as i32;
    let scaled = |d: Decimal| {
        let mut d = d;
        d.rescale(MONEY_SCALE as u32);
        d.mantissa()
    };
    for inv in invoices {
        for r in render::rows(inv) {
            number.append_option(r.number);
            status.append_value(r.status);
            consumer.append_value(&r.consumer);
            currency.append_value(&r.currency);
            line.append_value(r.line);
            kind.append_value(r.kind);
            charge.append_value(&r.charge);
            description.append_value(&r.description);
            metric.append_option(r.metric);
            plan.append_value(&r.plan);
            version.append_value(r.plan_version as i32);
            // Dates: the day the time starts in, and the first day after
            // the day it ends in (exclusive, as for whole days); the exact
            // instants are in the JSON and the description.
            from.append_value(days(r.from.date()));
            to.append_value(days(r.to.ceil_date()));
            // Exact to 9 decimal places (an amount metric's sum has the
            // events' 9); a quantity the column cannot hold exactly is an
            // error, never rounded.
            let exact = Some(r.quantity.normalize())
                .filter(|q| q.scale() <= QUANTITY_SCALE as u32)
                .map(|mut q| {
                    q.rescale(QUANTITY_SCALE as u32);
                    q.mantissa()
                })
                .ok_or_else(|| {
                    arrow_schema::ArrowError::InvalidArgumentError(format!(
                        "invoice {} line quantity {} has more decimal places than the invoices table holds ({QUANTITY_SCALE})",
                        inv.number.as_ref().map_or("(draft)", |n| n.0.as_str()),
                        r.quantity
                    ))
                })?;
            quantity.append_value(exact);
            amount.append_value(scaled(r.amount));
            events.append_option(r.usage.map(|u| u.events as i64));
            first.append_option(r.usage.and_then(|u| u.first_ts).map(|t| t.0));
            last.append_option(r.usage.and_then(|u| u.last_ts).map(|t| t.0));
            adj_inv.append_option(r.adjusts_invoice);
            adj_period.append_option(r.adjusts_period);
            total.append_value(scaled(r.invoice_total));
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(number.finish()),
        Arc::new(status.finish()),
        Arc::new(consumer.finish()),
        Arc::new(currency.finish()),
        Arc::new(line.finish()),
        Arc::new(kind.finish()),
        Arc::new(charge.finish()),
        Arc::new(description.finish()),
        Arc::new(metric.finish()),
        Arc::new(plan.finish()),
        Arc::new(version.finish()),
        Arc::new(from.finish()),
        Arc::new(to.finish()),
        Arc::new(quantity.finish()),
        Arc::new(amount.finish()),
        Arc::new(events.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(adj_inv.finish()),
        Arc::new(adj_period.finish()),
        Arc::new(total.finish()),
    ];
    RecordBatch::try_new(schema, columns)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use arrow_array::cast::AsArray;
    use arrow_array::types::Decimal128Type;
    use rust_decimal::prelude::ToPrimitive;

    use super::*;

    /// September's finalized invoice from the ledger fixture.
    fn fixture_invoice() -> Invoice {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/lake/billing/invoices/2026-09/acme%2Feu.json"
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn quantities_are_exact_decimals_and_too_fine_ones_are_an_error() {
        let inv = fixture_invoice();
        let batch = record_batch(std::slice::from_ref(&inv)).unwrap();
        let quantities = batch
            .column_by_name("quantity")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        let expected: Vec<i128> = render::rows(&inv)
            .iter()
            .map(|r| r.quantity.to_i128().unwrap() * 1_000_000_000)
            .collect();
        assert_eq!(quantities.values().to_vec(), expected);

        // An amount metric's sum: 24500.123456789 is 24500123456789 × 10^-9.
        let mut frac = inv.clone();
        frac.segments[0].lines[0].line.quantity = Decimal::from_str("24500.123456789").unwrap();
        let batch = record_batch(&[frac]).unwrap();
        let q = batch
            .column_by_name("quantity")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        assert_eq!(q.value(0), 24_500_123_456_789);

        let mut fine = inv.clone();
        fine.segments[0].lines[0].line.quantity = Decimal::from_str("0.0000000001").unwrap();
        let err = record_batch(&[fine]).unwrap_err().to_string();
        assert!(
            err.contains("INV-2026-000001") && err.contains("0.0000000001"),
            "{err}"
        );
    }
}
