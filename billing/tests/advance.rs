//! Plans billed in advance and prorated by the second: validation on
//! load, subscriptions at instants, quotes, and segments that leave the
//! advance fee to the invoice before. Figures by hand in the comments.

use std::str::FromStr;

use rust_decimal::Decimal;
use tollgate_billing::invoice::{SegmentUsage, Usage, rate_segment};
use tollgate_billing::period::Period;
use tollgate_billing::plan::PlansFile;
use tollgate_billing::proration::Boundary;
use tollgate_billing::quote::{PeriodPart, quote};
use tollgate_billing::subscription::{SubscriptionError, SubscriptionsFile};
use tollgate_billing::{LineKind, PlanError};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn b(s: &str) -> Boundary {
    s.parse().unwrap()
}

/// `day`: 31.00 in advance by day, minimum 40 counting the base fee;
/// `sec`: 31.00 in advance by the second, 0.01 a call.
const PLANS: &str = r#"
[[plan]]
id = "day"
version = 1
currency = "USD"
base_fee = "31.00"
base_fee_timing = "advance"
minimum = "40"
minimum_includes_base_fee = true
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"

[[plan]]
id = "sec"
version = 1
currency = "USD"
base_fee = "31.00"
base_fee_timing = "advance"
proration = "second"
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"
"#;

fn plans() -> PlansFile {
    PlansFile::parse_file("plans.toml", PLANS).unwrap()
}

#[test]
fn unknown_values_and_advance_without_a_fee_name_the_file_line_and_field() {
    let plan = |extra: &str| {
        format!(
            "[[plan]]\nid = \"a\"\nversion = 1\ncurrency = \"USD\"\nbase_fee = \"31\"\n{extra}\n"
        )
    };
    // Line 6 is the option.
    for (extra, field, want) in [
        (
            "base_fee_timing = \"monthly\"",
            "plan[1].base_fee_timing",
            "unknown variant `monthly`, expected `arrears` or `advance`",
        ),
        (
            "proration = \"minute\"",
            "plan[1].proration",
            "unknown variant `minute`, expected `day` or `second`",
        ),
    ] {
        let e = PlansFile::parse_file("plans.toml", &plan(extra)).unwrap_err();
        assert_eq!(
            e,
            PlanError::Parse {
                file: "plans.toml".into(),
                line: Some(6),
                field: Some(field.into()),
                message: want.into(),
            },
            "{extra}"
        );
        assert_eq!(
            e.to_string(),
            format!("plans.toml, line 6, field {field}: {want}")
        );
    }
    let no_fee =
        "[[plan]]\nid = \"a\"\nversion = 1\ncurrency = \"USD\"\n\nbase_fee_timing = \"advance\"\n";
    let e = PlansFile::parse_file("plans.toml", no_fee).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plans.toml, line 6, field base_fee_timing: plan a v1: is \"advance\" but the plan has no base_fee; add base_fee or remove base_fee_timing"
    );
    // Left out: arrears and by day, serialized as before (absent).
    let p = PlansFile::parse(&plan("")).unwrap();
    let json = serde_json::to_string(&p.plans[0]).unwrap();
    assert!(
        !json.contains("timing") && !json.contains("proration"),
        "{json}"
    );
}

#[test]
fn bad_subscription_times_name_the_file_line_and_field() {
    let parse = |body: &str| {
        SubscriptionsFile::parse_file(
            "subscriptions.toml",
            &format!("[[subscription]]\nconsumer = \"c\"\nplan = \"sec\"\n{body}\n"),
            &plans(),
        )
    };
    // Line 4 is start, line 5 end.
    let e = parse("start = \"2026-10-16 14:30\"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "subscriptions.toml, line 4, field subscription[1].start: \"2026-10-16 14:30\" is not a date (2026-10-16, midnight UTC) or an RFC 3339 instant on a whole second (2026-10-16T14:30:00Z)"
    );
    let e = parse("start = \"2026-10-16T14:30:00.250Z\"").unwrap_err();
    assert!(
        matches!(e, SubscriptionError::Parse { line: Some(4), .. }),
        "{e}"
    );
    let e =
        parse("start = \"2026-10-16T14:30:00Z\"\nend = \"2026-10-16T16:30:00+02:00\"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "subscriptions.toml, line 5, field subscription[1].end: subscription of c starting 2026-10-16T14:30:00Z: end must be after start (end is exclusive)"
    );
    let e = parse("version = 7\nstart = \"2026-10-01\"").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("subscriptions.toml, line 4, field subscription[1].version: "),
        "{e}"
    );
}

#[test]
fn segments_at_instants_keep_them_and_prorate_by_the_plan() {
    let subs = |plan: &str| {
        SubscriptionsFile::parse(
            &format!(
                "[[subscription]]\nconsumer = \"c\"\nplan = \"{plan}\"\nstart = \"2026-10-16T14:30:00Z\"\nend = \"2026-10-20T06:00:00Z\"\n"
            ),
            &plans(),
        )
        .unwrap()
    };
    let oct: Period = "2026-10".parse().unwrap();
    // By day: 16 Oct (from its start) to 20 Oct (from its start): 4 days.
    let s = &subs("day").segments("c", oct)[0];
    assert_eq!(
        (s.from, s.to),
        (b("2026-10-16T14:30:00Z"), b("2026-10-20T06:00:00Z"))
    );
    assert_eq!(s.share, Decimal::from(4) / Decimal::from(31));
    // By second: 9 h 30 min + 3 days + 6 h = 34,200 + 259,200 + 21,600 =
    // 315,000 s of 2,678,400.
    let s = &subs("sec").segments("c", oct)[0];
    assert_eq!(s.share, Decimal::from(315_000) / Decimal::from(2_678_400));
    assert!(s.holds_ms(b("2026-10-16T14:30:00Z").millis()));
    assert!(!s.holds_ms(b("2026-10-16T14:30:00Z").millis() - 1));
    assert!(!s.holds_ms(b("2026-10-20T06:00:00Z").millis()));
}

#[test]
fn a_segment_leaves_the_advance_fee_out_and_its_minimum_still_counts_it() {
    let plans = plans();
    let subs = SubscriptionsFile::parse(
        "[[subscription]]\nconsumer = \"c\"\nplan = \"day\"\nstart = \"2026-10-01\"\n",
        &plans,
    )
    .unwrap();
    let seg = &subs.segments("c", "2026-10".parse().unwrap())[0];
    let plan = plans.get("day", None).unwrap();
    let usage: SegmentUsage = tollgate_billing::invoice::meters(plan)
        .into_iter()
        .map(|m| {
            (
                m,
                Usage {
                    quantity: Decimal::from(500),
                    events: 500,
                    first_ts: None,
                    last_ts: None,
                },
            )
        })
        .collect();
    let rated = rate_segment(&plans, seg, &usage).unwrap();
    // 500 calls = 5.00; the minimum 40 counts the (advance) base fee 31.00:
    // 40 − (5 + 31) = 4.00 true-up. The base fee itself is not a line here:
    // September's invoice billed it. Subtotal 9.00.
    let kinds: Vec<_> = rated
        .lines
        .iter()
        .map(|l| (l.line.kind, l.line.amount))
        .collect();
    assert_eq!(
        kinds,
        [(LineKind::Usage, d("5.00")), (LineKind::Minimum, d("4.00"))]
    );
    assert_eq!(rated.subtotal, d("9.00"));
}

#[test]
fn a_quote_shows_the_advance_fee_and_takes_instants_by_the_second() {
    let plans = plans();
    let (day, sec) = (
        plans.get("day", None).unwrap(),
        plans.get("sec", None).unwrap(),
    );
    let none = Default::default();
    let q = quote(sec, &none, PeriodPart::Share(Decimal::ONE)).unwrap();
    assert_eq!(q.lines[0].kind, LineKind::AdvanceFee);
    assert_eq!(q.lines[0].description, "Base fee in advance");
    assert_eq!(q.total, d("31.00"));
    // 16 Oct 14:30 to 1 Nov: 1,330,200 of 2,678,400 s × 31 = 15.3958… → 15.40.
    let span = PeriodPart::range(b("2026-10-16T14:30:00Z"), b("2026-11-01"));
    let q = quote(sec, &none, span).unwrap();
    assert_eq!(q.total, d("15.40"));
    assert_eq!(
        q.lines[0].description,
        "Base fee in advance, 1330200 of 2678400 seconds"
    );
    // Whole days on a plan by the second: days, as an invoice says them.
    let days = PeriodPart::range(b("2026-10-16"), b("2026-11-01"));
    let q = quote(sec, &none, days).unwrap();
    assert_eq!(q.lines[0].description, "Base fee in advance, 16 of 31 days");
    assert_eq!(q.lines[0].amount, d("16.00"));
    // A plan by day refuses an instant rather than round it.
    let e = quote(day, &none, span).unwrap_err().to_string();
    assert!(e.contains("prorates by day"), "{e}");
    // A span past the month is refused.
    let past = PeriodPart::range(b("2026-10-16T14:30:00Z"), b("2026-11-01T00:00:01Z"));
    assert!(quote(sec, &none, past).is_err());
}
