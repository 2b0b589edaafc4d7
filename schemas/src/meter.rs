//! Billable metrics: what a price plan counts, as a contract between the
//! billing stage (which prices it) and the aggregator (which computes it
//! over the lake).

use serde::{Deserialize, Serialize};

/// What a charge counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// API calls (events).
    Calls,
    /// Sum of request bytes (events without the field count 0).
    RequestBytes,
    /// Sum of response bytes (events without the field count 0).
    ResponseBytes,
}

impl Metric {
    /// The name used in plans and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Calls => "calls",
            Metric::RequestBytes => "request_bytes",
            Metric::ResponseBytes => "response_bytes",
        }
    }

    /// True when the metric only takes whole values (a count of calls or
    /// bytes). Billing refuses fractional tier bounds, allowances and
    /// package sizes on such a metric: they can only be a unit mistake
    /// (GB bounds written on a bytes metric), never a price anyone meant.
    pub fn whole_units(self) -> bool {
        match self {
            Metric::Calls | Metric::RequestBytes | Metric::ResponseBytes => true,
        }
    }
}

/// Which events a metric counts; every condition given must hold (all
/// events when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only calls with a status below this (e.g. 500: don't bill server
    /// errors). Events without a status never match a status filter.
    pub status_below: Option<u16>,
    /// Only this API.
    pub api: Option<String>,
    /// Only routes starting with this.
    pub route_prefix: Option<String>,
    /// Only this method (upper case, as in the events).
    pub method: Option<String>,
}

impl Filter {
    /// True when the filter keeps every event.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// A metric with its filter: one column of usage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Meter {
    /// What is counted.
    pub metric: Metric,
    /// Which events.
    pub filter: Filter,
}
