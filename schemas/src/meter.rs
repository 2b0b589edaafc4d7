//! Billable metrics: what a price plan counts, as a contract between the
//! billing stage (which prices it) and the aggregator (which computes it
//! over the lake).

use rust_decimal::Decimal;
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
    /// Sum of the events' `amount` (money the calls carried), exact. Only
    /// events with an amount are counted as its events: a call without
    /// one is not a transaction (an amount of 0 is one).
    Amount,
    /// Sum over the events with an amount of each one's fee, the
    /// [`EventFee`] of its amount: what a percentage charge with a minimum
    /// or maximum fee per event bills, which the amounts' sum alone cannot
    /// give. Plans never name it; billing derives it from such a charge,
    /// so its parameters are part of the meter and two charges with
    /// different fees never share a column.
    #[serde(skip_deserializing)]
    EventFees(EventFee),
}

/// The fee of one event under a percentage charge: `amount × rate +
/// fixed`, then raised to `min` and lowered to `max` (when given). Exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventFee {
    /// The share of the amount: the plan's percent ÷ 100 (0.029 for 2.9 %).
    pub rate: Decimal,
    /// Fixed fee per event (0 when none).
    pub fixed: Decimal,
    /// Least fee of one event, when set.
    pub min: Option<Decimal>,
    /// Greatest fee of one event, when set.
    pub max: Option<Decimal>,
}

impl EventFee {
    /// The fee of an event of `amount`; `None` on overflow.
    pub fn of(&self, amount: Decimal) -> Option<Decimal> {
        let mut fee = amount.checked_mul(self.rate)?.checked_add(self.fixed)?;
        if let Some(min) = self.min {
            fee = fee.max(min);
        }
        if let Some(max) = self.max {
            fee = fee.min(max);
        }
        Some(fee)
    }
}

impl Metric {
    /// The name used in plans and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Calls => "calls",
            Metric::RequestBytes => "request_bytes",
            Metric::ResponseBytes => "response_bytes",
            Metric::Amount => "amount",
            Metric::EventFees(_) => "event_fees",
        }
    }

    /// True when the metric only takes whole values (a count of calls or
    /// bytes). Billing refuses fractional tier bounds, allowances and
    /// package sizes on such a metric: they can only be a unit mistake
    /// (GB bounds written on a bytes metric), never a price anyone meant.
    pub fn whole_units(self) -> bool {
        match self {
            Metric::Calls | Metric::RequestBytes | Metric::ResponseBytes => true,
            Metric::Amount | Metric::EventFees(_) => false,
        }
    }

    /// True when the metric reads the events' `amount`: such meters are
    /// computed from the events, never from the rollups (which do not
    /// carry amounts).
    pub fn reads_amount(self) -> bool {
        matches!(self, Metric::Amount | Metric::EventFees(_))
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
