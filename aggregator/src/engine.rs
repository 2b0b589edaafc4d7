//! The engine's parts under every session the lake opens: a query's
//! share of the memory pool ([`ShareOfPool`]) and the optimizer rule that
//! makes joins yield ([`YieldAfterJoins`]). They sit below both
//! [`crate::lake`], which builds the analyst session with them, and
//! [`crate::analyst`], which runs queries in it, so neither imports the
//! other's internals.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::Result as DfResult;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

/// A query's memory share: at most `share` bytes of the lake's pool, so
/// each analyst query has its own limit and all of them together still
/// stay within `memory_limit_mb`.
#[derive(Debug)]
pub(crate) struct ShareOfPool {
    parent: Arc<dyn MemoryPool>,
    share: usize,
    used: AtomicUsize,
}

impl ShareOfPool {
    pub(crate) fn new(parent: Arc<dyn MemoryPool>, share: usize) -> Self {
        ShareOfPool {
            parent,
            share,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for ShareOfPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "analyst share (used: {} of {} bytes) of {}",
            self.used.load(Ordering::Relaxed),
            self.share,
            self.parent
        )
    }
}

impl MemoryPool for ShareOfPool {
    fn name(&self) -> &str {
        "analyst share"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.parent.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.parent.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.parent.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.parent.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                let new = used + additional;
                (new <= self.share).then_some(new)
            })
            .map_err(|used| {
                datafusion::common::DataFusionError::ResourcesExhausted(format!(
                    "{} asked for {additional} more bytes with {used} of this query's {} in use",
                    reservation.consumer().name(),
                    self.share
                ))
            })?;
        if let Err(e) = self.parent.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.share)
    }
}

/// Makes operators that can emit many batches for one input batch (joins,
/// `unnest`) yield to the runtime between batches, so a timed-out query
/// stops within a batch.
///
/// DataFusion already yields at scans and exchanges, but a join whose
/// probe batch matches billions of rows (a self-join on a low-cardinality
/// key) would otherwise emit them all in one poll: the aborted task kept
/// its slot and its cores until it finished (measured: a 3-way self-join on
/// `consumer` still held its slot 60 s after its 15 s limit). Wrapping only
/// these operators keeps analysts' `EXPLAIN` readable.
#[derive(Debug)]
pub(crate) struct YieldAfterJoins;

impl PhysicalOptimizerRule for YieldAfterJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let name = node.name();
            if name.ends_with("JoinExec") || name == "UnnestExec" {
                let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
                Ok(Transformed::yes(wrapped))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "yield_after_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
