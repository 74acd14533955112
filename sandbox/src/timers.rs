//! A module's timers: owned by the host, so they survive restarts and swaps.

use std::collections::HashMap;

use tokio::time::{Duration, Instant};

/// Longest delay accepted; longer ones are cut to it.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Longest timer key.
pub(crate) const MAX_KEY_BYTES: usize = 256;

/// The armed timers of one module.
#[derive(Debug)]
pub(crate) struct Timers {
    armed: HashMap<String, Instant>,
    limit: usize,
}

impl Timers {
    /// None armed; at most `limit` at a time.
    pub(crate) fn new(limit: usize) -> Timers {
        Timers {
            armed: HashMap::new(),
            limit,
        }
    }

    /// Arms `key` to fire after `delay_ms`, replacing an earlier arming; refuses keys too
    /// long and a timer beyond the limit.
    pub(crate) fn set(&mut self, key: String, delay_ms: u64) -> Result<(), String> {
        if key.len() > MAX_KEY_BYTES {
            return Err(format!(
                "timer key of {} bytes: the limit is {MAX_KEY_BYTES}",
                key.len()
            ));
        }
        if !self.armed.contains_key(&key) && self.armed.len() >= self.limit {
            return Err(format!(
                "{} timers armed: the limit is {}",
                self.armed.len(),
                self.limit
            ));
        }
        let delay = Duration::from_millis(delay_ms).min(MAX_DELAY);
        self.armed.insert(key, Instant::now() + delay);
        Ok(())
    }

    /// Disarms `key`.
    pub(crate) fn cancel(&mut self, key: &str) {
        self.armed.remove(key);
    }

    /// When the next timer fires.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.armed.values().min().copied()
    }

    /// Removes and answers the keys due at `now`, earliest first.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<String> {
        let mut due: Vec<(Instant, String)> = self
            .armed
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, at)| (*at, k.clone()))
            .collect();
        due.sort();
        for (_, key) in &due {
            self.armed.remove(key);
        }
        due.into_iter().map(|(_, k)| k).collect()
    }

    /// Arms `keys` to fire now again (after the call that received them failed).
    pub(crate) fn rearm_now(&mut self, keys: Vec<String>) {
        let now = Instant::now();
        for key in keys {
            self.armed.entry(key).or_insert(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_order_and_rearming_replaces() {
        let mut t = Timers::new(2);
        t.set("b".into(), 20).unwrap();
        t.set("a".into(), 10).unwrap();
        t.set("b".into(), 5).unwrap();
        assert!(t.set("c".into(), 5).is_err(), "limit of two");
        assert!(t.set("x".repeat(300), 1).is_err());
        let later = Instant::now() + Duration::from_millis(15);
        assert_eq!(t.take_due(later), ["b", "a"]);
        assert_eq!(t.next(), None);
        t.rearm_now(vec!["a".into()]);
        assert_eq!(t.take_due(Instant::now()), ["a"]);
        t.set("z".into(), 1000).unwrap();
        t.cancel("z");
        assert_eq!(t.next(), None);
    }
}
