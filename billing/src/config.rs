//! `[billing]` in `tollgate.toml`, and [`Billing`]: the settings with the
//! plans and subscriptions they name, parsed and validated together.
//!
//! Pure like the rest of the core: the texts come in as strings. Reading
//! the files is the caller's I/O (`tollgate_invoicing::load`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tollgate_schemas::meter::Meter;

use crate::customers::{CustomersError, CustomersFile};
use crate::invoice::meters;
use crate::plan::{PlanError, PlansFile};
use crate::subscription::{SubscriptionError, SubscriptionsFile};

/// `[billing]` in `tollgate.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// The price plans (see `deploy/plans.toml`).
    pub plans: PathBuf,
    /// Who is on which plan (see `deploy/subscriptions.toml`).
    pub subscriptions: PathBuf,
    /// Tax rates, coupons and prepaid credit grants (see
    /// `deploy/customers.toml`). Optional: when the file does not exist,
    /// no invoice has a discount, a tax or a credit line.
    pub customers: PathBuf,
    /// Prefix of invoice numbers: `INV-2026-000001`.
    pub number_prefix: String,
    /// Prefix of credit note numbers: `CN-2026-000001`. Credit notes have
    /// their own sequence, so it must differ from `number_prefix`.
    pub credit_note_prefix: String,
    /// How many finalized months back a run looks for late usage.
    pub adjust_lookback_months: u32,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            plans: "plans.toml".into(),
            subscriptions: "subscriptions.toml".into(),
            customers: "customers.toml".into(),
            number_prefix: "INV-".into(),
            credit_note_prefix: "CN-".into(),
            adjust_lookback_months: 3,
        }
    }
}

/// Why the plans or subscriptions are not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The plans file is wrong.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The subscriptions file is wrong (boxed: with its file, line, field,
    /// consumer and start it is as large as a plan error, and the two
    /// unboxed would make every result carrying them large).
    #[error(transparent)]
    Subscription(#[from] Box<SubscriptionError>),
    /// The customers file is wrong.
    #[error(transparent)]
    Customers(#[from] CustomersError),
    /// Invoices and credit notes would share numbers.
    #[error(
        "[billing] credit_note_prefix = {0:?} is the invoices' number_prefix too; credit notes have their own sequence, give them another prefix (default \"CN-\")"
    )]
    SamePrefix(String),
}

/// Plans, subscriptions and settings, parsed and validated.
#[derive(Debug, Clone)]
pub struct Billing {
    /// The plans.
    pub plans: PlansFile,
    /// The subscriptions.
    pub subscriptions: SubscriptionsFile,
    /// Taxes, coupons and credit grants (empty without a customers file).
    pub customers: CustomersFile,
    /// The settings.
    pub config: BillingConfig,
}

impl Billing {
    /// Parses and validates the plans file's and the subscriptions file's
    /// texts (the subscriptions against the plans).
    pub fn parse(
        config: BillingConfig,
        plans: &str,
        subscriptions: &str,
    ) -> Result<Billing, ConfigError> {
        if config.credit_note_prefix == config.number_prefix {
            return Err(ConfigError::SamePrefix(config.credit_note_prefix));
        }
        let plans = PlansFile::parse_file(&config.plans.display().to_string(), plans)?;
        let subscriptions = SubscriptionsFile::parse_file(
            &config.subscriptions.display().to_string(),
            subscriptions,
            &plans,
        )
        .map_err(Box::new)?;
        Ok(Billing {
            plans,
            subscriptions,
            customers: CustomersFile::default(),
            config,
        })
    }

    /// [`Billing::parse`], plus the customers file's text when there is
    /// one (validated against the plans and subscriptions).
    pub fn parse_with_customers(
        config: BillingConfig,
        plans: &str,
        subscriptions: &str,
        customers: Option<&str>,
    ) -> Result<Billing, ConfigError> {
        let mut b = Billing::parse(config, plans, subscriptions)?;
        if let Some(text) = customers {
            b.customers = CustomersFile::parse_file(
                &b.config.customers.display().to_string(),
                text,
                &b.plans,
                &b.subscriptions,
            )?;
        }
        Ok(b)
    }

    /// Every meter any plan reads, once each, in a stable order: what an
    /// invoice run asks the lake for.
    pub fn meters(&self) -> Vec<Meter> {
        let set: BTreeSet<Meter> = self.plans.plans.iter().flat_map(meters).collect();
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLANS: &str = r#"
[[plan]]
id = "p"
version = 1
currency = "USD"
[[plan.charge]]
id = "ok"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"
[[plan.charge]]
id = "all"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.001"
[[plan.charge]]
id = "ok-again"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "per_unit"
unit_price = "0.02"
"#;

    #[test]
    fn meters_are_listed_once_each() {
        let b = Billing::parse(BillingConfig::default(), PLANS, "").unwrap();
        let m = b.meters();
        // Three charges, two distinct meters.
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn credit_notes_and_invoices_need_different_prefixes() {
        let config = BillingConfig {
            credit_note_prefix: "INV-".into(),
            ..BillingConfig::default()
        };
        let e = Billing::parse(config, PLANS, "").unwrap_err().to_string();
        assert!(e.contains("credit_note_prefix = \"INV-\""), "{e}");
        let b = Billing::parse(BillingConfig::default(), PLANS, "").unwrap();
        assert_eq!(b.config.credit_note_prefix, "CN-");
    }

    #[test]
    fn subscriptions_are_checked_against_the_plans() {
        let subs = r#"
[[subscription]]
consumer = "c"
plan = "missing"
start = "2026-01-01"
"#;
        let e = Billing::parse(BillingConfig::default(), PLANS, subs).unwrap_err();
        assert!(matches!(e, ConfigError::Subscription(_)), "{e:?}");
    }
}
