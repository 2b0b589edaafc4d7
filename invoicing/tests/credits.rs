//! Coupons, tax and prepaid credits over a real local lake (issue 16
//! items 7 and 8): drafts show the projected burns, finalization makes
//! them real in the ledger and the `wallet` table (read back with analyst
//! SQL), the next period starts from the finalized balances, and a grant a
//! finalized invoice used may not change. Figures by hand in the comments.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use tollgate_aggregator::{AnalyticsConfig, Lake, ResultLimit, SqlGate};
use tollgate_billing::invoice::{Invoice, Status};
use tollgate_billing::period::Period;
use tollgate_billing::{Billing, BillingConfig};
use tollgate_invoicing::{InvoicingError, Ledger, RunOutcome, finalize, load, run};

const PLANS: &str = r#"
[[plan]]
id = "growth"
version = 1
currency = "EUR"
base_fee = "100"
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"
"#;

const SUBS: &str = r#"
[[subscription]]
consumer = "acme"
plan = "growth"
start = "2026-09-01"
[[subscription]]
consumer = "plain"
plan = "growth"
start = "2026-09-01"
"#;

const CUSTOMERS: &str = r#"
[[tax]]
id = "de-vat"
name = "VAT 19%"
rate = "0.19"

[[coupon]]
id = "welcome"
percent = "20"
periods = 1

[[customer]]
consumer = "acme"
tax = "de-vat"
coupons = [{ coupon = "welcome" }]

[[grant]]
id = "promo"
consumer = "acme"
amount = "50.00"
currency = "EUR"
priority = 1
granted = "2026-09-01"

[[grant]]
id = "topup"
consumer = "acme"
amount = "100.00"
currency = "EUR"
priority = 2
granted = "2026-09-01"
expires = "2026-11-01"
"#;

fn files(dir: &Path, customers: &str) -> BillingConfig {
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    BillingConfig {
        plans: write("plans.toml", PLANS),
        subscriptions: write("subscriptions.toml", SUBS),
        customers: write("customers.toml", customers),
        ..BillingConfig::default()
    }
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn p(s: &str) -> Period {
    s.parse().unwrap()
}

/// (grant, balance before, amount, balance after) of each credit line.
fn credits(inv: &Invoice) -> Vec<(String, String, String, String)> {
    inv.credits
        .iter()
        .map(|c| {
            (
                c.grant.clone(),
                c.balance_before.to_string(),
                c.amount.to_string(),
                c.balance_after.to_string(),
            )
        })
        .collect()
}

fn s4(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

async fn sql(lake_dir: &Path, query: &str) -> String {
    let cfg = AnalyticsConfig::default();
    let lake = Lake::open(lake_dir.to_str().unwrap(), &cfg).await.unwrap();
    let answer = SqlGate::new(&cfg)
        .query(&lake, query, ResultLimit::whole())
        .await
        .unwrap();
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

async fn drafted(lake: &Lake, ledger: &Ledger, b: &Billing, period: &str, now: &str) {
    let out = run(lake, ledger, b, p(period), at(now)).await.unwrap();
    assert!(matches!(out, RunOutcome::Drafted(_)), "{out:?}");
}

#[tokio::test]
async fn finalization_burns_credits_into_the_ledger_and_the_wallet_table() {
    let conf = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let lake = Lake::open(location, &AnalyticsConfig::default())
        .await
        .unwrap();
    let ledger = Ledger::open(location).unwrap();
    let b = load(files(conf.path(), CUSTOMERS)).unwrap();

    // September, no usage: base fee 100.00; welcome 20% = −20.00; VAT 19%
    // of 80.00 = 15.20; total 95.20. promo (priority 1) pays 50.00, topup
    // the other 45.20 of its 100.00.
    drafted(&lake, &ledger, &b, "2026-09", "2026-10-02T00:00:00Z").await;
    let sep = ledger.invoice(p("2026-09"), "acme").await.unwrap().unwrap();
    assert_eq!(sep.subtotal.unwrap().to_string(), "100.00");
    assert_eq!(sep.discounts[0].amount.to_string(), "-20.00");
    assert_eq!(sep.tax.as_ref().unwrap().amount.to_string(), "15.20");
    assert_eq!(sep.total.to_string(), "95.20");
    assert_eq!(
        credits(&sep),
        [
            s4("promo", "50.00", "-50.00", "0.00"),
            s4("topup", "100.00", "-45.20", "54.80")
        ]
    );
    assert_eq!(sep.amount_due.unwrap().to_string(), "0.00");
    // A consumer without settings: the invoice is as it always was.
    let plain = ledger
        .invoice_bytes(p("2026-09"), "plain")
        .await
        .unwrap()
        .unwrap();
    let plain: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    for absent in ["subtotal", "discounts", "tax", "credits", "amount_due"] {
        assert!(plain.get(absent).is_none(), "{absent}");
    }
    // The draft statement is a projection: October's draft, computed
    // before September is final, still sees the full balances. October:
    // no coupon (one period), 100.00 + 19.00 tax = 119.00; promo 50.00,
    // topup 69.00.
    drafted(&lake, &ledger, &b, "2026-10", "2026-10-02T00:00:00Z").await;
    let oct = ledger.invoice(p("2026-10"), "acme").await.unwrap().unwrap();
    assert_eq!(oct.credits[0].balance_before.to_string(), "50.00");
    assert_eq!(
        ledger.wallet(p("2026-09")).await.unwrap().unwrap().status,
        Status::Draft
    );

    // Finalizing September makes its burns real.
    finalize(&ledger, &b.config, p("2026-09"), at("2026-10-02T00:00:00Z"))
        .await
        .unwrap();
    let st = ledger.wallet(p("2026-09")).await.unwrap().unwrap();
    assert_eq!(st.status, Status::Finalized);
    let sep = ledger.invoice(p("2026-09"), "acme").await.unwrap().unwrap();
    let number = sep.number.clone().unwrap();
    assert!(
        st.entries
            .iter()
            .all(|e| e.invoice.as_ref() == Some(&number))
    );
    let sep_bytes = ledger
        .invoice_bytes(p("2026-09"), "acme")
        .await
        .unwrap()
        .unwrap();

    // October again (September was finalized after its draft): promo is
    // spent; topup has 54.80 and pays it all, its last period (it expires
    // 2026-11-01). Due: 119.00 − 54.80 = 64.20.
    drafted(&lake, &ledger, &b, "2026-10", "2026-11-02T00:00:00Z").await;
    let oct = ledger.invoice(p("2026-10"), "acme").await.unwrap().unwrap();
    assert_eq!(credits(&oct), [s4("topup", "54.80", "-54.80", "0.00")]);
    assert_eq!(oct.amount_due.unwrap().to_string(), "64.20");
    finalize(&ledger, &b.config, p("2026-10"), at("2026-11-02T00:00:00Z"))
        .await
        .unwrap();

    // The wallet table, read with analyst SQL: a statement row per grant
    // and period, the balances chaining from one period to the next.
    let table = sql(
        dir.path(),
        "SELECT period, status, grant_id, balance_before, burned, expired, balance_after, invoice_number \
         FROM wallet ORDER BY period, priority",
    )
    .await;
    assert_eq!(
        table,
        format!(
            "period,status,grant_id,balance_before,burned,expired,balance_after,invoice_number\n\
             2026-09,finalized,promo,50.0000,50.0000,0.0000,0.0000,{number}\n\
             2026-09,finalized,topup,100.0000,45.2000,0.0000,54.8000,{number}\n\
             2026-10,finalized,topup,54.8000,54.8000,0.0000,0.0000,{}\n",
            oct_number(&ledger).await
        )
    );
    // The docs' query: each grant's balance after its last finalized period.
    let balances = sql(
        dir.path(),
        "SELECT consumer, grant_id, currency, balance_after FROM wallet w \
         WHERE status = 'finalized' AND period = (SELECT max(period) FROM wallet v \
         WHERE v.grant_id = w.grant_id AND v.status = 'finalized') ORDER BY grant_id",
    )
    .await;
    assert_eq!(
        balances,
        "consumer,grant_id,currency,balance_after\nacme,promo,EUR,0.0000\nacme,topup,EUR,0.0000\n"
    );
    // Every step is a row of the invoices table; they add up to what is due.
    let lines = sql(
        dir.path(),
        "SELECT kind, charge, amount FROM invoices WHERE period = '2026-09' AND consumer = 'acme' ORDER BY line",
    )
    .await;
    assert_eq!(
        lines,
        "kind,charge,amount\nbase_fee,base_fee,100.0000\nusage,calls,0.0000\ndiscount,welcome,-20.0000\n\
         tax,de-vat,15.2000\ncredit,promo,-50.0000\ncredit,topup,-45.2000\n"
    );

    // A finalized invoice never changes: a run of its period writes nothing.
    let again = run(&lake, &ledger, &b, p("2026-09"), at("2026-11-02T00:00:00Z"))
        .await
        .unwrap();
    assert!(matches!(again, RunOutcome::AlreadyFinalized(_)));
    assert_eq!(
        ledger
            .invoice_bytes(p("2026-09"), "acme")
            .await
            .unwrap()
            .unwrap(),
        sep_bytes
    );

    // A used grant's terms are frozen: the next run refuses a change.
    let changed = CUSTOMERS.replace("amount = \"100.00\"", "amount = \"150.00\"");
    let b2 = load(files(conf.path(), &changed)).unwrap();
    let e = run(
        &lake,
        &ledger,
        &b2,
        p("2026-11"),
        at("2026-11-02T00:00:00Z"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, InvoicingError::Config(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("customers.toml, line 28, field grant[2].amount: grant \"topup\" was used by finalized period 2026-10"),
        "{e}"
    );
    // A new grant instead is fine.
    let added = format!(
        "{CUSTOMERS}\n[[grant]]\nid = \"topup-2\"\nconsumer = \"acme\"\namount = \"50\"\ncurrency = \"EUR\"\ngranted = \"2026-11-01\"\n"
    );
    let b3 = load(files(conf.path(), &added)).unwrap();
    drafted(&lake, &ledger, &b3, "2026-11", "2026-11-02T00:00:00Z").await;
    let nov = ledger.invoice(p("2026-11"), "acme").await.unwrap().unwrap();
    // 119.00 due; topup-2 pays 50.00.
    assert_eq!(credits(&nov), [s4("topup-2", "50.00", "-50.00", "0.00")]);
    assert_eq!(nov.amount_due.unwrap().to_string(), "69.00");
}

async fn oct_number(ledger: &Ledger) -> String {
    ledger
        .invoice(p("2026-10"), "acme")
        .await
        .unwrap()
        .unwrap()
        .number
        .unwrap()
        .0
}

#[tokio::test]
async fn a_missing_customers_file_means_no_settings() {
    let conf = tempfile::tempdir().unwrap();
    let mut cfg = files(conf.path(), "");
    cfg.customers = conf.path().join("absent.toml");
    let b = load(cfg).unwrap();
    assert!(b.customers.grants.is_empty() && b.customers.taxes.is_empty());
    // A bad one names the file, the line and the field.
    let cfg = files(
        conf.path(),
        "[[tax]]\nid = \"t\"\nname = \"T\"\nrate = \"-1\"\n",
    );
    let e = load(cfg).unwrap_err().to_string();
    assert!(
        e.ends_with("customers.toml, line 4, field tax[1].rate: tax \"t\": rate = -1 is negative"),
        "{e}"
    );
}
