//! The lake's `credit_notes` table: one Parquet file per period whose run
//! issued credit notes, `credit_notes/period=<YYYY-MM>/lines.parquet`, one
//! row per credit note line ([`tollgate_billing::credit_note::rows`]), in
//! the schema [`tollgate_schemas::lake::credit_note_line_schema`] declares.
//!
//! Kept apart from the `invoices` table so that table's columns and the
//! queries over it stay as they are; net revenue is the sum of both (see
//! docs/BILLING.md).

use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::ArrowError;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tollgate_billing::credit_note::{self, CreditNote};
use tollgate_billing::period::Period;
use tollgate_schemas::lake::{MONEY_SCALE, credit_note_line_schema};

/// Why the `credit_notes` table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CreditTableError {
    /// The rows do not fit the table's schema.
    #[error("credit_notes table: {0}")]
    Arrow(#[from] ArrowError),
    /// The Parquet encoder failed.
    #[error("credit_notes table: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The lake path of `period`'s credit note lines file.
pub fn path(period: Period) -> String {
    tollgate_lake::layout::credit_note_lines_file(&period.to_string())
}

/// The `credit_notes` table file of `notes`: every line of every note, in
/// note then line order.
pub fn parquet(notes: &[CreditNote]) -> Result<Vec<u8>, CreditTableError> {
    let batch = record_batch(notes)?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)?;
    w.write(&batch)?;
    w.close()?;
    Ok(buf)
}

/// A quantity the integer columns hold exactly, or an error naming the
/// note (never truncated), as in the `invoices` table.
fn whole(note: &CreditNote, q: Decimal) -> Result<i64, ArrowError> {
    q.is_integer().then(|| q.to_i64()).flatten().ok_or_else(|| {
        ArrowError::InvalidArgumentError(format!(
            "credit note {} (for {}) line quantity {q} is not a whole number the table can hold",
            note.label(),
            note.invoice
        ))
    })
}

/// The rows of `notes` as one record batch of the `credit_notes` table.
pub fn record_batch(notes: &[CreditNote]) -> Result<RecordBatch, ArrowError> {
    let schema = credit_note_line_schema();
    let text = StringBuilder::new;
    let (mut number, mut status, mut consumer, mut currency) = (text(), text(), text(), text());
    let (mut line, mut kind, mut charge, mut description) =
        (Int32Builder::new(), text(), text(), text());
    let (mut plan, mut version, mut from, mut to) = (
        text(),
        Int32Builder::new(),
        Date32Builder::new(),
        Date32Builder::new(),
    );
    let money = || Decimal128Builder::new().with_precision_and_scale(38, MONEY_SCALE);
    let (mut q0, mut q1) = (Int64Builder::new(), Int64Builder::new());
    let (mut a0, mut a1, mut amount) = (money()?, money()?, money()?);
    let ts = || TimestampMillisecondBuilder::new().with_timezone("UTC");
    let (mut events, mut first, mut last) = (Int64Builder::new(), ts(), ts());
    let (mut inv, mut inv_period, mut total) = (text(), text(), money()?);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let days = |d: NaiveDate| (d - epoch).num_days() as i32;
    let scaled = |d: Decimal| {
        let mut d = d;
        d.rescale(MONEY_SCALE as u32);
        d.mantissa()
    };
    for note in notes {
        for r in credit_note::rows(note) {
            number.append_option(r.number);
            status.append_value(r.status);
            consumer.append_value(&r.consumer);
            currency.append_value(&r.currency);
            line.append_value(r.line);
            kind.append_value(r.kind);
            charge.append_value(&r.charge);
            description.append_value(&r.description);
            plan.append_value(&r.plan);
            version.append_value(r.plan_version as i32);
            from.append_value(days(r.from));
            to.append_value(days(r.to));
            q0.append_value(whole(note, r.quantity_before)?);
            q1.append_value(whole(note, r.quantity_after)?);
            a0.append_value(scaled(r.amount_before));
            a1.append_value(scaled(r.amount_after));
            amount.append_value(scaled(r.amount));
            events.append_option(r.usage.map(|u| u.events as i64));
            first.append_option(r.usage.and_then(|u| u.first_ts).map(|t| t.0));
            last.append_option(r.usage.and_then(|u| u.last_ts).map(|t| t.0));
            inv.append_value(&r.credits_invoice);
            inv_period.append_value(&r.credits_period);
            total.append_value(scaled(r.note_total));
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
        Arc::new(plan.finish()),
        Arc::new(version.finish()),
        Arc::new(from.finish()),
        Arc::new(to.finish()),
        Arc::new(q0.finish()),
        Arc::new(q1.finish()),
        Arc::new(a0.finish()),
        Arc::new(a1.finish()),
        Arc::new(amount.finish()),
        Arc::new(events.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(inv.finish()),
        Arc::new(inv_period.finish()),
        Arc::new(total.finish()),
    ];
    RecordBatch::try_new(schema, columns)
}
