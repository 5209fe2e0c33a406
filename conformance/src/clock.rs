//! The target's clock as the runner sees it (issue 17, "distance and clocks").
//!
//! Time-edge cases date messages relative to `${now}` (one second ago, a minute ahead). Against a
//! target whose clock is off, `${now}` must be the *target's* now, or a correct server fails a
//! case it passes. The runner estimates the offset before the cases start, from the HTTP `Date`
//! header of a few probes (RFC 9110 §6.6.1: an origin server with a clock sends it) or, when the
//! target sends none, from the `CreateTime` a `create_group` without one is given.
//!
//! Both sources have whole seconds: a stamp `D` taken while the runner's request was in flight
//! between `sent` and `received` puts the offset in `[D − received, D + 1 − sent]`; the
//! estimate is the middle of the intersection of those intervals, and the uncertainty its half
//! width. An offset within a second counts as in sync (nothing changes, as before). Beyond that,
//! `${now}` is shifted by the rounded offset, and a case whose smallest time margin (the `N` of
//! `${now±N}`) is within the remaining error is SKIP: it cannot be judged from here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::case::Case;

/// Where the estimate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockSource {
    /// The HTTP `Date` header of the probes.
    HttpDate,
    /// The `CreateTime` of a group created without one.
    CreateTime,
}

/// The target's clock offset, as estimated and applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockEstimate {
    /// Target clock minus runner clock, in seconds (positive: the target is ahead).
    pub offset: f64,
    /// Half the width of the interval the offset lies in, in seconds.
    pub uncertainty: f64,
    /// Where the stamps came from.
    pub source: ClockSource,
    /// Seconds added to the runner clock for `${now}` (0: in sync within a second).
    pub shift: i64,
}

/// One stamp of the target's clock: taken while a request was in flight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// When the request left (runner clock, Unix seconds).
    pub sent: f64,
    /// When the reply was read (runner clock, Unix seconds).
    pub received: f64,
    /// The target's clock, whole Unix seconds.
    pub target: i64,
}

impl ClockEstimate {
    /// The estimate from `stamps` (`None` when there are none). Stamps that contradict each other
    /// (the target's clock stepped between them) leave the last one alone.
    pub fn from_stamps(stamps: &[Stamp], source: ClockSource) -> Option<ClockEstimate> {
        let interval = |s: &Stamp| (s.target as f64 - s.received, s.target as f64 + 1.0 - s.sent);
        let last = interval(stamps.last()?);
        let (mut lo, mut hi) = stamps
            .iter()
            .map(interval)
            .fold((f64::MIN, f64::MAX), |(lo, hi), (a, b)| {
                (lo.max(a), hi.min(b))
            });
        if lo > hi {
            (lo, hi) = last;
        }
        let offset = (lo + hi) / 2.0;
        let uncertainty = (hi - lo) / 2.0;
        // Beyond a second, for sure: shift `${now}`; within it, the clocks count as in sync.
        let shift = if offset.abs() - uncertainty >= 1.0 {
            offset.round() as i64
        } else {
            0
        };
        Some(ClockEstimate {
            offset,
            uncertainty,
            source,
            shift,
        })
    }

    /// The error left after the shift, in seconds (0 when nothing was shifted: in sync).
    pub fn residual(&self) -> f64 {
        if self.shift == 0 {
            0.0
        } else {
            (self.offset - self.shift as f64).abs() + self.uncertainty
        }
    }

    /// Why `case` cannot be judged from here: its smallest time margin is within the error left
    /// after the shift.
    pub fn skip_reason(&self, case: &Case) -> Option<String> {
        let margin = time_margin(case)?;
        (self.shift != 0 && margin as f64 <= self.residual()).then(|| {
            format!(
                "the target's clock is {:+.1} s (± {:.1}) from the runner's; this case's margin of {margin} s is within that error",
                self.offset, self.uncertainty
            )
        })
    }

    /// One line for the report header.
    pub fn describe(&self) -> String {
        let source = match self.source {
            ClockSource::HttpDate => "HTTP Date",
            ClockSource::CreateTime => "a group's CreateTime",
        };
        let applied = if self.shift == 0 {
            "in sync within a second".to_owned()
        } else {
            format!("${{now}} shifted by {:+} s", self.shift)
        };
        format!(
            "target clock {:+.1} s ± {:.1} ({source}): {applied}",
            self.offset, self.uncertainty
        )
    }
}

/// The smallest `N` of the `${now±N}` placeholders anywhere in `case` (`${now}` is 0).
pub fn time_margin(case: &Case) -> Option<i64> {
    let text = serde_json::to_string(case).ok()?;
    let mut best: Option<i64> = None;
    let mut rest = text.as_str();
    while let Some(i) = rest.find("${now") {
        rest = &rest[i + 5..];
        let end = rest.find('}').unwrap_or(rest.len());
        let expr = &rest[..end];
        let n = if expr.is_empty() {
            Some(0)
        } else {
            expr.strip_prefix(['+', '-'])
                .and_then(|d| d.parse::<i64>().ok())
        };
        if let Some(n) = n {
            best = Some(best.map_or(n, |b: i64| b.min(n)));
        }
    }
    best
}

/// The `CreateTime` of the first group of a `get_group_info` answer.
pub(crate) fn create_time(answer: &Value) -> Option<i64> {
    answer.get("GroupInfo")?.get(0)?.get("CreateTime")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sent: f64, rtt: f64, target: i64) -> Stamp {
        Stamp {
            sent,
            received: sent + rtt,
            target,
        }
    }

    #[test]
    fn a_clock_in_step_is_in_sync_and_shifts_nothing() {
        // Target clock = runner clock: stamps floor the runner time.
        let s = [stamp(1000.2, 0.001, 1000), stamp(1000.7, 0.001, 1000)];
        let e = ClockEstimate::from_stamps(&s, ClockSource::HttpDate).unwrap();
        assert!(e.offset.abs() <= 0.5 + e.uncertainty, "{e:?}");
        assert_eq!(e.shift, 0);
        assert_eq!(e.residual(), 0.0);
    }

    #[test]
    fn a_clock_a_minute_behind_is_found_within_its_uncertainty() {
        let s = [
            stamp(1000.1, 0.002, 940),
            stamp(1000.45, 0.002, 940),
            stamp(1000.95, 0.002, 940),
        ];
        let e = ClockEstimate::from_stamps(&s, ClockSource::HttpDate).unwrap();
        assert!((e.offset - -60.0).abs() <= e.uncertainty + 0.01, "{e:?}");
        assert!(e.uncertainty < 0.1, "three phases narrow it: {e:?}");
        assert_eq!(e.shift, -60);
        assert!(
            e.describe().contains("shifted by -60 s"),
            "{}",
            e.describe()
        );
    }

    #[test]
    fn contradicting_stamps_fall_back_to_the_last() {
        // The target's clock stepped by 30 s between the two stamps.
        let s = [stamp(1000.0, 0.01, 1000), stamp(1001.0, 0.01, 1031)];
        let e = ClockEstimate::from_stamps(&s, ClockSource::HttpDate).unwrap();
        assert!((e.offset - 30.0).abs() < 1.0, "{e:?}");
        assert_eq!(e.shift, 30);
    }

    #[test]
    fn no_stamps_no_estimate() {
        assert!(ClockEstimate::from_stamps(&[], ClockSource::CreateTime).is_none());
    }

    #[test]
    fn margins_come_from_the_now_placeholders() {
        let case: Case = toml::from_str(
            r#"
id = "igm-x"
title = "t"
clauses = ["IGM-TIME-RECENT"]
[[step]]
call = "import_group_msg"
body = { A = "${now-3600}", B = "${now+60}", C = "${g.create+10}" }
"#,
        )
        .unwrap();
        assert_eq!(time_margin(&case), Some(60));
        let skew = |offset: f64, unc: f64| ClockEstimate {
            offset,
            uncertainty: unc,
            source: ClockSource::HttpDate,
            shift: offset.round() as i64,
        };
        assert!(skew(-90.0, 0.5).skip_reason(&case).is_none());
        assert!(skew(-90.4, 60.0).skip_reason(&case).is_some());
        let in_sync = ClockEstimate {
            shift: 0,
            ..skew(0.4, 0.5)
        };
        assert!(in_sync.skip_reason(&case).is_none());
    }
}
