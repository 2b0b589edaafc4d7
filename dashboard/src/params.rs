//! Query parameters: read strictly with axum's `Query` extractor into one
//! serde struct per route (an unknown or repeated parameter is a 400, not
//! silently ignored) and turned into a checked [`TimeRange`].
//!
//! A range is `from` and `to` (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` or
//! RFC 3339, UTC unless an offset is given; `to` exclusive), or `range`
//! (`90m`, `24h`, `7d`) ending at the newest hour in the rollups (at the
//! current minute when there are none). Buckets are `minute`, `hour`, `day`
//! or `auto`; ranges are widened to whole buckets.
//!
//! Values are kept as text in the structs and checked here, so a bad value
//! gets the message and code it always had (`n="ten" is not a whole number
//! from 1 to 1000`), which serde's own errors would not name.

use axum::extract::{FromRequestParts, Query};
use axum::http::Uri;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, DurationRound, NaiveDate, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tollgate_aggregator::query::Bucket;
use utoipa::IntoParams;

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

/// The query string of a request, deserialized into `T` by axum's
/// [`Query`], with its rejections answered as [`ApiError`]s: an unknown
/// parameter is `unknown_parameter` naming the ones the route takes, a
/// repeated one `invalid_parameter`.
///
/// `T` should be `#[serde(deny_unknown_fields)]` with every field
/// `#[serde(default, deserialize_with = "blank_is_none")]`.
#[derive(Debug, Clone)]
pub struct StrictQuery<T>(pub T);

impl<T: DeserializeOwned> StrictQuery<T> {
    /// Reads the query string of `uri`.
    pub fn from_uri(uri: &Uri) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(uri)
            .map(|Query(t)| StrictQuery(t))
            .map_err(|r| rejection(&r.body_text()))
    }
}

impl<T, S> FromRequestParts<S> for StrictQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::from_uri(&parts.uri)
    }
}

/// The API's error for a query string serde refused; `text` is axum's
/// rejection text, which carries serde's message (`unknown field `x`,
/// expected one of `a`, `b``, `duplicate field `x``).
fn rejection(text: &str) -> ApiError {
    // Names in serde's messages are between backticks.
    let quoted = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    if let Some((_, rest)) = text.split_once("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = quoted(expected);
        let list = if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed.join(", ")
        };
        return ApiError::bad_request(
            code::UNKNOWN_PARAMETER,
            format!("unknown parameter {name:?}; this route takes: {list}"),
        );
    }
    if let Some((_, rest)) = text.split_once("duplicate field `") {
        let name = rest.split_once('`').map_or(rest, |(n, _)| n);
        return ApiError::bad_request(
            code::INVALID_PARAMETER,
            format!("parameter {name:?} is given twice; give it once"),
        );
    }
    ApiError::bad_request(code::INVALID_PARAMETER, text.to_string())
}

/// Reads a parameter's value trimmed; an empty value (a blank form field)
/// is absent.
pub fn blank_is_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// The range parameters alone (the pages and `GET /api/self`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// Start, inclusive: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or RFC 3339.
    /// Give with `to`, or use `range`.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub from: Option<String>,
    /// End, exclusive; same forms as `from`.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub to: Option<String>,
    /// A span ending at the newest hour in the rollups (now when there are
    /// none), e.g. 90m, 24h (the default), 7d.
    #[param(pattern = "^[0-9]+[mhd]$", example = "24h")]
    #[serde(default, deserialize_with = "blank_is_none")]
    pub range: Option<String>,
    /// Series bucket: `minute`, `hour`, `day` or `auto` (the default). Minute
    /// buckets come from raw events and cover at most [serve]
    /// max_minute_range_hours; hour and day from the hourly rollups. auto:
    /// minute up to 6 h, hour up to 14 days, day beyond.
    #[param(pattern = "^(auto|minute|hour|day)$")]
    #[serde(default, deserialize_with = "blank_is_none")]
    pub bucket: Option<String>,
}

impl RangeParams {
    /// A range parameter's value by name (one of [`RANGE_PARAMS`]), for
    /// links that keep the range.
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "from" => self.from.as_deref(),
            "to" => self.to.as_deref(),
            "range" => self.range.as_deref(),
            "bucket" => self.bucket.as_deref(),
            _ => None,
        }
    }
}

/// Declares a route's parameters: the range parameters plus `extra`
/// fields, every one optional text. serde cannot combine `flatten` with
/// `deny_unknown_fields`, so the range fields are repeated per struct
/// rather than flattened.
macro_rules! range_query {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Start, inclusive: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or RFC 3339.
            /// Give with `to`, or use `range`.
            #[serde(default, deserialize_with = "blank_is_none")]
            pub from: Option<String>,
            /// End, exclusive; same forms as `from`.
            #[serde(default, deserialize_with = "blank_is_none")]
            pub to: Option<String>,
            /// A span ending at the newest hour in the rollups (now when there are
            /// none), e.g. 90m, 24h (the default), 7d.
            #[param(pattern = "^[0-9]+[mhd]$", example = "24h")]
            #[serde(default, deserialize_with = "blank_is_none")]
            pub range: Option<String>,
            /// Series bucket: `minute`, `hour`, `day` or `auto` (the default). Minute
            /// buckets come from raw events and cover at most [serve]
            /// max_minute_range_hours; hour and day from the hourly rollups. auto:
            /// minute up to 6 h, hour up to 14 days, day beyond.
            #[param(pattern = "^(auto|minute|hour|day)$")]
            #[serde(default, deserialize_with = "blank_is_none")]
            pub bucket: Option<String>,
            $(
                $(#[$fm])*
                #[serde(default, deserialize_with = "blank_is_none")]
                pub $field: Option<String>,
            )*
        }

        impl $name {
            /// The range parameters of this request.
            pub fn range(&self) -> RangeParams {
                RangeParams {
                    from: self.from.clone(),
                    to: self.to.clone(),
                    range: self.range.clone(),
                    bucket: self.bucket.clone(),
                }
            }
        }
    };
}

range_query!(
    /// `GET /api/traffic`.
    TrafficParams {
        /// Only this consumer.
        consumer,
    }
);
range_query!(
    /// `GET /api/top`.
    TopParams {
        /// The dimension to group by (`consumer` by default).
        #[param(pattern = "^(consumer|api|route|method|status_class|status|gateway)$")]
        by,
        /// The ranking: `calls` (default), `errors`, `p95` or `p99`.
        #[param(pattern = "^(calls|errors|p95|p99)$")]
        order,
        /// How many groups, 1 to 1000 (10 by default).
        #[param(pattern = "^[0-9]+$")]
        n,
        /// Only this consumer.
        consumer,
    }
);
range_query!(
    /// `GET /api/consumers`.
    ConsumersParams {
        /// The ranking (`calls` by default).
        order,
    }
);
range_query!(
    /// `GET /api/consumers/{consumer}`.
    ConsumerParams {
        /// How many top routes, 1 to 1000 (10 by default).
        routes,
    }
);
range_query!(
    /// `GET /api/routes`.
    RoutesParams {
        /// Only this consumer.
        consumer,
        /// The ranking (`calls` by default).
        order,
    }
);

/// `GET /api/alerts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsParams {
    /// How many recent signals, 1 to 1000 (50 by default).
    #[serde(default, deserialize_with = "blank_is_none")]
    pub limit: Option<String>,
}

/// `GET /sql` and `GET /sql/download`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SqlParams {
    /// The query.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub q: Option<String>,
}

/// A whole number in `1..=max` read from parameter `key`, or `default`
/// when absent.
pub fn count(
    key: &str,
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match value {
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
pub fn is_explicit(p: &RangeParams) -> bool {
    p.from.is_some() || p.to.is_some()
}

/// The checked range of a request. `anchor` is where a `range=` span ends
/// (the end of the newest rollup hour, or now).
pub fn resolve_range(
    p: &RangeParams,
    limits: &Limits,
    anchor: DateTime<Utc>,
) -> Result<TimeRange, ApiError> {
    let bucket = parse_bucket(p.bucket.as_deref())?;
    let (from, to) = match (p.from.as_deref(), p.to.as_deref(), p.range.as_deref()) {
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

    fn query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
        let uri: Uri = format!("/x?{q}").parse().unwrap();
        StrictQuery::from_uri(&uri).map(|StrictQuery(t)| t)
    }

    fn params(q: &str) -> RangeParams {
        query(q).unwrap()
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
        let unknown = query::<RangeParams>("form=2024-06-01").unwrap_err();
        assert_eq!(unknown.code, code::UNKNOWN_PARAMETER);
        let twice = query::<RangeParams>("range=1d&range=2d").unwrap_err();
        assert_eq!(twice.code, code::INVALID_PARAMETER);
    }

    #[test]
    fn rejections_name_the_parameter_and_what_the_route_takes() {
        let unknown = query::<AlertsParams>("limit=5&colour=red").unwrap_err();
        assert_eq!(unknown.code, code::UNKNOWN_PARAMETER);
        assert_eq!(
            unknown.message,
            "unknown parameter \"colour\"; this route takes: limit"
        );
        let unknown = query::<TrafficParams>("colour=red").unwrap_err();
        assert_eq!(
            unknown.message,
            "unknown parameter \"colour\"; this route takes: from, to, range, bucket, consumer"
        );
        let twice = query::<SqlParams>("q=1&q=2").unwrap_err();
        assert_eq!(
            twice.message,
            "parameter \"q\" is given twice; give it once"
        );
    }

    #[test]
    fn values_are_trimmed_and_blank_ones_are_absent() {
        let p: TopParams = query("n=%2012%20&consumer=&by=api&from=+2024-06-11+").unwrap();
        assert_eq!(p.n.as_deref(), Some("12"));
        assert_eq!(p.consumer, None);
        assert_eq!(p.by.as_deref(), Some("api"));
        assert_eq!(p.range().from.as_deref(), Some("2024-06-11"));
        assert_eq!(p.range().get("from"), Some("2024-06-11"));
        assert_eq!(query::<SqlParams>("").unwrap(), SqlParams::default());
        assert_eq!(count("n", p.n.as_deref(), 10, 1000).unwrap(), 12);
        assert_eq!(count("n", None, 10, 1000).unwrap(), 10);
        for bad in ["0", "1001", "ten", "-1"] {
            let e = count("n", Some(bad), 10, 1000).unwrap_err();
            assert_eq!(e.code, code::INVALID_PARAMETER);
            assert_eq!(
                e.message,
                format!("n={bad:?} is not a whole number from 1 to 1000")
            );
        }
    }
}
