//! `tollgate ingest` against a real broker: exactly once through restarts,
//! kill -9, rebalances, bad input and group resets.
//!
//! The oracle is always what was produced (partition, offset, request id),
//! never the lake's own bookkeeping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::broker::Broker;
use crate::lake::{all_files, read_lake};
use crate::{heavy, tollgate};

const PARTITIONS: i32 = 4;
/// 2024-06-11T00:00:00Z: messages are spread over several days so flushes
/// span several date partitions.
const BASE_MS: i64 = 1_718_064_000_000;

/// What one produced message should become.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Event(String),
    Reject(&'static str),
}

/// Message `i`: a valid record of one of several gateways with a unique
/// request id, or (when `bad_every` divides i) a bad message of a rotating kind.
fn message(i: usize, bad_every: usize) -> (Vec<u8>, Expect) {
    if bad_every > 0 && i % bad_every == bad_every - 1 {
        let kind = (i / bad_every) % 6;
        return match kind {
            0 => (b"this is not json".to_vec(), Expect::Reject("not_json")),
            1 => (
                br#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/tru"#.to_vec(),
                Expect::Reject("not_json"),
            ),
            2 => (vec![b'{', 0xff, 0xfe, b'}'], Expect::Reject("invalid_utf8")),
            3 => (
                format!(r#"{{"started_at":{},"request":{{"method":"GET"}},"response":{{"status":"OK"}}}}"#, BASE_MS)
                    .into_bytes(),
                Expect::Reject("wrong_type"),
            ),
            4 => (vec![b'x'; 70_000], Expect::Reject("oversized")),
            _ => (
                br#"{"event_id":"future-1","ts":"2099-01-01T00:00:00.000Z","gateway":"canonical"}"#.to_vec(),
                Expect::Reject("future_timestamp"),
            ),
        };
    }
    let id = format!("req-{i:08}");
    let ts = BASE_MS + (i as i64) * 97_000;
    let line = match i % 4 {
        0 => format!(
            r#"{{"request":{{"id":"{id}","method":"GET","uri":"/v1/pets/{i}?x=1","size":120}},"response":{{"status":200,"size":900}},"route":{{"name":"pets"}},"service":{{"name":"petstore"}},"consumer":{{"id":"c-{c}","username":"cust{c}"}},"latencies":{{"request":{lat},"proxy":{up},"kong":1}},"client_ip":"10.0.0.{c}","started_at":{ts}}}"#,
            c = i % 7,
            lat = 5 + i % 50,
            up = 3 + i % 40
        ),
        1 => format!(
            r#"{{"start_time":"{t}","method":"POST","path":"/orders?id={i}","response_code":{s},"bytes_received":10,"bytes_sent":20,"duration":{d},"upstream_service_time":"{u}","request_id":"{id}","upstream_cluster":"orders","downstream_remote_address":"[2001:db8::{h:x}]:443","route_name":"orders"}}"#,
            t = chrono_ts(ts),
            s = if i % 10 == 1 { 503 } else { 201 },
            d = 7 + i % 30,
            u = 5 + i % 20,
            h = i % 200
        ),
        2 => format!(
            r#"{{"requestId":"{id}","requestTimeEpoch":"{ts}","httpMethod":"GET","resourcePath":"/items/{{id}}","path":"/prod/items/{i}","status":"200","responseLatency":"{l}","integrationLatency":"-","apiId":"abc","apiKeyId":"key-{k}","ip":"192.0.2.{k}","responseLength":"55"}}"#,
            l = 3 + i % 90,
            k = i % 11
        ),
        _ => format!(
            r#"{{"event_id":"{id}","ts":"{t}","gateway":"canonical","consumer":"c-{c}","api":"search","method":"GET","path":"/s","status":200,"latency_ms":{l}.5}}"#,
            t = chrono_ts(ts),
            c = i % 5,
            l = i % 100
        ),
    };
    (line.into_bytes(), Expect::Event(id))
}

/// Message `i` for the import tests: the line and whether it is an event.
pub fn message_for_import(i: usize) -> (Vec<u8>, bool) {
    let (line, e) = message(i, 20);
    // Oversized lines are capped by the import too; keep lines unbroken.
    (line, matches!(e, Expect::Event(_)))
}

fn chrono_ts(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The produced workload: per partition, the expectation of each offset.
struct Workload {
    topic: String,
    expect: BTreeMap<(i32, i64), Expect>,
}

/// Plans `n` messages round-robin over the partitions of a new topic:
/// the expectation per offset, and the records to send in that order.
fn plan(
    broker: &Broker,
    topic: &str,
    n: usize,
    bad_every: usize,
) -> (Workload, Vec<(i32, Vec<u8>)>) {
    broker.create_topic(topic, PARTITIONS as u32);
    let mut records = Vec::with_capacity(n);
    let mut next = [0i64; PARTITIONS as usize];
    let mut expect = BTreeMap::new();
    for i in 0..n {
        let p = (i % PARTITIONS as usize) as i32;
        let (payload, e) = message(i, bad_every);
        records.push((p, payload));
        expect.insert((p, next[p as usize]), e);
        next[p as usize] += 1;
    }
    let w = Workload {
        topic: topic.into(),
        expect,
    };
    (w, records)
}

fn produce(broker: &Broker, topic: &str, n: usize, bad_every: usize) -> Workload {
    let (w, records) = plan(broker, topic, n, bad_every);
    broker.produce(topic, &records);
    w
}

/// Produces `records` in slices over about `spread`, from a thread, so
/// that ingestors are started and stopped while data is still arriving.
fn produce_slowly(
    broker: &Broker,
    topic: &str,
    records: Vec<(i32, Vec<u8>)>,
    spread: Duration,
) -> std::thread::JoinHandle<()> {
    let addr = broker.addr.clone();
    let topic = topic.to_string();
    let slices = 20;
    std::thread::spawn(move || {
        let per = records.len().div_ceil(slices);
        for chunk in records.chunks(per) {
            crate::broker::produce_to(&addr, &topic, chunk);
            std::thread::sleep(spread / slices as u32);
        }
    })
}

/// A small deterministic random sequence (the seed is printed, so a failure
/// can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn seed() -> u64 {
    let s = std::env::var("TOLLGATE_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("random seed {s} (set TOLLGATE_TEST_SEED={s} to replay)");
    s
}

fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// No temporary or partial file is where readers look, and every file there
/// is complete Parquet (read_lake panics otherwise); no row is duplicated.
fn assert_lake_consistent(lake: &Path) {
    let rows = read_lake(lake);
    assert!(
        rows.dup_keys.is_empty(),
        "duplicated rows: {:?}",
        &rows.dup_keys[..rows.dup_keys.len().min(10)]
    );
}

/// Files of one partition never overlap in offsets within a table and date,
/// and across dates a range is either the same flush or disjoint.
fn assert_no_overlapping_ranges(lake: &Path) {
    let mut ranges: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for table in ["events", "quarantine"] {
        for path in all_files(&lake.join(table)) {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
            let (last, first, partition) = (parts[0], parts[1], parts[2]);
            let date = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            ranges
                .entry((format!("{table}/{date}"), partition.to_string()))
                .or_default()
                .push((first.parse().unwrap(), last.parse().unwrap()));
        }
    }
    let mut all: BTreeMap<String, BTreeSet<(i64, i64)>> = BTreeMap::new();
    for ((_, partition), mut rs) in ranges {
        rs.sort();
        for w in rs.windows(2) {
            assert!(
                w[0].1 < w[1].0,
                "overlapping files in partition {partition}: {:?} and {:?}",
                w[0],
                w[1]
            );
        }
        all.entry(partition).or_default().extend(rs);
    }
    for (partition, rs) in all {
        let rs: Vec<_> = rs.into_iter().collect();
        for w in rs.windows(2) {
            assert!(
                w[0].1 < w[1].0,
                "partition {partition}: flushes {:?} and {:?} overlap",
                w[0],
                w[1]
            );
        }
    }
}

/// Writes a config file for an ingestor of `topic` in `group` into `lake`.
fn config(
    dir: &Path,
    broker: &Broker,
    topic: &str,
    group: &str,
    lake: &Path,
    max_rows: usize,
) -> PathBuf {
    config_at(
        dir,
        broker,
        topic,
        group,
        &lake.display().to_string(),
        max_rows,
    )
}

/// Like [`config`] with any lake location (`s3://…`).
fn config_at(
    dir: &Path,
    broker: &Broker,
    topic: &str,
    group: &str,
    lake: &str,
    max_rows: usize,
) -> PathBuf {
    let path = dir.join(format!("{group}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[lake]
location = "{lake}"

[kafka]
brokers = "{addr}"
topics = ["{topic}"]
group = "{group}"

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"

[ingest]
max_rows = {max_rows}
max_latency_ms = 300
max_message_bytes = 65536
"#,
            addr = broker.addr,
        ),
    )
    .unwrap();
    path
}

fn spawn_ingest(config: &Path, once: bool, log: &Path) -> Child {
    spawn_ingest_env(config, once, log, &[])
}

fn spawn_ingest_env(config: &Path, once: bool, log: &Path, env: &[(&str, String)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = tollgate();
    cmd.arg("ingest").arg("--config").arg(config);
    if once {
        cmd.arg("--once");
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd.env("RUST_LOG", "info,rdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tollgate ingest starts")
}

fn run_once(config: &Path, log: &Path) {
    run_once_env(config, log, &[]);
}

fn run_once_env(config: &Path, log: &Path, env: &[(&str, String)]) {
    let mut child = spawn_ingest_env(config, true, log, env);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "ingest --once failed ({status}); log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "ingest --once did not finish in 300 s; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts the lake holds exactly the workload: every produced offset once,
/// as the event or reject it should be, nothing else.
fn assert_exactly_once(lake: &Path, w: &Workload) {
    let rows = read_lake(lake);
    assert!(
        rows.dup_keys.is_empty(),
        "duplicated rows: {:?}",
        &rows.dup_keys[..rows.dup_keys.len().min(10)]
    );
    let mut seen = BTreeSet::new();
    for ((topic, p, off, _), id) in &rows.events {
        assert_eq!(topic, &w.topic);
        match w.expect.get(&(*p, *off)) {
            Some(Expect::Event(want)) => assert_eq!(id, want, "event at {p}/{off}"),
            other => panic!("event at {p}/{off} where {other:?} was produced"),
        }
        seen.insert((*p, *off));
    }
    for ((_, p, off, _), reason) in &rows.quarantine {
        match w.expect.get(&(*p, *off)) {
            Some(Expect::Reject(want)) => assert_eq!(reason, want, "reject at {p}/{off}"),
            other => panic!("reject {reason} at {p}/{off} where {other:?} was produced"),
        }
        assert!(
            seen.insert((*p, *off)),
            "offset {p}/{off} is both an event and a reject"
        );
    }
    let missing: Vec<_> = w
        .expect
        .keys()
        .filter(|k| !seen.contains(k))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "offsets lost: {missing:?} (of {} produced, {} found)",
        w.expect.len(),
        seen.len()
    );
    assert_eq!(seen.len(), w.expect.len());
    // accepted + quarantined = consumed, exactly.
    let accepted = w
        .expect
        .values()
        .filter(|e| matches!(e, Expect::Event(_)))
        .count();
    assert_eq!(rows.events.len(), accepted);
    assert_eq!(rows.quarantine.len(), w.expect.len() - accepted);
    crate::lake::assert_delta_matches(lake);
    eprintln!(
        "lake holds {} events and {} rejects in {} files for {} produced messages",
        rows.events.len(),
        rows.quarantine.len(),
        rows.files.len(),
        w.expect.len()
    );
}

fn lake_file_count(lake: &Path) -> usize {
    all_files(&lake.join("events")).len() + all_files(&lake.join("quarantine")).len()
}

#[test]
fn kafka_to_lake_exactly_once_with_bad_input_restart_and_group_reset() {
    let _serial = heavy();
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // 6% bad messages of six kinds.
    let w = produce(&broker, "gw-e2e", 3000, 17);
    let log = dir.path().join("ingest.log");
    let cfg = config(dir.path(), &broker, &w.topic, "g1", &lake, 250);
    run_once(&cfg, &log);
    assert_exactly_once(&lake, &w);

    // A restart with nothing new adds nothing.
    let files = lake_file_count(&lake);
    run_once(&cfg, &log);
    assert_eq!(lake_file_count(&lake), files);
    assert_exactly_once(&lake, &w);

    // A new group (what a group offset reset looks like to Tollgate) re-reads
    // the topic from the start, and the lake's markers turn that into zero rows.
    let cfg2 = config(dir.path(), &broker, &w.topic, "g-reset", &lake, 250);
    run_once(&cfg2, &log);
    assert_eq!(lake_file_count(&lake), files);
    assert_exactly_once(&lake, &w);
}

#[test]
fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let _serial = heavy();
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (w, records) = plan(&broker, "gw-crash", 16_000, 50);
    let producer = produce_slowly(&broker, &w.topic, records, Duration::from_secs(30));
    let cfg = config(dir.path(), &broker, &w.topic, "crashy", &lake, 200);
    let log = dir.path().join("ingest.log");
    let mut rng = Lcg(seed());
    for round in 0..20 {
        let mut child = spawn_ingest(&cfg, false, &log);
        std::thread::sleep(Duration::from_millis(500 + rng.next(2500)));
        signal(&child, "KILL");
        let _ = child.wait();
        assert_lake_consistent(&lake);
        eprintln!("round {round}: killed; lake consistent");
    }
    producer.join().unwrap();
    // The kills happened while ingesting: rows reached the lake between them.
    let before = read_lake(&lake);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!(
        "after 20 kills: {} rows in the lake; {} interrupted flushes undone",
        before.events.len() + before.quarantine.len(),
        log_text.matches("interrupted before it committed").count()
    );
    assert!(
        !before.events.is_empty(),
        "no progress between kills; log:\n{log_text}"
    );
    // The last run joins a fresh group: tansu 0.6 can keep members that were
    // killed in the middle of a join in the group indefinitely (Apache Kafka
    // evicts them after session.timeout.ms), and the range assignor keeps
    // giving them partitions. The lake, not the group, says where each
    // partition resumes, so a new group is the same test of exactly-once.
    let final_cfg = config(dir.path(), &broker, &w.topic, "crashy-final", &lake, 200);
    run_once(&final_cfg, &log);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: Vec<&str> = log_text.lines().rev().take(30).collect();
    eprintln!(
        "log tail:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert_exactly_once(&lake, &w);
    assert_no_overlapping_ranges(&lake);
}

#[test]
fn rebalances_between_members_keep_exactly_once() {
    let _serial = heavy();
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (w, records) = plan(&broker, "gw-rebalance", 16_000, 40);
    let producer = produce_slowly(&broker, &w.topic, records, Duration::from_secs(25));
    let cfg = config(dir.path(), &broker, &w.topic, "shared", &lake, 300);
    let log = dir.path().join("ingest.log");
    let mut rng = Lcg(seed());
    let mut members: Vec<Child> = (0..3).map(|_| spawn_ingest(&cfg, false, &log)).collect();
    for step in 0..8 {
        std::thread::sleep(Duration::from_millis(1500 + rng.next(2000)));
        if members.len() > 1 && (rng.next(2) == 0 || members.len() == 3) {
            let victim = members.remove(rng.next(members.len() as u64) as usize);
            // Graceful leave: flush, commit, exit 0.
            signal(&victim, "TERM");
            let status = wait_exit(victim, Duration::from_secs(60));
            assert!(
                status.success(),
                "a member stopped with SIGTERM exited {status}"
            );
            eprintln!("step {step}: one member left ({} running)", members.len());
        } else {
            members.push(spawn_ingest(&cfg, false, &log));
            eprintln!("step {step}: one member joined ({} running)", members.len());
        }
        assert_lake_consistent(&lake);
    }
    producer.join().unwrap();
    for m in members.drain(..) {
        signal(&m, "TERM");
        let status = wait_exit(m, Duration::from_secs(60));
        assert!(status.success());
    }
    // Partitions really moved between members.
    let assignments = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("partition assigned")
        .count();
    eprintln!("{assignments} partition assignments over the run");
    assert!(
        assignments > 2 * PARTITIONS as usize,
        "only {assignments} assignments: no rebalance happened"
    );
    // As in the crash test, the check runs in a fresh group: tansu 0.6 can
    // leave departed members in a group and stall its next join.
    let final_cfg = config(dir.path(), &broker, &w.topic, "shared-final", &lake, 300);
    run_once(&final_cfg, &log);
    assert_exactly_once(&lake, &w);
    assert_no_overlapping_ranges(&lake);
}

fn wait_exit(mut child: Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a member did not exit within {within:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kafka_to_s3_compatible_lake_exactly_once() {
    let _serial = heavy();
    let s3 = crate::s3::S3Server::start();
    s3.create_bucket("lake");
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let w = produce(&broker, "gw-s3", 2000, 17);
    let cfg = config_at(
        dir.path(),
        &broker,
        &w.topic,
        "s3",
        "s3://lake/tollgate",
        300,
    );
    let log = dir.path().join("ingest.log");
    run_once_env(&cfg, &log, &s3.env());
    // A restart adds nothing there either.
    run_once_env(&cfg, &log, &s3.env());
    let local = dir.path().join("copy");
    s3.download("lake", "tollgate/", &local);
    assert!(
        local.join("_tollgate/offsets/gw-s3").exists(),
        "markers live in the bucket too"
    );
    assert_exactly_once(&local, &w);
}

#[test]
fn a_lake_position_outside_the_topic_stops_ingest_instead_of_skipping() {
    let _serial = heavy();
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let w = produce(&broker, "gw-gap", 40, 0);
    // The lake says partition 0 resumes far beyond anything the broker holds
    // (what a retention gap looks like from the other side).
    let marker = lake.join("_tollgate/offsets/gw-gap/0.json");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(
        &marker,
        r#"{"version":1,"topic":"gw-gap","partition":0,"first_offset":0,"next_offset":1000000,"files":[],
            "messages":0,"events":0,"rejects":0,"total_messages":0,"total_events":0,"total_rejects":0,
            "committed_at":"2024-06-11T00:00:00Z"}"#,
    )
    .unwrap();
    let cfg = config(dir.path(), &broker, &w.topic, "gap", &lake, 100);
    let log = dir.path().join("ingest.log");
    let mut child = spawn_ingest(&cfg, true, &log);
    let status = wait_exit_any(&mut child, Duration::from_secs(120));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !status.success(),
        "ingest should stop with an error; log:\n{text}"
    );
    assert!(
        text.contains("outside the topic's retained offsets"),
        "log:\n{text}"
    );
    assert!(text.contains("gw-gap/0"), "log:\n{text}");
}

fn wait_exit_any(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ingest did not stop within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
