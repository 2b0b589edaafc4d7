//! # tollgate-billing: price plans and exact invoices
//!
//! Rates per-consumer usage against tiered price plans in exact decimal
//! money (`rust_decimal`, never floats) with explicit rounding, and
//! explains every amount line by line with its tier breakdown. The core
//! (plans, subscriptions, rating, invoices, rendering) is pure: no I/O, no
//! clock. [`run`] is the one module with I/O: it asks the aggregator for
//! usage, and keeps invoices in the lake (drafts, finalization, late-usage
//! adjustments); its clock is a parameter.
//!
//! # Layout
//!
//! - [`money`]: currencies (ISO 4217 minor units) and rounding modes.
//! - [`plan`]: `plans.toml`, its models and validation.
//! - [`rate`]: rating: plan + usage → lines with tier breakdowns.
//! - [`period`]: billing periods (calendar months, UTC).
//! - [`subscription`]: `subscriptions.toml`; segments of a period per plan.
//! - [`invoice`]: invoices, their evidence, and late-usage adjustments.
//! - [`render`]: JSON, HTML, CSV and the `invoices` table rows.
//! - [`run`]: invoice runs, finalization, preview; the ledger in the lake.

pub mod invoice;
pub mod money;
pub mod period;
pub mod plan;
pub mod rate;
pub mod render;
pub mod run;
pub mod subscription;

pub use money::{Currency, Rounding};
pub use plan::{
    Charge, Enforcement, Metric, Model, Plan, PlanError, PlanId, PlansFile, Quota, QuotaWindow,
    Tier,
};
pub use rate::{Line, LineKind, RateError, Rated, TierPart, rate};
