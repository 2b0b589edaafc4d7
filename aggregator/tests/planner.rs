//! The planner picks the cheapest source for each kind of question (month,
//! day and hour views, the hourly rollup, the raw events), and whichever
//! it picks, its answer is the raw events' answer: counts, sums and
//! maxima equal, percentiles within 1 %.

mod fixture;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tollgate_aggregator::planner::{self, Source};
use tollgate_aggregator::query::{Bucket, Dim, TopOrder, TrafficQuery, TrafficRow};
use tollgate_aggregator::summary::Grain;
use tollgate_aggregator::{AnalyticsConfig, Lake, lake_store, rollup, traffic};

fn q(from: DateTime<Utc>, to: DateTime<Utc>, bucket: Option<Bucket>, by: &[Dim]) -> TrafficQuery {
    TrafficQuery {
        from,
        to,
        bucket,
        by: by.to_vec(),
        consumer: None,
        tz: None,
        exact: false,
    }
}

/// `got` is `want` (the events' rows): same groups and counts, percentiles
/// within 1 %.
fn same_as_events(got: &[TrafficRow], want: &[TrafficRow], what: &str) {
    assert!(!want.is_empty(), "{what}: no rows to compare");
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.bucket, &g.group), (w.bucket, &w.group), "{what}");
        assert_eq!(
            (g.calls, g.errors_4xx, g.errors_5xx, g.consumers),
            (w.calls, w.errors_4xx, w.errors_5xx, w.consumers),
            "{what}: {:?}",
            w.group
        );
        assert_eq!(
            (g.request_bytes, g.response_bytes, g.latency_max),
            (w.request_bytes, w.response_bytes, w.latency_max),
            "{what}"
        );
        for (name, x, y) in [
            ("p50", g.latency_p50, w.latency_p50),
            ("p90", g.latency_p90, w.latency_p90),
            ("p99", g.latency_p99, w.latency_p99),
            ("up95", g.upstream_p95, w.upstream_p95),
        ] {
            match (x, y) {
                (Some(x), Some(y)) => assert!(
                    (x - y).abs() <= 0.01 * y.abs(),
                    "{what} {name} of {:?}/{:?}: {x} against the events' {y}",
                    w.bucket,
                    w.group
                ),
                (x, y) => assert_eq!(x, y, "{what} {name}"),
            }
        }
    }
}

#[tokio::test]
async fn the_planner_picks_each_source_and_answers_as_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    fixture::write_events(dir.path(), &fixture::events(3000, 5), 0, 0);
    let open = || async {
        Lake::open(location, &AnalyticsConfig::default())
            .await
            .unwrap()
    };
    rollup::run(&open().await, &lake_store(location).unwrap())
        .await
        .unwrap();
    let lake = open().await;

    let day = Utc.timestamp_millis_opt(fixture::BASE_MS).unwrap();
    let june = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
    let july = Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap();
    let view = |name, grain| Source::View { name, grain };
    let cases: Vec<(TrafficQuery, Source)> = vec![
        // Whole calendar months, no buckets: the month views.
        (
            q(june, july, None, &[Dim::Consumer]),
            view("month_consumer", Grain::Month),
        ),
        (q(june, july, None, &[]), view("month", Grain::Month)),
        // Whole days: the day views.
        (
            q(
                day,
                day + Duration::days(2),
                Some(Bucket::Day),
                &[Dim::Route],
            ),
            view("day_route", Grain::Day),
        ),
        (
            q(day, day + Duration::days(3), None, &[Dim::Consumer]),
            view("day_consumer", Grain::Day),
        ),
        // Hours: the hour views.
        (
            q(
                day + Duration::hours(5),
                day + Duration::hours(31),
                Some(Bucket::Hour),
                &[],
            ),
            view("hour", Grain::Hour),
        ),
        (
            q(
                day + Duration::hours(5),
                day + Duration::hours(31),
                None,
                &[Dim::Consumer],
            ),
            view("hour_consumer", Grain::Hour),
        ),
        // Dimensions no view keys: the hourly rollup.
        (
            q(
                day,
                day + Duration::days(2),
                Some(Bucket::Day),
                &[Dim::StatusClass],
            ),
            Source::HourlyRollup,
        ),
        (
            q(
                day,
                day + Duration::days(2),
                None,
                &[Dim::Gateway, Dim::Method],
            ),
            Source::HourlyRollup,
        ),
        // Day buckets in a zone a whole number of hours from UTC: the
        // hourly rollup, merged row by row.
        (
            TrafficQuery {
                tz: Some("Europe/Berlin".into()),
                ..q(day, day + Duration::days(3), Some(Bucket::Day), &[])
            },
            Source::HourlyRollupInZone,
        ),
        // Minute buckets, a zone at +05:30, an exact question: the events.
        (
            q(day, day + Duration::hours(3), Some(Bucket::Minute), &[]),
            Source::Events,
        ),
        (
            TrafficQuery {
                tz: Some("Asia/Kolkata".into()),
                ..q(day, day + Duration::days(3), Some(Bucket::Day), &[])
            },
            Source::Events,
        ),
        (
            TrafficQuery {
                exact: true,
                ..q(june, july, None, &[Dim::Consumer])
            },
            Source::Events,
        ),
    ];
    for (question, source) in &cases {
        assert_eq!(
            planner::plan(&lake, question).unwrap(),
            *source,
            "{question:?}"
        );
        let want = traffic::exact(&lake, question).await.unwrap();
        let got = planner::answer(&lake, question).await.unwrap();
        let what = format!("{source:?} for {question:?}");
        same_as_events(&got, &want, &what);
        if *source == Source::Events {
            assert_eq!(got, want, "{what}");
        }
        // A ranked list is the ranked answer.
        for order in [TopOrder::Calls, TopOrder::P99] {
            assert_eq!(
                planner::top(&lake, question, order, 2).await.unwrap(),
                tollgate_aggregator::query::top(got.clone(), order, 2),
                "top 2 {order:?}: {what}"
            );
        }
    }

    // A lake rolled up before the views existed: the hourly rollup.
    std::fs::remove_dir_all(dir.path().join("rollups/summary")).unwrap();
    std::fs::remove_dir_all(dir.path().join("rollups/summary_month")).unwrap();
    let lake = open().await;
    let question = q(june, july, None, &[Dim::Consumer]);
    assert_eq!(
        planner::plan(&lake, &question).unwrap(),
        Source::HourlyRollup
    );
    same_as_events(
        &planner::answer(&lake, &question).await.unwrap(),
        &traffic::exact(&lake, &question).await.unwrap(),
        "hourly rollup without views",
    );

    // No source answers an empty range.
    assert!(planner::plan(&lake, &q(day, day, None, &[])).is_err());
}

/// `sketch_quantile(sketch_merge(...), q)` in analyst SQL reads the same
/// percentiles as the planner, from the hourly rollup's bucket lists and
/// from the summary views' packed histograms alike.
#[tokio::test]
async fn sketch_functions_in_sql_equal_the_planner() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    fixture::write_events(dir.path(), &fixture::events(2000, 9), 0, 0);
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();
    rollup::run(&lake, &lake_store(location).unwrap())
        .await
        .unwrap();
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();
    let june = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
    let july = Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap();
    let want = planner::answer(&lake, &q(june, july, None, &[Dim::Consumer]))
        .await
        .unwrap();
    assert!(want.len() >= 4);
    let by_consumer = |batches: &[arrow_array::RecordBatch]| {
        let mut out = Vec::new();
        for b in batches {
            let c = strings(b.column(0));
            let (p50, p99) = (floats(b.column(1)), floats(b.column(2)));
            for r in 0..b.num_rows() {
                out.push((c[r].clone(), p50[r], p99[r]));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let want: Vec<_> = want
        .iter()
        .map(|r| (r.group[0].clone(), r.latency_p50, r.latency_p99))
        .collect();
    for sql in [
        "SELECT consumer, sketch_quantile(sketch_merge(latency_keys, latency_counts), 0.5), \
         sketch_quantile(sketch_merge(latency_keys, latency_counts), 0.99) \
         FROM rollups_hourly GROUP BY consumer",
        "SELECT consumer, sketch_quantile(sketch_merge(latency), 0.5), \
         sketch_quantile(sketch_merge(latency), 0.99) \
         FROM rollups_summary WHERE view = 'day_consumer' GROUP BY consumer",
    ] {
        let (_, batches) = fixture::analyst_sql(&lake, sql).await.unwrap();
        assert_eq!(by_consumer(&batches), want, "{sql}");
    }
    // A quantile outside 0..=1 is an error that says so.
    let err = fixture::analyst_sql(
        &lake,
        "SELECT sketch_quantile(sketch_merge(latency_keys, latency_counts), 99) FROM rollups_hourly",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("from 0 to 1"), "{err}");
}

fn strings(a: &arrow_array::ArrayRef) -> Vec<Option<String>> {
    use arrow_array::Array;
    let s = datafusion::arrow::compute::cast(a, &arrow_schema::DataType::Utf8).unwrap();
    let s = s
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    (0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
        .collect()
}

fn floats(a: &arrow_array::ArrayRef) -> Vec<Option<f64>> {
    use arrow_array::Array;
    let f = a
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    (0..f.len())
        .map(|i| (!f.is_null(i)).then(|| f.value(i)))
        .collect()
}
