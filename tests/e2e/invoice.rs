//! From a lake written by `tollgate ingest` (real broker) to finalized
//! invoices: a mid-month plan change, a duplicate event id, a consumer
//! without a subscription, finalization with sequential numbers, byte-for-
//! byte immutability, and a late event billed as an adjustment on the next
//! period's invoice. Every figure is computed by hand in the comments.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::broker::Broker;
use crate::{heavy, tollgate};

const PLANS: &str = r#"
[[plan]]
id = "basic"
version = 1
currency = "USD"
base_fee = "30.00"
[[plan.charge]]
id = "calls"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"

[[plan]]
id = "pro"
version = 1
currency = "USD"
base_fee = "300.00"
[[plan.charge]]
id = "calls"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "graduated"
tiers = [{ up_to = 10, unit_price = "0" }, { unit_price = "0.50" }]
"#;

const SUBSCRIPTIONS: &str = r#"
[[subscription]]
consumer = "alice"
plan = "basic"
start = "2026-09-01"
end = "2026-09-16"
[[subscription]]
consumer = "alice"
plan = "pro"
start = "2026-09-16"
[[subscription]]
consumer = "bob"
plan = "basic"
start = "2026-09-01"
"#;

fn event(id: &str, consumer: &str, ts: &str, status: u16) -> Vec<u8> {
    json!({
        "event_id": id, "ts": ts, "gateway": "canonical", "consumer": consumer,
        "api": "shop", "route": "orders", "method": "GET", "path": "/v1/orders",
        "status": status, "latency_ms": 12.5, "request_bytes": 100, "response_bytes": 1000
    })
    .to_string()
    .into_bytes()
}

fn run(config: &Path, args: &[&str]) -> Output {
    let out = tollgate()
        .arg("invoice")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tollgate invoice {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn ingest_once(config: &Path) {
    let out = tollgate()
        .args(["ingest", "--once", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn invoice_json(config: &Path, period: &str, consumer: &str) -> (Vec<u8>, Value) {
    let o = run(
        config,
        &[
            "show",
            "--period",
            period,
            "--consumer",
            consumer,
            "--format",
            "json",
        ],
    );
    let v = serde_json::from_slice(&o.stdout).unwrap();
    (o.stdout, v)
}

fn amounts(v: &Value) -> Vec<(String, String)> {
    v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["lines"].as_array().unwrap().iter())
        .map(|l| {
            (
                l["charge"].as_str().unwrap().to_string(),
                l["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn ingested_usage_becomes_finalized_invoices_and_late_usage_an_adjustment() {
    let _serial = heavy();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    broker.create_topic("gw", 1);
    let lake = dir.path().join("lake");
    let plans = dir.path().join("plans.toml");
    let subs = dir.path().join("subscriptions.toml");
    std::fs::write(&plans, PLANS).unwrap();
    std::fs::write(&subs, SUBSCRIPTIONS).unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n[kafka]\nbrokers = {addr:?}\ntopics = [\"gw\"]\ngroup = \"billing\"\n\
             [billing]\nplans = {plans:?}\nsubscriptions = {subs:?}\nnumber_prefix = \"T-\"\n",
            addr = broker.addr
        ),
    )
    .unwrap();

    let mut records = Vec::new();
    // alice on basic (1–15 Sep): 4 calls; on pro (16–30 Sep): 12 calls
    // and 2 server errors (not billed: status_below = 500).
    for i in 0..4 {
        records.push(event(
            &format!("a{i}"),
            "alice",
            "2026-09-05T10:00:00.000Z",
            200,
        ));
    }
    for i in 0..12 {
        records.push(event(
            &format!("b{i}"),
            "alice",
            "2026-09-20T10:00:00.000Z",
            200,
        ));
    }
    for i in 0..2 {
        records.push(event(
            &format!("e{i}"),
            "alice",
            "2026-09-20T11:00:00.000Z",
            503,
        ));
    }
    // bob: 7 calls, one delivered twice (same event id).
    for i in 0..7 {
        records.push(event(
            &format!("c{i}"),
            "bob",
            "2026-09-10T00:00:00.000Z",
            201,
        ));
    }
    records.push(event("c3", "bob", "2026-09-10T00:00:00.000Z", 201));
    // carol has no subscription.
    for i in 0..3 {
        records.push(event(
            &format!("d{i}"),
            "carol",
            "2026-09-11T00:00:00.000Z",
            200,
        ));
    }
    let records: Vec<(i32, Vec<u8>)> = records.into_iter().map(|r| (0, r)).collect();
    broker.produce("gw", &records);
    ingest_once(&config);

    let o = run(
        &config,
        &[
            "run",
            "--period",
            "2026-09",
            "--now",
            "2026-10-01T06:00:00Z",
        ],
    );
    let report = stdout(&o);
    assert!(report.contains("2 invoices"), "{report}");
    assert!(report.contains("1 duplicates"), "{report}");
    assert!(report.contains("carol has 3 events"), "{report}");

    // alice: basic 30 × 15/30 = 15.00, 4 × 0.01 = 0.04; pro 300 × 15/30 =
    // 150.00, 12 calls: 10 free + 2 × 0.50 = 1.00. Total 166.04.
    let (_, alice) = invoice_json(&config, "2026-09", "alice");
    assert_eq!(alice["status"], "draft");
    assert_eq!(
        amounts(&alice),
        vec![
            ("base_fee".into(), "15.00".into()),
            ("calls".into(), "0.04".into()),
            ("base_fee".into(), "150.00".into()),
            ("calls".into(), "1.00".into())
        ]
    );
    assert_eq!(alice["total"], "166.04");
    let pro_calls = &alice["segments"][1]["lines"][1];
    assert_eq!(pro_calls["quantity"], 12);
    assert_eq!(pro_calls["usage"]["events"], 12);
    assert_eq!(pro_calls["usage"]["first_ts"], "2026-09-20T10:00:00.000Z");
    assert_eq!(pro_calls["tiers"][1]["units"], 2);
    assert_eq!(alice["segments"][1]["plan"], "pro");
    // bob: 30.00 + 7 × 0.01 (the duplicate counted once) = 30.07.
    let (_, bob) = invoice_json(&config, "2026-09", "bob");
    assert_eq!(bob["total"], "30.07");

    // Not before the month is over; then numbered in consumer order.
    let early = tollgate()
        .args([
            "invoice",
            "finalize",
            "--period",
            "2026-09",
            "--now",
            "2026-09-30T23:00:00Z",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("not over"));
    run(
        &config,
        &[
            "finalize",
            "--period",
            "2026-09",
            "--now",
            "2026-10-01T08:00:00Z",
        ],
    );
    let (alice_bytes, alice) = invoice_json(&config, "2026-09", "alice");
    let (bob_bytes, bob) = invoice_json(&config, "2026-09", "bob");
    assert_eq!(alice["number"], "T-2026-000001");
    assert_eq!(bob["number"], "T-2026-000002");
    assert_eq!(alice["status"], "finalized");

    // A late alice call on 25 Sep (pro: 13th call, 0.50) and October usage.
    let late = vec![
        (0, event("late1", "alice", "2026-09-25T00:00:00.000Z", 200)),
        (0, event("o1", "bob", "2026-10-03T00:00:00.000Z", 200)),
        (0, event("o2", "alice", "2026-10-04T00:00:00.000Z", 200)),
    ];
    broker.produce("gw", &late);
    ingest_once(&config);

    // The finalized period does not change, byte for byte.
    let again = run(
        &config,
        &[
            "run",
            "--period",
            "2026-09",
            "--now",
            "2026-11-01T06:00:00Z",
        ],
    );
    assert!(stdout(&again).contains("is finalized"));
    assert_eq!(invoice_json(&config, "2026-09", "alice").0, alice_bytes);
    assert_eq!(invoice_json(&config, "2026-09", "bob").0, bob_bytes);

    // October: alice on pro all month (300.00, 1 call free) plus an
    // adjustment of +0.50 referencing her September invoice.
    run(
        &config,
        &[
            "run",
            "--period",
            "2026-10",
            "--now",
            "2026-11-01T06:00:00Z",
        ],
    );
    let (_, oct) = invoice_json(&config, "2026-10", "alice");
    let adj = oct["adjustments"].as_array().unwrap();
    assert_eq!(adj.len(), 1, "{oct:#}");
    assert_eq!(adj[0]["original"], "T-2026-000001");
    assert_eq!(adj[0]["period"], "2026-09");
    assert_eq!(adj[0]["quantity_before"], 12);
    assert_eq!(adj[0]["quantity_after"], 13);
    assert_eq!(adj[0]["amount"], "0.50");
    assert_eq!(oct["total"], "300.50");
    let (_, bob_oct) = invoice_json(&config, "2026-10", "bob");
    assert_eq!(bob_oct["total"], "30.01");
    assert!(bob_oct["adjustments"].as_array().unwrap().is_empty());

    // Finalizing October continues the sequence; a rerun adjusts nothing twice.
    run(
        &config,
        &[
            "finalize",
            "--period",
            "2026-10",
            "--now",
            "2026-11-01T08:00:00Z",
        ],
    );
    let (_, oct) = invoice_json(&config, "2026-10", "alice");
    assert_eq!(oct["number"], "T-2026-000003");
    run(
        &config,
        &[
            "run",
            "--period",
            "2026-11",
            "--now",
            "2026-11-20T00:00:00Z",
        ],
    );
    let (_, nov) = invoice_json(&config, "2026-11", "alice");
    assert!(nov["adjustments"].as_array().unwrap().is_empty(), "{nov:#}");

    // Analysts see the same lines in SQL.
    let sql = tollgate()
        .args(["sql", "--format", "csv", "--config"])
        .arg(&config)
        .arg("SELECT number, kind, CAST(amount AS VARCHAR) AS amount, adjusts_invoice FROM invoices WHERE period = '2026-10' AND consumer = 'alice' ORDER BY line")
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&sql.stdout);
    assert!(
        sql.status.success(),
        "{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    assert!(
        csv.contains("T-2026-000003,adjustment,0.5000,T-2026-000001"),
        "{csv}"
    );

    // Finance's documents.
    let out = dir.path().join("export");
    run(
        &config,
        &[
            "export",
            "--period",
            "2026-09",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let csv = std::fs::read_to_string(out.join("invoices-2026-09.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 + 2, "{csv}");
    let html = std::fs::read_to_string(out.join("T-2026-000001.html")).unwrap();
    assert!(html.contains("166.04 USD"));
    assert_eq!(
        std::fs::read(out.join("T-2026-000001.json")).unwrap(),
        alice_bytes
    );

    // Preview: bob mid-November, no November usage yet.
    let p = run(
        &config,
        &[
            "preview",
            "--consumer",
            "bob",
            "--format",
            "json",
            "--now",
            "2026-11-20T00:00:00Z",
        ],
    );
    let v: Value = serde_json::from_slice(&p.stdout).unwrap();
    assert_eq!(v["total"], "30.00");
}

/// Plans billed in advance, prorated by the second.
const ADVANCE_PLANS: &str = r#"
[[plan]]
id = "team"
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
id = "business"
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
"#;

#[test]
fn a_plan_billed_in_advance_credits_unused_time_after_a_change_at_an_instant() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let plans = dir.path().join("plans.toml");
    let subs = dir.path().join("subscriptions.toml");
    std::fs::write(&plans, ADVANCE_PLANS).unwrap();
    let on_team =
        "[[subscription]]\nconsumer = \"dana\"\nplan = \"team\"\nstart = \"2026-09-01\"\n";
    std::fs::write(&subs, on_team).unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n[billing]\nplans = {plans:?}\nsubscriptions = {subs:?}\nnumber_prefix = \"A-\"\n"
        ),
    )
    .unwrap();
    // One call in September; in October one call a millisecond before
    // 14:30 on the 16th and two from 14:30 on.
    let mut log = Vec::new();
    for (id, ts) in [
        ("s1", "2026-09-10T10:00:00.000Z"),
        ("o1", "2026-10-16T14:29:59.999Z"),
        ("o2", "2026-10-16T14:30:00.000Z"),
        ("o3", "2026-10-30T10:00:00.000Z"),
    ] {
        log.extend(event(id, "dana", ts, 200));
        log.push(b'\n');
    }
    let file = dir.path().join("gw.jsonl");
    std::fs::write(&file, log).unwrap();
    let out = tollgate()
        .arg("import")
        .arg("--lake")
        .arg(&lake)
        .arg(&file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // September: first period, so its own fee as remaining time (31.00),
    // 1 call (0.01) and October in advance (31.00): 62.01.
    let now = ["--now", "2026-10-02T00:00:00Z"];
    run(
        &config,
        &[&["run", "--period", "2026-09"][..], &now].concat(),
    );
    run(
        &config,
        &[&["finalize", "--period", "2026-09"][..], &now].concat(),
    );
    let (_, sep) = invoice_json(&config, "2026-09", "dana");
    assert_eq!(sep["total"], "62.01", "{sep:#}");
    assert_eq!(sep["advance"][1]["kind"], "advance_fee");
    assert_eq!(sep["advance"][1]["from"], "2026-10-01");

    // The upgrade at 14:30 on 16 October, entered afterwards.
    std::fs::write(
        &subs,
        "[[subscription]]\nconsumer = \"dana\"\nplan = \"team\"\nstart = \"2026-09-01\"\nend = \"2026-10-16T14:30:00Z\"\n\
         [[subscription]]\nconsumer = \"dana\"\nplan = \"business\"\nstart = \"2026-10-16T14:30:00Z\"\n",
    )
    .unwrap();
    run(
        &config,
        &[
            "run",
            "--period",
            "2026-10",
            "--now",
            "2026-11-02T00:00:00Z",
        ],
    );
    let (_, oct) = invoice_json(&config, "2026-10", "dana");
    // Usage: 1 call on team (0.01), 2 on business (0.20). 16 Oct 14:30 →
    // 1 Nov = 1,330,200 of 2,678,400 s: unused team −15.40 (31 × that =
    // 15.3958…), remaining business 30.79 (62 × that = 30.7916…),
    // November in advance 62.00. Total 0.01 + 0.20 − 15.40 + 30.79 + 62.00
    // = 77.60.
    assert_eq!(
        amounts(&oct),
        [
            ("calls".into(), "0.01".into()),
            ("calls".into(), "0.20".into())
        ]
    );
    let advance: Vec<(&str, &str, &str)> = oct["advance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["plan"].as_str().unwrap(),
                l["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        advance,
        [
            ("unused_time", "team", "-15.40"),
            ("remaining_time", "business", "30.79"),
            ("advance_fee", "business", "62.00"),
        ]
    );
    assert_eq!(oct["advance"][0]["from"], "2026-10-16T14:30:00Z");
    assert_eq!(oct["total"], "77.60", "{oct:#}");

    // A quote of the same time on team, to the second: 15.40.
    let q = tollgate()
        .args(["quote", "--plans"])
        .arg(&plans)
        .args(["--plan", "team", "--from", "2026-10-16T14:30:00Z"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&q.stdout);
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    assert!(
        text.contains("Base fee in advance, 1330200 of 2678400 seconds") && text.contains("15.40"),
        "{text}"
    );
}

/// Coupons, tax and prepaid credits from the command line (issue 16
/// items 7 and 8), over a lake without traffic: base fees only. bob
/// (basic, 30.00) has a 10% coupon, VAT 19% and two grants.
#[test]
fn customers_file_discounts_taxes_and_burns_credits() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let plans = dir.path().join("plans.toml");
    let subs = dir.path().join("subscriptions.toml");
    let customers = dir.path().join("customers.toml");
    std::fs::write(&plans, PLANS).unwrap();
    std::fs::write(&subs, SUBSCRIPTIONS).unwrap();
    std::fs::write(
        &customers,
        r#"
[[tax]]
id = "vat"
name = "VAT 19%"
rate = "0.19"

[[coupon]]
id = "ten"
percent = "10"
plans = ["basic"]

[[customer]]
consumer = "bob"
tax = "vat"
coupons = [{ coupon = "ten" }]

[[grant]]
id = "promo"
consumer = "bob"
amount = "20.00"
currency = "USD"
granted = "2026-09-01"

[[grant]]
id = "prepaid"
consumer = "bob"
amount = "100.00"
currency = "USD"
priority = 5
granted = "2026-09-01"
"#,
    )
    .unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n[billing]\nplans = {plans:?}\nsubscriptions = {subs:?}\ncustomers = {customers:?}\n"
        ),
    )
    .unwrap();
    let now = ["--now", "2026-10-01T06:00:00Z"];
    run(
        &config,
        &[&["run", "--period", "2026-09"][..], &now].concat(),
    );
    run(
        &config,
        &[&["finalize", "--period", "2026-09"][..], &now].concat(),
    );

    // 30.00 − 10% (3.00) = 27.00; VAT 0.19 × 27.00 = 5.13; total 32.13.
    // promo (priority 0) pays 20.00, prepaid 12.13 of its 100.00.
    let (_, bob) = invoice_json(&config, "2026-09", "bob");
    assert_eq!(bob["subtotal"], "30.00");
    assert_eq!(bob["discounts"][0]["amount"], "-3.00");
    assert_eq!(bob["tax"]["amount"], "5.13");
    assert_eq!(bob["total"], "32.13");
    assert_eq!(bob["credits"][0]["grant"], "promo");
    assert_eq!(bob["credits"][1]["amount"], "-12.13");
    assert_eq!(bob["credits"][1]["balance_after"], "87.87");
    assert_eq!(bob["amount_due"], "0.00");
    // alice has no settings: none of the new fields.
    let (_, alice) = invoice_json(&config, "2026-09", "alice");
    assert!(alice.get("amount_due").is_none(), "{alice:#}");

    let table = stdout(&run(
        &config,
        &["show", "--period", "2026-09", "--consumer", "bob"],
    ));
    for step in [
        "Subtotal",
        "VAT 19% (0.19 × 27.00)",
        "Total",
        "prepaid (balance 100.00 → 87.87)",
        "Amount due",
    ] {
        assert!(table.contains(step), "{step} in {table}");
    }

    // The wallet in SQL: the burns are real once finalized.
    let sql = tollgate()
        .args(["sql", "--format", "csv", "--config"])
        .arg(&config)
        .arg("SELECT grant_id, status, CAST(burned AS VARCHAR) AS burned, CAST(balance_after AS VARCHAR) AS after FROM wallet ORDER BY priority")
        .output()
        .unwrap();
    assert!(
        sql.status.success(),
        "{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    let csv = String::from_utf8_lossy(&sql.stdout);
    assert!(csv.contains("promo,finalized,20.0000,0.0000"), "{csv}");
    assert!(csv.contains("prepaid,finalized,12.1300,87.8700"), "{csv}");

    // A bad customers file stops the run and names file, line and field.
    std::fs::write(
        &customers,
        "[[customer]]\nconsumer = \"bob\"\ntax = \"nope\"\n",
    )
    .unwrap();
    let bad = tollgate()
        .args([
            "invoice",
            "run",
            "--period",
            "2026-10",
            "--now",
            "2026-10-02T00:00:00Z",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("customers.toml, line 3, field customer[1].tax: unknown tax id \"nope\""),
        "{err}"
    );
}

/// Volume pricing: every call at the price of the tier the month's total
/// reaches, so late calls can lower an invoice.
const VOLUME_PLANS: &str = r#"
[[plan]]
id = "v"
version = 1
currency = "USD"
base_fee = "20.00"
[[plan.charge]]
id = "calls"
description = "API calls"
metric = "calls"
[plan.charge.price]
model = "volume"
tiers = [{ up_to = 10, unit_price = "1.00" }, { unit_price = "0.10" }]
"#;

/// `n` calls of acme at `ts` as a canonical log file to import.
fn import_calls(config: &Path, file: &Path, tag: &str, ts: &str, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| String::from_utf8(event(&format!("{tag}{i}"), "acme", ts, 200)).unwrap())
        .collect();
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
    let out = tollgate()
        .args(["import", "--format", "canonical", "--config"])
        .arg(config)
        .arg(file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_late_decrease_becomes_a_numbered_credit_note_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let plans = dir.path().join("plans.toml");
    let subs = dir.path().join("subscriptions.toml");
    std::fs::write(&plans, VOLUME_PLANS).unwrap();
    std::fs::write(
        &subs,
        "[[subscription]]\nconsumer = \"acme\"\nplan = \"v\"\nstart = \"2026-09-01\"\n",
    )
    .unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n[billing]\nplans = {plans:?}\nsubscriptions = {subs:?}\n\
             number_prefix = \"T-\"\ncredit_note_prefix = \"C-\"\n"
        ),
    )
    .unwrap();

    // September: 10 calls, 10 × 1.00 = 10.00 + 20.00 = 30.00.
    import_calls(
        &config,
        &dir.path().join("sep.log"),
        "s",
        "2026-09-10T10:00:00.000Z",
        10,
    );
    run(
        &config,
        &[
            "run",
            "--period",
            "2026-09",
            "--now",
            "2026-10-01T01:00:00Z",
        ],
    );
    run(
        &config,
        &[
            "finalize",
            "--period",
            "2026-09",
            "--now",
            "2026-10-01T02:00:00Z",
        ],
    );
    let (sep_bytes, sep) = invoice_json(&config, "2026-09", "acme");
    assert_eq!(sep["number"], "T-2026-000001");
    assert_eq!(sep["total"], "30.00");

    // Two late September calls: 12 × 0.10 = 1.20 (the cheaper volume
    // tier), 1.20 − 10.00 = −8.80: a credit note of October, not an
    // adjustment line.
    import_calls(
        &config,
        &dir.path().join("late.log"),
        "l",
        "2026-09-20T10:00:00.000Z",
        2,
    );
    let o = run(
        &config,
        &[
            "run",
            "--period",
            "2026-10",
            "--now",
            "2026-11-01T01:00:00Z",
        ],
    );
    let report = stdout(&o);
    assert!(
        report.contains("0 adjustment lines, 1 credit notes"),
        "{report}"
    );
    assert!(
        report.contains("credit note: acme -8.80 USD for T-2026-000001"),
        "{report}"
    );
    let (_, oct) = invoice_json(&config, "2026-10", "acme");
    assert!(oct["adjustments"].as_array().unwrap().is_empty(), "{oct:#}");
    assert_eq!(oct["total"], "20.00");
    let draft = run(
        &config,
        &[
            "show",
            "--period",
            "2026-10",
            "--credits",
            "T-2026-000001",
            "--format",
            "json",
        ],
    );
    let draft: Value = serde_json::from_slice(&draft.stdout).unwrap();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["total"], "-8.80");

    // Finalized with October: its own sequence, its own prefix.
    let f = run(
        &config,
        &[
            "finalize",
            "--period",
            "2026-10",
            "--now",
            "2026-11-01T02:00:00Z",
        ],
    );
    assert!(
        stdout(&f).contains("1 invoices, T-2026-000002 to T-2026-000002; 1 credit notes, C-2026-000001 to C-2026-000001"),
        "{}",
        stdout(&f)
    );
    let shown = run(&config, &["show", "C-2026-000001", "--format", "json"]);
    let note: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(note["status"], "finalized");
    assert_eq!(note["issued"], "2026-11-01");
    assert_eq!(note["invoice"], "T-2026-000001");
    assert_eq!(note["invoice_period"], "2026-09");
    assert_eq!(note["period"], "2026-10");
    let line = &note["lines"][0];
    assert_eq!(
        (
            line["quantity_before"].clone(),
            line["quantity_after"].clone()
        ),
        (json!(10), json!(12))
    );
    assert_eq!(line["amount_before"], "10.00");
    assert_eq!(line["amount_after"], "1.20");
    assert_eq!(line["amount"], "-8.80");
    assert_eq!(note["total"], "-8.80");
    let html = stdout(&run(
        &config,
        &["show", "C-2026-000001", "--format", "html"],
    ));
    assert!(
        html.contains("<title>Credit note C-2026-000001</title>"),
        "{html}"
    );
    assert!(html.contains("id=\"credited\">8.80 USD<"), "{html}");
    let csv = stdout(&run(&config, &["show", "C-2026-000001", "--format", "csv"]));
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("C-2026-000001,finalized,2026-10,acme,USD,1,usage,calls,"),
        "{csv}"
    );
    let list = stdout(&run(&config, &["list", "--period", "2026-10"]));
    assert!(
        list.contains("C-2026-000001") && list.contains("credit note for T-2026-000001"),
        "{list}"
    );

    // The September invoice did not change, byte for byte.
    assert_eq!(invoice_json(&config, "2026-09", "acme").0, sep_bytes);

    // Exported with the invoices; the JSON is the stored bytes.
    let out = dir.path().join("export");
    let e = run(
        &config,
        &[
            "export",
            "--period",
            "2026-10",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&e).contains("1 credit notes (JSON and HTML) and credit-notes-2026-10.csv"),
        "{}",
        stdout(&e)
    );
    assert_eq!(
        std::fs::read(out.join("C-2026-000001.json")).unwrap(),
        shown.stdout
    );
    assert!(
        std::fs::read_to_string(out.join("C-2026-000001.html"))
            .unwrap()
            .contains("8.80 USD")
    );
    let csv = std::fs::read_to_string(out.join("credit-notes-2026-10.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // Analysts see the note in SQL.
    let sql = tollgate()
        .args(["sql", "--format", "csv", "--config"])
        .arg(&config)
        .arg("SELECT number, credits_invoice, CAST(amount AS VARCHAR) AS amount, period FROM credit_notes")
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&sql.stdout);
    assert!(
        sql.status.success(),
        "{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    assert!(
        csv.contains("C-2026-000001,T-2026-000001,-8.8000,2026-10"),
        "{csv}"
    );
}

/// Issue 16's end-to-end case, from Kafka through `tollgate ingest` to
/// finalized invoices and a credit note: acme is taxed (VAT 19%), has a
/// launch coupon for its first period only and a 40.00 prepaid grant that
/// runs out in October; late September calls lower September's finalized
/// invoice (volume pricing), which October's run credits with a note that
/// reverses the coupon's share and the tax. bob has no settings.
#[test]
fn ingest_to_finalized_invoices_with_credits_coupon_tax_and_a_credit_note() {
    let _serial = heavy();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    broker.create_topic("gw", 1);
    let lake = dir.path().join("lake");
    let plans = dir.path().join("plans.toml");
    let subs = dir.path().join("subscriptions.toml");
    let customers = dir.path().join("customers.toml");
    std::fs::write(&plans, VOLUME_PLANS).unwrap();
    std::fs::write(
        &subs,
        "[[subscription]]\nconsumer = \"acme\"\nplan = \"v\"\nstart = \"2026-09-01\"\n\n\
         [[subscription]]\nconsumer = \"bob\"\nplan = \"v\"\nstart = \"2026-09-01\"\n",
    )
    .unwrap();
    std::fs::write(
        &customers,
        r#"
[[tax]]
id = "vat"
name = "VAT 19%"
rate = "0.19"

[[coupon]]
id = "launch"
percent = "10"
periods = 1

[[customer]]
consumer = "acme"
tax = "vat"
coupons = [{ coupon = "launch" }]

[[grant]]
id = "prepaid"
consumer = "acme"
amount = "40.00"
currency = "USD"
granted = "2026-09-01"
"#,
    )
    .unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n[kafka]\nbrokers = {addr:?}\ntopics = [\"gw\"]\ngroup = \"billing\"\n\
             [billing]\nplans = {plans:?}\nsubscriptions = {subs:?}\ncustomers = {customers:?}\n\
             number_prefix = \"T-\"\ncredit_note_prefix = \"C-\"\n",
            addr = broker.addr
        ),
    )
    .unwrap();
    let calls = |tag: &str, consumer: &str, ts: &str, n: usize| -> Vec<(i32, Vec<u8>)> {
        (0..n)
            .map(|i| (0, event(&format!("{tag}{i}"), consumer, ts, 200)))
            .collect()
    };

    // September: 10 calls each.
    let mut sep = calls("as", "acme", "2026-09-10T10:00:00.000Z", 10);
    sep.extend(calls("bs", "bob", "2026-09-11T10:00:00.000Z", 10));
    broker.produce("gw", &sep);
    ingest_once(&config);
    let now = ["--now", "2026-10-01T06:00:00Z"];
    run(
        &config,
        &[&["run", "--period", "2026-09"][..], &now].concat(),
    );
    run(
        &config,
        &[&["finalize", "--period", "2026-09"][..], &now].concat(),
    );
    // acme: 10 × 1.00 + 20.00 = 30.00; launch −3.00; VAT 0.19 × 27.00 =
    // 5.13; total 32.13, all paid by the grant (40.00 → 7.87).
    let (sep_bytes, acme) = invoice_json(&config, "2026-09", "acme");
    assert_eq!(acme["number"], "T-2026-000001");
    assert_eq!(acme["subtotal"], "30.00");
    assert_eq!(acme["discounts"][0]["amount"], "-3.00");
    assert_eq!(acme["tax"]["amount"], "5.13");
    assert_eq!(acme["total"], "32.13");
    assert_eq!(acme["credits"][0]["amount"], "-32.13");
    assert_eq!(acme["credits"][0]["balance_after"], "7.87");
    assert_eq!(acme["amount_due"], "0.00");
    let (_, bob) = invoice_json(&config, "2026-09", "bob");
    assert_eq!(bob["total"], "30.00");
    assert!(bob.get("tax").is_none(), "{bob:#}");

    // October's calls, and two September calls of acme that arrive late:
    // 12 calls price at the second volume tier, 12 × 0.10 = 1.20 instead
    // of 10.00.
    let mut oct = calls("ao", "acme", "2026-10-10T10:00:00.000Z", 10);
    oct.extend(calls("bo", "bob", "2026-10-11T10:00:00.000Z", 10));
    oct.extend(calls("late", "acme", "2026-09-20T10:00:00.000Z", 2));
    broker.produce("gw", &oct);
    ingest_once(&config);
    let now = ["--now", "2026-11-01T06:00:00Z"];
    let report = stdout(&run(
        &config,
        &[&["run", "--period", "2026-10"][..], &now].concat(),
    ));
    // The note: lines −8.80; the coupon's share −8.80 × −3.00 ÷ 30.00 =
    // +0.88; VAT 0.19 × −7.92 = −1.5048 → −1.50; total −9.42.
    assert!(
        report.contains("credit note: acme -9.42 USD for T-2026-000001"),
        "{report}"
    );
    let f = stdout(&run(
        &config,
        &[&["finalize", "--period", "2026-10"][..], &now].concat(),
    ));
    assert!(f.contains("C-2026-000001 to C-2026-000001"), "{f}");

    // October: 30.00, the coupon has expired (one period), VAT 5.70, total
    // 35.70; the grant's last 7.87 pays part of it, 27.83 is due.
    let (_, acme) = invoice_json(&config, "2026-10", "acme");
    assert_eq!(acme["status"], "finalized");
    assert_eq!(acme["subtotal"], "30.00");
    assert!(acme.get("discounts").is_none(), "{acme:#}");
    assert_eq!(acme["tax"]["amount"], "5.70");
    assert_eq!(acme["total"], "35.70");
    assert_eq!(acme["credits"][0]["balance_before"], "7.87");
    assert_eq!(acme["credits"][0]["amount"], "-7.87");
    assert_eq!(acme["credits"][0]["balance_after"], "0.00");
    assert_eq!(acme["amount_due"], "27.83");
    assert!(acme["adjustments"].as_array().unwrap().is_empty());
    let (_, bob) = invoice_json(&config, "2026-10", "bob");
    assert_eq!(bob["total"], "30.00");

    let shown = run(&config, &["show", "C-2026-000001", "--format", "json"]);
    let note: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(note["status"], "finalized");
    assert_eq!(note["invoice"], "T-2026-000001");
    assert_eq!(note["lines"][0]["amount"], "-8.80");
    assert_eq!(note["subtotal"], "-8.80");
    assert_eq!(note["discount"]["amount"], "0.88");
    assert_eq!(note["tax"]["taxable"], "-7.92");
    assert_eq!(note["tax"]["amount"], "-1.50");
    assert_eq!(note["total"], "-9.42");
    let html = stdout(&run(
        &config,
        &["show", "C-2026-000001", "--format", "html"],
    ));
    assert!(html.contains("id=\"credited\">9.42 USD<"), "{html}");

    // September's invoice did not change, byte for byte.
    assert_eq!(invoice_json(&config, "2026-09", "acme").0, sep_bytes);

    // The wallet in SQL: 40.00 → 7.87 in September, → 0.00 in October.
    let sql = tollgate()
        .args(["sql", "--format", "csv", "--config"])
        .arg(&config)
        .arg("SELECT period, status, CAST(balance_before AS VARCHAR) AS before, CAST(burned AS VARCHAR) AS burned, CAST(balance_after AS VARCHAR) AS after FROM wallet ORDER BY period")
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&sql.stdout);
    assert!(
        sql.status.success(),
        "{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    assert!(
        csv.contains("2026-09,finalized,40.0000,32.1300,7.8700"),
        "{csv}"
    );
    assert!(
        csv.contains("2026-10,finalized,7.8700,7.8700,0.0000"),
        "{csv}"
    );
}
