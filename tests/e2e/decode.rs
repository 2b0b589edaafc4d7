//! `tollgate decode` on the bundled sample of every gateway format.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use crate::{repo_file, tollgate};

fn run_decode(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut cmd = tollgate();
    cmd.arg("decode").args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tollgate runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn sample_decodes_every_gateway_and_reports_bad_lines() {
    let sample = repo_file("samples/gateways.log");
    let (code, out, err) = run_decode(&[sample.to_str().unwrap()], None);
    assert_eq!(code, 0, "stderr: {err}");
    let events = json_lines(&out);
    // 9 single-event lines plus an APISIX batch of two.
    assert_eq!(events.len(), 10);
    let gateways: BTreeSet<&str> = events
        .iter()
        .map(|e| e["gateway"].as_str().unwrap())
        .collect();
    let all = [
        "apisix",
        "aws",
        "canonical",
        "clf",
        "envoy",
        "kong",
        "nginx",
        "traefik",
        "tyk",
    ];
    assert_eq!(gateways, all.into_iter().collect());
    for e in &events {
        let ts = e["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2024-06-11T13:04:05.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
    let rejects = json_lines(&err);
    let lines: Vec<u64> = rejects
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![10, 11, 12]);
    let reasons: Vec<&str> = rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["wrong_type", "not_json", "invalid_value"]);
    assert!(
        rejects[2]["raw"]
            .as_str()
            .unwrap()
            .contains("responseLatency")
    );
}

#[test]
fn canonical_output_round_trips_unchanged_through_stdin() {
    let sample = repo_file("samples/gateways.log");
    let (_, first, _) = run_decode(&[sample.to_str().unwrap()], None);
    let (code, second, err) = run_decode(&["--format", "canonical", "-"], Some(first.as_bytes()));
    assert_eq!(code, 0);
    assert_eq!(err, "");
    assert_eq!(second, first);
}

#[test]
fn forced_format_rejects_other_shapes() {
    let sample = repo_file("samples/gateways.log");
    let (code, out, err) = run_decode(&["--format", "kong", sample.to_str().unwrap()], None);
    assert_eq!(code, 0);
    // Only the Kong line decodes as Kong; every other line is rejected,
    // none silently dropped (the batch line yields one reject per element).
    assert_eq!(json_lines(&out).len(), 1);
    assert_eq!(json_lines(&err).len(), 12);
}

#[test]
fn usage_errors_exit_non_zero() {
    let (code, _, err) = run_decode(&["/nonexistent/file.log"], None);
    assert_ne!(code, 0);
    assert!(err.contains("cannot open"), "{err}");
    let (code, _, err) = run_decode(&["--format", "haproxy"], Some(b""));
    assert_ne!(code, 0);
    assert!(err.contains("unknown format"), "{err}");
}
