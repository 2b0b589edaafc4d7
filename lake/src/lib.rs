//! # tollgate-lake: where the lake lives
//!
//! The storage under every stage that writes to the lake: ingest's event
//! and quarantine files, billing's invoices and ledger, the signals'
//! delivery log. A local folder or S3-compatible object storage, every
//! write durable and atomic before it returns. It depends on no Kafka and
//! no query engine, so the stages above it only build what they use.
//!
//! # Layout
//!
//! - [`store`]: [`LakeStore`], durable atomic writes, reads, listings and
//!   deletes; [`StoreError`].
//! - [`ledger`]: [`JsonLedger`], JSON records under a prefix (billing's
//!   invoice ledger, the signals ledger), written through the store.
//! - [`schema`]: the Arrow schemas of the hourly rollup and the summary
//!   views.
//! - [`layout`]: where each kind of file sits in the lake (tables,
//!   partitions, commit and rollup markers), one function per kind.

pub mod layout;
pub mod ledger;
pub mod schema;
pub mod store;

pub use ledger::{JsonLedger, JsonStyle, LedgerError};
pub use store::{LakeStore, StoreError};
