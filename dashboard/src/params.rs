//! Query parameters: read strictly (an unknown or repeated parameter is a
//! 400, not silently ignored) and turned into a checked [`TimeRange`].
//!
//! A range is `from` and `to` (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` or
//! RFC 3339, UTC unless an offset is given; `to` exclusive), or `range`
//! (`90m`, `24h`, `7d`) ending at the newest hour in the rollups (at the
//! current minute when there are none). Buckets are `minute`, `hour`, `day`
//! or `auto`; ranges are widened to whole buckets.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, NaiveDateTime, Utc};
use tollgate_aggregator::traffic::Bucket;

use crate::error::{ApiError, code};
use crate::state::Limits;

/// Most points one series may have.
pub const MAX_BUCKETS: i64 = 5_000;

/// The parameters every range-taking route accepts.
pub const RANGE_PARAMS: [&str; 4] = ["from", "to", "range", "bucket"];

/// Ranges `auto` answers per minute (exact, from events) up to this long.
const AUTO_MINUTE_UP_TO: Duration = Duration::hours(6);
/// Ranges `auto` answers per hour up to this long; per day beyond.
const AUTO_HOUR_UP_TO: Duration = Duration::days(14);

/// The parsed query string of one request.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `raw`, refusing parameters not in `allowed` and repeats.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                let list = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::bad_request(
                    code::UNKNOWN_PARAMETER,
                    format!("unknown parameter {k:?}; this route takes: {list}"),
                ));
            }
            if pairs.iter().any(|(x, _)| *x == k) {
                return Err(ApiError::bad_request(
                    code::INVALID_PARAMETER,
                    format!("parameter {k:?} is given twice; give it once"),
                ));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params(pairs))
    }

    /// A parameter's value; an empty value (a blank form field) is absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A whole number in `1..=max`, or `default` when absent.
    pub fn count(&self, key: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(
                    code::INVALID_PARAMETER,
                    format!("{key}={v:?} is not a whole number from 1 to {max}"),
                )),
            },
        }
    }
}

/// A checked time range with its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, inclusive, on a bucket boundary.
    pub from: DateTime<Utc>,
    /// End, exclusive, on a bucket boundary.
    pub to: DateTime<Utc>,
    /// Bucket of series over the range.
    pub bucket: Bucket,
}

impl TimeRange {
    /// One bucket's length.
    pub fn step(&self) -> Duration {
        bucket_len(self.bucket)
    }

    /// Whether this range is answered from raw events (minute buckets)
    /// rather than from the hourly rollups.
    pub fn exact(&self) -> bool {
        self.bucket == Bucket::Minute
    }
}

/// One bucket's length.
pub fn bucket_len(b: Bucket) -> Duration {
    match b {
        Bucket::Minute => Duration::minutes(1),
        Bucket::Hour => Duration::hours(1),
        Bucket::Day => Duration::days(1),
    }
}

/// The name of a bucket in URLs and JSON.
pub fn bucket_name(b: Bucket) -> &'static str {
    match b {
        Bucket::Minute => "minute",
        Bucket::Hour => "hour",
        Bucket::Day => "day",
    }
}

/// Reads a time: `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM[:SS]`
/// (UTC, what a `datetime-local` field sends) or RFC 3339.
pub fn parse_time(name: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    // A `+hh:mm` offset sent unencoded arrives as a space.
    let fixed = if s.contains('T') {
        s.replace(' ', "+")
    } else {
        s.to_string()
    };
    DateTime::parse_from_rfc3339(&fixed)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                code::INVALID_DATE,
                format!("{name}={s:?} is not a date; use YYYY-MM-DD, YYYY-MM-DDTHH:MM or RFC 3339"),
            )
        })
}

/// Reads a span: a whole number followed by `m`, `h` or `d`.
pub fn parse_span(s: &str) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::bad_request(
            code::INVALID_RANGE,
            format!(
                "range={s:?} is not a span; use a whole number with m, h or d, e.g. 90m, 24h, 7d"
            ),
        )
    };
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    if !(1..=100_000).contains(&n) {
        return Err(bad());
    }
    match unit {
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(bad()),
    }
}

/// Reads a bucket; `None` for `auto` or absent.
pub fn parse_bucket(s: Option<&str>) -> Result<Option<Bucket>, ApiError> {
    match s {
        None | Some("auto") => Ok(None),
        Some("minute") => Ok(Some(Bucket::Minute)),
        Some("hour") => Ok(Some(Bucket::Hour)),
        Some("day") => Ok(Some(Bucket::Day)),
        Some(other) => Err(ApiError::bad_request(
            code::INVALID_BUCKET,
            format!("bucket={other:?} is not a bucket; use minute, hour, day or auto"),
        )),
    }
}

/// Whether the request names its range explicitly (no anchor needed).
pub fn is_explicit(p: &Params) -> bool {
    p.get("from").is_some() || p.get("to").is_some()
}

/// The checked range of a request. `anchor` is where a `range=` span ends
/// (the end of the newest rollup hour, or now).
pub fn resolve_range(
    p: &Params,
    limits: &Limits,
    anchor: DateTime<Utc>,
) -> Result<TimeRange, ApiError> {
    let bucket = parse_bucket(p.get("bucket"))?;
    let (from, to) = match (p.get("from"), p.get("to"), p.get("range")) {
        (Some(f), Some(t), None) => (parse_time("from", f)?, parse_time("to", t)?),
        (Some(_), Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                code::INVALID_PARAMETER,
                "give either from and to, or range, not both",
            ));
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(ApiError::bad_request(
                code::INVALID_RANGE,
                "give both from and to (to is exclusive), or range",
            ));
        }
        (None, None, span) => {
            let span = parse_span(span.unwrap_or("24h"))?;
            (anchor - span, anchor)
        }
    };
    if to <= from {
        return Err(ApiError::bad_request(
            code::INVALID_RANGE,
            "`to` must be after `from` (to is exclusive)",
        ));
    }
    let span = to - from;
    if span > Duration::days(i64::from(limits.max_range_days)) {
        return Err(ApiError::bad_request(
            code::RANGE_TOO_LARGE,
            format!(
                "the range is longer than {} days ([serve] max_range_days); narrow it",
                limits.max_range_days
            ),
        ));
    }
    let minute_limit = Duration::hours(i64::from(limits.max_minute_range_hours));
    let bucket = bucket.unwrap_or(if span <= AUTO_MINUTE_UP_TO.min(minute_limit) {
        Bucket::Minute
    } else if span <= AUTO_HOUR_UP_TO {
        Bucket::Hour
    } else {
        Bucket::Day
    });
    if bucket == Bucket::Minute && span > minute_limit {
        return Err(ApiError::bad_request(
            code::RANGE_TOO_LARGE,
            format!(
                "minute buckets cover at most {} hours ([serve] max_minute_range_hours); use bucket=hour or a shorter range",
                limits.max_minute_range_hours
            ),
        ));
    }
    let step = bucket_len(bucket);
    let from = from.duration_trunc(step).unwrap_or(from);
    let to = match to.duration_trunc(step) {
        Ok(t) if t == to => t,
        Ok(t) => t + step,
        Err(_) => to,
    };
    let buckets = (to - from).num_seconds() / step.num_seconds();
    if buckets > MAX_BUCKETS {
        return Err(ApiError::bad_request(
            code::RANGE_TOO_LARGE,
            format!(
                "{buckets} {} buckets is more than {MAX_BUCKETS}; use a coarser bucket or a shorter range",
                bucket_name(bucket)
            ),
        ));
    }
    Ok(TimeRange { from, to, bucket })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn limits() -> Limits {
        Limits {
            max_range_days: 400,
            max_minute_range_hours: 24,
            sql_max_rows: 100,
        }
    }

    fn params(q: &str) -> Params {
        Params::parse(Some(q), &RANGE_PARAMS).unwrap()
    }

    fn anchor() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 13, 0, 0, 0).unwrap()
    }

    #[test]
    fn explicit_ranges_are_widened_to_whole_buckets() {
        let r = resolve_range(
            &params("from=2024-06-11T10:30&to=2024-06-12T09:10&bucket=hour"),
            &limits(),
            anchor(),
        )
        .unwrap();
        assert_eq!(r.from, Utc.with_ymd_and_hms(2024, 6, 11, 10, 0, 0).unwrap());
        assert_eq!(r.to, Utc.with_ymd_and_hms(2024, 6, 12, 10, 0, 0).unwrap());
        let r = resolve_range(
            &params("from=2024-06-11&to=2024-06-11T00:00:00%2B00:00"),
            &limits(),
            anchor(),
        );
        assert_eq!(r.unwrap_err().code, code::INVALID_RANGE);
        let r = resolve_range(
            &params("from=2024-06-11T00:00:00+02:00&to=2024-06-12"),
            &limits(),
            anchor(),
        )
        .unwrap();
        assert_eq!(r.from, Utc.with_ymd_and_hms(2024, 6, 10, 22, 0, 0).unwrap());
    }

    #[test]
    fn auto_buckets_follow_the_span() {
        let b = |q: &str| {
            resolve_range(&params(q), &limits(), anchor())
                .unwrap()
                .bucket
        };
        assert_eq!(b("range=90m"), Bucket::Minute);
        assert_eq!(b("range=24h"), Bucket::Hour);
        assert_eq!(b("range=30d"), Bucket::Day);
        assert_eq!(b(""), Bucket::Hour);
        let r = resolve_range(&params("range=7d"), &limits(), anchor()).unwrap();
        assert_eq!(r.to, anchor());
        assert_eq!(r.from, anchor() - Duration::days(7));
    }

    #[test]
    fn bad_ranges_get_their_own_codes() {
        let e = |q: &str| {
            resolve_range(&params(q), &limits(), anchor())
                .unwrap_err()
                .code
        };
        assert_eq!(e("from=2024-13-01&to=2024-06-12"), code::INVALID_DATE);
        assert_eq!(e("from=yesterday&to=2024-06-12"), code::INVALID_DATE);
        assert_eq!(e("from=2024-06-12"), code::INVALID_RANGE);
        assert_eq!(e("from=2024-06-12&to=2024-06-11"), code::INVALID_RANGE);
        assert_eq!(e("range=7w"), code::INVALID_RANGE);
        assert_eq!(e("range=-1d"), code::INVALID_RANGE);
        assert_eq!(e("from=2020-01-01&to=2024-01-01"), code::RANGE_TOO_LARGE);
        assert_eq!(e("range=3d&bucket=minute"), code::RANGE_TOO_LARGE);
        assert_eq!(e("range=300d&bucket=hour"), code::RANGE_TOO_LARGE);
        assert_eq!(e("range=1d&bucket=week"), code::INVALID_BUCKET);
        assert_eq!(
            e("range=1d&from=2024-06-01&to=2024-06-02"),
            code::INVALID_PARAMETER
        );
        let unknown = Params::parse(Some("form=2024-06-01"), &RANGE_PARAMS).unwrap_err();
        assert_eq!(unknown.code, code::UNKNOWN_PARAMETER);
        let twice = Params::parse(Some("range=1d&range=2d"), &RANGE_PARAMS).unwrap_err();
        assert_eq!(twice.code, code::INVALID_PARAMETER);
    }
}
