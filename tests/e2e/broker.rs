//! A real Kafka-protocol broker (tansu) as its own process on a loopback
//! port, with durable sqlite storage in a temporary folder.
//!
//! `scripts/test.sh` installs tansu; a test that needs it and cannot find
//! it fails with the command to install it, it never skips.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tests' producer settings: every replica acknowledges, and records
/// up to 4 MB pass (the oversized-message tests send some).
const PRODUCER_SETTINGS: [(&str, &str); 3] = [
    ("acks", "all"),
    ("linger.ms", "5"),
    ("message.max.bytes", "4000000"),
];

/// A running tansu broker, stopped on drop.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

fn tansu_bin() -> PathBuf {
    let bin = std::env::var_os("TANSU_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let p = PathBuf::from(home).join(".cargo/bin/tansu");
            p.exists().then_some(p)
        })
        .unwrap_or_else(|| PathBuf::from("tansu"));
    let ok = Command::new(&bin)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the tansu broker is needed for this test and was not found ({}); install it with \
         `cargo install tansu --version 0.6.0 --locked --features libsql` or run scripts/test.sh",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Broker {
        let bin = tansu_bin();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("tansu.log")).unwrap();
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("tansu starts");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {addr} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Broker {
            child,
            addr,
            bin,
            _dir: dir,
        }
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://{}", self.addr),
            ])
            .args(["--partitions", &partitions.to_string(), name])
            .output()
            .expect("tansu topic create runs");
        assert!(
            out.status.success(),
            "tansu topic create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Produces `(partition, payload)` records and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, records: &[(i32, Vec<u8>)]) {
        produce_to(&self.addr, topic, records);
    }
}

/// Produces records to the broker at `addr`, waiting for every
/// acknowledgement: the simulator's producer (`tollgate_sim::Producer`),
/// which fails when the broker did not take a record, so a test's oracle is
/// what the broker accepted.
pub fn produce_to(addr: &str, topic: &str, records: &[(i32, Vec<u8>)]) {
    let sent = tollgate_sim::produce_records(
        addr,
        &PRODUCER_SETTINGS,
        topic,
        records
            .iter()
            .map(|(p, payload)| (Some(*p), payload.as_slice())),
    )
    .unwrap_or_else(|e| panic!("producing to {topic}: {e}"));
    assert_eq!(sent, records.len() as u64);
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
