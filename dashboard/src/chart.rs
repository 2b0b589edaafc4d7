//! Time-series charts as inline SVG, drawn on the server: time on x (UTC,
//! ticks on round minutes, hours or days), the value on y from zero to a
//! round maximum, labelled axes, a legend, and a tooltip per point.
//!
//! A chart has one slot per time bucket. Stacked bars show counts (a
//! missing bucket is zero calls); lines show rates and latencies, broken
//! where a bucket has no value (no calls means no latency, not zero). Each
//! series carries its values in `data-values`, so tests and scripts can
//! read exactly what is drawn.

use chrono::{DateTime, Duration, TimeZone, Utc};
use maud::{Markup, html};

/// What the y values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count of calls.
    Count,
    /// A percentage (values already ×100).
    Percent,
    /// Milliseconds.
    Ms,
}

/// How the series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Stacked bars, one stack per slot.
    StackedBars,
    /// One line per series.
    Lines,
}

/// One series: a value (or none) per slot.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend name (`p95`, `5xx`).
    pub name: String,
    /// Fill or stroke colour.
    pub color: &'static str,
    /// One entry per slot.
    pub values: Vec<Option<f64>>,
}

/// A chart over `slots` buckets of `step` starting at `from`.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Identifies the chart in the page (`data-chart`).
    pub id: String,
    /// Title above the plot.
    pub title: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Unit of the values.
    pub unit: Unit,
    /// Bars or lines.
    pub kind: Kind,
    /// Start of the first slot.
    pub from: DateTime<Utc>,
    /// Length of a slot.
    pub step: Duration,
    /// The series, drawn (and stacked) in this order.
    pub series: Vec<Series>,
}

const W: f64 = 960.0;
const H: f64 = 280.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 52.0;
/// Circles (with tooltips) are drawn for each point up to this many slots.
const MAX_MARKERS: usize = 200;

/// A "nice" step (1, 2, 2.5 or 5 × 10^k) for about `max / target`.
fn nice_step(max: f64, target: f64) -> f64 {
    let raw = max / target;
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if raw <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

/// The y axis: top value and tick step.
fn y_axis(max: f64, unit: Unit) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, if unit == Unit::Count { 1.0 } else { 0.25 });
    }
    let mut step = nice_step(max, 4.0);
    if unit == Unit::Count {
        step = step.max(1.0);
    }
    let top = (max / step).ceil() * step;
    (top, step)
}

fn decimals(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    }
}

/// A y tick label.
fn y_label(v: f64, step: f64, unit: Unit) -> String {
    let d = decimals(step);
    match unit {
        Unit::Count if v >= 1e6 => format!("{}M", trim(v / 1e6)),
        Unit::Count if v >= 1e4 => format!("{}k", trim(v / 1e3)),
        Unit::Count => crate::html::int(v.round() as i64),
        Unit::Percent => format!("{v:.d$}%"),
        Unit::Ms => format!("{v:.d$} ms"),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A value in a tooltip.
fn value_text(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => crate::html::int(v.round() as i64),
        Unit::Percent => format!("{v:.2}%"),
        Unit::Ms => format!("{v:.2} ms"),
    }
}

/// X tick spacing: the smallest round step giving at most 8 ticks.
fn x_step(span: Duration) -> Duration {
    const STEPS: [i64; 16] = [
        60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800,
        1_209_600, 2_592_000,
    ];
    let secs = span.num_seconds().max(1);
    let s = STEPS
        .iter()
        .copied()
        .find(|s| secs / s <= 8)
        .unwrap_or(2_592_000);
    Duration::seconds(s)
}

impl Chart {
    fn slots(&self) -> usize {
        self.series
            .iter()
            .map(|s| s.values.len())
            .max()
            .unwrap_or(0)
    }

    /// The SVG element.
    pub fn render(&self) -> Markup {
        let slots = self.slots().max(1);
        let to = self.from + self.step * slots as i32;
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let span_ms = (to - self.from).num_milliseconds().max(1) as f64;
        let x_of =
            |t: DateTime<Utc>| LEFT + (t - self.from).num_milliseconds() as f64 / span_ms * pw;
        let slot_w = pw / slots as f64;

        let max = match self.kind {
            Kind::StackedBars => (0..slots)
                .map(|i| {
                    self.series
                        .iter()
                        .filter_map(|s| s.values.get(i).copied().flatten())
                        .sum::<f64>()
                })
                .fold(0.0, f64::max),
            Kind::Lines => self
                .series
                .iter()
                .flat_map(|s| s.values.iter().copied().flatten())
                .fold(0.0, f64::max),
        };
        let has_data = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied().flatten())
            .any(|v| v != 0.0 || self.kind == Kind::Lines);
        let (top, ystep) = y_axis(max, self.unit);
        let y_of = |v: f64| TOP + ph - v / top * ph;

        // X ticks on round times.
        let xs = x_step(to - self.from);
        let xs_secs = xs.num_seconds();
        let first = self.from.timestamp().div_euclid(xs_secs) * xs_secs
            + if self.from.timestamp().rem_euclid(xs_secs) == 0 {
                0
            } else {
                xs_secs
            };
        let base = TOP + ph;
        let mut x_ticks = Vec::new();
        let mut t = first;
        let mut last_day = None;
        while t <= to.timestamp() {
            let Some(at) = Utc.timestamp_opt(t, 0).single() else {
                break;
            };
            let day = at.date_naive();
            let label = if xs_secs >= 86_400 {
                at.format("%b %d").to_string()
            } else {
                at.format("%H:%M").to_string()
            };
            // The date under the first tick of each day, when ticks are times.
            let date =
                (xs_secs < 86_400 && last_day != Some(day)).then(|| at.format("%b %d").to_string());
            last_day = Some(day);
            x_ticks.push((x_of(at), label, date));
            t += xs_secs;
        }

        let slot_time = |i: usize| self.from + self.step * i as i32;
        let when = |i: usize| {
            let t = slot_time(i);
            if self.step >= Duration::days(1) {
                t.format("%Y-%m-%d").to_string()
            } else {
                t.format("%Y-%m-%d %H:%M").to_string()
            }
        };
        let ticks = (top / ystep).round() as usize;
        let id = &self.id;
        // SVG elements are closed explicitly (`{}`): inside HTML, a foreign
        // element written `<rect ...>` without `/>` would swallow what follows.
        html! {
            svg class="chart" data-chart=(id) data-slots=(slots) data-from=(self.from.to_rfc3339())
                data-step-seconds=(self.step.num_seconds()) viewBox={ "0 0 " (W) " " (H) } role="img"
                aria-labelledby={ (id) "-title" } xmlns="http://www.w3.org/2000/svg" {
                title id={ (id) "-title" } { (self.title) }
                text class="chart-title" x=(LEFT) y="22" font-size="15" font-weight="600" fill="#1f2933" { (self.title) }
                // Legend, right-aligned on the title line.
                @for (lx, series) in legend_positions(&self.series) {
                    g class="legend" {
                        rect x=(f1(lx)) y="12" width="12" height="12" rx="2" fill=(series.color) {}
                        text x=(f1(lx + 16.0)) y="22" font-size="12" fill="#3e4c59" { (series.name) }
                    }
                }
                // Y grid, ticks and labels.
                g class="y-axis" font-size="11" fill="#52606d" text-anchor="end" {
                    @for k in 0..=ticks {
                        @let v = k as f64 * ystep;
                        @let y = y_of(v);
                        line x1=(LEFT) x2=(W - RIGHT) y1=(f1(y)) y2=(f1(y)) stroke="#e4e7eb" {}
                        text class="tick" x=(LEFT - 6.0) y=(f1(y + 4.0)) { (y_label(v, ystep, self.unit)) }
                    }
                    text class="axis-label" transform={ "translate(16 " (f1(TOP + ph / 2.0)) ") rotate(-90)" }
                        text-anchor="middle" font-size="12" fill="#3e4c59" { (self.y_label) }
                }
                // X ticks on round times.
                g class="x-axis" font-size="11" fill="#52606d" text-anchor="middle" {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(base) y2=(base) stroke="#9aa5b1" {}
                    line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(base) stroke="#9aa5b1" {}
                    @for (x, label, date) in &x_ticks {
                        line x1=(f1(*x)) x2=(f1(*x)) y1=(base) y2=(base + 5.0) stroke="#9aa5b1" {}
                        text class="tick" x=(f1(*x)) y=(base + 17.0) {
                            (label)
                            @if let Some(date) = date {
                                tspan x=(f1(*x)) dy="13" { (date) }
                            }
                        }
                    }
                    text class="axis-label" x=(f1(LEFT + pw / 2.0)) y=(H - 6.0) font-size="12" fill="#3e4c59" { "time (UTC)" }
                }
                // The data.
                @match self.kind {
                    Kind::StackedBars => {
                        @let gap = if slot_w > 4.0 { slot_w * 0.15 } else { 0.0 };
                        @for (series, bars) in self.series.iter().zip(stacks(&self.series, slots)) {
                            g class="series" data-series=(series.name) data-values=(data_values(&series.values)) fill=(series.color) {
                                @for (i, v, below) in bars {
                                    @let (y0, y1) = (y_of(below), y_of(below + v));
                                    rect x=(f2(LEFT + i as f64 * slot_w + gap / 2.0)) y=(f2(y1))
                                        width=(f2((slot_w - gap).max(0.5))) height=(f2((y0 - y1).max(0.0))) {
                                        @if slots <= MAX_MARKERS {
                                            title { (when(i)) " UTC · " (series.name) ": " (value_text(v, self.unit)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Kind::Lines => {
                        @for series in &self.series {
                            @let cx = |i: usize| LEFT + (i as f64 + 0.5) * slot_w;
                            g class="series" data-series=(series.name) data-values=(data_values(&series.values))
                                stroke=(series.color) fill=(series.color) {
                                // Contiguous runs of values become one polyline each.
                                @for run in runs(&series.values) {
                                    @if run.len() > 1 {
                                        @let pts = run.iter().map(|(i, v)| format!("{:.2},{:.2}", cx(*i), y_of(*v))).collect::<Vec<_>>().join(" ");
                                        polyline fill="none" stroke-width="2" stroke-linejoin="round" points=(pts) {}
                                    }
                                }
                                @for (i, v) in series.values.iter().enumerate() {
                                    @if let Some(v) = v {
                                        @let isolated = (i == 0 || series.values[i - 1].is_none())
                                            && series.values.get(i + 1).is_none_or(|n| n.is_none());
                                        @if slots <= MAX_MARKERS || isolated {
                                            circle cx=(f2(cx(i))) cy=(f2(y_of(*v))) r=(if slots <= 60 { 3.0 } else { 2.0 }) stroke="none" {
                                                title { (when(i)) " UTC · " (series.name) ": " (value_text(*v, self.unit)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !has_data {
                    text class="no-data" x=(f1(LEFT + pw / 2.0)) y=(f1(TOP + ph / 2.0)) text-anchor="middle"
                        font-size="14" fill="#7b8794" { "No calls in this range" }
                }
            }
        }
    }
}

/// `v` with one decimal, as SVG coordinates are written.
fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// `v` with two decimals.
fn f2(v: f64) -> String {
    format!("{v:.2}")
}

/// Each legend entry's x, right-aligned: the last series ends at the right
/// edge, each earlier one to the left of the next.
fn legend_positions(series: &[Series]) -> Vec<(f64, &Series)> {
    let mut lx = W - RIGHT;
    series
        .iter()
        .rev()
        .map(|s| {
            lx -= 7.5 * s.name.chars().count() as f64 + 22.0;
            (lx, s)
        })
        .collect()
}

/// Per series, its positive bars: (slot, value, the stack below it).
fn stacks(series: &[Series], slots: usize) -> Vec<Vec<(usize, f64, f64)>> {
    let mut stack = vec![0.0; slots];
    series
        .iter()
        .map(|s| {
            s.values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let v = v.filter(|v| *v > 0.0)?;
                    let below = *stack.get(i)?;
                    stack[i] += v;
                    Some((i, v, below))
                })
                .collect()
        })
        .collect()
}

/// The contiguous runs of values: (slot, value) per point.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out = vec![Vec::new()];
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                if let Some(run) = out.last_mut() {
                    run.push((i, *v));
                }
            }
            None => out.push(Vec::new()),
        }
    }
    out
}

/// `1,2.5,,3` (empty for no value): what a series holds, for tests.
fn data_values(values: &[Option<f64>]) -> String {
    values
        .iter()
        .map(|v| v.map_or(String::new(), trim_data))
        .collect::<Vec<_>>()
        .join(",")
}

fn trim_data(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind, values: Vec<Vec<Option<f64>>>) -> Chart {
        Chart {
            id: "t".into(),
            title: "Test <chart>".into(),
            y_label: "requests / hour".into(),
            unit: Unit::Count,
            kind,
            from: Utc.with_ymd_and_hms(2024, 6, 11, 0, 0, 0).unwrap(),
            step: Duration::hours(1),
            series: values
                .into_iter()
                .enumerate()
                .map(|(i, v)| Series {
                    name: format!("s{i}"),
                    color: "#000",
                    values: v,
                })
                .collect(),
        }
    }

    #[test]
    fn round_axes() {
        assert_eq!(y_axis(87.0, Unit::Count), (100.0, 25.0));
        assert_eq!(y_axis(3.0, Unit::Count), (3.0, 1.0));
        assert_eq!(y_axis(0.0, Unit::Count), (1.0, 1.0));
        let (top, step) = y_axis(0.42, Unit::Percent);
        assert!(
            (top - 0.6).abs() < 1e-9 && (step - 0.2).abs() < 1e-12,
            "{top} {step}"
        );
        assert_eq!(y_label(12_500.0, 2500.0, Unit::Count), "12.5k");
        assert_eq!(y_label(0.25, 0.05, Unit::Percent), "0.25%");
        assert_eq!(x_step(Duration::hours(48)), Duration::hours(6));
        assert_eq!(x_step(Duration::days(30)), Duration::days(7));
        assert_eq!(x_step(Duration::minutes(60)), Duration::minutes(10));
    }

    #[test]
    fn bars_stack_and_carry_their_values() {
        let svg = chart(
            Kind::StackedBars,
            vec![
                vec![Some(8.0), None, Some(2.0)],
                vec![Some(2.0), None, Some(0.0)],
            ],
        )
        .render()
        .into_string();
        assert!(svg.contains("data-slots=\"3\""), "{svg}");
        assert!(
            svg.contains("data-series=\"s0\" data-values=\"8,,2\""),
            "{svg}"
        );
        // The stack of slot 0 reaches 10, the top of the axis.
        assert!(svg.contains(">10</text>"), "{svg}");
        assert!(svg.contains("2024-06-11 00:00 UTC · s1: 2"), "{svg}");
        assert!(svg.contains("Test &lt;chart&gt;"));
        assert!(svg.contains("time (UTC)") && svg.contains("requests / hour"));
        assert!(!svg.contains("No calls"));
    }

    #[test]
    fn lines_break_at_missing_values() {
        let svg = chart(
            Kind::Lines,
            vec![vec![
                Some(1.0),
                Some(2.0),
                None,
                Some(4.0),
                Some(5.0),
                None,
                Some(7.0),
            ]],
        )
        .render()
        .into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
        let empty = chart(Kind::StackedBars, vec![vec![None, None]])
            .render()
            .into_string();
        assert!(empty.contains("No calls in this range"));
    }
}
