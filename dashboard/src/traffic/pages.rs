//! The traffic pages (role viewer): Overview, Consumers, one consumer,
//! Routes. Each is the same data as its API route, drawn: a range form,
//! totals, SVG charts, sortable tables.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use tollgate_aggregator::query::{Dim, TopOrder, TrafficRow};
use tollgate_invoicing::{Estimates, Ledger};

use super::{api, data};
use crate::auth::Caller;
use crate::chart::{Chart, Kind, Series, Unit};
use crate::config::Role;
use crate::error::ApiError;
use crate::html::{self, int, ms, pct, sort_key};
use crate::params::{RANGE_PARAMS, RangeParams as Params, StrictQuery, TimeRange, bucket_name};
use crate::state::AppState;

const PRESETS: [&str; 6] = ["1h", "6h", "24h", "7d", "30d", "90d"];

fn respond(
    state: &AppState,
    caller: &Caller,
    active: &str,
    title: &str,
    body: Result<Markup, ApiError>,
) -> Response {
    match body {
        Ok(body) => html::page(state, Some(caller), active, title, body),
        Err(e) => html::error_page(state, Some(caller), &e),
    }
}

/// The range picker: presets, from/to, bucket.
fn range_form(p: &Params, r: &TimeRange) -> Markup {
    let current = p.get("range").or(if p.get("from").is_none() {
        Some("24h")
    } else {
        None
    });
    let bucket = p.get("bucket").unwrap_or("auto");
    let source = if r.exact() {
        "exact, from raw events"
    } else {
        "from the hourly rollups"
    };
    html! {
        form class="range" method="get" {
            div class="presets" {
                @for preset in PRESETS {
                    a href={ "?range=" (preset) } aria-current=(current == Some(preset)) { (preset) }
                }
            }
            label { "From (UTC)" input type="datetime-local" name="from" value=(r.from.format("%Y-%m-%dT%H:%M")); }
            label { "To (UTC, exclusive)" input type="datetime-local" name="to" value=(r.to.format("%Y-%m-%dT%H:%M")); }
            label {
                "Bucket"
                select name="bucket" {
                    @for b in ["auto", "minute", "hour", "day"] {
                        option value=(b) selected[b == bucket] { (b) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        p class="range-note" data-from=(r.from.to_rfc3339()) data-to=(r.to.to_rfc3339()) data-bucket=(bucket_name(r.bucket)) {
            (r.from.format("%Y-%m-%d %H:%M")) " → " (r.to.format("%Y-%m-%d %H:%M")) " UTC, per "
            (bucket_name(r.bucket)) ", " (source) "."
        }
    }
}

fn totals_html(t: &TrafficRow, with_consumers: bool) -> Markup {
    let mut cards = vec![
        ("calls", "Calls", int(t.calls)),
        ("rate_4xx", "4xx rate", pct(t.error_rate_4xx)),
        ("rate_5xx", "5xx rate", pct(t.error_rate_5xx)),
        ("p50", "Latency p50", ms(t.latency_p50)),
        ("p95", "Latency p95", ms(t.latency_p95)),
        ("p99", "Latency p99", ms(t.latency_p99)),
    ];
    if with_consumers {
        cards.insert(1, ("consumers", "Consumers", int(t.consumers)));
    }
    html! {
        section class="totals" aria-label="Totals for the range" {
            @for (key, label, value) in cards {
                div class="total" data-total=(key) {
                    div class="label" { (label) }
                    div class="value" { (value) }
                }
            }
        }
    }
}

/// Requests (stacked by outcome), error rates and latency percentiles.
pub fn charts(r: &TimeRange, series: &[TrafficRow]) -> Markup {
    let slots = data::slots(r, series);
    let per = bucket_name(r.bucket);
    let counts = |f: &dyn Fn(&TrafficRow) -> i64| -> Vec<Option<f64>> {
        slots.iter().map(|s| Some(s.map_or(0, f) as f64)).collect()
    };
    let values = |f: &dyn Fn(&TrafficRow) -> Option<f64>| -> Vec<Option<f64>> {
        slots.iter().map(|s| s.and_then(f)).collect()
    };
    let requests = Chart {
        id: "requests".into(),
        title: format!("Requests per {per}"),
        y_label: format!("requests / {per}"),
        unit: Unit::Count,
        kind: Kind::StackedBars,
        from: r.from,
        step: r.step(),
        series: vec![
            Series {
                name: "non-error".into(),
                color: "#4e79a7",
                values: counts(&|t| t.calls - t.errors_4xx - t.errors_5xx),
            },
            Series {
                name: "4xx".into(),
                color: "#f28e2b",
                values: counts(&|t| t.errors_4xx),
            },
            Series {
                name: "5xx".into(),
                color: "#e15759",
                values: counts(&|t| t.errors_5xx),
            },
        ],
    };
    let errors = Chart {
        id: "errors".into(),
        title: format!("Error rate per {per}"),
        y_label: "% of calls".into(),
        unit: Unit::Percent,
        kind: Kind::Lines,
        from: r.from,
        step: r.step(),
        series: vec![
            Series {
                name: "4xx".into(),
                color: "#f28e2b",
                values: values(&|t| Some(t.error_rate_4xx * 100.0)),
            },
            Series {
                name: "5xx".into(),
                color: "#e15759",
                values: values(&|t| Some(t.error_rate_5xx * 100.0)),
            },
        ],
    };
    let latency = Chart {
        id: "latency".into(),
        title: format!("Latency per {per}"),
        y_label: "latency (ms)".into(),
        unit: Unit::Ms,
        kind: Kind::Lines,
        from: r.from,
        step: r.step(),
        series: vec![
            Series {
                name: "p50".into(),
                color: "#59a14f",
                values: values(&|t| t.latency_p50),
            },
            Series {
                name: "p95".into(),
                color: "#4e79a7",
                values: values(&|t| t.latency_p95),
            },
            Series {
                name: "p99".into(),
                color: "#af3a8e",
                values: values(&|t| t.latency_p99),
            },
        ],
    };
    html! {
        @for c in [requests, errors, latency] {
            figure class="chart-box" { (c.render()) }
        }
    }
}

/// A link to a consumer's page, keeping the range.
fn consumer_link(c: &str, p: &Params) -> Markup {
    let mut href = format!("/consumers/{}", html::path_segment(c));
    let keep: Vec<String> = RANGE_PARAMS
        .iter()
        .filter_map(|k| p.get(k).map(|v| format!("{k}={}", html::query_value(v))))
        .collect();
    if !keep.is_empty() {
        href = format!("{href}?{}", keep.join("&"));
    }
    html! { a class="consumer-link" href=(href) { (c) } }
}

/// A sortable table: group columns, then the figures.
fn table(
    id: &str,
    heads: &[&str],
    rows: &[TrafficRow],
    first: &dyn Fn(&TrafficRow) -> Vec<Markup>,
) -> Markup {
    table_with(id, heads, rows, first, &[], &|_| Vec::new())
}

/// A trailing column: its sort key and its cell.
type Extra = (String, Markup);

/// The traffic figures' column heads; `true` for the one sorted first.
const FIGURE_HEADS: [(&str, bool); 7] = [
    ("Calls", true),
    ("4xx", false),
    ("5xx", false),
    ("Error rate", false),
    ("p50", false),
    ("p95", false),
    ("p99", false),
];

/// [`table`] with `extra_heads` columns after the traffic figures, filled
/// by `extra` (numeric: sortable by their key).
fn table_with(
    id: &str,
    heads: &[&str],
    rows: &[TrafficRow],
    first: &dyn Fn(&TrafficRow) -> Vec<Markup>,
    extra_heads: &[&str],
    extra: &dyn Fn(&TrafficRow) -> Vec<Extra>,
) -> Markup {
    html! {
        div class="table-wrap" {
            table class="data sortable" id=(id) {
                thead {
                    tr {
                        @for h in heads {
                            th scope="col" { (h) }
                        }
                        @for (h, first_sort) in FIGURE_HEADS {
                            th scope="col" class="num" data-type="num" aria-sort=[first_sort.then_some("descending")] { (h) }
                        }
                        @for h in extra_heads {
                            th scope="col" class="num" data-type="num" { (h) }
                        }
                    }
                }
                tbody {
                    @for r in rows {
                        tr {
                            @for cell in first(r) {
                                td { (cell) }
                            }
                            td class="num" data-sort=(r.calls) data-col="calls" { (int(r.calls)) }
                            td class="num" data-sort=(r.errors_4xx) { (int(r.errors_4xx)) }
                            td class="num" data-sort=(r.errors_5xx) { (int(r.errors_5xx)) }
                            @let rate = data::error_rate(r);
                            td class="num" data-sort=(rate) data-col="error_rate" { (pct(rate)) }
                            td class="num" data-sort=(sort_key(r.latency_p50)) { (ms(r.latency_p50)) }
                            td class="num" data-sort=(sort_key(r.latency_p95)) data-col="p95" { (ms(r.latency_p95)) }
                            td class="num" data-sort=(sort_key(r.latency_p99)) { (ms(r.latency_p99)) }
                            @for (key, cell) in extra(r) {
                                td class="num" data-sort=(key) { (cell) }
                            }
                        }
                    }
                    @if rows.is_empty() {
                        tr {
                            td colspan=(heads.len() + FIGURE_HEADS.len() + extra_heads.len()) class="muted" { "No calls in this range." }
                        }
                    }
                }
            }
        }
    }
}

fn consumer_cell(r: &TrafficRow, p: &Params) -> Markup {
    match r.group.first().and_then(|g| g.as_deref()) {
        Some(c) => consumer_link(c, p),
        None => html! { span class="muted" { "(anonymous)" } },
    }
}

fn text_cell(v: Option<&Option<String>>) -> Markup {
    match v.and_then(|g| g.as_deref()) {
        Some(s) => html! { (s) },
        None => html! { span class="muted" { "(none)" } },
    }
}

/// `GET /overview`.
#[utoipa::path(
    get,
    path = "/overview",
    tags = ["pages", "traffic"],
    summary = "Overview page: totals, requests, error rates and latency percentiles over a range, top consumers and routes.",
    description = "Role viewer.",
    params(Params),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: bad parameters.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role viewer.", content_type = "text/html", body = String),
    )
)]
pub async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<StrictQuery<Params>, ApiError>,
) -> Response {
    let body = async {
        let StrictQuery(p) = query?;
        let lake = data::lake(&state).await?;
        let r = data::range(&state, &lake, &p).await?;
        let (totals, series, consumers, routes, alerts) = tokio::try_join!(
            data::totals(&lake, &r, None),
            data::series(&lake, &r, None),
            data::top(&lake, &r, vec![Dim::Consumer], None, TopOrder::Calls, 5),
            data::rows(&lake, &r, None, vec![Dim::Api, Dim::Route], None),
            data::alerts(&state, 10),
        )?;
        let routes = tollgate_aggregator::query::top(routes, TopOrder::Calls, 5);
        Ok::<_, ApiError>(html! {
            h1 { "Overview" }
            (range_form(&p, &r))
            (totals_html(&totals, true))
            (charts(&r, &series))
            (alerts_html(&alerts))
            div class="grid2" {
                section {
                    h2 { "Top consumers" }
                    (table("top-consumers", &["Consumer"], &consumers, &|row| vec![consumer_cell(row, &p)]))
                    p { a href="/consumers" { "All consumers" } }
                }
                section {
                    h2 { "Top routes" }
                    (table("top-routes", &["API", "Route"], &routes, &|row| vec![
                        text_cell(row.group.first()),
                        text_cell(row.group.get(1)),
                    ]))
                    p { a href="/routes" { "All routes" } }
                }
            }
        })
    };
    respond(&state, &caller, "/overview", "Overview", body.await)
}

/// `GET /consumers`.
#[utoipa::path(
    get,
    path = "/consumers",
    tags = ["pages", "traffic"],
    summary = "Consumers page: a sortable table of calls, errors and latency per consumer.",
    description = "Role viewer.",
    params(Params),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: bad parameters.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role viewer.", content_type = "text/html", body = String),
    )
)]
pub async fn consumers(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<StrictQuery<Params>, ApiError>,
) -> Response {
    let body = async {
        let StrictQuery(p) = query?;
        let lake = data::lake(&state).await?;
        let r = data::range(&state, &lake, &p).await?;
        let (rows, est) = tokio::try_join!(
            data::rows(&lake, &r, None, vec![Dim::Consumer], None),
            data::estimates(&state, &lake)
        )?;
        let rows = data::ranked(rows, TopOrder::Calls);
        let (extra_heads, note): (&[&str], String) = match &est {
            Some(e) => (
                &["Plan", "Month to date (est.)"],
                format!(
                    " Month to date: {} up to {} UTC, from the hourly rollups (an estimate: \
                     invoices deduplicate by event id).",
                    e.period,
                    e.as_of.format("%Y-%m-%d %H:%M")
                ),
            ),
            None => (&[], String::new()),
        };
        let extra = |row: &TrafficRow| -> Vec<Extra> {
            let Some(e) = &est else { return Vec::new() };
            let inv = row
                .group
                .first()
                .and_then(|c| c.as_deref())
                .and_then(|c| e.invoices.get(c));
            match inv {
                Some(inv) => vec![
                    (data::plans_of(inv), html! { (data::plans_of(inv)) }),
                    (
                        inv.total.to_string(),
                        html! { (inv.total) " " (inv.currency) },
                    ),
                ],
                None => vec![
                    (String::new(), html! { span class="muted" { "no plan" } }),
                    ("-1".into(), html! { span class="muted" { "not billed" } }),
                ],
            }
        };
        Ok::<_, ApiError>(html! {
            h1 { "Consumers" }
            (range_form(&p, &r))
            p class="muted" { (rows.len()) " consumers with calls in the range." (note) " Click a column to sort." }
            (table_with(
                "consumers",
                &["Consumer"],
                &rows,
                &|row| vec![consumer_cell(row, &p)],
                extra_heads,
                &extra
            ))
        })
    };
    respond(&state, &caller, "/consumers", "Consumers", body.await)
}

/// `GET /consumers/{consumer}`.
#[utoipa::path(
    get,
    path = "/consumers/{consumer}",
    tags = ["pages", "traffic"],
    summary = "One consumer's page: totals, charts, top routes.",
    description = "Role viewer.",
    params(("consumer" = String, Path, description = "The consumer."), Params),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: bad parameters.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role viewer.", content_type = "text/html", body = String),
        (status = 404, description = "An HTML page: an unknown consumer.", content_type = "text/html", body = String),
    )
)]
pub async fn consumer(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    query: Result<StrictQuery<Params>, ApiError>,
) -> Response {
    let mut title = "Consumer".to_string();
    let body = async {
        let consumer = api::consumer_path(path)?;
        title = format!("Consumer {consumer}");
        let StrictQuery(p) = query?;
        let lake = data::lake(&state).await?;
        data::check_consumer(&lake, &consumer).await?;
        let r = data::range(&state, &lake, &p).await?;
        let c = Some(consumer.as_str());
        let (totals, series, routes, est, quotas) = tokio::try_join!(
            data::totals(&lake, &r, c),
            data::series(&lake, &r, c),
            data::rows(&lake, &r, None, vec![Dim::Api, Dim::Route], c),
            data::estimates(&state, &lake),
            data::quotas(&state, &lake, &consumer),
        )?;
        let routes = tollgate_aggregator::query::top(routes, TopOrder::Calls, 10);
        let billing = billing_html(&state, &caller, est.as_deref(), &consumer).await?;
        let quotas = quotas_html(&quotas);
        Ok::<_, ApiError>(html! {
            p class="muted" { a href="/consumers" { "Consumers" } " /" }
            h1 data-consumer=(consumer) { (consumer) }
            (range_form(&p, &r))
            (totals_html(&totals, false))
            (charts(&r, &series))
            h2 { "Top routes" }
            (table("consumer-routes", &["API", "Route"], &routes, &|row| vec![
                text_cell(row.group.first()),
                text_cell(row.group.get(1)),
            ]))
            (billing)
            (quotas)
        })
    };
    let body = body.await;
    respond(&state, &caller, "/consumers", &title, body)
}

/// The consumer's quotas in their current windows (none without plans or quotas).
fn quotas_html(quotas: &serde_json::Value) -> Markup {
    let Some(list) = quotas.as_array().filter(|l| !l.is_empty()) else {
        return html! {};
    };
    html! {
        section id="consumer-quotas" {
            h2 { "Quotas" }
            div class="table-wrap" {
                table class="data" id="quotas" {
                    thead {
                        tr {
                            th { "Quota" } th { "Window (UTC)" } th class="num" { "Used" }
                            th class="num" { "Limit" } th class="num" { "Used %" } th { "Enforcement" }
                        }
                    }
                    tbody {
                        @for q in list {
                            @let text = |k: &str| q[k].as_str().unwrap_or_default().to_string();
                            tr data-quota=(text("quota")) {
                                td { (q["description"].as_str().map_or_else(|| text("quota"), str::to_string)) }
                                td { (text("window")) " from " (text("window_start").replace('T', " ")) }
                                td class="num" { (int(q["used"].as_i64().unwrap_or(0))) }
                                td class="num" { (int(q["limit"].as_i64().unwrap_or(0))) }
                                td class="num" { (q["percent"]) }
                                td { (text("enforcement")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a recent signal says, in one line.
fn signal_text(r: &serde_json::Value) -> String {
    match r["type"].as_str() {
        Some("quota") => format!(
            "{} reached {}% of {} ({} of {}, {} window){}",
            r["consumer"].as_str().unwrap_or_default(),
            r["threshold_percent"],
            r["quota"].as_str().unwrap_or_default(),
            r["used"],
            r["limit"],
            r["window"].as_str().unwrap_or_default(),
            if r["action"] == "block" {
                ": block"
            } else {
                ""
            }
        ),
        _ => format!(
            "alert {} {} {}",
            r["rule"].as_str().unwrap_or_default(),
            r["state"].as_str().unwrap_or_default(),
            r["key"].as_str().unwrap_or_default()
        ),
    }
}

/// Firing alerts and the latest signals from `tollgate watch`.
fn alerts_html(alerts: &serde_json::Value) -> Markup {
    let firing = alerts["firing"].as_array().filter(|f| !f.is_empty());
    let recent = alerts["signals"].as_array().filter(|r| !r.is_empty());
    html! {
        section id="alerts" {
            h2 { "Alerts" }
            @match firing {
                None => p class="muted" id="no-alerts" { "No alert is firing." },
                Some(firing) => div class="table-wrap" {
                    table class="data" id="firing" {
                        thead {
                            tr {
                                th { "Rule" } th { "Where" } th { "Metric" } th class="num" { "Value" }
                                th { "Threshold" } th { "Since (UTC)" }
                            }
                        }
                        tbody {
                            @for f in firing {
                                @let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                                tr {
                                    td { (text("rule")) }
                                    td {
                                        @if let Some(b) = f["by"].as_str() { (b) ": " }
                                        (f["key"].as_str().unwrap_or("all traffic"))
                                    }
                                    td { (text("metric")) }
                                    td class="num" { (f["value"].as_f64().map_or("-".into(), |v| format!("{v:.4}"))) }
                                    td { (text("comparison")) " " (f["threshold"]) }
                                    td { (text("fired_at").replace('T', " ")) }
                                }
                            }
                        }
                    }
                },
            }
            @if let Some(recent) = recent {
                h3 { "Recent signals" }
                div class="table-wrap" {
                    table class="data" id="signals" {
                        thead { tr { th { "When (UTC)" } th { "Signal" } th { "Delivered" } } }
                        tbody {
                            @for r in recent.iter().take(10) {
                                tr {
                                    td { (r["created_at"].as_str().unwrap_or_default().replace('T', " ")) }
                                    td { (signal_text(r)) }
                                    td { @if r["delivered"] == true { "yes" } @else { "pending" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The consumer's plan and month-to-date estimate, line by line, and (for
/// callers with the finance role) its invoices.
async fn billing_html(
    state: &AppState,
    caller: &Caller,
    est: Option<&Estimates>,
    consumer: &str,
) -> Result<Markup, ApiError> {
    let Some(e) = est else {
        return Ok(html! {});
    };
    // The consumer's invoices, newest first: only for finance.
    let invoices = if caller.access.allows(Role::Finance) {
        let ledger = Ledger::open(state.lake.location()).map_err(ApiError::internal)?;
        let periods = ledger.periods().await.map_err(ApiError::internal)?;
        let mine: Vec<_> = periods
            .iter()
            .rev()
            .filter_map(|p| {
                p.invoices
                    .iter()
                    .find(|i| i.consumer == consumer)
                    .map(|i| (p.period, i.number.clone(), i.total, i.currency.clone()))
            })
            .collect();
        Some(mine)
    } else {
        None
    };
    let segment = html::path_segment(consumer);
    Ok(html! {
        section id="consumer-billing" {
            h2 { "Plan and charges" }
            @match e.invoices.get(consumer) {
                Some(inv) => {
                    p {
                        "Plan " strong { (data::plans_of(inv)) } ". Month to date (" (e.period)
                        ", usage up to " (e.as_of.format("%Y-%m-%d %H:%M")) " UTC, an estimate from the rollups): "
                        strong data-estimate=(inv.total) { (inv.total) " " (inv.currency) }
                    }
                    div class="table-wrap" {
                        table class="data" id="estimate-lines" {
                            thead { tr { th { "Charge" } th class="num" { "Quantity" } th class="num" { "Amount" } } }
                            tbody {
                                @for seg in &inv.segments {
                                    @for l in &seg.lines {
                                        tr {
                                            td { (l.line.description) }
                                            td class="num" {
                                                // An amount metric's sum may be fractional: shown exactly.
                                                @if l.line.quantity.fract().is_zero() {
                                                    (int(i64::try_from(l.line.quantity).unwrap_or(i64::MAX)))
                                                } @else {
                                                    (l.line.quantity.normalize())
                                                }
                                            }
                                            td class="num" { (l.line.amount) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                None => p class="muted" {
                    "No subscription this month: this consumer's calls are listed as not billed by the invoice run."
                },
            }
            @if let Some(mine) = &invoices {
                h3 { "Invoices" }
                @if mine.is_empty() {
                    p class="muted" { "No invoices yet." }
                } @else {
                    table class="data" id="consumer-invoices" {
                        thead { tr { th { "Period" } th { "Number" } th class="num" { "Total" } } }
                        tbody {
                            @for (period, number, total, currency) in mine {
                                tr {
                                    td { a href={ "/invoices/" (period) "/" (segment) } { (period) } }
                                    td { (number.as_ref().map_or("draft", |n| n.0.as_str())) }
                                    td class="num" { (total) " " (currency) }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /routes`.
#[utoipa::path(
    get,
    path = "/routes",
    tags = ["pages", "traffic"],
    summary = "Routes page: calls, errors and latency per API and per route.",
    description = "Role viewer.",
    params(Params),
    responses(
        (status = 200, description = "An HTML page.", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: to /login."),
        (status = 400, description = "An HTML page: bad parameters.", content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the caller lacks the role viewer.", content_type = "text/html", body = String),
    )
)]
pub async fn routes(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<StrictQuery<Params>, ApiError>,
) -> Response {
    let body = async {
        let StrictQuery(p) = query?;
        let lake = data::lake(&state).await?;
        let r = data::range(&state, &lake, &p).await?;
        let (routes, apis) = tokio::try_join!(
            data::rows(&lake, &r, None, vec![Dim::Api, Dim::Route], None),
            data::rows(&lake, &r, None, vec![Dim::Api], None),
        )?;
        let routes = data::ranked(routes, TopOrder::Calls);
        let apis = data::ranked(apis, TopOrder::Calls);
        Ok::<_, ApiError>(html! {
            h1 { "Routes and APIs" }
            (range_form(&p, &r))
            h2 { "APIs" }
            (table("apis", &["API"], &apis, &|row| vec![text_cell(row.group.first())]))
            h2 { "Routes" }
            (table("routes", &["API", "Route"], &routes, &|row| vec![
                text_cell(row.group.first()),
                text_cell(row.group.get(1)),
            ]))
        })
    };
    respond(&state, &caller, "/routes", "Routes", body.await)
}
