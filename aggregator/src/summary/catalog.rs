//! The views and their shapes: which views there are ([`VIEWS`]), their
//! grain and key dimensions, and how their rows' columns are read and
//! encoded (the keys, the buckets, the consumer sets; the histograms are
//! [`crate::sketch`]'s), shared by the writer and the planner.

use std::collections::{HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};

use crate::AnalyticsError;
use crate::query::Dim;
use crate::sketch::{get_varint, put_varint};

pub use tollgate_lake::schema::summary_schema;

pub(super) const DAY_MS: i64 = 86_400_000;

pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(super) type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The time grain of a view's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// One row per hour and key.
    Hour,
    /// One row per UTC day and key.
    Day,
    /// One row per UTC calendar month and key: only in the month files
    /// (see [`super::encode_month`]), for questions over whole months.
    Month,
}

/// One view: a grain and the dimensions its rows are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Stored in the `view` column.
    pub name: &'static str,
    /// Hours or days.
    pub grain: Grain,
    /// Among consumer, api, route, method.
    pub dims: &'static [Dim],
}

const ROUTE: &[Dim] = &[Dim::Api, Dim::Route, Dim::Method];
const CONSUMER_ROUTE: &[Dim] = &[Dim::Consumer, Dim::Api, Dim::Route, Dim::Method];

/// The views, smallest first (the order in which [`super::query`] tries them).
/// There is no hourly consumer × route view: it would be nearly as large as
/// the hourly rollup itself (one consumer's routes over a range that is not
/// whole days read the hourly rollup instead).
pub const VIEWS: &[View] = &[
    View {
        name: "day",
        grain: Grain::Day,
        dims: &[],
    },
    View {
        name: "hour",
        grain: Grain::Hour,
        dims: &[],
    },
    View {
        name: "day_route",
        grain: Grain::Day,
        dims: ROUTE,
    },
    View {
        name: "day_consumer",
        grain: Grain::Day,
        dims: &[Dim::Consumer],
    },
    View {
        name: "hour_route",
        grain: Grain::Hour,
        dims: ROUTE,
    },
    View {
        name: "day_consumer_route",
        grain: Grain::Day,
        dims: CONSUMER_ROUTE,
    },
    View {
        name: "hour_consumer",
        grain: Grain::Hour,
        dims: &[Dim::Consumer],
    },
    View {
        name: "month",
        grain: Grain::Month,
        dims: &[],
    },
    View {
        name: "month_route",
        grain: Grain::Month,
        dims: ROUTE,
    },
    View {
        name: "month_consumer",
        grain: Grain::Month,
        dims: &[Dim::Consumer],
    },
    View {
        name: "month_consumer_route",
        grain: Grain::Month,
        dims: CONSUMER_ROUTE,
    },
];

/// The key columns, in the order of [`crate::rollup_row::RollupKey::strings`].
const KEY_DIMS: [Dim; 4] = [Dim::Consumer, Dim::Api, Dim::Route, Dim::Method];

pub(super) fn key_index(d: Dim) -> Option<usize> {
    KEY_DIMS.iter().position(|k| *k == d)
}

/// A set of consumers as bytes: each id, sorted, as a varint length then
/// its bytes.
pub(super) fn pack_set(set: &HashSet<Option<String>>, out: &mut Vec<u8>) {
    out.clear();
    let mut ids: Vec<&str> = set.iter().flatten().map(String::as_str).collect();
    ids.sort_unstable();
    for id in ids {
        put_varint(id.len() as u64, out);
        out.extend_from_slice(id.as_bytes());
    }
}

/// Adds the ids packed in `b` to `into`.
pub(super) fn unpack_set<'a>(
    b: &'a [u8],
    into: &mut FastSet<&'a [u8]>,
) -> Result<(), AnalyticsError> {
    let mut at = 0;
    while at < b.len() {
        let len = get_varint(b, &mut at)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| at + n <= b.len())
            .ok_or_else(|| {
                AnalyticsError::Lake("rollups_summary: a consumer set is damaged".into())
            })?;
        into.insert(&b[at..at + len]);
        at += len;
    }
    Ok(())
}

/// The four key columns from column `from` on, as strings.
pub(super) fn strings(b: &RecordBatch, from: usize) -> Result<Vec<StringArray>, AnalyticsError> {
    (from..from + 4)
        .map(|i| {
            let c = datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)?;
            Ok(c.as_string::<i32>().clone())
        })
        .collect()
}

/// Column `i`'s buckets, in milliseconds.
pub(super) fn buckets(b: &RecordBatch, i: usize) -> Result<Vec<i64>, AnalyticsError> {
    let c = datafusion::arrow::compute::cast(
        b.column(i),
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?;
    Ok(c.as_primitive::<TimestampMillisecondType>()
        .values()
        .to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_consumer_sets_read_back_whole() {
        let set: HashSet<Option<String>> = [Some("acme"), None, Some("o'brien\n&co"), Some("")]
            .into_iter()
            .map(|c| c.map(String::from))
            .collect();
        let mut buf = Vec::new();
        pack_set(&set, &mut buf);
        let mut back = FastSet::default();
        unpack_set(&buf, &mut back).unwrap();
        let want: FastSet<&[u8]> = [&b"acme"[..], b"o'brien\n&co", b""].into_iter().collect();
        assert_eq!(back, want);
        assert!(unpack_set(&[5, b'a'], &mut FastSet::default()).is_err());
    }
}
