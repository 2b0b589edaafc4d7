//! # tollgate-invoicing: invoice runs over the lake
//!
//! The layer above the pure billing core (`tollgate-billing`): it does the
//! I/O the core must not. It reads the plans and subscriptions files, asks
//! the aggregator for deduplicated usage, has the core rate it, and keeps
//! the results in the lake: the invoice ledger (drafts, finalization,
//! late-usage adjustments) and the `invoices` SQL table.
//!
//! Named for the act, not the subject: *billing* is the rules (plans,
//! rating, invoices as values) and builds without a query engine or
//! Parquet; *invoicing* is running those rules over a real lake, on a
//! clock, and needs both. Everything that reads the lake or writes the
//! ledger depends on this crate; everything that only needs the plans
//! (the signals' quotas, `tollgate quote`) depends on the core alone.
//!
//! # Layout
//!
//! - [`table`]: the `invoices` table: invoice rows to Arrow and Parquet.
//! - [`run`]: invoice runs, finalization, preview and month-to-date
//!   estimates; usage from the aggregator.
//! - [`wallet`]: the `wallet` table: prepaid credit statements to Arrow
//!   and Parquet.
//! - [`credit_table`]: the `credit_notes` table, likewise for credit notes.
//! - [`ledger`]: [`Ledger`], the invoices, credit notes, period states and
//!   credit statements in the lake (a [`tollgate_lake::JsonLedger`] under
//!   `billing/`), and the tables.

pub mod credit_table;
pub mod ledger;
pub mod run;
pub mod table;
pub mod wallet;

use std::path::PathBuf;

use tollgate_billing::{Billing, BillingConfig};

pub use ledger::{
    CreditNoteSummary, InvoiceSummary, Ledger, PeriodState, Problem, RunReport, Unbilled,
};
pub use run::{Estimates, RunOutcome, estimates, finalize, preview, run};

/// Why an invoicing command failed.
#[derive(Debug, thiserror::Error)]
pub enum InvoicingError {
    /// A file could not be read.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What happened.
        why: String,
    },
    /// The plans or subscriptions file is wrong.
    #[error(transparent)]
    Config(#[from] tollgate_billing::ConfigError),
    /// An invoice could not be made.
    #[error(transparent)]
    Invoice(#[from] tollgate_billing::invoice::InvoiceError),
    /// Discounts, tax or credits could not be applied.
    #[error(transparent)]
    Settle(#[from] tollgate_billing::settle::SettleError),
    /// The lake could not be queried.
    #[error(transparent)]
    Analytics(#[from] tollgate_aggregator::AnalyticsError),
    /// The ledger could not be read or written.
    #[error("ledger: {0}")]
    Ledger(#[from] tollgate_lake::LedgerError),
    /// The `invoices` table could not be written.
    #[error(transparent)]
    Table(#[from] table::TableError),
    /// The `credit_notes` table could not be written.
    #[error(transparent)]
    CreditTable(#[from] credit_table::CreditTableError),
    /// The operation is not allowed now; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
}

/// Reads the plans and subscriptions files `config` names, and the
/// customers file when it exists, and validates them together
/// ([`Billing::parse_with_customers`]).
pub fn load(config: BillingConfig) -> Result<Billing, InvoicingError> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| InvoicingError::File {
            path: p.clone(),
            why: format!("{e}; set billing.plans / billing.subscriptions in tollgate.toml"),
        })
    };
    let plans = read(&config.plans)?;
    let subscriptions = read(&config.subscriptions)?;
    // Optional: without it, invoices have no discount, tax or credit line.
    let customers = match std::fs::read_to_string(&config.customers) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(InvoicingError::File {
                path: config.customers.clone(),
                why: format!("{e}; set billing.customers in tollgate.toml"),
            });
        }
    };
    Ok(Billing::parse_with_customers(
        config,
        &plans,
        &subscriptions,
        customers.as_deref(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_says_which_setting_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let config = BillingConfig {
            plans: dir.path().join("nope.toml"),
            ..BillingConfig::default()
        };
        let e = load(config).unwrap_err().to_string();
        assert!(e.contains("nope.toml"), "{e}");
        assert!(e.contains("set billing.plans"), "{e}");
    }

    #[test]
    fn the_files_are_parsed_and_checked_together() {
        let dir = tempfile::tempdir().unwrap();
        let plans = dir.path().join("plans.toml");
        let subs = dir.path().join("subscriptions.toml");
        std::fs::write(
            &plans,
            "[[plan]]\nid = \"p\"\nversion = 1\ncurrency = \"USD\"\n",
        )
        .unwrap();
        std::fs::write(
            &subs,
            "[[subscription]]\nconsumer = \"c\"\nplan = \"p\"\nstart = \"2026-01-01\"\n",
        )
        .unwrap();
        let config = BillingConfig {
            plans: plans.clone(),
            subscriptions: subs.clone(),
            ..BillingConfig::default()
        };
        let b = load(config).unwrap();
        assert_eq!(b.subscriptions.subscriptions[0].version, Some(1));
        std::fs::write(
            &subs,
            "[[subscription]]\nconsumer = \"c\"\nplan = \"q\"\nstart = \"2026-01-01\"\n",
        )
        .unwrap();
        let e = load(BillingConfig {
            plans,
            subscriptions: subs,
            ..BillingConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, InvoicingError::Config(_)), "{e:?}");
    }
}
