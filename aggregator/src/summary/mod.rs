//! Summary rollups: the hourly rollup of each day folded further into a few
//! small views, so that the dashboard's questions over a month read
//! thousands of rows instead of millions.
//!
//! The hourly rollup is keyed by (hour, consumer, api, route, method,
//! status, gateway): a month of a thousand busy consumers is millions of
//! rows. The dashboard asks few shapes of question (a series, the totals,
//! per consumer, per route, one consumer's routes), so each day's rollup is
//! also written as the [`VIEWS`]: the same figures keyed by fewer
//! dimensions, per hour or per day, with the status folded into 4xx and 5xx
//! counts and the latency histograms merged. A question is answered from
//! the smallest view that has every dimension it groups or filters by and
//! a fine enough grain (day views only for ranges of whole UTC days);
//! [`query`] returns `None` when no view fits (status class or gateway
//! dimensions, time zones), and the caller asks the hourly rollup.
//!
//! Distinct consumers cannot be added up across rows: a row of a view
//! without a consumer key keeps its set of consumers, and merged rows count
//! the union; views keyed by consumer count their keys.
//!
//! Every figure is the same as from the hourly rollup: sums of counts and
//! bytes, maxima, and histograms merged bucket by bucket (a test compares
//! them for every view and shape).
//!
//! Stored per day in `rollups/summary/date=<day>/summary.parquet`, sorted by
//! view, then keys, in small row groups, so the `view` and `consumer`
//! filters skip most of a file.
//!
//! Each month's day views are also stored together, with the month views
//! (the same figures per key and calendar month), in
//! `rollups/summary_month/month=<YYYY-MM>/summary.parquet`
//! ([`encode_month`], rebuilt by the rollup run with its days): a question
//! over whole calendar months reads one row per key and month, other
//! questions over whole days read one file instead of 30 (but every
//! consumer's day rows, which decode faster from 30 files on every core).
//!
//! Known limit: a month file is built in memory from its days' rows (the
//! rollup run of a month of 50M events, 1,000 consumers and 25 routes
//! peaked at 1.7 GB); much larger key counts need it built in parts.
//!
//! # Layout
//!
//! - `catalog`: the views ([`VIEWS`], [`View`], [`Grain`]) and their
//!   columns' shapes ([`summary_schema`], the consumer sets).
//! - `writer`: building the day and month files ([`encode_day`],
//!   [`encode_month`]).
//! - `planner`: which view answers a question and reading it ([`query`],
//!   [`top`]).

mod catalog;
mod planner;
mod writer;

pub use catalog::{Grain, VIEWS, View, summary_schema};
pub(crate) use planner::{Plan, answer, plan, top_with};
pub use planner::{query, top};
pub use writer::{encode_day, encode_month};
