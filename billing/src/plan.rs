//! Price plans: what `plans.toml` says, validated on load.
//!
//! Prices are written as quoted strings (`"0.000001"`) so they are exact;
//! a TOML float would already be a binary approximation.

use std::collections::BTreeSet;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Rounding};

/// Identifies a plan (with its version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlanId(pub String);

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plan file that cannot be used, with the plan and charge concerned.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// The file is not valid TOML or has unknown keys.
    #[error("plans file: {0}")]
    Parse(String),
    /// A rule about the plans is broken.
    #[error("plan {plan} v{version}: {why}")]
    Invalid {
        /// Plan id.
        plan: String,
        /// Plan version.
        version: u32,
        /// What is wrong and how to fix it.
        why: String,
    },
}

pub use tollgate_schemas::meter::{Filter, Metric};

/// One tier of a graduated or volume price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Inclusive upper bound of the tier in units; absent on the last,
    /// unbounded tier.
    pub up_to: Option<u64>,
    /// Price of one unit in this tier.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// Flat fee charged once when usage reaches this tier.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub flat_fee: Option<Decimal>,
}

/// How a quantity becomes an amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Model {
    /// `max(0, quantity − free_units) × unit_price`: also "free allowance then overage".
    PerUnit {
        /// Price of one unit.
        #[serde(with = "rust_decimal::serde::str")]
        unit_price: Decimal,
        /// Units included before any is charged.
        #[serde(default)]
        free_units: u64,
    },
    /// Blocks of `size` units at `price` each, a partial block counting as
    /// a whole one, after `free_units` are subtracted.
    Package {
        /// Units per block.
        size: u64,
        /// Price of one block.
        #[serde(with = "rust_decimal::serde::str")]
        price: Decimal,
        /// Units included before any is charged.
        #[serde(default)]
        free_units: u64,
    },
    /// Each unit priced by the tier it falls in; each tier reached adds its flat fee.
    Graduated {
        /// Tiers in ascending order.
        tiers: Vec<Tier>,
    },
    /// Every unit priced by the tier the total reaches, plus that tier's flat fee.
    Volume {
        /// Tiers in ascending order.
        tiers: Vec<Tier>,
    },
}

/// One priced metric of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    /// Unique within the plan; names the invoice line.
    pub id: String,
    /// Text on the invoice line.
    #[serde(default)]
    pub description: Option<String>,
    /// What is counted.
    pub metric: Metric,
    /// Which events count.
    #[serde(default)]
    pub filter: Filter,
    /// How the count is priced (`[plan.charge.price]`, with `model = …`).
    pub price: Model,
}

/// The window a quota counts over (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaWindow {
    /// Each UTC minute.
    Minute,
    /// Each UTC hour.
    Hour,
    /// Each UTC day.
    Day,
    /// The billing period: the calendar month (UTC).
    Period,
}

impl QuotaWindow {
    /// The name used in plans and signals.
    pub fn name(self) -> &'static str {
        match self {
            QuotaWindow::Minute => "minute",
            QuotaWindow::Hour => "hour",
            QuotaWindow::Day => "day",
            QuotaWindow::Period => "period",
        }
    }
}

/// What crossing a quota's 100% threshold asks the gateway to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Notify only (the consumer, the operator): usage goes on and is billed.
    #[default]
    Soft,
    /// Signal the gateway to block the consumer until the window ends.
    Hard,
}

/// A limit on one billable metric over a window: crossing each threshold
/// (a percentage of `limit`) produces one signal per consumer and window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Unique within the plan; names the quota in signals.
    pub id: String,
    /// Text for people (portal, dashboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What is counted (as for charges).
    pub metric: Metric,
    /// Which events count (as for charges).
    #[serde(default)]
    pub filter: Filter,
    /// The window counted over.
    pub window: QuotaWindow,
    /// The quota, in the metric's units.
    pub limit: u64,
    /// Soft (notify) or hard (block at 100%).
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Percentages of `limit` that produce a signal, ascending
    /// (default 50, 80, 100).
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<u32>,
}

fn default_thresholds() -> Vec<u32> {
    vec![50, 80, 100]
}

impl Quota {
    /// The meter the quota counts.
    pub fn meter(&self) -> tollgate_schemas::meter::Meter {
        tollgate_schemas::meter::Meter {
            metric: self.metric,
            filter: self.filter.clone(),
        }
    }

    /// The thresholds `used` has reached, in percent.
    pub fn reached(&self, used: u64) -> impl Iterator<Item = u32> + '_ {
        // used / limit >= t / 100, in integers (no rounding at the boundary).
        self.thresholds
            .iter()
            .copied()
            .filter(move |&t| u128::from(used) * 100 >= u128::from(self.limit) * u128::from(t))
    }
}

/// A price plan, one version of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Plan id.
    pub id: PlanId,
    /// Version: a changed price is a new version; invoices name the version.
    pub version: u32,
    /// ISO 4217 code.
    pub currency: String,
    /// Recurring fee per billing period.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub base_fee: Option<Decimal>,
    /// Minimum commitment per period for the usage charges: a true-up line
    /// bills the difference when usage charges total less.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub minimum: Option<Decimal>,
    /// How each line is rounded to the currency's minor units.
    #[serde(default)]
    pub rounding: Rounding,
    /// Usage charges.
    #[serde(default, rename = "charge")]
    pub charges: Vec<Charge>,
    /// Usage limits that produce signals (`[[plan.quota]]`); they never
    /// change what is billed.
    #[serde(default, rename = "quota", skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<Quota>,
}

/// The whole `plans.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlansFile {
    /// Every plan version.
    #[serde(rename = "plan")]
    pub plans: Vec<Plan>,
}

impl PlansFile {
    /// Parses and validates a plans file.
    pub fn parse(text: &str) -> Result<PlansFile, PlanError> {
        let file: PlansFile = toml::from_str(text).map_err(|e| PlanError::Parse(e.to_string()))?;
        let mut seen = BTreeSet::new();
        for p in &file.plans {
            p.validate()?;
            if !seen.insert((p.id.clone(), p.version)) {
                return Err(p.invalid("defined twice; give the new prices a new version".into()));
            }
        }
        Ok(file)
    }

    /// The plan `id` at `version`, or its highest version.
    pub fn get(&self, id: &str, version: Option<u32>) -> Option<&Plan> {
        self.plans
            .iter()
            .filter(|p| p.id.0 == id && version.is_none_or(|v| p.version == v))
            .max_by_key(|p| p.version)
    }
}

impl Plan {
    fn invalid(&self, why: String) -> PlanError {
        PlanError::Invalid {
            plan: self.id.0.clone(),
            version: self.version,
            why,
        }
    }

    /// The plan's currency (validated on load).
    pub fn currency(&self) -> Currency {
        Currency::from_code(&self.currency).unwrap_or(Currency {
            code: "XXX",
            minor_units: 2,
        })
    }

    /// Checks the rules a plan must follow.
    pub fn validate(&self) -> Result<(), PlanError> {
        if Currency::from_code(&self.currency).is_none() {
            return Err(self.invalid(format!(
                "unknown currency {:?}; use an ISO 4217 code such as USD, EUR or JPY",
                self.currency
            )));
        }
        for (what, v) in [("base_fee", self.base_fee), ("minimum", self.minimum)] {
            if v.is_some_and(|x| x.is_sign_negative()) {
                return Err(self.invalid(format!("{what} is negative")));
            }
        }
        let mut ids = BTreeSet::new();
        for c in &self.charges {
            if !ids.insert(c.id.as_str()) {
                return Err(self.invalid(format!("charge id {:?} is used twice", c.id)));
            }
            let bad = |why: String| self.invalid(format!("charge {:?}: {why}", c.id));
            match &c.price {
                Model::PerUnit { unit_price, .. } if unit_price.is_sign_negative() => {
                    return Err(bad("unit_price is negative".into()));
                }
                Model::Package { size: 0, .. } => {
                    return Err(bad("package size must be at least 1".into()));
                }
                Model::Package { price, .. } if price.is_sign_negative() => {
                    return Err(bad("price is negative".into()));
                }
                Model::Graduated { tiers } | Model::Volume { tiers } => {
                    check_tiers(tiers).map_err(bad)?
                }
                _ => {}
            }
        }
        let mut quota_ids = BTreeSet::new();
        for q in &self.quotas {
            if !quota_ids.insert(q.id.as_str()) {
                return Err(self.invalid(format!("quota id {:?} is used twice", q.id)));
            }
            let bad = |why: &str| self.invalid(format!("quota {:?}: {why}", q.id));
            if q.limit == 0 {
                return Err(bad("limit must be at least 1"));
            }
            if q.thresholds.is_empty() {
                return Err(bad("needs at least one threshold (percent of limit)"));
            }
            if q.thresholds.iter().any(|&t| t == 0 || t > 1000) {
                return Err(bad("thresholds are percentages from 1 to 1000"));
            }
            if q.thresholds.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad("thresholds must be ascending without repeats"));
            }
        }
        Ok(())
    }
}

fn check_tiers(tiers: &[Tier]) -> Result<(), String> {
    if tiers.is_empty() {
        return Err("needs at least one tier".into());
    }
    let mut prev: Option<u64> = None;
    for (i, t) in tiers.iter().enumerate() {
        let last = i + 1 == tiers.len();
        match (t.up_to, last) {
            (None, false) => {
                return Err(format!(
                    "tier {} has no up_to but is not the last tier",
                    i + 1
                ));
            }
            (Some(u), true) => {
                return Err(format!(
                    "the last tier must be unbounded (remove up_to = {u}); usage above it would have no price"
                ));
            }
            (Some(u), false) => {
                if prev.is_some_and(|p| u <= p) {
                    return Err(format!(
                        "tier {} up_to = {u} must be above the previous tier's up_to; tiers are ordered and do not overlap",
                        i + 1
                    ));
                }
                prev = Some(u);
            }
            (None, true) => {}
        }
        if t.unit_price.is_sign_negative() || t.flat_fee.is_some_and(|f| f.is_sign_negative()) {
            return Err(format!("tier {} has a negative price", i + 1));
        }
    }
    Ok(())
}
