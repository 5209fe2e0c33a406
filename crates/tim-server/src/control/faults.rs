//! Fault rules: an ordered list, matched per API call, with one seeded generator for every
//! random choice (the dice of `probability`, the draw of `delay_ms_range`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tim_model::control::{FaultEffect, FaultRule};
use tim_model::Command;

/// A rule and its hits left.
#[derive(Debug, Clone)]
struct Armed {
    rule: FaultRule,
    remaining: Option<u64>,
}

/// What a call is given by the rule that hit it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The effect.
    pub effect: FaultEffect,
    /// The delay drawn (fixed, or from the range).
    pub delay: Option<Duration>,
}

impl Hit {
    /// The journal's description of what was done.
    pub fn describe(&self) -> String {
        let mut text = self.effect.describe();
        if let (Some(d), Some(_)) = (self.delay, self.effect.delay_ms_range) {
            text.push_str(&format!(" (waited {} ms)", d.as_millis()));
        }
        text
    }
}

struct State {
    rules: Vec<Armed>,
    rng: StdRng,
}

/// The fault rules in force.
pub struct Faults {
    /// Whether any rule is armed: the no-fault path takes no lock.
    armed: AtomicBool,
    state: Mutex<State>,
}

impl Faults {
    /// No rules; dice seeded with `seed`.
    pub fn new(seed: u64) -> Faults {
        Faults {
            armed: AtomicBool::new(false),
            state: Mutex::new(State {
                rules: Vec::new(),
                rng: StdRng::seed_from_u64(seed),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the dice again from `seed`.
    pub fn reseed(&self, seed: u64) {
        self.lock().rng = StdRng::seed_from_u64(seed);
    }

    /// The rules in force, with `remaining` for counted ones.
    pub fn list(&self) -> Vec<FaultRule> {
        self.lock()
            .rules
            .iter()
            .map(|a| FaultRule {
                remaining: a.remaining,
                ..a.rule.clone()
            })
            .collect()
    }

    /// Replaces the rules (already checked with [`FaultRule::problems`]).
    pub fn replace(&self, rules: Vec<FaultRule>) -> Vec<FaultRule> {
        let mut st = self.lock();
        st.rules = rules.into_iter().map(arm).collect();
        self.armed.store(!st.rules.is_empty(), Ordering::Release);
        drop(st);
        self.list()
    }

    /// Appends rules.
    pub fn append(&self, rules: Vec<FaultRule>) -> Vec<FaultRule> {
        let mut st = self.lock();
        st.rules.extend(rules.into_iter().map(arm));
        self.armed.store(!st.rules.is_empty(), Ordering::Release);
        drop(st);
        self.list()
    }

    /// Removes the rules equal to one of `rules` (ignoring `remaining`); `None` removes all.
    pub fn remove(&self, rules: Option<&[FaultRule]>) -> Vec<FaultRule> {
        let mut st = self.lock();
        match rules {
            None => st.rules.clear(),
            Some(gone) => st
                .rules
                .retain(|a| !gone.iter().any(|g| g.same_rule(&a.rule))),
        }
        self.armed.store(!st.rules.is_empty(), Ordering::Release);
        drop(st);
        self.list()
    }

    /// The rule that hits a call of `command` on `group_id`, if any: the first rule in order
    /// whose filters match, that has hits left and whose dice say yes. Its count goes down.
    /// `group_id` is only asked for when a rule filters on the group.
    pub fn pick(&self, command: Command, group_id: impl FnOnce() -> Option<String>) -> Option<Hit> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut group_id = Some(group_id);
        let mut group: Option<Option<String>> = None;
        let mut st = self.lock();
        let State { rules, rng } = &mut *st;
        for armed in rules.iter_mut() {
            let rule = &armed.rule;
            if armed.remaining == Some(0) {
                continue;
            }
            if rule.command.as_deref().is_some_and(|c| c != command.name()) {
                continue;
            }
            if rule.group_id.is_some() || rule.group_prefix.is_some() {
                let g = group.get_or_insert_with(|| group_id.take().and_then(|f| f()));
                let Some(g) = g.as_deref() else { continue };
                if rule.group_id.as_deref().is_some_and(|want| want != g)
                    || rule
                        .group_prefix
                        .as_deref()
                        .is_some_and(|p| !g.starts_with(p))
                {
                    continue;
                }
            }
            if let Some(p) = rule.probability.filter(|p| *p < 1.0) {
                if !rng.random_bool(p.max(0.0)) {
                    continue;
                }
            }
            if let Some(r) = armed.remaining.as_mut() {
                *r -= 1;
            }
            let effect = rule.effect.clone();
            let delay = match (effect.delay_ms, effect.delay_ms_range) {
                (Some(ms), _) => Some(Duration::from_millis(ms)),
                (None, Some([lo, hi])) => Some(Duration::from_millis(rng.random_range(lo..=hi))),
                (None, None) => None,
            };
            return Some(Hit { effect, delay });
        }
        None
    }
}

fn arm(rule: FaultRule) -> Armed {
    Armed {
        remaining: rule.count,
        rule: FaultRule {
            remaining: None,
            ..rule
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tim_model::ErrorCode;

    fn hits(faults: &Faults, calls: usize, group: &str) -> Vec<Option<String>> {
        (0..calls)
            .map(|_| {
                faults
                    .pick(Command::ImportGroupMsg, || Some(group.to_owned()))
                    .map(|h| h.describe())
            })
            .collect()
    }

    #[test]
    fn count_and_remaining() {
        let f = Faults::new(1);
        f.replace(vec![FaultRule::new(
            Command::ImportGroupMsg,
            FaultEffect::error(ErrorCode(10002)),
        )
        .times(2)]);
        assert_eq!(f.list()[0].remaining, Some(2));
        let h = hits(&f, 3, "g");
        assert_eq!(h.iter().filter(|h| h.is_some()).count(), 2);
        assert!(h[2].is_none());
        assert_eq!(f.list()[0].remaining, Some(0));
        assert!(f.pick(Command::GetGroupInfo, || None).is_none());
    }

    #[test]
    fn same_seed_same_faults() {
        let rules = vec![
            FaultRule::new(Command::ImportGroupMsg, FaultEffect::lose_reply())
                .with_probability(0.3),
            FaultRule::new(Command::ImportGroupMsg, FaultEffect::delay_ms_range(1, 50))
                .with_probability(0.5),
        ];
        let run = |seed| {
            let f = Faults::new(seed);
            f.replace(rules.clone());
            hits(&f, 200, "g")
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let lost = run(7)
            .iter()
            .flatten()
            .filter(|d| *d == "lose_reply")
            .count();
        assert!((30..=90).contains(&lost), "{lost} of 200 at p = 0.3");
    }

    #[test]
    fn group_filters() {
        let f = Faults::new(1);
        f.replace(vec![
            FaultRule::new(Command::ImportGroupMsg, FaultEffect::http_status(502))
                .on_group("exact"),
            FaultRule::new(Command::ImportGroupMsg, FaultEffect::lose_reply())
                .on_group_prefix("mig-"),
        ]);
        assert_eq!(hits(&f, 1, "exact")[0].as_deref(), Some("http_status 502"));
        assert_eq!(hits(&f, 1, "mig-7")[0].as_deref(), Some("lose_reply"));
        assert_eq!(hits(&f, 1, "other")[0], None);
        assert!(f.pick(Command::ImportGroupMsg, || None).is_none());
        let left = f.remove(Some(&[FaultRule::new(
            Command::ImportGroupMsg,
            FaultEffect::http_status(502),
        )
        .on_group("exact")]));
        assert_eq!(left.len(), 1);
        assert!(f.remove(None).is_empty());
        assert!(f
            .pick(Command::ImportGroupMsg, || Some("mig-1".into()))
            .is_none());
    }
}
