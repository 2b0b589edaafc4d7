//! Every page that shows user data escapes it: a consumer id, an API, a
//! route and SQL text holding `<script>`, `"` and `&` come out as text,
//! never as markup, on the traffic pages, the SQL console, the login form
//! and on the invoice pages.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use tollgate_aggregator::{AnalyticsConfig, Lake, lake_store, rollup};
use tollgate_billing::PlansFile;
use tollgate_billing::subscription::SubscriptionsFile;
use tollgate_billing::{Billing, BillingConfig};
use tollgate_dashboard::{ServeSettings, SystemClock};
use tollgate_ingest::batch::{ParquetOptions, RowBatch, Source};
use tollgate_invoicing::{self as billing_run, Ledger};
use tollgate_schemas::{AccessEvent, EpochMillis, Gateway};
use tower::ServiceExt;

/// 2024-06-11T00:00:00Z.
const BASE_MS: i64 = 1_718_064_000_000;
const RANGE: &str = "from=2024-06-11&to=2024-06-12";
const CONSUMER: &str = "<script>alert(\"c\")</script>&co";
const API: &str = "<script>alert(\"a\")</script>&api";
const ROUTE: &str = "<script>alert(\"r\")</script>&r";

/// What each hostile string must become in text and attributes.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A lake of one day: every call from the hostile consumer on the hostile
/// route, with hourly rollups.
async fn hostile_lake(dir: &Path) -> String {
    let mut batch = RowBatch::new(1024);
    for i in 0..48i64 {
        let mut e = AccessEvent::new(
            format!("ev-{i}"),
            EpochMillis(BASE_MS + i * 1_800_000 + 7),
            Gateway::Kong,
        );
        e.consumer = Some(CONSUMER.into());
        e.api = Some(API.into());
        e.route = Some(ROUTE.into());
        e.method = Some("GET".into());
        e.status = Some(if i % 5 == 0 { 500 } else { 200 });
        e.latency_ms = Some(10.0 + i as f64);
        let src = Source::Kafka {
            topic: Arc::from("escaping"),
            partition: 0,
            offset: i,
            timestamp: None,
        };
        batch.add_event(&e, &src, 0, BASE_MS);
    }
    for f in batch.encode(&ParquetOptions::default()).unwrap() {
        let d = dir.join(format!("events/date={}", f.date.format("%Y-%m-%d")));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("escaping-0.parquet"), &f.bytes).unwrap();
    }
    let location = dir.to_str().unwrap().to_string();
    let lake = Lake::open(&location, &AnalyticsConfig::default())
        .await
        .unwrap();
    rollup::run(&lake, &lake_store(&location).unwrap())
        .await
        .unwrap();
    location
}

/// An open server (no tokens: every caller is admin) over `lake`.
fn app(lake: String) -> Router {
    let settings = ServeSettings {
        lake,
        ..ServeSettings::default()
    };
    tollgate_dashboard::build(
        &settings,
        tollgate_dashboard::app::areas(),
        &|_| None,
        Arc::new(SystemClock),
    )
    .unwrap()
    .0
}

async fn page(app: &Router, uri: &str) -> (StatusCode, String) {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// No hostile markup got through: the only `<script` is the page's own.
fn no_markup(uri: &str, body: &str) {
    assert!(!body.contains("<script>"), "{uri}: {body}");
    assert!(!body.contains("alert(\""), "{uri}: {body}");
    assert!(
        !body.contains("&co<") && !body.contains("&r<"),
        "{uri}: {body}"
    );
    assert_eq!(
        body.matches("<script").count(),
        1,
        "{uri}: only the page's own script: {body}"
    );
}

#[tokio::test]
async fn user_data_is_escaped_on_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(hostile_lake(dir.path()).await);

    // (page, shows the consumer, shows the API and route)
    for (uri, consumer, route) in [
        (format!("/overview?{RANGE}"), true, true),
        (format!("/consumers?{RANGE}"), true, false),
        (format!("/routes?{RANGE}"), false, true),
    ] {
        let (status, body) = page(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        no_markup(&uri, &body);
        if consumer {
            assert!(body.contains(&escaped(CONSUMER)), "{uri}: {body}");
        }
        if route {
            assert!(
                body.contains(&format!(
                    "<td>{}</td><td>{}</td>",
                    escaped(API),
                    escaped(ROUTE)
                )),
                "{uri}: the API and route are shown, escaped: {body}"
            );
        }
    }
    let (_, body) = page(&app, &format!("/consumers?{RANGE}")).await;
    // In the link text, and percent-encoded in its href.
    assert!(
        body.contains(&format!(">{}</a>", escaped(CONSUMER))),
        "{body}"
    );
    assert!(body.contains("href=\"/consumers/%3Cscript%3Ealert%28%22c%22%29%3C%2Fscript%3E%26co?from=2024-06-11&amp;to=2024-06-12\""), "{body}");

    let seg = tollgate_dashboard::html::path_segment(CONSUMER);
    let uri = format!("/consumers/{seg}?{RANGE}");
    let (status, body) = page(&app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    no_markup(&uri, &body);
    let c = escaped(CONSUMER);
    assert!(
        body.contains(&format!("<title>Consumer {c} · Tollgate</title>")),
        "{body}"
    );
    assert!(
        body.contains(&format!("<h1 data-consumer=\"{c}\">{c}</h1>")),
        "{body}"
    );
    assert!(body.contains(&escaped(ROUTE)), "{body}");

    // The SQL console: the query in the text area and in the CSV link,
    // the values and column names in the result.
    let q = "SELECT consumer AS \"<b>&\", route FROM events LIMIT 1";
    let uri = format!(
        "/sql?q={}",
        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let (status, body) = page(&app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    no_markup(&uri, &body);
    assert!(
        body.contains(&format!(">{}</textarea>", escaped(q))),
        "{body}"
    );
    assert!(
        body.contains("<th scope=\"col\">&lt;b&gt;&amp;</th>"),
        "{body}"
    );
    assert!(
        body.contains(&format!("<td>{}</td>", escaped(CONSUMER))),
        "{body}"
    );
    assert!(!body.contains("<b>&"), "{body}");

    // An error message that quotes the query.
    let q = "SELECT \"<script>alert(\"\"e\"\")</script>&\" FROM events";
    let uri = format!(
        "/sql?q={}",
        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let (status, body) = page(&app, &uri).await;
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(body.contains("class=\"error\""), "{body}");
    no_markup(&uri, &body);

    // The login form's `next`, in an attribute.
    let uri = "/login?next=%2Fx%22%3E%3Cscript%3Ealert(%22n%22)%3C%2Fscript%3E";
    let (_, body) = page(&app, uri).await;
    no_markup(uri, &body);
    assert!(
        body.contains("href=\"/x&quot;&gt;&lt;script&gt;alert(&quot;n&quot;)&lt;/script&gt;\""),
        "{body}"
    );
}

/// A plan whose charge description needs escaping, and the hostile
/// consumer subscribed to it (a TOML literal string: no escapes inside).
const PLANS: &str = r#"
[[plan]]
id = "p"
version = 1
currency = "USD"
base_fee = "10"
  [[plan.charge]]
  id = "calls"
  description = '<i>calls</i> & "more"'
  metric = "calls"
  [plan.charge.price]
  model = "per_unit"
  unit_price = "0.01"
"#;
const SUBSCRIPTIONS: &str = r#"
[[subscription]]
consumer = '<script>alert("c")</script>&co'
plan = "p"
start = "2024-01-01"
"#;

#[tokio::test]
async fn invoice_pages_escape_the_consumer_and_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let location = hostile_lake(dir.path()).await;
    let plans = PlansFile::parse(PLANS).unwrap();
    let subscriptions = SubscriptionsFile::parse(SUBSCRIPTIONS, &plans).unwrap();
    let billing = Billing {
        plans,
        subscriptions,
        customers: Default::default(),
        config: BillingConfig::default(),
    };
    let lake = Lake::open(&location, &AnalyticsConfig::default())
        .await
        .unwrap();
    let now: DateTime<Utc> = "2024-07-02T00:00:00Z".parse().unwrap();
    billing_run::run(
        &lake,
        &Ledger::open(&location).unwrap(),
        &billing,
        "2024-06".parse().unwrap(),
        now,
    )
    .await
    .unwrap();
    let app = app(location);
    let c = escaped(CONSUMER);
    let seg = tollgate_dashboard::html::path_segment(CONSUMER);

    let uri = "/invoices/2024-06";
    let (status, body) = page(&app, uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    no_markup(uri, &body);
    assert!(
        body.contains(&format!("<a href=\"/invoices/2024-06/{seg}\">{c}</a>")),
        "{body}"
    );

    let uri = format!("/invoices/2024-06/{seg}");
    let (status, body) = page(&app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    no_markup(&uri, &body);
    assert!(body.contains(&format!("Consumer <b>{c}</b>")), "{body}");
    assert!(
        body.contains("&lt;i&gt;calls&lt;/i&gt; &amp; &quot;more&quot;"),
        "the line's description: {body}"
    );
    assert!(!body.contains("<i>calls"), "{body}");
}
