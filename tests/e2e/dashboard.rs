//! `tollgate serve` in a real browser: a lake filled by `tollgate import`
//! and `tollgate rollup`, the server started as its own process on a free
//! loopback port, and Debian's headless Chromium loading each page (after
//! its script ran) to check that charts and tables show the fixture's
//! numbers, following the consumer link, running SQL through the console,
//! and taking screenshots. SIGTERM then stops the server cleanly.
//!
//! Screenshots go to the test's temporary folder, or to
//! `$E2E_SCREENSHOTS` when set (kept there).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tollgate;

const CHROMIUM: &str = "chromium";

/// One fixture event: (hour after 2024-06-11T00:00Z, minute, consumer,
/// route, status, latency ms).
type Event = (u32, u32, &'static str, &'static str, u16, f64);

/// 48 hours of traffic: 3 to 7 calls an hour, three consumers, two
/// routes, some 4xx and 5xx; no call at all in hour 20.
fn events() -> Vec<Event> {
    let mut out = Vec::new();
    for h in 0..48u32 {
        if h == 20 {
            continue;
        }
        for i in 0..(3 + h % 5) {
            let consumer = ["acme", "acme", "globex", "acme", "initech"][(i % 5) as usize];
            let route = if (h + i) % 3 == 0 {
                "orders-create"
            } else {
                "pets-list"
            };
            let status = match (h * 3 + i) % 11 {
                0 => 503,
                1 | 2 => 404,
                _ => 200,
            };
            let latency = 8.0 + f64::from((h * 17 + i * 29) % 90);
            out.push((h, i * 7 + 1, consumer, route, status, latency));
        }
    }
    out
}

fn canonical_line(n: usize, e: &Event) -> String {
    let (h, m, consumer, route, status, latency) = *e;
    let (day, hour) = (11 + h / 24, h % 24);
    let (api, path, method) = if route == "orders-create" {
        ("orders", "/v2/orders", "POST")
    } else {
        ("petstore", "/v1/pets", "GET")
    };
    format!(
        "{{\"event_id\":\"dash-{n:05}\",\"ts\":\"2024-06-{day}T{hour:02}:{m:02}:00.000Z\",\"gateway\":\"canonical\",\
         \"consumer\":\"{consumer}\",\"api\":\"{api}\",\"route\":\"{route}\",\"path_template\":\"{path}\",\"method\":\"{method}\",\
         \"path\":\"{path}\",\"status\":{status},\"latency_ms\":{latency},\"upstream_latency_ms\":{up},\
         \"request_bytes\":120,\"response_bytes\":2048,\"client_ip\":\"203.0.113.9\"}}",
        up = latency * 0.8
    )
}

fn run_ok(args: &[&str], lake: &Path) {
    let out = tollgate()
        .args(args)
        .arg("--lake")
        .arg(lake)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tollgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The server process; killed if a test fails before stopping it.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(lake: &Path) -> Server {
    start_server_with(lake, &[])
}

/// `tollgate serve` on a free loopback port with extra environment
/// variables (`TOLLGATE_*` settings), once it logs its address.
pub(crate) fn start_server_with(lake: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = tollgate()
        .args(["serve", "--address", "127.0.0.1:0", "--lake"])
        .arg(lake)
        .env("RUST_LOG", "info")
        .env_remove("TOLLGATE_CONFIG")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, log) = address_from_log(&mut child, "listening on http://");
    assert!(
        log.contains("serving without authentication") && log.contains("loopback"),
        "an open server says so at start:\n{log}"
    );
    Server { child, addr }
}

/// Reads `child`'s standard error (kept draining in a thread) until a line
/// holds `marker`: the word after it (an address) and the log so far.
pub(crate) fn address_from_log(child: &mut std::process::Child, marker: &str) -> (String, String) {
    let stderr = child.stderr.take().unwrap();
    let wanted = marker.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let marker = wanted;
        let mut sent = false;
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
            if !sent && let Some(at) = line.find(&marker) {
                let addr = line[at + marker.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(Ok((addr, log.clone())));
                sent = true;
            }
        }
        if !sent {
            let _ = tx.send(Err(log));
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(found)) => found,
        Ok(Err(log)) => panic!("tollgate serve exited before logging {marker:?}:\n{log}"),
        Err(_) => panic!("tollgate serve did not log {marker:?} within 60 s"),
    }
}

/// A plain HTTP/1.1 GET: (status, body).
pub(crate) fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn chromium_missing() -> bool {
    Command::new(CHROMIUM)
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
}

/// Headless Chromium with the flags this machine needs (no sandbox as
/// root, no network beyond loopback, a fresh profile).
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new(CHROMIUM);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
        "--window-size=1280,1700",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The page's DOM after its scripts ran.
fn dump_dom(profile: &Path, url: &str) -> String {
    let out = chromium(profile)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

fn screenshot(profile: &Path, url: &str, file: &Path) {
    let out = chromium(profile)
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .unwrap();
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    assert!(
        out.status.success() && size > 20_000,
        "chromium --screenshot {url} ({size} bytes): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The text of `attr="…"` on the first element whose opening tag
/// contains `marker`.
fn attr_after(dom: &str, marker: &str, attr: &str) -> String {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page"));
    let start = dom[..at].rfind('<').unwrap();
    let tag_end = at + dom[at..].find('>').unwrap();
    let tag = &dom[start..tag_end];
    let key = format!("{attr}=\"");
    let v = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"));
    let rest = &tag[v + key.len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

fn int(n: usize) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn dashboard_pages_in_a_real_browser() {
    assert!(
        !chromium_missing(),
        "chromium is not installed: the dashboard's browser test needs Debian's chromium. \
         Install it with `apt-get install -y chromium` (with sudo when not root); scripts/test.sh does this"
    );
    // A browser and a server on two cores: not beside the broker tests.
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let events = events();
    let log = dir.path().join("access.log");
    let lines: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(n, e)| canonical_line(n, e))
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    run_ok(
        &["import", "--format", "canonical", log.to_str().unwrap()],
        &lake,
    );
    run_ok(&["rollup"], &lake);
    // June 2024 invoiced and finalized: acme and globex at 10 USD a month
    // plus 0.01 USD a call; initech has no subscription.
    let plans = dir.path().join("plans.toml");
    std::fs::write(
        &plans,
        "[[plan]]\nid = \"p\"\nversion = 1\ncurrency = \"USD\"\nbase_fee = \"10\"\n\
         [[plan.charge]]\nid = \"calls\"\ndescription = \"API calls\"\nmetric = \"calls\"\n\
         [plan.charge.price]\nmodel = \"per_unit\"\nunit_price = \"0.01\"\n",
    )
    .unwrap();
    let subs = dir.path().join("subscriptions.toml");
    std::fs::write(
        &subs,
        "[[subscription]]\nconsumer = \"acme\"\nplan = \"p\"\nstart = \"2024-01-01\"\n\
         [[subscription]]\nconsumer = \"globex\"\nplan = \"p\"\nstart = \"2024-01-01\"\n",
    )
    .unwrap();
    for cmd in ["run", "finalize"] {
        run_ok(
            &[
                "invoice",
                cmd,
                "--period",
                "2024-06",
                "--now",
                "2024-07-02T00:00:00Z",
                "--plans",
                plans.to_str().unwrap(),
                "--subscriptions",
                subs.to_str().unwrap(),
            ],
            &lake,
        );
    }

    // `tollgate watch` over June 11: the 5xx rule fires (any 5xx at all
    // over the day), and the Overview shows it as firing.
    let rules = dir.path().join("alerts.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"any-5xx\"\nmetric = \"error_rate_5xx\"\nwindow = \"1d\"\nabove = 0.0\n",
    )
    .unwrap();
    let out = tollgate()
        .args(["watch", "--once", "--now", "2024-06-12T00:00:00Z", "--lake"])
        .arg(&lake)
        .env("TOLLGATE_SIGNALS__ALERTS", &rules)
        .env("TOLLGATE_SIGNALS__TOPIC", "")
        .env("TOLLGATE_SIGNALS__EVALUATION_DELAY_SECS", "0")
        .env("TOLLGATE_BILLING__PLANS", dir.path().join("none.toml"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let filed: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(filed["rule"], "any-5xx");
    assert_eq!(filed["state"], "firing");

    let server = start_server(&lake);
    let base = format!("http://{}", server.addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(&server.addr, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "/readyz never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }

    let shots = std::env::var_os("E2E_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let range = "from=2024-06-11&to=2024-06-13";

    // Overview: totals, three charts with the fixture's hourly figures.
    let url = format!("{base}/overview?{range}");
    let dom = dump_dom(profile.path(), &url);
    assert!(dom.contains("data-js=\"ready\""), "the page's script ran");
    assert!(
        dom.contains(&format!(
            "data-total=\"calls\"><div class=\"label\">Calls</div><div class=\"value\">{}</div>",
            int(events.len())
        )),
        "{dom}"
    );
    for chart in ["requests", "errors", "latency"] {
        assert!(
            dom.contains(&format!("data-chart=\"{chart}\" data-slots=\"48\"")),
            "{chart}"
        );
    }
    let mut per_hour = BTreeMap::new();
    for e in &events {
        *per_hour.entry(e.0).or_insert(0usize) += usize::from(e.4 >= 500);
    }
    let want: Vec<String> = (0..48)
        .map(|h| per_hour.get(&h).copied().unwrap_or(0).to_string())
        .collect();
    assert!(
        dom.contains(&format!(
            "data-series=\"5xx\" data-values=\"{}\"",
            want.join(",")
        )),
        "5xx bars per hour"
    );
    assert!(dom.contains("time (UTC)") && dom.contains("latency (ms)"));
    assert!(
        dom.contains("<td>any-5xx</td><td>all traffic</td><td>error_rate_5xx</td>"),
        "the firing alert is listed: {dom}"
    );
    screenshot(profile.path(), &url, &shots.join("overview.png"));

    // Consumers: a sorted table; follow the first consumer's link.
    let url = format!("{base}/consumers?{range}");
    let dom = dump_dom(profile.path(), &url);
    assert!(
        dom.contains("id=\"consumers\" data-ready=\"true\""),
        "sortable table set up"
    );
    let count = |c: &str| events.iter().filter(|e| e.2 == c).count();
    for c in ["acme", "globex", "initech"] {
        assert!(
            dom.contains(&format!("data-sort=\"{}\" data-col=\"calls\"", count(c))),
            "{c}"
        );
    }
    screenshot(profile.path(), &url, &shots.join("consumers.png"));
    let href = attr_after(&dom, "class=\"consumer-link\"", "href");
    assert!(href.starts_with("/consumers/acme"), "{href}");
    let url = format!("{base}{href}");
    let dom = dump_dom(profile.path(), &url);
    assert!(dom.contains("data-consumer=\"acme\""));
    assert!(dom.contains(&format!(
        "<div class=\"label\">Calls</div><div class=\"value\">{}</div>",
        int(count("acme"))
    )));
    assert!(dom.contains("id=\"consumer-routes\""));
    screenshot(profile.path(), &url, &shots.join("consumer.png"));

    // Routes.
    let url = format!("{base}/routes?{range}");
    let dom = dump_dom(profile.path(), &url);
    let per_route = events.iter().filter(|e| e.3 == "orders-create").count();
    assert!(dom.contains(&format!(
        "<td>orders-create</td><td class=\"num\" data-sort=\"{per_route}\""
    )));
    screenshot(profile.path(), &url, &shots.join("routes.png"));

    // Invoices: the periods, then the period's invoices, then acme's.
    let url = format!("{base}/invoices");
    let dom = dump_dom(profile.path(), &url);
    assert!(dom.contains("<td>finalized</td>"), "{dom}");
    let href = attr_after(&dom, "href=\"/invoices/2024-", "href");
    assert_eq!(href, "/invoices/2024-06");
    let dom = dump_dom(profile.path(), &format!("{base}{href}"));
    assert!(dom.contains("id=\"period-csv\""), "{dom}");
    screenshot(
        profile.path(),
        &format!("{base}{href}"),
        &shots.join("invoices.png"),
    );
    let href = attr_after(&dom, "href=\"/invoices/2024-06/", "href");
    assert_eq!(href, "/invoices/2024-06/acme");
    let url = format!("{base}{href}");
    let dom = dump_dom(profile.path(), &url);
    // 10 + 0.01 × acme's calls, in cents.
    let cents = 1000 + count("acme");
    let total = format!("{}.{:02}", cents / 100, cents % 100);
    assert!(
        dom.contains("INV-2024-000001") && dom.contains(&total),
        "{total}: {dom}"
    );
    screenshot(profile.path(), &url, &shots.join("invoice.png"));
    let (status, csv) = http_get(&server.addr, "/api/invoices/2024-06.csv");
    assert_eq!(status, 200);
    assert_eq!(
        csv.lines().count(),
        5,
        "header and two lines per invoice: {csv}"
    );

    // SQL through the console page.
    let q =
        "SELECT+consumer%2C+count(*)+AS+calls+FROM+events+GROUP+BY+consumer+ORDER+BY+calls+DESC";
    let url = format!("{base}/sql?q={q}");
    let dom = dump_dom(profile.path(), &url);
    assert!(dom.contains("id=\"sql-result\""), "{dom}");
    assert!(dom.contains(&format!(
        "<tr><td>acme</td><td class=\"num\">{}</td></tr>",
        count("acme")
    )));
    assert!(dom.contains("data-rows=\"3\""));
    screenshot(profile.path(), &url, &shots.join("sql.png"));
    let (status, csv) = http_get(&server.addr, &format!("/sql/download?q={q}"));
    assert_eq!(status, 200);
    assert!(csv.contains(&format!("acme,{}", count("acme"))), "{csv}");

    // SIGTERM: the server finishes and exits 0.
    let mut server = server;
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "tollgate serve exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "tollgate serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}
