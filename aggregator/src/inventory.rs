//! What the hourly rollups hold: which consumers have ever called, and the
//! first and last hour with data. Cheap questions (one column, or the
//! Parquet statistics) that the dashboard asks to tell an unknown consumer
//! from a quiet one, and to anchor its default time range on the data
//! rather than on the wall clock.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, TimeZone, Utc};

use crate::AnalyticsError;
use crate::lake::Lake;

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Every consumer id in the hourly rollups, sorted. Anonymous calls (no
/// consumer) are not listed.
pub async fn consumers(lake: &Lake) -> Result<Vec<String>, AnalyticsError> {
    let batches = lake
        .query(
            "SELECT DISTINCT CAST(consumer AS VARCHAR) AS consumer FROM rollups_hourly \
             WHERE consumer IS NOT NULL ORDER BY 1",
        )
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let col = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let col = col.as_string::<i32>();
        out.extend(
            (0..col.len())
                .filter(|&i| !col.is_null(i))
                .map(|i| col.value(i).to_string()),
        );
    }
    Ok(out)
}

/// Whether `consumer` appears anywhere in the hourly rollups.
pub async fn has_consumer(lake: &Lake, consumer: &str) -> Result<bool, AnalyticsError> {
    let sql = format!(
        "SELECT 1 FROM rollups_hourly WHERE consumer = {} LIMIT 1",
        quote(consumer)
    );
    let batches = lake.query(&sql).await?;
    Ok(batches.iter().any(|b| b.num_rows() > 0))
}

/// The first and the last hour (starts, UTC) the hourly rollups hold, or
/// `None` when there are none yet.
pub async fn extent(lake: &Lake) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, AnalyticsError> {
    let batches = lake
        .query("SELECT min(hour) AS first, max(hour) AS last FROM rollups_hourly")
        .await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
    let first = datafusion::arrow::compute::cast(b.column(0), &ms)?;
    let last = datafusion::arrow::compute::cast(b.column(1), &ms)?;
    let (first, last) = (
        first.as_primitive::<TimestampMillisecondType>(),
        last.as_primitive::<TimestampMillisecondType>(),
    );
    if first.is_null(0) || last.is_null(0) {
        return Ok(None);
    }
    let at = |v: i64| Utc.timestamp_millis_opt(v).single();
    Ok(at(first.value(0)).zip(at(last.value(0))))
}
