//! Percentage charges over an `amount` metric (issue 16 item 2), by
//! hand-computed cases: a percentage with a fixed fee, free events and a
//! free amount; a percentage with a minimum and maximum fee per event;
//! graduated percentage tiers; late usage; the errors of plans that cannot
//! be priced. Every expected amount is worked out in the comment next to
//! it. A property test holds a quote equal to the invoice line.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use tollgate_billing::invoice::{
    InvoiceNumber, SegmentUsage, Status, Usage, adjustments, draft, meters, rate_segment,
};
use tollgate_billing::quote::{PeriodPart, quote};
use tollgate_billing::rate::RateError;
use tollgate_billing::subscription::Segment;
use tollgate_billing::{Metric, PlanError, PlansFile, events_key, fees_key, rate};
use tollgate_schemas::meter::EventFee;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn plans(price: &str) -> PlansFile {
    PlansFile::parse_file(
        "plans.toml",
        &format!(
            "[[plan]]\nid = \"pay\"\nversion = 1\ncurrency = \"USD\"\n[[plan.charge]]\nid = \"payments\"\nmetric = \"amount\"\n[plan.charge.price]\n{price}\n"
        ),
    )
    .unwrap()
}

fn usage(pairs: &[(&str, &str)]) -> BTreeMap<String, Decimal> {
    pairs.iter().map(|(k, v)| (k.to_string(), d(v))).collect()
}

const STRIPE_LIKE: &str = "model = \"percentage\"\npercent = \"2.9\"\nfixed_fee = \"0.30\"\nmin_fee_per_event = \"0.50\"\nmax_fee_per_event = \"5.00\"";

#[test]
fn percentage_with_a_fixed_fee_free_events_and_a_free_amount() {
    let p = plans(
        "model = \"percentage\"\npercent = \"2.9\"\nfixed_fee = \"0.30\"\nfree_amount = \"1000\"\nfree_events = 100",
    );
    let plan = &p.plans[0];
    // 24,500.50 over 1,000 payments:
    //   percentage (24500.50 − 1000) × 2.9 % = 23500.50 × 0.029 = 681.5145
    //   fixed fee (1000 − 100) × 0.30 = 270
    //   = 951.5145 → 951.51
    let r = rate(
        plan,
        &usage(&[("amount", "24500.50"), ("amount#events", "1000")]),
        Decimal::ONE,
    )
    .unwrap();
    let line = &r.lines[0];
    assert_eq!(line.quantity, d("24500.50"));
    let parts: Vec<_> = line.tiers.iter().map(|t| t.amount).collect();
    assert_eq!(parts, [d("0"), d("681.5145"), d("270")]);
    let labels: Vec<_> = line
        .tiers
        .iter()
        .map(|t| t.label.clone().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "free amount: 1000 of 1000",
            "2.9 % of 23500.5",
            "fixed fee 0.3 × 900 events (1000 − 100 free)",
        ]
    );
    assert_eq!(line.unrounded, d("951.5145"));
    assert_eq!(r.total, d("951.51"));
    // Within both allowances: 800.00 over 50 payments is free.
    let r = rate(
        plan,
        &usage(&[("payments", "800"), ("payments#events", "50")]),
        Decimal::ONE,
    )
    .unwrap();
    assert_eq!(r.total, d("0.00"));
    // A fixed fee needs the events; never priced as if there were none.
    let e = rate(plan, &usage(&[("amount", "800")]), Decimal::ONE).unwrap_err();
    assert!(
        matches!(&e, RateError::Missing { charge, what } if charge == "payments" && what.contains("SUM/EVENTS")),
        "{e}"
    );
}

#[test]
fn percentage_with_min_and_max_per_event() {
    let fee = EventFee {
        rate: d("0.029"),
        fixed: d("0.30"),
        min: Some(d("0.50")),
        max: Some(d("5.00")),
    };
    // Each event: amount × 0.029 + 0.30, then at least 0.50, at most 5.00.
    //   5.00 → 0.145 + 0.30 = 0.445 → 0.50 (minimum)
    //  20.00 → 0.58 + 0.30 = 0.88
    // 100.00 → 2.90 + 0.30 = 3.20
    // 1000.00 → 29.00 + 0.30 = 29.30 → 5.00 (maximum)
    let amounts = [d("5.00"), d("20.00"), d("100.00"), d("1000.00")];
    let fees: Vec<_> = amounts.iter().map(|a| fee.of(*a).unwrap()).collect();
    assert_eq!(fees, [d("0.50"), d("0.88"), d("3.20"), d("5.00")]);
    // Sum 9.58; amount 1125.00 over 4 events.
    let p = plans(STRIPE_LIKE);
    let plan = &p.plans[0];
    assert_eq!(plan.charges[0].price.event_fee(), Some(fee));
    let r = rate(
        plan,
        &usage(&[
            ("amount", "1125.00"),
            ("amount#events", "4"),
            ("payments#fees", "9.58"),
        ]),
        Decimal::ONE,
    )
    .unwrap();
    let line = &r.lines[0];
    // Explained: 1125 × 2.9 % = 32.625; 4 × 0.30 = 1.20; the limits took
    // 9.58 − 33.825 = −24.245.
    let parts: Vec<_> = line.tiers.iter().map(|t| t.amount).collect();
    assert_eq!(parts, [d("32.625"), d("1.20"), d("-24.245")]);
    assert!(
        line.tiers[2]
            .label
            .as_deref()
            .unwrap()
            .starts_with("each event's fee at least 0.5 and at most 5 over 4 events"),
        "{:?}",
        line.tiers[2].label
    );
    assert_eq!(line.unrounded, d("9.58"));
    assert_eq!(r.total, d("9.58"));
    // The invoice reads the amount meter and the per-event fee meter.
    let ms = meters(plan);
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0].metric, Metric::Amount);
    assert_eq!(ms[1].metric, Metric::EventFees(fee));
    let lake: SegmentUsage = [
        (ms[0].clone(), usage_of("1125.00", 4)),
        (ms[1].clone(), usage_of("9.58", 4)),
    ]
    .into_iter()
    .collect();
    let seg = segment();
    let inv = rate_segment(&p, &seg, &lake).unwrap();
    assert_eq!(inv.lines[0].line, *line);
    assert_eq!(inv.lines[0].usage.unwrap().events, 4);
    assert_eq!(inv.lines[0].usage.unwrap().quantity, d("1125.00"));
    // Without the fee sum, a quote says what to give.
    let e = rate(
        plan,
        &usage(&[("amount", "1125"), ("amount#events", "4")]),
        Decimal::ONE,
    )
    .unwrap_err();
    assert!(e.to_string().contains("each event's amount"), "{e}");
}

fn usage_of(q: &str, events: u64) -> Usage {
    Usage {
        quantity: d(q),
        events,
        first_ts: None,
        last_ts: None,
    }
}

fn segment() -> Segment {
    Segment {
        plan: "pay".into(),
        version: 1,
        from: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap().into(),
        to: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().into(),
        share: Decimal::ONE,
    }
}

#[test]
fn graduated_percentage_tiers() {
    let p = plans(
        "model = \"graduated_percentage\"\ntiers = [\n  { up_to = 10000, percent = \"3\", flat_fee = \"5\" },\n  { up_to = 100000, percent = \"2\" },\n  { percent = \"1.5\" },\n]",
    );
    let plan = &p.plans[0];
    let of = |a: &str| rate(plan, &usage(&[("amount", a)]), Decimal::ONE).unwrap();
    // 150,000.25: 10000 × 3 % + 5 = 305; 90000 × 2 % = 1800;
    // 50000.25 × 1.5 % = 750.00375; = 2855.00375 → 2855.00.
    let r = of("150000.25");
    let parts: Vec<_> = r.lines[0].tiers.iter().map(|t| t.amount).collect();
    assert_eq!(parts, [d("305"), d("1800"), d("750.00375")]);
    assert_eq!(
        r.lines[0].tiers[0].label.as_deref(),
        Some("tier 1 (0, 10000]: 3 % of 10000 + flat fee 5")
    );
    assert_eq!(
        r.lines[0].tiers[2].label.as_deref(),
        Some("tier 3 above 100000: 1.5 % of 50000.25")
    );
    assert_eq!(r.total, d("2855.00"));
    // At the bound the next tier is not reached: 10000 × 3 % + 5 = 305.
    assert_eq!(of("10000").total, d("305.00"));
    // Just above: 305 + 0.01 × 2 % = 305.0002 → 305.00, two tiers.
    assert_eq!(of("10000.01").lines[0].tiers.len(), 2);
    // Nothing: the first tier's flat fee, as for `graduated`.
    assert_eq!(of("0").total, d("5.00"));
}

#[test]
fn late_payments_adjust_a_finalized_invoice_by_their_clamped_fees() {
    let p = plans(STRIPE_LIKE);
    let ms = meters(&p.plans[0]);
    let lake = |amount: &str, events: u64, fees: &str| -> SegmentUsage {
        [
            (ms[0].clone(), usage_of(amount, events)),
            (ms[1].clone(), usage_of(fees, events)),
        ]
        .into_iter()
        .collect()
    };
    let seg = segment();
    let s = rate_segment(&p, &seg, &lake("1125.00", 4, "9.58")).unwrap();
    let mut original = draft(&p, "2026-10".parse().unwrap(), "c", vec![s], vec![])
        .unwrap()
        .unwrap();
    original.number = Some(InvoiceNumber::new("INV-", 2026, 1));
    original.status = Status::Finalized;
    assert_eq!(original.total, d("9.58"));
    // Unchanged lake: nothing to adjust.
    let none = adjustments(&p, &original, &[], &[lake("1125.00", 4, "9.58")]).unwrap();
    assert!(none.is_empty(), "{none:?}");
    // A late 2,000.00 payment: its fee 58.30 is capped at 5.00, so the
    // line goes 9.58 → 14.58: an adjustment of +5.00.
    let adj = adjustments(&p, &original, &[], &[lake("3125.00", 5, "14.58")]).unwrap();
    assert_eq!(adj.len(), 1);
    assert_eq!(adj[0].1.amount, d("5.00"));
    assert_eq!(adj[0].1.quantity_before, d("1125.00"));
    assert_eq!(adj[0].1.quantity_after, d("3125.00"));
    // Billed once: the same lake after that adjustment adjusts nothing.
    let prior = vec![&adj[0].1];
    let again = adjustments(&p, &original, &prior, &[lake("3125.00", 5, "14.58")]).unwrap();
    assert!(again.is_empty(), "{again:?}");
}

fn refused(price: &str, metric: &str) -> PlanError {
    PlansFile::parse_file(
        "plans.toml",
        &format!(
            "[[plan]]\nid = \"pay\"\nversion = 1\ncurrency = \"USD\"\n[[plan.charge]]\nid = \"payments\"\nmetric = \"{metric}\"\n[plan.charge.price]\n{price}\n"
        ),
    )
    .unwrap_err()
}

#[test]
fn bad_percentage_plans_name_the_file_line_and_field() {
    // Lines: 5 [[plan.charge]], 7 metric, 8 [plan.charge.price], 9 model, 10….
    let cases = [
        (
            "model = \"percentage\"\npercent = \"290\"",
            "amount",
            10,
            "charge[1].price.percent",
            "must be from 0 to 100",
        ),
        (
            "model = \"percentage\"\npercent = \"2.9\"",
            "calls",
            7,
            "charge[1].metric",
            "set metric = \"amount\"",
        ),
        (
            "model = \"percentage\"\npercent = \"0.00000001\"",
            "amount",
            10,
            "charge[1].price.percent",
            "more than 7 decimal places",
        ),
        (
            "model = \"percentage\"\npercent = \"2.9\"\nfixed_fee = \"-0.30\"",
            "amount",
            11,
            "charge[1].price.fixed_fee",
            "negative",
        ),
        (
            "model = \"percentage\"\npercent = \"2.9\"\nmin_fee_per_event = \"5\"\nmax_fee_per_event = \"0.5\"",
            "amount",
            12,
            "charge[1].price.max_fee_per_event",
            "below min_fee_per_event",
        ),
        (
            "model = \"percentage\"\npercent = \"2.9\"\nfixed_fee = \"0.30\"\nfree_events = 10\nmax_fee_per_event = \"5\"",
            "amount",
            12,
            "charge[1].price.free_events",
            "depends on the order of the events",
        ),
        (
            "model = \"percentage\"\npercent = \"2.9\"\nfree_amount = \"100\"\nmin_fee_per_event = \"0.5\"",
            "amount",
            11,
            "charge[1].price.free_amount",
            "cannot be combined with min_fee_per_event",
        ),
        (
            "model = \"percentage\"\npercent = \"2.9\"\nfree_events = 10",
            "amount",
            11,
            "charge[1].price.free_events",
            "there is no fixed_fee",
        ),
        (
            "model = \"graduated_percentage\"\ntiers = [\n  { up_to = \"100.5\", percent = \"3\" },\n  { up_to = 50, percent = \"2\" },\n  { percent = \"1\" },\n]",
            "amount",
            12,
            "charge[1].price.tiers[2].up_to",
            "above the previous tier's up_to",
        ),
    ];
    for (price, metric, line, field, why) in cases {
        let e = refused(price, metric);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("plans.toml, line {line}, field {field}: ")),
            "{price}: {text}"
        );
        assert!(text.contains(why), "{price}: {text}");
    }
    // A plan cannot name the internal per-event fee metric.
    let e = refused("model = \"per_unit\"\nunit_price = \"1\"", "event_fees");
    assert!(matches!(e, PlanError::Parse { .. }), "{e}");
    // Quotas count calls or bytes.
    let e = PlansFile::parse_file(
        "plans.toml",
        "[[plan]]\nid = \"q\"\nversion = 1\ncurrency = \"USD\"\n[[plan.quota]]\nid = \"a\"\nmetric = \"amount\"\nwindow = \"day\"\nlimit = 100\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("field quota[1].metric") && e.contains("amount quota"),
        "{e}"
    );
}

/// Each event's amount in cents, 1 to 200,000.00.
fn payments() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(1i64..20_000_000, 0..40)
}

proptest! {
    /// A quote priced from the events' amounts (as `tollgate quote
    /// --usage amount=a+b+…` gives them) is the invoice line of a segment
    /// whose lake holds those events, for every percentage option.
    #[test]
    fn a_quote_equals_the_invoice_line_for_the_same_usage(
        cents in payments(),
        start in 1u32..=31,
        which in 0usize..4,
    ) {
        let price = [
            STRIPE_LIKE,
            "model = \"percentage\"\npercent = \"1.4\"\nfixed_fee = \"0.25\"\nfree_events = 3\nfree_amount = \"150\"",
            "model = \"percentage\"\npercent = \"0.5\"\nmin_fee_per_event = \"1\"",
            "model = \"graduated_percentage\"\ntiers = [\n  { up_to = 1000, percent = \"3\", flat_fee = \"2\" },\n  { percent = \"2.25\" },\n]",
        ][which];
        let p = plans(price);
        let plan = &p.plans[0];
        let amounts: Vec<Decimal> = cents.iter().map(|c| Decimal::new(*c, 2)).collect();
        let sum: Decimal = amounts.iter().sum();
        let n = amounts.len() as u64;
        // The lake: the amount meter and, with per-event limits, the fees
        // summed event by event.
        let ms = meters(plan);
        let mut lake = SegmentUsage::new();
        lake.insert(ms[0].clone(), Usage { quantity: sum, events: n, first_ts: None, last_ts: None });
        let fee = plan.charges[0].price.event_fee();
        let fees: Option<Decimal> = fee.map(|f| amounts.iter().map(|a| f.of(*a).unwrap()).sum());
        if let (Some(m), Some(f)) = (ms.get(1), fees) {
            lake.insert(m.clone(), Usage { quantity: f, events: n, first_ts: None, last_ts: None });
        }
        let from = NaiveDate::from_ymd_opt(2026, 10, start).unwrap();
        let seg = Segment {
            plan: "pay".into(),
            version: 1,
            from: from.into(),
            to: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().into(),
            share: Decimal::from(32 - start) / Decimal::from(31),
        };
        let invoiced = rate_segment(&p, &seg, &lake).unwrap();
        let mut q = BTreeMap::new();
        q.insert("amount".to_string(), sum);
        q.insert(events_key("amount"), Decimal::from(n));
        if let Some(f) = fees {
            q.insert(fees_key("payments"), f);
        }
        let quoted = quote(plan, &q, PeriodPart::range(seg.from, seg.to)).unwrap();
        let lines: Vec<_> = invoiced.lines.into_iter().map(|l| l.line).collect();
        prop_assert_eq!(&quoted.lines, &lines);
        prop_assert_eq!(quoted.total, invoiced.subtotal);
        // And the line is the fees' sum (or the formula without limits).
        let want = match (which, fees) {
            (_, Some(f)) => f,
            (1, None) => {
                (sum - d("150")).max(Decimal::ZERO) * d("0.014")
                    + Decimal::from(n.saturating_sub(3)) * d("0.25")
            }
            _ => lines[0].unrounded,
        };
        prop_assert_eq!(lines[0].unrounded, want);
    }
}
