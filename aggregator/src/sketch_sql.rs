//! The latency histograms in analyst SQL: `sketch_merge` (an aggregate)
//! merges histograms into one, and `sketch_quantile(sketch, q)` (a scalar)
//! reads a quantile from it, the same way the planner reads its
//! percentiles ([`crate::sketch::Sketch::quantiles`]), so
//!
//! ```sql
//! SELECT consumer,
//!        sketch_quantile(sketch_merge(latency_keys, latency_counts), 0.99) AS p99
//! FROM rollups_hourly GROUP BY consumer
//! ```
//!
//! gives the p99 that `tollgate report traffic --rollups --by consumer`
//! gives. `sketch_merge` takes either the hourly rollup's two bucket lists
//! (`latency_keys, latency_counts`) or one packed histogram (the summary
//! views' `latency` and `upstream` columns, or another `sketch_merge`'s
//! result); its result is a packed histogram ([`crate::sketch::Sketch::encode`]).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array};
use arrow_schema::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use crate::sketch::Sketch;

/// `sketch_merge`, to register in a session.
pub fn sketch_merge() -> AggregateUDF {
    AggregateUDF::new_from_impl(SketchMerge::new())
}

/// `sketch_quantile`, to register in a session.
pub fn sketch_quantile() -> ScalarUDF {
    ScalarUDF::new_from_impl(SketchQuantile::new())
}

fn list(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

/// The packed forms a histogram arrives in: the summary files' columns
/// may be read as any of the three binary types.
fn binaries() -> [DataType; 3] {
    [
        DataType::Binary,
        DataType::BinaryView,
        DataType::LargeBinary,
    ]
}

fn damaged(e: crate::sketch::Damaged) -> DataFusionError {
    DataFusionError::Execution(format!("sketch: {}", crate::AnalyticsError::from(e)))
}

/// Adds each packed histogram of `a` (any binary type) to `into`.
fn add_packed(a: &ArrayRef, into: &mut Sketch) -> Result<()> {
    let mut add = |b: Option<&[u8]>| match b {
        Some(b) => into.decode_into(b).map_err(damaged),
        None => Ok(()),
    };
    match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().iter().try_for_each(&mut add),
        DataType::LargeBinary => a.as_binary::<i64>().iter().try_for_each(&mut add),
        DataType::BinaryView => a.as_binary_view().iter().try_for_each(&mut add),
        other => Err(DataFusionError::Execution(format!(
            "sketch: a packed histogram is binary, not {other}"
        ))),
    }
}

/// The aggregate: histograms merged bucket by bucket.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SketchMerge {
    signature: Signature,
}

impl SketchMerge {
    fn new() -> Self {
        let mut forms: Vec<TypeSignature> = binaries()
            .into_iter()
            .map(|t| TypeSignature::Exact(vec![t]))
            .collect();
        forms.push(TypeSignature::Exact(vec![
            list(DataType::Int32),
            list(DataType::Int64),
        ]));
        SketchMerge {
            signature: Signature::one_of(forms, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for SketchMerge {
    fn name(&self) -> &str {
        "sketch_merge"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MergeAcc::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // The partial merge travels packed, as the result does.
        Ok(vec![Arc::new(Field::new(
            format!("{}[sketch]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// One group's merge in progress.
#[derive(Debug, Default)]
struct MergeAcc {
    merged: Sketch,
}

impl MergeAcc {
    fn packed(&self) -> ScalarValue {
        let mut buf = Vec::new();
        self.merged.encode(&mut buf);
        ScalarValue::Binary(Some(buf))
    }
}

impl Accumulator for MergeAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values {
            [packed] => add_packed(packed, &mut self.merged),
            [keys, counts] => {
                let (keys, counts) = (keys.as_list::<i32>(), counts.as_list::<i32>());
                for r in 0..keys.len() {
                    if keys.is_null(r) || counts.is_null(r) {
                        continue;
                    }
                    let (k, n) = (keys.value(r), counts.value(r));
                    let (k, n) = (k.as_primitive::<Int32Type>(), n.as_primitive::<Int64Type>());
                    self.merged
                        .add_lists(k, n)
                        .map_err(|e| DataFusionError::Execution(format!("sketch_merge: {e}")))?;
                }
                Ok(())
            }
            _ => Err(DataFusionError::Execution(
                "sketch_merge takes a packed histogram, or bucket keys and counts".into(),
            )),
        }
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.packed())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.merged.heap_bytes()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.packed()])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        add_packed(&states[0], &mut self.merged)
    }
}

/// The scalar: one quantile of a packed histogram.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SketchQuantile {
    signature: Signature,
}

impl SketchQuantile {
    fn new() -> Self {
        SketchQuantile {
            signature: Signature::one_of(
                binaries()
                    .into_iter()
                    .map(|t| TypeSignature::Exact(vec![t, DataType::Float64]))
                    .collect(),
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for SketchQuantile {
    fn name(&self) -> &str {
        "sketch_quantile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (sketches, qs) = (&arrays[0], arrays[1].as_primitive::<Float64Type>());
        let mut out = Vec::with_capacity(args.number_rows);
        for r in 0..args.number_rows {
            if sketches.is_null(r) || qs.is_null(r) {
                out.push(None);
                continue;
            }
            let q = qs.value(r);
            if !(0.0..=1.0).contains(&q) {
                return Err(DataFusionError::Execution(format!(
                    "sketch_quantile: q is {q}; use a number from 0 to 1 (0.99 for p99)"
                )));
            }
            let mut d = Sketch::default();
            add_packed(&sketches.slice(r, 1), &mut d)?;
            out.push(d.quantiles([q])[0]);
        }
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(out))))
    }
}
