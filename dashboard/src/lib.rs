//! # tollgate-dashboard: one server for product, finance and analysts
//!
//! Will serve traffic dashboards, invoices and a read-only SQL console over
//! axum, with a role check on every route. Not built yet (issue 6); the
//! crate exists so the workspace has its final shape.
//!
//! # Layout
//!
//! Empty for now.
