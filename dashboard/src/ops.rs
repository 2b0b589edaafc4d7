//! Routes for operators and machines, open to every caller: `/healthz`
//! (the process answers), `/readyz` (the lake opens and its rollups can be
//! read), `/metrics` (Prometheus text: this server's requests, the lake's
//! freshness, and the ingest metrics file when one is configured).
//!
//! None of them shows a consumer, a token or a query.

use std::sync::atomic::{AtomicI64, AtomicU64};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tollgate_aggregator::{AnalyticsError, inventory};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `GET /healthz`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: Alive,
}

/// The one status `/healthz` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Alive {
    /// The process answers.
    Ok,
}

/// The one status `/readyz` answers with 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// The lake opens and its rollups can be read.
    Ready,
}

/// `GET /readyz`'s body when ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: Readiness,
    /// Start of the newest hour in the rollups (RFC 3339), null without any.
    #[schema(format = DateTime)]
    pub rollups_last_hour: Option<String>,
}

/// `GET /healthz`: 200 while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "public",
    summary = "Liveness: the process answers.",
    security(()),
    responses((status = 200, description = "Alive.", body = Health))
)]
pub async fn healthz() -> Response {
    Json(Health { status: Alive::Ok }).into_response()
}

/// `GET /readyz`: 200 when the lake opens and the rollups can be read,
/// else 503 with the error.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "public",
    summary = "Readiness: the lake opens and its rollups can be read.",
    security(()),
    responses(
        (status = 200, description = "Ready.", body = Ready),
        (status = 503, description = "lake_unavailable.", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let check = async {
        let lake = state.lake.open_fresh().await?;
        inventory::extent(&lake).await
    };
    match check.await {
        Ok(extent) => Json(Ready {
            status: Readiness::Ready,
            rollups_last_hour: extent.map(|(_, last)| last.to_rfc3339()),
        })
        .into_response(),
        // Not ready, whatever the cause: the lake cannot be read.
        Err(e) => ApiError::from(AnalyticsError::Lake(e.to_string())).into_response(),
    }
}

/// The label of `tollgate_build_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The content type of OpenMetrics text, which Prometheus asks for first.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`: Prometheus text, or OpenMetrics when the scraper's
/// `Accept` asks for it (the same lines plus the closing `# EOF`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "public",
    summary = "Prometheus text: this server's requests and latency per route, the rollups' newest hour, and the ingest metrics file when configured.",
    description = "OpenMetrics text (ending in `# EOF`) when `Accept` asks for application/openmetrics-text.",
    security(()),
    responses((status = 200, description = "Metrics.", content(
        (String = "text/plain"),
        (String = "application/openmetrics-text"),
    )))
)]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // One registry per scrape: the gauges are read now, and the request
    // metrics are handles that share their values with `state.http`.
    let mut registry = Registry::default();
    let build = Family::<BuildLabels, Gauge>::default();
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
    registry.register("tollgate_build_info", "The running version", build);
    let uptime = Gauge::<f64, AtomicU64>::default();
    uptime.set(state.started.elapsed().as_secs_f64());
    registry.register(
        "tollgate_serve_uptime_seconds",
        "Seconds since the server started",
        uptime,
    );
    let running = Gauge::<i64, AtomicI64>::default();
    running.set(i64::try_from(state.sql.running()).unwrap_or(i64::MAX));
    registry.register(
        "tollgate_sql_queries_running",
        "Analyst queries holding a slot (running, or stopping after their time limit); at [analytics] sql_max_concurrent, new ones wait, then get 503 busy",
        running,
    );
    state.http.register(&mut registry);

    // The lake's freshness: one query the Parquet statistics answer.
    let extent = match state.lake.get().await {
        Ok(lake) => inventory::extent(&lake).await.ok(),
        Err(_) => None,
    };
    let up = Gauge::<i64, AtomicI64>::default();
    up.set(i64::from(extent.is_some()));
    registry.register(
        "tollgate_lake_up",
        "Whether the lake and its rollups could be read",
        up,
    );
    // Absent, not zero, while there are no rollups: an alert on staleness
    // then fires on absence rather than on a 1970 timestamp.
    if let Some(Some((_, last))) = extent {
        let hour = Gauge::<i64, AtomicI64>::default();
        hour.set(last.timestamp());
        registry.register(
            "tollgate_rollups_last_hour_timestamp_seconds",
            "Start of the newest hour in the hourly rollups",
            hour,
        );
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode_registry(&mut out, &registry);
    // The ingest process writes its counters to a file (ingest.metrics_file);
    // passing it on lets one scrape cover the pipeline.
    if let Some(path) = &state.metrics_file
        && let Ok(text) = tokio::fs::read_to_string(path).await
    {
        // Only one `# EOF` may close an OpenMetrics exposition.
        for line in text.lines().filter(|l| l.trim_end() != "# EOF") {
            out.push_str(line);
            out.push('\n');
        }
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        let _ = encode_eof(&mut out);
        OPENMETRICS
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    let mut res = (StatusCode::OK, out).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}
