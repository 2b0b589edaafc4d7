//! "Now", injected so tests control it: the bottom of the dashboard's
//! layers (sessions expire by it, month-to-date figures end at it).

use chrono::{DateTime, Utc};

/// The wall clock, injected so tests control "now".
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
