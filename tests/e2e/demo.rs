//! `tollgate demo --no-serve`: embedded broker, simulator paced by the
//! ingestor, rollups and invoices, with nothing lost on the way.

use crate::tollgate;

fn sql(lake: &std::path::Path, q: &str) -> String {
    let out = tollgate()
        .args(["sql", "--format", "csv", "--lake"])
        .arg(lake)
        .arg(q)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn demo_loads_every_message_and_invoices_last_month() {
    let dir = tempfile::tempdir().unwrap();
    let out = tollgate()
        .args([
            "demo",
            "--no-serve",
            "--events",
            "30000",
            "--consumers",
            "25",
            "--dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("produced     30000  ingested     30000"),
        "{stderr}"
    );
    let lake = dir.path().join("lake");
    // Every line is in the lake, as an event or as a quarantined reject.
    let events: u64 = sql(&lake, "SELECT count(*) AS n FROM events")
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let rejects: u64 = sql(&lake, "SELECT count(*) AS n FROM quarantine")
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(rejects > 0, "the demo shows the quarantine at work");
    assert!(events + rejects >= 30_000, "{events} + {rejects}");
    // Last month is finalized, one invoice per subscribed consumer.
    let list = tollgate()
        .args(["invoice", "list", "--format", "json", "--lake"])
        .arg(&lake)
        .output()
        .unwrap();
    let periods: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let periods = periods.as_array().unwrap();
    assert_eq!(periods.len(), 2, "{periods:?}");
    assert_eq!(periods[0]["status"], "finalized");
    assert_eq!(periods[0]["invoices"].as_array().unwrap().len(), 25);
    assert_eq!(periods[1]["status"], "draft");
    // The dashboard's rollups were built.
    let rollups = sql(&lake, "SELECT count(*) FROM rollups_hourly");
    assert_ne!(rollups.lines().nth(1), Some("0"));
}
