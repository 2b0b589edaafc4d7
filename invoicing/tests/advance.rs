//! Base fees billed in advance over a real local lake and ledger:
//! September is finalized with October's fee paid in advance, the plan
//! changes at 14:30 on 16 October, and October's run credits the unused
//! time, bills the remaining time, splits October's usage at 14:30 to the
//! millisecond and bills November in advance. Every figure by hand.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_aggregator::{AnalyticsConfig, Lake};
use tollgate_billing::rate::LineKind;
use tollgate_billing::{Billing, BillingConfig, render};
use tollgate_ingest::batch::{ParquetOptions, RowBatch, Source};
use tollgate_invoicing::{Ledger, RunOutcome, finalize, run};
use tollgate_schemas::{AccessEvent, EpochMillis, Gateway};

/// a: 31.00 a month in advance, 0.01 a call; b: 62.00 in advance, 0.10 a
/// call; both prorated by the second. r: 10.00 in arrears.
const PLANS: &str = r#"
[[plan]]
id = "a"
version = 1
currency = "USD"
base_fee = "31.00"
base_fee_timing = "advance"
proration = "second"
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"

[[plan]]
id = "b"
version = 1
currency = "USD"
base_fee = "62.00"
base_fee_timing = "advance"
proration = "second"
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.10"

[[plan]]
id = "r"
version = 1
currency = "USD"
base_fee = "10.00"
"#;

const BEFORE: &str = r#"
[[subscription]]
consumer = "c"
plan = "a"
start = "2026-09-01"
[[subscription]]
consumer = "arrears"
plan = "r"
start = "2026-09-01"
"#;

/// The upgrade, entered during October.
const AFTER: &str = r#"
[[subscription]]
consumer = "c"
plan = "a"
start = "2026-09-01"
end = "2026-10-16T14:30:00Z"
[[subscription]]
consumer = "c"
plan = "b"
start = "2026-10-16T14:30:00Z"
[[subscription]]
consumer = "arrears"
plan = "r"
start = "2026-09-01"
"#;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Writes one call of `consumer` at each instant, as the ingestor would.
fn write_events(lake: &Path, consumer: &str, times: &[&str]) {
    let mut batch = RowBatch::new(1024);
    for (i, t) in times.iter().enumerate() {
        let mut e = AccessEvent::new(
            format!("{consumer}-{t}"),
            EpochMillis(at(t).timestamp_millis()),
            Gateway::Kong,
        );
        e.consumer = Some(consumer.into());
        e.status = Some(200);
        let src = Source::Kafka {
            topic: Arc::from("fixture"),
            partition: 0,
            offset: i as i64,
            timestamp: None,
        };
        batch.add_event(&e, &src, 0, 0);
    }
    for f in batch.encode(&ParquetOptions::default()).unwrap() {
        let dir = lake.join(format!("events/date={}", f.date.format("%Y-%m-%d")));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{consumer}.parquet")), &f.bytes).unwrap();
    }
}

fn billing(subscriptions: &str) -> Billing {
    Billing::parse(BillingConfig::default(), PLANS, subscriptions).unwrap()
}

fn lines(inv: &tollgate_billing::invoice::Invoice) -> Vec<(String, String, Decimal)> {
    render::rows(inv)
        .into_iter()
        .map(|r| (r.kind.to_string(), r.plan, r.amount))
        .collect()
}

#[tokio::test]
async fn a_mid_period_change_credits_unused_and_bills_remaining_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_events(
        root,
        "c",
        &[
            "2026-09-10T12:00:00Z",
            "2026-09-20T12:00:00Z",
            "2026-09-30T23:59:59Z",
        ],
    );
    write_events(
        root,
        "c",
        &[
            // Before the change: plan a.
            "2026-10-02T08:00:00Z",
            "2026-10-16T14:29:59.999Z",
            // From the change, to the millisecond: plan b.
            "2026-10-16T14:30:00Z",
            "2026-10-16T18:00:00Z",
            "2026-10-20T09:00:00Z",
            "2026-10-31T23:00:00Z",
        ],
    );
    let location = root.to_str().unwrap();
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();
    let ledger = Ledger::open(location).unwrap();

    // September: c's first period, nothing prepaid for it. Remaining time
    // on a for all of September (30 of 30 days): 31.00; 3 calls × 0.01 =
    // 0.03; October in advance: 31.00. Total 62.03.
    let sep = "2026-09".parse().unwrap();
    let before = billing(BEFORE);
    run(&lake, &ledger, &before, sep, at("2026-10-02T00:00:00Z"))
        .await
        .unwrap();
    let inv = ledger.invoice(sep, "c").await.unwrap().unwrap();
    assert_eq!(
        lines(&inv),
        [
            ("usage".into(), "a".into(), d("0.03")),
            ("remaining_time".into(), "a".into(), d("31.00")),
            ("advance_fee".into(), "a".into(), d("31.00")),
        ]
    );
    assert_eq!(inv.total, d("62.03"));
    // The arrears consumer is billed as before: no advance lines at all.
    let r = ledger.invoice(sep, "arrears").await.unwrap().unwrap();
    assert_eq!(lines(&r), [("base_fee".into(), "r".into(), d("10.00"))]);
    assert!(!render::json(&r).contains("advance"));
    let out = finalize(&ledger, &before.config, sep, at("2026-10-02T00:00:00Z"))
        .await
        .unwrap();
    assert!(matches!(out, RunOutcome::Drafted(_)));

    // October, with the upgrade at 16 October 14:30 entered after
    // September's invoice prepaid a whole October on a.
    let oct = "2026-10".parse().unwrap();
    let after = billing(AFTER);
    let RunOutcome::Drafted(state) = run(&lake, &ledger, &after, oct, at("2026-11-02T00:00:00Z"))
        .await
        .unwrap()
    else {
        panic!("October is not finalized");
    };
    assert_eq!(state.report.events, 6);
    assert!(
        state.report.unbilled.is_empty(),
        "{:?}",
        state.report.unbilled
    );
    let inv = ledger.invoice(oct, "c").await.unwrap().unwrap();
    // Segment a, 1 October to 14:30 on the 16th: 2 calls × 0.01 = 0.02
    // (the one at 14:29:59.999 included). Segment b from 14:30: 4 calls ×
    // 0.10 = 0.40. 16 Oct 14:30 → 1 Nov is 1,330,200 of 2,678,400 s:
    // unused a 31 × that = 15.395… → −15.40; remaining b 62 × that =
    // 30.791… → 30.79. November on b in advance, whole: 62.00.
    // Total 0.02 + 0.40 − 15.40 + 30.79 + 62.00 = 77.81.
    assert_eq!(
        lines(&inv),
        [
            ("usage".into(), "a".into(), d("0.02")),
            ("usage".into(), "b".into(), d("0.40")),
            ("unused_time".into(), "a".into(), d("-15.40")),
            ("remaining_time".into(), "b".into(), d("30.79")),
            ("advance_fee".into(), "b".into(), d("62.00")),
        ]
    );
    assert_eq!(inv.total, d("77.81"));
    let unused = &inv.advance[0];
    assert_eq!(unused.line.kind, LineKind::UnusedTime);
    assert_eq!(
        (unused.from.to_string(), unused.to.to_string()),
        ("2026-10-16T14:30:00Z".into(), "2026-11-01".into())
    );
    assert_eq!(
        unused.line.description,
        "Unused time on a v1, 2026-10-16T14:30:00Z to 2026-11-01: 1330200 of 2678400 seconds"
    );
    assert_eq!(
        inv.segments[1].segment.from.to_string(),
        "2026-10-16T14:30:00Z"
    );
    assert_eq!(inv.segments[0].lines[0].usage.unwrap().events, 2);
    // The stored invoice reads back the same, and the `invoices` table
    // holds its rows.
    let json = String::from_utf8(ledger.invoice_bytes(oct, "c").await.unwrap().unwrap()).unwrap();
    assert!(json.contains("\"kind\": \"unused_time\""), "{json}");
    assert!(
        json.contains("\"from\": \"2026-10-16T14:30:00Z\""),
        "{json}"
    );
    let table = std::fs::read(root.join("invoices/period=2026-10/lines.parquet")).unwrap();
    assert!(!table.is_empty());
    let csv = render::csv(std::slice::from_ref(&inv));
    assert!(
        csv.contains(",unused_time,base_fee,")
            && csv.contains(",2026-10-16T14:30:00Z,2026-11-01,1,-15.40,"),
        "{csv}"
    );

    // Had nothing changed, October would add no reconciliation line: the
    // prepaid month was used as prepaid.
    run(&lake, &ledger, &before, oct, at("2026-11-02T00:00:00Z"))
        .await
        .unwrap();
    let inv = ledger.invoice(oct, "c").await.unwrap().unwrap();
    // 6 calls × 0.01 = 0.06, November on a in advance 31.00.
    assert_eq!(
        lines(&inv),
        [
            ("usage".into(), "a".into(), d("0.06")),
            ("advance_fee".into(), "a".into(), d("31.00")),
        ]
    );
}

#[tokio::test]
async fn a_prepaid_consumer_cancelled_before_the_period_gets_the_whole_fee_back() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    write_events(dir.path(), "c", &["2026-09-10T12:00:00Z"]);
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();
    let ledger = Ledger::open(location).unwrap();
    let sep = "2026-09".parse().unwrap();
    let before = billing(BEFORE);
    run(&lake, &ledger, &before, sep, at("2026-10-02T00:00:00Z"))
        .await
        .unwrap();
    finalize(&ledger, &before.config, sep, at("2026-10-02T00:00:00Z"))
        .await
        .unwrap();
    // Cancelled retroactively at the end of September: c has no October
    // segment, yet October's run still credits the prepaid 31.00.
    let cancelled = BEFORE.replace(
        "plan = \"a\"\nstart = \"2026-09-01\"\n",
        "plan = \"a\"\nstart = \"2026-09-01\"\nend = \"2026-10-01\"\n",
    );
    let oct = "2026-10".parse().unwrap();
    run(
        &lake,
        &ledger,
        &billing(&cancelled),
        oct,
        at("2026-11-02T00:00:00Z"),
    )
    .await
    .unwrap();
    let inv = ledger.invoice(oct, "c").await.unwrap().unwrap();
    assert_eq!(
        lines(&inv),
        [("unused_time".into(), "a".into(), d("-31.00"))]
    );
    assert_eq!(inv.total, d("-31.00"));
}
