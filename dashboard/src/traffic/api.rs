//! The traffic JSON API (role viewer): series, top-N, consumers, one
//! consumer, routes. Every handler reads its parameters strictly and
//! answers bad ones with a 4xx [`ApiError`].

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tollgate_aggregator::traffic::{Dim, TopOrder};

use super::data;
use crate::error::{ApiError, code};
use crate::params::{
    AlertsParams, ConsumerParams, ConsumersParams, RoutesParams, StrictQuery, TopParams,
    TrafficParams, count,
};
use crate::state::AppState;

type ApiResult = Result<Json<Value>, ApiError>;

/// The consumer from the path (a decoding failure is a 400, not a 500).
pub fn consumer_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(c)| c)
        .map_err(|e| ApiError::bad_request(code::INVALID_PARAMETER, e.body_text()))
}

/// `GET /api/traffic`: totals and a series over a range.
pub async fn traffic(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<TrafficParams>,
) -> ApiResult {
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
    let mut out = data::range_json(&r);
    out.insert("consumer".into(), json!(consumer));
    out.insert("totals".into(), Value::Object(data::metrics_json(&totals)));
    out.insert(
        "series".into(),
        Value::Array(series.iter().map(data::point_json).collect()),
    );
    Ok(Json(Value::Object(out)))
}

/// `GET /api/top`: the first `n` groups by `order`.
pub async fn top(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<TopParams>,
) -> ApiResult {
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
    let mut out = data::range_json(&r);
    out.insert("by".into(), json!(by.name()));
    out.insert("order".into(), json!(p.order.as_deref().unwrap_or("calls")));
    out.insert(
        "rows".into(),
        Value::Array(
            rows.iter()
                .map(|row| data::group_json(&[by], row))
                .collect(),
        ),
    );
    Ok(Json(Value::Object(out)))
}

/// `GET /api/consumers`: every consumer with calls in the range.
pub async fn consumers(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<ConsumersParams>,
) -> ApiResult {
    let order = data::order(p.order.as_deref())?;
    let lake = data::lake(&state).await?;
    let r = data::range(&state, &lake, &p.range()).await?;
    let (rows, est) = tokio::try_join!(
        data::rows(&lake, &r, None, vec![Dim::Consumer], None),
        data::estimates(&state, &lake)
    )?;
    let rows = data::ranked(rows, order);
    let mut out = data::range_json(&r);
    out.insert(
        "consumers".into(),
        Value::Array(
            rows.iter()
                .map(|row| {
                    let mut v = data::group_json(&[Dim::Consumer], row);
                    if let (Some(e), Some(Some(c)), Value::Object(m)) =
                        (&est, row.group.first(), &mut v)
                    {
                        m.insert("month_to_date".into(), data::estimate_json(e, c));
                    }
                    v
                })
                .collect(),
        ),
    );
    Ok(Json(Value::Object(out)))
}

/// `GET /api/consumers/{consumer}`: one consumer's totals, series and top routes.
pub async fn consumer(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<StrictQuery<ConsumerParams>, ApiError>,
) -> ApiResult {
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
        data::quotas(&state, &lake, &consumer)
    )?;
    let routes = tollgate_aggregator::traffic::top(routes, TopOrder::Calls, n);
    let mut out = data::range_json(&r);
    out.insert("consumer".into(), json!(consumer));
    if let Some(e) = &est {
        out.insert("month_to_date".into(), data::estimate_json(e, &consumer));
    }
    out.insert("quotas".into(), quotas);
    out.insert("totals".into(), Value::Object(data::metrics_json(&totals)));
    out.insert(
        "series".into(),
        Value::Array(series.iter().map(data::point_json).collect()),
    );
    out.insert(
        "routes".into(),
        Value::Array(
            routes
                .iter()
                .map(|row| data::group_json(&by, row))
                .collect(),
        ),
    );
    Ok(Json(Value::Object(out)))
}

/// `GET /api/alerts`: firing alerts and recent signals (`tollgate watch`).
pub async fn alerts(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<AlertsParams>,
) -> ApiResult {
    let n = count("limit", p.limit.as_deref(), 50, 1000)?;
    Ok(Json(data::alerts(&state, n).await?))
}

/// `GET /api/routes`: calls, errors and latency per API and route.
pub async fn routes(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<RoutesParams>,
) -> ApiResult {
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
    let mut out = data::range_json(&r);
    out.insert("consumer".into(), json!(consumer));
    out.insert(
        "routes".into(),
        Value::Array(rows.iter().map(|row| data::group_json(&by, row)).collect()),
    );
    Ok(Json(Value::Object(out)))
}
