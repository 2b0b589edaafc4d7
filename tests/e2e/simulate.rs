//! `tollgate simulate` piped into `tollgate import -`, as the quickstart and
//! the query benchmark use it, then read back with `tollgate sql`.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::tollgate;

/// Runs `tollgate simulate ARGS | tollgate import --lake LAKE -` and
/// returns import's record of the run.
pub(crate) fn simulate_into(lake: &Path, args: &[&str]) -> Value {
    let mut sim = tollgate()
        .arg("simulate")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let import = tollgate()
        .args(["import", "--lake"])
        .arg(lake)
        .arg("-")
        .env("RUST_LOG", "warn")
        .stdin(sim.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(sim.wait().unwrap().success(), "simulate failed");
    assert!(
        import.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    serde_json::from_slice(&import.stdout).expect("one JSON record for stdin")
}

/// One CSV cell: the answer to a query returning one value.
fn sql_value(lake: &Path, query: &str) -> String {
    let out = tollgate()
        .args(["sql", "--format", "csv", "--lake"])
        .arg(lake)
        .arg(query)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    lines.next().expect("a header");
    lines.next().expect("one row").to_string()
}

#[test]
fn simulated_traffic_imports_without_rejects_and_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let record = simulate_into(
        &lake,
        &["--events", "5000", "--format", "mixed", "--seed", "1"],
    );
    assert_eq!(record["messages"], 5000, "{record}");
    assert_eq!(record["events"], 5000, "{record}");
    assert_eq!(record["rejects"], 0, "{record}");

    assert_eq!(sql_value(&lake, "SELECT count(*) FROM events"), "5000");
    assert_eq!(
        sql_value(&lake, "SELECT count(DISTINCT gateway) FROM events"),
        "9"
    );
    // The most popular consumer is acct-0001, as billing samples assume.
    assert_eq!(
        sql_value(
            &lake,
            "SELECT consumer FROM events WHERE consumer IS NOT NULL \
             GROUP BY consumer ORDER BY count(*) DESC LIMIT 1"
        ),
        "acct-0001"
    );
}

#[test]
fn bad_lines_land_in_quarantine_and_duplicates_in_events() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let record = simulate_into(
        &lake,
        &[
            "--events",
            "5000",
            "--seed",
            "2",
            "--end",
            "2024-07-01",
            "--bad-ratio",
            "0.04",
            "--duplicate-ratio",
            "0.04",
        ],
    );
    let events: u64 = sql_value(&lake, "SELECT count(*) FROM events")
        .parse()
        .unwrap();
    let quarantined: u64 = sql_value(&lake, "SELECT count(*) FROM quarantine")
        .parse()
        .unwrap();
    assert_eq!(events + quarantined, 5000, "{record}");
    assert!((100..350).contains(&quarantined), "{quarantined}");
    assert_eq!(record["rejects"], quarantined);
    // Formats with a request id keep it in a resent line: the duplicates
    // are visible as repeated event ids.
    let repeated: u64 = sql_value(
        &lake,
        "SELECT count(*) FROM (SELECT event_id FROM events GROUP BY event_id HAVING count(*) > 1)",
    )
    .parse()
    .unwrap();
    assert!(repeated > 50, "{repeated}");
}
