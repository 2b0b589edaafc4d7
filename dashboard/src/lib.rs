//! # tollgate-dashboard: one server for product, finance and analysts
//!
//! `tollgate serve`: traffic dashboards, a JSON API documented at
//! `/api/openapi.json`, a read-only SQL console, `/metrics`, `/healthz` and
//! `/readyz`, over axum. Every page and API route belongs to an [`Area`]
//! guarded by one [`Role`] (`viewer`, `finance`, `analyst`, `admin`);
//! callers prove roles with a bearer token or the login form's session
//! cookie. Traffic comes from the hourly rollups (minute buckets from raw
//! events over short ranges), so a month answers fast. Pages are rendered
//! on the server, charts as inline SVG; every asset is in the binary.
//!
//! [`run`] serves until the shutdown future it is given completes;
//! [`router`] is the same application without a socket, for tests.
//!
//! # Layout
//!
//! - [`app`]: areas, the router builder, the listener and shutdown.
//! - [`config`]: `[serve]` in `tollgate.toml` ([`ServeConfig`], [`Role`]).
//! - [`auth`]: tokens, sessions, the login form and the role [`auth::guard`].
//! - [`traffic`]: the traffic area: Overview, Consumers, Routes and their API.
//! - [`sql`]: the SQL area: the console, CSV download, `POST /api/sql`.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics` (public).
//! - [`metrics`]: the server's own request counters and latency histograms.
//! - [`params`]: strict query parameters and checked time ranges.
//! - [`chart`]: time-series charts as SVG.
//! - [`html`]: the page frame, escaping and number formats.
//! - [`openapi`]: the OpenAPI document, derived with utoipa from the
//!   handlers and response types, merged from the areas' parts.
//! - [`assets`]: the stylesheet, script and icon, compiled in.
//! - [`state`]: what handlers share: the lake, the clock, limits.
//! - [`error`]: [`ApiError`] (status + stable code, answered as
//!   [`error::ErrorBody`]) and [`ServeError`].

pub mod app;
pub mod assets;
pub mod auth;
pub mod chart;
pub mod config;
pub mod error;
pub mod html;
pub mod invoices;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod selfservice;
pub mod sql;
pub mod state;
pub mod traffic;

pub use app::{Area, NavLink, ServeSettings, build, router, run, run_blocking, serve_on};
pub use config::{Role, ServeConfig, TokenSource};
pub use error::{ApiError, ServeError};
pub use state::{AppState, Clock, SystemClock};
