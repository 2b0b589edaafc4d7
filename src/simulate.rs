//! `tollgate simulate`: realistic API-gateway traffic for demos, tests and
//! benchmarks, in every log format Tollgate decodes.
//!
//! A [`Simulator`] is built from a [`SimulatorConfig`] and yields log lines
//! ([`SimLine`], no trailing newline) in time order, each with the truth it
//! was written from ([`LineKind::Event`] carries a [`SimEvent`]), so a test
//! can check what the decoders made of it. [`write_lines`] sends the lines
//! to a file or standard output; [`produce`] sends them to a Kafka topic and
//! calls back after every few hundred messages, so a caller (the demo) can
//! hold the simulator back until the ingestor has caught up and a small
//! broker never drops anything.
//!
//! # The model
//!
//! - **Consumers** `acct-0001` … `acct-NNNN` (four digits, more past 9999)
//!   with Zipf popularity (exponent [`ZIPF_EXPONENT`]): `acct-0001` makes
//!   the most calls. Each consumer favours one API, a few send sloppy
//!   requests (more 400/422), the heaviest hit their rate limit (429).
//! - **APIs and routes**: 5 APIs and 25 routes ([`ROUTES`]) with templated
//!   paths (`/v1/orders/{id}`), each with its own latency, body sizes and
//!   popularity.
//! - **Time**: events are spread over `[end - days, end)` following a
//!   diurnal curve (a European and an American peak, a night trough),
//!   quieter weekends, slight growth over the range and hour-to-hour noise.
//!   Lines come out sorted by time, as a gateway writes them, which also
//!   keeps each imported chunk inside one day's partition.
//! - **Status**: mostly 2xx; 4xx from failed authentication (anonymous
//!   401), rate limits, unknown ids (404) and bad input; rare 5xx, plus a
//!   few 5xx bursts ("incidents", about three a week, minutes to an hour
//!   long) on one API at a time, during which that API is also slower.
//! - **Latency**: gateway overhead plus a log-normal upstream time per route
//!   with a Pareto tail; no upstream time when the gateway answers itself
//!   (401, 403, 429, an open circuit's 503); 504s wait for the 30 s timeout.
//! - **Bytes**: request headers plus a body for writes; response headers
//!   plus a log-normal body per route, small bodies for errors.
//!
//! Each line is written the way its gateway writes it, at that format's
//! resolution (Kong, Envoy, AWS and Tyk log whole milliseconds, NGINX and
//! CLF seconds with three decimals, the combined log format whole seconds
//! for its timestamp), and the [`SimEvent`] holds the values as written, so
//! decoding a line gives back exactly its event. Envoy lines carry the
//! consumer in a `consumer` field ([`ENVOY_CONSUMER_FIELD`]); an ingestor
//! attributes them only with `ingest.envoy_consumer_field = "consumer"`.
//!
//! Random numbers come from a seeded Xoshiro256++, so a seed and an end
//! time give the same lines on every platform and every run.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, LogNormal, Pareto};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use tollgate_schemas::{EpochMillis, Gateway};

/// The JSON field simulated Envoy lines carry the consumer in. Envoy's
/// default access log has no consumer; set `ingest.envoy_consumer_field`
/// (or `decode --envoy-consumer-field`) to this to attribute those calls.
pub const ENVOY_CONSUMER_FIELD: &str = "consumer";

/// The topic `tollgate ingest` reads by default, so the two meet without flags.
pub const DEFAULT_TOPIC: &str = "gateway-logs";

/// Zipf exponent of consumer popularity: with 200 consumers `acct-0001`
/// makes about 17 % of the calls and the top 20 about 60 %, the long tail
/// API products see.
pub const ZIPF_EXPONENT: f64 = 1.05;

/// Upstream timeout: what a 504 waits for, in microseconds.
const TIMEOUT_US: u64 = 30_000_000;

/// Longest latency written, in microseconds: the Pareto tail is cut at one
/// minute, where real gateways give up.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Lines remembered for `--duplicate-ratio`: a duplicate is one of the last
/// this many events, as a retrying shipper would resend.
const RECENT: usize = 256;

/// Why the simulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A setting is out of range; the message says which and what is allowed.
    #[error("{0}")]
    Invalid(String),
    /// The output could not be written.
    #[error("writing the simulated traffic: {0}")]
    Io(#[from] io::Error),
    /// The Kafka producer could not be created or used.
    #[error("kafka producer for {brokers}: {source}; check --brokers")]
    Kafka {
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Some messages were not acknowledged by the brokers.
    #[error(
        "{failed} of {sent} messages to topic {topic} were not acknowledged by the brokers (last error: {last_error}); the topic is incomplete, run again"
    )]
    Delivery {
        /// The topic.
        topic: String,
        /// Messages handed to the producer.
        sent: u64,
        /// Messages the brokers did not acknowledge.
        failed: u64,
        /// The last delivery error seen.
        last_error: String,
    },
}

/// Which gateway formats the lines are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatewayMix {
    /// Every line picks one of the nine formats at random, so one stream
    /// exercises every decoder (what `tollgate import --format auto` and
    /// an ingestor on a shared topic see).
    #[default]
    Mixed,
    /// Every line in this gateway's format.
    Only(Gateway),
}

impl FromStr for GatewayMix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("mixed") {
            return Ok(GatewayMix::Mixed);
        }
        Gateway::ALL
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(s))
            .map(GatewayMix::Only)
            .ok_or_else(|| {
                let names: Vec<&str> = Gateway::ALL.iter().map(|g| g.as_str()).collect();
                format!(
                    "unknown format {s:?}; use mixed or one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What to simulate. [`SimulatorConfig::validate`] checks the ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Lines to write in total: events, bad lines and duplicates together.
    pub events: u64,
    /// Number of consumers, `acct-0001` … (at least 1).
    pub consumers: u32,
    /// Length of the simulated time range, in days (at least 1).
    pub days: u32,
    /// End of the simulated time range, exclusive.
    pub end: EpochMillis,
    /// The formats lines are written in.
    pub format: GatewayMix,
    /// Seed of every random choice: the same seed and end give the same lines.
    pub seed: u64,
    /// Fraction of lines (0..=1) that are malformed and must be quarantined.
    pub bad_ratio: f64,
    /// Fraction of lines (0..=1) that repeat a recent line byte for byte.
    pub duplicate_ratio: f64,
}

impl Default for SimulatorConfig {
    /// A million lines over the 35 days up to now (enough for a full
    /// previous month to invoice), 200 consumers, mixed formats, seed 1.
    fn default() -> Self {
        SimulatorConfig {
            events: 1_000_000,
            consumers: 200,
            days: 35,
            end: EpochMillis(Utc::now().timestamp_millis()),
            format: GatewayMix::Mixed,
            seed: 1,
            bad_ratio: 0.0,
            duplicate_ratio: 0.0,
        }
    }
}

impl SimulatorConfig {
    /// Checks the ranges before anything runs.
    pub fn validate(&self) -> Result<(), SimulateError> {
        let bad = |m: String| Err(SimulateError::Invalid(m));
        if self.consumers == 0 {
            return bad("--consumers must be at least 1".into());
        }
        if self.days == 0 || self.days > 3650 {
            return bad(format!("--days is {}; use 1 to 3650 days", self.days));
        }
        for (name, v) in [
            ("--bad-ratio", self.bad_ratio),
            ("--duplicate-ratio", self.duplicate_ratio),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} is {v}; use a fraction from 0 to 1"));
            }
        }
        if self.bad_ratio + self.duplicate_ratio > 1.0 {
            return bad(format!(
                "--bad-ratio + --duplicate-ratio is {}; together they must not exceed 1",
                self.bad_ratio + self.duplicate_ratio
            ));
        }
        if self.start().0 < 0 {
            return bad("--end minus --days is before 1970; move --end later".into());
        }
        Ok(())
    }

    /// Start of the simulated time range, inclusive.
    pub fn start(&self) -> EpochMillis {
        EpochMillis(self.end.0 - i64::from(self.days) * 86_400_000)
    }
}

/// Flags of `tollgate simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Lines to write: events, plus the bad and duplicate lines asked for.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Number of consumers, acct-0001 (the busiest) to acct-NNNN.
    #[arg(long, default_value_t = 200)]
    pub consumers: u32,
    /// Days of simulated time the events are spread over, ending at --end.
    #[arg(long, default_value_t = 35)]
    pub days: u32,
    /// End of the simulated time (exclusive): YYYY-MM-DD (midnight UTC) or
    /// RFC 3339. Default: now.
    #[arg(long)]
    pub end: Option<String>,
    /// mixed (every line a random gateway format), or kong, apisix, envoy,
    /// aws, tyk, traefik, nginx, clf, canonical.
    #[arg(long, short, default_value = "mixed")]
    pub format: GatewayMix,
    /// Seed for every random choice: same seed and --end, same lines.
    /// Default: a random seed (logged, to repeat a run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction of malformed lines (0 to 1), to see the quarantine at work.
    #[arg(long, default_value_t = 0.0)]
    pub bad_ratio: f64,
    /// Fraction of lines (0 to 1) that resend a recent line unchanged, as a
    /// retrying log shipper does.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_ratio: f64,
    /// Write to this file instead of standard output (newline-delimited).
    #[arg(long, short, conflicts_with = "brokers")]
    pub out: Option<PathBuf>,
    /// Produce to Kafka instead: bootstrap brokers, host:port[,host:port].
    #[arg(long)]
    pub brokers: Option<String>,
    /// The Kafka topic (with --brokers); default gateway-logs, the topic
    /// `tollgate ingest` reads by default.
    #[arg(long, requires = "brokers")]
    pub topic: Option<String>,
    /// Lines per second of wall-clock time; default: as fast as possible.
    #[arg(long)]
    pub rate: Option<f64>,
}

impl SimulateArgs {
    /// The configuration these flags describe; `now` is the default end.
    pub fn config(&self, now: DateTime<Utc>) -> Result<SimulatorConfig, SimulateError> {
        let end = match self.end.as_deref() {
            None => now,
            Some(s) => parse_end(s)?,
        };
        let seed = self.seed.unwrap_or_else(|| {
            // Not reproducible by design; the seed is logged so it can be.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        });
        let cfg = SimulatorConfig {
            events: self.events,
            consumers: self.consumers,
            days: self.days,
            end: EpochMillis(end.timestamp_millis()),
            format: self.format,
            seed,
            bad_ratio: self.bad_ratio,
            duplicate_ratio: self.duplicate_ratio,
        };
        cfg.validate()?;
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(SimulateError::Invalid(format!(
                "--rate is {r}; give a positive number of lines per second, or leave it out for full speed"
            )));
        }
        Ok(cfg)
    }
}

fn parse_end(s: &str) -> Result<DateTime<Utc>, SimulateError> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            SimulateError::Invalid(format!(
                "--end {s:?} is not YYYY-MM-DD or an RFC 3339 time such as 2024-06-30T00:00:00Z"
            ))
        })
}

/// Runs `tollgate simulate`: lines to Kafka, a file or standard output.
/// Returns the number of lines written.
pub fn run(args: SimulateArgs) -> Result<u64, SimulateError> {
    let cfg = args.config(Utc::now())?;
    tracing::info!(
        seed = cfg.seed,
        start = %cfg.start(),
        end = %cfg.end,
        lines = cfg.events,
        "simulating gateway traffic"
    );
    let mut sim = Simulator::new(cfg)?;
    let started = Instant::now();
    if let Some(brokers) = args.brokers {
        let target = KafkaTarget {
            brokers,
            topic: args.topic.unwrap_or_else(|| DEFAULT_TOPIC.into()),
            rate: args.rate,
        };
        let mut last_log = Instant::now();
        let report = produce(&mut sim, &target, |p| {
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
                tracing::info!(sent = p.sent, delivered = p.delivered, "producing");
            }
            true
        })?;
        tracing::info!(
            lines = report.sent,
            topic = target.topic,
            seconds = started.elapsed().as_secs_f64(),
            "produced"
        );
        return Ok(report.sent);
    }
    let written = match args.out {
        Some(path) => {
            let file = File::create(&path).map_err(|e| {
                SimulateError::Invalid(format!("cannot create {}: {e}", path.display()))
            })?;
            write_lines(&mut sim, BufWriter::with_capacity(1 << 20, file), args.rate)?
        }
        None => match write_lines(
            &mut sim,
            BufWriter::with_capacity(1 << 20, io::stdout().lock()),
            args.rate,
        ) {
            // `tollgate simulate | head` is a normal way to stop it.
            Err(SimulateError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => sim.emitted(),
            other => other?,
        },
    };
    tracing::info!(
        lines = written,
        seconds = started.elapsed().as_secs_f64(),
        "simulated"
    );
    Ok(written)
}

/// Writes every remaining line of `sim` to `out`, one per line, at most
/// `rate` lines per second of wall-clock time. Returns the lines written.
pub fn write_lines(
    sim: &mut Simulator,
    mut out: impl Write,
    rate: Option<f64>,
) -> Result<u64, SimulateError> {
    let mut buf = Vec::with_capacity(1024);
    let mut pacer = Pacer::new(rate);
    let mut n = 0u64;
    while sim.next_into(&mut buf).is_some() {
        buf.push(b'\n');
        out.write_all(&buf)?;
        n += 1;
        pacer.wait(n, || out.flush())?;
    }
    out.flush()?;
    Ok(n)
}

/// Holds a loop to a rate: `wait(n)` sleeps until `n` lines are due.
struct Pacer {
    rate: Option<f64>,
    start: Instant,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Self {
        Pacer {
            rate,
            start: Instant::now(),
        }
    }

    /// Sleeps until line `n` is due, calling `before_sleep` first (to flush
    /// what is buffered, so a reader sees lines as they are paced). Returns
    /// whether it slept.
    fn wait(&mut self, n: u64, before_sleep: impl FnOnce() -> io::Result<()>) -> io::Result<bool> {
        let Some(rate) = self.rate else {
            return Ok(false);
        };
        let due = self.start + Duration::from_secs_f64(n as f64 / rate);
        let now = Instant::now();
        // Sleeping for less than a couple of milliseconds costs more than
        // it evens out; the next line catches up.
        if due <= now + Duration::from_millis(2) {
            return Ok(false);
        }
        before_sleep()?;
        std::thread::sleep(due - now);
        Ok(true)
    }
}

/// Where [`produce`] sends lines.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaTarget {
    /// Bootstrap brokers, `host:port[,host:port]`.
    pub brokers: String,
    /// The topic; partitions are chosen by librdkafka (no key, as gateway
    /// log plugins send).
    pub topic: String,
    /// Lines per second of wall-clock time; `None` for as fast as the
    /// brokers take them.
    pub rate: Option<f64>,
}

/// Progress of [`produce`], given to its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProduceProgress {
    /// Lines handed to the producer so far.
    pub sent: u64,
    /// Lines the brokers acknowledged so far (≤ `sent`): what an ingestor
    /// can have read.
    pub delivered: u64,
    /// Lines the brokers refused so far (any is an error at the end).
    pub failed: u64,
}

/// What [`produce`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceReport {
    /// Lines sent and acknowledged.
    pub sent: u64,
    /// True when the callback stopped the run before the simulator ran out.
    pub stopped: bool,
}

/// How often [`produce`] calls its callback, in lines: often enough that a
/// caller pacing by an ingestor's progress overshoots a window by little,
/// rarely enough to cost nothing.
pub const PROGRESS_EVERY: u64 = 500;

/// Counts delivery reports on librdkafka's thread.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.to_string());
                }
            }
        }
    }
}

/// Produces the simulator's remaining lines to a Kafka topic, one message
/// per line, and waits until the brokers have acknowledged every one.
///
/// `progress` is called every [`PROGRESS_EVERY`] lines and once at the
/// end; it may block (to wait for an ingestor: nothing more is sent while
/// it does) and returns `false` to stop early (the lines already sent are
/// still flushed). Any line the brokers did not acknowledge is an error:
/// a caller relying on every line arriving learns that it did not.
pub fn produce(
    sim: &mut Simulator,
    target: &KafkaTarget,
    mut progress: impl FnMut(&ProduceProgress) -> bool,
) -> Result<ProduceReport, SimulateError> {
    let kafka = |source| SimulateError::Kafka {
        brokers: target.brokers.clone(),
        source,
    };
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", &target.brokers)
        // Idempotence: librdkafka retries without duplicating or reordering,
        // so what the ingestor sees is exactly what was simulated.
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("message.timeout.ms", "120000")
        .create_with_context(Deliveries::default())
        .map_err(kafka)?;
    let counts = |p: &ThreadedProducer<Deliveries>, sent| ProduceProgress {
        sent,
        delivered: p.context().delivered.load(Ordering::Relaxed),
        failed: p.context().failed.load(Ordering::Relaxed),
    };
    let mut buf = Vec::with_capacity(1024);
    let mut pacer = Pacer::new(target.rate);
    let mut sent = 0u64;
    let mut stopped = false;
    while sim.next_into(&mut buf).is_some() {
        let mut record = BaseRecord::<(), [u8]>::to(&target.topic).payload(&buf[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The local queue is full: the brokers set the pace.
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(kafka(e)),
            }
        }
        sent += 1;
        pacer.wait(sent, || Ok(()))?;
        if sent.is_multiple_of(PROGRESS_EVERY) && !progress(&counts(&producer, sent)) {
            stopped = true;
            break;
        }
    }
    // Wait for every acknowledgement, however long the brokers take: an
    // unacknowledged line is reported, never silently dropped.
    loop {
        match producer.flush(Duration::from_secs(10)) {
            Ok(()) => break,
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {
                let p = counts(&producer, sent);
                tracing::info!(
                    waiting_for = p.sent - p.delivered - p.failed,
                    "waiting for the brokers to acknowledge"
                );
            }
            Err(e) => return Err(kafka(e)),
        }
    }
    let last = counts(&producer, sent);
    progress(&last);
    if last.failed > 0 {
        let last_error = producer
            .context()
            .last_error
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_default();
        return Err(SimulateError::Delivery {
            topic: target.topic.clone(),
            sent,
            failed: last.failed,
            last_error,
        });
    }
    Ok(ProduceReport { sent, stopped })
}

// ---------------------------------------------------------------------------
// The catalogue: APIs and routes.

/// One route of the simulated APIs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteSpec {
    /// The API (service) it belongs to.
    pub api: &'static str,
    /// Route name, as Kong, APISIX, Envoy and Traefik log it.
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template; `{id}` is filled with `id_prefix` and a number.
    pub template: &'static str,
    /// Prefix of generated ids, e.g. `ord_`.
    pub id_prefix: &'static str,
    /// Relative popularity among all routes.
    pub weight: f64,
    /// Median upstream time of a successful call, milliseconds.
    pub median_ms: f64,
    /// Log-normal sigma of the upstream time: the spread of the body.
    pub sigma: f64,
    /// Median request body, bytes; 0 for no body.
    pub request_body: f64,
    /// Median response body of a success, bytes; 0 for none (204).
    pub response_body: f64,
    /// The success status.
    pub ok: u16,
    /// The query string the route takes: see [`QueryKind`].
    pub query: QueryKind,
}

/// The query strings a route is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// None.
    None,
    /// `limit=…&page=…`, most of the time.
    Paged,
    /// `q=<word>`.
    Search,
    /// `from=<country>&to=<country>`.
    Countries,
}

/// The APIs, in the order consumers' favourites are assigned.
pub const APIS: [&str; 5] = ["orders", "payments", "catalog", "accounts", "shipping"];

// One row of the ROUTES table: positional arguments keep each route on
// one readable line.
#[allow(clippy::too_many_arguments)]
const fn route(
    api: &'static str,
    name: &'static str,
    method: &'static str,
    template: &'static str,
    id_prefix: &'static str,
    weight: f64,
    median_ms: f64,
    sigma: f64,
    bodies: (f64, f64),
    ok: u16,
    query: QueryKind,
) -> RouteSpec {
    RouteSpec {
        api,
        name,
        method,
        template,
        id_prefix,
        weight,
        median_ms,
        sigma,
        request_body: bodies.0,
        response_body: bodies.1,
        ok,
        query,
    }
}

use QueryKind as Q;

/// The 25 routes of the 5 simulated APIs. Latencies follow what such calls
/// cost: a cached product read is fast, a card payment, a password check
/// and a carrier's rate quote are slow, and a shipping label is a big PDF.
#[rustfmt::skip]
pub const ROUTES: [RouteSpec; 25] = [
    route("orders", "orders-list", "GET", "/v1/orders", "", 8.0, 45.0, 0.6, (0.0, 6000.0), 200, Q::Paged),
    route("orders", "orders-create", "POST", "/v1/orders", "", 4.0, 120.0, 0.5, (900.0, 1400.0), 201, Q::None),
    route("orders", "orders-get", "GET", "/v1/orders/{id}", "ord_", 10.0, 25.0, 0.5, (0.0, 1800.0), 200, Q::None),
    route("orders", "orders-update", "PATCH", "/v1/orders/{id}", "ord_", 2.0, 60.0, 0.5, (300.0, 1800.0), 200, Q::None),
    route("orders", "orders-cancel", "DELETE", "/v1/orders/{id}", "ord_", 0.5, 70.0, 0.5, (0.0, 0.0), 204, Q::None),
    route("orders", "orders-items", "GET", "/v1/orders/{id}/items", "ord_", 3.0, 35.0, 0.5, (0.0, 3500.0), 200, Q::Paged),
    route("payments", "payments-create", "POST", "/v1/payments", "", 3.0, 350.0, 0.7, (600.0, 900.0), 201, Q::None),
    route("payments", "payments-get", "GET", "/v1/payments/{id}", "pay_", 4.0, 30.0, 0.5, (0.0, 1100.0), 200, Q::None),
    route("payments", "payments-list", "GET", "/v1/payments", "", 2.0, 80.0, 0.6, (0.0, 9000.0), 200, Q::Paged),
    route("payments", "payments-refund", "POST", "/v1/payments/{id}/refunds", "pay_", 0.4, 400.0, 0.7, (200.0, 700.0), 201, Q::None),
    route("catalog", "products-list", "GET", "/v1/products", "", 12.0, 40.0, 0.6, (0.0, 14000.0), 200, Q::Paged),
    route("catalog", "products-get", "GET", "/v1/products/{id}", "prd_", 16.0, 12.0, 0.6, (0.0, 2600.0), 200, Q::None),
    route("catalog", "products-reviews", "GET", "/v1/products/{id}/reviews", "prd_", 4.0, 55.0, 0.6, (0.0, 7000.0), 200, Q::Paged),
    route("catalog", "categories-list", "GET", "/v1/categories", "", 3.0, 8.0, 0.5, (0.0, 2200.0), 200, Q::None),
    route("catalog", "search", "GET", "/v1/search", "", 9.0, 90.0, 0.8, (0.0, 11000.0), 200, Q::Search),
    route("accounts", "users-get", "GET", "/v1/users/{id}", "usr_", 6.0, 15.0, 0.5, (0.0, 900.0), 200, Q::None),
    route("accounts", "users-update", "PUT", "/v1/users/{id}", "usr_", 1.0, 45.0, 0.5, (500.0, 900.0), 200, Q::None),
    route("accounts", "users-create", "POST", "/v1/users", "", 0.6, 110.0, 0.5, (450.0, 900.0), 201, Q::None),
    route("accounts", "users-addresses", "GET", "/v1/users/{id}/addresses", "usr_", 2.0, 20.0, 0.5, (0.0, 1300.0), 200, Q::None),
    route("accounts", "sessions-create", "POST", "/v1/sessions", "", 5.0, 180.0, 0.4, (250.0, 600.0), 201, Q::None),
    route("shipping", "shipments-create", "POST", "/v1/shipments", "", 1.5, 200.0, 0.6, (1100.0, 1300.0), 201, Q::None),
    route("shipping", "shipments-get", "GET", "/v1/shipments/{id}", "shp_", 3.0, 30.0, 0.5, (0.0, 1500.0), 200, Q::None),
    route("shipping", "shipments-tracking", "GET", "/v1/shipments/{id}/tracking", "shp_", 5.0, 140.0, 0.9, (0.0, 2400.0), 200, Q::None),
    route("shipping", "rates-quote", "GET", "/v1/rates", "", 2.0, 250.0, 0.8, (0.0, 1800.0), 200, Q::Countries),
    route("shipping", "labels-create", "POST", "/v1/labels", "", 0.8, 600.0, 0.6, (700.0, 45000.0), 201, Q::None),
];

const SEARCH_WORDS: [&str; 12] = [
    "shoes",
    "laptop",
    "coffee",
    "desk",
    "lamp",
    "camera",
    "backpack",
    "tent",
    "phone+case",
    "headphones",
    "caf%C3%A9",
    "running+shoes",
];
const COUNTRIES: [&str; 8] = ["DE", "US", "FR", "GB", "NL", "JP", "BR", "CA"];
const USER_AGENTS: [&str; 8] = [
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
    "axios/1.7.2",
    "curl/8.5.0",
    "Java-http-client/21.0.3",
    "node-fetch/3.3.2",
    "Dart/3.4 (dart:io)",
];
const NAMES: [&str; 24] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "cyberdyne",
    "soylent",
    "tyrell",
    "aperture",
    "massive",
    "vandelay",
    "pied-piper",
    "gringotts",
    "oscorp",
    "monarch",
    "nakatomi",
    "dunder",
    "sirius",
    "weyland",
    "blue-sun",
    "virtucon",
];
const SUFFIXES: [&str; 6] = ["corp", "labs", "shop", "mobile", "systems", "retail"];
const HOST: &str = "api.example.com";

/// A route with its sampling distributions built once.
struct RouteModel {
    spec: RouteSpec,
    api_index: usize,
    /// Template split at `{id}`: before, after (no `{id}`: all in `before`).
    before: &'static str,
    after: Option<&'static str>,
    upstream: LogNormal<f64>,
    request_body: Option<LogNormal<f64>>,
    response_body: Option<LogNormal<f64>>,
    /// Kong's route and service ids (stable UUIDs).
    kong_route_id: String,
    kong_service_id: String,
    /// The AWS HTTP API route key, `GET /v1/orders/{id}`.
    route_key: String,
}

/// One consumer's fixed traits.
struct Consumer {
    id: String,
    name: String,
    key_id: String,
    /// Tyk's key hash.
    key_hash: String,
    ips: [String; 2],
    user_agent: &'static str,
    favourite_api: usize,
    /// Sends malformed input more often (4× the 400/422 rate).
    sloppy: bool,
    /// Probability of a 429: the heaviest consumers run into their limit.
    rate_limited: f64,
}

/// A 5xx burst on one API.
#[derive(Debug, Clone, Copy)]
struct Incident {
    start: i64,
    end: i64,
    api: usize,
    /// Probability that a call to the API fails during the incident.
    rate: f64,
    status: u16,
}

/// Event times: a cumulative intensity over the range, sampled at evenly
/// spaced quantiles so the times come out sorted and follow the curve.
struct Timeline {
    start: i64,
    end: i64,
    bucket_ms: i64,
    /// `cum[b]` is the intensity before bucket `b`; `cum.len()` = buckets + 1.
    cum: Vec<f64>,
    cursor: usize,
    lines: u64,
}

impl Timeline {
    fn new(start: i64, end: i64, lines: u64, rng: &mut Xoshiro256PlusPlus) -> Timeline {
        let range = end - start;
        // Minute buckets, coarser for very long ranges (bounded memory).
        let bucket_ms = (range / 2_000_000).max(60_000);
        let buckets = ((range + bucket_ms - 1) / bucket_ms) as usize;
        let noise_dist = dist(LogNormal::new(0.0, 0.12));
        let mut hour_noise = Vec::new();
        let mut cum = Vec::with_capacity(buckets + 1);
        cum.push(0.0);
        let mut total = 0.0;
        for b in 0..buckets {
            let t = start + b as i64 * bucket_ms;
            let hour_index = ((t - start) / 3_600_000) as usize;
            while hour_noise.len() <= hour_index {
                hour_noise.push(noise_dist.sample(rng));
            }
            let width = (end - t).min(bucket_ms) as f64 / bucket_ms as f64;
            let growth = 1.0 + 0.15 * (t - start) as f64 / range as f64;
            total += diurnal(t) * growth * hour_noise[hour_index] * width;
            cum.push(total);
        }
        Timeline {
            start,
            end,
            bucket_ms,
            cum,
            cursor: 0,
            lines,
        }
    }

    /// The time of line `i` (called with increasing `i`).
    fn at(&mut self, i: u64, u: f64) -> i64 {
        let total = self.cum[self.cum.len() - 1];
        let target = (i as f64 + u) / self.lines as f64 * total;
        let last = self.cum.len() - 2;
        while self.cursor < last && self.cum[self.cursor + 1] <= target {
            self.cursor += 1;
        }
        let lo = self.cum[self.cursor];
        let hi = self.cum[self.cursor + 1];
        let frac = if hi > lo {
            ((target - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let t = self.start
            + self.cursor as i64 * self.bucket_ms
            + (frac * self.bucket_ms as f64) as i64;
        t.clamp(self.start, self.end - 1)
    }
}

/// Relative traffic at time `t` (epoch ms): two daily peaks (Europe's
/// working day around 10:00 UTC, America's around 16:30 UTC), a night
/// trough at a fifth of the peak, weekends at 55 %.
fn diurnal(t: i64) -> f64 {
    let day = t.div_euclid(86_400_000);
    let hour = t.rem_euclid(86_400_000) as f64 / 3_600_000.0;
    let bump = |centre: f64, width: f64| {
        let mut d = (hour - centre).abs();
        if d > 12.0 {
            d = 24.0 - d;
        }
        (-(d / width).powi(2) / 2.0).exp()
    };
    let shape = 0.2 + 0.8 * bump(10.0, 3.0) + 1.0 * bump(16.5, 3.5);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday.
    let weekday = (day + 4).rem_euclid(7);
    let weekend = if weekday == 0 || weekday == 6 {
        0.55
    } else {
        1.0
    };
    shape * weekend
}

// ---------------------------------------------------------------------------
// Lines and events.

/// One simulated API call: the values its line was written with, at the
/// format's resolution, so decoding the line gives them back.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// When the call happened, as written (whole seconds for `clf`).
    pub ts: EpochMillis,
    /// The format of the line.
    pub gateway: Gateway,
    /// The consumer's number (1 = `acct-0001`); `None` for an anonymous
    /// call (a failed authentication).
    pub consumer: Option<u32>,
    /// Index into [`ROUTES`].
    pub route: usize,
    /// HTTP status.
    pub status: u16,
    /// Total latency, microseconds (a whole number of ms for formats that log ms).
    pub latency_us: u64,
    /// Upstream latency, microseconds; `None` when the gateway answered itself.
    pub upstream_us: Option<u64>,
    /// Request size, bytes (headers and body).
    pub request_bytes: u64,
    /// Response size, bytes (headers and body).
    pub response_bytes: u64,
}

impl SimEvent {
    /// The consumer id as decoders read it, `acct-0001`.
    pub fn consumer_id(&self) -> Option<String> {
        self.consumer.map(consumer_id)
    }

    /// The route this call took.
    pub fn route(&self) -> &'static RouteSpec {
        &ROUTES[self.route]
    }

    /// Total latency in milliseconds, exactly as decoded.
    pub fn latency_ms(&self) -> f64 {
        self.latency_us as f64 / 1000.0
    }

    /// Upstream latency in milliseconds, exactly as decoded.
    pub fn upstream_ms(&self) -> Option<f64> {
        self.upstream_us.map(|u| u as f64 / 1000.0)
    }
}

/// The id of consumer number `n` (1-based): `acct-0001`.
pub fn consumer_id(n: u32) -> String {
    format!("acct-{n:04}")
}

/// What a line is.
#[derive(Debug, Clone, PartialEq)]
pub enum LineKind {
    /// A well-formed record of this call.
    Event(SimEvent),
    /// A malformed message: decoding it yields a reject and no event.
    Bad,
    /// A byte-for-byte copy of a recent line.
    Duplicate,
}

/// One line and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SimLine {
    /// What the line is.
    pub kind: LineKind,
    /// The line, without a newline. Bytes, not text: some bad lines are
    /// deliberately not UTF-8.
    pub text: Vec<u8>,
}

/// Per-call random details that only shape the text of a line.
struct Details {
    id_hi: u64,
    id_lo: u64,
    path_id: u32,
    query: u32,
    ip: usize,
    port: u16,
    /// Sub-millisecond part of the start time, ns (formats with ns clocks).
    sub_ms_ns: u32,
}

/// The traffic generator: an iterator of [`SimLine`]s in time order.
pub struct Simulator {
    cfg: SimulatorConfig,
    rng: Xoshiro256PlusPlus,
    timeline: Timeline,
    routes: Vec<RouteModel>,
    consumers: Vec<Consumer>,
    pick_consumer: WeightedAliasIndex<f64>,
    /// One route table per favourite API.
    pick_route: Vec<WeightedAliasIndex<f64>>,
    incidents: Vec<Incident>,
    overhead: LogNormal<f64>,
    headers: LogNormal<f64>,
    error_body: LogNormal<f64>,
    tail: Pareto<f64>,
    emitted: u64,
    recent: Vec<Vec<u8>>,
    recent_next: usize,
    target: Vec<u8>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("cfg", &self.cfg)
            .field("emitted", &self.emitted)
            .finish_non_exhaustive()
    }
}

fn dist<T>(r: Result<T, impl std::fmt::Debug>) -> T {
    // Every distribution below has constant, valid parameters.
    r.unwrap_or_else(|e| panic!("simulator distribution parameters: {e:?}"))
}

/// A stable UUID-shaped id from a number (SplitMix64 twice).
fn uuid_from(n: u64) -> String {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut b = Vec::with_capacity(36);
    put_uuid(&mut b, mix(n), mix(n ^ 0x5555));
    String::from_utf8(b).unwrap_or_default()
}

impl Simulator {
    /// A simulator for `cfg` (validated here).
    pub fn new(cfg: SimulatorConfig) -> Result<Simulator, SimulateError> {
        cfg.validate()?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
        let start = cfg.start().0;
        let end = cfg.end.0;
        let timeline = Timeline::new(start, end, cfg.events.max(1), &mut rng);

        let routes: Vec<RouteModel> = ROUTES
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let (before, after) = match spec.template.split_once("{id}") {
                    Some((b, a)) => (b, Some(a)),
                    None => (spec.template, None),
                };
                let api_index = APIS.iter().position(|a| *a == spec.api).unwrap_or(0);
                RouteModel {
                    spec: *spec,
                    api_index,
                    before,
                    after,
                    upstream: dist(LogNormal::new(spec.median_ms.ln(), spec.sigma)),
                    request_body: (spec.request_body > 0.0)
                        .then(|| dist(LogNormal::new(spec.request_body.ln(), 0.7))),
                    response_body: (spec.response_body > 0.0)
                        .then(|| dist(LogNormal::new(spec.response_body.ln(), 0.8))),
                    kong_route_id: uuid_from(i as u64 + 1),
                    kong_service_id: uuid_from(1000 + api_index as u64),
                    route_key: format!("{} {}", spec.method, spec.template),
                }
            })
            .collect();

        let n = cfg.consumers;
        let consumers: Vec<Consumer> = (1..=n)
            .map(|k| {
                let i = (k - 1) as usize;
                let base = NAMES[i % NAMES.len()];
                let suffix = SUFFIXES[(i / NAMES.len()) % SUFFIXES.len()];
                let round = i / (NAMES.len() * SUFFIXES.len());
                let name = if round == 0 {
                    format!("{base}-{suffix}")
                } else {
                    format!("{base}-{suffix}-{}", round + 1)
                };
                let h = rng.next_u64();
                let mut key_hash = Vec::with_capacity(16);
                put_hex(&mut key_hash, h, 16);
                let ip_seed = rng.next_u64();
                let ip = |j: u64| {
                    let v = ip_seed.rotate_left(j as u32 * 16);
                    // The three documentation ranges (RFC 5737).
                    let net = ["192.0.2", "198.51.100", "203.0.113"][(v % 3) as usize];
                    format!("{net}.{}", 1 + (v >> 8) % 254)
                };
                Consumer {
                    id: consumer_id(k),
                    name,
                    key_id: format!("key_{:012x}", h >> 16),
                    key_hash: String::from_utf8(key_hash).unwrap_or_default(),
                    ips: [ip(0), ip(1)],
                    user_agent: USER_AGENTS[(rng.next_u64() % USER_AGENTS.len() as u64) as usize],
                    favourite_api: i % APIS.len(),
                    sloppy: k % 7 == 3,
                    rate_limited: if k <= 3 { 0.01 } else { 0.0005 },
                }
            })
            .collect();
        let pick_consumer = dist(WeightedAliasIndex::new(
            (1..=n)
                .map(|k| 1.0 / f64::from(k).powf(ZIPF_EXPONENT))
                .collect(),
        ));
        let pick_route = (0..APIS.len())
            .map(|fav| {
                dist(WeightedAliasIndex::new(
                    routes
                        .iter()
                        .map(|r| r.spec.weight * if r.api_index == fav { 4.0 } else { 1.0 })
                        .collect(),
                ))
            })
            .collect();

        // About three incidents a week, at least one.
        let count = ((f64::from(cfg.days) * 3.0 / 7.0).round() as usize).max(1);
        let duration = dist(LogNormal::new((15.0f64 * 60_000.0).ln(), 0.6));
        let mut incidents: Vec<Incident> = (0..count)
            .map(|_| {
                let at = start + (rng.random::<f64>() * (end - start) as f64) as i64;
                let len = (duration.sample(&mut rng) as i64).clamp(180_000, 7_200_000);
                let status = match rng.random_range(0..10u32) {
                    0..=3 => 503,
                    4..=6 => 502,
                    _ => 504,
                };
                Incident {
                    start: at,
                    end: at + len,
                    api: rng.random_range(0..APIS.len()),
                    rate: 0.1 + 0.4 * rng.random::<f64>(),
                    status,
                }
            })
            .collect();
        incidents.sort_by_key(|i| i.start);

        Ok(Simulator {
            cfg,
            rng,
            timeline,
            routes,
            consumers,
            pick_consumer,
            pick_route,
            incidents,
            overhead: dist(LogNormal::new(0.8f64.ln(), 0.6)),
            headers: dist(LogNormal::new(420.0f64.ln(), 0.25)),
            error_body: dist(LogNormal::new(90.0f64.ln(), 0.3)),
            tail: dist(Pareto::new(1.0, 1.3)),
            emitted: 0,
            recent: Vec::new(),
            recent_next: 0,
            target: Vec::with_capacity(128),
        })
    }

    /// The configuration this simulator runs.
    pub fn config(&self) -> &SimulatorConfig {
        &self.cfg
    }

    /// Lines produced so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Writes the next line into `buf` (cleared first, no newline) and says
    /// what it is; `None` when all lines have been produced. The fast path:
    /// no allocation per line.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Option<LineKind> {
        if self.emitted >= self.cfg.events {
            return None;
        }
        let i = self.emitted;
        self.emitted += 1;
        buf.clear();
        let u = self.rng.random::<f64>();
        let ts = self.timeline.at(i, u);
        let extra = self.cfg.bad_ratio + self.cfg.duplicate_ratio;
        if extra > 0.0 {
            let r = self.rng.random::<f64>();
            if r < self.cfg.bad_ratio {
                self.write_bad(ts, buf);
                return Some(LineKind::Bad);
            }
            if r < extra && !self.recent.is_empty() {
                let j = self.rng.random_range(0..self.recent.len());
                buf.extend_from_slice(&self.recent[j]);
                return Some(LineKind::Duplicate);
            }
        }
        let (event, details) = self.event(ts);
        let mut target = std::mem::take(&mut self.target);
        self.write_target(&event, &details, &mut target);
        self.write_event(&event, &details, &target, buf);
        self.target = target;
        if self.cfg.duplicate_ratio > 0.0 {
            if self.recent.len() < RECENT {
                self.recent.push(buf.clone());
            } else {
                let slot = &mut self.recent[self.recent_next];
                slot.clear();
                slot.extend_from_slice(buf);
                self.recent_next = (self.recent_next + 1) % RECENT;
            }
        }
        Some(LineKind::Event(event))
    }

    /// Draws one call at time `ts`.
    fn event(&mut self, ts: i64) -> (SimEvent, Details) {
        let rng = &mut self.rng;
        let gateway = match self.cfg.format {
            GatewayMix::Only(g) => g,
            GatewayMix::Mixed => Gateway::ALL[rng.random_range(0..Gateway::ALL.len())],
        };
        let ts = if gateway == Gateway::Clf {
            ts - ts.rem_euclid(1000)
        } else {
            ts
        };
        let c = self.pick_consumer.sample(rng);
        let consumer = &self.consumers[c];
        let route_index = self.pick_route[consumer.favourite_api].sample(rng);
        let route = &self.routes[route_index];
        let spec = &route.spec;
        let incident = self
            .incidents
            .iter()
            .take_while(|x| x.start <= ts)
            .find(|x| x.api == route.api_index && ts < x.end)
            .copied();

        let write = matches!(spec.method, "POST" | "PUT" | "PATCH");
        let bad_input = if write {
            0.015 * if consumer.sloppy { 4.0 } else { 1.0 }
        } else {
            0.001
        };
        // The baseline mix, as (probability, status); the rest succeed.
        let mix = [
            (0.002, 401),
            (consumer.rate_limited, 429),
            (0.001, 403),
            (if route.after.is_some() { 0.03 } else { 0.002 }, 404),
            (bad_input * 0.7, 400),
            (bad_input * 0.3, 422),
            (if spec.method == "POST" { 0.004 } else { 0.0 }, 409),
            (0.0008, 500),
            (0.0001, 502),
            (0.0001, 503),
            (0.0001, 504),
            (
                if spec.api == "catalog" && spec.method == "GET" {
                    0.03
                } else {
                    0.0
                },
                304,
            ),
        ];
        let failing = incident.filter(|inc| rng.random::<f64>() < inc.rate);
        let status = match failing {
            Some(inc) => inc.status,
            None => {
                let r = rng.random::<f64>();
                let mut acc = 0.0;
                mix.iter()
                    .find(|(p, _)| {
                        acc += p;
                        r < acc
                    })
                    .map_or(spec.ok, |(_, s)| *s)
            }
        };

        // Latency: gateway overhead, plus the upstream when one was called.
        let overhead_us = (self.overhead.sample(rng) * 1000.0) as u64;
        let gateway_answers = matches!(status, 401 | 403 | 429)
            || (status == 503 && incident.is_some() && rng.random::<f64>() < 0.5);
        let upstream_us = if gateway_answers {
            None
        } else if status == 504 {
            Some(TIMEOUT_US + rng.random_range(0..50_000u64))
        } else {
            let mut ms = route.upstream.sample(rng);
            if rng.random::<f64>() < 0.01 {
                ms *= self.tail.sample(rng).min(200.0);
            }
            match status {
                502 => ms *= 0.2,
                304 => ms *= 0.3,
                400..=499 => ms *= 0.5,
                _ => {}
            }
            if incident.is_some() {
                ms *= 2.5;
            }
            Some(((ms * 1000.0) as u64).min(MAX_LATENCY_US))
        };
        let total_us = (overhead_us + upstream_us.unwrap_or(0)).min(MAX_LATENCY_US + 10_000);
        let quantum = match gateway {
            Gateway::Kong
            | Gateway::Envoy
            | Gateway::Aws
            | Gateway::Tyk
            | Gateway::Nginx
            | Gateway::Clf => 1000,
            Gateway::Apisix | Gateway::Traefik | Gateway::Canonical => 1,
        };
        // Rounding both the same monotone way keeps upstream ≤ total.
        let round = |us: u64| (us + quantum / 2) / quantum * quantum;

        let headers = self.headers.sample(rng) as u64;
        let request_bytes = headers
            + route
                .request_body
                .as_ref()
                .map_or(0, |d| d.sample(rng) as u64);
        let response_bytes = match status {
            204 | 304 => 180,
            200..=299 => {
                230 + route
                    .response_body
                    .as_ref()
                    .map_or(0, |d| d.sample(rng) as u64)
            }
            _ => 180 + self.error_body.sample(rng) as u64,
        };

        let event = SimEvent {
            ts: EpochMillis(ts),
            gateway,
            consumer: (status != 401).then_some(c as u32 + 1),
            route: route_index,
            status,
            latency_us: round(total_us),
            upstream_us: upstream_us.map(round),
            request_bytes,
            response_bytes,
        };
        let details = Details {
            id_hi: rng.next_u64(),
            id_lo: rng.next_u64(),
            path_id: rng.random_range(1..5_000_000),
            query: rng.random_range(0..1000),
            ip: rng.random_range(0..2),
            port: rng.random_range(30_000..61_000),
            sub_ms_ns: rng.random_range(0..1_000_000),
        };
        (event, details)
    }

    /// The request target: path with the id filled in, then any query.
    fn write_target(&self, e: &SimEvent, d: &Details, t: &mut Vec<u8>) {
        t.clear();
        let route = &self.routes[e.route];
        put(t, route.before);
        if let Some(after) = route.after {
            put(t, route.spec.id_prefix);
            put_u(t, u64::from(d.path_id));
            put(t, after);
        }
        match route.spec.query {
            QueryKind::None => {}
            QueryKind::Paged => {
                if d.query < 600 {
                    put(t, "?limit=");
                    put(t, ["20", "50", "100"][(d.query % 3) as usize]);
                    put(t, "&page=");
                    put_u(t, u64::from(1 + d.query % 7));
                }
            }
            QueryKind::Search => {
                put(t, "?q=");
                put(t, SEARCH_WORDS[(d.query as usize) % SEARCH_WORDS.len()]);
            }
            QueryKind::Countries => {
                put(t, "?from=");
                put(t, COUNTRIES[(d.query as usize) % COUNTRIES.len()]);
                put(t, "&to=");
                put(t, COUNTRIES[(d.query as usize / 8) % COUNTRIES.len()]);
            }
        }
    }

    fn write_event(&self, e: &SimEvent, d: &Details, target: &[u8], b: &mut Vec<u8>) {
        let route = &self.routes[e.route];
        let c = e.consumer.map(|n| &self.consumers[n as usize - 1]);
        // Anonymous calls come from somewhere too: the busiest consumer's
        // address is as good as any.
        let who = c.unwrap_or(&self.consumers[0]);
        let ip = who.ips[d.ip].as_str();
        let ctx = Line {
            e,
            d,
            route,
            c,
            ip,
            ua: who.user_agent,
            target,
        };
        match e.gateway {
            Gateway::Kong => ctx.kong(b),
            Gateway::Apisix => ctx.apisix(b),
            Gateway::Envoy => ctx.envoy(b),
            Gateway::Aws => ctx.aws(b),
            Gateway::Tyk => ctx.tyk(b),
            Gateway::Traefik => ctx.traefik(b),
            Gateway::Nginx => ctx.nginx(b),
            Gateway::Clf => ctx.clf(b),
            Gateway::Canonical => ctx.canonical(b),
        }
    }

    /// A malformed message of one of several kinds, each of which every
    /// decoder rejects (and the quarantine keeps, with its reason).
    fn write_bad(&mut self, ts: i64, b: &mut Vec<u8>) {
        let kind = self.rng.random_range(0..6u32);
        match kind {
            // A record cut short (a shipper's partial write): never valid
            // JSON, and for a text line cut before its timestamp closes.
            0 => {
                let (e, d) = self.event(ts);
                let mut t = std::mem::take(&mut self.target);
                self.write_target(&e, &d, &mut t);
                self.write_event(&e, &d, &t, b);
                self.target = t;
                let cut = match b.iter().position(|&c| c == b'[') {
                    Some(p) if e.gateway == Gateway::Clf => p + 4,
                    _ => b.len() / 2,
                };
                b.truncate(cut.min(b.len() - 1));
            }
            // Gateway error logs sent to the access-log topic.
            1 => {
                const JUNK: [&str; 4] = [
                    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
                    "[warn] 1#1: *4211 upstream server temporarily disabled while connecting to upstream",
                    "kong worker process exited on signal 9",
                    "panic: runtime error: invalid memory address or nil pointer dereference",
                ];
                put(b, JUNK[self.rng.random_range(0..JUNK.len())]);
            }
            // A status that is not a number.
            2 => {
                put(b, r#"{"started_at":"#);
                put_i(b, ts);
                put(
                    b,
                    r#","request":{"method":"GET","uri":"/v1/orders"},"response":{"status":"OK"},"latencies":{"request":4}}"#,
                );
            }
            // A record without its timestamp.
            3 => {
                put(b, r#"{"requestId":""#);
                put_uuid(b, self.rng.next_u64(), self.rng.next_u64());
                put(
                    b,
                    r#"","httpMethod":"GET","path":"/v1/products","status":"200","responseLatency":"12"}"#,
                );
            }
            // Application JSON that is no gateway's access log.
            4 => {
                put(b, r#"{"level":"error","time":""#);
                put_rfc3339(b, ts, None);
                put(
                    b,
                    r#"","msg":"health check failed","target":"10.0.3.17:8080"}"#,
                );
            }
            // Bytes that are not UTF-8 (a binary payload on the topic).
            _ => {
                b.extend_from_slice(b"\x1f\x8b\x08\x00\xff\xfe not gzip, not text \xc3\x28");
            }
        }
    }
}

impl Iterator for Simulator {
    type Item = SimLine;

    fn next(&mut self) -> Option<SimLine> {
        let mut text = Vec::with_capacity(512);
        let kind = self.next_into(&mut text)?;
        Some(SimLine { kind, text })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.cfg.events - self.emitted).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

// ---------------------------------------------------------------------------
// The formats. Each writes what its gateway writes (see schemas/src/decode
// for the field mappings); strings here never need JSON escaping.

struct Line<'a> {
    e: &'a SimEvent,
    d: &'a Details,
    route: &'a RouteModel,
    c: Option<&'a Consumer>,
    ip: &'a str,
    ua: &'static str,
    target: &'a [u8],
}

impl Line<'_> {
    fn path_len(&self) -> usize {
        self.target
            .iter()
            .position(|&c| c == b'?')
            .unwrap_or(self.target.len())
    }

    fn spec(&self) -> &RouteSpec {
        &self.route.spec
    }

    fn kong(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"request":{"id":""#);
        put_hex(b, self.d.id_hi, 16);
        put_hex(b, self.d.id_lo, 16);
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        put(b, r#"","uri":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","url":"https://"#);
        put(b, HOST);
        b.extend_from_slice(self.target);
        put(b, r#"","size":"#);
        put_u(b, e.request_bytes);
        put(b, r#","headers":{"host":""#);
        put(b, HOST);
        put(b, r#"","user-agent":""#);
        put(b, self.ua);
        put(b, r#""}},"response":{"status":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","size":"#);
        put_u(b, e.response_bytes);
        put(
            b,
            r#","headers":{"content-type":"application/json"}},"route":{"id":""#,
        );
        put(b, &self.route.kong_route_id);
        put(b, r#"","name":""#);
        put(b, self.spec().name);
        put(b, r#"","protocols":["https"]},"service":{"id":""#);
        put(b, &self.route.kong_service_id);
        put(b, r#"","name":""#);
        put(b, self.spec().api);
        put(b, r#"","protocol":"http","port":8080},"#);
        if let Some(c) = self.c {
            put(b, r#""consumer":{"id":""#);
            put(b, &c.id);
            put(b, r#"","username":""#);
            put(b, &c.name);
            put(b, r#""},"authenticated_entity":{"id":""#);
            put(b, &c.key_id);
            put(b, r#""},"#);
        }
        let total = e.latency_us / 1000;
        put(b, r#""latencies":{"proxy":"#);
        match e.upstream_us {
            Some(u) => put_u(b, u / 1000),
            None => put(b, "-1"),
        }
        put(b, r#","kong":"#);
        put_u(b, total - e.upstream_us.map_or(0, |u| u / 1000));
        put(b, r#","request":"#);
        put_u(b, total);
        put(b, r#"},"client_ip":""#);
        put(b, self.ip);
        put(b, r#"","started_at":"#);
        put_i(b, e.ts.0);
        put(b, r#","source":""#);
        put(
            b,
            if e.upstream_us.is_some() {
                "upstream"
            } else {
                "kong"
            },
        );
        put(b, r#""}"#);
    }

    fn apisix(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"upstream":""#);
        if e.upstream_us.is_some() {
            put(b, "10.0.4.");
            put_u(b, 2 + u64::from(self.d.port % 8));
            put(b, ":8080");
        }
        put(b, r#"","start_time":"#);
        put_i(b, e.ts.0);
        // APISIX logs ngx.req.start_time() * 1000: fractional milliseconds.
        b.push(b'.');
        put_pad(b, u64::from(self.d.sub_ms_ns / 1000), 3);
        put(b, r#","client_ip":""#);
        put(b, self.ip);
        put(b, r#"","service_id":""#);
        put(b, self.spec().api);
        put(b, r#"","route_id":""#);
        put(b, self.spec().name);
        put(b, r#"","request":{"querystring":{},"size":"#);
        put_u(b, e.request_bytes);
        put(b, r#","uri":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","url":"https://"#);
        put(b, HOST);
        b.extend_from_slice(self.target);
        put(b, r#"","headers":{"host":""#);
        put(b, HOST);
        put(b, r#"","user-agent":""#);
        put(b, self.ua);
        put(b, r#""},"method":""#);
        put(b, self.spec().method);
        put(
            b,
            r#""},"response":{"headers":{"content-type":"application/json"},"status":"#,
        );
        put_u(b, u64::from(e.status));
        put(b, r#","size":"#);
        put_u(b, e.response_bytes);
        put(b, r#"},"latency":"#);
        put_ms(b, e.latency_us);
        if let Some(u) = e.upstream_us {
            put(b, r#","upstream_latency":"#);
            put_ms(b, u);
        }
        put(b, r#","apisix_latency":"#);
        put_ms(b, e.latency_us - e.upstream_us.unwrap_or(0));
        put(b, r#","server":{"hostname":"apisix-0","version":"3.9.0"}"#);
        if let Some(c) = self.c {
            put(b, r#","consumer":{"username":""#);
            put(b, &c.id);
            put(b, r#""}"#);
        }
        put(b, "}");
    }

    fn envoy(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"start_time":""#);
        put_rfc3339(b, e.ts.0, None);
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        put(b, r#"","path":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","protocol":"HTTP/1.1","response_code":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","response_flags":""#);
        put(
            b,
            match (e.status, e.upstream_us) {
                (504, _) => "UT",
                (503, None) => "UH",
                (429, _) => "RL",
                (502, _) => "UC",
                _ => "-",
            },
        );
        put(b, r#"","bytes_received":"#);
        put_u(b, e.request_bytes);
        put(b, r#","bytes_sent":"#);
        put_u(b, e.response_bytes);
        put(b, r#","duration":"#);
        put_u(b, e.latency_us / 1000);
        put(b, r#","upstream_service_time":"#);
        match e.upstream_us {
            Some(u) => {
                b.push(b'"');
                put_u(b, u / 1000);
                b.push(b'"');
            }
            None => put(b, "null"),
        }
        put(b, r#","x_forwarded_for":null,"user_agent":""#);
        put(b, self.ua);
        put(b, r#"","request_id":""#);
        put_uuid(b, self.d.id_hi, self.d.id_lo);
        put(b, r#"","authority":""#);
        put(b, HOST);
        put(b, r#"","upstream_cluster":""#);
        put(b, self.spec().api);
        put(b, r#"","downstream_remote_address":""#);
        put(b, self.ip);
        b.push(b':');
        put_u(b, u64::from(self.d.port));
        put(b, r#"","route_name":""#);
        put(b, self.spec().name);
        put(b, r#"",""#);
        put(b, ENVOY_CONSUMER_FIELD);
        put(b, r#"":"#);
        match self.c {
            Some(c) => {
                b.push(b'"');
                put(b, &c.id);
                b.push(b'"');
            }
            None => put(b, "null"),
        }
        put(b, "}");
    }

    fn aws(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"requestId":""#);
        put_uuid(b, self.d.id_hi, self.d.id_lo);
        put(b, r#"","ip":""#);
        put(b, self.ip);
        put(b, r#"","requestTime":""#);
        put_clf_time(b, e.ts.0);
        put(b, r#"","requestTimeEpoch":""#);
        put_i(b, e.ts.0);
        put(b, r#"","httpMethod":""#);
        put(b, self.spec().method);
        put(b, r#"","routeKey":""#);
        put(b, &self.route.route_key);
        put(b, r#"","path":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","status":""#);
        put_u(b, u64::from(e.status));
        put(b, r#"","protocol":"HTTP/1.1","responseLength":""#);
        put_u(b, e.response_bytes);
        put(b, r#"","responseLatency":""#);
        put_u(b, e.latency_us / 1000);
        put(b, r#"","integrationLatency":""#);
        match e.upstream_us {
            Some(u) => put_u(b, u / 1000),
            None => put(b, "-"),
        }
        put(b, r#"","apiId":""#);
        put(b, self.spec().api);
        put(b, r#"","apiKeyId":""#);
        put(b, self.c.map_or("-", |c| c.key_id.as_str()));
        put(b, r#"","authorizer":{"principalId":""#);
        put(b, self.c.map_or("-", |c| c.id.as_str()));
        put(b, r#""}}"#);
    }

    fn tyk(&self, b: &mut Vec<u8>) {
        let e = self.e;
        let path_len = self.path_len();
        put(b, r#"{"timestamp":""#);
        put_rfc3339(b, e.ts.0, Some(self.d.sub_ms_ns));
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        // The API listens on `/`: `path` is the path, `raw_path` the target.
        put(b, r#"","path":""#);
        b.extend_from_slice(&self.target[..path_len]);
        put(b, r#"","raw_path":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","response_code":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","alias":""#);
        put(b, self.c.map_or("", |c| c.name.as_str()));
        put(b, r#"","api_key":""#);
        put(b, self.c.map_or("", |c| c.key_hash.as_str()));
        put(b, r#"","api_version":"v1","api_name":""#);
        put(b, self.spec().api);
        put(b, r#"","api_id":""#);
        put(b, self.spec().api);
        put(b, r#"","org_id":"5f0c1e2d","oauth_id":""#);
        put(b, self.c.map_or("", |c| c.id.as_str()));
        put(b, r#"","request_time_ms":"#);
        put_u(b, e.latency_us / 1000);
        put(b, r#","latency":{"total":"#);
        put_u(b, e.latency_us / 1000);
        if let Some(u) = e.upstream_us {
            put(b, r#","upstream":"#);
            put_u(b, u / 1000);
        }
        put(b, r#"},"ip_address":""#);
        put(b, self.ip);
        put(b, r#"","host":""#);
        put(b, HOST);
        put(b, r#"","content_length":"#);
        put_u(b, e.request_bytes);
        put(b, r#","user_agent":""#);
        put(b, self.ua);
        put(b, r#"","tags":[]}"#);
    }

    fn traefik(&self, b: &mut Vec<u8>) {
        let e = self.e;
        let ns = |us: u64| us * 1000;
        put(b, r#"{"ClientAddr":""#);
        put(b, self.ip);
        b.push(b':');
        put_u(b, u64::from(self.d.port));
        put(b, r#"","ClientHost":""#);
        put(b, self.ip);
        put(b, r#"","ClientPort":""#);
        put_u(b, u64::from(self.d.port));
        put(b, r#"","ClientUsername":""#);
        put(b, self.c.map_or("-", |c| c.id.as_str()));
        put(b, r#"","DownstreamContentSize":"#);
        put_u(b, e.response_bytes);
        put(b, r#","DownstreamStatus":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","Duration":"#);
        put_u(b, ns(e.latency_us));
        put(b, r#","OriginContentSize":"#);
        put_u(
            b,
            if e.upstream_us.is_some() {
                e.response_bytes
            } else {
                0
            },
        );
        put(b, r#","OriginDuration":"#);
        put_u(b, e.upstream_us.map_or(0, ns));
        put(b, r#","OriginStatus":"#);
        put_u(b, e.upstream_us.map_or(0, |_| u64::from(e.status)));
        put(b, r#","Overhead":"#);
        put_u(b, ns(e.latency_us - e.upstream_us.unwrap_or(0)));
        put(b, r#","RequestAddr":""#);
        put(b, HOST);
        put(b, r#"","RequestContentSize":"#);
        put_u(b, e.request_bytes);
        put(b, r#","RequestHost":""#);
        put(b, HOST);
        put(b, r#"","RequestMethod":""#);
        put(b, self.spec().method);
        put(b, r#"","RequestPath":""#);
        b.extend_from_slice(self.target);
        put(
            b,
            r#"","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":""#,
        );
        put(b, self.spec().name);
        put(b, r#"","ServiceName":""#);
        put(b, self.spec().api);
        put(b, r#"","StartUTC":""#);
        put_rfc3339(b, e.ts.0, Some(self.d.sub_ms_ns));
        put(
            b,
            r#"","entryPointName":"websecure","level":"info","msg":"","request_X-Request-Id":""#,
        );
        put_uuid(b, self.d.id_hi, self.d.id_lo);
        put(b, r#"","time":""#);
        put_rfc3339_secs(b, e.ts.0);
        put(b, r#""}"#);
    }

    fn nginx(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"msec":""#);
        put_secs_ms(b, e.ts.0);
        put(b, r#"","remote_addr":""#);
        put(b, self.ip);
        put(b, r#"","remote_user":""#);
        put(b, self.c.map_or("", |c| c.id.as_str()));
        put(b, r#"","request":""#);
        put(b, self.spec().method);
        b.push(b' ');
        b.extend_from_slice(self.target);
        put(b, r#" HTTP/1.1","request_method":""#);
        put(b, self.spec().method);
        put(b, r#"","request_uri":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","status":""#);
        put_u(b, u64::from(e.status));
        put(b, r#"","request_length":""#);
        put_u(b, e.request_bytes);
        put(b, r#"","bytes_sent":""#);
        put_u(b, e.response_bytes);
        put(b, r#"","request_time":""#);
        put_secs_ms(b, (e.latency_us / 1000) as i64);
        put(b, r#"","upstream_response_time":""#);
        match e.upstream_us {
            Some(u) => put_secs_ms(b, (u / 1000) as i64),
            None => put(b, "-"),
        }
        put(b, r#"","request_id":""#);
        put_hex(b, self.d.id_hi, 16);
        put_hex(b, self.d.id_lo, 16);
        put(b, r#"","server_name":""#);
        put(b, self.spec().api);
        put(b, r#"","http_user_agent":""#);
        put(b, self.ua);
        put(b, r#""}"#);
    }

    fn clf(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, self.ip);
        put(b, " - ");
        put(b, self.c.map_or("-", |c| c.id.as_str()));
        put(b, " [");
        put_clf_time(b, e.ts.0);
        put(b, "] \"");
        put(b, self.spec().method);
        b.push(b' ');
        b.extend_from_slice(self.target);
        put(b, " HTTP/1.1\" ");
        put_u(b, u64::from(e.status));
        b.push(b' ');
        // `%b`: Apache writes `-` for a zero-byte body.
        if e.response_bytes == 0 {
            b.push(b'-');
        } else {
            put_u(b, e.response_bytes);
        }
        put(b, " \"-\" \"");
        put(b, self.ua);
        put(b, "\" rt=");
        put_secs_ms(b, (e.latency_us / 1000) as i64);
        put(b, " urt=\"");
        match e.upstream_us {
            Some(u) => put_secs_ms(b, (u / 1000) as i64),
            None => b.push(b'-'),
        }
        b.push(b'"');
    }

    fn canonical(&self, b: &mut Vec<u8>) {
        let e = self.e;
        let path_len = self.path_len();
        put(b, r#"{"event_id":""#);
        put_hex(b, self.d.id_hi, 16);
        put_hex(b, self.d.id_lo, 16);
        put(b, r#"","ts":""#);
        put_rfc3339(b, e.ts.0, None);
        put(b, r#"","gateway":"canonical","consumer":"#);
        match self.c {
            Some(c) => {
                b.push(b'"');
                put(b, &c.id);
                put(b, r#"","consumer_name":""#);
                put(b, &c.name);
                put(b, r#"","api_key_id":""#);
                put(b, &c.key_id);
                b.push(b'"');
            }
            None => put(b, r#"null,"consumer_name":null,"api_key_id":null"#),
        }
        put(b, r#","api":""#);
        put(b, self.spec().api);
        put(b, r#"","route":""#);
        put(b, self.spec().name);
        put(b, r#"","path_template":""#);
        put(b, self.spec().template);
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        put(b, r#"","path":""#);
        b.extend_from_slice(&self.target[..path_len]);
        put(b, r#"","query":"#);
        match self.target.get(path_len + 1..) {
            Some(q) => {
                b.push(b'"');
                b.extend_from_slice(q);
                b.push(b'"');
            }
            None => put(b, "null"),
        }
        put(b, r#","status":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","latency_ms":"#);
        put_ms(b, e.latency_us);
        put(b, r#","upstream_latency_ms":"#);
        match e.upstream_us {
            Some(u) => put_ms(b, u),
            None => put(b, "null"),
        }
        put(b, r#","request_bytes":"#);
        put_u(b, e.request_bytes);
        put(b, r#","response_bytes":"#);
        put_u(b, e.response_bytes);
        put(b, r#","client_ip":""#);
        put(b, self.ip);
        put(b, r#""}"#);
    }
}

// ---------------------------------------------------------------------------
// Small writers: formatting by hand is what keeps the simulator well above
// the ingest path's speed (no float formatting, no calendar library per line).

fn put(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
}

fn put_u(b: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

fn put_i(b: &mut Vec<u8>, v: i64) {
    if v < 0 {
        b.push(b'-');
    }
    put_u(b, v.unsigned_abs());
}

/// `v` zero-padded to `width` digits.
fn put_pad(b: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut x = v;
    let mut i = tmp.len();
    while x > 0 && i > 0 {
        i -= 1;
        tmp[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    let start = (tmp.len() - width).min(i);
    b.extend_from_slice(&tmp[start..]);
}

/// Microseconds as milliseconds with three decimals: `12345` → `12.345`.
fn put_ms(b: &mut Vec<u8>, us: u64) {
    put_u(b, us / 1000);
    b.push(b'.');
    put_pad(b, us % 1000, 3);
}

/// Milliseconds as seconds with three decimals: `52` → `0.052`.
fn put_secs_ms(b: &mut Vec<u8>, ms: i64) {
    put_i(b, ms.div_euclid(1000));
    b.push(b'.');
    put_pad(b, ms.rem_euclid(1000) as u64, 3);
}

fn put_hex(b: &mut Vec<u8>, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        b.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// A version-4-shaped UUID from 128 random bits.
fn put_uuid(b: &mut Vec<u8>, hi: u64, lo: u64) {
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & !(0xc << 60)) | (0x8 << 60);
    put_hex(b, hi >> 32, 8);
    b.push(b'-');
    put_hex(b, hi >> 16, 4);
    b.push(b'-');
    put_hex(b, hi, 4);
    b.push(b'-');
    put_hex(b, lo >> 48, 4);
    b.push(b'-');
    put_hex(b, lo, 12);
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn put_date_time(b: &mut Vec<u8>, ms: i64) {
    let (y, m, d) = civil(ms.div_euclid(86_400_000));
    let s = ms.rem_euclid(86_400_000) / 1000;
    put_pad(b, y as u64, 4);
    b.push(b'-');
    put_pad(b, u64::from(m), 2);
    b.push(b'-');
    put_pad(b, u64::from(d), 2);
    b.push(b'T');
    put_pad(b, (s / 3600) as u64, 2);
    b.push(b':');
    put_pad(b, (s / 60 % 60) as u64, 2);
    b.push(b':');
    put_pad(b, (s % 60) as u64, 2);
}

/// `2024-06-11T13:04:05.123Z`, or with nanoseconds
/// (`…05.123456789Z`) when `sub_ms_ns` is given.
fn put_rfc3339(b: &mut Vec<u8>, ms: i64, sub_ms_ns: Option<u32>) {
    put_date_time(b, ms);
    b.push(b'.');
    put_pad(b, ms.rem_euclid(1000) as u64, 3);
    if let Some(ns) = sub_ms_ns {
        put_pad(b, u64::from(ns), 6);
    }
    b.push(b'Z');
}

/// `2024-06-11T13:04:05Z`.
fn put_rfc3339_secs(b: &mut Vec<u8>, ms: i64) {
    put_date_time(b, ms);
    b.push(b'Z');
}

/// `11/Jun/2024:13:04:05 +0000`.
fn put_clf_time(b: &mut Vec<u8>, ms: i64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil(ms.div_euclid(86_400_000));
    let s = ms.rem_euclid(86_400_000) / 1000;
    put_pad(b, u64::from(d), 2);
    b.push(b'/');
    put(b, MONTHS[m as usize - 1]);
    b.push(b'/');
    put_pad(b, y as u64, 4);
    b.push(b':');
    put_pad(b, (s / 3600) as u64, 2);
    b.push(b':');
    put_pad(b, (s / 60 % 60) as u64, 2);
    b.push(b':');
    put_pad(b, (s % 60) as u64, 2);
    put(b, " +0000");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use tollgate_schemas::{DecodeOptions, Format, Position, decode};

    const END: i64 = 1_719_792_000_000; // 2024-07-01T00:00:00Z

    fn config(events: u64, format: GatewayMix, seed: u64) -> SimulatorConfig {
        SimulatorConfig {
            events,
            consumers: 50,
            days: 35,
            end: EpochMillis(END),
            format,
            seed,
            bad_ratio: 0.0,
            duplicate_ratio: 0.0,
        }
    }

    fn opts() -> DecodeOptions {
        DecodeOptions {
            envoy_consumer_field: Some(ENVOY_CONSUMER_FIELD.into()),
            ..DecodeOptions::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_lines_and_another_seed_does_not() {
        let a: Vec<SimLine> = Simulator::new(config(2000, GatewayMix::Mixed, 7))
            .unwrap()
            .collect();
        let b: Vec<SimLine> = Simulator::new(config(2000, GatewayMix::Mixed, 7))
            .unwrap()
            .collect();
        let c: Vec<SimLine> = Simulator::new(config(2000, GatewayMix::Mixed, 8))
            .unwrap()
            .collect();
        assert_eq!(a.len(), 2000);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn popularity_is_skewed_with_acct_0001_first() {
        let mut calls: HashMap<u32, u64> = HashMap::new();
        for line in Simulator::new(config(50_000, GatewayMix::Only(Gateway::Canonical), 3)).unwrap()
        {
            if let LineKind::Event(e) = line.kind
                && let Some(c) = e.consumer
            {
                *calls.entry(c).or_default() += 1;
            }
        }
        let top = calls.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c);
        assert_eq!(top, Some(1), "acct-0001 is the busiest: {calls:?}");
        // Zipf: the first consumer outnumbers the 10th by roughly 10×.
        assert!(calls[&1] > 5 * calls[&10], "{calls:?}");
        assert!(calls.len() > 40, "the tail is used too: {}", calls.len());
    }

    #[test]
    fn times_are_sorted_inside_the_range_and_follow_the_day() {
        let cfg = config(30_000, GatewayMix::Only(Gateway::Kong), 5);
        let start = cfg.start().0;
        let mut last = i64::MIN;
        let mut by_hour = [0u64; 24];
        for line in Simulator::new(cfg).unwrap() {
            let LineKind::Event(e) = line.kind else {
                unreachable!()
            };
            assert!(e.ts.0 >= last, "sorted");
            assert!((start..END).contains(&e.ts.0));
            last = e.ts.0;
            by_hour[(e.ts.0.rem_euclid(86_400_000) / 3_600_000) as usize] += 1;
        }
        // The afternoon peak carries several times the night's traffic.
        assert!(by_hour[16] > 3 * by_hour[3], "{by_hour:?}");
    }

    /// What the decoder must read from each format.
    fn check_decoded(e: &SimEvent, d: &tollgate_schemas::AccessEvent, line: &str) {
        let ctx = || format!("{:?} line {line}", e.gateway);
        assert_eq!(d.gateway, e.gateway, "{}", ctx());
        assert_eq!(d.ts, e.ts, "{}", ctx());
        assert_eq!(d.consumer, e.consumer_id(), "{}", ctx());
        assert_eq!(d.status, Some(e.status), "{}", ctx());
        assert_eq!(d.latency_ms, Some(e.latency_ms()), "{}", ctx());
        assert_eq!(d.upstream_latency_ms, e.upstream_ms(), "{}", ctx());
        assert_eq!(d.method.as_deref(), Some(e.route().method), "{}", ctx());
        let has_request_bytes = !matches!(e.gateway, Gateway::Aws | Gateway::Clf);
        if has_request_bytes {
            assert_eq!(d.request_bytes, Some(e.request_bytes), "{}", ctx());
        }
        if e.gateway != Gateway::Tyk {
            assert_eq!(d.response_bytes, Some(e.response_bytes), "{}", ctx());
        }
        if !matches!(e.gateway, Gateway::Clf) {
            assert_eq!(d.api.as_deref(), Some(e.route().api), "{}", ctx());
        }
        if matches!(
            e.gateway,
            Gateway::Kong
                | Gateway::Apisix
                | Gateway::Envoy
                | Gateway::Traefik
                | Gateway::Canonical
        ) {
            assert_eq!(d.route.as_deref(), Some(e.route().name), "{}", ctx());
        }
        assert!(
            d.path.as_deref().is_some_and(|p| p.starts_with("/v1/")),
            "{}",
            ctx()
        );
    }

    #[test]
    fn every_format_decodes_with_zero_rejects_to_what_was_generated() {
        let mut formats: Vec<GatewayMix> = Gateway::ALL.into_iter().map(GatewayMix::Only).collect();
        formats.push(GatewayMix::Mixed);
        for (i, format) in formats.into_iter().enumerate() {
            let mut seen_gateways = HashSet::new();
            let mut statuses = HashSet::new();
            for line in Simulator::new(config(3000, format, 11 + i as u64)).unwrap() {
                let LineKind::Event(e) = &line.kind else {
                    panic!("no bad lines asked for")
                };
                let text = String::from_utf8(line.text.clone()).unwrap();
                for fmt in [Format::Auto, Format::Fixed(e.gateway)] {
                    let out = decode(&line.text, fmt, &opts(), Position(None));
                    assert!(out.rejects.is_empty(), "{fmt}: {:?}\n{text}", out.rejects);
                    assert_eq!(out.events.len(), 1, "{text}");
                    check_decoded(e, &out.events[0], &text);
                }
                seen_gateways.insert(e.gateway);
                statuses.insert(e.status / 100);
            }
            if format == GatewayMix::Mixed {
                assert_eq!(seen_gateways.len(), Gateway::ALL.len());
            }
            assert!(
                statuses.contains(&2) && statuses.contains(&4),
                "{statuses:?}"
            );
        }
    }

    #[test]
    fn the_status_mix_is_mostly_success_with_rare_server_errors() {
        let mut classes = [0u64; 6];
        let n = 100_000;
        for line in Simulator::new(config(n, GatewayMix::Only(Gateway::Canonical), 2)).unwrap() {
            if let LineKind::Event(e) = line.kind {
                classes[usize::from(e.status / 100)] += 1;
            }
        }
        let share = |c: usize| classes[c] as f64 / n as f64;
        assert!(share(2) > 0.85, "{classes:?}");
        assert!((0.01..0.1).contains(&share(4)), "{classes:?}");
        assert!(share(5) > 0.0 && share(5) < 0.02, "{classes:?}");
    }

    #[test]
    fn bad_lines_are_rejected_and_duplicates_repeat_earlier_lines() {
        let mut cfg = config(20_000, GatewayMix::Mixed, 9);
        cfg.bad_ratio = 0.05;
        cfg.duplicate_ratio = 0.05;
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let (mut bad, mut dups) = (0, 0);
        for line in Simulator::new(cfg).unwrap() {
            let out = decode(&line.text, Format::Auto, &opts(), Position(None));
            match line.kind {
                LineKind::Bad => {
                    bad += 1;
                    assert!(
                        out.events.is_empty(),
                        "{:?}",
                        String::from_utf8_lossy(&line.text)
                    );
                    assert!(!out.rejects.is_empty());
                }
                LineKind::Duplicate => {
                    dups += 1;
                    assert!(
                        seen.contains(&line.text),
                        "a duplicate repeats an earlier line"
                    );
                    assert_eq!(out.events.len(), 1);
                }
                LineKind::Event(_) => {
                    assert!(out.rejects.is_empty());
                    seen.insert(line.text);
                }
            }
        }
        assert!((700..1300).contains(&bad), "{bad}");
        assert!((700..1300).contains(&dups), "{dups}");
    }

    #[test]
    fn hand_written_times_match_chrono() {
        for ms in [0, 951_782_400_000, 1_718_111_045_123, 4_102_444_799_999] {
            let dt = EpochMillis(ms).to_datetime();
            let mut b = Vec::new();
            put_rfc3339(&mut b, ms, None);
            assert_eq!(String::from_utf8(b).unwrap(), EpochMillis(ms).to_string());
            let mut b = Vec::new();
            put_clf_time(&mut b, ms);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                dt.format("%d/%b/%Y:%H:%M:%S +0000").to_string()
            );
        }
    }

    #[test]
    fn settings_out_of_range_are_refused_with_the_flag_named() {
        let mut cfg = config(10, GatewayMix::Mixed, 1);
        cfg.bad_ratio = 0.7;
        cfg.duplicate_ratio = 0.7;
        let e = Simulator::new(cfg).unwrap_err().to_string();
        assert!(e.contains("--bad-ratio + --duplicate-ratio"), "{e}");
        let mut cfg = config(10, GatewayMix::Mixed, 1);
        cfg.consumers = 0;
        assert!(
            Simulator::new(cfg)
                .unwrap_err()
                .to_string()
                .contains("--consumers")
        );
        assert!("zeus".parse::<GatewayMix>().unwrap_err().contains("mixed"));
    }

    #[test]
    fn write_lines_writes_one_line_per_message() {
        let mut sim = Simulator::new(config(500, GatewayMix::Mixed, 4)).unwrap();
        let mut out = Vec::new();
        assert_eq!(write_lines(&mut sim, &mut out, None).unwrap(), 500);
        let lines: Vec<&[u8]> = out
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 500);
        let again: Vec<Vec<u8>> = Simulator::new(config(500, GatewayMix::Mixed, 4))
            .unwrap()
            .map(|l| l.text)
            .collect();
        assert!(lines.iter().zip(&again).all(|(a, b)| a == b));
    }

    #[test]
    fn produce_delivers_every_line_to_a_mock_cluster() {
        use rdkafka::consumer::{BaseConsumer, Consumer as _};
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic("sim", 2, 1).unwrap();
        let mut sim = Simulator::new(config(2000, GatewayMix::Mixed, 6)).unwrap();
        let target = KafkaTarget {
            brokers: cluster.bootstrap_servers(),
            topic: "sim".into(),
            rate: None,
        };
        let mut calls = Vec::new();
        let report = produce(&mut sim, &target, |p| {
            calls.push(*p);
            true
        })
        .unwrap();
        assert_eq!(report.sent, 2000);
        assert!(!report.stopped);
        let last = calls.last().unwrap();
        assert_eq!((last.sent, last.delivered, last.failed), (2000, 2000, 0));
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", "count")
            .create()
            .unwrap();
        let mut total = 0;
        for p in 0..2 {
            let (lo, hi) = consumer
                .fetch_watermarks("sim", p, Duration::from_secs(10))
                .unwrap();
            total += hi - lo;
        }
        assert_eq!(total, 2000);

        // A callback returning false stops the run; what was sent arrives.
        let mut sim = Simulator::new(config(5000, GatewayMix::Mixed, 6)).unwrap();
        let report = produce(&mut sim, &target, |p| p.sent < 1000).unwrap();
        assert!(report.stopped);
        assert_eq!(report.sent, 1000);
    }
}
