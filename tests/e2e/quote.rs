//! `tollgate quote` with the shipped plans.

use serde_json::Value;

use crate::{repo_file, tollgate};

fn quote(args: &[&str]) -> (i32, String, String) {
    let plans = repo_file("deploy/plans.toml");
    let out = tollgate()
        .arg("quote")
        .arg("--plans")
        .arg(plans)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn quote_prices_usage_line_by_line() {
    let (code, out, err) = quote(&[
        "--plan",
        "growth",
        "--usage",
        "calls=12_000_000",
        "--usage",
        "response_bytes=12500000000",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let q: Value = serde_json::from_str(&out).unwrap();
    // 49 base + (9M × 0.0001 + 2M × 0.00005 = 1000) + 3 GB blocks × 0.09.
    assert_eq!(q["total"], "1049.27");
    assert_eq!(q["lines"][1]["tiers"].as_array().unwrap().len(), 3);
    let (code, out, _) = quote(&["--plan", "growth", "--usage", "calls=1000000"]);
    assert_eq!(code, 0);
    assert!(out.contains("Minimum commitment"), "{out}");
    assert!(out.contains("Total") && out.contains("149.00"), "{out}");
    let (code, _, err) = quote(&["--plan", "growth", "--usage", "clicks=5"]);
    assert_ne!(code, 0);
    assert!(err.contains("no charge or metric"), "{err}");
    let (code, _, err) = quote(&["--plan", "nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("no plan"), "{err}");
}

#[test]
fn quote_prorates_by_share_or_dates_and_prints_minor_units() {
    // growth: base 49 and minimum 100 prorated by 10/31: 15.806… → 15.81
    // and a 32.258… → 32.26 true-up on 1M free calls. Total 48.07.
    let (code, out, err) = quote(&[
        "--plan",
        "growth",
        "--usage",
        "calls=1000000",
        "--share",
        "10/31",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("15.81 USD") && out.contains("32.26 USD"),
        "{out}"
    );
    assert!(out.contains("48.07 USD"), "{out}");
    // The same ten days as dates: invoice wording, same total; 2M calls
    // add 100.00 of usage, above the prorated minimum: 115.81.
    let (code, out, err) = quote(&[
        "--plan",
        "growth",
        "--usage",
        "calls=2000000",
        "--from",
        "2026-10-22",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let q: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(q["total"], "115.81");
    assert_eq!(q["lines"][0]["description"], "Base fee, 10 of 31 days");
    // 183,000 calls on free: 83,000 × 0.0005 = 41.5, printed 41.50.
    let (code, out, _) = quote(&["--plan", "free", "--usage", "calls=183000"]);
    assert_eq!(code, 0);
    assert!(out.contains("41.50 USD"), "{out}");
    // Refusals: a fractional count, a range over two months, a bad share.
    let (code, _, err) = quote(&["--plan", "growth", "--usage", "calls=1.5"]);
    assert_ne!(code, 0);
    assert!(err.contains("whole units"), "{err}");
    let (code, _, err) = quote(&[
        "--plan",
        "growth",
        "--from",
        "2026-10-22",
        "--to",
        "2026-11-05",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("runs past the period"), "{err}");
    let (code, _, err) = quote(&["--plan", "growth", "--share", "3/2"]);
    assert_ne!(code, 0);
    assert!(err.contains("at most 1"), "{err}");
}

/// A percentage plan written for the test (the shipped plans have none).
fn percentage_plans() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        "[[plan]]\nid = \"pay\"\nversion = 1\ncurrency = \"USD\"\n\
         [[plan.charge]]\nid = \"payments\"\nmetric = \"amount\"\n\
         [plan.charge.price]\nmodel = \"percentage\"\npercent = \"2.9\"\nfixed_fee = \"0.30\"\n\
         min_fee_per_event = \"0.50\"\nmax_fee_per_event = \"5.00\"\n",
    )
    .unwrap();
    f
}

#[test]
fn quote_prices_percentages_from_each_events_amount() {
    let plans = percentage_plans();
    let run = |usage: &str, json: bool| {
        let mut cmd = tollgate();
        cmd.args(["quote", "--plans"])
            .arg(plans.path())
            .args(["--plan", "pay", "--usage", usage]);
        if json {
            cmd.args(["--format", "json"]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // Each payment's fee is amount × 2.9 % + 0.30, at least 0.50, at most
    // 5.00: 5.00 → 0.445 → 0.50; 20.00 → 0.88 (twice); 1000.00 → 29.30 →
    // 5.00. Sum 0.50 + 2 × 0.88 + 5.00 = 7.26 over 1045.00 and 4 events.
    let (code, out, err) = run("amount=5+20*2+1000.00", true);
    assert_eq!(code, 0, "{err}");
    let q: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(q["total"], "7.26");
    assert_eq!(q["lines"][0]["quantity"], 1045);
    // The table names the parts: 1045 × 2.9 % = 30.305, 4 × 0.30 = 1.2,
    // and what the limits took: 7.26 − 31.505 = −24.245.
    let (code, out, err) = run("amount=5+20*2+1000.00", false);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2.9 % of 1045 = 30.305"), "{out}");
    assert!(out.contains("fixed fee 0.3 × 4 events = 1.2"), "{out}");
    assert!(out.contains("= -24.245"), "{out}");
    // A sum and a count cannot say which fees the limits clamp.
    let (code, _, err) = run("amount=1045/4", false);
    assert_ne!(code, 0);
    assert!(err.contains("each event's amount"), "{err}");
}
