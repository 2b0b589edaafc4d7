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
