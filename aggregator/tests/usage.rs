//! Billable usage from the lake: equal to a hand count over the events
//! with duplicates removed, whatever the order of events and however the
//! lake is split into files.

mod fixture;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use tollgate_aggregator::usage::{MeterUsage, daily_usage};
use tollgate_aggregator::{AnalyticsConfig, Lake};
use tollgate_schemas::AccessEvent;
use tollgate_schemas::meter::{Filter, Meter, Metric};

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
    ]
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
            let q = match m.metric {
                Metric::Calls => 1,
                Metric::RequestBytes => e.request_bytes.unwrap_or(0),
                Metric::ResponseBytes => e.response_bytes.unwrap_or(0),
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
        let events = fixture::events(400, seed);
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
