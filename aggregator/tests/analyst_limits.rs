//! Analyst SQL limits under hostile queries: values that would explode are
//! refused before they are built, results stop at their caps without
//! computing the rest, queries beyond the concurrency limit are turned
//! away, each query has its own memory share, and a timed-out query
//! releases its slot.

use std::time::{Duration, Instant};

use tollgate_aggregator::{
    AnalyticsConfig, AnalyticsError, Cut, Lake, ResultLimit, SqlGate, WhenTooLarge,
};

async fn empty_lake(cfg: &AnalyticsConfig) -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), cfg).await.unwrap();
    (dir, lake)
}

fn text(answer: &tollgate_aggregator::AnalystAnswer) -> String {
    let mut out = Vec::new();
    tollgate_aggregator::output::write(
        tollgate_aggregator::output::OutputFormat::Csv,
        &answer.schema,
        &answer.batches,
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn values_that_would_explode_are_refused_before_they_are_built() {
    let cfg = AnalyticsConfig::default();
    let (_dir, lake) = empty_lake(&cfg).await;
    let gate = SqlGate::new(&cfg);
    for sql in [
        "SELECT repeat('x', 1000000000)",
        "SELECT length(repeat('x', 300000000))",
        "SELECT lpad('x', 2000000000, 'y')",
        "SELECT rpad('x', 2000000000)",
        "SELECT array_repeat(1, 1000000000)",
        "SELECT generate_series(1, 10000000000)",
        "SELECT cardinality(range(1, 10000000000))",
        "SELECT range(TIMESTAMP '1970-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second')",
        "SELECT replace(repeat('a', 4000000), 'a', repeat('b', 100))",
        // Per batch, not per value, and at run time (the arguments are
        // columns, so nothing is folded while planning): 40 KB a row, but
        // about 300 MB for a batch of 8,000 rows.
        "SELECT repeat(CAST(value AS VARCHAR), 10000) FROM generate_series(1000, 9000)",
        "SELECT array_resize([1], 1000000000)",
    ] {
        let started = Instant::now();
        match gate.query(&lake, sql, ResultLimit::whole()).await {
            Err(AnalyticsError::ValueTooLarge(msg)) => {
                assert!(msg.contains("sql_max_value_mb"), "{sql}: {msg}");
            }
            other => panic!("{sql:?} was not refused: {other:?}"),
        }
        // Not a timing test: a refusal after building the value would
        // take far longer than this generous bound (and often never end).
        assert!(started.elapsed() < Duration::from_secs(30), "{sql}");
    }
}

#[tokio::test]
async fn guarded_functions_still_answer_ordinary_questions() {
    let cfg = AnalyticsConfig::default();
    let (_dir, lake) = empty_lake(&cfg).await;
    let gate = SqlGate::new(&cfg);
    let answer = gate
        .query(
            &lake,
            "SELECT repeat('ab', 3) AS r, lpad('7', 3, '0') AS l, rpad('7', 3) AS p, \
             replace('aXbX', 'X', 'yy') AS x, concat('a', 'b', NULL, 'c') AS c, \
             cardinality(array_repeat(1, 4)) AS ar, cardinality(range(0, 10, 3)) AS rg, \
             cardinality(generate_series(DATE '2024-01-01', DATE '2024-01-31', INTERVAL '1 day')) AS days",
            ResultLimit::whole(),
        )
        .await
        .unwrap();
    assert_eq!(
        text(&answer),
        "r,l,p,x,c,ar,rg,days\nababab,007,7  ,ayybyy,abc,4,4,31\n"
    );
    assert_eq!(answer.cut, None);
}

#[tokio::test]
async fn results_stop_at_the_row_and_byte_caps() {
    let cfg = AnalyticsConfig {
        sql_max_result_mb: 1,
        ..AnalyticsConfig::default()
    };
    let (_dir, lake) = empty_lake(&cfg).await;
    let gate = SqlGate::new(&cfg);
    // Ten billion rows: only what the caps keep is ever computed.
    let huge = "SELECT value FROM generate_series(1, 10000000000)";
    let answer = gate
        .query(&lake, huge, ResultLimit::first(100))
        .await
        .unwrap();
    assert_eq!(answer.rows(), 100);
    assert_eq!(answer.cut, Some(Cut::Rows(100)));
    // Exactly the cap: nothing was cut.
    let answer = gate
        .query(
            &lake,
            "SELECT value FROM generate_series(1, 100)",
            ResultLimit::first(100),
        )
        .await
        .unwrap();
    assert_eq!((answer.rows(), answer.cut), (100, None));
    // Bytes: 1 MiB of 1 KB strings is about a thousand rows.
    let wide = "SELECT repeat('x', 1000) AS s FROM generate_series(1, 10000000000)";
    let answer = gate
        .query(&lake, wide, ResultLimit::first(1_000_000))
        .await
        .unwrap();
    assert_eq!(answer.cut, Some(Cut::Bytes(1024 * 1024)));
    assert!(
        (500..=1100).contains(&answer.rows()),
        "{} rows",
        answer.rows()
    );
    // A download is refused rather than silently short.
    let err = gate
        .query(&lake, huge, ResultLimit::whole())
        .await
        .unwrap_err();
    assert!(matches!(err, AnalyticsError::ResultTooLarge(_)), "{err:?}");
    let refuse = ResultLimit {
        max_rows: None,
        when_too_large: WhenTooLarge::Refuse,
    };
    assert_eq!(refuse, ResultLimit::whole());
}

#[tokio::test]
async fn queries_past_the_concurrency_limit_are_turned_away_and_a_timeout_frees_the_slot() {
    let cfg = AnalyticsConfig {
        sql_max_concurrent: 1,
        sql_queue_wait_ms: 200,
        query_timeout_secs: 2,
        ..AnalyticsConfig::default()
    };
    let (_dir, lake) = empty_lake(&cfg).await;
    let lake = std::sync::Arc::new(lake);
    let gate = std::sync::Arc::new(SqlGate::new(&cfg));
    // A query that would run for hours, in many small batches: it stops at
    // the next batch after its limit, however loaded the machine is. (A
    // nested-loop join, which the first version of this test used, stops
    // only after its current probe batch: seconds on a quiet machine, more
    // than the 30 s below on a loaded one. docs/SQL.md says so.)
    let slow = "SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3";
    let first = {
        let (gate, lake) = (gate.clone(), lake.clone());
        tokio::spawn(async move { gate.query(&lake, slow, ResultLimit::whole()).await })
    };
    while gate.running() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = gate
        .query(&lake, "SELECT 1", ResultLimit::whole())
        .await
        .unwrap_err();
    match &err {
        AnalyticsError::Busy { running, .. } => assert_eq!(*running, 1),
        other => panic!("not refused as busy: {other:?}"),
    }
    assert!(err.to_string().contains("sql_max_concurrent"), "{err}");
    let err = first.await.unwrap().unwrap_err();
    assert!(matches!(err, AnalyticsError::Timeout(_)), "{err:?}");
    // The aborted query stops and gives its slot back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while gate.running() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gate.running(), 0, "the timed-out query never stopped");
    let answer = gate
        .query(&lake, "SELECT 1 AS one", ResultLimit::whole())
        .await
        .unwrap();
    assert_eq!(text(&answer), "one\n1\n");
}

#[tokio::test]
async fn each_query_has_its_own_memory_share() {
    // A sort of 4M integers needs a few tens of MiB: within the whole
    // 128 MiB, past a quarter of it.
    let sort = "SELECT value FROM generate_series(1, 4000000) ORDER BY value DESC";
    let limit = ResultLimit {
        max_rows: Some(10),
        when_too_large: WhenTooLarge::Truncate,
    };
    let alone = AnalyticsConfig {
        memory_limit_mb: 128,
        sql_max_concurrent: 1,
        ..AnalyticsConfig::default()
    };
    let (_dir, lake) = empty_lake(&alone).await;
    let answer = SqlGate::new(&alone)
        .query(&lake, sort, limit)
        .await
        .unwrap();
    assert_eq!(answer.rows(), 10);
    let shared = AnalyticsConfig {
        sql_max_concurrent: 8,
        ..alone
    };
    let err = SqlGate::new(&shared)
        .query(&lake, sort, limit)
        .await
        .unwrap_err();
    assert!(matches!(err, AnalyticsError::Memory(_)), "{err:?}");
}
