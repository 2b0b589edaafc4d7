//! The Postgres wire protocol for real (issue 18): `tollgate serve
//! --pg-listen` with TLS and tokens, driven by psycopg (PyPI) and by
//! Debian's `psql`; every answer compared with `tollgate sql` on the same
//! lake.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::dashboard::address_from_log;
use crate::simulate::simulate_into;
use crate::tollgate;

const ANALYST: &str = "analyst-token-0123456789abcdef";
const VIEWER: &str = "viewer-token-0123456789abcdef";
const FINANCE: &str = "finance-token-0123456789abcdef";

/// A query needing more than the 64 MB pool the server gets: every pair
/// of one consumer's calls, sorted.
const OVER_MEMORY: &str = "SELECT a.event_id, b.event_id, a.path, b.path FROM events a \
     JOIN events b ON a.consumer = b.consumer ORDER BY a.path, b.path, a.event_id, b.event_id";

/// `tollgate serve` with the Postgres listener; killed on drop.
struct Server {
    child: Child,
    pg_port: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path) -> Server {
    let mut child = tollgate()
        .args(["serve", "--config"])
        .arg(config)
        .args(["--address", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env_remove("TOLLGATE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, _) = address_from_log(&mut child, "postgres protocol on ");
    let pg_port = addr.rsplit(':').next().unwrap().to_string();
    Server { child, pg_port }
}

/// `tollgate sql --format csv` rows (header dropped).
fn sql_rows(config: &Path, query: &str) -> Vec<Vec<String>> {
    let out = tollgate()
        .args(["sql", "--format", "csv", "--config"])
        .arg(config)
        .arg(query)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tollgate sql {query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// `psql` with the analyst token over TLS: (success, stdout, stderr).
fn psql(port: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user=analyst dbname=tollgate sslmode=require connect_timeout=30"
        ))
        .args(["--no-psqlrc", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGPASSWORD", token)
        .output()
        .unwrap_or_else(|e| {
            panic!("psql did not start ({e}); scripts/test.sh installs Debian's postgresql-client")
        });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn psql_and_psycopg_read_the_lake_under_the_analyst_limits() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    simulate_into(
        &lake,
        &["--events", "20000", "--format", "mixed", "--seed", "18"],
    );
    // Three lines the decoder rejects: the quarantine table has rows.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "not json\n{\"event_id\": 1}\n[]\n").unwrap();
    let import = tollgate()
        .args(["import", "--format", "canonical", "--lake"])
        .arg(&lake)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );

    // A self-signed certificate: the listener speaks TLS.
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nlocation = {lake:?}\n\
             [analytics]\nmemory_limit_mb = 64\nsql_max_concurrent = 4\nsql_queue_wait_ms = 120000\nquery_timeout_secs = 60\n\
             [serve]\npg_tls_cert = {cert:?}\npg_tls_key = {key:?}\n\
             [serve.tokens]\nanalyst = [{ANALYST:?}]\nviewer = [{VIEWER:?}]\nfinance = [{FINANCE:?}]\n"
        ),
    )
    .unwrap();
    let server = start(&config);

    // psycopg: queries, a prepared statement, refusals, 20 connections.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/pg/client.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([
            "127.0.0.1",
            &server.pg_port,
            ANALYST,
            VIEWER,
            FINANCE,
            OVER_MEMORY,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client.py failed (scripts/test.sh installs psycopg):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["tls"], true, "the connection is encrypted: {seen}");
    assert_eq!(seen["columns"], serde_json::json!(["consumer", "calls"]));

    // The same answers as `tollgate sql`.
    let expected: Vec<Value> = sql_rows(
        &config,
        "SELECT consumer, count(*) AS calls FROM events WHERE consumer IS NOT NULL GROUP BY consumer ORDER BY calls DESC, consumer",
    )
    .into_iter()
    .map(|r| serde_json::json!([r[0], r[1].parse::<i64>().unwrap()]))
    .collect();
    assert!(expected.len() > 3, "the lake has several consumers");
    assert_eq!(seen["per_consumer"], Value::Array(expected.clone()));
    let quarantine: Vec<Value> = sql_rows(
        &config,
        "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY reason",
    )
    .into_iter()
    .map(|r| serde_json::json!([r[0], r[1].parse::<i64>().unwrap()]))
    .collect();
    assert!(!quarantine.is_empty(), "the bad lines are quarantined");
    assert_eq!(seen["quarantine"], Value::Array(quarantine));
    assert_eq!(
        seen["types"],
        serde_json::json!(["datetime", "float", "int"]),
        "timestamps, floats and counts arrive typed: {seen}"
    );
    // To the second: CSV shows milliseconds, Python microseconds.
    let first = &sql_rows(&config, "SELECT min(ts) FROM events")[0][0];
    assert_eq!(
        seen["first"].as_str().unwrap(),
        &first[..19],
        "the first call"
    );

    // Grafana's and Metabase's first questions: the table list and an
    // hourly time series that adds up to every call.
    let tables = seen["tables"].as_array().unwrap();
    for t in ["events", "quarantine", "rollups_hourly", "invoices"] {
        assert!(tables.iter().any(|x| x == t), "{t} listed: {tables:?}");
    }
    let total = &sql_rows(&config, "SELECT count(*) FROM events")[0][0];
    assert_eq!(seen["series_calls"].to_string(), *total, "{seen}");
    assert!(seen["series_points"].as_u64().unwrap() > 24, "{seen}");
    assert_eq!(seen["series_ordered"], true);

    // The prepared statement's answers, with two sets of parameters.
    let top = seen["prepared_consumer"].as_str().unwrap();
    for (status, key) in [(400, "prepared_4xx"), (500, "prepared_5xx")] {
        let n = &sql_rows(
            &config,
            &format!("SELECT count(*) FROM events WHERE consumer = '{top}' AND status >= {status}"),
        )[0][0];
        assert_eq!(seen[key].to_string(), *n, "{key} for {top}");
    }
    let errors_5xx = &sql_rows(&config, "SELECT count(*) FROM events WHERE status >= 500")[0][0];
    assert_eq!(seen["errors_5xx"].to_string(), *errors_5xx);

    // Writes, DDL and COPY are refused as read-only; the big query by the
    // memory limit, also after a SET that tries to lift it.
    let refusals = &seen["refusals"];
    for name in ["drop", "copy", "insert", "create"] {
        assert_eq!(
            refusals[name]["sqlstate"], "25006",
            "{name} is refused as a write: {refusals}"
        );
        assert!(
            refusals[name]["message"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{name}: {refusals}"
        );
    }
    assert_eq!(
        refusals["memory"]["sqlstate"], "53200",
        "over the memory limit: {refusals}"
    );
    assert!(
        refusals["memory"]["message"]
            .as_str()
            .unwrap()
            .contains("memory_limit_mb"),
        "{refusals}"
    );

    // Tokens without the analyst role, and wrong tokens, are refused
    // (libpq reports a failed login by its message; its SQLSTATE, 28000
    // or 28P01, is not passed on for connection errors).
    for (who, says) in [
        ("viewer", "needs an analyst or admin token"),
        ("finance", "needs an analyst or admin token"),
        ("wrong", "Password authentication failed"),
    ] {
        let message = seen[who]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{who}: {seen}");
    }

    // Twenty connections at once: all answered, each correctly.
    assert_eq!(seen["concurrent_failures"], serde_json::json!([]));
    let concurrent = seen["concurrent"].as_array().unwrap();
    assert_eq!(concurrent.len(), 20);
    for answer in concurrent {
        let consumer = answer[0].as_str().unwrap();
        let want = expected
            .iter()
            .find(|e| e[0] == consumer)
            .unwrap_or_else(|| panic!("{consumer} is a consumer"));
        assert_eq!(answer[1], want[1], "{consumer}");
    }

    // psql: \dt lists the lake's tables, \d events its columns.
    let (ok, dt, err) = psql(&server.pg_port, ANALYST, &["-c", "\\dt"]);
    assert!(ok, "\\dt failed: {err}");
    for table in ["events", "quarantine"] {
        assert!(
            dt.lines()
                .any(|l| l.split('|').nth(1).map(str::trim) == Some(table)),
            "\\dt lists {table}:\n{dt}"
        );
    }
    let (ok, d, err) = psql(&server.pg_port, ANALYST, &["-c", "\\d events"]);
    assert!(ok, "\\d events failed: {err}");
    for (column, ty) in [
        ("consumer", "text"),
        ("status", "integer"),
        ("latency_ms", "double precision"),
        ("amount", "numeric"),
    ] {
        assert!(
            d.lines().any(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                cells.first() == Some(&column) && cells.get(1) == Some(&ty)
            }),
            "\\d events shows {column} as {ty}:\n{d}"
        );
    }
    // The other listing commands answer too.
    for command in ["\\l", "\\dn", "\\dt+", "\\d+ quarantine", "\\df"] {
        let (ok, _, err) = psql(&server.pg_port, ANALYST, &["-c", command]);
        assert!(ok, "{command} failed: {err}");
    }
    let (ok, count, err) = psql(
        &server.pg_port,
        ANALYST,
        &["-At", "-c", "SELECT count(*) FROM events"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        count.trim(),
        sql_rows(&config, "SELECT count(*) FROM events")[0][0]
    );
    let (ok, _, err) = psql(&server.pg_port, ANALYST, &["-c", "DROP TABLE events"]);
    assert!(!ok && err.contains("read-only"), "psql DROP: {err}");
    let (ok, _, err) = psql(&server.pg_port, VIEWER, &["-c", "SELECT 1"]);
    assert!(
        !ok && err.contains("analyst or admin"),
        "psql as viewer: {err}"
    );
}
