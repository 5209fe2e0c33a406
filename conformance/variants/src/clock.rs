//! Clocks for the clock mutants: the system clock shifted by a fixed offset.

use tim_server::clock::{Clock, SystemClock};

/// The system clock, `offset` seconds ahead (negative: behind).
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock {
    /// Seconds added to the system time.
    pub offset: i64,
}

impl Clock for SkewedClock {
    fn now(&self) -> i64 {
        SystemClock.now().saturating_add(self.offset)
    }
}
