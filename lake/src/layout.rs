//! Where each kind of file sits in the lake, relative to its root: one
//! function per kind, so the stages that write a path (ingest, the rollup)
//! and those that read it (the tables, the rollup's listing of events)
//! spell it once.
//!
//! ```text
//! events/date=<day>/<stem>.parquet          decoded events
//! quarantine/date=<day>/<stem>.parquet      rejected messages
//! rollups/hourly/date=<day>/rollup.parquet  the hourly rollup
//! rollups/summary/date=<day>/summary.parquet            the day's views
//! rollups/summary_month/month=<YYYY-MM>/summary.parquet the month's views
//! invoices/period=<YYYY-MM>/lines.parquet   invoice lines
//! wallet/period=<YYYY-MM>/grants.parquet    prepaid credit statements
//! credit_notes/period=<YYYY-MM>/lines.parquet credit note lines
//! _tollgate/offsets/<topic>/<partition>.json   ingest's commit markers
//! _tollgate/pending/<topic>/<partition>.json   ingest's pending flushes
//! _tollgate/imports/<hash>.json, <hash>/       an import's marker, chunks
//! _tollgate/rollups/{hourly/<day>,month/<YYYY-MM>}.txt  rollup markers
//! _tollgate/signals/date=<day>/<id>.json        the signals ledger
//! _tollgate/alerts/state.json                   the alert rules' state
//! ```
//!
//! `<day>` is `YYYY-MM-DD` (UTC). The folders of the partitioned tables are
//! Hive-style (`date=`, `month=`, `period=`), which the query engine reads as
//! partition columns.

/// The folder of the events table.
pub const EVENTS: &str = "events";

/// The folder of the quarantine table.
pub const QUARANTINE: &str = "quarantine";

/// The folder of the hourly rollup table.
pub const ROLLUPS_HOURLY: &str = "rollups/hourly";

/// The folder of the day summary views.
pub const ROLLUPS_SUMMARY: &str = "rollups/summary";

/// The folder of the month summary files.
pub const ROLLUPS_SUMMARY_MONTH: &str = "rollups/summary_month";

/// The folder of the invoice lines table.
pub const INVOICES: &str = "invoices";

/// The folder (with its trailing `/`) of the signals ledger's records.
pub const SIGNALS: &str = "_tollgate/signals/";

/// The alert rules' state: which rules are firing.
pub const ALERTS_STATE: &str = "_tollgate/alerts/state.json";

/// The folder of the wallet table (prepaid credit statements).
pub const WALLET: &str = "wallet";

/// The folder of the credit note lines table.
pub const CREDIT_NOTES: &str = "credit_notes";

/// The folder of ingest's pending-flush records.
pub const PENDING: &str = "_tollgate/pending";

/// A data file of a day-partitioned table (`table` [`EVENTS`] or
/// [`QUARANTINE`]), named by its `stem`.
pub fn day_file(table: &str, day: &str, stem: &str) -> String {
    format!("{table}/date={day}/{stem}.parquet")
}

/// The day (`YYYY-MM-DD`) a path's `date=` folder names, if any.
pub fn day_of(path: &str) -> Option<&str> {
    path.split('/').find_map(|seg| seg.strip_prefix("date="))
}

/// A Kafka partition's commit marker: the offsets the lake holds.
pub fn offsets_marker(topic: &str, partition: i32) -> String {
    format!("_tollgate/offsets/{topic}/{partition}.json")
}

/// A Kafka partition's pending-flush record (under [`PENDING`]).
pub fn pending_flush(topic: &str, partition: i32) -> String {
    format!("{PENDING}/{topic}/{partition}.json")
}

/// An import's marker, written once the whole input is in the lake.
pub fn import_marker(hash: &str) -> String {
    format!("_tollgate/imports/{hash}.json")
}

/// The folder of an import's chunk records (with its trailing `/`).
pub fn import_chunks(hash: &str) -> String {
    format!("_tollgate/imports/{hash}/")
}

/// A day's hourly rollup file.
pub fn rollup_hourly_file(day: &str) -> String {
    format!("{ROLLUPS_HOURLY}/date={day}/rollup.parquet")
}

/// A day's summary views file.
pub fn rollup_summary_file(day: &str) -> String {
    format!("{ROLLUPS_SUMMARY}/date={day}/summary.parquet")
}

/// A month's (`YYYY-MM`) summary file.
pub fn rollup_summary_month_file(month: &str) -> String {
    format!("{ROLLUPS_SUMMARY_MONTH}/month={month}/summary.parquet")
}

/// A day's rollup marker: the event files its rollup was built from.
pub fn rollup_day_marker(day: &str) -> String {
    format!("_tollgate/rollups/hourly/{day}.txt")
}

/// A month's rollup marker: the event files of its days.
pub fn rollup_month_marker(month: &str) -> String {
    format!("_tollgate/rollups/month/{month}.txt")
}

/// A billing period's (`YYYY-MM`) invoice lines file.
pub fn invoice_lines_file(period: &str) -> String {
    format!("{INVOICES}/period={period}/lines.parquet")
}

/// A billing period's (`YYYY-MM`) wallet statement file.
pub fn wallet_file(period: &str) -> String {
    format!("{WALLET}/period={period}/grants.parquet")
}

/// The credit note lines file of a billing period (`YYYY-MM`): the notes
/// that period's run issued.
pub fn credit_note_lines_file(period: &str) -> String {
    format!("{CREDIT_NOTES}/period={period}/lines.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths as they are on disk in lakes written before this module:
    /// a change here moves files existing lakes hold.
    #[test]
    fn paths_are_those_existing_lakes_hold() {
        let stem = "gw-0-0000000000000000001-0000000000000000002";
        assert_eq!(
            day_file(EVENTS, "2024-06-01", stem),
            format!("events/date=2024-06-01/{stem}.parquet")
        );
        assert_eq!(
            day_file(QUARANTINE, "2024-06-01", "s"),
            "quarantine/date=2024-06-01/s.parquet"
        );
        assert_eq!(
            day_of("events/date=2024-06-01/s.parquet"),
            Some("2024-06-01")
        );
        assert_eq!(day_of("events/s.parquet"), None);
        assert_eq!(offsets_marker("gw", 3), "_tollgate/offsets/gw/3.json");
        assert_eq!(pending_flush("gw", 3), "_tollgate/pending/gw/3.json");
        assert_eq!(import_marker("ab12"), "_tollgate/imports/ab12.json");
        assert_eq!(SIGNALS, "_tollgate/signals/");
        assert_eq!(ALERTS_STATE, "_tollgate/alerts/state.json");
        assert_eq!(import_chunks("ab12"), "_tollgate/imports/ab12/");
        assert_eq!(
            rollup_hourly_file("2024-06-01"),
            "rollups/hourly/date=2024-06-01/rollup.parquet"
        );
        assert_eq!(
            rollup_summary_file("2024-06-01"),
            "rollups/summary/date=2024-06-01/summary.parquet"
        );
        assert_eq!(
            rollup_summary_month_file("2024-06"),
            "rollups/summary_month/month=2024-06/summary.parquet"
        );
        assert_eq!(
            rollup_day_marker("2024-06-01"),
            "_tollgate/rollups/hourly/2024-06-01.txt"
        );
        assert_eq!(
            rollup_month_marker("2024-06"),
            "_tollgate/rollups/month/2024-06.txt"
        );
        assert_eq!(
            invoice_lines_file("2024-06"),
            "invoices/period=2024-06/lines.parquet"
        );
        assert_eq!(
            wallet_file("2024-06"),
            "wallet/period=2024-06/grants.parquet"
        );
        assert_eq!(
            credit_note_lines_file("2024-07"),
            "credit_notes/period=2024-07/lines.parquet"
        );
    }
}
