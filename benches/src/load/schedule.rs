//! The open-loop schedule: request `i` is due at `i / rate` seconds after the start, whatever
//! happened to the requests before it, and its latency is measured from that due time (no
//! coordinated omission).

use std::time::Duration;

/// A fixed schedule of `rate` requests a second over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    duration: Duration,
}

impl Schedule {
    /// A schedule of `rate` (> 0) requests a second for `duration`.
    pub fn new(rate: f64, duration: Duration) -> Schedule {
        assert!(
            rate.is_finite() && rate > 0.0,
            "rate must be positive, got {rate}"
        );
        Schedule { rate, duration }
    }

    /// Number of requests due in the window: every `i` with `offset(i) < duration`.
    pub fn len(&self) -> u64 {
        // ceil(duration × rate), computed without accumulating float error over the steps.
        let exact = self.duration.as_secs_f64() * self.rate;
        let n = exact.ceil() as u64;
        // Guard the rounding at the boundary: offset(n - 1) must still be inside the window.
        if n > 0 && self.offset(n - 1) >= self.duration {
            n - 1
        } else {
            n
        }
    }

    /// Whether the window holds no request at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When request `i` is due, relative to the start.
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// The length of the window.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The requests per second of the schedule.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_schedule_is_evenly_spaced() {
        let s = Schedule::new(100.0, Duration::from_secs(20));
        assert_eq!(s.len(), 2000);
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_millis(10));
        assert_eq!(s.offset(1999), Duration::from_millis(19_990));
    }

    #[test]
    fn fractional_rates_keep_every_slot_inside_the_window() {
        let s = Schedule::new(3.0, Duration::from_secs(1));
        assert_eq!(s.len(), 3);
        assert_eq!(s.offset(2).as_micros(), 666_666);
        let s = Schedule::new(2.5, Duration::from_secs(2));
        assert_eq!(s.len(), 5);
        assert_eq!(s.offset(4), Duration::from_millis(1600));
        let s = Schedule::new(0.5, Duration::from_secs(1));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn an_empty_window_schedules_nothing() {
        let s = Schedule::new(100.0, Duration::ZERO);
        assert!(s.is_empty());
    }

    #[test]
    #[should_panic(expected = "rate must be positive")]
    fn zero_rate_is_refused() {
        Schedule::new(0.0, Duration::from_secs(1));
    }
}
