//! Per-module limits and their enforcement: linear memory (a `ResourceLimiter`), CPU time
//! (a guest-time budget on top of epoch interruption) and the host-call rate (a token bucket).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The limits of one module. Defaults suit a board with about 100 MB of RAM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory (all memories of the instance together), bytes. Default 64 MiB.
    pub memory_bytes: usize,
    /// CPU time one export call may spend in the guest; time spent waiting in host calls
    /// (the API) does not count. Default 1 s.
    pub deadline: Duration,
    /// Wall-clock time one export call may take, host calls included. Default 30 s.
    pub wall_timeout: Duration,
    /// Host calls (API calls) per second, sustained. Default 200.
    pub host_calls_per_second: u32,
    /// Host calls allowed in a burst. Default 1000.
    pub host_call_burst: u32,
    /// Log lines (and guest stdout/stderr lines) per second; lines beyond are dropped and
    /// counted. Default 100.
    pub log_lines_per_second: u32,
    /// Log lines allowed in a burst. Default 1000.
    pub log_line_burst: u32,
    /// Scratch space, bytes of keys and values. Default 256 KiB.
    pub scratch_bytes: usize,
    /// Watches one instance may hold. Default 64.
    pub watches: usize,
    /// Armed timers. Default 1024.
    pub timers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_secs(1),
            wall_timeout: Duration::from_secs(30),
            host_calls_per_second: 200,
            host_call_burst: 1000,
            log_lines_per_second: 100,
            log_line_burst: 1000,
            scratch_bytes: 256 << 10,
            watches: 64,
            timers: 1024,
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` kept.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: u32, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Which limit stopped a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// The CPU deadline.
    Deadline,
    /// The memory limit.
    Memory,
}

/// Linear memory and table accounting of one instance.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    in_use: usize,
    /// Set when a growth beyond the limit was refused (the call then traps).
    pub(crate) exceeded: bool,
}

/// Table elements one instance may have (a table element is a pointer).
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Core instances, tables and memories in one component instance.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 8;

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> MemoryLimiter {
        MemoryLimiter {
            limit,
            in_use: 0,
            exceeded: false,
        }
    }

    /// Bytes of linear memory the instance holds.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.in_use.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.exceeded = true;
            wasmtime::bail!(
                "memory limit exceeded: growing linear memory to {total} bytes, the limit is {}",
                self.limit
            );
        }
        self.in_use = total;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("growing linear memory failed"))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// The engine's epoch, as a tick count the sandbox can read (wasmtime's own counter is
/// write-only from outside).
#[derive(Clone, Debug)]
pub(crate) struct Epoch {
    ticks: Arc<AtomicU64>,
    tick: Duration,
}

impl Epoch {
    pub(crate) fn new(tick: Duration) -> Epoch {
        Epoch {
            ticks: Arc::new(AtomicU64::new(0)),
            tick,
        }
    }

    /// Ticks so far.
    pub(crate) fn now(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Counts one tick (the ticker thread, after `Engine::increment_epoch`).
    pub(crate) fn advance(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// The tick's length.
    pub(crate) fn tick(&self) -> Duration {
        self.tick
    }
}

/// The CPU budget of one export call, counted in epoch ticks of guest time.
///
/// Guest time runs from the call's start and from each host call's return; it stops at
/// each host call's entry, so time waiting on the kernel does not count. Host calls the
/// sandbox refuses (rate limit, permissions, bad arguments) do count, so a module that
/// hammers the host still reaches its deadline.
#[derive(Debug)]
pub(crate) struct GuestClock {
    epoch: Epoch,
    budget: u64,
    used: u64,
    since: u64,
}

impl GuestClock {
    pub(crate) fn new(epoch: Epoch) -> GuestClock {
        GuestClock {
            epoch,
            budget: u64::MAX,
            used: 0,
            since: 0,
        }
    }

    /// Starts a call with `deadline` of guest time.
    pub(crate) fn start(&mut self, deadline: Duration) {
        let tick = self.epoch.tick().as_nanos().max(1);
        self.budget = (deadline.as_nanos() / tick).clamp(1, u128::from(u64::MAX)) as u64;
        self.used = 0;
        self.since = self.epoch.now();
    }

    /// Counts the guest time since the last checkpoint; `Err` once the budget is spent.
    pub(crate) fn charge(&mut self) -> Result<(), Exceeded> {
        let now = self.epoch.now();
        self.used = self.used.saturating_add(now.saturating_sub(self.since));
        self.since = now;
        if self.used >= self.budget {
            Err(Exceeded::Deadline)
        } else {
            Ok(())
        }
    }

    /// A host call has returned after doing work for the guest: its time is not the guest's.
    pub(crate) fn resume(&mut self) {
        self.since = self.epoch.now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let mut bucket = TokenBucket::new(10, 5);
        assert_eq!((0..20).filter(|_| bucket.try_take()).count(), 5);
        std::thread::sleep(Duration::from_millis(250));
        let more = (0..20).filter(|_| bucket.try_take()).count();
        assert!(
            (2..=4).contains(&more),
            "{more} tokens after 250 ms at 10/s"
        );
    }

    #[test]
    fn memory_beyond_the_limit_is_refused_and_remembered() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 512 << 10, None).unwrap());
        assert!(limiter.memory_growing(512 << 10, 1 << 20, None).unwrap());
        assert_eq!(limiter.in_use(), 1 << 20);
        assert!(
            limiter
                .memory_growing(1 << 20, (1 << 20) + 65536, None)
                .is_err()
        );
        assert!(limiter.exceeded);
        assert_eq!(limiter.in_use(), 1 << 20);
    }

    #[test]
    fn host_time_is_not_guest_time() {
        let epoch = Epoch::new(Duration::from_millis(10));
        let mut clock = GuestClock::new(epoch.clone());
        clock.start(Duration::from_millis(50)); // 5 ticks
        for _ in 0..3 {
            epoch.advance();
        }
        clock.charge().unwrap(); // 3 ticks in the guest, then a host call
        for _ in 0..100 {
            epoch.advance(); // waiting on the API
        }
        clock.resume();
        epoch.advance();
        clock.charge().unwrap(); // 4 ticks
        epoch.advance();
        assert_eq!(clock.charge(), Err(Exceeded::Deadline)); // 5 ticks
    }
}
