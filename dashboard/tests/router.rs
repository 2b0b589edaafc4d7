//! The whole application driven through `tower::ServiceExt::oneshot`, no
//! socket: every endpoint over a fixture lake with figures counted by hand,
//! bad input, the role-by-route matrix, login sessions, the OpenAPI
//! document and real responses checked against it.

mod conformance;
mod fixture;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tollgate_aggregator::AnalyticsConfig;
use tollgate_dashboard::{Role, ServeConfig, ServeSettings, SystemClock, TokenSource};
use tollgate_schemas::AccessEvent;
use tower::ServiceExt;

const VIEWER: &str = "viewer-token-0123456789";
const FINANCE: &str = "finance-token-0123456789";
const ANALYST: &str = "analyst-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

/// Both days of the fixture.
const ALL: &str = "from=2024-06-11&to=2024-06-13";

fn settings(tokens: bool) -> ServeSettings {
    let mut serve = ServeConfig::default();
    if tokens {
        for (role, t) in [
            (Role::Viewer, VIEWER),
            (Role::Finance, FINANCE),
            (Role::Analyst, ANALYST),
            (Role::Admin, ADMIN),
        ] {
            serve
                .tokens
                .insert(role, vec![TokenSource::Literal(t.into())]);
        }
    }
    ServeSettings {
        serve,
        lake: fixture::lake().to_str().unwrap().into(),
        analytics: AnalyticsConfig::default(),
        metrics_file: None,
        billing: None,
    }
}

fn app_with(s: &ServeSettings) -> Router {
    tollgate_dashboard::build(
        s,
        tollgate_dashboard::app::areas(),
        &|_| None,
        Arc::new(SystemClock),
    )
    .unwrap()
    .0
}

fn app() -> Router {
    app_with(&settings(true))
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn header(&self, h: header::HeaderName) -> &str {
        self.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn request(method: Method, uri: &str, token: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    match body {
        Some(text) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(text.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    send(app, request(Method::GET, uri, Some(ADMIN), None)).await
}

async fn sql(app: &Router, body: &str) -> Reply {
    send(
        app,
        request(Method::POST, "/api/sql", Some(ANALYST), Some(body)),
    )
    .await
}

/// Hand counts over events matching `keep`: (calls, 4xx, 5xx).
fn count(events: &[AccessEvent], keep: impl Fn(&AccessEvent) -> bool) -> (i64, i64, i64) {
    let mut c = (0, 0, 0);
    for e in events.iter().filter(|e| keep(e)) {
        c.0 += 1;
        let s = e.status.unwrap();
        c.1 += i64::from((400..500).contains(&s));
        c.2 += i64::from((500..600).contains(&s));
    }
    c
}

fn figures(v: &Value) -> (i64, i64, i64) {
    (
        v["calls"].as_i64().unwrap(),
        v["errors_4xx"].as_i64().unwrap(),
        v["errors_5xx"].as_i64().unwrap(),
    )
}

/// `percentile_cont` over the latencies of `keep`.
fn exact_percentile(events: &[AccessEvent], q: f64, keep: impl Fn(&AccessEvent) -> bool) -> f64 {
    let mut v: Vec<f64> = events
        .iter()
        .filter(|e| keep(e))
        .filter_map(|e| e.latency_ms)
        .collect();
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    v[rank.floor() as usize] + (v[rank.ceil() as usize] - v[rank.floor() as usize]) * rank.fract()
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() / want <= 0.01
}

#[tokio::test]
async fn traffic_totals_and_hourly_series_match_the_events() {
    let events = fixture::events();
    let app = app();
    let r = get(&app, &format!("/api/traffic?{ALL}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    assert_eq!(v["bucket"], "hour");
    assert_eq!(v["source"], "rollups");
    assert_eq!(v["from"], "2024-06-11T00:00:00+00:00");
    assert_eq!(v["to"], "2024-06-13T00:00:00+00:00");
    assert_eq!(figures(&v["totals"]), count(&events, |_| true));
    assert_eq!(v["totals"]["consumers"], 4);
    let p95 = exact_percentile(&events, 0.95, |_| true);
    assert!(close(v["totals"]["latency_p95"].as_f64().unwrap(), p95));

    // 47 hours had calls; the quiet one is left out, and every hour's
    // calls are that hour's events.
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 47);
    assert!(
        series
            .iter()
            .all(|p| p["bucket"] != "2024-06-12T06:00:00+00:00")
    );
    for p in series {
        let start = chrono::DateTime::parse_from_rfc3339(p["bucket"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let want = count(&events, |e| e.ts.0 >= start && e.ts.0 < start + 3_600_000);
        assert_eq!(figures(p), want, "{p}");
    }
}

#[tokio::test]
async fn minute_and_day_buckets() {
    let events = fixture::events();
    let app = app();
    let v = get(
        &app,
        "/api/traffic?from=2024-06-11T10:00&to=2024-06-11T12:00&bucket=minute&consumer=acme",
    )
    .await
    .json();
    assert_eq!(v["source"], "events");
    assert_eq!(v["bucket"], "minute");
    let (from, to) = (
        fixture::BASE_MS + 10 * 3_600_000,
        fixture::BASE_MS + 12 * 3_600_000,
    );
    let in_range =
        |e: &AccessEvent| e.ts.0 >= from && e.ts.0 < to && e.consumer.as_deref() == Some("acme");
    assert_eq!(figures(&v["totals"]), count(&events, in_range));
    let calls: i64 = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["calls"].as_i64().unwrap())
        .sum();
    assert_eq!(calls, count(&events, in_range).0);
    // auto picks minutes for short ranges.
    let v = get(
        &app,
        "/api/traffic?from=2024-06-11T10:00&to=2024-06-11T11:00",
    )
    .await
    .json();
    assert_eq!(v["bucket"], "minute");

    let v = get(&app, &format!("/api/traffic?{ALL}&bucket=day"))
        .await
        .json();
    let days = v["series"].as_array().unwrap();
    assert_eq!(days.len(), 2);
    let day2 = fixture::BASE_MS + 86_400_000;
    assert_eq!(figures(&days[1]), count(&events, |e| e.ts.0 >= day2));

    // `range` ends at the newest rollup hour, so "the last 24 hours" is the
    // fixture's second day.
    let v = get(&app, "/api/traffic?range=24h").await.json();
    assert_eq!(v["from"], "2024-06-12T00:00:00+00:00");
    assert_eq!(figures(&v["totals"]), count(&events, |e| e.ts.0 >= day2));
}

#[tokio::test]
async fn consumers_routes_and_top_lists() {
    let events = fixture::events();
    let app = app();
    let v = get(&app, &format!("/api/consumers?{ALL}")).await.json();
    let list = v["consumers"].as_array().unwrap();
    assert_eq!(list.len(), 5, "four consumers and the anonymous calls");
    assert_eq!(list[0]["consumer"], "acme", "ranked by calls");
    for c in list {
        let id = c["consumer"].as_str().map(String::from);
        assert_eq!(figures(c), count(&events, |e| e.consumer == id), "{c}");
        let want = count(&events, |e| e.consumer == id);
        let rate = (want.1 + want.2) as f64 / want.0 as f64;
        assert!((c["error_rate"].as_f64().unwrap() - rate).abs() < 1e-12);
        if id.is_some() {
            let p95 = exact_percentile(&events, 0.95, |e| e.consumer == id);
            assert!(
                close(c["latency_p95"].as_f64().unwrap(), p95),
                "{c} vs {p95}"
            );
        }
    }
    let by_p95 = get(&app, &format!("/api/consumers?{ALL}&order=p95"))
        .await
        .json();
    let p95s: Vec<f64> = by_p95["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["latency_p95"].as_f64().unwrap())
        .collect();
    assert!(p95s.windows(2).all(|w| w[0] >= w[1]), "{p95s:?}");

    let v = get(&app, &format!("/api/consumers/acme?{ALL}&routes=2"))
        .await
        .json();
    assert_eq!(v["consumer"], "acme");
    let acme = |e: &AccessEvent| e.consumer.as_deref() == Some("acme");
    assert_eq!(figures(&v["totals"]), count(&events, acme));
    let routes = v["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 2);
    for r in routes {
        let (api, route) = (r["api"].as_str().unwrap(), r["route"].as_str().unwrap());
        assert_eq!(
            figures(r),
            count(&events, |e| acme(e)
                && e.api.as_deref() == Some(api)
                && e.route.as_deref() == Some(route))
        );
    }
    assert!(routes[0]["calls"].as_i64() >= routes[1]["calls"].as_i64());

    // An id with a slash, a quote and an ampersand, encoded in the path.
    let odd = tollgate_dashboard::html::path_segment(fixture::ODD_CONSUMER);
    let v = get(&app, &format!("/api/consumers/{odd}?{ALL}"))
        .await
        .json();
    assert_eq!(v["consumer"], fixture::ODD_CONSUMER);
    assert_eq!(
        figures(&v["totals"]),
        count(&events, |e| e.consumer.as_deref()
            == Some(fixture::ODD_CONSUMER))
    );

    let v = get(&app, &format!("/api/routes?{ALL}")).await.json();
    let routes = v["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 3);
    for r in routes {
        let route = r["route"].as_str().unwrap();
        assert_eq!(
            figures(r),
            count(&events, |e| e.route.as_deref() == Some(route))
        );
    }
    let v = get(&app, &format!("/api/routes?{ALL}&consumer=globex"))
        .await
        .json();
    let total: i64 = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["calls"].as_i64().unwrap())
        .sum();
    assert_eq!(
        total,
        count(&events, |e| e.consumer.as_deref() == Some("globex")).0
    );

    let v = get(
        &app,
        &format!("/api/top?{ALL}&by=status_class&order=calls&n=2"),
    )
    .await
    .json();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["status_class"], "2xx");
    assert_eq!(
        rows[0]["calls"].as_i64().unwrap(),
        count(&events, |e| e.status == Some(200)).0
    );
    let v = get(&app, &format!("/api/top?{ALL}&by=route&order=errors&n=1"))
        .await
        .json();
    let mut errors: Vec<(i64, String)> = ["list", "get", "create"]
        .iter()
        .map(|r| {
            let c = count(&events, |e| e.route.as_deref() == Some(*r));
            (c.1 + c.2, r.to_string())
        })
        .collect();
    errors.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(v["rows"][0]["route"], errors[0].1.as_str());
}

#[tokio::test]
async fn bad_parameters_are_4xx_with_stable_codes() {
    let app = app();
    let cases: &[(&str, u16, &str)] = &[
        (
            "/api/traffic?from=2024-13-01&to=2024-06-13",
            400,
            "invalid_date",
        ),
        (
            "/api/traffic?from=last+tuesday&to=2024-06-13",
            400,
            "invalid_date",
        ),
        ("/api/traffic?from=2024-06-11", 400, "invalid_range"),
        (
            "/api/traffic?from=2024-06-13&to=2024-06-11",
            400,
            "invalid_range",
        ),
        ("/api/traffic?range=3w", 400, "invalid_range"),
        (
            "/api/traffic?from=2020-01-01&to=2024-06-13",
            400,
            "range_too_large",
        ),
        (
            "/api/traffic?range=3d&bucket=minute",
            400,
            "range_too_large",
        ),
        ("/api/traffic?range=1d&bucket=week", 400, "invalid_bucket"),
        ("/api/traffic?range=1d&colour=red", 400, "unknown_parameter"),
        ("/api/traffic?range=1d&range=2d", 400, "invalid_parameter"),
        (
            "/api/traffic?range=1d&consumer=nobody",
            404,
            "unknown_consumer",
        ),
        ("/api/consumers/nobody", 404, "unknown_consumer"),
        ("/api/consumers/nobody?range=1d", 404, "unknown_consumer"),
        ("/api/consumers/acme?routes=0", 400, "invalid_parameter"),
        ("/api/consumers?order=loudest", 400, "invalid_parameter"),
        ("/api/top?by=colour", 400, "invalid_parameter"),
        ("/api/top?n=0", 400, "invalid_parameter"),
        ("/api/top?n=ten", 400, "invalid_parameter"),
        ("/api/top?n=1001", 400, "invalid_parameter"),
        ("/api/routes?consumer=nobody", 404, "unknown_consumer"),
        ("/api/routes?to=2024-06-11", 400, "invalid_range"),
        ("/api/nothing-here", 404, "not_found"),
    ];
    for (uri, status, code) in cases {
        let r = get(&app, uri).await;
        assert_eq!(r.status.as_u16(), *status, "{uri}: {}", r.body);
        assert_eq!(r.code(), *code, "{uri}: {}", r.body);
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = send(
        &app,
        request(Method::DELETE, "/api/traffic", Some(ADMIN), None),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");
    // Pages answer bad input with an error page and the same status.
    for (uri, status) in [
        ("/overview?from=2024-13-01&to=2024-06-13", 400),
        ("/consumers?bucket=week", 400),
        ("/consumers/nobody", 404),
        ("/routes?nonsense=1", 400),
        ("/no-such-page", 404),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status.as_u16(), status, "{uri}");
        assert!(
            r.header(header::CONTENT_TYPE).starts_with("text/html"),
            "{uri}"
        );
        assert!(r.body.contains("class=\"error\""), "{uri}: {}", r.body);
    }
}

#[tokio::test]
async fn sql_api_runs_read_only_queries_as_json_or_csv() {
    let events = fixture::events();
    let app = app();
    let r = sql(
        &app,
        r#"{"query": "SELECT consumer, count(*) AS calls, avg(latency_ms) > 0 AS slow FROM events WHERE consumer = 'globex' GROUP BY consumer"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    let globex = count(&events, |e| e.consumer.as_deref() == Some("globex")).0;
    assert_eq!(v["rows"], json!([["globex", globex, true]]));
    assert_eq!(v["columns"][1]["name"], "calls");
    assert_eq!(v["columns"][1]["type"], "Int64");
    assert_eq!(v["row_count"], 1);
    assert_eq!(v["truncated"], false);

    let r = sql(
        &app,
        r#"{"query": "SELECT count(*) AS n FROM events", "format": "csv"}"#,
    )
    .await;
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/csv"));
    assert_eq!(r.body, format!("n\n{}\n", events.len()));
    let mut req = request(
        Method::POST,
        "/api/sql",
        Some(ANALYST),
        Some(r#"{"query": "SELECT 1 AS one"}"#),
    );
    req.headers_mut()
        .insert(header::ACCEPT, "text/csv".parse().unwrap());
    assert_eq!(send(&app, req).await.body, "one\n1\n");

    let cases: &[(&str, u16, &str)] = &[
        (r#"{"query": "DROP TABLE events"}"#, 400, "sql_refused"),
        (r#"{"query": "SELECT 1; SELECT 2"}"#, 400, "sql_refused"),
        (
            r#"{"query": "COPY (SELECT 1) TO '/tmp/x.csv'"}"#,
            400,
            "sql_refused",
        ),
        (r#"{"query": "SELEC 1"}"#, 400, "sql_error"),
        (r#"{"query": "SELECT nope FROM events"}"#, 400, "sql_error"),
        (r#"{"query": "   "}"#, 400, "invalid_parameter"),
        (
            r#"{"query": "SELECT 1", "format": "xml"}"#,
            400,
            "invalid_parameter",
        ),
        (r#"{"query": "SELECT 1", "limit": 3}"#, 400, "invalid_body"),
        (r#"{"sql": "SELECT 1"}"#, 400, "invalid_body"),
        ("SELECT 1", 400, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let r = sql(&app, body).await;
        assert_eq!(r.status.as_u16(), *status, "{body}: {}", r.body);
        assert_eq!(r.code(), *code, "{body}: {}", r.body);
    }

    // JSON rows stop at sql_max_rows; the CSV has every row.
    let mut s = settings(true);
    s.serve.sql_max_rows = 3;
    let small = app_with(&s);
    let v = sql(
        &small,
        r#"{"query": "SELECT event_id FROM events ORDER BY event_id"}"#,
    )
    .await
    .json();
    assert_eq!(v["rows"].as_array().unwrap().len(), 3);
    // The stream stops once a fourth row is seen: the total is not counted.
    assert_eq!(v["row_count"], 3);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["truncated_reason"], "rows");
    assert!(v["message"].as_str().unwrap().contains("LIMIT"), "{v}");
    let csv = sql(
        &small,
        r#"{"query": "SELECT event_id FROM events ORDER BY event_id", "format": "csv"}"#,
    )
    .await;
    assert_eq!(csv.body.lines().count(), events.len() + 1);
}

#[tokio::test]
async fn sql_api_answers_hostile_queries_with_clear_errors() {
    let mut s = settings(true);
    s.analytics.sql_max_result_mb = 1;
    let app = app_with(&s);
    // A value that would be a gigabyte is refused before it is built.
    let r = sql(&app, r#"{"query": "SELECT repeat('x', 1000000000)"}"#).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    assert_eq!(r.code(), "value_too_large", "{}", r.body);
    // Ten billion rows: JSON shows what fits in a MiB and says so.
    let wide = "SELECT repeat('x', 1000) AS s FROM generate_series(1, 10000000000)";
    let v = sql(&app, &format!(r#"{{"query": "{wide}"}}"#)).await.json();
    assert_eq!(v["truncated"], true, "{v:.300}");
    assert_eq!(v["truncated_reason"], "bytes");
    let shown = v["rows"].as_array().unwrap().len();
    assert!((1..1100).contains(&shown), "{shown}");
    // A CSV download is refused rather than silently short.
    let r = sql(&app, &format!(r#"{{"query": "{wide}", "format": "csv"}}"#)).await;
    assert_eq!(r.status.as_u16(), 413, "{:.300}", r.body);
    assert_eq!(r.code(), "result_too_large");
}

#[tokio::test]
async fn pages_draw_the_fixture() {
    let events = fixture::events();
    let app = app();
    let r = get(&app, &format!("/overview?{ALL}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header(header::CONTENT_SECURITY_POLICY)
            .contains("default-src 'self'")
    );
    let total = count(&events, |_| true);
    assert!(
        r.body.contains(&format!(
            "data-total=\"calls\"><div class=\"label\">Calls</div><div class=\"value\">{}</div>",
            tollgate_dashboard::html::int(total.0)
        )),
        "{}",
        r.body
    );
    for chart in ["requests", "errors", "latency"] {
        assert!(
            r.body
                .contains(&format!("data-chart=\"{chart}\" data-slots=\"48\"")),
            "{chart}"
        );
    }
    // The 5xx bars are the fixture's 5xx per hour, the quiet hour zero.
    let mut want = Vec::new();
    for h in 0..48 {
        let start = fixture::BASE_MS + h * 3_600_000;
        let c = count(&events, |e| e.ts.0 >= start && e.ts.0 < start + 3_600_000);
        want.push(c.2.to_string());
    }
    assert!(
        r.body.contains(&format!(
            "data-series=\"5xx\" data-values=\"{}\"",
            want.join(",")
        )),
        "{}",
        r.body
    );
    // No latency in the quiet hour: a gap, not a zero.
    let p50 = r
        .body
        .split("data-series=\"p50\" data-values=\"")
        .nth(1)
        .unwrap();
    let p50: Vec<&str> = p50[..p50.find('"').unwrap()].split(',').collect();
    assert_eq!(p50.len(), 48);
    assert_eq!(p50[fixture::QUIET_HOUR as usize], "");
    assert!(
        r.body
            .contains("href=\"/consumers/acme?from=2024-06-11&amp;to=2024-06-13\"")
    );

    let r = get(&app, &format!("/consumers?{ALL}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let acme = count(&events, |e| e.consumer.as_deref() == Some("acme")).0;
    assert!(
        r.body
            .contains(&format!("data-sort=\"{acme}\" data-col=\"calls\""))
    );
    assert!(r.body.contains("(anonymous)"));
    // The odd id is escaped in text and encoded in its link. The templates
    // (maud) escape `&`, `<`, `>` and `"`; an apostrophe is left as it is,
    // which is safe because every attribute they write is double-quoted.
    assert!(r.body.contains("o'brien &amp; co/&lt;x&gt;"));
    assert!(
        r.body
            .contains("/consumers/o%27brien%20%26%20co%2F%3Cx%3E?")
    );
    assert!(!r.body.contains("<x>"));

    let r = get(&app, &format!("/consumers/acme?{ALL}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("data-consumer=\"acme\""));
    assert!(r.body.contains("data-chart=\"latency\""));
    assert!(r.body.contains("id=\"consumer-routes\""));

    let r = get(&app, &format!("/routes?{ALL}")).await;
    assert_eq!(r.status, StatusCode::OK);
    for route in ["list", "get", "create"] {
        let c = count(&events, |e| e.route.as_deref() == Some(route)).0;
        assert!(
            r.body.contains(&format!(
                "<td>{route}</td><td class=\"num\" data-sort=\"{c}\""
            )),
            "{route}"
        );
    }

    let r = get(&app, "/sql?q=SELECT+count(*)+AS+n+FROM+events").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("id=\"sql-result\""));
    assert!(
        r.body
            .contains(&format!("<td class=\"num\">{}</td>", events.len()))
    );
    assert!(
        r.body
            .contains("href=\"/sql/download?q=SELECT+count%28*%29+AS+n+FROM+events\"")
    );
    let r = get(&app, "/sql?q=DROP+TABLE+events").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("data-code=\"sql_refused\""));
    let r = get(&app, "/sql").await;
    assert!(r.body.contains("Examples"));
    let r = get(&app, "/sql/download?q=SELECT+1+AS+one").await;
    assert_eq!(r.body, "one\n1\n");
    assert!(r.header(header::CONTENT_DISPOSITION).contains("attachment"));
}

/// Every route with a role, the role, and a request that should succeed.
const MATRIX: &[(&str, &str, &str, Option<&str>, Role)] = &[
    ("GET", "/overview", "/overview", None, Role::Viewer),
    ("GET", "/consumers", "/consumers", None, Role::Viewer),
    (
        "GET",
        "/consumers/{consumer}",
        "/consumers/acme",
        None,
        Role::Viewer,
    ),
    ("GET", "/routes", "/routes", None, Role::Viewer),
    ("GET", "/api/traffic", "/api/traffic", None, Role::Viewer),
    ("GET", "/api/top", "/api/top", None, Role::Viewer),
    (
        "GET",
        "/api/consumers",
        "/api/consumers",
        None,
        Role::Viewer,
    ),
    (
        "GET",
        "/api/consumers/{consumer}",
        "/api/consumers/acme",
        None,
        Role::Viewer,
    ),
    ("GET", "/api/routes", "/api/routes", None, Role::Viewer),
    ("GET", "/api/alerts", "/api/alerts", None, Role::Viewer),
    ("GET", "/invoices", "/invoices", None, Role::Finance),
    (
        "GET",
        "/invoices/{period}",
        "/invoices/2024-06",
        None,
        Role::Finance,
    ),
    (
        "GET",
        "/invoices/{period}/{consumer}",
        "/invoices/2024-06/acme",
        None,
        Role::Finance,
    ),
    ("GET", "/api/invoices", "/api/invoices", None, Role::Finance),
    (
        "GET",
        "/api/invoices/{period}",
        "/api/invoices/2024-06",
        None,
        Role::Finance,
    ),
    (
        "GET",
        "/api/invoices/{period}/{consumer}",
        "/api/invoices/2024-06/acme.csv",
        None,
        Role::Finance,
    ),
    (
        "GET",
        "/credit-notes/{period}/{invoice}",
        "/credit-notes/2024-07/INV-2024-000001",
        None,
        Role::Finance,
    ),
    (
        "GET",
        "/api/credit-notes/{period}",
        "/api/credit-notes/2024-07",
        None,
        Role::Finance,
    ),
    (
        "GET",
        "/api/credit-notes/{period}/{invoice}",
        "/api/credit-notes/2024-07/INV-2024-000001.csv",
        None,
        Role::Finance,
    ),
    ("GET", "/sql", "/sql?q=SELECT+1", None, Role::Analyst),
    (
        "GET",
        "/sql/download",
        "/sql/download?q=SELECT+1",
        None,
        Role::Analyst,
    ),
    (
        "POST",
        "/api/sql",
        "/api/sql",
        Some(r#"{"query": "SELECT 1"}"#),
        Role::Analyst,
    ),
];

/// Routes open to everyone, and what they answer a caller without
/// credentials.
const PUBLIC: &[(&str, &str, u16)] = &[
    ("GET", "/", 303),
    ("GET", "/login", 200),
    ("POST", "/login", 401),
    ("POST", "/logout", 303),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
    ("GET", "/metrics", 200),
    ("GET", "/api/openapi.json", 200),
    ("GET", "/assets/{file}", 200),
];

#[tokio::test]
async fn every_route_refuses_every_role_it_should() {
    let app = app();
    let tokens = [
        (Role::Viewer, VIEWER),
        (Role::Finance, FINANCE),
        (Role::Analyst, ANALYST),
        (Role::Admin, ADMIN),
    ];
    for (method, template, uri, body, needs) in MATRIX {
        let method: Method = method.parse().unwrap();
        let api = template.starts_with("/api/");
        for (role, token) in tokens {
            let r = send(&app, request(method.clone(), uri, Some(token), *body)).await;
            let allowed = role == *needs || role == Role::Admin;
            if allowed {
                assert_eq!(r.status, StatusCode::OK, "{role} on {uri}: {}", r.body);
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{role} on {uri}");
                if api {
                    assert_eq!(r.code(), "forbidden", "{role} on {uri}");
                } else {
                    assert!(r.body.contains("Not allowed"), "{role} on {uri}");
                }
            }
        }
        // No credentials, or a wrong token: 401 for the API, the login form for pages.
        for token in [None, Some("not-a-valid-token-at-all")] {
            let r = send(&app, request(method.clone(), uri, token, *body)).await;
            if api {
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}");
                assert_eq!(r.code(), "unauthorized");
                assert!(r.header(header::WWW_AUTHENTICATE).starts_with("Bearer"));
            } else {
                assert_eq!(r.status, StatusCode::SEE_OTHER, "{uri} {token:?}");
                assert!(
                    r.header(header::LOCATION).starts_with("/login?next=%2F"),
                    "{uri}"
                );
            }
        }
        let r = send(
            &app,
            Request::builder()
                .method(method.clone())
                .uri(*uri)
                .header(header::AUTHORIZATION, format!("Basic {ADMIN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert!(
            matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::SEE_OTHER),
            "{uri}: a non-bearer scheme is not a token"
        );
    }
    // Public routes answer without credentials (POST /login without a
    // token is the form again, saying the token is not valid).
    for (method, path, status) in PUBLIC {
        let uri = path.replace("{file}", "app.css");
        let r = send(&app, request(method.parse().unwrap(), &uri, None, None)).await;
        assert_eq!(r.status.as_u16(), *status, "{method} {uri}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = app();
    let r = get(&app, "/api/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let listed: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, t, ..)| (m.to_string(), t.to_string()))
        .chain(SELF.iter().map(|(t, _)| ("GET".to_string(), t.to_string())))
        .chain(
            PUBLIC
                .iter()
                .map(|(m, p, _)| (m.to_string(), p.to_string())),
        )
        .collect();
    assert_eq!(listed, routes);
    // Every reference resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap().to_string());
                    }
                    refs(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20);
    for r in all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
}

#[tokio::test]
async fn login_sets_a_session_cookie_that_is_not_the_token() {
    let app = app();
    let form = |token: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "token={token}&next=%2Fconsumers%3Frange%3D7d"
            )))
            .unwrap()
    };
    let r = send(&app, form("wrong-token-0123456789")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("not valid"));
    assert!(r.headers.get(header::SET_COOKIE).is_none());

    let r = send(&app, form(VIEWER)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header(header::LOCATION), "/consumers?range=7d");
    let cookie = r.header(header::SET_COOKIE).to_string();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains(VIEWER));
    let pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie = |uri: &str, method: Method| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, pair.clone())
            .body(Body::empty())
            .unwrap()
    };
    let r = send(&app, with_cookie("/consumers", Method::GET)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Log out"));
    assert!(!r.body.contains("href=\"/sql\""), "viewer sees no SQL link");
    let r = send(&app, with_cookie("/api/consumers", Method::GET)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&app, with_cookie("/api/sql", Method::POST)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&app, with_cookie("/", Method::GET)).await;
    assert_eq!(r.header(header::LOCATION), "/overview");

    let r = send(&app, with_cookie("/logout", Method::POST)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.header(header::SET_COOKIE).contains("Max-Age=0"));
    let r = send(&app, with_cookie("/api/consumers", Method::GET)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&app, with_cookie("/consumers", Method::GET)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // Only local paths are followed after login.
    let r = send(
        &app,
        Request::builder()
            .method(Method::POST)
            .uri("/login")
            .body(Body::from(format!(
                "token={ADMIN}&next=https%3A%2F%2Fevil.example"
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(r.header(header::LOCATION), "/");
}

#[tokio::test]
async fn an_open_server_lets_everyone_in_as_admin() {
    let app = app_with(&settings(false));
    let r = send(&app, request(Method::GET, "/api/consumers", None, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&app, request(Method::GET, "/sql?q=SELECT+1", None, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("open server"));
    let r = send(&app, request(Method::GET, "/login", None, None)).await;
    assert!(r.body.contains("No login needed"));
}

#[tokio::test]
async fn metrics_speak_openmetrics_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_file = dir.path().join("ingest.prom");
    let ingest = tollgate_ingest::metrics::Metrics::default();
    ingest.consumed(5, 500, 4, 1);
    // A file that already closes with `# EOF` must not close the scrape early.
    std::fs::write(&metrics_file, ingest.render() + "# EOF\n").unwrap();
    let mut s = settings(true);
    s.metrics_file = Some(metrics_file.to_str().unwrap().into());
    let app = app_with(&s);
    get(&app, "/api/traffic?range=1d").await;
    let req = Request::builder()
        .uri("/metrics")
        .header(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .body(Body::empty())
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header(header::CONTENT_TYPE)
            .starts_with("application/openmetrics-text")
    );
    assert!(r.body.ends_with("\n# EOF\n"), "{}", r.body);
    assert_eq!(r.body.matches("# EOF").count(), 1);
    for line in [
        "# TYPE tollgate_http_requests counter\n",
        "tollgate_http_requests_total{route=\"/api/traffic\",method=\"GET\",status=\"200\"} 1\n",
        "# TYPE tollgate_build_info gauge\n",
        "tollgate_ingest_messages_total 5\n",
        "tollgate_ingest_quarantined_total 0\n",
    ] {
        assert!(r.body.contains(line), "{line} in {}", r.body);
    }
    // Without the Accept header: the classic text format, no `# EOF`.
    let r = send(&app, request(Method::GET, "/metrics", None, None)).await;
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/plain"));
    assert!(!r.body.contains("# EOF"));
}

#[tokio::test]
async fn health_readiness_metrics_and_assets() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_file = dir.path().join("ingest.prom");
    std::fs::write(
        &metrics_file,
        "# TYPE tollgate_ingest_messages_total counter\ntollgate_ingest_messages_total 42\n",
    )
    .unwrap();
    let mut s = settings(true);
    s.metrics_file = Some(metrics_file.to_str().unwrap().into());
    let app = app_with(&s);

    let r = send(&app, request(Method::GET, "/healthz", None, None)).await;
    assert_eq!(r.json(), json!({"status": "ok"}));
    let r = send(&app, request(Method::GET, "/readyz", None, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["rollups_last_hour"], "2024-06-12T23:00:00+00:00");

    get(&app, "/api/traffic?range=1d").await;
    get(&app, "/api/traffic?range=1x").await;
    let r = send(&app, request(Method::GET, "/metrics", None, None)).await;
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/plain"));
    for line in [
        "tollgate_http_requests_total{route=\"/api/traffic\",method=\"GET\",status=\"200\"} 1\n",
        "tollgate_http_requests_total{route=\"/api/traffic\",method=\"GET\",status=\"400\"} 1\n",
        "tollgate_http_request_duration_seconds_count{route=\"/api/traffic\"} 2\n",
        "tollgate_lake_up 1\n",
        "tollgate_sql_queries_running 0\n",
        "tollgate_rollups_last_hour_timestamp_seconds 1718233200\n",
        "tollgate_ingest_messages_total 42\n",
    ] {
        assert!(r.body.contains(line), "{line} in {}", r.body);
    }
    assert!(!r.body.contains(ADMIN));

    let r = send(&app, request(Method::GET, "/assets/app.css", None, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/css"));
    assert_eq!(r.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let r = send(&app, request(Method::GET, "/assets/app.js", None, None)).await;
    assert!(r.body.contains("sortTable"));
    let r = send(
        &app,
        request(Method::GET, "/assets/secrets.txt", None, None),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A lake that cannot be opened is not ready, and says why.
    let mut broken = settings(true);
    broken.lake = "s3://".into();
    let r = send(
        &app_with(&broken),
        request(Method::GET, "/readyz", None, None),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.code(), "lake_unavailable");
}

#[tokio::test]
async fn invoices_are_served_to_finance_as_stored() {
    use rust_decimal::Decimal;
    let app = app();
    // June billed acme's calls and a backfill removed since.
    let acme = count(&fixture::events(), |e| {
        e.consumer.as_deref() == Some("acme")
    })
    .0 + fixture::BACKFILL_CALLS;
    // 10 USD base fee plus 0.01 USD for each of acme's calls.
    let want = Decimal::from(10) + Decimal::new(acme, 2);

    let r = get(&app, "/api/invoices").await;
    assert_eq!(r.status, StatusCode::OK);
    let periods = r.json();
    assert_eq!(periods[0]["period"], "2024-06");
    assert_eq!(periods[0]["status"], "finalized");

    let r = get(&app, "/api/invoices/2024-06").await;
    let doc = r.json();
    assert_eq!(doc["invoices"].as_array().unwrap().len(), 1);
    let inv = &doc["invoices"][0];
    assert_eq!(inv["number"], "INV-2024-000001");
    assert_eq!(inv["consumer"], "acme");
    assert_eq!(
        inv["total"].as_str().unwrap().parse::<Decimal>().unwrap(),
        want
    );
    // Its prepaid grant paid part of it.
    let due = want - Decimal::new(fixture::GRANT_CENTS, 2);
    assert_eq!(
        inv["amount_due"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        due
    );
    // Consumers with traffic but no subscription are listed, not dropped.
    let unbilled: BTreeSet<&str> = doc["period"]["report"]["unbilled"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["consumer"].as_str())
        .collect();
    assert!(unbilled.contains("globex") && unbilled.contains("initech"));

    // The invoice's JSON is the ledger's stored bytes, unchanged.
    let r = get(&app, "/api/invoices/2024-06/acme.json").await;
    let stored = tollgate_invoicing::Ledger::open(fixture::lake().to_str().unwrap())
        .unwrap()
        .invoice_bytes("2024-06".parse().unwrap(), "acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.body.as_bytes(), stored.as_slice());
    assert_eq!(r.header(header::CONTENT_TYPE), "application/json");

    // Downloads: named after the invoice number.
    let r = get(&app, "/api/invoices/2024-06/acme.csv").await;
    assert!(
        r.header(header::CONTENT_DISPOSITION)
            .contains("INV-2024-000001.csv")
    );
    assert_eq!(
        r.body.lines().count(),
        4,
        "header, base fee, calls, the grant's credit: {}",
        r.body
    );
    assert!(r.body.contains(&format!(",{acme},")), "{}", r.body);
    let r = get(&app, "/api/invoices/2024-06/acme.html").await;
    assert!(r.body.contains("INV-2024-000001") && r.body.contains(&want.to_string()));
    let r = get(&app, "/api/invoices/2024-06.csv").await;
    assert_eq!(r.body.lines().count(), 4, "{}", r.body);
    assert!(
        r.header(header::CONTENT_DISPOSITION)
            .contains("invoices-2024-06.csv")
    );

    // Pages: the list, the period, the invoice.
    let r = get(&app, "/invoices").await;
    assert!(r.body.contains("href=\"/invoices/2024-06\"") && r.body.contains("finalized"));
    let r = get(&app, "/invoices/2024-06").await;
    assert!(r.body.contains("href=\"/invoices/2024-06/acme\""));
    assert!(r.body.contains(&format!("{want} USD")), "{}", r.body);
    // The list shows the total and what is left to pay.
    assert!(
        r.body.contains(&format!(
            "<td class=\"num\">{want}</td><td class=\"num\">{due}</td>"
        )),
        "{}",
        r.body
    );
    let r = get(&app, "/invoices/2024-06/acme").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("INV-2024-000001"));

    // Bad input: 4xx with a stable code, never 500.
    for (uri, status, code) in [
        (
            "/api/invoices/2024-13",
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        (
            "/api/invoices/june",
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        ("/api/invoices/2024-05", StatusCode::NOT_FOUND, "not_found"),
        (
            "/api/invoices/2024-06/globex",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/invoices/2024-06.pdf",
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        assert_eq!(r.code(), code, "{uri}");
    }
    let r = get(&app, "/invoices/2024-05").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credit_notes_are_served_to_finance_as_stored() {
    use rust_decimal::Decimal;
    let app = app();
    // July's run credits the removed backfill's calls: 3 × 0.01 = 0.03.
    let credited = Decimal::new(fixture::BACKFILL_CALLS, 2);

    let r = get(&app, "/api/credit-notes/2024-07").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["period"], "2024-07");
    let notes = doc["credit_notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    let n = &notes[0];
    assert_eq!(n["status"], "finalized");
    assert_eq!(n["number"], "CN-2024-000001");
    assert_eq!(n["invoice"], "INV-2024-000001");
    assert_eq!(n["invoice_period"], "2024-06");
    assert_eq!(n["consumer"], "acme");
    assert_eq!(
        n["total"].as_str().unwrap().parse::<Decimal>().unwrap(),
        -credited
    );
    let r = get(&app, "/api/credit-notes/2024-06").await;
    assert_eq!(r.json()["credit_notes"], json!([]), "June issued none");

    // The note's JSON is the ledger's stored bytes; HTML and CSV downloads.
    let r = get(&app, "/api/credit-notes/2024-07/INV-2024-000001").await;
    let stored = tollgate_invoicing::Ledger::open(fixture::lake().to_str().unwrap())
        .unwrap()
        .credit_note_bytes(
            "2024-07".parse().unwrap(),
            &tollgate_billing::invoice::InvoiceNumber("INV-2024-000001".into()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.body.as_bytes(), stored.as_slice());
    assert_eq!(r.header(header::CONTENT_TYPE), "application/json");
    let r = get(&app, "/api/credit-notes/2024-07/INV-2024-000001.html").await;
    assert!(
        r.header(header::CONTENT_DISPOSITION)
            .contains("CN-2024-000001.html")
    );
    assert!(
        r.body.contains(&format!("id=\"credited\">{credited} USD<")),
        "{}",
        r.body
    );
    let r = get(&app, "/api/credit-notes/2024-07/INV-2024-000001.csv").await;
    assert_eq!(r.body.lines().count(), 2, "header, calls: {}", r.body);
    // Billed acme's calls and the backfill's, the lake holds acme's now.
    let acme = count(&fixture::events(), |e| {
        e.consumer.as_deref() == Some("acme")
    })
    .0;
    let (billed, now) = (
        Decimal::new(acme + fixture::BACKFILL_CALLS, 2),
        Decimal::new(acme, 2),
    );
    assert!(
        r.body.contains(&format!(",{billed},{now},-{credited},")),
        "{}",
        r.body
    );
    assert!(
        r.body
            .ends_with(&format!(",INV-2024-000001,2024-06,-{credited}\n")),
        "{}",
        r.body
    );
    let r = get(&app, "/api/credit-notes/2024-07.csv").await;
    assert_eq!(r.body.lines().count(), 2);
    assert!(
        r.header(header::CONTENT_DISPOSITION)
            .contains("credit-notes-2024-07.csv")
    );

    // Pages: the period lists the note; the note's own page.
    let r = get(&app, "/invoices").await;
    assert!(r.body.contains("href=\"/invoices/2024-07\""));
    let r = get(&app, "/invoices/2024-07").await;
    assert!(r.body.contains("id=\"credit-notes\""), "{}", r.body);
    assert!(
        r.body
            .contains("href=\"/credit-notes/2024-07/INV-2024-000001\"")
    );
    let r = get(&app, "/credit-notes/2024-07/INV-2024-000001").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Credit note CN-2024-000001"), "{}", r.body);

    // Bad input: 4xx with a stable code.
    for (uri, status, code) in [
        (
            "/api/credit-notes/2024-13",
            StatusCode::BAD_REQUEST,
            "invalid_date",
        ),
        (
            "/api/credit-notes/2024-05",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/credit-notes/2024-07/INV-2024-000009",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/credit-notes/2024-07.pdf",
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        assert_eq!(r.code(), code, "{uri}");
    }
}

/// "Now" for the month-to-date tests: 2024-06-20, after the fixture's days.
struct June20;

impl tollgate_dashboard::Clock for June20 {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        "2024-06-20T00:00:00Z".parse().unwrap()
    }
}

#[tokio::test]
async fn consumers_show_their_plan_month_to_date_estimate_and_invoices() {
    use rust_decimal::Decimal;
    let dir = tempfile::tempdir().unwrap();
    let (plans, subs) = (dir.path().join("plans.toml"), dir.path().join("subs.toml"));
    std::fs::write(&plans, fixture::PLANS).unwrap();
    std::fs::write(&subs, fixture::SUBSCRIPTIONS).unwrap();
    let mut s = settings(true);
    s.billing = Some(tollgate_billing::BillingConfig {
        plans,
        subscriptions: subs,
        ..Default::default()
    });
    let app = tollgate_dashboard::build(
        &s,
        tollgate_dashboard::app::areas(),
        &|_| None,
        Arc::new(June20),
    )
    .unwrap()
    .0;
    let acme = count(&fixture::events(), |e| {
        e.consumer.as_deref() == Some("acme")
    })
    .0;
    // June so far: the whole month's 10 USD base fee plus 0.01 USD a call.
    let want = Decimal::from(10) + Decimal::new(acme, 2);

    let r = get(&app, &format!("/api/consumers?{ALL}")).await;
    let doc = r.json();
    let rows = doc["consumers"].as_array().unwrap();
    let row = |c: &str| rows.iter().find(|r| r["consumer"] == c).unwrap().clone();
    let mtd = &row("acme")["month_to_date"];
    assert_eq!(mtd["period"], "2024-06");
    assert_eq!(mtd["currency"], "USD");
    assert_eq!(mtd["plans"], "p v1");
    assert_eq!(
        mtd["amount"].as_str().unwrap().parse::<Decimal>().unwrap(),
        want
    );
    assert!(
        row("globex")["month_to_date"].is_null(),
        "globex has no plan"
    );

    let r = get(&app, &format!("/api/consumers/acme?{ALL}")).await;
    assert_eq!(r.json()["month_to_date"]["amount"], mtd["amount"]);
    // Its quotas in their current windows (the clock says June 20): the
    // month holds all of acme's calls, June 20 none.
    let quotas = r.json()["quotas"].as_array().unwrap().clone();
    let quota = |id: &str| quotas.iter().find(|q| q["quota"] == id).unwrap().clone();
    let month = quota("monthly-calls");
    assert_eq!(month["used"], acme);
    assert_eq!(month["limit"], 1000);
    assert_eq!(month["window"], "period");
    assert_eq!(month["window_start"], "2024-06-01T00:00:00Z");
    assert_eq!(month["window_end"], "2024-07-01T00:00:00Z");
    assert_eq!(month["percent"], acme as f64 / 10.0, "of 1,000");
    let day = quota("daily-calls");
    assert_eq!(day["used"], 0);
    assert_eq!(day["window_start"], "2024-06-20T00:00:00Z");
    assert_eq!(day["enforcement"], "hard");
    assert_eq!(
        get(&app, &format!("/api/consumers/globex?{ALL}"))
            .await
            .json()["quotas"],
        serde_json::json!([]),
        "globex has no plan"
    );

    let r = get(&app, &format!("/consumers?{ALL}")).await;
    assert!(r.body.contains("Month to date (est.)"));
    assert!(r.body.contains(&format!("{want} USD")), "{}", r.body);
    assert!(r.body.contains("not billed"));

    // The consumer page: plan, estimate line by line, invoices for finance.
    let r = get(&app, &format!("/consumers/acme?{ALL}")).await;
    assert!(
        r.body.contains(&format!("data-estimate=\"{want}\"")),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"estimate-lines\""));
    assert!(r.body.contains(&format!("<td class=\"num\">{acme}</td>")));
    assert!(r.body.contains("href=\"/invoices/2024-06/acme\""));
    assert!(r.body.contains("INV-2024-000001"));
    let viewer = send(
        &app,
        request(
            Method::GET,
            &format!("/consumers/acme?{ALL}"),
            Some(VIEWER),
            None,
        ),
    )
    .await;
    assert!(viewer.body.contains("data-estimate="));
    assert!(
        !viewer.body.contains("INV-2024-000001"),
        "invoices are for the finance role"
    );
    let r = get(&app, &format!("/consumers/globex?{ALL}")).await;
    assert!(r.body.contains("No subscription this month"));

    // Without plans configured: traffic only.
    let plain = self::app();
    let r = get(&plain, &format!("/consumers?{ALL}")).await;
    assert!(!r.body.contains("Month to date"));
}

const ACME_TOKEN: &str = "acme-consumer-token-0123456789";
const GLOBEX_TOKEN: &str = "globex-consumer-token-0123456789";

/// The self-service routes (consumer-scoped tokens only) and a request.
const SELF: &[(&str, &str)] = &[
    ("/api/self", "/api/self?from=2024-06-11&to=2024-06-13"),
    ("/api/self/invoices", "/api/self/invoices"),
    ("/api/self/invoices/{period}", "/api/self/invoices/2024-06"),
    (
        "/api/self/credit-notes/{period}/{invoice}",
        "/api/self/credit-notes/2024-07/INV-2024-000001",
    ),
];

#[tokio::test]
async fn a_consumer_token_reads_only_its_own_consumer_by_any_route() {
    use rust_decimal::Decimal;
    let dir = tempfile::tempdir().unwrap();
    let (plans, subs) = (dir.path().join("plans.toml"), dir.path().join("subs.toml"));
    std::fs::write(&plans, fixture::PLANS).unwrap();
    std::fs::write(&subs, fixture::SUBSCRIPTIONS).unwrap();
    let mut s = settings(true);
    s.billing = Some(tollgate_billing::BillingConfig {
        plans,
        subscriptions: subs,
        ..Default::default()
    });
    for (c, t) in [("acme", ACME_TOKEN), ("globex", GLOBEX_TOKEN)] {
        s.serve
            .consumer_tokens
            .insert(c.into(), vec![TokenSource::Literal(t.into())]);
    }
    let app = tollgate_dashboard::build(
        &s,
        tollgate_dashboard::app::areas(),
        &|_| None,
        Arc::new(June20),
    )
    .unwrap()
    .0;
    let as_ = |token: &'static str, uri: String| {
        let app = app.clone();
        async move { send(&app, request(Method::GET, &uri, Some(token), None)).await }
    };

    // Every other route refuses a consumer token.
    for (method, _, uri, body, _) in MATRIX {
        for token in [ACME_TOKEN, GLOBEX_TOKEN] {
            let r = send(
                &app,
                request(method.parse().unwrap(), uri, Some(token), *body),
            )
            .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.body);
        }
    }
    // The self routes refuse role tokens and strangers.
    for (_, uri) in SELF {
        for token in [VIEWER, FINANCE, ANALYST, ADMIN] {
            let r = as_(token, uri.to_string()).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
            assert_eq!(r.code(), "forbidden");
        }
        let r = send(&app, request(Method::GET, uri, None, None)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}");
    }

    // acme's usage: its own calls, its month to date.
    let events = fixture::events();
    let acme = count(&events, |e| e.consumer.as_deref() == Some("acme")).0;
    let r = as_(ACME_TOKEN, format!("/api/self?{ALL}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["consumer"], "acme");
    assert_eq!(doc["totals"]["calls"], acme);
    let series: i64 = doc["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["calls"].as_i64().unwrap())
        .sum();
    assert_eq!(series, acme);
    let want = Decimal::from(10) + Decimal::new(acme, 2);
    assert_eq!(
        doc["month_to_date"]["amount"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        want
    );
    // Its quotas: its own month's calls against its plan's monthly quota.
    let monthly = doc["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["quota"] == "monthly-calls")
        .unwrap()
        .clone();
    assert_eq!(monthly["used"], acme);
    // No way to name another consumer.
    let r = as_(ACME_TOKEN, format!("/api/self?{ALL}&consumer=globex")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // globex's usage is globex's (no plan: no charges).
    let globex = count(&events, |e| e.consumer.as_deref() == Some("globex")).0;
    let r = as_(GLOBEX_TOKEN, format!("/api/self?{ALL}")).await;
    assert_eq!(r.json()["totals"]["calls"], globex);
    assert!(r.json()["month_to_date"].is_null());
    assert_eq!(
        r.json()["quotas"],
        json!([]),
        "no plan, no quotas; never acme's"
    );

    // Invoices: acme sees its finalized ones, newest first, with what is
    // left to pay after its grant, and its credit note; globex has none.
    let r = as_(ACME_TOKEN, "/api/self/invoices".into()).await;
    let doc = r.json();
    assert_eq!(doc["invoices"][0]["number"], "INV-2024-000002");
    let june = &doc["invoices"][1];
    assert_eq!(june["number"], "INV-2024-000001");
    let total: Decimal = june["total"].as_str().unwrap().parse().unwrap();
    let due: Decimal = june["amount_due"].as_str().unwrap().parse().unwrap();
    assert_eq!(total - due, Decimal::new(fixture::GRANT_CENTS, 2));
    let notes = doc["credit_notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{doc:#}");
    assert_eq!(notes[0]["number"], "CN-2024-000001");
    assert_eq!(notes[0]["invoice"], "INV-2024-000001");
    assert_eq!(notes[0]["period"], "2024-07");
    assert_eq!(
        notes[0]["total"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        -Decimal::new(fixture::BACKFILL_CALLS, 2)
    );
    // The note itself: the stored bytes, and its printable form.
    let r = as_(
        ACME_TOKEN,
        "/api/self/credit-notes/2024-07/INV-2024-000001".into(),
    )
    .await;
    let stored = tollgate_invoicing::Ledger::open(fixture::lake().to_str().unwrap())
        .unwrap()
        .credit_note_bytes(
            "2024-07".parse().unwrap(),
            &tollgate_billing::invoice::InvoiceNumber("INV-2024-000001".into()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.body.as_bytes(), stored.as_slice());
    let r = as_(
        ACME_TOKEN,
        "/api/self/credit-notes/2024-07/INV-2024-000001.html".into(),
    )
    .await;
    assert!(
        r.header(header::CONTENT_DISPOSITION)
            .contains("CN-2024-000001.html")
    );
    // globex cannot read acme's note: not found, as if it did not exist.
    let r = as_(
        GLOBEX_TOKEN,
        "/api/self/credit-notes/2024-07/INV-2024-000001".into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = as_(
        ACME_TOKEN,
        "/api/self/credit-notes/2024-13/INV-2024-000001".into(),
    )
    .await;
    assert_eq!(r.code(), "invalid_date");
    let r = as_(ACME_TOKEN, "/api/self/invoices/2024-06".into()).await;
    let stored = tollgate_invoicing::Ledger::open(fixture::lake().to_str().unwrap())
        .unwrap()
        .invoice_bytes("2024-06".parse().unwrap(), "acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.body.as_bytes(), stored.as_slice());
    let r = as_(ACME_TOKEN, "/api/self/invoices/2024-06.csv".into()).await;
    assert!(
        r.header(header::CONTENT_DISPOSITION)
            .contains("INV-2024-000001.csv")
    );
    let r = as_(GLOBEX_TOKEN, "/api/self/invoices".into()).await;
    assert_eq!(r.json()["invoices"], json!([]));
    let r = as_(GLOBEX_TOKEN, "/api/self/invoices/2024-06".into()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = as_(ACME_TOKEN, "/api/self/invoices/2024-13".into()).await;
    assert_eq!(r.code(), "invalid_date");

    // Nothing any self route answers globex mentions acme, and back.
    for (_, uri) in SELF {
        for ext in ["", ".json", ".csv", ".html"] {
            let uri = if uri.ends_with("2024-06") {
                format!("{uri}{ext}")
            } else if ext.is_empty() {
                uri.to_string()
            } else {
                continue;
            };
            let r = as_(GLOBEX_TOKEN, uri.clone()).await;
            assert!(!r.body.contains("acme"), "{uri}: {}", r.body);
            let r = as_(ACME_TOKEN, uri.clone()).await;
            assert!(!r.body.contains("globex"), "{uri}: {}", r.body);
        }
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn firing_alerts_and_recent_signals_are_shown_on_the_overview_and_the_api() {
    use tollgate_signals::alert::{AlertBook, Firing};
    use tollgate_signals::signal::{AlertSignal, AlertState, SignalBody};
    use tollgate_signals::{Ledger, Record, Signal};

    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy_dir(fixture::lake(), &lake);
    let mut s = settings(true);
    s.lake = lake.to_str().unwrap().into();
    let app = app_with(&s);

    // Nothing watched yet.
    let v = get(&app, "/api/alerts").await.json();
    assert_eq!(v["firing"], serde_json::json!([]));
    assert_eq!(v["signals"], serde_json::json!([]));
    assert!(
        get(&app, &format!("/overview?{ALL}"))
            .await
            .body
            .contains("id=\"no-alerts\"")
    );

    // What `tollgate watch` leaves in the lake while an alert fires.
    // Recent: the dashboard lists the last seven days of signals.
    let fired_at = chrono::Utc::now() - chrono::Duration::minutes(5);
    let firing = Firing {
        rule: "pets-5xx".into(),
        by: Some("api".into()),
        key: Some("pets".into()),
        metric: "error_rate_5xx".into(),
        value: Some(0.25),
        threshold: 0.02,
        comparison: "above".into(),
        fired_at,
    };
    let mut book = AlertBook::default();
    book.firing.insert("pets-5xx\u{1f}pets".into(), firing);
    let ledger = Ledger::open(lake.to_str().unwrap()).unwrap();
    book.save(ledger.store()).await.unwrap();
    let signal = Signal {
        id: "abc123".into(),
        body: SignalBody::Alert(AlertSignal {
            rule: "pets-5xx".into(),
            state: AlertState::Firing,
            by: Some("api".into()),
            key: Some("pets".into()),
            metric: "error_rate_5xx".into(),
            value: Some(0.25),
            comparison: "above".into(),
            threshold: 0.02,
            window_secs: 300,
            fired_at,
        }),
        created_at: chrono::Utc::now(),
    };
    ledger
        .put(&Record::new(signal, &["webhook:portal".into()]))
        .await
        .unwrap();

    let v = get(&app, "/api/alerts").await.json();
    assert_eq!(v["firing"][0]["rule"], "pets-5xx");
    assert_eq!(v["firing"][0]["key"], "pets");
    assert_eq!(v["firing"][0]["value"], 0.25);
    assert_eq!(v["signals"][0]["id"], "abc123");
    assert_eq!(v["signals"][0]["type"], "alert");
    assert_eq!(v["signals"][0]["delivered"], false);
    let page = get(&app, &format!("/overview?{ALL}")).await.body;
    assert!(page.contains("id=\"firing\""), "{page}");
    assert!(page.contains("<td>pets-5xx</td><td>api: pets</td><td>error_rate_5xx</td><td class=\"num\">0.2500</td>"), "{page}");
    assert!(page.contains("alert pets-5xx firing pets"), "{page}");
    assert!(!page.contains("no-alerts"));
    let r = get(&app, "/api/alerts?limit=0").await;
    assert_eq!(r.status, 400, "{}", r.body);
}

/// JSON answers to check against the document: (method, route template,
/// URI, token, body).
type Call = (
    &'static str,
    &'static str,
    String,
    Option<&'static str>,
    Option<&'static str>,
);

/// Every JSON route, answering successes and errors, each body checked
/// against the document's schema for its route and status.
#[tokio::test]
async fn real_responses_match_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let (plans, subs) = (dir.path().join("plans.toml"), dir.path().join("subs.toml"));
    std::fs::write(&plans, fixture::PLANS).unwrap();
    std::fs::write(&subs, fixture::SUBSCRIPTIONS).unwrap();
    let mut s = settings(true);
    s.billing = Some(tollgate_billing::BillingConfig {
        plans,
        subscriptions: subs,
        ..Default::default()
    });
    s.serve
        .consumer_tokens
        .insert("acme".into(), vec![TokenSource::Literal(ACME_TOKEN.into())]);
    let billed = tollgate_dashboard::build(
        &s,
        tollgate_dashboard::app::areas(),
        &|_| None,
        Arc::new(June20),
    )
    .unwrap()
    .0;
    let doc = get(&billed, "/api/openapi.json").await.json();
    let a = |uri: &str| format!("{uri}?{ALL}");
    let calls: Vec<Call> = vec![
        ("GET", "/healthz", "/healthz".into(), None, None),
        ("GET", "/readyz", "/readyz".into(), None, None),
        (
            "GET",
            "/api/openapi.json",
            "/api/openapi.json".into(),
            None,
            None,
        ),
        ("GET", "/api/traffic", a("/api/traffic"), Some(VIEWER), None),
        (
            "GET",
            "/api/traffic",
            format!("/api/traffic?{ALL}&consumer=acme"),
            Some(VIEWER),
            None,
        ),
        (
            "GET",
            "/api/traffic",
            "/api/traffic?range=1x".into(),
            Some(VIEWER),
            None,
        ),
        (
            "GET",
            "/api/traffic",
            "/api/traffic?colour=red".into(),
            Some(VIEWER),
            None,
        ),
        ("GET", "/api/traffic", "/api/traffic".into(), None, None),
        ("GET", "/api/top", a("/api/top"), Some(VIEWER), None),
        (
            "GET",
            "/api/top",
            format!("/api/top?{ALL}&by=route&order=errors&n=3"),
            Some(VIEWER),
            None,
        ),
        ("GET", "/api/top", "/api/top?n=0".into(), Some(VIEWER), None),
        (
            "GET",
            "/api/top",
            format!("/api/top?{ALL}&consumer=nobody"),
            Some(VIEWER),
            None,
        ),
        (
            "GET",
            "/api/consumers",
            a("/api/consumers"),
            Some(VIEWER),
            None,
        ),
        (
            "GET",
            "/api/consumers/{consumer}",
            a("/api/consumers/acme"),
            Some(VIEWER),
            None,
        ),
        (
            "GET",
            "/api/consumers/{consumer}",
            a("/api/consumers/nobody"),
            Some(VIEWER),
            None,
        ),
        ("GET", "/api/routes", a("/api/routes"), Some(VIEWER), None),
        (
            "GET",
            "/api/routes",
            "/api/routes".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/alerts",
            "/api/alerts".into(),
            Some(VIEWER),
            None,
        ),
        (
            "GET",
            "/api/alerts",
            "/api/alerts?limit=0".into(),
            Some(VIEWER),
            None,
        ),
        (
            "POST",
            "/api/sql",
            "/api/sql".into(),
            Some(ANALYST),
            Some(r#"{"query": "SELECT 1 AS one, 'a' AS two"}"#),
        ),
        (
            "POST",
            "/api/sql",
            "/api/sql".into(),
            Some(ANALYST),
            Some(r#"{"query": "SELECT nope FROM nowhere"}"#),
        ),
        (
            "POST",
            "/api/sql",
            "/api/sql".into(),
            Some(VIEWER),
            Some(r#"{"query": "SELECT 1"}"#),
        ),
        ("GET", "/api/self", a("/api/self"), Some(ACME_TOKEN), None),
        (
            "GET",
            "/api/self",
            "/api/self?range=1x".into(),
            Some(ACME_TOKEN),
            None,
        ),
        (
            "GET",
            "/api/self/invoices",
            "/api/self/invoices".into(),
            Some(ACME_TOKEN),
            None,
        ),
        (
            "GET",
            "/api/self/invoices/{period}",
            "/api/self/invoices/2024-06".into(),
            Some(ACME_TOKEN),
            None,
        ),
        (
            "GET",
            "/api/invoices",
            "/api/invoices".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/invoices",
            "/api/invoices".into(),
            Some(VIEWER),
            None,
        ),
        (
            "GET",
            "/api/invoices/{period}",
            "/api/invoices/2024-06".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/invoices/{period}",
            "/api/invoices/2024-05".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/invoices/{period}",
            "/api/invoices/june".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/invoices/{period}/{consumer}",
            "/api/invoices/2024-06/acme.json".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/credit-notes/{period}",
            "/api/credit-notes/2024-07".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/credit-notes/{period}",
            "/api/credit-notes/2024-04".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/credit-notes/{period}/{invoice}",
            "/api/credit-notes/2024-07/INV-2024-000001.json".into(),
            Some(FINANCE),
            None,
        ),
        (
            "GET",
            "/api/credit-notes/{period}/{invoice}",
            "/api/credit-notes/2024-07/INV-1.json".into(),
            Some(FINANCE),
            None,
        ),
    ];
    let mut statuses = BTreeSet::new();
    let mut failures = Vec::new();
    for (method, template, uri, token, body) in &calls {
        let r = send(
            &billed,
            request(method.parse().unwrap(), uri, *token, *body),
        )
        .await;
        statuses.insert(r.status.as_u16());
        let media = r
            .header(header::CONTENT_TYPE)
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        assert_eq!(media, "application/json", "{method} {uri}: {}", r.body);
        let errors =
            conformance::check(&doc, method, template, r.status.as_u16(), &media, &r.json());
        if !errors.is_empty() {
            failures.push(format!("{method} {uri} ({}): {errors:#?}", r.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The calls reach successes and every kind of error the API answers.
    assert_eq!(
        statuses,
        [200, 400, 401, 403, 404]
            .into_iter()
            .collect::<BTreeSet<u16>>()
    );

    // A lake that cannot be read: 503 as documented.
    let mut broken = settings(true);
    broken.lake = "s3://".into();
    let r = send(
        &app_with(&broken),
        request(Method::GET, "/readyz", None, None),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let errors = conformance::check(&doc, "GET", "/readyz", 503, "application/json", &r.json());
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The checker itself: a body that breaks the document in any of the ways
/// a response could drift from it fails.
#[tokio::test]
async fn the_openapi_checker_rejects_wrong_bodies() {
    let app = app();
    let doc = get(&app, "/api/openapi.json").await.json();
    let real = get(&app, &format!("/api/traffic?{ALL}")).await.json();
    let check = |status: u16, body: &Value| {
        conformance::check(
            &doc,
            "GET",
            "/api/traffic",
            status,
            "application/json",
            body,
        )
    };
    assert_eq!(check(200, &real), Vec::<String>::new());

    let mut wrong_type = real.clone();
    wrong_type["totals"]["calls"] = json!("many");
    let mut extra = real.clone();
    extra["undocumented"] = json!(1);
    let mut wrong_item = real.clone();
    wrong_item["series"][0] = json!(42);
    let mut null_where_not_nullable = real.clone();
    null_where_not_nullable["series"] = Value::Null;
    for (what, body) in [
        ("a string for an integer", &wrong_type),
        ("an undocumented field", &extra),
        ("a wrong array item", &wrong_item),
        ("a null that is not nullable", &null_where_not_nullable),
    ] {
        assert!(!check(200, body).is_empty(), "{what} passed");
    }
    // An error body where a success is documented, and the reverse.
    let error = get(&app, "/api/traffic?range=1x").await.json();
    assert!(!check(200, &error).is_empty());
    assert!(!check(400, &real).is_empty());
    assert_eq!(check(400, &error), Vec::<String>::new());
    // A required field missing.
    let mut missing = error.clone();
    missing["error"].as_object_mut().unwrap().remove("code");
    assert!(!check(400, &missing).is_empty());
    // A value outside its enum.
    let mut unknown_code = error.clone();
    unknown_code["error"]["code"] = json!("no_such_code");
    assert!(!check(400, &unknown_code).is_empty());
    // A status the route does not document.
    assert!(!check(418, &error).is_empty());
    // A keyword the checker does not know is reported, not ignored.
    let mut errors = Vec::new();
    conformance::validate(&doc, &json!({"anyOf": []}), &json!(1), "$", &mut errors);
    assert!(!errors.is_empty());
    // OpenAPI 3.1 as utoipa writes it: a type list admits each of its
    // types and nothing else; oneOf needs exactly one branch to hold.
    let nullable_number = json!({"type": ["number", "null"]});
    let one_of = json!({"oneOf": [{"type": "null"}, {"type": "integer"}, {"type": "number"}]});
    for (schema, value, holds) in [
        (&nullable_number, json!(1.5), true),
        (&nullable_number, Value::Null, true),
        (&nullable_number, json!("1.5"), false),
        (&one_of, Value::Null, true),
        (&one_of, json!(1.5), true),
        // 1 is both an integer and a number: two branches hold.
        (&one_of, json!(1), false),
        (&one_of, json!("x"), false),
    ] {
        let mut errors = Vec::new();
        conformance::validate(&doc, schema, &value, "$", &mut errors);
        assert_eq!(
            errors.is_empty(),
            holds,
            "{value} against {schema}: {errors:?}"
        );
    }
}
