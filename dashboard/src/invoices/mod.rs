//! Finance: the invoice periods, each invoice and credit note (JSON,
//! printable HTML, CSV) and each period's CSVs, read from the billing
//! ledger in the lake (`tollgate_invoicing::Ledger`). Read-only: runs and
//! finalization stay on the command line, where they are reviewed and
//! scripted.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use maud::html;
use tollgate_billing::credit_note::{self, CreditNote};
use tollgate_billing::invoice::{Invoice, InvoiceNumber};
use tollgate_billing::period::Period;
use tollgate_billing::render;
use tollgate_invoicing::{Ledger, PeriodState};

use crate::area::Area;
use crate::auth::Caller;
use crate::config::Role;
use crate::error::{ApiError, ErrorBody, code};
use crate::html;
use crate::state::AppState;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The area's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(
    periods_page,
    period_page,
    invoice_page,
    periods_api,
    period_api,
    invoice_api,
    credit_note_page,
    credit_notes_api,
    credit_note_api
))]
struct Doc;

/// `GET /api/invoices/{period}` as JSON: the period's state and its
/// invoices. Both are billing's ledger records, written as billing's
/// serde writes them (docs/BILLING.md describes the fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodInvoices {
    /// The period's state: status, run time, invoices, run report.
    #[schema(value_type = Object)]
    pub period: PeriodState,
    /// The period's invoices, line by line.
    #[schema(value_type = Vec<Object>)]
    pub invoices: Vec<Invoice>,
}

/// `GET /api/credit-notes/{period}` as JSON: the credit notes the
/// period's run issued (billing's ledger records, docs/BILLING.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodCreditNotes {
    /// The period.
    #[schema(value_type = String, example = "2026-10")]
    pub period: Period,
    /// Its credit notes, line by line; totals are negative (the change of
    /// the credited invoice).
    #[schema(value_type = Vec<Object>)]
    pub credit_notes: Vec<CreditNote>,
}

/// The finance area: pages and API, all needing the `finance` role.
pub fn area() -> Area {
    let routes = Router::<AppState>::new()
        .route("/invoices", get(periods_page))
        .route("/invoices/{period}", get(period_page))
        .route("/invoices/{period}/{consumer}", get(invoice_page))
        .route("/api/invoices", get(periods_api))
        .route("/api/invoices/{period}", get(period_api))
        .route("/api/invoices/{period}/{consumer}", get(invoice_api))
        .route("/credit-notes/{period}/{invoice}", get(credit_note_page))
        .route("/api/credit-notes/{period}", get(credit_notes_api))
        .route("/api/credit-notes/{period}/{invoice}", get(credit_note_api));
    Area::new("invoices", Role::Finance)
        .nav("Invoices", "/invoices")
        .routes(routes)
        .openapi(Doc::openapi())
}

fn ledger(state: &AppState) -> Result<Ledger, ApiError> {
    Ledger::open(state.lake.location()).map_err(ApiError::internal)
}

fn period(s: &str) -> Result<Period, ApiError> {
    s.parse::<Period>()
        .map_err(|e| ApiError::bad_request(code::INVALID_DATE, e.to_string()))
}

async fn states(state: &AppState) -> Result<Vec<PeriodState>, ApiError> {
    ledger(state)?.periods().await.map_err(ApiError::internal)
}

async fn period_state(state: &AppState, p: Period) -> Result<PeriodState, ApiError> {
    ledger(state)?
        .state(p)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no invoices for {p}; run `tollgate invoice run --period {p}`"
            ))
        })
}

/// A download: `file.{json,html,csv}` → its content type and name.
pub(crate) fn split_format(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if ["json", "html", "csv"].contains(&ext) => (stem, Some(ext)),
        _ => (name, None),
    }
}

async fn invoice(state: &AppState, p: Period, consumer: &str) -> Result<Invoice, ApiError> {
    ledger(state)?
        .invoice(p, consumer)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no invoice for {consumer} in {p}")))
}

async fn note(state: &AppState, p: Period, invoice: &str) -> Result<CreditNote, ApiError> {
    ledger(state)?
        .credit_note(p, &InvoiceNumber(invoice.to_string()))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no credit note for invoice {invoice} in {p}")))
}

/// A download: `body` as `name`, of type `mime`.
pub(crate) fn attachment(body: Vec<u8>, mime: &'static str, name: &str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// A stored billing document (an invoice's or a credit note's JSON), sent
/// byte for byte as `application/json`.
pub(crate) fn stored_json(bytes: Vec<u8>) -> Response {
    let mut r = bytes.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A printable page, downloaded as `{stem}.html`.
pub(crate) fn html_download(page: String, stem: &str) -> Response {
    attachment(
        page.into_bytes(),
        "text/html; charset=utf-8",
        &format!("{stem}.html"),
    )
}

/// A CSV file, downloaded as `{stem}.csv`.
pub(crate) fn csv_download(csv: String, stem: &str) -> Response {
    attachment(
        csv.into_bytes(),
        "text/csv; charset=utf-8",
        &format!("{stem}.csv"),
    )
}

/// `GET /api/invoices`: every period's state.
#[utoipa::path(
    get,
    path = "/api/invoices",
    tag = "invoices",
    summary = "Every period's state: status, invoices (number, consumer, currency, total), run report.",
    description = "Role finance.",
    responses(
        (status = 200, description = "Periods, oldest first (billing's ledger records).", body = Vec<Object>),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role finance (forbidden).", body = ErrorBody),
    )
)]
async fn periods_api(State(state): State<AppState>) -> Result<Json<Vec<PeriodState>>, ApiError> {
    Ok(Json(states(&state).await?))
}

/// `/api/invoices/2026-10` (JSON: the period and its invoices) or
/// `/api/invoices/2026-10.csv` (one row per line item).
#[utoipa::path(
    get,
    path = "/api/invoices/{period}",
    tag = "invoices",
    summary = "A period and its invoices (JSON); `{period}.csv` gives one row per line item.",
    description = "Role finance.",
    params(("period" = String, Path, example = "2026-10", description = "`2026-10`, `2026-10.json` or `2026-10.csv`.")),
    responses(
        (status = 200, description = "JSON or CSV.", content(
            (PeriodInvoices = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "invalid_date or invalid_parameter (an unknown format).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role finance (forbidden).", body = ErrorBody),
        (status = 404, description = "No run for the period (not_found).", body = ErrorBody),
    )
)]
async fn period_api(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    // A period never contains a dot: any suffix is a format, known or not.
    let (stem, ext) = match name.split_once('.') {
        Some((stem, ext)) => (stem, Some(ext)),
        None => (name.as_str(), None),
    };
    let p = period(stem)?;
    let st = period_state(&state, p).await?;
    let invoices = ledger(&state)?
        .invoices(p)
        .await
        .map_err(ApiError::internal)?;
    match ext {
        Some("csv") => Ok(csv_download(
            render::csv(&invoices),
            &format!("invoices-{p}"),
        )),
        None | Some("json") => Ok(Json(PeriodInvoices {
            period: st,
            invoices,
        })
        .into_response()),
        Some(other) => Err(ApiError::bad_request(
            code::INVALID_PARAMETER,
            format!("no {other} form of a period; use .csv or .json"),
        )),
    }
}

/// `/api/invoices/2026-10/acme.json|.html|.csv`; no extension: JSON.
#[utoipa::path(
    get,
    path = "/api/invoices/{period}/{consumer}",
    tag = "invoices",
    summary = "One invoice: the stored JSON byte for byte (no extension or .json), printable .html, or .csv.",
    description = "Role finance.",
    params(
        ("period" = String, Path, example = "2026-10", description = "The period."),
        ("consumer" = String, Path, example = "acct-0001.html", description = "The consumer, with an optional format suffix."),
    ),
    responses(
        (status = 200, description = "The invoice.", content(
            (Object = "application/json"),
            (String = "text/html"),
            (String = "text/csv"),
        )),
        (status = 400, description = "invalid_date.", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role finance (forbidden).", body = ErrorBody),
        (status = 404, description = "No such invoice (not_found).", body = ErrorBody),
    )
)]
async fn invoice_api(
    State(state): State<AppState>,
    Path((p, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let p = period(&p)?;
    let (consumer, ext) = split_format(&name);
    let inv = invoice(&state, p, consumer).await?;
    let stem = inv
        .number
        .as_ref()
        .map_or_else(|| format!("draft-{p}-{consumer}"), |n| n.0.clone());
    Ok(match ext {
        None | Some("json") => {
            // The stored bytes, exactly as finalized.
            let bytes = ledger(&state)?
                .invoice_bytes(p, consumer)
                .await
                .map_err(ApiError::internal)?
                .unwrap_or_else(|| render::json(&inv).into_bytes());
            stored_json(bytes)
        }
        Some("html") => html_download(render::html(&inv), &stem),
        Some(_) => csv_download(render::csv(std::slice::from_ref(&inv)), &stem),
    })
}

/// `/api/credit-notes/2026-10` (JSON: the notes the period's run issued)
/// or `/api/credit-notes/2026-10.csv` (one row per note line).
#[utoipa::path(
    get,
    path = "/api/credit-notes/{period}",
    tag = "invoices",
    summary = "The credit notes a period's run issued (JSON); `{period}.csv` gives one row per note line.",
    description = "Role finance. A credit note lowers a finalized invoice of an earlier period; its total is negative.",
    params(("period" = String, Path, example = "2026-10", description = "`2026-10`, `2026-10.json` or `2026-10.csv`.")),
    responses(
        (status = 200, description = "JSON or CSV.", content(
            (PeriodCreditNotes = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "invalid_date or invalid_parameter (an unknown format).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role finance (forbidden).", body = ErrorBody),
        (status = 404, description = "No run for the period (not_found).", body = ErrorBody),
    )
)]
async fn credit_notes_api(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (stem, ext) = match name.split_once('.') {
        Some((stem, ext)) => (stem, Some(ext)),
        None => (name.as_str(), None),
    };
    let p = period(stem)?;
    period_state(&state, p).await?;
    let notes = ledger(&state)?
        .credit_notes(p)
        .await
        .map_err(ApiError::internal)?;
    match ext {
        Some("csv") => Ok(csv_download(
            credit_note::csv(&notes),
            &format!("credit-notes-{p}"),
        )),
        None | Some("json") => Ok(Json(PeriodCreditNotes {
            period: p,
            credit_notes: notes,
        })
        .into_response()),
        Some(other) => Err(ApiError::bad_request(
            code::INVALID_PARAMETER,
            format!("no {other} form of a period's credit notes; use .csv or .json"),
        )),
    }
}

/// `/api/credit-notes/2026-10/INV-2026-000007.json|.html|.csv`: the note
/// October's run issued for that invoice; no extension: JSON.
#[utoipa::path(
    get,
    path = "/api/credit-notes/{period}/{invoice}",
    tag = "invoices",
    summary = "One credit note, by the period that issued it and the invoice it credits: the stored JSON byte for byte (no extension or .json), printable .html, or .csv.",
    description = "Role finance.",
    params(
        ("period" = String, Path, example = "2026-10", description = "The period whose run issued the note."),
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
        (status = 403, description = "The credentials lack the role finance (forbidden).", body = ErrorBody),
        (status = 404, description = "No such credit note (not_found).", body = ErrorBody),
    )
)]
async fn credit_note_api(
    State(state): State<AppState>,
    Path((p, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let p = period(&p)?;
    let (invoice, ext) = split_format(&name);
    let n = note(&state, p, invoice).await?;
    let stem = n
        .number
        .as_ref()
        .map_or_else(|| format!("draft-credit-{p}-{invoice}"), |n| n.0.clone());
    Ok(match ext {
        None | Some("json") => {
            // The stored bytes, exactly as finalized.
            let bytes = ledger(&state)?
                .credit_note_bytes(p, &n.invoice)
                .await
                .map_err(ApiError::internal)?
                .unwrap_or_else(|| credit_note::json(&n).into_bytes());
            stored_json(bytes)
        }
        Some("html") => html_download(credit_note::html(&n), &stem),
        Some(_) => csv_download(credit_note::csv(std::slice::from_ref(&n)), &stem),
    })
}

fn totals(s: &PeriodState) -> String {
    s.report
        .totals
        .iter()
        .map(|(c, t)| format!("{t} {c}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `GET /invoices`.
#[utoipa::path(
    get,
    path = "/invoices",
    tags = ["pages", "invoices"],
    summary = "Invoice periods: status, counts, totals per currency.",
    description = "Role finance.",
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 403, description = "An HTML page: the caller lacks the role finance.", content_type = "text/html", body = String),
    )
)]
async fn periods_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let states = match states(&state).await {
        Ok(s) => s,
        Err(e) => return html::error_page(&state, Some(&caller), &e),
    };
    let body = html! {
        h1 { "Invoices" }
        table id="periods" {
            thead {
                tr {
                    th { "Period" } th { "Status" } th class="num" { "Invoices" }
                    th { "Totals" } th class="num" { "Credit notes" } th { "Not billed" }
                }
            }
            tbody {
                @for s in states.iter().rev() {
                    tr {
                        td { a href={ "/invoices/" (s.period) } { (s.period) } }
                        td { (s.status.name()) }
                        td class="num" { (s.invoices.len()) }
                        td { (totals(s)) }
                        td class="num" { (s.credit_notes.len()) }
                        td { (s.report.unbilled.len()) }
                    }
                }
                @if states.is_empty() {
                    tr {
                        td colspan="6" class="muted" {
                            "No invoice run yet: " code { "tollgate invoice run --period YYYY-MM" }
                        }
                    }
                }
            }
        }
    };
    html::page(&state, Some(&caller), "/invoices", "Invoices", body)
}

/// `GET /invoices/{period}`.
#[utoipa::path(
    get,
    path = "/invoices/{period}",
    tags = ["pages", "invoices"],
    summary = "One period's invoices and credit notes with downloads and the traffic without a subscription.",
    description = "Role finance.",
    params(("period" = String, Path, example = "2026-10", description = "The period.")),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: a malformed period.", content_type = "text/html", body = String),
        (status = 404, description = "An HTML page: nothing for the period.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role finance.", content_type = "text/html", body = String),
    )
)]
async fn period_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<String>,
) -> Response {
    let r = async {
        let p = period(&p)?;
        let st = period_state(&state, p).await?;
        Ok::<_, ApiError>((p, st))
    }
    .await;
    let (p, st) = match r {
        Ok(x) => x,
        Err(e) => return html::error_page(&state, Some(&caller), &e),
    };
    let body = html! {
        h1 { "Invoices " (p) " " small class="muted" { (st.status.name()) } }
        p {
            (totals(&st)) " · " (st.report.events) " events, " (st.report.duplicates) " duplicates not counted · "
            a class="button" id="period-csv" href={ "/api/invoices/" (p) ".csv" } { "Period CSV" }
        }
        table id="invoices" {
            thead {
                tr {
                    th { "Number" } th { "Consumer" } th class="num" { "Total" } th class="num" { "Amount due" } th { "Currency" } th { "Download" }
                }
            }
            tbody {
                @for i in &st.invoices {
                    @let c = html::path_segment(&i.consumer);
                    tr {
                        td { (i.number.as_ref().map_or("draft", |n| n.0.as_str())) }
                        td { a href={ "/invoices/" (p) "/" (c) } { (i.consumer) } }
                        td class="num" { (i.total) }
                        td class="num" { (i.due()) }
                        td { (i.currency) }
                        td {
                            a href={ "/api/invoices/" (p) "/" (c) ".json" } { "JSON" } " · "
                            a href={ "/api/invoices/" (p) "/" (c) ".html" } { "HTML" } " · "
                            a href={ "/api/invoices/" (p) "/" (c) ".csv" } { "CSV" }
                        }
                    }
                }
            }
        }
        @if !st.credit_notes.is_empty() {
            h2 { "Credit notes" }
            p {
                "Late usage that lowered a finalized invoice. Totals are the change of the credited invoice (negative). "
                a class="button" id="period-credit-notes-csv" href={ "/api/credit-notes/" (p) ".csv" } { "Credit notes CSV" }
            }
            table id="credit-notes" {
                thead {
                    tr {
                        th { "Number" } th { "Consumer" } th { "Credits invoice" } th class="num" { "Total" } th { "Currency" } th { "Download" }
                    }
                }
                tbody {
                    @for n in &st.credit_notes {
                        @let i = html::path_segment(&n.invoice.0);
                        tr {
                            td { a href={ "/credit-notes/" (p) "/" (i) } { (n.number.as_ref().map_or("draft", |n| n.0.as_str())) } }
                            td { (n.consumer) }
                            td { (n.invoice) }
                            td class="num" { (n.total) }
                            td { (n.currency) }
                            td {
                                a href={ "/api/credit-notes/" (p) "/" (i) ".json" } { "JSON" } " · "
                                a href={ "/api/credit-notes/" (p) "/" (i) ".html" } { "HTML" } " · "
                                a href={ "/api/credit-notes/" (p) "/" (i) ".csv" } { "CSV" }
                            }
                        }
                    }
                }
            }
        }
        @if !st.report.unbilled.is_empty() {
            h2 { "Traffic without a subscription" }
            table {
                thead { tr { th { "Consumer" } th class="num" { "Events" } th { "Days" } } }
                tbody {
                    @for u in &st.report.unbilled {
                        tr {
                            td { (u.consumer.as_deref().unwrap_or("(no consumer)")) }
                            td class="num" { (u.events) }
                            td { (u.first_day) " – " (u.last_day) }
                        }
                    }
                }
            }
        }
    };
    html::page(
        &state,
        Some(&caller),
        "/invoices",
        &format!("Invoices {p}"),
        body,
    )
}

/// `GET /invoices/{period}/{consumer}`.
#[utoipa::path(
    get,
    path = "/invoices/{period}/{consumer}",
    tags = ["pages", "invoices"],
    summary = "One invoice, line by line with tier breakdowns and the events behind each line.",
    description = "Role finance.",
    params(
        ("period" = String, Path, description = "The period."),
        ("consumer" = String, Path, description = "The consumer."),
    ),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: a malformed period.", content_type = "text/html", body = String),
        (status = 404, description = "An HTML page: nothing for the period.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role finance.", content_type = "text/html", body = String),
    )
)]
async fn invoice_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((p, consumer)): Path<(String, String)>,
) -> Response {
    let r = async {
        let p = period(&p)?;
        invoice(&state, p, &consumer).await
    }
    .await;
    let inv = match r {
        Ok(i) => i,
        Err(e) => return html::error_page(&state, Some(&caller), &e),
    };
    // The printable document's body, inside the dashboard's frame.
    let c = html::path_segment(&inv.consumer);
    let p = inv.period;
    let body = html! {
        div class="invoice" { (render::html_body(&inv)) }
        p {
            a class="button" href={ "/api/invoices/" (p) "/" (c) ".html" } { "Printable HTML" } " "
            a class="button" href={ "/api/invoices/" (p) "/" (c) ".json" } { "JSON" } " "
            a class="button" href={ "/api/invoices/" (p) "/" (c) ".csv" } { "CSV" }
        }
    };
    let title = inv.number.as_ref().map_or_else(
        || format!("Draft {} {}", inv.consumer, inv.period),
        |n| n.0.clone(),
    );
    html::page(&state, Some(&caller), "/invoices", &title, body)
}

/// `GET /credit-notes/{period}/{invoice}`.
#[utoipa::path(
    get,
    path = "/credit-notes/{period}/{invoice}",
    tags = ["pages", "invoices"],
    summary = "One credit note, line by line: what was billed, what the lake holds now, the change.",
    description = "Role finance.",
    params(
        ("period" = String, Path, description = "The period whose run issued the note."),
        ("invoice" = String, Path, description = "The credited invoice's number."),
    ),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: a malformed period.", content_type = "text/html", body = String),
        (status = 404, description = "An HTML page: no such credit note.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role finance.", content_type = "text/html", body = String),
    )
)]
async fn credit_note_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((p, invoice)): Path<(String, String)>,
) -> Response {
    let r = async {
        let p = period(&p)?;
        note(&state, p, &invoice).await
    }
    .await;
    let n = match r {
        Ok(n) => n,
        Err(e) => return html::error_page(&state, Some(&caller), &e),
    };
    let i = html::path_segment(&n.invoice.0);
    let p = n.period;
    let body = html! {
        div class="invoice" { (credit_note::html_body(&n)) }
        p {
            a class="button" href={ "/api/credit-notes/" (p) "/" (i) ".html" } { "Printable HTML" } " "
            a class="button" href={ "/api/credit-notes/" (p) "/" (i) ".json" } { "JSON" } " "
            a class="button" href={ "/api/credit-notes/" (p) "/" (i) ".csv" } { "CSV" } " "
            a class="button" href={ "/invoices/" (n.invoice_period) } { "Credited period " (n.invoice_period) }
        }
    };
    let title = n.number.as_ref().map_or_else(
        || format!("Draft credit note for {}", n.invoice),
        |x| x.0.clone(),
    );
    html::page(&state, Some(&caller), "/invoices", &title, body)
}
