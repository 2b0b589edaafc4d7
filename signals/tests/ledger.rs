//! The signals ledger over a lake written before it moved onto
//! `tollgate_lake::JsonLedger`: the records still read, and writing them
//! again gives the same files byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use tollgate_signals::{Ledger, SignalBody};

/// Two records, a quota crossing (one target delivered, one failed) and a
/// firing alert, written by the ledger as it was.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lake")
}

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel.starts_with("_tollgate/tmp") {
                continue;
            } else if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A copy of the fixture: opening a local lake creates its temporary
/// folder, which must not land in the source tree.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, bytes) in files(&fixture()) {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    dir
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_ledger_written_before_reads_and_rewrites_byte_for_byte() {
    let dir = copy();
    let old = Ledger::open(dir.path().to_str().unwrap()).unwrap();
    let all = old.list().await.unwrap();
    assert_eq!(all.len(), 2);
    let SignalBody::Quota(q) = &all[0].signal.body else {
        panic!("{:?}", all[0].signal.body)
    };
    assert_eq!((q.consumer.as_str(), q.used), ("acme/eu", 800_123));
    assert!(all[0].pending(), "the webhook target is not done");
    assert!(all[0].targets[0].done);
    assert!(matches!(all[1].signal.body, SignalBody::Alert(_)));
    assert!(!all[1].pending());
    // The body is the exact JSON of the signal, as it was sent.
    assert_eq!(all[0].body, serde_json::to_string(&all[0].signal).unwrap());

    // Filed by day: the quota under its window's start, the alert under
    // its firing day.
    assert_eq!(
        old.list_from(Some(day("2026-10-02"))).await.unwrap().len(),
        1
    );
    let recent = old
        .recent(5, day("2026-09-01"), day("2026-10-31"))
        .await
        .unwrap();
    assert_eq!(recent[0].signal.id, all[1].signal.id, "newest first");
    assert_eq!(recent.len(), 2);
    for r in &all {
        assert!(old.contains(&r.signal).await.unwrap());
        let prefix = &r.signal.id[..6];
        assert_eq!(old.find(prefix).await.unwrap(), *r);
    }
    assert!(old.find("").await.is_err());

    // The same records written again: the same files, byte for byte.
    let fresh = tempfile::tempdir().unwrap();
    let new = Ledger::open(fresh.path().to_str().unwrap()).unwrap();
    for r in &all {
        new.put(r).await.unwrap();
    }
    let (want, got) = (files(&fixture()), files(fresh.path()));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &want {
        assert!(got[path] == *bytes, "{path} differs");
    }
}

#[tokio::test]
async fn a_damaged_record_says_what_to_do() {
    let dir = copy();
    let path = dir
        .path()
        .join("_tollgate/signals/date=2026-10-21/e2e066183e46b4afefc8b7d6.json");
    std::fs::write(&path, b"{\"signal\":").unwrap();
    let ledger = Ledger::open(dir.path().to_str().unwrap()).unwrap();
    let e = ledger.list().await.unwrap_err().to_string();
    assert!(
        e.contains("_tollgate/signals/date=2026-10-21/e2e066183e46b4afefc8b7d6.json: "),
        "{e}"
    );
    assert!(e.ends_with("; remove the file or restore it"), "{e}");
}
