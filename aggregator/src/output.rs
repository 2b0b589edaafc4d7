//! Query results for people and tools: an aligned text table, CSV, JSON
//! lines or Parquet.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::AnalyticsError;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row.
    Json,
    /// A Parquet file (ZSTD).
    Parquet,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            "parquet" => Ok(OutputFormat::Parquet),
            other => Err(format!(
                "unknown output format {other:?}; use table, csv, json or parquet"
            )),
        }
    }
}

/// Writes `batches` to `out` in `format`.
pub fn write<W: Write + Send>(
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    mut out: W,
) -> Result<(), AnalyticsError> {
    let io = |e: std::io::Error| AnalyticsError::Query(e.to_string());
    match format {
        OutputFormat::Table => {
            let text = pretty_format_batches(batches)?;
            writeln!(out, "{text}").map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut w = WriterBuilder::new().with_header(true).build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutputFormat::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut w = parquet::arrow::ArrowWriter::try_new(out, schema.clone(), Some(props))?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{BinaryViewArray, Int64Array, RecordBatch, StringViewArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::{OutputFormat, write};

    /// The lake's strings and bytes are views: every format writes them.
    #[test]
    fn string_views_are_written_in_every_format() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("consumer", DataType::Utf8View, true),
            Field::new("calls", DataType::Int64, false),
            Field::new("raw", DataType::BinaryView, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringViewArray::from(vec![
                    Some("acme"),
                    None,
                    Some("a consumer id longer than twelve bytes"),
                ])),
                Arc::new(Int64Array::from(vec![3, 2, 1])),
                Arc::new(BinaryViewArray::from(vec![
                    Some(&b"{\"x\":1}"[..]),
                    None,
                    Some(&b"\xff"[..]),
                ])),
            ],
        )
        .unwrap();
        let out = |f: OutputFormat| {
            let mut buf = Vec::new();
            write(f, &schema, std::slice::from_ref(&batch), &mut buf).unwrap();
            buf
        };
        let csv = String::from_utf8(out(OutputFormat::Csv)).unwrap();
        assert_eq!(
            csv,
            "consumer,calls,raw\nacme,3,7b2278223a317d\n,2,\na consumer id longer than twelve bytes,1,ff\n"
        );
        let json = String::from_utf8(out(OutputFormat::Json)).unwrap();
        assert!(
            json.starts_with("{\"consumer\":\"acme\",\"calls\":3,\"raw\":\"7b2278223a317d\"}\n"),
            "{json}"
        );
        let table = String::from_utf8(out(OutputFormat::Table)).unwrap();
        assert!(
            table.contains("| a consumer id longer than twelve bytes | 1     | ff "),
            "{table}"
        );
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &out(OutputFormat::Parquet)).unwrap();
        let back = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(back.num_rows(), 3);
    }
}
