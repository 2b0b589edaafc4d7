//! `rollup_traffic::hourly` (merged by the engine) answers exactly what
//! `traffic::from_rollups` (merged row by row) answers, for every bucket,
//! grouping and filter the dashboard uses; so do the summary views
//! (`summary::query`) for every question one of them fits, and so does the
//! planner (`planner::answer`), whichever it picks.

mod fixture;

use fixture::analyst_sql;

use chrono::{Duration, TimeZone, Utc};
use tollgate_aggregator::query::{self, Bucket, Dim, TopOrder, TrafficQuery};
use tollgate_aggregator::{
    AnalyticsConfig, AnalyticsError, Lake, lake_store, planner, rollup, rollup_traffic, summary,
    traffic,
};

#[tokio::test]
async fn the_engine_merge_equals_the_row_by_row_merge() {
    let dir = tempfile::tempdir().unwrap();
    let events = fixture::events(4000, 11);
    fixture::write_events(dir.path(), &events, 0, 0);
    let location = dir.path().to_str().unwrap();
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();
    rollup::run(&lake, &lake_store(location).unwrap())
        .await
        .unwrap();
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();

    let from = Utc.timestamp_millis_opt(fixture::BASE_MS).unwrap();
    let ranges = [
        (from, from + Duration::days(3)),
        (from + Duration::hours(5), from + Duration::hours(29)),
        (from + Duration::days(1), from + Duration::days(2)),
        (from + Duration::minutes(90), from + Duration::hours(40)),
        // Nothing there.
        (from + Duration::days(10), from + Duration::days(11)),
    ];
    let groupings: [&[Dim]; 8] = [
        &[],
        &[Dim::Consumer],
        &[Dim::Api, Dim::Route],
        &[Dim::Route],
        &[Dim::Consumer, Dim::Route],
        &[Dim::Method, Dim::Api, Dim::Route, Dim::Consumer],
        &[Dim::StatusClass],
        &[Dim::Method, Dim::Gateway],
    ];
    let mut compared = 0;
    let mut from_summary = 0;
    let mut from_top = 0;
    for (from, to) in ranges {
        for bucket in [None, Some(Bucket::Hour), Some(Bucket::Day)] {
            for by in groupings {
                for consumer in [None, Some("c1".to_string()), Some("nobody".to_string())] {
                    let q = TrafficQuery {
                        from,
                        to,
                        bucket,
                        by: by.to_vec(),
                        consumer,
                        tz: None,
                        exact: false,
                    };
                    let want = traffic::from_rollups(&lake, &q).await.unwrap();
                    let got = rollup_traffic::hourly(&lake, &q).await.unwrap();
                    assert_eq!(got, want, "{q:?}");
                    // The summary views, where one fits, answer the same.
                    // They never serve status classes or gateways; they
                    // serve everything else but one consumer's routes per
                    // hour (there is no hourly consumer x route view).
                    let other = by
                        .iter()
                        .any(|d| matches!(d, Dim::StatusClass | Dim::Gateway));
                    let routes = by
                        .iter()
                        .any(|d| matches!(d, Dim::Api | Dim::Route | Dim::Method));
                    let with_consumer = q.consumer.is_some() || by.contains(&Dim::Consumer);
                    let whole_days = from.timestamp() % 86_400 == 0
                        && to.timestamp() % 86_400 == 0
                        && bucket != Some(Bucket::Hour);
                    match summary::query(&lake, &q).await.unwrap() {
                        Some(got) => {
                            assert!(!other, "{q:?}");
                            assert_eq!(got, want, "summary: {q:?}");
                            from_summary += 1;
                            // Top groups with only the winners' histograms
                            // merged: the same rows as ranking all of them.
                            for order in [TopOrder::Calls, TopOrder::Errors] {
                                for n in [1, 4] {
                                    let top = summary::top(&lake, &q, order, n).await.unwrap();
                                    let all = query::top(want.clone(), order, n);
                                    match top {
                                        Some(top) => {
                                            assert_eq!(top, all, "top {n} {order:?}: {q:?}");
                                            from_top += 1;
                                        }
                                        None => assert!(by.is_empty() || bucket.is_some(), "{q:?}"),
                                    }
                                }
                            }
                            assert!(
                                summary::top(&lake, &q, TopOrder::P95, 3)
                                    .await
                                    .unwrap()
                                    .is_none()
                            );
                        }
                        None => assert!(
                            other || (routes && with_consumer && !whole_days),
                            "no view for {q:?}"
                        ),
                    }
                    assert_eq!(planner::answer(&lake, &q).await.unwrap(), want);
                    let order = [TopOrder::Calls, TopOrder::Errors, TopOrder::P99][compared % 3];
                    assert_eq!(
                        planner::top(&lake, &q, order, 3).await.unwrap(),
                        query::top(want.clone(), order, 3),
                        "top 3 {order:?}: {q:?}"
                    );
                    compared += want.len();
                }
            }
        }
    }
    assert!(compared > 1000, "{compared} rows compared");
    assert!(
        from_summary > 100,
        "{from_summary} queries from the summary views"
    );
    assert!(
        from_top > 100,
        "{from_top} top queries from the summary views"
    );

    let q = TrafficQuery {
        from,
        to: from + Duration::days(1),
        bucket: Some(Bucket::Minute),
        by: vec![],
        consumer: None,
        tz: None,
        exact: false,
    };
    assert!(matches!(
        rollup_traffic::hourly(&lake, &q).await,
        Err(AnalyticsError::Invalid(_))
    ));
    assert!(matches!(
        traffic::from_rollups(&lake, &q).await,
        Err(AnalyticsError::Invalid(_))
    ));

    // A lake rolled up before the summary views existed: the hourly rollup
    // answers (not an empty summary).
    std::fs::remove_dir_all(dir.path().join("rollups/summary")).unwrap();
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();
    let q = TrafficQuery {
        from,
        to: from + Duration::days(2),
        bucket: Some(Bucket::Day),
        by: vec![Dim::Consumer],
        consumer: None,
        tz: None,
        exact: false,
    };
    assert!(summary::query(&lake, &q).await.unwrap().is_none());
    let want = traffic::from_rollups(&lake, &q).await.unwrap();
    assert!(!want.is_empty());
    assert_eq!(planner::answer(&lake, &q).await.unwrap(), want);
}

/// A month of day views is read from one file per month, which follows
/// its days: late events rebuild their day and its month, a second run
/// changes nothing, and the answers equal the hourly rollup's, with the
/// month files and without them (the day files answer).
#[tokio::test]
async fn month_files_follow_late_events() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let events = fixture::events(3000, 7);
    fixture::write_events(dir.path(), &events[..2000], 0, 0);
    let store = lake_store(location).unwrap();
    let open = || async {
        Lake::open(location, &AnalyticsConfig::default())
            .await
            .unwrap()
    };
    rollup::run(&open().await, &store).await.unwrap();

    let june = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
    let q = |bucket, by: &[Dim]| TrafficQuery {
        from: june,
        to: june + Duration::days(30),
        bucket,
        by: by.to_vec(),
        consumer: None,
        tz: None,
        exact: false,
    };
    let one = TrafficQuery {
        consumer: Some("c1".into()),
        ..q(None, &[Dim::Route])
    };
    // Whole months come from the month views, days from the day views.
    let questions = [
        q(None, &[Dim::Consumer]),
        q(None, &[]),
        q(Some(Bucket::Day), &[]),
        q(None, &[Dim::Api, Dim::Route]),
        q(Some(Bucket::Day), &[Dim::Api, Dim::Route]),
        q(None, &[Dim::Consumer, Dim::Route]),
        q(None, &[Dim::Method]),
        one,
    ];
    let month_file = dir
        .path()
        .join("rollups/summary_month/month=2024-06/summary.parquet");
    let check = |calls: i64| {
        let questions = questions.clone();
        async move {
            let lake = open().await;
            for q in &questions {
                let want = traffic::from_rollups(&lake, q).await.unwrap();
                let got = summary::query(&lake, q)
                    .await
                    .unwrap()
                    .expect("a view fits");
                assert_eq!(got, want, "{q:?}");
                if q.consumer.is_none() {
                    assert_eq!(got.iter().map(|r| r.calls).sum::<i64>(), calls, "{q:?}");
                }
            }
        }
    };
    assert!(month_file.is_file());
    check(2000).await;
    // One month row per consumer (and one for calls without one).
    let lake = open().await;
    let (_, rows) = analyst_sql(&lake,
            "SELECT count(*) - count(DISTINCT consumer) AS anonymous, count(DISTINCT consumer) AS consumers \
             FROM rollups_summary_month WHERE view = 'month_consumer'",
        )
        .await
        .unwrap();
    let consumers = tollgate_aggregator::inventory::consumers(&lake)
        .await
        .unwrap();
    let col = |i: usize| {
        rows[0]
            .column(i)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap()
            .value(0)
    };
    assert_eq!(col(1), consumers.len() as i64);
    assert!(col(0) <= 1);

    // Late events, in new files of days already rolled up.
    fixture::write_events(dir.path(), &events[2000..], 1, 0);
    let before = std::fs::read(&month_file).unwrap();
    let report = rollup::run(&open().await, &store).await.unwrap();
    assert!(!report.days_rebuilt.is_empty());
    assert_ne!(std::fs::read(&month_file).unwrap(), before);
    check(3000).await;

    // Nothing changed: the month is not rewritten.
    let before = std::fs::read(&month_file).unwrap();
    let modified = std::fs::metadata(&month_file).unwrap().modified().unwrap();
    let report = rollup::run(&open().await, &store).await.unwrap();
    assert!(report.days_rebuilt.is_empty());
    assert_eq!(std::fs::read(&month_file).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&month_file).unwrap().modified().unwrap(),
        modified
    );

    // Without month files, the day files answer the same.
    std::fs::remove_dir_all(dir.path().join("rollups/summary_month")).unwrap();
    check(3000).await;
}
