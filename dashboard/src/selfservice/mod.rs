//! Consumer self-service: what a developer portal embeds for one API
//! consumer, read with that consumer's own token (`[serve.consumer_tokens]`).
//!
//! The consumer is taken from the token (see [`crate::login::consumer_guard`]),
//! never from the path or the query, so no request can name another
//! consumer; role tokens are refused here (they have `/api/consumers` and
//! `/api/invoices`). Only finalized invoices and credit notes are shown:
//! drafts are still under review by finance.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use tollgate_billing::credit_note::{self, CreditNoteNumber};
use tollgate_billing::invoice::{InvoiceNumber, Status};
use tollgate_billing::period::Period;
use tollgate_billing::render;
use tollgate_invoicing::Ledger;

use crate::area::Area;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, code};
use crate::invoices::{csv_download, html_download, split_format, stored_json};
use crate::params::{RangeParams, StrictQuery};
use crate::state::AppState;
use crate::traffic::data::{self, Metrics, MonthToDate, Point, QuotaState, Range};
use utoipa::{OpenApi, ToSchema};

/// The area's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(usage, invoices, invoice, credit_note))]
struct Doc;

/// The self-service routes, behind the consumer guard.
pub fn area() -> Area {
    let routes = Router::<AppState>::new()
        .route("/api/self", get(usage))
        .route("/api/self/invoices", get(invoices))
        .route("/api/self/invoices/{period}", get(invoice))
        .route(
            "/api/self/credit-notes/{period}/{invoice}",
            get(credit_note),
        );
    Area::consumer_scoped("self")
        .routes(routes)
        .openapi(Doc::openapi())
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

/// `GET /api/self`: the token's consumer's usage.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SelfUsage {
    /// The range answered.
    #[serde(flatten)]
    pub range: Range,
    /// The token's consumer.
    pub consumer: String,
    /// The whole range's figures.
    pub totals: Metrics,
    /// One point per bucket with calls.
    pub series: Vec<Point>,
    /// Null without `[billing]` plans or for a consumer without a
    /// subscription.
    pub month_to_date: Option<MonthToDate>,
    /// The consumer's quotas in their current windows; null without plans.
    pub quotas: Option<Vec<QuotaState>>,
}

/// One finalized invoice in `GET /api/self/invoices`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SelfInvoice {
    /// The period.
    #[schema(value_type = String, example = "2026-10")]
    pub period: Period,
    /// The invoice number.
    #[schema(value_type = Option<String>)]
    pub number: Option<InvoiceNumber>,
    /// The currency.
    pub currency: String,
    /// Exact decimal total.
    #[schema(value_type = String, example = "412.50")]
    pub total: rust_decimal::Decimal,
    /// What is left to pay after prepaid credits (the total when none).
    #[schema(value_type = String, example = "362.50")]
    pub amount_due: rust_decimal::Decimal,
}

/// One finalized credit note in `GET /api/self/invoices`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SelfCreditNote {
    /// The period whose run issued it (the path of its document).
    #[schema(value_type = String, example = "2026-11")]
    pub period: Period,
    /// The credit note number.
    #[schema(value_type = Option<String>)]
    pub number: Option<CreditNoteNumber>,
    /// The invoice it credits.
    #[schema(value_type = String, example = "INV-2026-000007")]
    pub invoice: InvoiceNumber,
    /// The currency.
    pub currency: String,
    /// Exact decimal total: negative, the change of the credited invoice.
    #[schema(value_type = String, example = "-26.00")]
    pub total: rust_decimal::Decimal,
}

/// `GET /api/self/invoices`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SelfInvoices {
    /// The token's consumer.
    pub consumer: String,
    /// Its finalized invoices, newest first.
    pub invoices: Vec<SelfInvoice>,
    /// Its finalized credit notes (late usage that lowered an invoice),
    /// newest first.
    pub credit_notes: Vec<SelfCreditNote>,
}

/// `GET /api/self`: the caller's totals and series over the range, and its
/// month-to-date charges.
#[utoipa::path(
    get,
    path = "/api/self",
    tag = "self-service",
    summary = "The token's consumer's totals and series over the range, and its month-to-date charges.",
    description = "For a consumer-scoped token ([serve.consumer_tokens]) only; the consumer comes from the token; role tokens get 403.",
    params(RangeParams),
    responses(
        (status = 200, description = "The consumer's usage.", body = SelfUsage),
        (status = 400, description = "Bad parameters: unknown_parameter, invalid_parameter, invalid_date, invalid_range, range_too_large, invalid_bucket.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "Not a consumer-scoped token (forbidden).", body = ErrorBody),
    )
)]
async fn usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<StrictQuery<RangeParams>, ApiError>,
) -> Result<Json<SelfUsage>, ApiError> {
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
        data::quota_list(&state, &lake, consumer)
    )?;
    Ok(Json(SelfUsage {
        range: Range::of(&r),
        consumer: consumer.to_string(),
        totals: Metrics::of(&totals),
        series: Point::all(&series),
        month_to_date: est.and_then(|e| data::month_to_date(&e, consumer)),
        quotas,
    }))
}

fn ledger(state: &AppState) -> Result<Ledger, ApiError> {
    Ledger::open(state.lake.location()).map_err(ApiError::internal)
}

/// `GET /api/self/invoices`: the caller's finalized invoices, newest first.
#[utoipa::path(
    get,
    path = "/api/self/invoices",
    tag = "self-service",
    summary = "The token's consumer's finalized invoices and credit notes, newest first (drafts are not shown).",
    description = "For a consumer-scoped token only.",
    responses(
        (status = 200, description = "Invoices.", body = SelfInvoices),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "Not a consumer-scoped token (forbidden).", body = ErrorBody),
    )
)]
async fn invoices(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SelfInvoices>, ApiError> {
    let consumer = me(&caller)?;
    let periods = ledger(&state)?
        .periods()
        .await
        .map_err(ApiError::internal)?;
    let list = periods
        .iter()
        .rev()
        .filter(|p| p.status == Status::Finalized)
        .filter_map(|p| {
            p.invoices
                .iter()
                .find(|i| i.consumer == consumer)
                .map(|i| SelfInvoice {
                    period: p.period,
                    number: i.number.clone(),
                    currency: i.currency.clone(),
                    total: i.total,
                    amount_due: i.due(),
                })
        })
        .collect();
    let notes = periods
        .iter()
        .rev()
        .filter(|p| p.status == Status::Finalized)
        .flat_map(|p| {
            p.credit_notes
                .iter()
                .filter(|n| n.consumer == consumer)
                .map(|n| SelfCreditNote {
                    period: p.period,
                    number: n.number.clone(),
                    invoice: n.invoice.clone(),
                    currency: n.currency.clone(),
                    total: n.total,
                })
        })
        .collect();
    Ok(Json(SelfInvoices {
        consumer: consumer.to_string(),
        invoices: list,
        credit_notes: notes,
    }))
}

/// `GET /api/self/invoices/2026-10[.json|.html|.csv]`: one of the caller's
/// finalized invoices (the JSON is the stored bytes).
#[utoipa::path(
    get,
    path = "/api/self/invoices/{period}",
    tag = "self-service",
    summary = "One finalized invoice of the token's consumer: `2026-10` or `2026-10.json` (the stored bytes), `.html` (printable), `.csv`.",
    description = "For a consumer-scoped token only.",
    params(("period" = String, Path, example = "2026-10.csv", description = "The period, with an optional format suffix.")),
    responses(
        (status = 200, description = "The invoice.", content(
            (Object = "application/json"),
            (String = "text/html"),
            (String = "text/csv"),
        )),
        (status = 400, description = "invalid_date or invalid_parameter.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "Not a consumer-scoped token (forbidden).", body = ErrorBody),
        (status = 404, description = "No finalized invoice for the period (not_found).", body = ErrorBody),
    )
)]
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
            stored_json(bytes)
        }
        Some("html") => html_download(render::html(&inv), &number),
        Some("csv") => csv_download(render::csv(std::slice::from_ref(&inv)), &number),
        Some(other) => {
            return Err(ApiError::bad_request(
                code::INVALID_PARAMETER,
                format!("no {other} form of an invoice; use .json, .html or .csv"),
            ));
        }
    })
}

/// `GET /api/self/credit-notes/2026-11/INV-2026-000007[.json|.html|.csv]`:
/// one of the caller's finalized credit notes, by the period that issued
/// it and the invoice it credits (the JSON is the stored bytes).
#[utoipa::path(
    get,
    path = "/api/self/credit-notes/{period}/{invoice}",
    tag = "self-service",
    summary = "One finalized credit note of the token's consumer: the stored JSON (no extension or .json), printable .html, or .csv.",
    description = "For a consumer-scoped token only. Another consumer's note is not found, as if it did not exist.",
    params(
        ("period" = String, Path, example = "2026-11", description = "The period whose run issued the note."),
        ("invoice" = String, Path, example = "INV-2026-000007.html", description = "The credited invoice's number, with an optional format suffix."),
    ),
    responses(
        (status = 200, description = "The credit note.", content(
            (Object = "application/json"),
            (String = "text/html"),
            (String = "text/csv"),
        )),
        (status = 400, description = "invalid_date.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "Not a consumer-scoped token (forbidden).", body = ErrorBody),
        (status = 404, description = "No finalized credit note of the consumer for that invoice (not_found).", body = ErrorBody),
    )
)]
async fn credit_note(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((period, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let consumer = me(&caller)?;
    let period: Period = period
        .parse()
        .map_err(|e: tollgate_billing::period::PeriodError| {
            ApiError::bad_request(code::INVALID_DATE, e.to_string())
        })?;
    let (invoice, ext) = split_format(&name);
    let invoice = InvoiceNumber(invoice.to_string());
    let ledger = ledger(&state)?;
    let not_found = || {
        ApiError::not_found(format!(
            "no finalized credit note for {invoice} in {period}"
        ))
    };
    // Another consumer's note is answered as missing: the path must not
    // tell whether it exists.
    let note = ledger
        .credit_note(period, &invoice)
        .await
        .map_err(ApiError::internal)?
        .filter(|n| n.status == Status::Finalized && n.consumer == consumer)
        .ok_or_else(not_found)?;
    let stem = note.label();
    Ok(match ext {
        None | Some("json") => {
            let bytes = ledger
                .credit_note_bytes(period, &invoice)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(not_found)?;
            stored_json(bytes)
        }
        Some("html") => html_download(credit_note::html(&note), &stem),
        Some(_) => csv_download(credit_note::csv(std::slice::from_ref(&note)), &stem),
    })
}
