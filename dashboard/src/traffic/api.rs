//! The traffic JSON API (role viewer): series, top-N, consumers, one
//! consumer, routes. Every handler reads its parameters strictly and
//! answers bad ones with a 4xx [`ApiError`]. The bodies are the types
//! here and in [`data`], from which the OpenAPI document is derived.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::Serialize;
use tollgate_aggregator::query::{Dim, TopOrder};
use utoipa::ToSchema;

use super::data::{
    self, Alerts, GroupRow, Metrics, MonthToDate, Point, QuotaState, Range, RouteRow,
};
use crate::error::{ApiError, ErrorBody, code};
use crate::params::{
    AlertsParams, ConsumerParams, ConsumersParams, RoutesParams, StrictQuery, TopParams,
    TrafficParams, count,
};
use crate::state::AppState;

/// `GET /api/traffic`: totals and a series over a range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrafficSeries {
    /// The range answered.
    #[serde(flatten)]
    pub range: Range,
    /// The consumer asked for, or null for all.
    pub consumer: Option<String>,
    /// The whole range's figures.
    pub totals: Metrics,
    /// One point per bucket with calls; buckets without calls are left out.
    pub series: Vec<Point>,
}

/// `GET /api/top`: the first `n` groups.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TopList {
    /// The range answered.
    #[serde(flatten)]
    pub range: Range,
    /// The dimension grouped by.
    pub by: &'static str,
    /// The ranking, as asked.
    pub order: String,
    /// The groups, first first; each names its `by` dimension.
    pub rows: Vec<GroupRow>,
}

/// A consumer's row in `GET /api/consumers`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConsumerRow {
    /// The consumer (null for anonymous calls).
    pub consumer: Option<String>,
    /// Present when `[billing]` plans are configured and the row names a
    /// consumer; null for a consumer without a subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MonthToDate>)]
    pub month_to_date: Option<Option<MonthToDate>>,
    /// The consumer's figures.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// `GET /api/consumers`: every consumer with calls in the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConsumerList {
    /// The range answered.
    #[serde(flatten)]
    pub range: Range,
    /// The consumers, ranked.
    pub consumers: Vec<ConsumerRow>,
}

/// `GET /api/consumers/{consumer}`: one consumer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConsumerDetail {
    /// The range answered.
    #[serde(flatten)]
    pub range: Range,
    /// The consumer.
    pub consumer: String,
    /// Present when `[billing]` plans are configured; null for a consumer
    /// without a subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MonthToDate>)]
    pub month_to_date: Option<Option<MonthToDate>>,
    /// The consumer's quotas in their current windows; null without plans.
    pub quotas: Option<Vec<QuotaState>>,
    /// The whole range's figures.
    pub totals: Metrics,
    /// One point per bucket with calls.
    pub series: Vec<Point>,
    /// The consumer's top routes by calls.
    pub routes: Vec<RouteRow>,
}

/// `GET /api/routes`: figures per API and route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RouteList {
    /// The range answered.
    #[serde(flatten)]
    pub range: Range,
    /// The consumer asked for, or null for all.
    pub consumer: Option<String>,
    /// The routes, ranked.
    pub routes: Vec<RouteRow>,
}

/// The consumer from the path (a decoding failure is a 400, not a 500).
pub fn consumer_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(c)| c)
        .map_err(|e| ApiError::bad_request(code::INVALID_PARAMETER, e.body_text()))
}

/// `GET /api/traffic`: totals and a series over a range.
#[utoipa::path(
    get,
    path = "/api/traffic",
    tag = "traffic",
    summary = "Totals and a series (one point per bucket with calls) over a range, optionally for one consumer.",
    description = "Role viewer.",
    params(TrafficParams),
    responses(
        (status = 200, description = "The series.", body = TrafficSeries),
        (status = 400, description = "Bad parameters: unknown_parameter, invalid_parameter, invalid_date, invalid_range, range_too_large, invalid_bucket.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role viewer (forbidden).", body = ErrorBody),
        (status = 404, description = "unknown_consumer: the lake has never seen `consumer`.", body = ErrorBody),
    )
)]
pub async fn traffic(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<TrafficParams>,
) -> Result<Json<TrafficSeries>, ApiError> {
    let lake = data::lake(&state).await?;
    let consumer = p.consumer.as_deref();
    if let Some(c) = consumer {
        data::check_consumer(&lake, c).await?;
    }
    let r = data::range(&state, &lake, &p.range()).await?;
    let (totals, series) = tokio::try_join!(
        data::totals(&lake, &r, consumer),
        data::series(&lake, &r, consumer)
    )?;
    Ok(Json(TrafficSeries {
        range: Range::of(&r),
        consumer: consumer.map(String::from),
        totals: Metrics::of(&totals),
        series: Point::all(&series),
    }))
}

/// `GET /api/top`: the first `n` groups by `order`.
#[utoipa::path(
    get,
    path = "/api/top",
    tag = "traffic",
    summary = "The first n groups of a dimension, ranked.",
    description = "Role viewer.",
    params(TopParams),
    responses(
        (status = 200, description = "Ranked groups.", body = TopList),
        (status = 400, description = "Bad parameters: unknown_parameter, invalid_parameter, invalid_date, invalid_range, range_too_large, invalid_bucket.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role viewer (forbidden).", body = ErrorBody),
        (status = 404, description = "unknown_consumer: the lake has never seen `consumer`.", body = ErrorBody),
    )
)]
pub async fn top(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<TopParams>,
) -> Result<Json<TopList>, ApiError> {
    let by = Dim::parse(p.by.as_deref().unwrap_or("consumer"))
        .map_err(|e| ApiError::bad_request(code::INVALID_PARAMETER, e.to_string()))?;
    let order = data::order(p.order.as_deref())?;
    let n = count("n", p.n.as_deref(), 10, 1000)?;
    let lake = data::lake(&state).await?;
    let consumer = p.consumer.as_deref();
    if let Some(c) = consumer {
        data::check_consumer(&lake, c).await?;
    }
    let r = data::range(&state, &lake, &p.range()).await?;
    let rows = data::top(&lake, &r, vec![by], consumer, order, n).await?;
    Ok(Json(TopList {
        range: Range::of(&r),
        by: by.name(),
        order: p.order.clone().unwrap_or_else(|| "calls".into()),
        rows: rows.iter().map(|row| GroupRow::of(&[by], row)).collect(),
    }))
}

/// `GET /api/consumers`: every consumer with calls in the range.
#[utoipa::path(
    get,
    path = "/api/consumers",
    tag = "traffic",
    summary = "Every consumer with calls in the range (anonymous calls as consumer null), ranked.",
    description = "Role viewer.",
    params(ConsumersParams),
    responses(
        (status = 200, description = "Consumers.", body = ConsumerList),
        (status = 400, description = "Bad parameters: unknown_parameter, invalid_parameter, invalid_date, invalid_range, range_too_large, invalid_bucket.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role viewer (forbidden).", body = ErrorBody),
    )
)]
pub async fn consumers(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<ConsumersParams>,
) -> Result<Json<ConsumerList>, ApiError> {
    let order = data::order(p.order.as_deref())?;
    let lake = data::lake(&state).await?;
    let r = data::range(&state, &lake, &p.range()).await?;
    let (rows, est) = tokio::try_join!(
        data::rows(&lake, &r, None, vec![Dim::Consumer], None),
        data::estimates(&state, &lake)
    )?;
    let rows = data::ranked(rows, order);
    let consumers = rows
        .iter()
        .map(|row| {
            let consumer = row.group.first().cloned().flatten();
            ConsumerRow {
                month_to_date: match (&est, &consumer) {
                    (Some(e), Some(c)) => Some(data::month_to_date(e, c)),
                    _ => None,
                },
                consumer,
                metrics: Metrics::of(row),
            }
        })
        .collect();
    Ok(Json(ConsumerList {
        range: Range::of(&r),
        consumers,
    }))
}

/// `GET /api/consumers/{consumer}`: one consumer's totals, series and top routes.
#[utoipa::path(
    get,
    path = "/api/consumers/{consumer}",
    tag = "traffic",
    summary = "One consumer: totals, series and top routes.",
    description = "Role viewer. 404 unknown_consumer if the lake's rollups have never seen it.",
    params(("consumer" = String, Path, description = "The consumer."), ConsumerParams),
    responses(
        (status = 200, description = "The consumer.", body = ConsumerDetail),
        (status = 400, description = "Bad parameters: unknown_parameter, invalid_parameter, invalid_date, invalid_range, range_too_large, invalid_bucket.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role viewer (forbidden).", body = ErrorBody),
        (status = 404, description = "unknown_consumer.", body = ErrorBody),
    )
)]
pub async fn consumer(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<StrictQuery<ConsumerParams>, ApiError>,
) -> Result<Json<ConsumerDetail>, ApiError> {
    // The path is checked before the query, as it always was.
    let consumer = consumer_path(path)?;
    let StrictQuery(p) = query?;
    let n = count("routes", p.routes.as_deref(), 10, 1000)?;
    let lake = data::lake(&state).await?;
    data::check_consumer(&lake, &consumer).await?;
    let r = data::range(&state, &lake, &p.range()).await?;
    let c = Some(consumer.as_str());
    let by = [Dim::Api, Dim::Route];
    let (totals, series, routes, est, quotas) = tokio::try_join!(
        data::totals(&lake, &r, c),
        data::series(&lake, &r, c),
        data::rows(&lake, &r, None, by.to_vec(), c),
        data::estimates(&state, &lake),
        data::quota_list(&state, &lake, &consumer)
    )?;
    let routes = tollgate_aggregator::query::top(routes, TopOrder::Calls, n);
    Ok(Json(ConsumerDetail {
        range: Range::of(&r),
        month_to_date: est.map(|e| data::month_to_date(&e, &consumer)),
        consumer,
        quotas,
        totals: Metrics::of(&totals),
        series: Point::all(&series),
        routes: RouteRow::all(&routes),
    }))
}

/// `GET /api/alerts`: firing alerts and recent signals (`tollgate watch`).
#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "traffic",
    summary = "Firing alert rules and the most recent quota and alert signals (from `tollgate watch`), newest first.",
    description = "Role viewer.",
    params(AlertsParams),
    responses(
        (status = 200, description = "Alerts.", body = Alerts),
        (status = 400, description = "invalid_parameter or unknown_parameter.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role viewer (forbidden).", body = ErrorBody),
    )
)]
pub async fn alerts(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<AlertsParams>,
) -> Result<Json<Alerts>, ApiError> {
    let n = count("limit", p.limit.as_deref(), 50, 1000)?;
    Ok(Json(data::alert_list(&state, n).await?))
}

/// `GET /api/routes`: calls, errors and latency per API and route.
#[utoipa::path(
    get,
    path = "/api/routes",
    tag = "traffic",
    summary = "Calls, errors and latency per API and route, ranked.",
    description = "Role viewer.",
    params(RoutesParams),
    responses(
        (status = 200, description = "Routes.", body = RouteList),
        (status = 400, description = "Bad parameters: unknown_parameter, invalid_parameter, invalid_date, invalid_range, range_too_large, invalid_bucket.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role viewer (forbidden).", body = ErrorBody),
        (status = 404, description = "unknown_consumer: the lake has never seen `consumer`.", body = ErrorBody),
    )
)]
pub async fn routes(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<RoutesParams>,
) -> Result<Json<RouteList>, ApiError> {
    let order = data::order(p.order.as_deref())?;
    let lake = data::lake(&state).await?;
    let consumer = p.consumer.as_deref();
    if let Some(c) = consumer {
        data::check_consumer(&lake, c).await?;
    }
    let r = data::range(&state, &lake, &p.range()).await?;
    let by = [Dim::Api, Dim::Route];
    let rows = data::rows(&lake, &r, None, by.to_vec(), consumer).await?;
    let rows = data::ranked(rows, order);
    Ok(Json(RouteList {
        range: Range::of(&r),
        consumer: consumer.map(String::from),
        routes: RouteRow::all(&rows),
    }))
}
