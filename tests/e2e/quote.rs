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
