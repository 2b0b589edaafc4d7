//! The lake's `wallet` table: one Parquet file per period,
//! `wallet/period=<YYYY-MM>/grants.parquet`, one row per prepaid credit
//! grant in the period's statement ([`tollgate_billing::settle::wallet`]),
//! in the schema [`tollgate_schemas::lake::wallet_schema`] declares.

use std::sync::Arc;

use arrow_array::builder::{Date32Builder, Decimal128Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tollgate_billing::invoice::Status;
use tollgate_billing::period::Period;
use tollgate_billing::settle::WalletEntry;
use tollgate_schemas::lake::{MONEY_SCALE, wallet_schema};

use crate::table::TableError;

/// A period's wallet statement in the ledger
/// (`billing/wallet/<YYYY-MM>.json`): written with the drafts, frozen with
/// them on finalization. Only finalized statements count toward balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletStatement {
    /// The period.
    pub period: Period,
    /// Draft (projected burns) or finalized (real ones).
    pub status: Status,
    /// One entry per grant with a balance at the period's start.
    pub entries: Vec<WalletEntry>,
}

/// The lake path of `period`'s `wallet` table file.
pub fn path(period: Period) -> String {
    tollgate_lake::layout::wallet_file(&period.to_string())
}

/// The `wallet` table file of a statement.
pub fn parquet(statement: &WalletStatement) -> Result<Vec<u8>, TableError> {
    let batch = record_batch(statement)?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)?;
    w.write(&batch)?;
    w.close()?;
    Ok(buf)
}

/// A statement as one record batch of the `wallet` table.
pub fn record_batch(st: &WalletStatement) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let money = || Decimal128Builder::new().with_precision_and_scale(38, MONEY_SCALE);
    let (mut status, mut consumer, mut grant, mut currency) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut amount, mut priority, mut granted, mut expires, mut charges) = (
        money()?,
        Int64Builder::new(),
        Date32Builder::new(),
        Date32Builder::new(),
        StringBuilder::new(),
    );
    let (mut before, mut burned, mut expired, mut after, mut invoice) =
        (money()?, money()?, money()?, money()?, StringBuilder::new());
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let days = |d: NaiveDate| (d - epoch).num_days() as i32;
    let scaled = |d: Decimal| {
        let mut d = d;
        d.rescale(MONEY_SCALE as u32);
        d.mantissa()
    };
    for e in &st.entries {
        status.append_value(st.status.name());
        consumer.append_value(&e.consumer);
        grant.append_value(&e.grant);
        currency.append_value(&e.currency);
        amount.append_value(scaled(e.amount));
        priority.append_value(e.priority);
        granted.append_value(days(e.granted));
        expires.append_option(e.expires.map(days));
        charges.append_option(e.charges.as_ref().map(|c| c.join(",")));
        before.append_value(scaled(e.balance_before));
        burned.append_value(scaled(e.burned));
        expired.append_value(scaled(e.expired));
        after.append_value(scaled(e.balance_after));
        invoice.append_option(e.invoice.as_ref().map(|n| n.0.clone()));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(status.finish()),
        Arc::new(consumer.finish()),
        Arc::new(grant.finish()),
        Arc::new(currency.finish()),
        Arc::new(amount.finish()),
        Arc::new(priority.finish()),
        Arc::new(granted.finish()),
        Arc::new(expires.finish()),
        Arc::new(charges.finish()),
        Arc::new(before.finish()),
        Arc::new(burned.finish()),
        Arc::new(expired.finish()),
        Arc::new(after.finish()),
        Arc::new(invoice.finish()),
    ];
    RecordBatch::try_new(wallet_schema(), columns)
}
