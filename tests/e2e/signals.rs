//! Quota and alert signals end to end: traffic produced to a real broker,
//! `tollgate ingest` and `tollgate watch` as their own processes, a
//! webhook receiver started here, and the signals topic read back.
//!
//! Checks: exactly one signal per threshold crossed (80% and 100% of a
//! daily quota) on the Kafka topic and at the webhook, each within 60 s of
//! its calls being produced; signatures verify; a kill -9 and restart of
//! the watcher repeats nothing; a 5xx burst fires an alert that resolves
//! once the burst has left the rule's window.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

use crate::broker::Broker;
use crate::{heavy, tollgate};

const SECRET: &str = "e2e-webhook-secret";

const PLANS: &str = r#"
[[plan]]
id = "free"
version = 1
currency = "USD"
[[plan.quota]]
id = "daily-calls"
metric = "calls"
window = "day"
limit = 100
enforcement = "hard"
thresholds = [80, 100]
"#;

const RULES: &str = r#"
[[rule]]
id = "pay-5xx"
metric = "error_rate_5xx"
by = "api"
only = "pay"
window = "10s"
above = 0.5
min_calls = 5
"#;

type Hits = Arc<Mutex<Vec<(String, String, Instant)>>>;

/// A minimal HTTP/1.1 receiver: records (signature header, body, when) and answers 204.
fn webhook_receiver() -> (Hits, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hits: Hits = Arc::default();
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut sig = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap_or((&line, ""));
                match k.to_ascii_lowercase().as_str() {
                    "tollgate-signature" => sig = v.trim().to_string(),
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            h.lock().unwrap().push((
                sig,
                String::from_utf8_lossy(&body).into_owned(),
                Instant::now(),
            ));
            let _ = stream.write_all(
                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (hits, url)
}

fn spawn(args: &[&str], config: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    tollgate()
        .args(args)
        .arg("--config")
        .arg(config)
        .env("E2E_HOOK_SECRET", SECRET)
        .env("RUST_LOG", "info,rdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tollgate starts")
}

fn event(id: &str, consumer: &str, api: &str, status: u16, ts: &str) -> Vec<u8> {
    json!({
        "event_id": id, "ts": ts, "gateway": "canonical", "consumer": consumer,
        "api": api, "route": "r", "method": "GET", "path": "/r",
        "status": status, "latency_ms": 5.0
    })
    .to_string()
    .into_bytes()
}

/// Webhook bodies received so far, parsed.
fn bodies(hits: &Hits) -> Vec<Value> {
    hits.lock()
        .unwrap()
        .iter()
        .map(|(_, b, _)| serde_json::from_str(b).unwrap())
        .collect()
}

/// Waits (up to `secs`) until `pred` holds over the received bodies.
fn wait_for(hits: &Hits, secs: u64, log: &Path, what: &str, pred: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !pred(&bodies(hits)) {
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {secs} s; received {:?}; log:\n{}",
            bodies(hits),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn quota_thresholds(v: &[Value]) -> Vec<u64> {
    v.iter()
        .filter(|b| b["type"] == "quota")
        .map(|b| b["threshold_percent"].as_u64().unwrap())
        .collect()
}

fn alert_states(v: &[Value]) -> Vec<String> {
    v.iter()
        .filter(|b| b["type"] == "alert")
        .map(|b| b["state"].as_str().unwrap().to_string())
        .collect()
}

/// Every message on the signals topic.
fn topic_messages(addr: &str, expect: usize) -> Vec<(String, Value)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", format!("e2e-read-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["tollgate.signals"]).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Read until `expect` arrived, then a little longer to catch extras.
    let mut quiet_until = None;
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            out.push((key, serde_json::from_slice(m.payload().unwrap()).unwrap()));
        }
        if out.len() >= expect {
            let q = *quiet_until.get_or_insert(Instant::now() + Duration::from_secs(3));
            if Instant::now() > q {
                break;
            }
        }
    }
    out
}

#[test]
fn quota_crossings_and_alerts_reach_kafka_and_a_signed_webhook_once() {
    let _serial = heavy();
    // Keep every call of this test inside one UTC day.
    let now = chrono::Utc::now();
    let to_midnight = 86_400 - i64::from(chrono::Timelike::num_seconds_from_midnight(&now));
    if to_midnight < 150 {
        std::thread::sleep(Duration::from_secs(to_midnight as u64 + 2));
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    broker.create_topic("gw", 1);
    broker.create_topic("tollgate.signals", 1);
    let (hits, url) = webhook_receiver();
    let lake = dir.path().join("lake");
    let plans = dir.path().join("plans.toml");
    let subs = dir.path().join("subscriptions.toml");
    let rules = dir.path().join("alerts.toml");
    std::fs::write(&plans, PLANS).unwrap();
    std::fs::write(
        &subs,
        "[[subscription]]\nconsumer = \"acme\"\nplan = \"free\"\nstart = \"2026-01-01\"\n",
    )
    .unwrap();
    std::fs::write(&rules, RULES).unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n\
             [kafka]\nbrokers = {addr:?}\ntopics = [\"gw\"]\ngroup = \"sig\"\n\
             [ingest]\nmax_latency_ms = 1000\n\
             [billing]\nplans = {plans:?}\nsubscriptions = {subs:?}\n\
             [signals]\npoll_interval_secs = 1\nevaluation_delay_secs = 0\nalerts = {rules:?}\n\
             [[signals.webhook]]\nname = \"portal\"\nurl = {url:?}\nsecret_env = \"E2E_HOOK_SECRET\"\n",
            addr = broker.addr
        ),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let mut ingest = spawn(&["ingest"], &config, &log);
    let mut watch = spawn(&["watch"], &config, &log);
    let ts = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    // 85 calls: 80% of the daily quota of 100.
    let batch: Vec<(i32, Vec<u8>)> = (0..85)
        .map(|i| (0, event(&format!("q{i}"), "acme", "shop", 200, &ts())))
        .collect();
    let produced = Instant::now();
    broker.produce("gw", &batch);
    wait_for(&hits, 60, &log, "the 80% signal", |v| {
        quota_thresholds(v) == [80]
    });
    let first_latency = hits.lock().unwrap()[0].2 - produced;

    // 20 more: 105, over 100%.
    let batch: Vec<(i32, Vec<u8>)> = (85..105)
        .map(|i| (0, event(&format!("q{i}"), "acme", "shop", 200, &ts())))
        .collect();
    let produced = Instant::now();
    broker.produce("gw", &batch);
    wait_for(&hits, 60, &log, "the 100% signal", |v| {
        quota_thresholds(v) == [80, 100]
    });
    let second_latency = hits.lock().unwrap()[1].2 - produced;
    eprintln!("quota signals arrived {first_latency:?} and {second_latency:?} after producing");

    // A kill -9 and restart of the watcher repeats nothing.
    watch.kill().unwrap();
    watch.wait().unwrap();
    let mut watch = spawn(&["watch"], &config, &log);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        quota_thresholds(&bodies(&hits)),
        [80, 100],
        "after the restart"
    );

    // Every webhook request is signed over its exact body.
    for (sig, body, _) in hits.lock().unwrap().iter() {
        tollgate_signals::deliver::verify(
            SECRET.as_bytes(),
            sig,
            body.as_bytes(),
            chrono::Utc::now().timestamp(),
            300,
        )
        .unwrap();
    }
    let received = bodies(&hits);
    let block = &received[1];
    assert_eq!(block["consumer"], "acme");
    assert_eq!(block["action"], "block");
    assert_eq!(block["limit"], 100);
    assert!(block["used"].as_u64().unwrap() >= 100);

    // A 5xx burst on api "pay" fires the alert once; it resolves after
    // the burst leaves the 10 s window.
    let burst: Vec<(i32, Vec<u8>)> = (0..10)
        .map(|i| (0, event(&format!("p{i}"), "ops", "pay", 503, &ts())))
        .collect();
    broker.produce("gw", &burst);
    wait_for(&hits, 60, &log, "the alert firing", |v| {
        alert_states(v) == ["firing"]
    });
    wait_for(&hits, 60, &log, "the alert resolving", |v| {
        alert_states(v) == ["firing", "resolved"]
    });

    // The topic holds the same four signals, once each, keyed by consumer or rule.
    let msgs = topic_messages(&broker.addr, 4);
    let ids = |v: &[Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let on_topic: Vec<Value> = msgs.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(ids(&on_topic), ids(&bodies(&hits)));
    assert_eq!(on_topic.len(), 4, "{msgs:?}");
    assert_eq!(msgs[0].0, "acme");

    // The delivery log shows both targets delivered for every signal.
    let out = tollgate()
        .args(["signals", "list", "--json", "--config"])
        .arg(&config)
        .env("E2E_HOOK_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    for r in &records {
        let targets: Vec<&str> = r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert!(t["delivered_at"].is_string(), "{r}");
                t["target"].as_str().unwrap()
            })
            .collect();
        assert_eq!(targets, ["kafka:tollgate.signals", "webhook:portal"]);
    }

    for c in [&mut watch, &mut ingest] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
