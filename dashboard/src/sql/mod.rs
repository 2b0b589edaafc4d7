//! The SQL area (role analyst): the console page, its CSV download, and
//! `POST /api/sql`. Queries run through the server's
//! [`tollgate_aggregator::SqlGate`]: read-only, one statement, under the
//! concurrency, memory, value, result and time limits of `[analytics]`,
//! with the answer rendered inside the time limit.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use datafusion::arrow::compute::cast;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tollgate_aggregator::output::{self, OutputFormat};
use tollgate_aggregator::{AnalystAnswer, Cut, ResultLimit};
use utoipa::{OpenApi, ToSchema};

use crate::area::Area;
use crate::auth::Caller;
use crate::config::Role;
use crate::error::{ApiError, ErrorBody, code};
use crate::html;
use crate::params::{SqlParams, StrictQuery};
use crate::state::AppState;

/// The area's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(page, download, api))]
struct Doc;

/// The area: the console, its download and the API, all needing `analyst`.
pub fn area() -> Area {
    let routes = Router::<AppState>::new()
        .route("/sql", get(page))
        .route("/sql/download", get(download))
        .route("/api/sql", post(api));
    Area::new("sql", Role::Analyst)
        .nav("SQL", "/sql")
        .routes(routes)
        .openapi(Doc::openapi())
}

/// Runs an analyst's query through the server's [`tollgate_aggregator::SqlGate`]
/// and renders the answer with `render` inside the query's time limit.
pub async fn run<T, F>(
    state: &AppState,
    query: &str,
    limit: ResultLimit,
    render: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(AnalystAnswer) -> Result<T, ApiError> + Send + 'static,
{
    if query.trim().is_empty() {
        return Err(ApiError::bad_request(
            code::INVALID_PARAMETER,
            "the query is empty; write one SELECT statement",
        ));
    }
    let lake = state.lake.get().await?;
    // A rendering failure is carried through the gate and returned here.
    state
        .sql
        .run(&lake, query, limit, move |answer| Ok(render(answer)))
        .await
        .map_err(ApiError::from_sql)?
}

/// A column as JSON values: integers and finite floats as numbers,
/// booleans as booleans, null as null, everything else (decimals, times,
/// lists, bytes) as its display text.
fn column_values(a: &ArrayRef) -> Result<Vec<Value>, ApiError> {
    use DataType::*;
    let n = a.len();
    let nulls = |i: usize| a.is_null(i);
    let internal = |e: datafusion::arrow::error::ArrowError| ApiError::internal(e);
    Ok(match a.data_type() {
        Int8 | Int16 | Int32 | Int64 => {
            let c = cast(a, &Int64).map_err(internal)?;
            let c = c.as_primitive::<Int64Type>();
            (0..n)
                .map(|i| {
                    if nulls(i) {
                        Value::Null
                    } else {
                        json!(c.value(i))
                    }
                })
                .collect()
        }
        UInt8 | UInt16 | UInt32 | UInt64 => {
            let c = cast(a, &UInt64).map_err(internal)?;
            let c = c.as_primitive::<UInt64Type>();
            (0..n)
                .map(|i| {
                    if nulls(i) {
                        Value::Null
                    } else {
                        json!(c.value(i))
                    }
                })
                .collect()
        }
        Float16 | Float32 | Float64 => {
            let c = cast(a, &Float64).map_err(internal)?;
            let c = c.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    if nulls(i) {
                        Value::Null
                    } else {
                        let v = c.value(i);
                        serde_json::Number::from_f64(v)
                            .map_or_else(|| Value::String(v.to_string()), Value::Number)
                    }
                })
                .collect()
        }
        Boolean => {
            let c = a.as_boolean();
            (0..n)
                .map(|i| {
                    if nulls(i) {
                        Value::Null
                    } else {
                        json!(c.value(i))
                    }
                })
                .collect()
        }
        _ => {
            let options = FormatOptions::default();
            let f = ArrayFormatter::try_new(a.as_ref(), &options).map_err(internal)?;
            (0..n)
                .map(|i| {
                    if nulls(i) {
                        Value::Null
                    } else {
                        Value::String(f.value(i).to_string())
                    }
                })
                .collect()
        }
    })
}

/// The answer's rows as JSON arrays (the gate already cut them at the
/// row and byte caps).
fn rows_json(r: &AnalystAnswer) -> Result<Vec<Vec<Value>>, ApiError> {
    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(r.rows());
    for b in &r.batches {
        let cols = b
            .columns()
            .iter()
            .map(column_values)
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok(rows)
}

fn csv_bytes(r: &AnalystAnswer) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    output::write(OutputFormat::Csv, &r.schema, &r.batches, &mut out)
        .map_err(ApiError::internal)?;
    Ok(out)
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SqlColumn {
    /// The column's name.
    pub name: String,
    /// Arrow data type.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// Which cap cut a JSON result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TruncatedReason {
    /// `[serve] sql_max_rows`.
    Rows,
    /// `[analytics] sql_max_result_mb`.
    Bytes,
}

/// `POST /api/sql`'s JSON answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SqlResult {
    /// The result's columns, in order.
    pub columns: Vec<SqlColumn>,
    /// Rows returned (in `rows`).
    pub row_count: usize,
    /// Rows as arrays in column order: numbers, booleans, null, or text
    /// for other types.
    pub rows: Vec<Vec<Value>>,
    /// Whether the query has rows beyond those returned (or may have, past
    /// the byte cap).
    pub truncated: bool,
    /// With truncated: `[serve] sql_max_rows` or `[analytics]
    /// sql_max_result_mb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_reason: Option<TruncatedReason>,
    /// With truncated: why, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /api/sql`'s JSON answer.
fn answer_json(r: &AnalystAnswer) -> Result<Vec<u8>, ApiError> {
    let rows = rows_json(r)?;
    let body = SqlResult {
        columns: r
            .schema
            .fields()
            .iter()
            .map(|f| SqlColumn {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            })
            .collect(),
        row_count: rows.len(),
        rows,
        truncated: r.cut.is_some(),
        truncated_reason: r.cut.map(|cut| match cut {
            Cut::Rows(_) => TruncatedReason::Rows,
            Cut::Bytes(_) => TruncatedReason::Bytes,
        }),
        message: r.cut.map(|cut| cut.to_string()),
    };
    serde_json::to_vec(&body).map_err(ApiError::internal)
}

fn csv_response(bytes: Vec<u8>, attachment: bool) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if attachment {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"tollgate-query.csv\""),
        );
    }
    res
}

/// The body of `POST /api/sql`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// One read-only statement.
    #[schema(example = "SELECT consumer, count(*) AS calls FROM events GROUP BY 1")]
    query: String,
    /// `json` (default) or `csv`; csv also when absent and `Accept` is
    /// text/csv.
    #[serde(default)]
    format: Option<String>,
}

/// `POST /api/sql`: `{"query": "...", "format": "json" | "csv"}` (or
/// `Accept: text/csv`). JSON answers `columns`, `rows` (arrays, at most
/// `[serve] sql_max_rows` and `[analytics] sql_max_result_mb`),
/// `row_count` (rows returned) and `truncated` (with `truncated_reason`
/// and `message` when true); CSV has every row, or a 413 past the byte cap.
#[utoipa::path(
    post,
    path = "/api/sql",
    tag = "sql",
    summary = "Runs one read-only statement (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE) under the [analytics] memory and time limits.",
    description = "Role analyst.",
    request_body = SqlRequest,
    responses(
        (status = 200, description = "The result. JSON rows are cut at [serve] sql_max_rows or [analytics] sql_max_result_mb (truncated: true, with truncated_reason and message); CSV has every row.", content(
            (SqlResult = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "invalid_body, invalid_parameter, sql_refused (not read-only, or several statements) or sql_error (syntax, unknown table or column).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (unauthorized).", body = ErrorBody),
        (status = 403, description = "The credentials lack the role analyst (forbidden).", body = ErrorBody),
        (status = 413, description = "result_too_large: a CSV answer past [analytics] sql_max_result_mb.", body = ErrorBody),
        (status = 422, description = "query_too_large: past the query's share of [analytics] memory_limit_mb; value_too_large: a function asked to build a value past [analytics] sql_max_value_mb.", body = ErrorBody),
        (status = 503, description = "busy (every [analytics] sql_max_concurrent slot taken; see Retry-After), query_timeout or lake_unavailable.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait, with busy."))),
    )
)]
pub async fn api(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let req: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                code::INVALID_BODY,
                format!("the body must be JSON like {{\"query\": \"SELECT 1\"}}: {e}"),
            )
        })?;
        let wants_csv_header = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
        let csv = match req.format.as_deref() {
            None => wants_csv_header,
            Some("json") => false,
            Some("csv") => true,
            Some(other) => {
                return Err(ApiError::bad_request(
                    code::INVALID_PARAMETER,
                    format!("format {other:?} is not json or csv"),
                ));
            }
        };
        if csv {
            let bytes = run(&state, &req.query, ResultLimit::whole(), |r| csv_bytes(&r)).await?;
            return Ok(csv_response(bytes, false));
        }
        let limit = ResultLimit::first(state.limits.sql_max_rows);
        let body = run(&state, &req.query, limit, |r| answer_json(&r)).await?;
        let mut res = body.into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok::<_, ApiError>(res)
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /sql/download?q=`: the whole result as a CSV file.
#[utoipa::path(
    get,
    path = "/sql/download",
    tags = ["pages", "sql"],
    summary = "The whole result of q as a CSV file (attachment).",
    description = "Role analyst.",
    params(SqlParams),
    responses(
        (status = 200, description = "CSV with a header line.", content_type = "text/csv", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: the query was refused or failed.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role analyst.", content_type = "text/html", body = String),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<StrictQuery<SqlParams>, ApiError>,
) -> Response {
    let answer = async {
        let StrictQuery(p) = query?;
        let q = p.q.as_deref().unwrap_or_default();
        let bytes = run(&state, q, ResultLimit::whole(), |r| csv_bytes(&r)).await?;
        Ok::<_, ApiError>(csv_response(bytes, true))
    };
    match answer.await {
        Ok(res) => res,
        Err(e) => html::error_page(&state, Some(&caller), &e),
    }
}

const EXAMPLES: [(&str, &str); 4] = [
    (
        "Calls per consumer",
        "SELECT consumer, count(*) AS calls FROM events GROUP BY consumer ORDER BY calls DESC",
    ),
    (
        "Calls per day from the rollups",
        "SELECT date, sum(calls) AS calls FROM rollups_hourly GROUP BY date ORDER BY date",
    ),
    (
        "Why messages were quarantined",
        "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY n DESC",
    ),
    ("The tables", "SHOW TABLES"),
];

/// `GET /sql?q=`: the console; with `q`, runs it and shows the result.
#[utoipa::path(
    get,
    path = "/sql",
    tags = ["pages", "sql"],
    summary = "SQL console page; with q, runs the query and shows the result table.",
    description = "Role analyst.",
    params(SqlParams),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: the query was refused or failed.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role analyst.", content_type = "text/html", body = String),
    )
)]
pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<StrictQuery<SqlParams>, ApiError>,
) -> Response {
    let p = match query {
        Ok(StrictQuery(p)) => p,
        Err(e) => return html::error_page(&state, Some(&caller), &e),
    };
    let query = p.q.unwrap_or_default();
    let mut status = axum::http::StatusCode::OK;
    // Runs the query first; the page is then one template.
    let result = if query.is_empty() {
        None
    } else {
        let limit = ResultLimit::first(state.limits.sql_max_rows);
        Some(
            run(&state, &query, limit, |r| result_table(&r))
                .await
                .inspect_err(|e| status = e.status),
        )
    };
    let body = html! {
        h1 { "SQL" }
        form class="sql" method="get" action="/sql" {
            label for="q" class="muted" {
                "Read-only SQL over " code { "events" } ", " code { "quarantine" } " and " code { "rollups_hourly" } " "
                "(filter on " code { "date" } " to skip whole days)."
            }
            textarea id="q" name="q" spellcheck="false" required { (query) }
            div class="actions" {
                button type="submit" { "Run" }
                @if !query.is_empty() {
                    a class="button" id="csv" href={ "/sql/download?q=" (html::query_value(&query)) } { "Download CSV" }
                }
                span class="muted" { "SELECT, WITH, EXPLAIN, SHOW and DESCRIBE; Ctrl+Enter runs." }
            }
        }
        @match &result {
            None => {
                h2 { "Examples" }
                ul class="examples" {
                    @for (label, sql) in EXAMPLES {
                        li { a href={ "/sql?q=" (html::query_value(sql)) } { (label) } ": " code { (sql) } }
                    }
                }
            }
            Some(Ok(table)) => (table),
            Some(Err(e)) => p class="error" role="alert" data-code=(e.code) { (e.message) },
        }
    };
    let mut res = html::page(&state, Some(&caller), "/sql", "SQL", body);
    *res.status_mut() = status;
    res
}

fn result_table(r: &AnalystAnswer) -> Result<Markup, ApiError> {
    let rows = rows_json(r)?;
    let total = rows.len();
    let numeric: Vec<bool> = r
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    // Numeric columns align right and sort as numbers.
    let num_class = |num: bool| num.then_some("num");
    Ok(html! {
        p class="muted" id="sql-count" data-rows=(total) data-truncated=(r.cut.is_some()) {
            (html::int(total as i64)) " row" @if total != 1 { "s" }
            @if let Some(cut) = &r.cut { "; " (cut) }
        }
        div class="table-wrap" {
            table class="data sortable" id="sql-result" {
                thead {
                    tr {
                        @for (f, num) in r.schema.fields().iter().zip(&numeric) {
                            th scope="col" class=[num_class(*num)] data-type=[num.then_some("num")] { (f.name()) }
                        }
                    }
                }
                tbody {
                    @for row in &rows {
                        tr {
                            @for (v, num) in row.iter().zip(&numeric) {
                                @match v {
                                    Value::Null => td class=[num_class(*num)] data-sort="" { span class="muted" { "NULL" } },
                                    Value::String(t) => td class=[num_class(*num)] { (t) },
                                    other => td class=[num_class(*num)] { (other) },
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}
