//! kubelet's restart back-off (`CrashLoopBackOff`, and `ImagePullBackOff` for pulls): the
//! first failure is retried at once, then after 10 s, doubling to 5 minutes; a container that
//! ran for 10 minutes starts over.

use std::time::{Duration, Instant};

/// The first wait.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest wait.
pub const MAX: Duration = Duration::from_secs(300);
/// A run this long forgets earlier failures.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

/// One container's back-off.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    /// The wait before the next retry; `None` until the first failure was retried.
    delay: Option<Duration>,
}

impl Backoff {
    /// A failure at `failed_at` after running for `ran`: when the next attempt may start, and
    /// the wait (zero when it may start at once).
    pub fn next(&mut self, failed_at: Instant, ran: Duration) -> (Instant, Duration) {
        if ran >= RESET_AFTER {
            self.delay = None;
        }
        match self.delay {
            None => {
                self.delay = Some(INITIAL);
                (failed_at, Duration::ZERO)
            }
            Some(delay) => {
                self.delay = Some((delay * 2).min(MAX));
                (failed_at + delay, delay)
            }
        }
    }
}

/// Go's rendering of a back-off wait in kubelet's messages (`10s`, `2m40s`, `5m0s`).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_retry_at_once_then_doubling_to_five_minutes() {
        let mut b = Backoff::default();
        let now = Instant::now();
        let short = Duration::from_secs(1);
        let waits: Vec<u64> = (0..8).map(|_| b.next(now, short).1.as_secs()).collect();
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(b.next(now, RESET_AFTER).1, Duration::ZERO);
        assert_eq!(go_duration(Duration::from_secs(160)), "2m40s");
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
    }
}
