//! # tollgate-billing: price plans, subscriptions and invoices
//!
//! Will rate per-consumer usage against tiered price plans with
//! `rust_decimal` (never floats) and produce monthly invoices that are
//! exact, explainable line by line and immutable once finalized. Not built
//! yet (issue 5); the crate exists so the workspace has its final shape.
//!
//! # Layout
//!
//! Empty for now.
