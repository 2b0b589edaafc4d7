//! Spark (pyspark, local mode) reads a lake the real binary wrote, as an
//! analyst's cluster would, and its billable calls per consumer for a month
//! equal the finalized invoices' quantities; it reads the quarantine and the
//! hourly rollup, and leaves out the files of a flush or an import that has
//! not committed (docs/LAKE.md, "Reading a consistent snapshot").
//!
//! The Spark side is `scripts/spark_usage.py`, the script
//! docs/OPERATIONS.md runs on a cluster. scripts/test.sh installs pyspark
//! and a Java runtime; without them this test fails, it never skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::lake::{all_files, delta_view};
use crate::{repo_file, tollgate};

const PLANS: &str = r#"
[[plan]]
id = "std"
version = 1
currency = "USD"
base_fee = "10.00"
[[plan.charge]]
id = "calls"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"
"#;

/// alice, bob and carol subscribe for the whole of September; dave and the
/// anonymous calls have no invoice.
const SUBSCRIPTIONS: &str = r#"
[[subscription]]
consumer = "alice"
plan = "std"
start = "2026-09-01"
[[subscription]]
consumer = "bob"
plan = "std"
start = "2026-09-01"
[[subscription]]
consumer = "carol"
plan = "std"
start = "2026-09-01"
"#;

/// A canonical log line; `None` leaves the key out (a null in the lake).
fn line(id: &str, consumer: Option<&str>, ts: &str, status: Option<u16>) -> String {
    let mut e = json!({
        "event_id": id, "ts": ts, "gateway": "canonical", "api": "shop",
        "route": "orders", "method": "GET", "path": "/v1/orders",
        "latency_ms": 12.5, "request_bytes": 100, "response_bytes": 1000
    });
    if let Some(c) = consumer {
        e["consumer"] = json!(c);
    }
    if let Some(s) = status {
        e["status"] = json!(s);
    }
    e.to_string()
}

/// September's log, with every rule of the billable count exercised once.
///
/// Bulk: consumer c's call i is on day 1 + i mod 30, status 503 when
/// i mod 10 = 9 (not billable), 404 when i mod 10 = 4 (billable: below
/// 500), else 200. alice 1000 → 900 billable, bob 500 → 450, carol 250 →
/// 225, dave 40 → 36.
///
/// Edges (alice unless named), billable after dedup / rows before dedup:
/// - 31 Aug 23:59:59.999 and 1 Oct 00:00: outside the UTC month, 0 / 0;
/// - 1 Sep 00:00:00.000 and 30 Sep 23:59:59.999: inside, 2 / 2;
/// - status 499: 1 / 1; 500 and no status: 0 / 0;
/// - one id twice, identical: 1 / 2;
/// - one id as 503 and 200: the copy kept is the smaller status, 200: 1 / 1;
/// - one id as bob and alice: alice's copy is kept: alice 1 / 1, bob 0 / 1;
/// - one id without status and with 200: nulls sort last, 200 kept: 1 / 1;
/// - one id without consumer and as carol: carol's kept: carol 1 / 1,
///   anonymous 0 / 1;
/// - one id on 5 and 6 Sep: two calls, 2 / 2;
/// - one id on 31 Aug 23:59:59.999 and 1 Sep 00:00: one in the month, 1 / 1;
/// - an anonymous call: anonymous 1 / 1.
///
/// alice: 900 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 1 = 910 billable,
/// 900 + 2 + 1 + 2 + 1 + 1 + 1 + 2 + 1 = 911 rows; bob 450 / 451;
/// carol 226 / 226; dave 36 / 36; anonymous 1 / 2.
///
/// And four lines the decoder rejects (quarantine).
fn september_log() -> String {
    let mut lines = Vec::new();
    for (c, n) in [("alice", 1000), ("bob", 500), ("carol", 250), ("dave", 40)] {
        for i in 0..n {
            let ts = format!(
                "2026-09-{:02}T{:02}:{:02}:00.000Z",
                1 + i % 30,
                i % 24,
                (i * 7) % 60
            );
            let status = match i % 10 {
                9 => 503,
                4 => 404,
                _ => 200,
            };
            lines.push(line(&format!("{c}-{i}"), Some(c), &ts, Some(status)));
        }
    }
    let a = Some("alice");
    let noon = "2026-09-12T12:00:00.000Z";
    lines.extend([
        line("aug31", a, "2026-08-31T23:59:59.999Z", Some(200)),
        line("oct1", a, "2026-10-01T00:00:00.000Z", Some(200)),
        line("sep1", a, "2026-09-01T00:00:00.000Z", Some(200)),
        line("sep30", a, "2026-09-30T23:59:59.999Z", Some(200)),
        line("s499", a, noon, Some(499)),
        line("s500", a, noon, Some(500)),
        line("nostatus", a, noon, None),
        line("dup-same", a, noon, Some(200)),
        line("dup-same", a, noon, Some(200)),
        line("dup-status", a, noon, Some(503)),
        line("dup-status", a, noon, Some(200)),
        line("dup-consumer", Some("bob"), noon, Some(200)),
        line("dup-consumer", a, noon, Some(200)),
        line("dup-null-status", a, noon, None),
        line("dup-null-status", a, noon, Some(200)),
        line("dup-null-consumer", None, noon, Some(200)),
        line("dup-null-consumer", Some("carol"), noon, Some(200)),
        line("two-days", a, "2026-09-05T10:00:00.000Z", Some(200)),
        line("two-days", a, "2026-09-06T10:00:00.000Z", Some(200)),
        line("dup-boundary", a, "2026-08-31T23:59:59.999Z", Some(200)),
        line("dup-boundary", a, "2026-09-01T00:00:00.000Z", Some(200)),
        line("anon", None, noon, Some(200)),
        // Rejected: no event_id; a status that is not a number; a time
        // that is not RFC 3339; not JSON.
        r#"{"ts":"2026-09-10T00:00:00.000Z","gateway":"canonical","consumer":"alice"}"#.into(),
        r#"{"event_id":"q2","ts":"2026-09-10T00:00:00.000Z","gateway":"canonical","status":"two hundred"}"#.into(),
        r#"{"event_id":"q3","ts":"yesterday","gateway":"canonical"}"#.into(),
        "this is not json".into(),
    ]);
    lines.join("\n") + "\n"
}

fn check(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn import(config: &Path, file: &Path) {
    let out = tollgate()
        .args(["import", "--format", "canonical", "--config"])
        .arg(config)
        .arg(file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    check(out, "tollgate import");
}

fn config_for(dir: &Path, lake: &Path) -> PathBuf {
    let plans = dir.join("plans.toml");
    let subs = dir.join("subscriptions.toml");
    std::fs::write(&plans, PLANS).unwrap();
    std::fs::write(&subs, SUBSCRIPTIONS).unwrap();
    let config = dir.join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n[billing]\nplans = {plans:?}\n\
             subscriptions = {subs:?}\nnumber_prefix = \"S-\"\n"
        ),
    )
    .unwrap();
    config
}

/// `tollgate sql` rows (JSON lines; a null column is absent).
fn sql(config: &Path, q: &str) -> Vec<Value> {
    let out = tollgate()
        .args(["sql", "--format", "json", "--config"])
        .arg(config)
        .arg(q)
        .output()
        .unwrap();
    check(out, &format!("tollgate sql {q}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Per consumer (None: anonymous) → count, from `tollgate sql` rows with
/// columns `consumer` and `n`.
fn by_consumer(rows: &[Value]) -> BTreeMap<Option<String>, u64> {
    rows.iter()
        .map(|r| {
            (
                r["consumer"].as_str().map(String::from),
                r["n"].as_u64().unwrap_or_else(|| panic!("count in {r}")),
            )
        })
        .collect()
}

/// The same from the Spark script's `[[consumer, n], ...]`.
fn spark_pairs(v: &Value) -> BTreeMap<Option<String>, u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|p| (p[0].as_str().map(String::from), p[1].as_u64().unwrap()))
        .collect()
}

fn expected(pairs: &[(Option<&str>, u64)]) -> BTreeMap<Option<String>, u64> {
    pairs
        .iter()
        .map(|(c, n)| (c.map(String::from), *n))
        .collect()
}

/// Fails (never skips) when pyspark or Java is missing.
fn require_pyspark() {
    let py = Command::new("python3")
        .args(["-c", "import pyspark; print(pyspark.__version__)"])
        .output();
    assert!(
        py.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs pyspark 4 (scripts/test.sh installs it: python3 -m pip install 'pyspark>=4,<5'): {:?}",
        py.map(|o| String::from_utf8_lossy(&o.stderr).to_string())
    );
    let java = Command::new("java").arg("-version").output();
    assert!(
        java.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs a Java 17+ runtime on PATH or in JAVA_HOME (scripts/test.sh installs Debian's openjdk-17-jre-headless): {java:?}"
    );
}

/// Imports `log` into a lake of its own under `scratch` and returns its
/// data files (lake-relative path, file): files to plant in the real lake
/// as a flush or an import that has not committed.
fn scratch_files(scratch: &Path, log: &str) -> Vec<(String, PathBuf)> {
    std::fs::create_dir_all(scratch).unwrap();
    let lake = scratch.join("lake");
    let config = config_for(scratch, &lake);
    let file = scratch.join("extra.log");
    std::fs::write(&file, log).unwrap();
    import(&config, &file);
    ["events", "quarantine"]
        .iter()
        .flat_map(|t| all_files(&lake.join(t)))
        .map(|p| {
            let rel = p.strip_prefix(&lake).unwrap().to_str().unwrap().to_string();
            (rel, p)
        })
        .collect()
}

/// Moves `files` into `lake`, renamed to `stem` in the same partition
/// folder; returns their lake-relative paths.
fn plant(lake: &Path, files: &[(String, PathBuf)], stem: &str) -> Vec<String> {
    files
        .iter()
        .map(|(rel, from)| {
            let dir = Path::new(rel).parent().unwrap();
            let to = dir.join(format!("{stem}.parquet"));
            std::fs::create_dir_all(lake.join(dir)).unwrap();
            std::fs::copy(from, lake.join(&to)).unwrap();
            to.to_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn spark_reads_the_lake_and_its_billable_calls_equal_the_finalized_invoices() {
    require_pyspark();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let config = config_for(dir.path(), &lake);
    let log = dir.path().join("september.log");
    std::fs::write(&log, september_log()).unwrap();
    import(&config, &log);
    check(
        tollgate()
            .args(["rollup", "--config"])
            .arg(&config)
            .output()
            .unwrap(),
        "tollgate rollup",
    );
    for (cmd, now) in [
        ("run", "2026-10-01T06:00:00Z"),
        ("finalize", "2026-10-01T08:00:00Z"),
    ] {
        check(
            tollgate()
                .args(["invoice", cmd, "--period", "2026-09", "--now", now])
                .arg("--config")
                .arg(&config)
                .output()
                .unwrap(),
            &format!("tollgate invoice {cmd}"),
        );
    }

    // What Tollgate says, before anything uncommitted is in the lake.
    let invoiced = by_consumer(&sql(
        &config,
        "SELECT consumer, CAST(sum(quantity) AS BIGINT) AS n FROM invoices \
         WHERE period = '2026-09' AND status = 'finalized' AND kind = 'usage' \
         GROUP BY consumer",
    ));
    assert_eq!(
        invoiced,
        expected(&[
            (Some("alice"), 910),
            (Some("bob"), 450),
            (Some("carol"), 226)
        ]),
        "the invoices' quantities (see september_log for the arithmetic)"
    );
    let quarantine = by_consumer(&sql(
        &config,
        "SELECT reason AS consumer, count(*) AS n FROM quarantine GROUP BY reason",
    ));
    assert_eq!(
        quarantine.values().sum::<u64>(),
        4,
        "four rejected lines: {quarantine:?}"
    );
    let rollup = by_consumer(&sql(
        &config,
        "SELECT consumer, CAST(sum(calls) AS BIGINT) AS n FROM rollups_hourly \
         WHERE hour >= TIMESTAMP '2026-09-01T00:00:00Z' AND hour < TIMESTAMP '2026-10-01T00:00:00Z' \
         AND status < 500 GROUP BY consumer",
    ));
    let alice_rows = |c: &Path| {
        sql(
            c,
            "SELECT count(*) AS n FROM events WHERE consumer = 'alice'",
        )[0]["n"]
            .as_u64()
            .unwrap()
    };
    let alice_before = alice_rows(&config);

    // A flush in flight: its pending record names files already written
    // (7 alice calls and a reject), its commit marker is not. And an
    // interrupted import (5 alice calls): its chunk record, no marker.
    let mut flight = (0..7)
        .map(|i| {
            line(
                &format!("late-{i}"),
                Some("alice"),
                "2026-09-15T12:00:00.000Z",
                Some(200),
            )
        })
        .collect::<Vec<_>>();
    flight.push("not json either".into());
    let in_flight = plant(
        &lake,
        &scratch_files(&dir.path().join("flight"), &(flight.join("\n") + "\n")),
        "gw-0-0000000000000000100-0000000000000000107",
    );
    let pending = lake.join("_tollgate/pending/gw/0.json");
    std::fs::create_dir_all(pending.parent().unwrap()).unwrap();
    std::fs::write(
        &pending,
        json!({"version": 1, "first_offset": 100, "last_offset": 107, "files": in_flight})
            .to_string(),
    )
    .unwrap();
    let partial: String = (0..5)
        .map(|i| {
            line(
                &format!("partial-{i}"),
                Some("alice"),
                "2026-09-16T12:00:00.000Z",
                Some(200),
            ) + "\n"
        })
        .collect();
    let hash = "0123456789abcdef0123456789abcdef";
    let interrupted = plant(
        &lake,
        &scratch_files(&dir.path().join("partial"), &partial),
        &format!("import-{}-000000", &hash[..16]),
    );
    let chunk = lake.join(format!("_tollgate/imports/{hash}/000000.json"));
    std::fs::create_dir_all(chunk.parent().unwrap()).unwrap();
    std::fs::write(&chunk, json!({ "files": interrupted }).to_string()).unwrap();
    // A finished import whose chunk records were not yet deleted (a crash
    // after its marker): its files are committed and must stay.
    let markers: Vec<PathBuf> = std::fs::read_dir(lake.join("_tollgate/imports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(
        markers.len(),
        1,
        "the September import's marker: {markers:?}"
    );
    let done = &markers[0];
    let leftover = done.with_extension("").join("000000.json");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    let committed: Vec<String> = all_files(&lake.join("events"))
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("import-")
        })
        .filter(|p| !interrupted.iter().any(|i| p.ends_with(i)))
        .map(|p| p.strip_prefix(&lake).unwrap().to_str().unwrap().to_string())
        .collect();
    assert!(!committed.is_empty());
    std::fs::write(&leftover, json!({ "files": committed }).to_string()).unwrap();
    // Not Parquet: Spark would try to read it without the `*.parquet` filter.
    std::fs::write(lake.join("events/date=2026-09-15/README.txt"), "notes\n").unwrap();
    // A folder-listing reader (Tollgate's own tables) sees the 7 + 5 calls.
    assert_eq!(alice_rows(&config), alice_before + 12);

    // A Delta reader needs no rule: the log names the committed files and
    // none of the in-flight or interrupted ones (read with delta-rs; Spark's
    // own Delta reader, delta-spark, is a Maven package this machine cannot
    // fetch).
    let delta = delta_view(&lake, "events", &[]).expect("the lake keeps a Delta log");
    let committed_now: Vec<String> = all_files(&lake.join("events"))
        .iter()
        .map(|p| p.strip_prefix(&lake).unwrap().to_str().unwrap().to_string())
        .filter(|p| p.ends_with(".parquet"))
        .filter(|p| !in_flight.contains(p) && !interrupted.contains(p))
        .collect();
    assert!(committed_now.len() < all_files(&lake.join("events")).len() - 1);
    assert_eq!(delta.files, committed_now);

    let started = Instant::now();
    let out = Command::new("python3")
        .arg(repo_file("scripts/spark_usage.py"))
        .arg("--lake")
        .arg(&lake)
        .args([
            "--month",
            "2026-09",
            "--master",
            "local[2]",
            "--driver-memory",
            "512m",
        ])
        .output()
        .unwrap();
    let stdout = check(out, "scripts/spark_usage.py");
    eprintln!("spark_usage.py took {:.1?}", started.elapsed());
    let spark: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the script prints one JSON object last ({e}):\n{stdout}"));

    let mut uncommitted: Vec<String> = in_flight.iter().chain(&interrupted).cloned().collect();
    uncommitted.sort();
    assert_eq!(spark["uncommitted"], json!(uncommitted), "{spark:#}");
    assert!(
        spark["spark_version"]
            .as_str()
            .is_some_and(|v| v.starts_with('4')),
        "{spark:#}"
    );
    assert_eq!(
        spark["partition_types"],
        json!({"events.date": "string", "quarantine.date": "string", "invoices.period": "string"})
    );

    // Spark's billable calls equal the finalized invoices, consumer by
    // consumer; dave (no subscription) and anonymous calls are counted but
    // not invoiced.
    let billable = spark_pairs(&spark["billable"]);
    let mut on_invoices = billable.clone();
    on_invoices.retain(|c, _| invoiced.contains_key(c));
    assert_eq!(on_invoices, invoiced, "{spark:#}");
    assert_eq!(
        billable,
        expected(&[
            (None, 1),
            (Some("alice"), 910),
            (Some("bob"), 450),
            (Some("carol"), 226),
            (Some("dave"), 36)
        ])
    );
    // Spark reads the invoices table too.
    assert_eq!(spark_pairs(&spark["invoiced"]), invoiced);

    // Before deduplication, events and the hourly rollup agree, with
    // Tollgate's rollup and with the arithmetic.
    let rows = spark_pairs(&spark["rows"]);
    assert_eq!(
        rows,
        expected(&[
            (None, 2),
            (Some("alice"), 911),
            (Some("bob"), 451),
            (Some("carol"), 226),
            (Some("dave"), 36)
        ])
    );
    assert_eq!(spark_pairs(&spark["rollup_calls"]), rows);
    assert_eq!(rollup, rows);

    // The quarantine: the same rows and reasons as `tollgate sql` saw
    // before the uncommitted reject was planted.
    assert_eq!(spark["quarantine_rows"], 4);
    let reasons: BTreeMap<Option<String>, u64> = spark["quarantine_reasons"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(r, n)| (Some(r.clone()), n.as_u64().unwrap()))
        .collect();
    assert_eq!(reasons, quarantine);
}
