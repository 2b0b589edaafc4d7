//! `tollgate sql`, `tollgate rollup` and `tollgate report traffic` on a lake
//! filled by `tollgate import` from the bundled sample.

use std::path::Path;

use serde_json::Value;

use crate::{repo_file, tollgate};

fn run(lake: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tollgate()
        .args(args)
        .arg("--lake")
        .arg(lake)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn sql_report_and_rollup_on_an_imported_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let sample = repo_file("samples/gateways.log");
    let (code, _, err) = run(&lake, &["import", sample.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = run(
        &lake,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM events"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "n\n10\n");
    let (code, out, _) = run(
        &lake,
        &[
            "sql",
            "--format",
            "json",
            "SELECT reason FROM quarantine ORDER BY reason",
        ],
    );
    assert_eq!(code, 0);
    let reasons: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(reasons, ["invalid_value", "not_json", "wrong_type"]);

    // Writes are refused, with a reason, and exit non-zero.
    let (code, _, err) = run(&lake, &["sql", "DROP TABLE events"]);
    assert_eq!(code, 1);
    assert!(err.contains("refused"), "{err}");

    let (code, out, err) = run(&lake, &["rollup"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 day(s) rebuilt"), "{out}");
    let (_, out, _) = run(&lake, &["rollup"]);
    assert!(
        out.contains("0 day(s) rebuilt") && out.contains("1 already up to date"),
        "{out}"
    );

    for source in [&[][..], &["--rollups"][..]] {
        let mut args = vec![
            "report",
            "traffic",
            "--from",
            "2024-06-11",
            "--to",
            "2024-06-12",
            "--by",
            "gateway",
            "--format",
            "json",
        ];
        args.extend_from_slice(source);
        let (code, out, err) = run(&lake, &args);
        assert_eq!(code, 0, "{err}");
        let rows: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 9, "{out}");
        let apisix = rows.iter().find(|r| r["group"][0] == "apisix").unwrap();
        assert_eq!(apisix["calls"], 2);
        assert_eq!(apisix["errors_4xx"], 1);
        let traefik = rows.iter().find(|r| r["group"][0] == "traefik").unwrap();
        assert_eq!(traefik["errors_5xx"], 1);
    }
    let (code, _, err) = run(
        &lake,
        &[
            "report",
            "traffic",
            "--from",
            "2024-06-12",
            "--to",
            "2024-06-11",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("after"), "{err}");
}
