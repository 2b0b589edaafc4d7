//! Billable usage from the lake: equal to a hand count over the events
//! with duplicates removed, whatever the order of events and however the
//! lake is split into files.

mod fixture;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use tollgate_aggregator::usage::{MeterUsage, daily_usage};
use tollgate_aggregator::{AnalyticsConfig, Lake};
use tollgate_schemas::AccessEvent;
use tollgate_schemas::meter::{EventFee, Filter, Meter, Metric};

/// 2.9 % + 0.30, at least 0.50 and at most 5.00 per event.
fn fee() -> EventFee {
    EventFee {
        rate: Decimal::new(29, 3),
        fixed: Decimal::new(30, 2),
        min: Some(Decimal::new(50, 2)),
        max: Some(Decimal::new(500, 2)),
    }
}

fn meters() -> Vec<Meter> {
    vec![
        Meter {
            metric: Metric::Calls,
            filter: Filter::default(),
        },
        Meter {
            metric: Metric::Calls,
            filter: Filter {
                status_below: Some(500),
                ..Filter::default()
            },
        },
        Meter {
            metric: Metric::ResponseBytes,
            filter: Filter {
                api: Some("orders".into()),
                method: Some("GET".into()),
                ..Filter::default()
            },
        },
        Meter {
            metric: Metric::RequestBytes,
            filter: Filter {
                route_prefix: Some("li".into()),
                ..Filter::default()
            },
        },
        Meter {
            metric: Metric::Amount,
            filter: Filter {
                status_below: Some(500),
                ..Filter::default()
            },
        },
        Meter {
            metric: Metric::EventFees(fee()),
            filter: Filter::default(),
        },
    ]
}

/// Gives two events in three an amount (cents to thousands, some with 9
/// decimals), from the event's index: the same for copies of it.
fn with_amounts(mut events: Vec<AccessEvent>) -> Vec<AccessEvent> {
    for (i, e) in events.iter_mut().enumerate() {
        let i = i as i64;
        e.amount = match i % 3 {
            0 => None,
            1 => Some(Decimal::new(i * 7919 % 250_000, 2)),
            _ => Some(Decimal::new(i * 104_729 % 1_000_000_000_000, 9)),
        };
    }
    events
}

fn matches(f: &Filter, e: &AccessEvent) -> bool {
    f.status_below
        .is_none_or(|s| e.status.is_some_and(|x| x < s))
        && f.api.as_ref().is_none_or(|a| e.api.as_ref() == Some(a))
        && f.route_prefix
            .as_ref()
            .is_none_or(|r| e.route.as_ref().is_some_and(|x| x.starts_with(r.as_str())))
        && f.method
            .as_ref()
            .is_none_or(|m| e.method.as_ref() == Some(m))
}

type Key = (Option<String>, String);

/// The hand count: per (consumer, day), per meter, over `events` (unique ids).
fn by_hand(events: &[AccessEvent]) -> BTreeMap<Key, Vec<MeterUsage>> {
    let ms = meters();
    let mut out: BTreeMap<Key, Vec<MeterUsage>> = BTreeMap::new();
    for e in events {
        let day = Utc
            .timestamp_millis_opt(e.ts.0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        let row = out
            .entry((e.consumer.clone(), day))
            .or_insert_with(|| vec![MeterUsage::default(); ms.len()]);
        for (m, u) in ms.iter().zip(row.iter_mut()) {
            if !matches(&m.filter, e) {
                continue;
            }
            if m.metric.reads_amount() && e.amount.is_none() {
                continue;
            }
            let q = match m.metric {
                Metric::Calls => Decimal::ONE,
                Metric::RequestBytes => Decimal::from(e.request_bytes.unwrap_or(0)),
                Metric::ResponseBytes => Decimal::from(e.response_bytes.unwrap_or(0)),
                Metric::Amount => e.amount.unwrap(),
                Metric::EventFees(f) => f.of(e.amount.unwrap()).unwrap(),
            };
            u.add(&MeterUsage {
                quantity: q,
                events: 1,
                first_ts: Some(e.ts.0),
                last_ts: Some(e.ts.0),
            });
        }
    }
    out
}

fn range() -> (DateTime<Utc>, DateTime<Utc>) {
    (
        Utc.timestamp_millis_opt(fixture::BASE_MS).unwrap(),
        Utc.timestamp_millis_opt(fixture::BASE_MS + 3 * 86_400_000)
            .unwrap(),
    )
}

/// Writes `rows` split at `cuts` into separate files, computes usage.
fn lake_usage(rows: &[AccessEvent], cuts: &[usize]) -> (BTreeMap<Key, Vec<MeterUsage>>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
    bounds.extend([0, rows.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    for (p, w) in bounds.windows(2).enumerate() {
        fixture::write_events(dir.path(), &rows[w[0]..w[1]], p as i32, w[0] as i64);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lake = Lake::open(dir.path().to_str().unwrap(), &AnalyticsConfig::default())
            .await
            .unwrap();
        let (from, to) = range();
        let r = daily_usage(&lake, from, to, None, &meters()).await.unwrap();
        let map = r
            .days
            .into_iter()
            .map(|d| ((d.consumer, d.day.to_string()), d.meters))
            .collect();
        (map, r.duplicates)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn usage_is_deduplicated_and_independent_of_order_and_files(
        seed in 0u64..1000,
        dup_picks in proptest::collection::vec(0usize..400, 0..30),
        order_seed in any::<u64>(),
        cuts in proptest::collection::vec(0usize..500, 0..4),
    ) {
        let events = with_amounts(fixture::events(400, seed));
        let want = by_hand(&events);
        // Duplicates: the same call again (same event id, same content).
        let mut rows = events.clone();
        for &i in &dup_picks {
            rows.push(events[i].clone());
        }
        // A deterministic shuffle from `order_seed`.
        let mut s = order_seed | 1;
        for i in (1..rows.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            rows.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let (got, duplicates) = lake_usage(&rows, &cuts);
        prop_assert_eq!(duplicates, dup_picks.len() as u64);
        // Days with events but no matching meter still appear; compare
        // the quantities and counts of every (consumer, day).
        prop_assert_eq!(got.len(), want.len());
        for (k, w) in &want {
            let g = &got[k];
            for (gm, wm) in g.iter().zip(w) {
                prop_assert_eq!((gm.quantity, gm.events), (wm.quantity, wm.events), "{:?}", k);
                if wm.events > 0 {
                    prop_assert_eq!((gm.first_ts, gm.last_ts), (wm.first_ts, wm.last_ts));
                }
            }
        }
    }
}

/// Writes `events` as files from before the `amount` column: the
/// ingestor's files with that column removed.
fn write_old_events(lake: &std::path::Path, events: &[AccessEvent]) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let tmp = tempfile::tempdir().unwrap();
    fixture::write_events(tmp.path(), events, 9, 0);
    for day in std::fs::read_dir(tmp.path().join("events")).unwrap() {
        let day = day.unwrap();
        for file in std::fs::read_dir(day.path()).unwrap() {
            let file = file.unwrap();
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file.path()).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            let dir = lake.join("events").join(day.file_name());
            std::fs::create_dir_all(&dir).unwrap();
            let mut writer = None;
            for b in reader {
                let b = b.unwrap();
                let keep: Vec<usize> = (0..b.num_columns())
                    .filter(|&i| b.schema().field(i).name() != "amount")
                    .collect();
                let b = b.project(&keep).unwrap();
                let w = writer.get_or_insert_with(|| {
                    let out = std::fs::File::create(dir.join("old.parquet")).unwrap();
                    ArrowWriter::try_new(out, b.schema(), None).unwrap()
                });
                w.write(&b).unwrap();
            }
            writer.unwrap().close().unwrap();
        }
    }
}

/// Files written before the `amount` column read as events without an
/// amount: counted by the other metrics, not by the amount ones.
#[test]
fn files_from_before_the_amount_column_read_as_no_amount() {
    let events = with_amounts(fixture::events(60, 7));
    let (old, new) = events.split_at(30);
    let dir = tempfile::tempdir().unwrap();
    write_old_events(dir.path(), old);
    fixture::write_events(dir.path(), new, 0, 0);
    let amount = Meter {
        metric: Metric::Amount,
        filter: Filter::default(),
    };
    let calls = Meter {
        metric: Metric::Calls,
        filter: Filter::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lake = Lake::open(dir.path().to_str().unwrap(), &AnalyticsConfig::default())
            .await
            .unwrap();
        let (from, to) = range();
        let r = daily_usage(&lake, from, to, None, &[amount.clone(), calls.clone()])
            .await
            .unwrap();
        let sum = |i: usize| -> (Decimal, u64) {
            r.days.iter().fold((Decimal::ZERO, 0), |(q, n), d| {
                (q + d.meters[i].quantity, n + d.meters[i].events)
            })
        };
        let want: Decimal = new.iter().filter_map(|e| e.amount).sum();
        let with_amount = new.iter().filter(|e| e.amount.is_some()).count() as u64;
        assert!(want > Decimal::ZERO);
        assert_eq!(sum(0), (want, with_amount));
        assert_eq!(sum(1), (Decimal::from(60), 60));
        // The month-to-date estimate takes amounts from the events too:
        // the rollups (none written here) do not carry them.
        let est = tollgate_aggregator::usage::rollup_usage(
            &lake,
            from,
            to,
            &[calls.clone(), amount.clone()],
        )
        .await
        .unwrap();
        let est_amount: Decimal = est.days.iter().map(|d| d.meters[1].quantity).sum();
        let est_calls: Decimal = est.days.iter().map(|d| d.meters[0].quantity).sum();
        assert_eq!((est_amount, est_calls), (want, Decimal::ZERO));
        // Analysts see the column, null in the old files.
        let (_, batches) = fixture::analyst_sql(
            &lake,
            "SELECT CAST(count(*) AS BIGINT) AS n, CAST(count(amount) AS BIGINT) AS a, \
             CAST(sum(amount) AS VARCHAR) AS s FROM events",
        )
        .await
        .unwrap();
        use arrow_array::cast::AsArray;
        let b = &batches[0];
        let int = |i: usize| {
            b.column(i)
                .as_primitive::<arrow_array::types::Int64Type>()
                .value(0)
        };
        assert_eq!((int(0), int(1)), (60, with_amount as i64));
        let s = arrow_schema::DataType::Utf8;
        let text = datafusion::arrow::compute::cast(b.column(2), &s).unwrap();
        let text: Decimal = text.as_string::<i32>().value(0).parse().unwrap();
        assert_eq!(text, want);
    });
}
