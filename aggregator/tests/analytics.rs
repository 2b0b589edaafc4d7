//! The aggregator against a fixture lake: metrics checked by hand and by a
//! golden file, rollups against exact percentiles, read-only SQL, limits,
//! and agreement with DuckDB.

mod fixture;

use fixture::analyst_sql;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{TimeZone, Utc};
use tollgate_aggregator::query::{self, Bucket, Dim, TrafficQuery};
use tollgate_aggregator::traffic;
use tollgate_aggregator::{AnalyticsConfig, AnalyticsError, Lake, lake_store, rollup};

fn range_all() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    (
        Utc.timestamp_millis_opt(fixture::BASE_MS).unwrap(),
        Utc.timestamp_millis_opt(fixture::BASE_MS + 3 * 86_400_000)
            .unwrap(),
    )
}

async fn lake_with(n: usize) -> (tempfile::TempDir, Lake, Vec<tollgate_schemas::AccessEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let events = fixture::events(n, 7);
    fixture::write_events(dir.path(), &events, 0, 0);
    let lake = Lake::open(dir.path().to_str().unwrap(), &AnalyticsConfig::default())
        .await
        .unwrap();
    (dir, lake, events)
}

#[tokio::test]
async fn exact_metrics_match_a_hand_count() {
    let (_dir, lake, events) = lake_with(3000).await;
    let (from, to) = range_all();
    let q = TrafficQuery {
        from,
        to,
        bucket: None,
        by: vec![Dim::Consumer],
        consumer: None,
        tz: None,
        exact: true,
    };
    let rows = traffic::exact(&lake, &q).await.unwrap();
    // By hand, from the events themselves.
    let mut want: BTreeMap<Option<String>, (i64, i64, i64, i64)> = BTreeMap::new();
    for e in &events {
        let w = want.entry(e.consumer.clone()).or_default();
        w.0 += 1;
        let s = e.status.unwrap();
        w.1 += i64::from((400..500).contains(&s));
        w.2 += i64::from((500..600).contains(&s));
        w.3 += e.response_bytes.unwrap_or(0) as i64;
    }
    assert_eq!(rows.len(), want.len());
    for r in &rows {
        let w = want[&r.group[0]];
        assert_eq!(
            (r.calls, r.errors_4xx, r.errors_5xx, r.response_bytes),
            w,
            "{:?}",
            r.group
        );
        assert!((r.error_rate_5xx - w.2 as f64 / w.0 as f64).abs() < 1e-12);
        let mut lat: Vec<f64> = events
            .iter()
            .filter(|e| e.consumer == r.group[0])
            .filter_map(|e| e.latency_ms)
            .collect();
        lat.sort_by(f64::total_cmp);
        assert_eq!(r.latency_max, lat.last().copied());
        let rank = 0.95 * (lat.len() - 1) as f64;
        let p95 = lat[rank.floor() as usize]
            + (lat[rank.ceil() as usize] - lat[rank.floor() as usize]) * rank.fract();
        // percentile_cont interpolates in its own float order: equal to 1e-6 relative.
        assert!(
            (r.latency_p95.unwrap() - p95).abs() / p95 < 1e-6,
            "{} vs {p95}",
            r.latency_p95.unwrap()
        );
        assert_eq!(r.consumers, i64::from(r.group[0].is_some()));
    }
}

#[tokio::test]
async fn top_n_ranks_by_calls_errors_and_latency() {
    let (_dir, lake, events) = lake_with(3000).await;
    let (from, to) = range_all();
    let q = TrafficQuery {
        from,
        to,
        bucket: None,
        by: vec![Dim::Route],
        consumer: None,
        tz: None,
        exact: true,
    };
    let rows = traffic::exact(&lake, &q).await.unwrap();
    let top = query::top(rows.clone(), query::TopOrder::Calls, 2);
    assert_eq!(top.len(), 2);
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for e in &events {
        *counts.entry(e.route.clone().unwrap()).or_default() += 1;
    }
    let mut want: Vec<(i64, String)> = counts.into_iter().map(|(k, v)| (v, k)).collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(top[0].group[0].as_deref(), Some(want[0].1.as_str()));
    assert_eq!(top[0].calls, want[0].0);
    assert!(top[0].calls >= top[1].calls);
    let slow = query::top(rows, query::TopOrder::P99, 3);
    assert!(
        slow.windows(2)
            .all(|w| w[0].latency_p99 >= w[1].latency_p99)
    );
}

#[tokio::test]
async fn hourly_series_by_route_matches_the_golden_file() {
    let (_dir, lake, _) = lake_with(2000).await;
    let (from, _) = range_all();
    let to = from + chrono::Duration::hours(6);
    let q = TrafficQuery {
        from,
        to,
        bucket: Some(Bucket::Hour),
        by: vec![Dim::Route, Dim::StatusClass],
        consumer: None,
        tz: None,
        exact: true,
    };
    let rows = traffic::exact(&lake, &q).await.unwrap();
    let text: String = rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/hourly_by_route_status.jsonl");
    if std::env::var_os("TOLLGATE_BLESS").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let want =
        std::fs::read_to_string(&golden).expect("golden file (regenerate with TOLLGATE_BLESS=1)");
    assert_eq!(
        text,
        want,
        "output differs from {}; rerun with TOLLGATE_BLESS=1 if the change is intended",
        golden.display()
    );
    // Six hours, each bucket aligned to the hour.
    let buckets: std::collections::BTreeSet<_> = rows.iter().map(|r| r.bucket.unwrap()).collect();
    assert_eq!(buckets.len(), 6);
    assert!(buckets.iter().all(|b| b.timestamp() % 3600 == 0));
}

#[tokio::test]
async fn rollup_percentiles_are_within_one_percent_of_exact_and_counts_equal() {
    let (dir, lake, _) = lake_with(30_000).await;
    let store = lake_store(dir.path().to_str().unwrap()).unwrap();
    let report = rollup::run(&lake, &store).await.unwrap();
    assert_eq!(report.days_rebuilt.len(), 2);
    let lake = Lake::open(dir.path().to_str().unwrap(), &AnalyticsConfig::default())
        .await
        .unwrap();
    let (from, to) = range_all();
    for (bucket, by) in [
        (Some(Bucket::Day), vec![Dim::Consumer]),
        (None, vec![Dim::Route, Dim::Method]),
        (Some(Bucket::Hour), vec![]),
    ] {
        let q = TrafficQuery {
            from,
            to,
            bucket,
            by,
            consumer: None,
            tz: None,
            exact: true,
        };
        let exact = traffic::exact(&lake, &q).await.unwrap();
        let fast = traffic::from_rollups(&lake, &q).await.unwrap();
        assert_eq!(exact.len(), fast.len());
        for (e, f) in exact.iter().zip(&fast) {
            assert_eq!((e.bucket, &e.group), (f.bucket, &f.group));
            assert_eq!(
                (e.calls, e.errors_4xx, e.errors_5xx),
                (f.calls, f.errors_4xx, f.errors_5xx)
            );
            assert_eq!(
                (e.request_bytes, e.response_bytes, e.consumers),
                (f.request_bytes, f.response_bytes, f.consumers)
            );
            assert_eq!(e.latency_max, f.latency_max);
            for (name, x, y) in [
                ("p50", e.latency_p50, f.latency_p50),
                ("p90", e.latency_p90, f.latency_p90),
                ("p95", e.latency_p95, f.latency_p95),
                ("p99", e.latency_p99, f.latency_p99),
                ("up95", e.upstream_p95, f.upstream_p95),
            ] {
                let (x, y) = (x.unwrap(), y.unwrap());
                assert!(
                    (x - y).abs() / x <= 0.01,
                    "{name} of {:?}/{:?}: exact {x}, rollup {y}",
                    e.bucket,
                    e.group
                );
            }
        }
    }
}

#[tokio::test]
async fn rollup_is_idempotent_and_picks_up_late_events() {
    let (dir, lake, events) = lake_with(4000).await;
    let store = lake_store(dir.path().to_str().unwrap()).unwrap();
    let first = rollup::run(&lake, &store).await.unwrap();
    assert_eq!(first.days_rebuilt.len(), 2);
    let again = rollup::run(&lake, &store).await.unwrap();
    assert!(again.days_rebuilt.is_empty());
    assert_eq!(again.days_unchanged, 2);
    // A late event for day one arrives in a new file.
    let mut late = events[0].clone();
    late.event_id = "late-1".into();
    fixture::write_events(dir.path(), &[late], 1, 0);
    let lake = Lake::open(dir.path().to_str().unwrap(), &AnalyticsConfig::default())
        .await
        .unwrap();
    let third = rollup::run(&lake, &store).await.unwrap();
    assert_eq!(third.days_rebuilt, vec!["2024-06-11".to_string()]);
    let (from, to) = range_all();
    let q = TrafficQuery {
        from,
        to,
        bucket: None,
        by: vec![],
        consumer: None,
        tz: None,
        exact: true,
    };
    let fast = traffic::from_rollups(&lake, &q).await.unwrap();
    assert_eq!(fast[0].calls, 4001);
}

const FORBIDDEN: [&str; 24] = [
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t AS SELECT 1",
    "CREATE OR REPLACE TABLE events AS SELECT 1",
    "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/tmp/x'",
    "CREATE UNBOUNDED EXTERNAL TABLE x STORED AS CSV LOCATION '/tmp/x'",
    "CREATE VIEW v AS SELECT * FROM events",
    "CREATE SCHEMA s",
    "CREATE DATABASE d",
    "DROP TABLE events",
    "DROP VIEW v",
    "DROP SCHEMA public",
    "INSERT INTO events SELECT * FROM events",
    "INSERT OVERWRITE events SELECT * FROM events",
    "UPDATE events SET consumer = 'x'",
    "DELETE FROM events",
    "TRUNCATE TABLE events",
    "COPY events TO '/tmp/tollgate-copy.parquet'",
    "COPY (SELECT 1) TO '/tmp/tollgate-copy.csv' STORED AS CSV",
    "SET datafusion.execution.batch_size = 1",
    "SET TIME ZONE 'UTC'",
    "CREATE FUNCTION f() RETURNS INT RETURN 1",
    "DROP FUNCTION f",
    "EXPLAIN ANALYZE INSERT INTO events SELECT * FROM events",
    "SELECT 1; DROP TABLE events",
];

#[tokio::test]
async fn analyst_sql_is_read_only() {
    let (_dir, lake, events) = lake_with(500).await;
    for sql in FORBIDDEN {
        match analyst_sql(&lake, sql).await {
            Err(AnalyticsError::Refused(msg)) => assert!(!msg.is_empty()),
            other => panic!("{sql:?} was not refused: {other:?}"),
        }
    }
    assert!(!Path::new("/tmp/tollgate-copy.parquet").exists());
    // Reads still work, and nothing changed.
    let (_, batches) = analyst_sql(&lake, "SELECT count(*) AS n FROM events")
        .await
        .unwrap();
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n as usize, events.len());
    for ok in [
        "EXPLAIN SELECT * FROM events",
        "SHOW TABLES",
        "DESCRIBE events",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
    ] {
        analyst_sql(&lake, ok)
            .await
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[tokio::test]
async fn queries_past_the_memory_or_time_limit_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let small = AnalyticsConfig {
        memory_limit_mb: 16,
        query_timeout_secs: 60,
        threads: 2,
        ..AnalyticsConfig::default()
    };
    let lake = Lake::open(dir.path().to_str().unwrap(), &small)
        .await
        .unwrap();
    let err = analyst_sql(
        &lake,
        "SELECT v FROM generate_series(1, 20000000) AS t(v) ORDER BY v DESC LIMIT 20000000",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AnalyticsError::Memory(_)), "{err:?}");
    let quick = AnalyticsConfig {
        memory_limit_mb: 256,
        query_timeout_secs: 1,
        threads: 2,
        ..AnalyticsConfig::default()
    };
    let lake = Lake::open(dir.path().to_str().unwrap(), &quick)
        .await
        .unwrap();
    let err = tollgate_aggregator::SqlGate::new(&quick)
        .query(
            &lake,
            "SELECT count(*) FROM generate_series(1, 200000) a, generate_series(1, 200000) b WHERE a.value + b.value = 3",
            tollgate_aggregator::ResultLimit::whole(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AnalyticsError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn duckdb_reads_the_same_numbers() {
    let (dir, lake, _) = lake_with(5000).await;
    let (_, batches) = analyst_sql(
        &lake,
        "SELECT consumer, count(*) AS calls, sum(response_bytes) AS bytes, \
             sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS e5, max(latency_ms) AS mx \
             FROM events WHERE consumer IS NOT NULL GROUP BY consumer ORDER BY consumer",
    )
    .await
    .unwrap();
    let mut ours = String::new();
    for b in &batches {
        // Strings are read as string views; as plain strings for the test.
        let c =
            datafusion::arrow::compute::cast(b.column(0), &arrow_schema::DataType::Utf8).unwrap();
        let c = c
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        let n = b
            .column(1)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        let s = b
            .column(2)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        let e = b
            .column(3)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        let m = b
            .column(4)
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            ours += &format!(
                "{} {} {} {} {:.6}\n",
                c.value(i),
                n.value(i),
                s.value(i),
                e.value(i),
                m.value(i)
            );
        }
    }
    let code = format!(
        r#"
import duckdb
rows = duckdb.connect().execute("""
  SELECT consumer, count(*), sum(response_bytes), sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END), max(latency_ms)
  FROM read_parquet('{}/events/**/*.parquet', hive_partitioning = true)
  WHERE consumer IS NOT NULL GROUP BY consumer ORDER BY consumer""").fetchall()
for r in rows:
    print(r[0], r[1], r[2], r[3], "%.6f" % r[4])
"#,
        dir.path().display()
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(code)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb (installed by scripts/test.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ours);
}

#[tokio::test]
async fn day_buckets_follow_the_time_zone_exactly_and_from_rollups() {
    let (dir, lake, events) = lake_with(6000).await;
    let store = lake_store(dir.path().to_str().unwrap()).unwrap();
    rollup::run(&lake, &store).await.unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), &AnalyticsConfig::default())
        .await
        .unwrap();
    let (from, to) = range_all();
    let q = TrafficQuery {
        from,
        to,
        bucket: Some(Bucket::Day),
        by: vec![],
        consumer: None,
        tz: Some("Europe/Berlin".into()),
        exact: true,
    };
    let exact = traffic::exact(&lake, &q).await.unwrap();
    let fast = traffic::from_rollups(&lake, &q).await.unwrap();
    // June in Berlin is UTC+2: local days start at 22:00 UTC the day before.
    for r in &exact {
        assert_eq!(r.bucket.unwrap().format("%H:%M").to_string(), "22:00");
    }
    // Count by hand in local days.
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    for e in &events {
        let local_day_start =
            (e.ts.0 + 2 * 3_600_000).div_euclid(86_400_000) * 86_400_000 - 2 * 3_600_000;
        *want.entry(local_day_start).or_default() += 1;
    }
    let got: BTreeMap<i64, i64> = exact
        .iter()
        .map(|r| (r.bucket.unwrap().timestamp_millis(), r.calls))
        .collect();
    assert_eq!(got, want);
    let got_fast: BTreeMap<i64, i64> = fast
        .iter()
        .map(|r| (r.bucket.unwrap().timestamp_millis(), r.calls))
        .collect();
    assert_eq!(got_fast, want);
    let bad = TrafficQuery {
        tz: Some("Mars/Olympus".into()),
        ..q
    };
    assert!(matches!(
        traffic::exact(&lake, &bad).await,
        Err(AnalyticsError::Invalid(_))
    ));
}

/// The rollup writes through the lake's durable store: each day's files and
/// marker are there, the marker still lists every event file of the day
/// with its size (the format older runs wrote, so their lakes are not
/// rebuilt), the month file and marker too, and no temporary file is left.
#[tokio::test]
async fn rollup_files_and_markers_are_written_whole() {
    let (dir, lake, _) = lake_with(4000).await;
    let store = lake_store(dir.path().to_str().unwrap()).unwrap();
    let report = rollup::run(&lake, &store).await.unwrap();
    assert_eq!(report.days_rebuilt.len(), 2);
    for day in &report.days_rebuilt {
        let mut files: Vec<String> =
            std::fs::read_dir(dir.path().join(format!("events/date={day}")))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .map(|p| {
                    let rel = p
                        .strip_prefix(dir.path())
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    format!("{rel} {}", std::fs::metadata(&p).unwrap().len())
                })
                .collect();
        files.sort();
        assert!(!files.is_empty());
        let marker = std::fs::read_to_string(
            dir.path()
                .join(format!("_tollgate/rollups/hourly/{day}.txt")),
        )
        .unwrap();
        let listed: Vec<&str> = marker.lines().skip(1).collect();
        assert_eq!(listed, files, "{day}");
        assert!(marker.starts_with("format "));
        for f in [
            format!("rollups/hourly/date={day}/rollup.parquet"),
            format!("rollups/summary/date={day}/summary.parquet"),
        ] {
            assert!(dir.path().join(&f).is_file(), "{f}");
        }
    }
    let month = &report.days_rebuilt[0][..7];
    assert!(
        dir.path()
            .join(format!(
                "rollups/summary_month/month={month}/summary.parquet"
            ))
            .is_file()
    );
    assert!(
        dir.path()
            .join(format!("_tollgate/rollups/month/{month}.txt"))
            .is_file()
    );
    // Every file under rollups/ and _tollgate/ is a finished one.
    let mut stack = vec![dir.path().join("rollups"), dir.path().join("_tollgate")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                assert!(
                    name.ends_with(".parquet") || name.ends_with(".txt"),
                    "left behind: {}",
                    p.display()
                );
            }
        }
    }
    // Run again: every marker matches, nothing is rebuilt.
    let again = rollup::run(&lake, &store).await.unwrap();
    assert!(again.days_rebuilt.is_empty());
}
