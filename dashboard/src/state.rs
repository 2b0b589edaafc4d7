//! What every handler shares: the lake (re-opened now and then), the
//! caller checks, the limits, the request counters and the clock.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate_aggregator::{AnalyticsConfig, AnalyticsError, Lake, SqlGate};
use tollgate_billing::Billing;
use tollgate_invoicing::Estimates;

use crate::auth::Auth;
use crate::clock::Clock;
use crate::config::Role;
use crate::metrics::HttpMetrics;

/// A link in the page header, shown to callers holding `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavLink {
    /// The link text.
    pub label: &'static str,
    /// Where it goes (a page of the area).
    pub href: &'static str,
    /// The role it needs (the area's).
    pub role: Role,
}

/// Limits on what one request may ask, from `[serve]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest range, in days.
    pub max_range_days: u32,
    /// Longest range answered per minute, in hours.
    pub max_minute_range_hours: u32,
    /// Rows of SQL results shown / returned as JSON.
    pub sql_max_rows: usize,
}

/// The lake, opened once and re-opened when older than `refresh`, so new
/// tables (the first rollup of a fresh lake) appear without a restart.
/// Files added to existing tables are seen at once: DataFusion lists a
/// table's files on every scan.
pub struct LakeCell {
    location: String,
    analytics: AnalyticsConfig,
    refresh: Duration,
    current: Mutex<Option<(Arc<Lake>, Instant)>>,
}

impl LakeCell {
    /// A cell for the lake at `location`; nothing is opened yet.
    pub fn new(location: String, analytics: AnalyticsConfig, refresh: Duration) -> Self {
        LakeCell {
            location,
            analytics,
            refresh,
            current: Mutex::new(None),
        }
    }

    /// Where the lake is, as configured.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The open lake, re-opened when stale.
    pub async fn get(&self) -> Result<Arc<Lake>, AnalyticsError> {
        if let Some((lake, at)) = &*self.current.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < self.refresh
        {
            return Ok(lake.clone());
        }
        // Opened outside the lock: two requests may both re-open, which is
        // harmless, and neither waits on the other's I/O while holding it.
        let lake = Arc::new(self.open_fresh().await?);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((lake.clone(), Instant::now()));
        Ok(lake)
    }

    /// Opens the lake anew, bypassing the cached one (for `/readyz`).
    pub async fn open_fresh(&self) -> Result<Lake, AnalyticsError> {
        // Whatever stops the lake from opening (a bad location, storage
        // that does not answer) is the lake's state, not a bad request.
        Lake::open(&self.location, &self.analytics)
            .await
            .map_err(|e| match e {
                AnalyticsError::Lake(_) => e,
                other => AnalyticsError::Lake(other.to_string()),
            })
    }
}

/// Everything the handlers share.
pub struct Shared {
    /// The lake.
    pub lake: LakeCell,
    /// The limits every analyst query shares (`[analytics] sql_*`).
    pub sql: SqlGate,
    /// Who may do what.
    pub auth: Auth,
    /// Request limits.
    pub limits: Limits,
    /// The server's own request counters.
    pub http: HttpMetrics,
    /// The ingest metrics file, appended to `/metrics` when present.
    pub metrics_file: Option<PathBuf>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The navigation links of every area, in order.
    pub nav: Vec<NavLink>,
    /// The OpenAPI document of every route, as served.
    pub openapi: String,
    /// When the server started.
    pub started: Instant,
    /// Plans and subscriptions, when configured.
    pub billing: Option<Arc<Billing>>,
    /// The latest month-to-date estimates and when they were computed.
    pub estimates: Mutex<Option<(Instant, Arc<Estimates>)>>,
    /// Every subscribed consumer's quota usage, counted at most every
    /// [`ESTIMATES_TTL`] (an async lock: one request counts, the others wait).
    pub quotas: tokio::sync::Mutex<QuotaCache>,
}

/// Quota usage of every subscribed consumer, and the earlier days of the
/// billing period behind it (recounted every [`PERIOD_REFRESH`]), as
/// `tollgate watch` keeps them.
#[derive(Default)]
pub struct QuotaCache {
    /// When `usage` was counted.
    pub at: Option<Instant>,
    /// The usage.
    pub usage: Arc<Vec<tollgate_signals::quota::QuotaUsage>>,
    /// The period's earlier days.
    pub period: tollgate_signals::quota::PeriodCache,
}

/// How often the earlier days of a billing-period quota are recounted.
pub const PERIOD_REFRESH: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// How long month-to-date estimates are reused before being recomputed.
pub const ESTIMATES_TTL: Duration = Duration::from_secs(60);

/// The state every handler gets: cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
