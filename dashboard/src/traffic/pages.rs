//! The traffic pages (role viewer): Overview, Consumers, one consumer,
//! Routes. Each is the same data as its API route, drawn: a range form,
//! totals, SVG charts, sortable tables.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use tollgate_aggregator::traffic::{Dim, TopOrder, TrafficRow};
use tollgate_billing::run::{Estimates, Ledger};

use super::{api, data};
use crate::auth::Caller;
use crate::chart::{Chart, Kind, Series, Unit};
use crate::config::Role;
use crate::error::ApiError;
use crate::html::{self, esc, int, ms, pct, sort_key};
use crate::params::{RANGE_PARAMS, RangeParams as Params, StrictQuery, TimeRange, bucket_name};
use crate::state::AppState;

const PRESETS: [&str; 6] = ["1h", "6h", "24h", "7d", "30d", "90d"];

fn respond(
    state: &AppState,
    caller: &Caller,
    active: &str,
    title: &str,
    body: Result<String, ApiError>,
) -> Response {
    match body {
        Ok(body) => html::page(state, Some(caller), active, title, &body),
        Err(e) => html::error_page(state, Some(caller), &e),
    }
}

/// The range picker: presets, from/to, bucket.
fn range_form(p: &Params, r: &TimeRange) -> String {
    let current = p.get("range").or(if p.get("from").is_none() {
        Some("24h")
    } else {
        None
    });
    let mut s = String::from("<form class=\"range\" method=\"get\"><div class=\"presets\">");
    for preset in PRESETS {
        let on = if current == Some(preset) {
            "true"
        } else {
            "false"
        };
        let _ = write!(
            s,
            "<a href=\"?range={preset}\" aria-current=\"{on}\">{preset}</a>"
        );
    }
    s.push_str("</div>");
    let bucket = p.get("bucket").unwrap_or("auto");
    let _ = write!(
        s,
        "<label>From (UTC)<input type=\"datetime-local\" name=\"from\" value=\"{}\"></label>\
         <label>To (UTC, exclusive)<input type=\"datetime-local\" name=\"to\" value=\"{}\"></label>\
         <label>Bucket<select name=\"bucket\">",
        r.from.format("%Y-%m-%dT%H:%M"),
        r.to.format("%Y-%m-%dT%H:%M")
    );
    for b in ["auto", "minute", "hour", "day"] {
        let sel = if b == bucket { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{b}\"{sel}>{b}</option>");
    }
    s.push_str("</select></label><button type=\"submit\">Show</button></form>");
    let source = if r.exact() {
        "exact, from raw events"
    } else {
        "from the hourly rollups"
    };
    let _ = write!(
        s,
        "<p class=\"range-note\" data-from=\"{}\" data-to=\"{}\" data-bucket=\"{}\">{} → {} UTC, per {}, {source}.</p>",
        r.from.to_rfc3339(),
        r.to.to_rfc3339(),
        bucket_name(r.bucket),
        r.from.format("%Y-%m-%d %H:%M"),
        r.to.format("%Y-%m-%d %H:%M"),
        bucket_name(r.bucket),
    );
    s
}

fn totals_html(t: &TrafficRow, with_consumers: bool) -> String {
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
    let mut s = String::from("<section class=\"totals\" aria-label=\"Totals for the range\">");
    for (key, label, value) in cards {
        let _ = write!(
            s,
            "<div class=\"total\" data-total=\"{key}\"><div class=\"label\">{label}</div><div class=\"value\">{}</div></div>",
            esc(&value)
        );
    }
    s.push_str("</section>");
    s
}

/// Requests (stacked by outcome), error rates and latency percentiles.
pub fn charts(r: &TimeRange, series: &[TrafficRow]) -> String {
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
    [requests, errors, latency]
        .iter()
        .map(|c| format!("<figure class=\"chart-box\">{}</figure>", c.render()))
        .collect()
}

/// A link to a consumer's page, keeping the range.
fn consumer_link(c: &str, p: &Params) -> String {
    let mut href = format!("/consumers/{}", html::path_segment(c));
    let keep: Vec<String> = RANGE_PARAMS
        .iter()
        .filter_map(|k| p.get(k).map(|v| format!("{k}={}", html::query_value(v))))
        .collect();
    if !keep.is_empty() {
        href = format!("{href}?{}", keep.join("&"));
    }
    format!(
        "<a class=\"consumer-link\" href=\"{}\">{}</a>",
        esc(&href),
        esc(c)
    )
}

/// A sortable table: group columns, then the figures.
fn table(
    id: &str,
    heads: &[&str],
    rows: &[TrafficRow],
    first: &dyn Fn(&TrafficRow) -> Vec<String>,
) -> String {
    table_with(id, heads, rows, first, &[], &|_| Vec::new())
}

/// A trailing column: its sort key and its HTML.
type Extra = (String, String);

/// [`table`] with `extra_heads` columns after the traffic figures, filled
/// by `extra` (numeric: sortable by their key).
fn table_with(
    id: &str,
    heads: &[&str],
    rows: &[TrafficRow],
    first: &dyn Fn(&TrafficRow) -> Vec<String>,
    extra_heads: &[&str],
    extra: &dyn Fn(&TrafficRow) -> Vec<Extra>,
) -> String {
    let mut s =
        format!("<div class=\"table-wrap\"><table class=\"data sortable\" id=\"{id}\"><thead><tr>");
    for h in heads {
        let _ = write!(s, "<th scope=\"col\">{}</th>", esc(h));
    }
    for (h, first_sort) in [
        ("Calls", true),
        ("4xx", false),
        ("5xx", false),
        ("Error rate", false),
        ("p50", false),
        ("p95", false),
        ("p99", false),
    ] {
        let sorted = if first_sort {
            " aria-sort=\"descending\""
        } else {
            ""
        };
        let _ = write!(
            s,
            "<th scope=\"col\" class=\"num\" data-type=\"num\"{sorted}>{h}</th>"
        );
    }
    for h in extra_heads {
        let _ = write!(
            s,
            "<th scope=\"col\" class=\"num\" data-type=\"num\">{}</th>",
            esc(h)
        );
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for cell in first(r) {
            let _ = write!(s, "<td>{cell}</td>");
        }
        let rate = data::error_rate(r);
        let _ = write!(
            s,
            "<td class=\"num\" data-sort=\"{calls}\" data-col=\"calls\">{}</td>\
             <td class=\"num\" data-sort=\"{e4}\">{}</td>\
             <td class=\"num\" data-sort=\"{e5}\">{}</td>\
             <td class=\"num\" data-sort=\"{rate}\" data-col=\"error_rate\">{}</td>\
             <td class=\"num\" data-sort=\"{}\">{}</td>\
             <td class=\"num\" data-sort=\"{}\" data-col=\"p95\">{}</td>\
             <td class=\"num\" data-sort=\"{}\">{}</td>",
            int(r.calls),
            int(r.errors_4xx),
            int(r.errors_5xx),
            pct(rate),
            sort_key(r.latency_p50),
            ms(r.latency_p50),
            sort_key(r.latency_p95),
            ms(r.latency_p95),
            sort_key(r.latency_p99),
            ms(r.latency_p99),
            calls = r.calls,
            e4 = r.errors_4xx,
            e5 = r.errors_5xx,
        );
        for (key, html) in extra(r) {
            let _ = write!(
                s,
                "<td class=\"num\" data-sort=\"{}\">{html}</td>",
                esc(&key)
            );
        }
        s.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(
            s,
            "<tr><td colspan=\"{}\" class=\"muted\">No calls in this range.</td></tr>",
            heads.len() + 7 + extra_heads.len()
        );
    }
    s.push_str("</tbody></table></div>");
    s
}

fn consumer_cell(r: &TrafficRow, p: &Params) -> String {
    match r.group.first().and_then(|g| g.as_deref()) {
        Some(c) => consumer_link(c, p),
        None => "<span class=\"muted\">(anonymous)</span>".into(),
    }
}

fn text_cell(v: Option<&Option<String>>) -> String {
    match v.and_then(|g| g.as_deref()) {
        Some(s) => esc(s),
        None => "<span class=\"muted\">(none)</span>".into(),
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
        let routes = tollgate_aggregator::traffic::top(routes, TopOrder::Calls, 5);
        Ok::<_, ApiError>(format!(
            "<h1>Overview</h1>{}{}{}{}<div class=\"grid2\"><section><h2>Top consumers</h2>{}\
             <p><a href=\"/consumers\">All consumers</a></p></section>\
             <section><h2>Top routes</h2>{}<p><a href=\"/routes\">All routes</a></p></section></div>",
            range_form(&p, &r),
            totals_html(&totals, true),
            charts(&r, &series),
            alerts_html(&alerts),
            table("top-consumers", &["Consumer"], &consumers, &|row| vec![
                consumer_cell(row, &p)
            ]),
            table("top-routes", &["API", "Route"], &routes, &|row| vec![
                text_cell(row.group.first()),
                text_cell(row.group.get(1))
            ]),
        ))
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
                    (data::plans_of(inv), esc(&data::plans_of(inv))),
                    (
                        inv.total.to_string(),
                        format!("{} {}", inv.total, esc(&inv.currency)),
                    ),
                ],
                None => vec![
                    (String::new(), "<span class=\"muted\">no plan</span>".into()),
                    (
                        "-1".into(),
                        "<span class=\"muted\">not billed</span>".into(),
                    ),
                ],
            }
        };
        Ok::<_, ApiError>(format!(
            "<h1>Consumers</h1>{}<p class=\"muted\">{} consumers with calls in the range.{note} Click a column to sort.</p>{}",
            range_form(&p, &r),
            rows.len(),
            table_with(
                "consumers",
                &["Consumer"],
                &rows,
                &|row| vec![consumer_cell(row, &p)],
                extra_heads,
                &extra
            ),
        ))
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
        let routes = tollgate_aggregator::traffic::top(routes, TopOrder::Calls, 10);
        let billing = billing_html(&state, &caller, est.as_deref(), &consumer).await?;
        let quotas = quotas_html(&quotas);
        Ok::<_, ApiError>(format!(
            "<p class=\"muted\"><a href=\"/consumers\">Consumers</a> /</p>\
             <h1 data-consumer=\"{c}\">{c}</h1>{}{}{}<h2>Top routes</h2>{}{billing}{quotas}",
            range_form(&p, &r),
            totals_html(&totals, false),
            charts(&r, &series),
            table("consumer-routes", &["API", "Route"], &routes, &|row| vec![
                text_cell(row.group.first()),
                text_cell(row.group.get(1))
            ]),
            c = esc(&consumer),
        ))
    };
    let body = body.await;
    respond(&state, &caller, "/consumers", &title, body)
}

/// The consumer's quotas in their current windows (none without plans or quotas).
fn quotas_html(quotas: &serde_json::Value) -> String {
    let Some(list) = quotas.as_array().filter(|l| !l.is_empty()) else {
        return String::new();
    };
    let mut s = String::from(
        "<section id=\"consumer-quotas\"><h2>Quotas</h2><div class=\"table-wrap\">\
         <table class=\"data\" id=\"quotas\"><thead><tr><th>Quota</th><th>Window (UTC)</th>\
         <th class=\"num\">Used</th><th class=\"num\">Limit</th><th class=\"num\">Used %</th>\
         <th>Enforcement</th></tr></thead><tbody>",
    );
    for q in list {
        let text = |k: &str| esc(q[k].as_str().unwrap_or_default());
        let _ = write!(
            s,
            "<tr data-quota=\"{}\"><td>{}</td><td>{} from {}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            text("quota"),
            q["description"].as_str().map_or_else(|| text("quota"), esc),
            text("window"),
            esc(&q["window_start"]
                .as_str()
                .unwrap_or_default()
                .replace('T', " ")),
            int(q["used"].as_i64().unwrap_or(0)),
            int(q["limit"].as_i64().unwrap_or(0)),
            q["percent"],
            text("enforcement"),
        );
    }
    s.push_str("</tbody></table></div></section>");
    s
}

/// Firing alerts and the latest signals from `tollgate watch`.
fn alerts_html(alerts: &serde_json::Value) -> String {
    let mut s = String::from("<section id=\"alerts\"><h2>Alerts</h2>");
    match alerts["firing"].as_array().filter(|f| !f.is_empty()) {
        None => s.push_str("<p class=\"muted\" id=\"no-alerts\">No alert is firing.</p>"),
        Some(firing) => {
            s.push_str(
                "<div class=\"table-wrap\"><table class=\"data\" id=\"firing\"><thead><tr><th>Rule</th>\
                 <th>Where</th><th>Metric</th><th class=\"num\">Value</th><th>Threshold</th>\
                 <th>Since (UTC)</th></tr></thead><tbody>",
            );
            for f in firing {
                let text = |k: &str| esc(f[k].as_str().unwrap_or_default());
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}{}</td><td>{}</td><td class=\"num\">{}</td><td>{} {}</td><td>{}</td></tr>",
                    text("rule"),
                    f["by"]
                        .as_str()
                        .map(|b| format!("{}: ", esc(b)))
                        .unwrap_or_default(),
                    f["key"].as_str().map_or_else(|| "all traffic".into(), esc),
                    text("metric"),
                    f["value"]
                        .as_f64()
                        .map_or("-".into(), |v| format!("{v:.4}")),
                    text("comparison"),
                    f["threshold"],
                    esc(&text("fired_at").replace('T', " ")),
                );
            }
            s.push_str("</tbody></table></div>");
        }
    }
    if let Some(recent) = alerts["signals"].as_array().filter(|r| !r.is_empty()) {
        s.push_str(
            "<h3>Recent signals</h3><div class=\"table-wrap\"><table class=\"data\" id=\"signals\">\
             <thead><tr><th>When (UTC)</th><th>Signal</th><th>Delivered</th></tr></thead><tbody>",
        );
        for r in recent.iter().take(10) {
            let what = match r["type"].as_str() {
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
            };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r["created_at"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('T', " ")),
                esc(&what),
                if r["delivered"] == true {
                    "yes"
                } else {
                    "pending"
                }
            );
        }
        s.push_str("</tbody></table></div>");
    }
    s.push_str("</section>");
    s
}

/// The consumer's plan and month-to-date estimate, line by line, and (for
/// callers with the finance role) its invoices.
async fn billing_html(
    state: &AppState,
    caller: &Caller,
    est: Option<&Estimates>,
    consumer: &str,
) -> Result<String, ApiError> {
    let Some(e) = est else {
        return Ok(String::new());
    };
    let mut s = String::from("<section id=\"consumer-billing\"><h2>Plan and charges</h2>");
    match e.invoices.get(consumer) {
        Some(inv) => {
            let _ = write!(
                s,
                "<p>Plan <strong>{}</strong>. Month to date ({}, usage up to {} UTC, an estimate from the rollups): \
                 <strong data-estimate=\"{}\">{} {}</strong></p>\
                 <div class=\"table-wrap\"><table class=\"data\" id=\"estimate-lines\"><thead><tr><th>Charge</th>\
                 <th class=\"num\">Quantity</th><th class=\"num\">Amount</th></tr></thead><tbody>",
                esc(&data::plans_of(inv)),
                e.period,
                e.as_of.format("%Y-%m-%d %H:%M"),
                inv.total,
                inv.total,
                esc(&inv.currency)
            );
            for seg in &inv.segments {
                for l in &seg.lines {
                    let _ = write!(
                        s,
                        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                        esc(&l.line.description),
                        int(i64::try_from(l.line.quantity).unwrap_or(i64::MAX)),
                        l.line.amount
                    );
                }
            }
            s.push_str("</tbody></table></div>");
        }
        None => s.push_str(
            "<p class=\"muted\">No subscription this month: this consumer's calls are listed as \
             not billed by the invoice run.</p>",
        ),
    }
    if caller.access.allows(Role::Finance) {
        let ledger = Ledger::open(state.lake.location()).map_err(ApiError::internal)?;
        let periods = ledger.periods().await.map_err(ApiError::internal)?;
        let mine: Vec<_> = periods
            .iter()
            .rev()
            .filter_map(|p| {
                p.invoices
                    .iter()
                    .find(|i| i.consumer == consumer)
                    .map(|i| (p, i))
            })
            .collect();
        s.push_str("<h3>Invoices</h3>");
        if mine.is_empty() {
            s.push_str("<p class=\"muted\">No invoices yet.</p>");
        } else {
            s.push_str(
                "<table class=\"data\" id=\"consumer-invoices\"><thead><tr><th>Period</th><th>Number</th>\
                 <th class=\"num\">Total</th></tr></thead><tbody>",
            );
            for (p, i) in mine {
                let _ = write!(
                    s,
                    "<tr><td><a href=\"/invoices/{}/{}\">{}</a></td><td>{}</td><td class=\"num\">{} {}</td></tr>",
                    p.period,
                    esc(&html::path_segment(consumer)),
                    p.period,
                    i.number.as_ref().map_or("draft".into(), |n| esc(&n.0)),
                    i.total,
                    esc(&i.currency)
                );
            }
            s.push_str("</tbody></table>");
        }
    }
    s.push_str("</section>");
    Ok(s)
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
        Ok::<_, ApiError>(format!(
            "<h1>Routes and APIs</h1>{}<h2>APIs</h2>{}<h2>Routes</h2>{}",
            range_form(&p, &r),
            table("apis", &["API"], &apis, &|row| vec![text_cell(
                row.group.first()
            )]),
            table("routes", &["API", "Route"], &routes, &|row| vec![
                text_cell(row.group.first()),
                text_cell(row.group.get(1))
            ]),
        ))
    };
    respond(&state, &caller, "/routes", "Routes", body.await)
}
