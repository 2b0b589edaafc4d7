//! # tollgate-billing: price plans and exact invoices
//!
//! Rates per-consumer usage against tiered price plans in exact decimal
//! money (`rust_decimal`, never floats) with explicit rounding, and
//! explains every amount line by line with its tier breakdown. The core is
//! pure: no I/O, no clock. Subscriptions, invoice runs and finalisation
//! build on it (issue 5); `tollgate quote` uses it directly.
//!
//! # Layout
//!
//! - [`money`]: currencies (ISO 4217 minor units) and rounding modes.
//! - [`plan`]: `plans.toml`, its models and validation.
//! - [`rate`]: rating: plan + usage → lines with tier breakdowns.

pub mod money;
pub mod plan;
pub mod rate;

pub use money::{Currency, Rounding};
pub use plan::{Charge, Metric, Model, Plan, PlanError, PlanId, PlansFile, Tier};
pub use rate::{Line, LineKind, RateError, Rated, TierPart, rate};
