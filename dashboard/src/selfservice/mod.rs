//! Consumer self-service: what a developer portal embeds for one API
//! consumer, read with that consumer's own token (`[serve.consumer_tokens]`).
//!
//! The consumer is taken from the token (see [`crate::login::consumer_guard`]),
//! never from the path or the query, so no request can name another
//! consumer; role tokens are refused here (they have `/api/consumers` and
//! `/api/invoices`). Only finalized invoices are shown: drafts are still
//! under review by finance.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tollgate_billing::invoice::Status;
use tollgate_billing::period::Period;
use tollgate_billing::render;
use tollgate_invoicing::Ledger;

use crate::area::Area;
use crate::auth::Caller;
use crate::error::{ApiError, code};
use crate::invoices::attachment;
use crate::params::{RangeParams, StrictQuery};
use crate::state::AppState;
use crate::traffic::data;

/// The self-service routes, behind the consumer guard.
pub fn area() -> Area {
    let routes = Router::<AppState>::new()
        .route("/api/self", get(usage))
        .route("/api/self/invoices", get(invoices))
        .route("/api/self/invoices/{period}", get(invoice));
    Area::consumer_scoped("self")
        .routes(routes)
        .openapi(include_str!("openapi.json"))
}

/// The guard put the caller there; without a consumer the guard refused.
fn me(caller: &Caller) -> Result<&str, ApiError> {
    caller.consumer.as_deref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "no consumer",
        )
    })
}

/// `GET /api/self`: the caller's totals and series over the range, and its
/// month-to-date charges.
async fn usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<StrictQuery<RangeParams>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    // Who the caller is is checked before the query, as it always was.
    let consumer = me(&caller)?;
    let StrictQuery(p) = query?;
    let lake = data::lake(&state).await?;
    let r = data::range(&state, &lake, &p).await?;
    let c = Some(consumer);
    let (totals, series, est, quotas) = tokio::try_join!(
        data::totals(&lake, &r, c),
        data::series(&lake, &r, c),
        data::estimates(&state, &lake),
        data::quotas(&state, &lake, consumer)
    )?;
    let mut out = data::range_json(&r);
    out.insert("consumer".into(), json!(consumer));
    out.insert("totals".into(), Value::Object(data::metrics_json(&totals)));
    out.insert(
        "series".into(),
        Value::Array(series.iter().map(data::point_json).collect()),
    );
    out.insert(
        "month_to_date".into(),
        est.map_or(Value::Null, |e| data::estimate_json(&e, consumer)),
    );
    out.insert("quotas".into(), quotas);
    Ok(Json(Value::Object(out)))
}

fn ledger(state: &AppState) -> Result<Ledger, ApiError> {
    Ledger::open(state.lake.location()).map_err(ApiError::internal)
}

/// `GET /api/self/invoices`: the caller's finalized invoices, newest first.
async fn invoices(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let consumer = me(&caller)?;
    let periods = ledger(&state)?
        .periods()
        .await
        .map_err(ApiError::internal)?;
    let list: Vec<Value> = periods
        .iter()
        .rev()
        .filter(|p| p.status == Status::Finalized)
        .filter_map(|p| {
            p.invoices.iter().find(|i| i.consumer == consumer).map(|i| {
                json!({
                    "period": p.period,
                    "number": i.number,
                    "currency": i.currency,
                    "total": i.total,
                })
            })
        })
        .collect();
    Ok(Json(json!({ "consumer": consumer, "invoices": list })))
}

/// `GET /api/self/invoices/2026-10[.json|.html|.csv]`: one of the caller's
/// finalized invoices (the JSON is the stored bytes).
async fn invoice(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let consumer = me(&caller)?;
    let (stem, ext) = match name.split_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (name.as_str(), None),
    };
    let period: Period = stem
        .parse()
        .map_err(|e: tollgate_billing::period::PeriodError| {
            ApiError::bad_request(code::INVALID_DATE, e.to_string())
        })?;
    let ledger = ledger(&state)?;
    let not_found = || ApiError::not_found(format!("no finalized invoice for {period}"));
    let inv = ledger
        .invoice(period, consumer)
        .await
        .map_err(ApiError::internal)?
        .filter(|i| i.status == Status::Finalized)
        .ok_or_else(not_found)?;
    let number = inv
        .number
        .as_ref()
        .map_or_else(String::new, |n| n.0.clone());
    Ok(match ext {
        None | Some("json") => {
            let bytes = ledger
                .invoice_bytes(period, consumer)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(not_found)?;
            let mut r = bytes.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Some("html") => attachment(
            render::html(&inv).into_bytes(),
            "text/html; charset=utf-8",
            &format!("{number}.html"),
        ),
        Some("csv") => attachment(
            render::csv(std::slice::from_ref(&inv)).into_bytes(),
            "text/csv; charset=utf-8",
            &format!("{number}.csv"),
        ),
        Some(other) => {
            return Err(ApiError::bad_request(
                code::INVALID_PARAMETER,
                format!("no {other} form of an invoice; use .json, .html or .csv"),
            ));
        }
    })
}
