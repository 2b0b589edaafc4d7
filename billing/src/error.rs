//! Why an invoice could not be made: shared by the invoice and the
//! advance-fee modules (kept apart so neither imports the other).

use crate::rate::RateError;

/// Why an invoice could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvoiceError {
    /// The plan version a subscription or invoice names is gone.
    #[error(
        "plan {plan} version {version} is not in the plans file; keep every version that has invoices"
    )]
    MissingPlan {
        /// Plan id.
        plan: String,
        /// Version.
        version: u32,
    },
    /// A consumer's plans in one period have different currencies.
    #[error(
        "{consumer}: plans of different currencies ({a}, {b}) in one period; invoice them in separate periods"
    )]
    MixedCurrency {
        /// Consumer.
        consumer: String,
        /// One currency.
        a: String,
        /// The other.
        b: String,
    },
    /// Rating failed.
    #[error(transparent)]
    Rate(#[from] RateError),
}
