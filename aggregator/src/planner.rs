//! The one entry point for traffic questions: [`answer`] (and [`top`] for
//! a ranked list) picks the cheapest source that answers a
//! [`TrafficQuery`], and callers never choose.
//!
//! The sources, cheapest first:
//!
//! 1. the month views (`rollups_summary_month`): whole UTC calendar
//!    months, no buckets, keyed by consumer, api, route or method only;
//! 2. the day views (`rollups_summary`, or the month file that holds
//!    them): whole UTC days, day buckets or none;
//! 3. the hour views: any range, hour buckets or none;
//! 4. the hourly rollup (`rollups_hourly`) merged by the engine
//!    ([`crate::rollup_traffic`]): status class or gateway groupings, and
//!    lakes rolled up before the views existed;
//! 5. the hourly rollup merged row by row ([`crate::traffic::from_rollups`]):
//!    day buckets in a time zone;
//! 6. the raw events ([`crate::traffic::exact`]): minute buckets, day
//!    buckets in a zone that is not a whole number of hours from UTC, and
//!    questions that ask for [`TrafficQuery::exact`] (exact percentiles,
//!    events not rolled up yet).
//!
//! Sources 1 to 5 give the same figures (counts and sums equal; the same
//! histograms, so the same percentiles: tests hold them against each
//! other); against the events, percentiles are within 1 %.
//!
//! [`plan`] says which source a question goes to, without reading it: what
//! the tests check for each kind of question, and what an `explain` would
//! show. Each source's SQL is its own module's, unchanged: the planner
//! only chooses.

use chrono::{DateTime, Duration, Offset, TimeZone, Utc};

use crate::AnalyticsError;
use crate::lake::Lake;
use crate::query::{Bucket, TopOrder, TrafficQuery, TrafficRow, parse_tz, top as rank};
use crate::summary::{self, Grain};
use crate::{rollup_traffic, traffic};

/// Where an answer comes from (see the module doc for the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A summary view: its name (`month_consumer`, `day_route`, ...) and
    /// grain.
    View {
        /// The `view` column's value.
        name: &'static str,
        /// Month, day or hour rows.
        grain: Grain,
    },
    /// The hourly rollup, merged by the engine.
    HourlyRollup,
    /// The hourly rollup, merged row by row: day buckets in a time zone.
    HourlyRollupInZone,
    /// The raw events.
    Events,
}

/// The source that answers `q`, cheapest first. Errors only for a
/// question no source can answer (an empty range, an unknown zone).
pub fn plan(lake: &Lake, q: &TrafficQuery) -> Result<Source, AnalyticsError> {
    Ok(choose(lake, q)?.0)
}

/// The source and, for a view, how it is read.
fn choose(
    lake: &Lake,
    q: &TrafficQuery,
) -> Result<(Source, Option<summary::Plan>), AnalyticsError> {
    if q.to <= q.from {
        return Err(AnalyticsError::Invalid("`to` must be after `from`".into()));
    }
    let tz = q.tz.as_deref().map(parse_tz).transpose()?;
    if q.exact || q.bucket == Some(Bucket::Minute) {
        return Ok((Source::Events, None));
    }
    if let Some(plan) = summary::plan(lake, q)? {
        let source = Source::View {
            name: plan.view.name,
            grain: plan.view.grain,
        };
        return Ok((source, Some(plan)));
    }
    Ok(match (q.bucket, tz) {
        // Day buckets in a zone start at local midnights, which the hourly
        // rollup can only give when every hour of the range is whole hours
        // from UTC (not India's +05:30, say).
        (Some(Bucket::Day), Some(tz)) if whole_hours(&tz, q.from, q.to) => {
            (Source::HourlyRollupInZone, None)
        }
        (Some(Bucket::Day), Some(_)) => (Source::Events, None),
        _ => (Source::HourlyRollup, None),
    })
}

/// Whether `tz` is a whole number of hours from UTC at every hour of
/// `from..to` (an hour's worth of steps: a month is 720).
fn whole_hours(tz: &chrono_tz::Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let mut at = from;
    while at < to {
        if tz
            .offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc()
            % 3600
            != 0
        {
            return false;
        }
        at += Duration::hours(1);
    }
    // The end too: a range shorter than an hour still has a zone.
    tz.offset_from_utc_datetime(&to.naive_utc())
        .fix()
        .local_minus_utc()
        % 3600
        == 0
}

/// The answer to `q`, from the source [`plan`] picks: rows ordered by
/// bucket, then group.
pub async fn answer(lake: &Lake, q: &TrafficQuery) -> Result<Vec<TrafficRow>, AnalyticsError> {
    let (source, plan) = choose(lake, q)?;
    match (source, plan) {
        (Source::View { .. }, Some(plan)) => summary::answer(lake, q, &plan).await,
        (Source::View { .. }, None) | (Source::HourlyRollup, _) => {
            rollup_traffic::hourly(lake, q).await
        }
        (Source::HourlyRollupInZone, _) => traffic::from_rollups(lake, q).await,
        (Source::Events, _) => traffic::exact(lake, q).await,
    }
}

/// The `n` groups of `q` ranked first by `order`: [`crate::query::top`]
/// of [`answer`], but by calls or errors from a view only the winners'
/// histograms are merged ("top 5 consumers of the month" merges 5
/// consumers' histograms instead of a thousand).
pub async fn top(
    lake: &Lake,
    q: &TrafficQuery,
    order: TopOrder,
    n: usize,
) -> Result<Vec<TrafficRow>, AnalyticsError> {
    if let (Source::View { .. }, Some(plan)) = choose(lake, q)?
        && let Some(rows) = summary::top_with(lake, q, &plan, order, n).await?
    {
        return Ok(rows);
    }
    Ok(rank(answer(lake, q).await?, order, n))
}
