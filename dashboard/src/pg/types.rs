//! Arrow values as Postgres values, and Postgres parameters as DataFusion
//! scalars.
//!
//! | Arrow | Postgres |
//! |---|---|
//! | Boolean | `boolean` |
//! | Int8, Int16, UInt8 | `smallint` |
//! | Int32, UInt16 | `integer` |
//! | Int64, UInt32 | `bigint` |
//! | UInt64, Decimal128 | `numeric` (exact) |
//! | Float16, Float32 | `real` |
//! | Float64 | `double precision` |
//! | Utf8, LargeUtf8, Utf8View, dictionaries of them | `text` |
//! | Date32, Date64 | `date` |
//! | Timestamp without a zone | `timestamp` |
//! | Timestamp with a zone | `timestamp with time zone` (as UTC) |
//! | Binary, LargeBinary, BinaryView | `bytea` |
//! | anything else (lists, structs, intervals, …) | `text`, as DataFusion prints it |

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::arrow::compute::cast;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use rust_decimal::Decimal;

/// The types `pg_type` lists: every type a lake column maps to, and
/// the ones catalog queries name.
pub const KNOWN: &[Type] = &[
    Type::BOOL,
    Type::BYTEA,
    Type::CHAR,
    Type::NAME,
    Type::INT8,
    Type::INT2,
    Type::INT4,
    Type::TEXT,
    Type::OID,
    Type::FLOAT4,
    Type::FLOAT8,
    Type::VARCHAR,
    Type::DATE,
    Type::TIMESTAMP,
    Type::TIMESTAMPTZ,
    Type::NUMERIC,
];

/// The Postgres type an Arrow column is sent as (see the module).
pub fn pg_type_of(dt: &DataType) -> Type {
    match dt {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 | DataType::Decimal128(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        _ => Type::TEXT,
    }
}

/// `format_type(oid, …)`: the SQL name of a type by OID.
pub fn sql_type_name(oid: i64) -> &'static str {
    let Some(ty) = u32::try_from(oid).ok().and_then(Type::from_oid) else {
        return "???";
    };
    match ty {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::TEXT => "text",
        Type::VARCHAR => "character varying",
        Type::CHAR => "\"char\"",
        Type::NAME => "name",
        Type::OID => "oid",
        Type::DATE => "date",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::BYTEA => "bytea",
        _ => "???",
    }
}

/// The row description of `schema`, each column in the format the client
/// asked for.
pub fn fields(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type_of(f.data_type()),
                format.format_for(i),
            )
        })
        .collect()
}

/// A column ready to be read row by row as its Postgres type.
enum Column {
    Bool(ArrayRef),
    I16(ArrayRef),
    I32(ArrayRef),
    I64(ArrayRef),
    Numeric(ArrayRef, u32),
    F32(ArrayRef),
    F64(ArrayRef),
    Text(ArrayRef),
    Date(ArrayRef),
    Timestamp(ArrayRef),
    TimestampTz(ArrayRef),
    Bytes(ArrayRef),
}

/// Casts each of `batch`'s columns to the Arrow type its Postgres type is
/// read from.
fn columns(batch: &RecordBatch) -> PgWireResult<Vec<Column>> {
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let micros_utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    batch
        .columns()
        .iter()
        .map(|a| {
            let to = |dt: &DataType| cast(a, dt).map_err(api_error);
            Ok(match pg_type_of(a.data_type()) {
                Type::BOOL => Column::Bool(a.clone()),
                Type::INT2 => Column::I16(to(&DataType::Int16)?),
                Type::INT4 => Column::I32(to(&DataType::Int32)?),
                Type::INT8 => Column::I64(to(&DataType::Int64)?),
                Type::NUMERIC => match a.data_type() {
                    DataType::Decimal128(_, s) if *s >= 0 && *s <= 28 => {
                        Column::Numeric(a.clone(), *s as u32)
                    }
                    DataType::UInt64 => Column::Numeric(to(&DataType::Decimal128(20, 0))?, 0),
                    _ => Column::Text(text(a)?),
                },
                Type::FLOAT4 => Column::F32(to(&DataType::Float32)?),
                Type::FLOAT8 => Column::F64(a.clone()),
                Type::DATE => Column::Date(to(&DataType::Date32)?),
                Type::TIMESTAMP => Column::Timestamp(to(&micros)?),
                Type::TIMESTAMPTZ => Column::TimestampTz(to(&micros_utc)?),
                Type::BYTEA => Column::Bytes(to(&DataType::LargeBinary)?),
                _ => Column::Text(text(a)?),
            })
        })
        .collect()
}

/// Any array as text: strings by cast, the rest as DataFusion prints them.
fn text(a: &ArrayRef) -> PgWireResult<ArrayRef> {
    if let Ok(s) = cast(a, &DataType::Utf8) {
        return Ok(s);
    }
    let options = FormatOptions::default().with_null("");
    let formatter = ArrayFormatter::try_new(a.as_ref(), &options).map_err(api_error)?;
    let values: arrow_array::StringArray = (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| formatter.value(i).to_string()))
        .collect();
    Ok(Arc::new(values))
}

/// Encodes every row of `batches` as `DataRow`s for `fields`.
pub fn encode(batches: &[RecordBatch], fields: Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    let mut encoder = DataRowEncoder::new(fields);
    for batch in batches {
        let cols = columns(batch)?;
        for row in 0..batch.num_rows() {
            for col in &cols {
                encode_value(&mut encoder, col, row)?;
            }
            rows.push(encoder.take_row());
        }
    }
    Ok(rows)
}

fn encode_value(e: &mut DataRowEncoder, col: &Column, i: usize) -> PgWireResult<()> {
    fn get<'a, T, F>(a: &'a ArrayRef, i: usize, f: F) -> Option<T>
    where
        F: FnOnce(&'a ArrayRef) -> T,
    {
        (!a.is_null(i)).then(|| f(a))
    }
    match col {
        Column::Bool(a) => e.encode_field(&get(a, i, |a| a.as_boolean().value(i))),
        Column::I16(a) => e.encode_field(&get(a, i, |a| a.as_primitive::<Int16Type>().value(i))),
        Column::I32(a) => e.encode_field(&get(a, i, |a| a.as_primitive::<Int32Type>().value(i))),
        Column::I64(a) => e.encode_field(&get(a, i, |a| a.as_primitive::<Int64Type>().value(i))),
        Column::Numeric(a, scale) => {
            if a.is_null(i) {
                return e.encode_field(&None::<Decimal>);
            }
            let decimals = a.as_primitive::<Decimal128Type>();
            match Decimal::try_from_i128_with_scale(decimals.value(i), *scale) {
                Ok(d) => e.encode_field(&d),
                // Past rust_decimal's 28 digits: the exact digits as text
                // (accepted for text results; a binary result fails with
                // an error rather than sending a wrong or NULL value).
                Err(_) => e.encode_field(&decimals.value_as_string(i).as_str()),
            }
        }
        Column::F32(a) => e.encode_field(&get(a, i, |a| a.as_primitive::<Float32Type>().value(i))),
        Column::F64(a) => e.encode_field(&get(a, i, |a| a.as_primitive::<Float64Type>().value(i))),
        Column::Text(a) => e.encode_field(&get(a, i, |a| a.as_string::<i32>().value(i))),
        Column::Date(a) => e.encode_field(
            &get(a, i, |a| {
                NaiveDate::from_num_days_from_ce_opt(
                    a.as_primitive::<Date32Type>().value(i) + UNIX_EPOCH_DAYS_FROM_CE,
                )
            })
            .flatten(),
        ),
        Column::Timestamp(a) => e.encode_field(
            &get(a, i, |a| {
                DateTime::from_timestamp_micros(
                    a.as_primitive::<TimestampMicrosecondType>().value(i),
                )
                .map(|t| t.naive_utc())
            })
            .flatten(),
        ),
        Column::TimestampTz(a) => e.encode_field(
            &get(a, i, |a| {
                DateTime::<Utc>::from_timestamp_micros(
                    a.as_primitive::<TimestampMicrosecondType>().value(i),
                )
            })
            .flatten(),
        ),
        Column::Bytes(a) => e.encode_field(&get(a, i, |a| a.as_binary::<i64>().value(i).to_vec())),
    }
}

/// Days from 0001-01-01 (day 1 in chrono's count) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The value of parameter `idx` of a bound portal, as the scalar
/// DataFusion binds to `$idx+1`: decoded by the type the client declared
/// (binary or text), or, for an undeclared (`unknown`) parameter sent as
/// text, cast from its text to the type the statement implies.
pub fn parameter(
    raw: Option<&[u8]>,
    binary: bool,
    declared: Option<&Type>,
    implied: Option<&DataType>,
) -> PgWireResult<ScalarValue> {
    use postgres_types::FromSql;
    let declared = declared.filter(|t| **t != Type::UNKNOWN);
    let Some(raw) = raw else {
        let dt = implied.cloned().unwrap_or(DataType::Null);
        return ScalarValue::try_from(&dt).map_err(api_error);
    };
    let bad = |e: Box<dyn std::error::Error + Sync + Send>| PgWireError::ApiError(e);
    let value = if binary {
        let ty = declared.cloned().unwrap_or(Type::TEXT);
        match ty {
            Type::BOOL => ScalarValue::Boolean(Some(bool::from_sql(&ty, raw).map_err(bad)?)),
            Type::INT2 => ScalarValue::Int16(Some(i16::from_sql(&ty, raw).map_err(bad)?)),
            Type::INT4 => ScalarValue::Int32(Some(i32::from_sql(&ty, raw).map_err(bad)?)),
            Type::INT8 => ScalarValue::Int64(Some(i64::from_sql(&ty, raw).map_err(bad)?)),
            Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_sql(&ty, raw).map_err(bad)?)),
            Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_sql(&ty, raw).map_err(bad)?)),
            Type::NUMERIC => {
                let d = Decimal::from_sql(&ty, raw).map_err(bad)?;
                ScalarValue::Decimal128(Some(d.mantissa()), 38, d.scale() as i8)
            }
            Type::DATE => ScalarValue::Date32(Some(
                NaiveDate::from_sql(&ty, raw)
                    .map_err(bad)?
                    .signed_duration_since(NaiveDate::default())
                    .num_days() as i32,
            )),
            Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
                Some(
                    NaiveDateTime::from_sql(&ty, raw)
                        .map_err(bad)?
                        .and_utc()
                        .timestamp_micros(),
                ),
                None,
            ),
            Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
                Some(
                    DateTime::<Utc>::from_sql(&ty, raw)
                        .map_err(bad)?
                        .timestamp_micros(),
                ),
                Some("UTC".into()),
            ),
            Type::BYTEA => ScalarValue::Binary(Some(raw.to_vec())),
            _ => ScalarValue::Utf8(Some(String::from_sql(&Type::TEXT, raw).map_err(bad)?)),
        }
    } else {
        let s = std::str::from_utf8(raw)
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?
            .to_string();
        ScalarValue::Utf8(Some(s))
    };
    // Text parameters take the type the statement implies (or the
    // declared one): `'42'` for an integer column becomes 42.
    let target = match (declared, implied) {
        (_, Some(dt)) => Some(dt.clone()),
        (Some(t), None) => arrow_type_of(t),
        (None, None) => None,
    };
    match target {
        Some(dt) if dt != value.data_type() => value.cast_to(&dt).map_err(api_error),
        _ => Ok(value),
    }
}

/// The Arrow type a declared Postgres parameter type is read as.
fn arrow_type_of(t: &Type) -> Option<DataType> {
    Some(match *t {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 | Type::OID => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::NUMERIC => DataType::Decimal128(38, 10),
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => DataType::Utf8,
        _ => return None,
    })
}

fn api_error(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parameters_take_the_type_the_statement_implies() {
        let v = parameter(Some(b"42"), false, None, Some(&DataType::Int64)).unwrap();
        assert_eq!(v, ScalarValue::Int64(Some(42)));
        let v = parameter(Some(b"acme"), false, None, Some(&DataType::Utf8)).unwrap();
        assert_eq!(v, ScalarValue::Utf8(Some("acme".into())));
        let v = parameter(Some(b"7"), false, Some(&Type::INT4), None).unwrap();
        assert_eq!(v, ScalarValue::Int32(Some(7)));
        // Not a number where one is implied: an error, not a wrong answer.
        assert!(parameter(Some(b"x1"), false, None, Some(&DataType::Int64)).is_err());
    }

    #[test]
    fn binary_parameters_are_decoded_by_their_declared_type() {
        let raw = 1234567i64.to_be_bytes();
        let v = parameter(Some(&raw), true, Some(&Type::INT8), None).unwrap();
        assert_eq!(v, ScalarValue::Int64(Some(1234567)));
        let v = parameter(None, true, Some(&Type::INT8), Some(&DataType::Int64)).unwrap();
        assert_eq!(v, ScalarValue::Int64(None));
    }

    #[test]
    fn decimals_past_28_digits_keep_every_digit() {
        let big = arrow_array::Decimal128Array::from(vec![
            Some(123_456_789_012_345_678_901_234_567_890_123i128),
            None,
        ])
        .with_precision_and_scale(38, 9)
        .unwrap();
        let batch = RecordBatch::try_from_iter([("amount", Arc::new(big) as ArrayRef)]).unwrap();
        let schema = batch.schema();
        let fields = Arc::new(fields(&schema, &Format::UnifiedText));
        let rows = encode(&[batch], fields).unwrap();
        assert_eq!(rows.len(), 2);
        // 1234…0123 at scale 9, sent as its exact digits: length, text.
        let text = b"123456789012345678901234.567890123";
        let mut expected = (text.len() as i32).to_be_bytes().to_vec();
        expected.extend_from_slice(text);
        assert_eq!(&rows[0].data[..], &expected[..]);
        // NULL stays NULL (length -1).
        assert_eq!(&rows[1].data[..], &(-1i32).to_be_bytes()[..]);
    }

    #[test]
    fn dates_round_trip_through_the_epoch_offset() {
        let epoch = NaiveDate::from_num_days_from_ce_opt(UNIX_EPOCH_DAYS_FROM_CE).unwrap();
        assert_eq!(epoch, NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
    }
}
