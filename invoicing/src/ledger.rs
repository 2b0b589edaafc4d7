//! The invoice ledger: billing's documents in the lake.
//!
//! Layout, under the lake root:
//!
//! - `billing/invoices/<YYYY-MM>/<consumer>.json`: one invoice, the stored
//!   form ([`tollgate_billing::render::json`]); consumer ids are
//!   percent-encoded;
//! - `billing/credit_notes/<YYYY-MM>/<invoice number>.json`: a credit note
//!   issued by the run of that period, named by the invoice it credits
//!   (one note per credited invoice and period), the stored form
//!   ([`tollgate_billing::credit_note::json`]);
//! - `billing/periods/<YYYY-MM>.json`: the period's state ([`PeriodState`]),
//!   written last: it is the commit point of a run and of a finalization;
//! - `invoices/period=<YYYY-MM>/lines.parquet`: the `invoices` SQL table
//!   ([`crate::table`]);
//! - `billing/wallet/<YYYY-MM>.json`: the period's prepaid credit statement
//!   ([`WalletStatement`]), written with the drafts (before the period's
//!   state) and frozen with them; only for periods with grants;
//! - `wallet/period=<YYYY-MM>/grants.parquet`: the `wallet` SQL table
//!   ([`crate::wallet`]).
//! - `credit_notes/period=<YYYY-MM>/lines.parquet`: the `credit_notes` SQL
//!   table ([`crate::credit_table`]), only for a period with notes.
//!
//! The JSON folders are a [`JsonLedger`] under `billing/` in the
//! [`JsonStyle::PrettyLine`] style, which is byte for byte the form these
//! files have always had: pretty JSON and a final newline.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tollgate_billing::credit_note::{CreditNote, CreditNoteNumber};
use tollgate_billing::invoice::{Invoice, InvoiceNumber, Status};
use tollgate_billing::period::Period;
use tollgate_lake::{JsonLedger, JsonStyle, LakeStore, LedgerError};

use crate::InvoicingError;
use crate::wallet::{self, WalletStatement};
use crate::{credit_table, table};

/// One invoice in a period's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSummary {
    /// Consumer.
    pub consumer: String,
    /// Number, once finalized.
    pub number: Option<InvoiceNumber>,
    /// Currency.
    pub currency: String,
    /// Total.
    pub total: Decimal,
    /// What is left to pay after prepaid credits, when the invoice has
    /// discounts, a tax or credits; absent otherwise (and in states
    /// written before settlement existed), when it is `total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_due: Option<Decimal>,
}

impl InvoiceSummary {
    /// The summary line of `inv`.
    pub fn of(inv: &Invoice) -> InvoiceSummary {
        InvoiceSummary {
            consumer: inv.consumer.clone(),
            number: inv.number.clone(),
            currency: inv.currency.clone(),
            total: inv.total,
            amount_due: inv.amount_due,
        }
    }

    /// What is left to pay: `amount_due`, or `total`.
    pub fn due(&self) -> Decimal {
        self.amount_due.unwrap_or(self.total)
    }
}

/// One credit note in a period's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNoteSummary {
    /// Consumer.
    pub consumer: String,
    /// The invoice it credits (its key in the period).
    pub invoice: InvoiceNumber,
    /// Number, once finalized.
    pub number: Option<CreditNoteNumber>,
    /// Currency.
    pub currency: String,
    /// Total: negative, the change of the credited invoice's amount.
    pub total: Decimal,
}

impl CreditNoteSummary {
    /// The summary line of `note`.
    pub fn of(note: &CreditNote) -> CreditNoteSummary {
        CreditNoteSummary {
            consumer: note.consumer.clone(),
            invoice: note.invoice.clone(),
            number: note.number.clone(),
            currency: note.currency.clone(),
            total: note.total,
        }
    }
}

/// Usage the run saw but could not bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unbilled {
    /// The consumer (`None`: events without a consumer).
    pub consumer: Option<String>,
    /// Events on days no subscription of the consumer covers.
    pub events: u64,
    /// First such day.
    pub first_day: NaiveDate,
    /// Last such day.
    pub last_day: NaiveDate,
}

/// A consumer the run could not invoice, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The consumer.
    pub consumer: String,
    /// What is wrong.
    pub message: String,
}

/// What a run found, kept with the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Events in the period (after deduplication).
    pub events: u64,
    /// Duplicate rows (same `event_id`) not counted.
    pub duplicates: u64,
    /// Consumers seen in traffic without a subscription for those days.
    pub unbilled: Vec<Unbilled>,
    /// Consumers not invoiced because of an error; finalization waits for none.
    pub problems: Vec<Problem>,
    /// Adjustment lines added for late usage of finalized periods.
    pub adjustments: usize,
    /// Sum of invoice totals per currency.
    pub totals: BTreeMap<String, Decimal>,
}

/// A period's state in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodState {
    /// The period.
    pub period: Period,
    /// Draft or finalized.
    pub status: Status,
    /// When the drafts were computed.
    pub run_at: DateTime<Utc>,
    /// When the period was finalized.
    #[serde(default)]
    pub finalized_at: Option<DateTime<Utc>>,
    /// The latest finalized period when the drafts were computed: the
    /// adjustments are relative to it, so finalization requires it unchanged.
    pub basis: Option<Period>,
    /// The invoices, by consumer.
    pub invoices: Vec<InvoiceSummary>,
    /// The credit notes the run issued, by consumer and credited invoice
    /// (absent from the file when there are none, so periods without
    /// notes keep the bytes they always had).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credit_notes: Vec<CreditNoteSummary>,
    /// What the run found.
    pub report: RunReport,
}

/// The billing documents in the lake.
#[derive(Debug, Clone)]
pub struct Ledger {
    book: JsonLedger,
}

/// A consumer id as a file name: unreserved bytes as they are, the rest
/// percent-encoded, and no leading dot (no hidden or `..` files).
fn encode(consumer: &str) -> String {
    let mut out = String::new();
    for b in consumer.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

impl Ledger {
    /// The ledger of the lake at `location` (a folder or `s3://…`).
    pub fn open(location: &str) -> Result<Ledger, InvoicingError> {
        let store = LakeStore::open(location).map_err(LedgerError::from)?;
        Ok(Ledger::new(store))
    }

    /// The ledger of the lake `store`.
    pub fn new(store: LakeStore) -> Ledger {
        Ledger {
            book: JsonLedger::new(store, "billing/", JsonStyle::PrettyLine),
        }
    }

    fn state_key(p: Period) -> String {
        format!("periods/{p}.json")
    }

    fn invoice_key(p: Period, consumer: &str) -> String {
        format!("invoices/{p}/{}.json", encode(consumer))
    }

    fn wallet_key(p: Period) -> String {
        format!("wallet/{p}.json")
    }

    /// The prepaid credit statement of `period`, if it has one.
    pub async fn wallet(&self, period: Period) -> Result<Option<WalletStatement>, InvoicingError> {
        Ok(self.book.get(&Self::wallet_key(period)).await?)
    }

    /// Writes a period's credit statement and its `wallet` table file; an
    /// empty statement removes both (a period without grants has none).
    /// Call before [`Ledger::write_period`]: the period's state commits it.
    pub(crate) async fn write_wallet(&self, st: &WalletStatement) -> Result<(), InvoicingError> {
        let table = wallet::path(st.period);
        if st.entries.is_empty() {
            if self.wallet(st.period).await?.is_some() {
                self.book.delete(&Self::wallet_key(st.period)).await?;
                self.book
                    .store()
                    .delete(&table)
                    .await
                    .map_err(LedgerError::from)?;
            }
            return Ok(());
        }
        self.book.put(&Self::wallet_key(st.period), st).await?;
        let bytes = wallet::parquet(st)?;
        self.book
            .store()
            .put(&table, Bytes::from(bytes))
            .await
            .map_err(LedgerError::from)?;
        Ok(())
    }

    fn credit_note_key(p: Period, invoice: &InvoiceNumber) -> String {
        format!("credit_notes/{p}/{}.json", encode(&invoice.0))
    }

    /// The state of `period`, if it was ever run.
    pub async fn state(&self, period: Period) -> Result<Option<PeriodState>, InvoicingError> {
        Ok(self.book.get(&Self::state_key(period)).await?)
    }

    /// Every period ever run, oldest first.
    pub async fn periods(&self) -> Result<Vec<PeriodState>, InvoicingError> {
        let mut out = Vec::new();
        for key in self.book.keys("periods/").await? {
            if let Some(s) = self.book.get::<PeriodState>(&key).await? {
                out.push(s);
            }
        }
        out.sort_by_key(|s| s.period);
        Ok(out)
    }

    /// The stored bytes of one invoice (byte-identical to what was written).
    pub async fn invoice_bytes(
        &self,
        period: Period,
        consumer: &str,
    ) -> Result<Option<Vec<u8>>, InvoicingError> {
        Ok(self
            .book
            .get_bytes(&Self::invoice_key(period, consumer))
            .await?
            .map(|b| b.to_vec()))
    }

    /// One invoice.
    pub async fn invoice(
        &self,
        period: Period,
        consumer: &str,
    ) -> Result<Option<Invoice>, InvoicingError> {
        Ok(self.book.get(&Self::invoice_key(period, consumer)).await?)
    }

    /// The invoices of a period, by consumer.
    pub async fn invoices(&self, period: Period) -> Result<Vec<Invoice>, InvoicingError> {
        let Some(state) = self.state(period).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for s in &state.invoices {
            if let Some(inv) = self.invoice(period, &s.consumer).await? {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// The invoice with this number.
    pub async fn find(&self, number: &str) -> Result<Option<Invoice>, InvoicingError> {
        for s in self.periods().await? {
            if let Some(i) = s
                .invoices
                .iter()
                .find(|i| i.number.as_ref().is_some_and(|n| n.0 == number))
            {
                return self.invoice(s.period, &i.consumer).await;
            }
        }
        Ok(None)
    }

    /// The stored bytes of the credit note issued in `period` for
    /// `invoice` (byte-identical to what was written).
    pub async fn credit_note_bytes(
        &self,
        period: Period,
        invoice: &InvoiceNumber,
    ) -> Result<Option<Vec<u8>>, InvoicingError> {
        Ok(self
            .book
            .get_bytes(&Self::credit_note_key(period, invoice))
            .await?
            .map(|b| b.to_vec()))
    }

    /// The credit note issued in `period` for `invoice`.
    pub async fn credit_note(
        &self,
        period: Period,
        invoice: &InvoiceNumber,
    ) -> Result<Option<CreditNote>, InvoicingError> {
        Ok(self
            .book
            .get(&Self::credit_note_key(period, invoice))
            .await?)
    }

    /// The credit notes issued in a period, in the period state's order.
    pub async fn credit_notes(&self, period: Period) -> Result<Vec<CreditNote>, InvoicingError> {
        let Some(state) = self.state(period).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for s in &state.credit_notes {
            if let Some(n) = self.credit_note(period, &s.invoice).await? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// The credit note with this number.
    pub async fn find_credit_note(
        &self,
        number: &str,
    ) -> Result<Option<CreditNote>, InvoicingError> {
        for s in self.periods().await? {
            if let Some(n) = s
                .credit_notes
                .iter()
                .find(|n| n.number.as_ref().is_some_and(|x| x.0 == number))
            {
                return self.credit_note(s.period, &n.invoice).await;
            }
        }
        Ok(None)
    }

    /// Removes the draft credit note of `period` for `invoice` (a run that
    /// no longer issues it).
    pub(crate) async fn delete_credit_note(
        &self,
        period: Period,
        invoice: &InvoiceNumber,
    ) -> Result<(), InvoicingError> {
        Ok(self
            .book
            .delete(&Self::credit_note_key(period, invoice))
            .await?)
    }

    /// Removes the draft of `consumer` for `period` (a run that no longer
    /// invoices them).
    pub(crate) async fn delete_invoice(
        &self,
        period: Period,
        consumer: &str,
    ) -> Result<(), InvoicingError> {
        Ok(self
            .book
            .delete(&Self::invoice_key(period, consumer))
            .await?)
    }

    /// Writes a period: its invoices and credit notes, their table files,
    /// and its state last (the commit point: a crash before it leaves the
    /// previous state in charge).
    pub(crate) async fn write_period(
        &self,
        state: &PeriodState,
        invoices: &[Invoice],
        notes: &[CreditNote],
    ) -> Result<(), InvoicingError> {
        for inv in invoices {
            // The stored form is `render::json`: the ledger's style gives
            // exactly its bytes (tested against stored files).
            self.book
                .put(&Self::invoice_key(inv.period, &inv.consumer), inv)
                .await?;
        }
        for note in notes {
            self.book
                .put(&Self::credit_note_key(note.period, &note.invoice), note)
                .await?;
        }
        let lines = table::parquet(invoices)?;
        self.book
            .store()
            .put(&table::path(state.period), Bytes::from(lines))
            .await
            .map_err(LedgerError::from)?;
        // Only a period with notes has a `credit_notes` file (a rerun that
        // issues none removes the old one).
        let store = self.book.store();
        let notes_path = credit_table::path(state.period);
        if notes.is_empty() {
            store.delete(&notes_path).await.map_err(LedgerError::from)?;
        } else {
            let lines = credit_table::parquet(notes)?;
            store
                .put(&notes_path, Bytes::from(lines))
                .await
                .map_err(LedgerError::from)?;
        }
        self.book.put(&Self::state_key(state.period), state).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tollgate_billing::render;

    use super::*;

    /// A lake written by the ledger before it moved to this crate and to
    /// `tollgate_lake::JsonLedger`: September 2026 finalized, October a
    /// draft adjusting it, each with the `invoices` table file.
    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lake")
    }

    fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                if rel.starts_with("_tollgate") {
                    continue; // the store's temporary folder
                } else if p.is_dir() {
                    stack.push(p);
                } else {
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        out
    }

    /// A copy of the fixture (opening a local lake creates its temporary
    /// folder, which must not land in the source tree).
    fn open_fixture() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        for (rel, bytes) in files(&fixture()) {
            let to = dir.path().join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, bytes).unwrap();
        }
        let ledger = Ledger::open(dir.path().to_str().unwrap()).unwrap();
        (dir, ledger)
    }

    #[tokio::test]
    async fn a_ledger_written_before_reads_and_rewrites_byte_for_byte() {
        let (_copy, old) = open_fixture();
        let periods = old.periods().await.unwrap();
        let names: Vec<String> = periods.iter().map(|s| s.period.to_string()).collect();
        assert_eq!(names, ["2026-09", "2026-10"]);
        assert_eq!(periods[0].status, Status::Finalized);
        assert_eq!(periods[1].basis, Some(periods[0].period));
        assert_eq!(periods[1].report.problems[0].consumer, "bad");
        let sep = old.find("INV-2026-000001").await.unwrap().unwrap();
        assert_eq!(sep.consumer, "acme/eu");
        assert_eq!(sep.period, periods[0].period);
        assert_eq!(sep.total, periods[0].invoices[0].total);
        assert!(old.find("INV-2026-000002").await.unwrap().is_none());
        let oct = old.invoices(periods[1].period).await.unwrap();
        assert_eq!(oct.len(), 1);
        assert!(!oct[0].adjustments.is_empty(), "October adjusts September");
        // The stored bytes are the stored form.
        let bytes = old
            .invoice_bytes(sep.period, "acme/eu")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bytes, render::json(&sep).into_bytes());

        // Writing the same periods again gives the same files, byte for
        // byte: invoices, period states and the `invoices` table.
        let dir = tempfile::tempdir().unwrap();
        let new = Ledger::open(dir.path().to_str().unwrap()).unwrap();
        for state in &periods {
            let invoices = old.invoices(state.period).await.unwrap();
            let notes = old.credit_notes(state.period).await.unwrap();
            assert!(notes.is_empty());
            new.write_period(state, &invoices, &notes).await.unwrap();
        }
        let (want, got) = (files(&fixture()), files(dir.path()));
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>()
        );
        for (path, bytes) in &want {
            if path.ends_with(".parquet") {
                // Same rows and schema; the file's own bytes also name the
                // parquet library version, which may change harmlessly.
                // `quantity` was BIGINT before amount metrics and is
                // DECIMAL(38, 9) now: the same numbers.
                assert_eq!(
                    batches(&got[path]),
                    evolved(batches(bytes)),
                    "{path} differs"
                );
                assert!(!batches(bytes).is_empty());
            } else {
                assert!(got[path] == *bytes, "{path} differs");
            }
        }
    }

    /// Batches of the `invoices` table as written before `quantity` was a
    /// decimal, with their `quantity` as it is written now.
    fn evolved(old: Vec<arrow_array::RecordBatch>) -> Vec<arrow_array::RecordBatch> {
        use arrow_array::Array;
        use arrow_array::cast::AsArray;
        use arrow_array::types::Int64Type;
        let schema = tollgate_schemas::lake::invoice_line_schema();
        old.into_iter()
            .map(|b| {
                let columns = b
                    .columns()
                    .iter()
                    .zip(b.schema().fields())
                    .map(|(c, f)| match f.name().as_str() {
                        "quantity" if c.data_type() == &arrow_schema::DataType::Int64 => {
                            let ints = c.as_primitive::<Int64Type>();
                            let dec: arrow_array::Decimal128Array = ints
                                .iter()
                                .map(|v| v.map(|v| i128::from(v) * 1_000_000_000))
                                .collect();
                            std::sync::Arc::new(dec.with_precision_and_scale(38, 9).unwrap())
                                as arrow_array::ArrayRef
                        }
                        _ => c.clone(),
                    })
                    .collect();
                arrow_array::RecordBatch::try_new(schema.clone(), columns).unwrap()
            })
            .collect()
    }

    fn batches(file: &[u8]) -> Vec<arrow_array::RecordBatch> {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            Bytes::copy_from_slice(file),
        )
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// The `invoices` table reads files from before `quantity` was a
    /// decimal (September's, BIGINT) next to new ones (October rewritten).
    #[tokio::test]
    async fn old_integer_quantities_read_as_decimals_next_to_new_files() {
        let (copy, old) = open_fixture();
        let periods = old.periods().await.unwrap();
        let oct = &periods[1];
        let invoices = old.invoices(oct.period).await.unwrap();
        old.write_period(oct, &invoices, &[]).await.unwrap();
        let mut want = Decimal::ZERO;
        for p in &periods {
            for inv in old.invoices(p.period).await.unwrap() {
                want += render::rows(&inv)
                    .iter()
                    .map(|r| r.quantity)
                    .sum::<Decimal>();
            }
        }
        let lake = tollgate_aggregator::Lake::open(
            copy.path().to_str().unwrap(),
            &tollgate_aggregator::AnalyticsConfig::default(),
        )
        .await
        .unwrap();
        let gate =
            tollgate_aggregator::SqlGate::new(&tollgate_aggregator::AnalyticsConfig::default());
        let answer = gate
            .query(
                &lake,
                "SELECT CAST(sum(quantity) AS VARCHAR) AS q FROM invoices",
                tollgate_aggregator::ResultLimit::whole(),
            )
            .await
            .unwrap();
        use arrow_array::cast::AsArray;
        let b = &answer.batches[0];
        let q: Decimal = b.column(0).as_string_view().value(0).parse().unwrap();
        assert_eq!(q, want);
        assert!(want > Decimal::ZERO);
    }

    #[tokio::test]
    async fn a_damaged_period_state_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path().to_str().unwrap()).unwrap();
        l.book
            .store()
            .put("billing/periods/2026-09.json", Bytes::from_static(b"{"))
            .await
            .unwrap();
        let e = l.periods().await.unwrap_err().to_string();
        assert!(
            e.starts_with("ledger: billing/periods/2026-09.json: "),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_rerun_removes_drafts_no_longer_invoiced() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path().to_str().unwrap()).unwrap();
        let (_copy, old) = open_fixture();
        let oct = old.periods().await.unwrap().pop().unwrap();
        let invoices = old.invoices(oct.period).await.unwrap();
        l.write_period(&oct, &invoices, &[]).await.unwrap();
        assert!(l.invoice(oct.period, "acme/eu").await.unwrap().is_some());
        l.delete_invoice(oct.period, "acme/eu").await.unwrap();
        assert!(l.invoice(oct.period, "acme/eu").await.unwrap().is_none());
        assert!(
            !dir.path()
                .join("billing/invoices/2026-10/acme%2Feu.json")
                .exists()
        );
    }

    #[test]
    fn consumer_ids_become_safe_file_names() {
        assert_eq!(encode("acct-0001"), "acct-0001");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(encode("../x"), "%2E.%2Fx");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
