//! # tollgate-billing: price plans and exact invoices
//!
//! Rates per-consumer usage against tiered price plans in exact decimal
//! money (`rust_decimal`, never floats) with explicit rounding, and
//! explains every amount line by line with its tier breakdown.
//!
//! The crate is pure: no I/O, no clock, and no dependency on the lake,
//! the query engine, Parquet or Kafka. Files come in as text, usage as
//! numbers, and invoices go out as values and documents. Invoice runs over
//! a real lake and the ledger that keeps their results are one layer up,
//! in `tollgate-invoicing`.
//!
//! # Layout
//!
//! - [`money`]: currencies (ISO 4217 minor units) and rounding modes.
//! - [`quantity`]: exact decimal quantities, whole numbers in files as before.
//! - [`plan`]: `plans.toml`, its models and validation.
//! - [`rate`]: rating: plan + usage → lines with tier breakdowns.
//! - [`proration`]: instants in subscriptions ([`proration::Boundary`])
//!   and a plan's proration (by day or by second) of part of a period.
//! - [`advance`]: base fees billed in advance; the unused and remaining
//!   time lines of a change in a prepaid period.
//! - [`quote`]: a price for given usage over a period, a share or days.
//! - [`period`]: billing periods (calendar months, UTC).
//! - [`subscription`]: `subscriptions.toml`; segments of a period per plan.
//! - [`customers`]: `customers.toml`: tax rates, coupons, customers'
//!   settings and prepaid credit grants.
//! - [`error`]: why an invoice could not be made.
//! - [`invoice`]: invoices, their evidence, and late-usage adjustments.
//! - [`settle`]: discounts, tax and credits on an invoice; wallet statements.
//! - [`credit_note`]: credit notes for late decreases of finalized
//!   invoices: the rule, the document, its JSON, HTML and CSV.
//! - [`render`]: JSON, HTML, CSV and the `invoices` table rows.
//! - [`config`]: `[billing]` settings; [`Billing`], the plans and
//!   subscriptions parsed and validated together.

pub mod advance;
pub mod config;
pub mod credit_note;
pub mod customers;
pub mod error;
pub mod invoice;
pub mod money;
pub mod period;
pub mod plan;
pub mod proration;
pub mod quantity;
pub mod quote;
pub mod rate;
pub mod render;
pub mod settle;
pub mod subscription;

pub use config::{Billing, BillingConfig, ConfigError};
pub use money::{Currency, Rounding};
pub use plan::{
    BaseFeeTiming, Charge, Enforcement, Metric, Model, PackageRounding, PercentTier, Plan,
    PlanError, PlanId, PlansFile, Quota, QuotaWindow, RoundingScope, Tier,
};
pub use rate::{
    Line, LineKind, Quantities, RateError, Rated, TierPart, events_key, fees_key, rate,
};
