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
//! Pages and charts are [`maud`] templates: markup checked when the crate
//! compiles, with every value escaped unless marked as markup. maud rather
//! than askama because the pages are small Rust functions (a table, the
//! range form, a chart) composed by the areas; maud keeps them ordinary
//! functions returning [`maud::Markup`], without template files or context
//! structs. Billing's printable invoice is a maud template too.
//!
//! [`run`] serves until the shutdown future it is given completes;
//! [`router`] is the same application without a socket, for tests.
//!
//! # Layout
//!
//! Modules form layers; each imports only from the layers below it
//! (`scripts/module_cycles.py dashboard` checks that none import in a
//! circle). From the top:
//!
//! 1. The router.
//!    - [`app`]: the standard areas, the router builder (guards, request
//!      metrics, common headers), the listener and shutdown.
//! 2. The areas and public routes, each a leaf the router assembles.
//!    - [`traffic`]: the traffic area: Overview, Consumers, Routes and their API.
//!    - [`invoices`]: the finance area: invoices and their downloads.
//!    - [`sql`]: the SQL area: the console, CSV download, `POST /api/sql`.
//!    - [`selfservice`]: `/api/self`, for consumer-scoped tokens.
//!    - [`login`]: the role guards, the login form, logout and `/`.
//!    - [`ops`]: `/healthz`, `/readyz`, `/metrics` (public).
//!    - [`openapi`]: the OpenAPI document, derived with utoipa from the
//!      handlers and response types, merged from the areas' parts.
//!    - [`assets`]: the stylesheet, script and icon, compiled in.
//! 3. Rendering and request helpers.
//!    - [`area`]: [`Area`], what each area hands the router.
//!    - [`html`]: the page frame, URL encoding and number formats.
//!    - [`chart`]: time-series charts as SVG.
//!    - [`params`]: strict query parameters and checked time ranges.
//! 4. What every handler shares.
//!    - [`state`]: the lake, limits, navigation, caches ([`AppState`]).
//!    - [`auth`]: tokens, sessions and roles ([`auth::Caller`]).
//!    - [`metrics`]: the server's own request counters and latency histograms.
//! 5. The bottom: no imports from the crate.
//!    - [`config`]: `[serve]` in `tollgate.toml` ([`ServeConfig`], [`Role`]).
//!    - [`clock`]: "now", injected ([`Clock`]).
//!    - [`error`]: [`ApiError`] (status + stable code, answered as
//!      [`error::ErrorBody`]) and [`ServeError`].

pub mod app;
pub mod area;
pub mod assets;
pub mod auth;
pub mod chart;
pub mod clock;
pub mod config;
pub mod error;
pub mod html;
pub mod invoices;
pub mod login;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod pg;
pub mod selfservice;
pub mod sql;
pub mod state;
pub mod traffic;

pub use app::{ServeSettings, build, router, run, run_blocking, serve_on};
pub use area::Area;
pub use clock::{Clock, SystemClock};
pub use config::{Role, ServeConfig, TokenSource};
pub use error::{ApiError, ServeError};
pub use state::{AppState, NavLink};
