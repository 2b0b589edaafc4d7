//! Credit notes through invoice runs over a real lake: a late change that
//! lowers a finalized invoice becomes a numbered credit note of the next
//! period, a late increase stays an adjustment line, finalized documents
//! never change, and later changes are computed against what the notes
//! already credited. Every figure is computed by hand in the comments.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_aggregator::{AnalyticsConfig, Lake};
use tollgate_billing::invoice::{InvoiceNumber, Status};
use tollgate_billing::period::Period;
use tollgate_billing::{Billing, BillingConfig};
use tollgate_ingest::batch::{ParquetOptions, RowBatch, Source};
use tollgate_invoicing::{Ledger, RunOutcome, finalize, run};
use tollgate_schemas::{AccessEvent, EpochMillis, Gateway};

/// Volume pricing: every call at the price of the tier the month's total
/// reaches (1.00 up to 10 calls, 0.10 above), so more calls can cost
/// less; a 20.00 base fee.
const PLANS: &str = r#"
[[plan]]
id = "v"
version = 1
currency = "USD"
base_fee = "20"
[[plan.charge]]
id = "calls"
description = "API calls"
metric = "calls"
[plan.charge.price]
model = "volume"
tiers = [{ up_to = 10, unit_price = "1.00" }, { unit_price = "0.10" }]
"#;

const SUBSCRIPTIONS: &str = r#"
[[subscription]]
consumer = "acme"
plan = "v"
start = "2026-09-01"
[[subscription]]
consumer = "bob"
plan = "v"
start = "2026-09-01"
"#;

/// `n` calls of `consumer` at `ts`, ids `{tag}-{i}`, written as one
/// events file named after `tag`; returns its path.
fn calls(lake: &Path, tag: &str, consumer: &str, ts: &str, n: usize) -> std::path::PathBuf {
    let t: DateTime<Utc> = ts.parse().unwrap();
    let mut batch = RowBatch::new(1024);
    for i in 0..n {
        let mut e = AccessEvent::new(
            format!("{tag}-{i}"),
            EpochMillis(t.timestamp_millis()),
            Gateway::Kong,
        );
        e.consumer = Some(consumer.into());
        e.status = Some(200);
        let src = Source::Kafka {
            topic: Arc::from("test"),
            partition: 0,
            offset: i as i64,
            timestamp: None,
        };
        batch.add_event(&e, &src, 0, t.timestamp_millis());
    }
    let files = batch.encode(&ParquetOptions::default()).unwrap();
    assert_eq!(files.len(), 1);
    let dir = lake.join(format!("events/date={}", files[0].date.format("%Y-%m-%d")));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.parquet"));
    std::fs::write(&path, &files[0].bytes).unwrap();
    path
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn p(s: &str) -> Period {
    s.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    ledger: Ledger,
    billing: Billing,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        std::fs::create_dir_all(&root).unwrap();
        World {
            ledger: Ledger::open(root.to_str().unwrap()).unwrap(),
            billing: Billing::parse(BillingConfig::default(), PLANS, SUBSCRIPTIONS).unwrap(),
            root,
            _dir: dir,
        }
    }

    /// A run of `period` at `now`, over the lake as it is now.
    async fn run(&self, period: &str, now: &str) {
        let lake = Lake::open(self.root.to_str().unwrap(), &AnalyticsConfig::default())
            .await
            .unwrap();
        let out = run(&lake, &self.ledger, &self.billing, p(period), at(now))
            .await
            .unwrap();
        assert!(matches!(out, RunOutcome::Drafted(_)), "{out:?}");
    }

    async fn finalize(&self, period: &str, now: &str) {
        finalize(&self.ledger, &self.billing.config, p(period), at(now))
            .await
            .unwrap();
    }

    async fn total(&self, period: &str, consumer: &str) -> Decimal {
        self.ledger
            .invoice(p(period), consumer)
            .await
            .unwrap()
            .unwrap()
            .total
    }

    fn file(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root.join(rel)).unwrap()
    }
}

#[tokio::test]
async fn late_decreases_become_numbered_credit_notes_and_increases_adjustments() {
    let w = World::new();
    // September: acme 10 calls, 10 × 1.00 = 10.00, total 30.00; bob 5
    // calls, 5.00, total 25.00.
    calls(&w.root, "sep-acme", "acme", "2026-09-10T12:00:00Z", 10);
    calls(&w.root, "sep-bob", "bob", "2026-09-10T12:00:00Z", 5);
    w.run("2026-09", "2026-10-01T01:00:00Z").await;
    w.finalize("2026-09", "2026-10-01T02:00:00Z").await;
    assert_eq!(w.total("2026-09", "acme").await, d("30.00"));
    assert_eq!(w.total("2026-09", "bob").await, d("25.00"));
    let sep_acme = w.file("billing/invoices/2026-09/acme.json");
    let sep_state = w.file("billing/periods/2026-09.json");

    // Late September calls: acme 2 more, 12 × 0.10 = 1.20 (the volume
    // tier drops): −8.80, a credit note. bob 1 more: 6 × 1.00 = 6.00:
    // +1.00, an adjustment line on his October invoice.
    calls(&w.root, "late-acme", "acme", "2026-09-20T12:00:00Z", 2);
    let late_bob = calls(&w.root, "late-bob", "bob", "2026-09-20T12:00:00Z", 1);
    w.run("2026-10", "2026-11-01T01:00:00Z").await;
    // Again: a draft run may be repeated, and writes the same note.
    w.run("2026-10", "2026-11-01T01:30:00Z").await;

    // acme's October invoice: the base fee, no calls (0 × 1.00), and no
    // adjustment: the decrease is on the note.
    let oct_acme = w
        .ledger
        .invoice(p("2026-10"), "acme")
        .await
        .unwrap()
        .unwrap();
    assert!(oct_acme.adjustments.is_empty(), "{oct_acme:#?}");
    assert_eq!(oct_acme.total, d("20.00"));
    // bob: 20.00 + 1.00.
    let oct_bob = w
        .ledger
        .invoice(p("2026-10"), "bob")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(oct_bob.adjustments.len(), 1);
    assert_eq!(oct_bob.adjustments[0].amount, d("1.00"));
    assert_eq!(oct_bob.total, d("21.00"));

    let state = w.ledger.state(p("2026-10")).await.unwrap().unwrap();
    assert_eq!(state.credit_notes.len(), 1);
    let sep_inv = InvoiceNumber("INV-2026-000001".into());
    let note = w
        .ledger
        .credit_note(p("2026-10"), &sep_inv)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(note.status, Status::Draft);
    assert_eq!(note.number, None);
    assert_eq!(
        (note.consumer.as_str(), note.invoice_period),
        ("acme", p("2026-09"))
    );
    assert_eq!(note.lines.len(), 1);
    assert_eq!(note.lines[0].amount_before, d("10.00"));
    assert_eq!(note.lines[0].amount_after, d("1.20"));
    assert_eq!(note.total, d("-8.80"));

    // Finalized with October: invoices continue their sequence, the note
    // starts its own; the finalized September files did not change.
    w.finalize("2026-10", "2026-11-01T02:00:00Z").await;
    let note = w
        .ledger
        .find_credit_note("CN-2026-000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(note.invoice, sep_inv);
    assert_eq!(note.status, Status::Finalized);
    assert_eq!(note.issued, Some("2026-11-01".parse().unwrap()));
    assert_eq!(note.total, d("-8.80"));
    let oct = w.ledger.state(p("2026-10")).await.unwrap().unwrap();
    let numbers: Vec<_> = oct
        .invoices
        .iter()
        .map(|i| i.number.clone().unwrap().0)
        .collect();
    assert_eq!(numbers, ["INV-2026-000003", "INV-2026-000004"]);
    assert_eq!(w.file("billing/invoices/2026-09/acme.json"), sep_acme);
    assert_eq!(w.file("billing/periods/2026-09.json"), sep_state);
    let note_bytes = w.file("billing/credit_notes/2026-10/INV-2026-000001.json");
    assert_eq!(
        note_bytes,
        tollgate_billing::credit_note::json(&note).into_bytes()
    );
    // A finalized period is not run again: the note stays as it is.
    let lake = Lake::open(w.root.to_str().unwrap(), &AnalyticsConfig::default())
        .await
        .unwrap();
    let again = run(
        &lake,
        &w.ledger,
        &w.billing,
        p("2026-10"),
        at("2026-11-02T00:00:00Z"),
    )
    .await
    .unwrap();
    assert!(matches!(again, RunOutcome::AlreadyFinalized(_)));

    // November. One more late acme call: 13 × 0.10 = 1.30 against the
    // 1.20 the note left billed: +0.10, an adjustment, not a second
    // credit. bob's late file was a wrong backfill and is removed: 5 calls,
    // 5.00 against the 6.00 billed (25.00 + the 1.00 adjustment): −1.00,
    // a credit note for his September invoice.
    calls(&w.root, "late-acme-2", "acme", "2026-09-21T12:00:00Z", 1);
    std::fs::remove_file(&late_bob).unwrap();
    w.run("2026-11", "2026-12-01T01:00:00Z").await;
    let nov_acme = w
        .ledger
        .invoice(p("2026-11"), "acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(nov_acme.adjustments.len(), 1, "{nov_acme:#?}");
    assert_eq!(nov_acme.adjustments[0].amount_before, d("1.20"));
    assert_eq!(nov_acme.adjustments[0].amount, d("0.10"));
    assert_eq!(nov_acme.total, d("20.10"));
    assert_eq!(w.total("2026-11", "bob").await, d("20.00"));
    let nov = w.ledger.credit_notes(p("2026-11")).await.unwrap();
    assert_eq!(nov.len(), 1);
    assert_eq!(nov[0].invoice.0, "INV-2026-000002");
    assert_eq!(nov[0].lines[0].amount_before, d("6.00"));
    assert_eq!(nov[0].total, d("-1.00"));
    w.finalize("2026-11", "2026-12-01T02:00:00Z").await;
    let nov = w.ledger.credit_notes(p("2026-11")).await.unwrap();
    assert_eq!(nov[0].number.as_ref().unwrap().0, "CN-2026-000002");

    // December: everything late is billed or credited once; nothing more.
    w.run("2026-12", "2026-12-15T00:00:00Z").await;
    let dec = w.ledger.state(p("2026-12")).await.unwrap().unwrap();
    assert!(dec.credit_notes.is_empty());
    assert_eq!(dec.report.adjustments, 0);
    assert!(!w.root.join("credit_notes/period=2026-12").exists());

    // The `credit_notes` table: one file per issuing period, signed
    // amounts at the money scale (4).
    let amounts = |rel: &str| -> Vec<i128> {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(w.file(rel)),
        )
        .unwrap()
        .build()
        .unwrap();
        reader
            .flat_map(|b| {
                let b = b.unwrap();
                let a = b
                    .column_by_name("amount")
                    .unwrap()
                    .as_primitive::<Decimal128Type>();
                a.values().to_vec()
            })
            .collect()
    };
    assert_eq!(
        amounts("credit_notes/period=2026-10/lines.parquet"),
        [-88_000]
    );
    assert_eq!(
        amounts("credit_notes/period=2026-11/lines.parquet"),
        [-10_000]
    );
}

#[tokio::test]
async fn a_rerun_that_no_longer_credits_removes_the_draft_note() {
    let w = World::new();
    calls(&w.root, "sep", "acme", "2026-09-10T12:00:00Z", 10);
    w.run("2026-09", "2026-10-01T01:00:00Z").await;
    w.finalize("2026-09", "2026-10-01T02:00:00Z").await;
    // 2 late calls: a draft note (10.00 → 1.20).
    let late = calls(&w.root, "late", "acme", "2026-09-20T12:00:00Z", 2);
    w.run("2026-10", "2026-10-20T00:00:00Z").await;
    assert!(
        w.root
            .join("billing/credit_notes/2026-10/INV-2026-000001.json")
            .exists()
    );
    assert!(
        w.root
            .join("credit_notes/period=2026-10/lines.parquet")
            .exists()
    );
    // The late file was a mistake and is removed before October closes:
    // nothing to correct, the draft note and its table file go away.
    std::fs::remove_file(late).unwrap();
    w.run("2026-10", "2026-10-21T00:00:00Z").await;
    let state = w.ledger.state(p("2026-10")).await.unwrap().unwrap();
    assert!(state.credit_notes.is_empty());
    assert!(
        !w.root
            .join("billing/credit_notes/2026-10/INV-2026-000001.json")
            .exists()
    );
    assert!(
        !w.root
            .join("credit_notes/period=2026-10/lines.parquet")
            .exists()
    );
}
