//! The generator: the consumer, route, time and incident models, and
//! [`Simulator`], which draws calls from them and writes each as its
//! gateway logs it (the writers are in `formats`).

mod formats;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, LogNormal, Pareto};
use tollgate_schemas::{EpochMillis, Gateway};

use crate::catalog::{
    APIS, COUNTRIES, NAMES, QueryKind, ROUTES, RouteSpec, SEARCH_WORDS, SUFFIXES, USER_AGENTS,
};
use crate::config::{GatewayMix, JSON_GATEWAYS, SimulateError, SimulatorConfig, ZIPF_EXPONENT};
use crate::text::{put, put_hex, put_i, put_rfc3339, put_u, put_uuid};

use formats::Line;

/// Upstream timeout: what a 504 waits for, in microseconds.
const TIMEOUT_US: u64 = 30_000_000;

/// Longest latency written, in microseconds: the Pareto tail is cut at one
/// minute, where real gateways give up.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Lines remembered for `--duplicate-ratio`: a duplicate is one of the last
/// this many events, as a retrying shipper would resend.
const RECENT: usize = 256;

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
            GatewayMix::Json => JSON_GATEWAYS[rng.random_range(0..JSON_GATEWAYS.len())],
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
        ctx.write(b);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ENVOY_CONSUMER_FIELD;
    use std::collections::{HashMap, HashSet};
    use tollgate_schemas::{DecodeOptions, Format, Position, decode};

    const GOLDEN: [(u64, u64); 3] = [
        (20_000, 6_327_319_233_479_452_807),
        (5_000, 1_391_476_193_148_635_481),
        (5_000, 8_684_679_118_122_405_965),
    ];
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

    /// FNV-1a over every line: a fingerprint of the exact bytes.
    fn fingerprint(cfg: SimulatorConfig) -> (u64, u64) {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut n = 0;
        for line in Simulator::new(cfg).unwrap() {
            for &c in line.text.iter().chain(b"\n") {
                h = (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3);
            }
            n += 1;
        }
        (n, h)
    }

    /// The lines for a seed are the same bytes from release to release
    /// (benchmarks and bug reports name a seed): these fingerprints were
    /// taken from the simulator before it became this crate.
    #[test]
    fn a_seed_gives_the_same_bytes_as_before() {
        let mut cfg = config(20_000, GatewayMix::Mixed, 7);
        cfg.bad_ratio = 0.02;
        cfg.duplicate_ratio = 0.02;
        let got = [
            fingerprint(cfg),
            fingerprint(config(5_000, GatewayMix::Only(Gateway::Canonical), 42)),
            fingerprint(config(5_000, GatewayMix::Only(Gateway::Clf), 3)),
        ];
        assert_eq!(got, GOLDEN);
    }

    #[test]
    fn the_json_mix_writes_only_json_and_every_gateway_format() {
        let mut seen = HashSet::new();
        for line in Simulator::new(config(3000, GatewayMix::Json, 12)).unwrap() {
            let LineKind::Event(e) = &line.kind else {
                panic!("no bad lines asked for")
            };
            assert!(line.text.starts_with(b"{") && line.text.ends_with(b"}"));
            let out = decode(&line.text, Format::Auto, &opts(), Position(None));
            assert_eq!(out.events.len(), 1);
            seen.insert(e.gateway);
        }
        let mut want: Vec<Gateway> = JSON_GATEWAYS.to_vec();
        let mut seen: Vec<Gateway> = seen.into_iter().collect();
        want.sort_by_key(|g| g.as_str());
        seen.sort_by_key(|g| g.as_str());
        assert_eq!(seen, want);
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
}
