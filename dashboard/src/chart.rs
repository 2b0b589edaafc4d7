//! Time-series charts as inline SVG, drawn on the server: time on x (UTC,
//! ticks on round minutes, hours or days), the value on y from zero to a
//! round maximum, labelled axes, a legend, and a tooltip per point.
//!
//! A chart has one slot per time bucket. Stacked bars show counts (a
//! missing bucket is zero calls); lines show rates and latencies, broken
//! where a bucket has no value (no calls means no latency, not zero). Each
//! series carries its values in `data-values`, so tests and scripts can
//! read exactly what is drawn.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::html::esc;

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
    pub fn render(&self) -> String {
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

        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"chart\" data-chart=\"{id}\" data-slots=\"{slots}\" data-from=\"{from}\" data-step-seconds=\"{step}\" \
             viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"{id}-title\" xmlns=\"http://www.w3.org/2000/svg\">\
             <title id=\"{id}-title\">{title}</title>\
             <text class=\"chart-title\" x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"600\" fill=\"#1f2933\">{title}</text>",
            id = esc(&self.id),
            from = self.from.to_rfc3339(),
            step = self.step.num_seconds(),
            title = esc(&self.title),
        );

        // Legend, right-aligned on the title line.
        let mut lx = W - RIGHT;
        for series in self.series.iter().rev() {
            let text_w = 7.5 * series.name.chars().count() as f64;
            lx -= text_w + 22.0;
            let _ = write!(
                s,
                "<g class=\"legend\"><rect x=\"{lx:.1}\" y=\"12\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{c}\"/>\
                 <text x=\"{tx:.1}\" y=\"22\" font-size=\"12\" fill=\"#3e4c59\">{n}</text></g>",
                c = series.color,
                tx = lx + 16.0,
                n = esc(&series.name)
            );
        }

        // Y grid, ticks and labels.
        let _ = write!(
            s,
            "<g class=\"y-axis\" font-size=\"11\" fill=\"#52606d\" text-anchor=\"end\">"
        );
        let ticks = (top / ystep).round() as usize;
        for k in 0..=ticks {
            let v = k as f64 * ystep;
            let y = y_of(v);
            let _ = write!(
                s,
                "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e7eb\"/>\
                 <text class=\"tick\" x=\"{tx}\" y=\"{ty:.1}\">{label}</text>",
                x2 = W - RIGHT,
                tx = LEFT - 6.0,
                ty = y + 4.0,
                label = esc(&y_label(v, ystep, self.unit)),
            );
        }
        let _ = write!(
            s,
            "<text class=\"axis-label\" transform=\"translate(16 {cy:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\" fill=\"#3e4c59\">{label}</text></g>",
            cy = TOP + ph / 2.0,
            label = esc(&self.y_label)
        );

        // X ticks on round times.
        let xs = x_step(to - self.from);
        let xs_secs = xs.num_seconds();
        let first = self.from.timestamp().div_euclid(xs_secs) * xs_secs
            + if self.from.timestamp().rem_euclid(xs_secs) == 0 {
                0
            } else {
                xs_secs
            };
        let _ = write!(
            s,
            "<g class=\"x-axis\" font-size=\"11\" fill=\"#52606d\" text-anchor=\"middle\">"
        );
        let base = TOP + ph;
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#9aa5b1\"/>\
             <line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{base}\" stroke=\"#9aa5b1\"/>",
            x2 = W - RIGHT
        );
        let mut t = first;
        let mut last_day = None;
        while t <= to.timestamp() {
            let Some(at) = Utc.timestamp_opt(t, 0).single() else {
                break;
            };
            let x = x_of(at);
            let day = at.date_naive();
            let label = if xs_secs >= 86_400 {
                at.format("%b %d").to_string()
            } else {
                at.format("%H:%M").to_string()
            };
            let date_line = if xs_secs < 86_400 && last_day != Some(day) {
                format!(
                    "<tspan x=\"{x:.1}\" dy=\"13\">{}</tspan>",
                    at.format("%b %d")
                )
            } else {
                String::new()
            };
            last_day = Some(day);
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{base}\" y2=\"{tb}\" stroke=\"#9aa5b1\"/>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"{ty}\">{label}{date_line}</text>",
                tb = base + 5.0,
                ty = base + 17.0,
            );
            t += xs_secs;
        }
        let _ = write!(
            s,
            "<text class=\"axis-label\" x=\"{cx:.1}\" y=\"{y}\" font-size=\"12\" fill=\"#3e4c59\">time (UTC)</text></g>",
            cx = LEFT + pw / 2.0,
            y = H - 6.0
        );

        // The data.
        let slot_time = |i: usize| self.from + self.step * i as i32;
        let when = |i: usize| {
            let t = slot_time(i);
            if self.step >= Duration::days(1) {
                t.format("%Y-%m-%d").to_string()
            } else {
                t.format("%Y-%m-%d %H:%M").to_string()
            }
        };
        match self.kind {
            Kind::StackedBars => {
                let gap = if slot_w > 4.0 { slot_w * 0.15 } else { 0.0 };
                let mut stack = vec![0.0; slots];
                for series in &self.series {
                    let _ = write!(
                        s,
                        "<g class=\"series\" data-series=\"{}\" data-values=\"{}\" fill=\"{}\">",
                        esc(&series.name),
                        data_values(&series.values),
                        series.color
                    );
                    for (i, v) in series.values.iter().enumerate() {
                        let Some(v) = v.filter(|v| *v > 0.0) else {
                            continue;
                        };
                        let (y0, y1) = (y_of(stack[i]), y_of(stack[i] + v));
                        stack[i] += v;
                        let tip = if slots <= MAX_MARKERS {
                            format!(
                                "<title>{} UTC · {}: {}</title>",
                                when(i),
                                esc(&series.name),
                                value_text(v, self.unit)
                            )
                        } else {
                            String::new()
                        };
                        let _ = write!(
                            s,
                            "<rect x=\"{x:.2}\" y=\"{y1:.2}\" width=\"{w:.2}\" height=\"{h:.2}\">{tip}</rect>",
                            x = LEFT + i as f64 * slot_w + gap / 2.0,
                            w = (slot_w - gap).max(0.5),
                            h = (y0 - y1).max(0.0),
                        );
                    }
                    s.push_str("</g>");
                }
            }
            Kind::Lines => {
                for series in &self.series {
                    let _ = write!(
                        s,
                        "<g class=\"series\" data-series=\"{}\" data-values=\"{}\" stroke=\"{c}\" fill=\"{c}\">",
                        esc(&series.name),
                        data_values(&series.values),
                        c = series.color
                    );
                    let cx = |i: usize| LEFT + (i as f64 + 0.5) * slot_w;
                    // Contiguous runs of values become one polyline each.
                    let mut run: Vec<(f64, f64)> = Vec::new();
                    let flush = |run: &mut Vec<(f64, f64)>, s: &mut String| {
                        if run.len() > 1 {
                            let pts: Vec<String> =
                                run.iter().map(|(x, y)| format!("{x:.2},{y:.2}")).collect();
                            let _ = write!(
                                s,
                                "<polyline fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"{}\"/>",
                                pts.join(" ")
                            );
                        }
                        run.clear();
                    };
                    for (i, v) in series.values.iter().enumerate() {
                        match v {
                            Some(v) => run.push((cx(i), y_of(*v))),
                            None => flush(&mut run, &mut s),
                        }
                    }
                    flush(&mut run, &mut s);
                    for (i, v) in series.values.iter().enumerate() {
                        let Some(v) = v else { continue };
                        let isolated = (i == 0 || series.values[i - 1].is_none())
                            && series.values.get(i + 1).is_none_or(|n| n.is_none());
                        if slots <= MAX_MARKERS || isolated {
                            let _ = write!(
                                s,
                                "<circle cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"{r}\" stroke=\"none\"><title>{t} UTC · {n}: {val}</title></circle>",
                                x = cx(i),
                                y = y_of(*v),
                                r = if slots <= 60 { 3.0 } else { 2.0 },
                                t = when(i),
                                n = esc(&series.name),
                                val = value_text(*v, self.unit),
                            );
                        }
                    }
                    s.push_str("</g>");
                }
            }
        }
        if !has_data {
            let _ = write!(
                s,
                "<text class=\"no-data\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"14\" fill=\"#7b8794\">No calls in this range</text>",
                x = LEFT + pw / 2.0,
                y = TOP + ph / 2.0
            );
        }
        s.push_str("</svg>");
        s
    }
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
        .render();
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
        .render();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
        let empty = chart(Kind::StackedBars, vec![vec![None, None]]).render();
        assert!(empty.contains("No calls in this range"));
    }
}
