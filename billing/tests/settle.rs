//! Settlement under property tests (issue 16 items 7 and 8): whatever the
//! usage, coupons, tax and grants, credits never take a total below zero,
//! every step adds up, and the burns depend neither on the order the
//! events arrived in nor on the order the grants are listed in. The
//! hand-computed cases are next to the code, in `settle.rs`.

use std::str::FromStr;

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use tollgate_billing::customers::{Coupon, CouponUse, Customer, CustomersFile, Grant, TaxRate};
use tollgate_billing::invoice::{Invoice, SegmentUsage, draft, rate_segment};
use tollgate_billing::period::Period;
use tollgate_billing::settle::{Used, settle, used, wallet};
use tollgate_billing::{Billing, BillingConfig, Rounding};
use tollgate_schemas::meter::{Filter, Meter, Metric};

const PLANS: &str = r#"
[[plan]]
id = "growth"
version = 1
currency = "EUR"
base_fee = "29"
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.0013"
[[plan.charge]]
id = "ok"
metric = "calls"
filter = { status_below = 500 }
[plan.charge.price]
model = "graduated"
tiers = [{ up_to = 1000, unit_price = "0" }, { unit_price = "0.003" }]
"#;

const SUBS: &str =
    "[[subscription]]\nconsumer = \"c\"\nplan = \"growth\"\nstart = \"2026-09-15\"\n";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// c's draft for `period`: `events` are calls, each `(ok, count)`.
fn invoice(b: &Billing, period: Period, events: &[(bool, u64)]) -> Invoice {
    let all = Meter {
        metric: Metric::Calls,
        filter: Filter::default(),
    };
    let ok = Meter {
        metric: Metric::Calls,
        filter: Filter {
            status_below: Some(500),
            ..Filter::default()
        },
    };
    let mut usage = SegmentUsage::new();
    for &(good, n) in events {
        let mut add = |m: &Meter| {
            let u = usage.entry(m.clone()).or_default();
            u.quantity += Decimal::from(n);
            u.events += 1;
        };
        add(&all);
        if good {
            add(&ok);
        }
    }
    let segs = b
        .subscriptions
        .segments("c", period)
        .iter()
        .map(|s| rate_segment(&b.plans, s, &usage).unwrap())
        .collect();
    draft(&b.plans, period, "c", segs, vec![]).unwrap().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A grant of c: amount in cents, priority, expiry month offset (None:
/// never), scoped to `calls` or not, granted on one of a few days.
fn grant() -> impl Strategy<Value = (u32, i64, Option<u32>, bool, u32)> {
    (
        1u32..50_000,
        0i64..3,
        prop::option::of(0u32..4),
        any::<bool>(),
        0u32..3,
    )
}

fn billing(
    percent: Option<u32>,
    fixed: Option<u32>,
    rate: Option<u32>,
    grants: &[(u32, i64, Option<u32>, bool, u32)],
) -> Billing {
    let mut b = Billing::parse(BillingConfig::default(), PLANS, SUBS).unwrap();
    let mut coupons = Vec::new();
    if let Some(p) = percent {
        coupons.push(Coupon {
            id: "pct".into(),
            description: None,
            percent: Some(Decimal::from(p)),
            amount: None,
            currency: None,
            periods: None,
            plans: None,
        });
    }
    if let Some(a) = fixed {
        coupons.push(Coupon {
            id: "fixed".into(),
            description: None,
            percent: None,
            amount: Some(Decimal::new(i64::from(a), 2)),
            currency: Some("EUR".into()),
            periods: Some(2),
            plans: Some(vec!["growth".into()]),
        });
    }
    let granted = ["2026-09-01", "2026-09-20", "2026-10-01"];
    let expires = ["2026-10-01", "2026-10-20", "2026-11-01", "2027-01-01"];
    let mut c = CustomersFile::default();
    c.taxes = rate
        .map(|r| TaxRate {
            id: "t".into(),
            name: "T".into(),
            rate: Decimal::new(i64::from(r), 3),
            rounding: Rounding::HalfEven,
            plans: Vec::new(),
        })
        .into_iter()
        .collect();
    c.customers = vec![Customer {
        consumer: "c".into(),
        tax: rate.map(|_| "t".into()),
        coupons: coupons
            .iter()
            .map(|c| CouponUse {
                coupon: c.id.clone(),
                from: None,
            })
            .collect(),
    }];
    c.coupons = coupons;
    c.grants = grants
        .iter()
        .enumerate()
        .map(|(i, &(cents, priority, exp, scoped, g))| Grant {
            id: format!("g{i:02}"),
            consumer: "c".into(),
            amount: Decimal::new(i64::from(cents), 2),
            currency: "EUR".into(),
            priority,
            granted: day(granted[g as usize]),
            expires: exp.map(|e| day(expires[e as usize])),
            charges: scoped.then(|| vec!["calls".into()]),
        })
        .collect();
    b.customers = c;
    b
}

fn events() -> impl Strategy<Value = Vec<(bool, u64)>> {
    prop::collection::vec((any::<bool>(), 0u64..20_000), 0..20)
}

proptest! {
    /// Whatever the settings, each step adds up, and credits never take
    /// the amount due below zero nor a grant below its balance.
    #[test]
    fn credits_never_drive_a_total_below_zero(
        ev in events(),
        percent in prop::option::of(1u32..=100),
        fixed in prop::option::of(1u32..10_000),
        rate in prop::option::of(0u32..=300),
        grants in prop::collection::vec(grant(), 0..6),
        month in 0u32..3,
    ) {
        let b = billing(percent, fixed, rate, &grants);
        let mut period: Period = "2026-09".parse().unwrap();
        for _ in 0..month {
            period = period.next();
        }
        let mut inv = invoice(&b, period, &ev);
        let subtotal = inv.total;
        settle(&mut inv, &b, Some(&Used::new())).unwrap();
        let sum = |v: &mut dyn Iterator<Item = Decimal>| v.sum::<Decimal>();
        let discounts = sum(&mut inv.discounts.iter().map(|l| l.amount));
        let credits = sum(&mut inv.credits.iter().map(|l| l.amount));
        let tax = inv.tax.as_ref().map_or(Decimal::ZERO, |t| t.amount);
        prop_assert_eq!(inv.subtotal.unwrap_or(subtotal), subtotal);
        prop_assert!(discounts <= Decimal::ZERO && -discounts <= subtotal.max(Decimal::ZERO));
        prop_assert_eq!(inv.total, subtotal + discounts + tax);
        prop_assert!(inv.total >= Decimal::ZERO);
        prop_assert_eq!(inv.due(), inv.total + credits);
        prop_assert!(inv.due() >= Decimal::ZERO, "due {}", inv.due());
        for c in &inv.credits {
            prop_assert!(c.amount < Decimal::ZERO);
            prop_assert!(-c.amount <= c.balance_before);
            prop_assert_eq!(c.balance_after, c.balance_before + c.amount);
            let g = b.customers.grant(&c.grant).unwrap();
            prop_assert!(g.pays(period));
        }
        // A scoped grant pays no more than the calls line's share of the
        // total (calls × total ÷ subtotal).
        let calls: Decimal = inv.segments.iter().flat_map(|s| &s.lines)
            .filter(|l| l.line.charge == "calls").map(|l| l.line.amount).sum();
        let scoped: Decimal = inv.credits.iter().filter(|c| c.charges.is_some())
            .map(|c| -c.amount).sum();
        if subtotal > Decimal::ZERO {
            prop_assert!(scoped <= calls * inv.total / subtotal + d("0.0000001"));
        }
        // The rows add up to the amount due.
        let rows = tollgate_billing::render::rows(&inv);
        prop_assert_eq!(rows.iter().map(|r| r.amount).sum::<Decimal>(), inv.due());
        // The wallet statement balances, and the next period starts from it.
        let st = wallet(period, &b.customers, &Used::new(), std::slice::from_ref(&inv));
        for e in &st {
            prop_assert_eq!(e.balance_after, e.balance_before - e.burned - e.expired);
            prop_assert!(e.balance_after >= Decimal::ZERO);
        }
        let next = used(&st);
        let mut later = invoice(&b, period.next(), &ev);
        settle(&mut later, &b, Some(&next)).unwrap();
        for c in &later.credits {
            let g = b.customers.grant(&c.grant).unwrap();
            prop_assert_eq!(c.balance_before, g.amount - next.get(&g.id).copied().unwrap_or_default());
        }
    }

    /// The burns are the same whatever order the events arrived in and
    /// whatever order the grants are listed in.
    #[test]
    fn burning_is_independent_of_event_and_grant_order(
        (ev, shuffled_ev) in events().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        (grants, order) in prop::collection::vec(grant(), 0..6).prop_flat_map(|v| {
            let n = v.len();
            (Just(v), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        }),
        percent in prop::option::of(1u32..=100),
        rate in prop::option::of(0u32..=300),
    ) {
        let period: Period = "2026-10".parse().unwrap();
        let a = billing(percent, None, rate, &grants);
        // The same grants (same ids and terms) listed in another order.
        let mut b = a.clone();
        b.customers.grants = order.iter().map(|&i| a.customers.grants[i].clone()).collect();

        let mut x = invoice(&a, period, &ev);
        let mut y = invoice(&b, period, &shuffled_ev);
        settle(&mut x, &a, Some(&Used::new())).unwrap();
        settle(&mut y, &b, Some(&Used::new())).unwrap();
        prop_assert_eq!(&x.credits, &y.credits);
        prop_assert_eq!(x.due(), y.due());
        prop_assert_eq!(
            wallet(period, &a.customers, &Used::new(), &[x]),
            wallet(period, &b.customers, &Used::new(), &[y])
        );
    }
}

#[test]
fn the_shipped_customers_file_loads() {
    let read = |f: &str| {
        std::fs::read_to_string(format!("{}/../deploy/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let b = Billing::parse_with_customers(
        BillingConfig::default(),
        &read("plans.toml"),
        &read("subscriptions.toml"),
        Some(&read("customers.toml")),
    )
    .unwrap();
    assert_eq!(b.customers.grants.len(), 2);
    assert_eq!(b.customers.tax("de-vat").unwrap().rate, d("0.19"));
}
