//! The watcher over a real lake: quota crossings filed once and delivered
//! to a signed webhook with retries, surviving a restart; alert rules
//! firing and resolving; the delivery log and replay.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Utc};
use tollgate_aggregator::AnalyticsConfig;
use tollgate_billing::subscription::SubscriptionsFile;
use tollgate_billing::{Billing, BillingConfig, PlansFile};
use tollgate_ingest::batch::{ParquetOptions, RowBatch, Source};
use tollgate_schemas::{AccessEvent, EpochMillis, Gateway};
use tollgate_signals::alert::RulesFile;
use tollgate_signals::deliver::{Outputs, verify};
use tollgate_signals::signal::{Action, AlertState, SignalBody};
use tollgate_signals::watch::{Watcher, replay};
use tollgate_signals::{Ledger, SignalsConfig, WebhookConfig};

const SECRET: &str = "test-secret-0123";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Writes events as one committed flush of partition `partition`.
fn write(lake: &Path, events: &[AccessEvent], partition: i32, first: i64) {
    let mut batch = RowBatch::new(1024);
    for (i, e) in events.iter().enumerate() {
        let src = Source::Kafka {
            topic: Arc::from("t"),
            partition,
            offset: first + i as i64,
            timestamp: None,
        };
        batch.add_event(e, &src, 0, e.ts.0);
    }
    for f in batch.encode(&ParquetOptions::default()).unwrap() {
        let dir = lake.join(format!("events/date={}", f.date.format("%Y-%m-%d")));
        std::fs::create_dir_all(&dir).unwrap();
        let last = first + events.len() as i64 - 1;
        std::fs::write(
            dir.join(format!("t-{partition}-{first:019}-{last:019}.parquet")),
            &f.bytes,
        )
        .unwrap();
    }
}

fn call(id: &str, at: DateTime<Utc>, consumer: &str, api: &str, status: u16) -> AccessEvent {
    let mut e = AccessEvent::new(id, EpochMillis(at.timestamp_millis()), Gateway::Kong);
    e.consumer = Some(consumer.into());
    e.api = Some(api.into());
    e.route = Some("r".into());
    e.method = Some("GET".into());
    e.status = Some(status);
    e.latency_ms = Some(12.0);
    e
}

/// A webhook receiver that answers 500 to the next `fail` requests.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    fail: Arc<AtomicUsize>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let failing = r
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    r.got.lock().unwrap().push((headers, body));
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

fn config(url: &str) -> SignalsConfig {
    SignalsConfig {
        webhooks: vec![WebhookConfig {
            name: "portal".into(),
            url: url.into(),
            secret: Some(SECRET.into()),
            secret_env: None,
        }],
        retry_initial_ms: 20,
        retry_max_ms: 100,
        max_attempts: 3,
        evaluation_delay_secs: 0,
        ..SignalsConfig::default()
    }
}

fn billing() -> Billing {
    let plans = PlansFile::parse(
        r#"
[[plan]]
id = "free"
version = 1
currency = "USD"
  [[plan.quota]]
  id = "daily"
  metric = "calls"
  window = "day"
  limit = 100
  enforcement = "hard"
  thresholds = [50, 80, 100]
  [[plan.quota]]
  id = "ok-calls"
  metric = "calls"
  filter = { status_below = 500 }
  window = "period"
  limit = 1000
"#,
    )
    .unwrap();
    let subs = SubscriptionsFile::parse(
        "[[subscription]]\nconsumer = \"acme\"\nplan = \"free\"\nstart = \"2024-01-01\"\n\
         [[subscription]]\nconsumer = \"bob\"\nplan = \"free\"\nstart = \"2024-01-01\"\n",
        &plans,
    )
    .unwrap();
    Billing {
        plans,
        subscriptions: subs,
        customers: Default::default(),
        config: BillingConfig::default(),
    }
}

async fn watcher(lake: &Path, cfg: &SignalsConfig, rules: &str) -> Watcher {
    let outputs = Outputs::new(cfg, None).unwrap();
    Watcher::start(
        lake.to_str().unwrap(),
        AnalyticsConfig::default(),
        Some(billing()),
        RulesFile::parse(rules).unwrap().rules,
        outputs,
        cfg.clone(),
    )
    .await
    .unwrap()
}

/// Delivers until nothing is pending (retries are 20–100 ms apart).
async fn drain(w: &mut Watcher) {
    for _ in 0..200 {
        w.deliver(Utc::now()).await.unwrap();
        if w.pending().is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("signals still pending: {:?}", w.pending());
}

fn quota_thresholds(signals: &[tollgate_signals::Signal]) -> Vec<(String, String, u32, Action)> {
    signals
        .iter()
        .filter_map(|s| match &s.body {
            SignalBody::Quota(q) => Some((
                q.consumer.clone(),
                q.quota.clone(),
                q.threshold_percent,
                q.action,
            )),
            SignalBody::Alert(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_crossings_are_signalled_once_signed_retried_and_not_repeated_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let (rx, url) = receiver().await;
    let cfg = config(&url);
    let now = t("2024-06-11T12:00:00Z");

    // 60 calls for acme (5 of them 500s, which the period quota does not count).
    let first: Vec<AccessEvent> = (0..60)
        .map(|i| {
            let status = if i < 5 { 500 } else { 200 };
            call(
                &format!("a{i}"),
                t("2024-06-11T08:00:00Z"),
                "acme",
                "pets",
                status,
            )
        })
        .collect();
    write(lake, &first, 0, 0);
    // Yesterday's calls are outside today's window, inside the period's.
    let yesterday: Vec<AccessEvent> = (0..90)
        .map(|i| {
            call(
                &format!("y{i}"),
                t("2024-06-10T08:00:00Z"),
                "acme",
                "pets",
                200,
            )
        })
        .collect();
    write(lake, &yesterday, 1, 0);

    let mut w = watcher(lake, &cfg, "").await;
    rx.fail.store(1, Ordering::SeqCst); // the first delivery fails
    let e = w.evaluate(now).await.unwrap();
    assert_eq!(e.quotas, 4, "two consumers × two quotas");
    assert_eq!(
        quota_thresholds(&e.new),
        vec![("acme".into(), "daily".into(), 50, Action::Notify)],
        "60 of 100: only the 50% threshold; period usage 145 of 1000 crosses none"
    );
    // The usage behind it, per quota: the period quota counts yesterday
    // and today's calls below 500 (with or without the cache of earlier days).
    let lake_q =
        tollgate_aggregator::Lake::open(lake.to_str().unwrap(), &AnalyticsConfig::default())
            .await
            .unwrap();
    let mut cache = tollgate_signals::quota::PeriodCache::default();
    for cached in [false, true, true] {
        let c = cached.then_some((&mut cache, chrono::Duration::minutes(10)));
        let usage = tollgate_signals::quota::current(&lake_q, &billing(), now, Some("acme"), c)
            .await
            .unwrap();
        let used: Vec<(&str, u64)> = usage
            .iter()
            .map(|u| (u.quota.id.as_str(), u.used))
            .collect();
        assert_eq!(used, [("daily", 60), ("ok-calls", 90 + 55)]);
    }
    drain(&mut w).await;
    {
        let got = rx.got.lock().unwrap();
        assert_eq!(got.len(), 2, "one failure, one retry");
        for (headers, body) in got.iter() {
            let sig = headers["tollgate-signature"].to_str().unwrap();
            verify(
                SECRET.as_bytes(),
                sig,
                body.as_bytes(),
                Utc::now().timestamp(),
                300,
            )
            .unwrap();
            assert_eq!(headers["tollgate-signal-id"], e.new[0].id.as_str());
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["type"], "quota");
            assert_eq!(v["consumer"], "acme");
            assert_eq!(v["used"], 60);
            assert_eq!(v["threshold_percent"], 50);
        }
    }
    // The delivery log: a failed attempt, then the delivery.
    let ledger = Ledger::open(lake.to_str().unwrap()).unwrap();
    let records = ledger.list().await.unwrap();
    assert_eq!(records.len(), 1);
    let log = &records[0].targets[0];
    assert_eq!(log.target, "webhook:portal");
    assert_eq!(
        log.attempts
            .iter()
            .map(|a| (a.ok, a.detail.as_str()))
            .collect::<Vec<_>>(),
        vec![(false, "HTTP 500"), (true, "HTTP 204")]
    );
    assert!(log.delivered_at.is_some() && log.done);

    // Evaluating again finds nothing new.
    assert!(w.evaluate(now).await.unwrap().new.is_empty());

    // 45 more calls (one a re-delivered copy of a0, counted once): 104 of 100.
    let mut more: Vec<AccessEvent> = (60..104)
        .map(|i| {
            call(
                &format!("a{i}"),
                t("2024-06-11T09:00:00Z"),
                "acme",
                "pets",
                200,
            )
        })
        .collect();
    more.push(call("a0", t("2024-06-11T08:00:00Z"), "acme", "pets", 500));
    write(lake, &more, 0, 60);
    let e = w.evaluate(now).await.unwrap();
    assert_eq!(
        quota_thresholds(&e.new),
        vec![
            ("acme".into(), "daily".into(), 80, Action::Notify),
            ("acme".into(), "daily".into(), 100, Action::Block),
        ]
    );
    let SignalBody::Quota(q) = &e.new[1].body else {
        panic!()
    };
    assert_eq!(q.used, 104, "the copy of a0 is not counted twice");
    assert_eq!(q.window_start, t("2024-06-11T00:00:00Z"));
    assert_eq!(q.window_end, t("2024-06-12T00:00:00Z"));
    drain(&mut w).await;
    assert_eq!(rx.got.lock().unwrap().len(), 4);
    drop(w);

    // A restart: nothing is created or sent again.
    let mut w = watcher(lake, &cfg, "").await;
    assert!(w.pending().is_empty());
    assert!(w.evaluate(now).await.unwrap().new.is_empty());
    drain(&mut w).await;
    assert_eq!(rx.got.lock().unwrap().len(), 4);
    assert_eq!(ledger.list().await.unwrap().len(), 3);

    // The next day is a new window: nothing until it is crossed again.
    assert!(
        w.evaluate(t("2024-06-12T00:00:01Z"))
            .await
            .unwrap()
            .new
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_exhausts_retries_then_a_replay_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let (rx, url) = receiver().await;
    let cfg = config(&url);
    let calls: Vec<AccessEvent> = (0..50)
        .map(|i| {
            call(
                &format!("b{i}"),
                t("2024-06-11T08:00:00Z"),
                "bob",
                "pets",
                200,
            )
        })
        .collect();
    write(lake, &calls, 0, 0);
    let mut w = watcher(lake, &cfg, "").await;
    rx.fail.store(usize::MAX, Ordering::SeqCst);
    let e = w.evaluate(t("2024-06-11T12:00:00Z")).await.unwrap();
    assert_eq!(e.new.len(), 1);
    drain(&mut w).await; // ends when the attempts are used up
    let ledger = Ledger::open(lake.to_str().unwrap()).unwrap();
    let r = ledger.find(&e.new[0].id).await.unwrap();
    assert_eq!(r.targets[0].attempts.len(), 3, "max_attempts");
    assert!(r.targets[0].attempts.iter().all(|a| !a.ok));
    assert!(r.targets[0].done && r.targets[0].delivered_at.is_none());
    // A restart does not retry a given-up delivery on its own...
    drop(w);
    let w = watcher(lake, &cfg, "").await;
    assert!(w.pending().is_empty());
    // ...an operator's replay does (by id prefix), and it is logged.
    rx.fail.store(0, Ordering::SeqCst);
    let outputs = Outputs::new(&cfg, None).unwrap();
    let r = replay(&ledger, &outputs, &e.new[0].id[..8], None)
        .await
        .unwrap();
    assert_eq!(r.targets[0].attempts.len(), 4);
    assert!(r.targets[0].attempts[3].ok);
    assert!(r.targets[0].delivered_at.is_some());
    assert_eq!(ledger.find(&e.new[0].id).await.unwrap(), r);
    assert_eq!(rx.got.lock().unwrap().len(), 4);
    assert!(replay(&ledger, &outputs, "nosuchid", None).await.is_err());
}

const RULES: &str = r#"
[[rule]]
id = "pets-5xx"
metric = "error_rate_5xx"
by = "api"
window = "1m"
above = 0.2
min_calls = 10

[[rule]]
id = "traffic-drop"
metric = "calls_change"
by = "api"
only = "pets"
window = "1m"
below = -0.5
min_calls = 10
"#;

fn alerts(signals: &[tollgate_signals::Signal]) -> Vec<(String, Option<String>, AlertState)> {
    signals
        .iter()
        .filter_map(|s| match &s.body {
            SignalBody::Alert(a) => Some((a.rule.clone(), a.key.clone(), a.state)),
            SignalBody::Quota(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_fires_on_a_5xx_burst_resolves_after_it_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let (rx, url) = receiver().await;
    let cfg = config(&url);
    // Minute 10:00 healthy (1 in 50 is a 5xx), 10:01 a burst (half are
    // 5xx), 10:02 healthy again, then silence. "anon" never reaches
    // min_calls, so its 100% error rate is not judged.
    let mut events = Vec::new();
    let mut n = 0;
    let mut add = |minute: u32, count: u32, every_5xx: u32, api: &str| {
        for i in 0..count {
            let at = t(&format!("2024-06-11T10:{minute:02}:{:02}Z", i % 60));
            let status = if i % every_5xx == 0 { 503 } else { 200 };
            events.push(call(&format!("e{n}"), at, "bob", api, status));
            n += 1;
        }
    };
    add(0, 50, 50, "pets");
    add(1, 40, 2, "pets");
    add(1, 3, 1, "anon");
    add(2, 50, 50, "pets");
    write(lake, &events, 0, 0);

    let mut w = watcher(lake, &cfg, RULES).await;
    let at = |s: &str| t(&format!("2024-06-11T{s}Z"));
    assert_eq!(
        alerts(&w.evaluate(at("10:01:00")).await.unwrap().new),
        vec![]
    );
    assert_eq!(
        alerts(&w.evaluate(at("10:02:00")).await.unwrap().new),
        vec![("pets-5xx".into(), Some("pets".into()), AlertState::Firing)]
    );
    assert_eq!(
        alerts(&w.evaluate(at("10:02:05")).await.unwrap().new),
        vec![],
        "fires once"
    );
    drain(&mut w).await;
    drop(w);
    // Restarted while firing: not fired again, and still resolved later.
    let mut w = watcher(lake, &cfg, RULES).await;
    assert_eq!(
        alerts(&w.evaluate(at("10:02:10")).await.unwrap().new),
        vec![]
    );
    assert_eq!(
        alerts(&w.evaluate(at("10:03:00")).await.unwrap().new),
        vec![("pets-5xx".into(), Some("pets".into()), AlertState::Resolved)]
    );
    assert_eq!(
        alerts(&w.evaluate(at("10:03:30")).await.unwrap().new),
        vec![],
        "resolves once"
    );
    // Silence after 50 calls a minute: the drop rule fires.
    assert_eq!(
        alerts(&w.evaluate(at("10:04:00")).await.unwrap().new),
        vec![(
            "traffic-drop".into(),
            Some("pets".into()),
            AlertState::Firing
        )]
    );
    drain(&mut w).await;
    let got = rx.got.lock().unwrap();
    let bodies: Vec<serde_json::Value> = got
        .iter()
        .map(|(_, b)| serde_json::from_str::<serde_json::Value>(b).unwrap())
        .filter(|b| b["type"] == "alert")
        .collect();
    assert_eq!(
        bodies
            .iter()
            .map(|b| (b["rule"].as_str().unwrap(), b["state"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        vec![
            ("pets-5xx", "firing"),
            ("pets-5xx", "resolved"),
            ("traffic-drop", "firing")
        ]
    );
    assert_eq!(bodies[0]["value"], 0.5, "20 of 40 calls were 5xx");
    assert_eq!(bodies[0]["fired_at"], bodies[1]["fired_at"]);
}

#[tokio::test]
async fn recent_reads_the_newest_days_first_and_stops_at_the_bound() {
    use tollgate_signals::Record;
    use tollgate_signals::signal::{AlertSignal, Signal};
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path().to_str().unwrap()).unwrap();
    let alert = |id: &str, at: &str| {
        let at = t(at);
        Record::new(
            Signal {
                id: id.into(),
                body: SignalBody::Alert(AlertSignal {
                    rule: "r".into(),
                    state: AlertState::Firing,
                    by: None,
                    key: None,
                    metric: "calls".into(),
                    value: Some(1.0),
                    comparison: "above".into(),
                    threshold: 0.0,
                    window_secs: 60,
                    fired_at: at,
                }),
                created_at: at,
            },
            &[],
        )
    };
    for (id, at) in [
        ("old", "2024-06-01T10:00:00Z"),
        ("mid", "2024-06-10T10:00:00Z"),
        ("new1", "2024-06-11T09:00:00Z"),
        ("new2", "2024-06-11T11:00:00Z"),
    ] {
        ledger.put(&alert(id, at)).await.unwrap();
    }
    let ids =
        |rs: Vec<tollgate_signals::Record>| rs.into_iter().map(|r| r.signal.id).collect::<Vec<_>>();
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    assert_eq!(
        ids(ledger
            .recent(3, day("2024-06-05"), day("2024-06-11"))
            .await
            .unwrap()),
        ["new2", "new1", "mid"],
        "newest first; June 1 is before the bound"
    );
    assert_eq!(
        ids(ledger
            .recent(1, day("2024-06-01"), day("2024-06-11"))
            .await
            .unwrap()),
        ["new2"]
    );
    assert_eq!(
        ledger
            .recent(5, day("2024-06-01"), day("2024-06-30"))
            .await
            .unwrap()
            .len(),
        4
    );
}
