//! `tollgate import` of archived logs, and the lake read back by DuckDB and
//! pyarrow, as an analyst would (no Tollgate code on the reading side).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::ingest::message_for_import;
use crate::lake::{all_files, assert_delta_matches, delta_view};
use crate::tollgate;

fn import(lake: &Path, file: &Path) -> Value {
    let out = tollgate()
        .arg("import")
        .arg("--lake")
        .arg(lake)
        .arg(file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON record per file")
}

/// Runs a Python snippet (DuckDB / pyarrow) and returns its stdout.
fn python(code: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed (scripts/test.sh installs duckdb and pyarrow): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn import_is_idempotent_and_the_lake_is_plain_parquet_for_duckdb_and_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let n = 5000;
    let mut text = Vec::new();
    let mut events = 0;
    for i in 0..n {
        let (line, is_event) = message_for_import(i);
        text.extend_from_slice(&line);
        text.push(b'\n');
        events += usize::from(is_event);
    }
    let plain = dir.path().join("access.log");
    std::fs::write(&plain, &text).unwrap();
    let gz = dir.path().join("access-2.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&text[..text.len() / 2]).unwrap();
    enc.finish().unwrap();
    let zst = dir.path().join("access-3.log.zst");
    std::fs::write(&zst, zstd::encode_all(&text[text.len() / 2..], 3).unwrap()).unwrap();

    let first = import(&lake, &plain);
    assert_eq!(first["messages"], n as u64);
    assert_eq!(first["events"], events as u64);
    assert_eq!(first["rejects"], (n - events) as u64);
    assert_eq!(first["skipped"], false);
    let files = all_files(&lake.join("events")).len();
    // The import is one Delta version per table, with its `txn`.
    let app = format!("import-{}", first["hash"].as_str().unwrap());
    let delta = delta_view(&lake, "events", std::slice::from_ref(&app)).expect("a Delta log");
    assert_eq!(delta.version, 0);
    assert_eq!(delta.rows, events as u64);
    assert_eq!(delta.files.len(), files);
    assert_eq!(delta.txns[&app], Some(1));
    let rejects = delta_view(&lake, "quarantine", std::slice::from_ref(&app)).unwrap();
    assert_eq!(rejects.rows, (n - events) as u64);

    // The same file again adds nothing, to the files or to the log.
    let again = import(&lake, &plain);
    assert_eq!(again["skipped"], true);
    assert_eq!(all_files(&lake.join("events")).len(), files);
    assert_eq!(delta_view(&lake, "events", &[]).unwrap().version, 0);

    // Compressed archives decode the same way (they are other files, so
    // their lines are added: half of the log each).
    let g = import(&lake, &gz);
    let z = import(&lake, &zst);
    let decoded = g["messages"].as_u64().unwrap() + z["messages"].as_u64().unwrap();
    assert!(
        decoded == n as u64 || decoded == n as u64 + 1,
        "gz+zst decoded {decoded} lines"
    );

    assert_delta_matches(&lake);
    let lake = lake.display();
    let total_events = first["events"].as_u64().unwrap()
        + g["events"].as_u64().unwrap()
        + z["events"].as_u64().unwrap();
    let total_rejects = first["rejects"].as_u64().unwrap()
        + g["rejects"].as_u64().unwrap()
        + z["rejects"].as_u64().unwrap();
    let got = python(&format!(
        r#"
import duckdb
con = duckdb.connect()
e = con.execute("select count(*), count(distinct (source_file, source_line)), min(date)::varchar, count(distinct gateway) from read_parquet('{lake}/events/date=*/*.parquet', hive_partitioning=true)").fetchall()[0]
q = con.execute("select count(*), count(distinct reason) from read_parquet('{lake}/quarantine/date=*/*.parquet', hive_partitioning=true)").fetchall()[0]
codec = con.execute("select distinct compression from parquet_metadata('{lake}/events/date=*/*.parquet')").fetchall()
print(e[0], e[1], e[2], e[3], q[0], q[1], ",".join(sorted(c[0] for c in codec)))
"#
    ));
    let f: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(
        f[0].parse::<u64>().unwrap(),
        total_events,
        "duckdb events: {got}"
    );
    assert_eq!(
        f[1].parse::<u64>().unwrap(),
        total_events,
        "every event has its own (file, line): {got}"
    );
    assert_eq!(f[2], "2024-06-11", "hive date partition: {got}");
    assert_eq!(f[3], "4", "four gateways: {got}");
    assert_eq!(
        f[4].parse::<u64>().unwrap(),
        total_rejects,
        "duckdb quarantine: {got}"
    );
    assert_eq!(f[6], "ZSTD", "compression: {got}");

    let got = python(&format!(
        r#"
import pyarrow.dataset as ds
t = ds.dataset('{lake}/events', format='parquet', partitioning='hive').to_table()
print(t.num_rows, t.schema.field('ts').type, t.schema.field('status').type)
"#
    ));
    assert_eq!(
        got.trim(),
        format!("{total_events} timestamp[ms, tz=UTC] int32")
    );
}
