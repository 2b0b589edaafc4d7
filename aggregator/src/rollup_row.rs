//! One hourly rollup row, as types: its key ([`RollupKey`]) and its
//! values ([`RollupAgg`]), merged by adding. Below [`crate::rollup`] (which
//! builds and writes them) and [`crate::summary`] (which folds them into
//! views), so neither imports the other for them.

use crate::sketch::Sketch;

/// A rollup row's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    /// Start of the hour, epoch ms.
    pub hour: i64,
    /// consumer, api, route, method (nullable strings).
    pub strings: [Option<String>; 4],
    /// HTTP status.
    pub status: Option<i32>,
    /// Gateway.
    pub gateway: String,
}

/// A rollup row's values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollupAgg {
    /// Calls.
    pub calls: i64,
    /// Sum of request bytes (nulls count as 0).
    pub request_bytes: i64,
    /// Sum of response bytes.
    pub response_bytes: i64,
    /// Largest latency.
    pub latency_max: Option<f64>,
    /// Latency sketch.
    pub latency: Sketch,
    /// Largest upstream latency.
    pub upstream_max: Option<f64>,
    /// Upstream latency sketch.
    pub upstream: Sketch,
}

impl RollupAgg {
    /// Adds another row's values.
    pub fn merge(&mut self, o: &RollupAgg) {
        self.calls += o.calls;
        self.request_bytes += o.request_bytes;
        self.response_bytes += o.response_bytes;
        self.latency_max = max_opt(self.latency_max, o.latency_max);
        self.upstream_max = max_opt(self.upstream_max, o.upstream_max);
        self.latency.merge(&o.latency);
        self.upstream.merge(&o.upstream);
    }
}

/// The larger of two optional maxima.
pub(crate) fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
