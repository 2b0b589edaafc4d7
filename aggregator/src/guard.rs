//! Value guards: the SQL functions whose output is not bounded by their
//! input, wrapped so that one call cannot build more than
//! `analytics.sql_max_value_mb` for one batch of rows.
//!
//! DataFusion's memory pool accounts for operators (hash tables, sorts,
//! aggregate states), not for the arrays a scalar function returns:
//! `SELECT repeat('x', 1000000000)` asks the allocator for a gigabyte
//! before any limit is consulted. Each guarded function estimates the bytes
//! it would build from its arguments *before* running (`repeat`: the sum
//! over the batch's rows of `length(s) × n`; `range`: the element count
//! times 8, ...) and refuses past the cap; every guarded call's output is
//! measured again after it ran, so an estimate that is too low still stops
//! the value from travelling further.
//!
//! Guarded (analyst SQL only; the server's own queries are built by
//! Tollgate and never call them with user sizes):
//!
//! | function | estimated before running |
//! |---|---|
//! | `repeat` | Σ length(s) × n |
//! | `lpad`, `rpad` | Σ n × the widest character of the fill (4 when it varies by row) |
//! | `replace` | Σ length(s) + (length(s) + 1) × length(to) / max(1, length(from)) |
//! | `concat`, `concat_ws`, `make_array`, `array_concat`, `array_append`, `array_prepend` | the bytes of the arguments |
//! | `array_repeat` | Σ n × the element's bytes (at least 8) |
//! | `array_resize` | Σ n × 8 |
//! | `range`, `generate_series` (the list functions) | Σ elements × 8 |
//! | `regexp_replace`, `overlay`, `translate` | measured after running |
//!
//! The table functions `generate_series(…)`/`range(…)` in `FROM` stream
//! their rows in batches, so they need no guard: the result cap stops them
//! reading further, and the time limit stops an aggregate over them.
//! Aggregates (`string_agg`, `array_agg`) keep their state in the memory
//! pool, which refuses them past the query's share.

use std::hash::Hash;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, IntervalMonthDayNanoType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, FieldRef, IntervalUnit, TimeUnit};
use datafusion::arrow::compute::cast;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};

/// A guarded function built more than the cap allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "{function}(…) would build {bytes} bytes for one batch of rows, past analytics.sql_max_value_mb ({limit_mb} MiB); \
     ask for smaller values or raise the limit"
)]
pub struct ValueTooLarge {
    /// The function.
    pub function: String,
    /// Bytes it would build (an estimate before running, or measured after).
    pub bytes: u64,
    /// The cap, in MiB.
    pub limit_mb: u64,
}

/// How a guarded function's output is estimated from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Estimate {
    /// `repeat(s, n)`.
    Repeat,
    /// `lpad(s, n [, fill])`, `rpad(…)`.
    Pad,
    /// `replace(s, from, to)`.
    Replace,
    /// The output is at most the arguments put together.
    SumOfArgs,
    /// `array_repeat(element, n)`.
    ArrayRepeat,
    /// `array_resize(list, n [, value])`.
    ArrayResize,
    /// `range`/`generate_series([start,] stop [, step])` as list functions.
    Series,
    /// Measured only after running.
    After,
}

/// The guarded functions and how each is estimated.
const GUARDED: &[(&str, Estimate)] = &[
    ("repeat", Estimate::Repeat),
    ("lpad", Estimate::Pad),
    ("rpad", Estimate::Pad),
    ("replace", Estimate::Replace),
    ("concat", Estimate::SumOfArgs),
    ("concat_ws", Estimate::SumOfArgs),
    ("make_array", Estimate::SumOfArgs),
    ("array_concat", Estimate::SumOfArgs),
    ("array_append", Estimate::SumOfArgs),
    ("array_prepend", Estimate::SumOfArgs),
    ("array_repeat", Estimate::ArrayRepeat),
    ("array_resize", Estimate::ArrayResize),
    ("range", Estimate::Series),
    ("generate_series", Estimate::Series),
    ("regexp_replace", Estimate::After),
    ("overlay", Estimate::After),
    ("translate", Estimate::After),
];

/// Guarded versions of the functions `registered` holds (looked up by
/// name), each refusing to build more than `max_bytes` per call.
pub(crate) fn guarded(
    registered: &std::collections::HashMap<String, Arc<ScalarUDF>>,
    max_bytes: u64,
) -> Vec<Arc<ScalarUDF>> {
    GUARDED
        .iter()
        .filter_map(|(name, estimate)| {
            let inner = registered.get(*name)?;
            Some(Arc::new(ScalarUDF::new_from_impl(Guarded {
                inner: inner.as_ref().clone(),
                estimate: *estimate,
                max_bytes,
            })))
        })
        .collect()
}

/// One guarded function: the original, and its cap.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Guarded {
    inner: ScalarUDF,
    estimate: Estimate,
    /// Most bytes one call may build, for all the rows of its batch.
    max_bytes: u64,
}

impl Guarded {
    fn imp(&self) -> &Arc<dyn ScalarUDFImpl> {
        self.inner.inner()
    }

    fn check(&self, bytes: u64) -> Result<()> {
        if bytes <= self.max_bytes {
            return Ok(());
        }
        Err(DataFusionError::External(Box::new(ValueTooLarge {
            function: self.inner.name().to_string(),
            bytes,
            limit_mb: self.max_bytes / (1024 * 1024),
        })))
    }
}

impl ScalarUDFImpl for Guarded {
    fn name(&self) -> &str {
        self.imp().name()
    }

    fn aliases(&self) -> &[String] {
        self.imp().aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.imp().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.imp().signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.imp().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.imp().return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.imp().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        if let Some(bytes) = estimate(self.estimate, &args.args, rows)? {
            self.check(bytes)?;
        }
        let out = self.imp().invoke_with_args(args)?;
        self.check(columnar_bytes(&out, 1))?;
        Ok(out)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.imp().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(Guarded {
            inner,
            estimate: self.estimate,
            max_bytes: self.max_bytes,
        }))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.imp().simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.imp().short_circuits()
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.imp().conditional_arguments(args)
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.imp().evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.imp().propagate_constraints(interval, inputs)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.imp().output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.imp().preserves_lex_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.imp().coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.imp().documentation()
    }
}

/// Bytes the call would build, when the function has an estimate.
fn estimate(kind: Estimate, args: &[ColumnarValue], rows: usize) -> Result<Option<u64>> {
    let arg = |i: usize| args.get(i);
    let total = match kind {
        Estimate::After => return Ok(None),
        Estimate::SumOfArgs => args.iter().map(|a| columnar_bytes(a, rows)).sum(),
        Estimate::Repeat => match (arg(0), arg(1)) {
            (Some(s), Some(n)) => {
                let lens = byte_lengths(s, rows)?;
                let ns = integers(n, rows)?;
                lens.iter()
                    .zip(&ns)
                    .map(|(l, n)| l.saturating_mul(clamp(*n)))
                    .fold(0u64, u64::saturating_add)
            }
            _ => return Ok(None),
        },
        Estimate::Pad => match arg(1) {
            Some(n) => {
                let width = match arg(2) {
                    None => 1,
                    Some(ColumnarValue::Scalar(fill)) => scalar_str(fill)
                        .map_or(4, |f| f.chars().map(char::len_utf8).max().unwrap_or(1))
                        as u64,
                    Some(ColumnarValue::Array(_)) => 4,
                };
                integers(n, rows)?
                    .iter()
                    .map(|n| clamp(*n).saturating_mul(width))
                    .fold(0u64, u64::saturating_add)
            }
            None => return Ok(None),
        },
        Estimate::Replace => match (arg(0), arg(1), arg(2)) {
            (Some(s), Some(from), Some(to)) => {
                let s = byte_lengths(s, rows)?;
                let from = byte_lengths(from, rows)?;
                let to = byte_lengths(to, rows)?;
                (0..rows)
                    .map(|i| {
                        let matches = (s[i] + 1) / from[i].max(1);
                        s[i].saturating_add(matches.saturating_mul(to[i]))
                    })
                    .fold(0u64, u64::saturating_add)
            }
            _ => return Ok(None),
        },
        Estimate::ArrayRepeat => match (arg(0), arg(1)) {
            (Some(element), Some(n)) => {
                let each = (columnar_bytes(element, rows) / rows as u64).max(8);
                integers(n, rows)?
                    .iter()
                    .map(|n| clamp(*n).saturating_mul(each))
                    .fold(0u64, u64::saturating_add)
            }
            _ => return Ok(None),
        },
        Estimate::ArrayResize => match arg(1) {
            Some(n) => integers(n, rows)?
                .iter()
                .map(|n| clamp(*n).saturating_mul(8))
                .fold(0u64, u64::saturating_add),
            None => return Ok(None),
        },
        Estimate::Series => series_elements(args, rows)?.saturating_mul(8),
    };
    Ok(Some(total))
}

fn clamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn scalar_str(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.as_deref(),
        _ => None,
    }
}

/// The bytes of each row's string (0 for null), for `rows` rows.
fn byte_lengths(v: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    let array = match v {
        ColumnarValue::Scalar(s) => {
            let len = match scalar_str(s) {
                Some(s) => s.len() as u64,
                None if s.is_null() => 0,
                None => s.size() as u64,
            };
            return Ok(vec![len; rows]);
        }
        ColumnarValue::Array(a) => a,
    };
    let lens: Vec<u64> = match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|s| s.map_or(0, |s| s.len() as u64))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|s| s.map_or(0, |s| s.len() as u64))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|s| s.map_or(0, |s| s.len() as u64))
            .collect(),
        _ => {
            let each = array_bytes(array) / array.len().max(1) as u64;
            vec![each; array.len()]
        }
    };
    Ok(pad_to(lens, rows))
}

/// Each row's integer (0 for null), for `rows` rows.
fn integers(v: &ColumnarValue, rows: usize) -> Result<Vec<i64>> {
    let array = v.to_array(rows)?;
    let array = cast(&array, &DataType::Int64)?;
    let ints: Vec<i64> = array
        .as_primitive::<Int64Type>()
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    Ok(pad_to(ints, rows))
}

fn pad_to<T: Clone + Default>(mut v: Vec<T>, rows: usize) -> Vec<T> {
    v.resize(rows, T::default());
    v
}

/// Elements `range`/`generate_series` would build over the batch: integer
/// bounds step by the step (1 by default); dates and timestamps by the
/// interval, a month counted as 28 days so the estimate is never low.
fn series_elements(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let Some(first) = args.first() else {
        return Ok(0);
    };
    let (start, stop, step) = match args.len() {
        1 => (None, first, None),
        2 => (Some(first), &args[1], None),
        _ => (Some(first), &args[1], args.get(2)),
    };
    let unit = match first.data_type() {
        DataType::Date32 | DataType::Date64 => Some(86_400_000_000_000i128),
        DataType::Timestamp(unit, _) => Some(match unit {
            TimeUnit::Second => 1_000_000_000,
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1,
        }),
        _ => None,
    };
    let bounds = |v: &ColumnarValue| -> Result<Vec<i128>> {
        let array = v.to_array(rows)?;
        let ns: Vec<i128> = match (array.data_type(), unit) {
            (DataType::Date32 | DataType::Date64, _) => {
                let days = cast(&array, &DataType::Date32)?;
                let days = cast(&days, &DataType::Int32)?;
                days.as_primitive::<arrow_array::types::Int32Type>()
                    .iter()
                    .map(|d| i128::from(d.unwrap_or_default()) * 86_400_000_000_000)
                    .collect()
            }
            (_, Some(per)) => {
                let raw = cast(&array, &DataType::Int64)?;
                raw.as_primitive::<Int64Type>()
                    .iter()
                    .map(|t| i128::from(t.unwrap_or_default()) * per)
                    .collect()
            }
            (_, None) => {
                let raw = cast(&array, &DataType::Int64)?;
                raw.as_primitive::<Int64Type>()
                    .iter()
                    .map(|t| i128::from(t.unwrap_or_default()))
                    .collect()
            }
        };
        Ok(pad_to(ns, rows))
    };
    let stops = bounds(stop)?;
    let starts = match start {
        Some(s) => bounds(s)?,
        None => vec![0; rows],
    };
    let steps: Vec<i128> = match (step, unit) {
        (None, None) => vec![1; rows],
        // A date or timestamp series without a step is refused by the
        // function itself; count it as one element per unit.
        (None, Some(per)) => vec![per; rows],
        (Some(step), Some(_)) => interval_nanos(step, rows)?,
        (Some(step), None) => integers(step, rows)?.into_iter().map(i128::from).collect(),
    };
    let mut total = 0u64;
    for i in 0..rows {
        let step = steps[i].unsigned_abs().max(1);
        let span = (stops[i] - starts[i]).unsigned_abs();
        let n = u64::try_from(span / step).unwrap_or(u64::MAX);
        total = total.saturating_add(n.saturating_add(1));
    }
    Ok(total)
}

/// Each row's interval in nanoseconds, a month counted as 28 days.
fn interval_nanos(v: &ColumnarValue, rows: usize) -> Result<Vec<i128>> {
    let array = v.to_array(rows)?;
    let array = cast(&array, &DataType::Interval(IntervalUnit::MonthDayNano))?;
    let day = 86_400_000_000_000i128;
    let ns: Vec<i128> = array
        .as_primitive::<IntervalMonthDayNanoType>()
        .iter()
        .map(|v| {
            v.map_or(0, |v| {
                i128::from(v.months) * 28 * day
                    + i128::from(v.days) * day
                    + i128::from(v.nanoseconds)
            })
        })
        .collect();
    Ok(pad_to(ns, rows))
}

/// Bytes of a value: an array's (see [`array_bytes`]), a scalar's times
/// the rows it stands for.
fn columnar_bytes(v: &ColumnarValue, rows: usize) -> u64 {
    match v {
        ColumnarValue::Array(a) => array_bytes(a),
        ColumnarValue::Scalar(s) => (s.size() as u64).saturating_mul(rows as u64),
    }
}

/// Bytes an array's rows hold: for string and binary views, the views and
/// the out-of-line bytes of the rows themselves (their buffers may be
/// shared with other arrays); for other types, the slice's buffers.
pub(crate) fn array_bytes(a: &ArrayRef) -> u64 {
    fn views(views: &[u128]) -> u64 {
        views
            .iter()
            .map(|v| {
                let len = (*v as u32) as u64;
                16 + if len > 12 { len } else { 0 }
            })
            .sum()
    }
    match a.data_type() {
        DataType::Utf8View => views(a.as_string_view().views()),
        DataType::BinaryView => views(a.as_binary_view().views()),
        _ => a
            .to_data()
            .get_slice_memory_size()
            .map_or_else(|_| a.get_array_memory_size() as u64, |n| n as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    fn scalar_str(s: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.into())))
    }

    fn scalar_int(n: i64) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(n)))
    }

    #[test]
    fn repeat_is_estimated_per_row() {
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("ab"), None, Some("xyz")]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![10, 1000, -5]));
        let bytes = estimate(
            Estimate::Repeat,
            &[ColumnarValue::Array(s), ColumnarValue::Array(n)],
            3,
        )
        .unwrap();
        // 2 × 10 + 0 × 1000 + 3 × 0 (a negative count builds nothing).
        assert_eq!(bytes, Some(20));
        let one_gb = estimate(
            Estimate::Repeat,
            &[scalar_str("x"), scalar_int(1_000_000_000)],
            1,
        )
        .unwrap();
        assert_eq!(one_gb, Some(1_000_000_000));
    }

    #[test]
    fn series_counts_elements_with_and_without_steps() {
        let n = |args: &[ColumnarValue]| series_elements(args, 1).unwrap();
        assert_eq!(
            n(&[scalar_int(1), scalar_int(10_000_000_000)]),
            10_000_000_000
        );
        assert_eq!(n(&[scalar_int(0), scalar_int(100), scalar_int(10)]), 11);
        assert_eq!(n(&[scalar_int(100), scalar_int(0), scalar_int(-10)]), 11);
        // A zero step is the function's own error; counted as one step.
        assert_eq!(n(&[scalar_int(0), scalar_int(5), scalar_int(0)]), 6);
        let ts = |s: i64| {
            ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
                Some(s * 1_000_000_000),
                None,
            ))
        };
        let second = ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(
            arrow_array::types::IntervalMonthDayNano::new(0, 0, 1_000_000_000),
        )));
        // A century by the second: 3.15 billion elements.
        let century = 100 * 365 * 86_400;
        assert_eq!(n(&[ts(0), ts(century), second]), century as u64 + 1);
    }

    #[test]
    fn pad_counts_the_fill_width() {
        let fill = scalar_str("€");
        let bytes = estimate(Estimate::Pad, &[scalar_str("a"), scalar_int(100), fill], 4)
            .unwrap()
            .unwrap();
        assert_eq!(bytes, 4 * 100 * 3);
    }

    #[test]
    fn replace_bounds_the_growth() {
        // 'aaaa' with 'a' → 10 bytes: at most 5 matches of 10 bytes.
        let bytes = estimate(
            Estimate::Replace,
            &[
                scalar_str("aaaa"),
                scalar_str("a"),
                scalar_str("0123456789"),
            ],
            1,
        )
        .unwrap()
        .unwrap();
        assert!(bytes >= 40, "{bytes}");
    }
}
