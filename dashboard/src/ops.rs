//! Routes for operators and machines, open to every caller: `/healthz`
//! (the process answers), `/readyz` (the lake opens and its rollups can be
//! read), `/metrics` (Prometheus text: this server's requests, the lake's
//! freshness, and the ingest metrics file when one is configured).
//!
//! None of them shows a consumer, a token or a query.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_aggregator::{AnalyticsError, inventory};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: 200 while the process serves.
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: 200 when the lake opens and the rollups can be read,
/// else 503 with the error.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let check = async {
        let lake = state.lake.open_fresh().await?;
        inventory::extent(&lake).await
    };
    match check.await {
        Ok(extent) => Json(json!({
            "status": "ready",
            "rollups_last_hour": extent.map(|(_, last)| last.to_rfc3339()),
        }))
        .into_response(),
        // Not ready, whatever the cause: the lake cannot be read.
        Err(e) => ApiError::from(AnalyticsError::Lake(e.to_string())).into_response(),
    }
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP tollgate_build_info The running version.");
    let _ = writeln!(out, "# TYPE tollgate_build_info gauge");
    let _ = writeln!(
        out,
        "tollgate_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "# HELP tollgate_serve_uptime_seconds Seconds since the server started."
    );
    let _ = writeln!(out, "# TYPE tollgate_serve_uptime_seconds gauge");
    let _ = writeln!(
        out,
        "tollgate_serve_uptime_seconds {:.3}",
        state.started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "# HELP tollgate_sql_queries_running Analyst queries holding a slot (running, or stopping after their time limit); at [analytics] sql_max_concurrent, new ones wait, then get 503 busy."
    );
    let _ = writeln!(out, "# TYPE tollgate_sql_queries_running gauge");
    let _ = writeln!(out, "tollgate_sql_queries_running {}", state.sql.running());
    state.http.render(&mut out);

    // The lake's freshness: one query the Parquet statistics answer.
    let extent = match state.lake.get().await {
        Ok(lake) => inventory::extent(&lake).await.ok(),
        Err(_) => None,
    };
    let _ = writeln!(
        out,
        "# HELP tollgate_lake_up Whether the lake and its rollups could be read."
    );
    let _ = writeln!(out, "# TYPE tollgate_lake_up gauge");
    let _ = writeln!(out, "tollgate_lake_up {}", u8::from(extent.is_some()));
    if let Some(Some((_, last))) = extent {
        let _ = writeln!(
            out,
            "# HELP tollgate_rollups_last_hour_timestamp_seconds Start of the newest hour in the hourly rollups."
        );
        let _ = writeln!(
            out,
            "# TYPE tollgate_rollups_last_hour_timestamp_seconds gauge"
        );
        let _ = writeln!(
            out,
            "tollgate_rollups_last_hour_timestamp_seconds {}",
            last.timestamp()
        );
    }
    // The ingest process writes its counters to a file (ingest.metrics_file);
    // passing it on lets one scrape cover the pipeline.
    if let Some(path) = &state.metrics_file
        && let Ok(text) = tokio::fs::read_to_string(path).await
    {
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    let mut res = (StatusCode::OK, out).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
