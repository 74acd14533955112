//! Closed-loop load: a fixed number of operations from a fixed number of concurrent workers,
//! each timed on its own.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;

use super::summary::Latencies;

/// Runs `op(0)`..`op(total - 1)` from `concurrency` workers; returns operations per second and
/// each operation's latency. `op(i)` may prepare its request synchronously; only the returned
/// future is timed.
pub(crate) async fn closed_loop<F, Fut>(
    total: usize,
    concurrency: usize,
    op: F,
) -> anyhow::Result<(f64, Latencies)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Latencies::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return anyhow::Ok(latencies);
                    }
                    let call = op(i);
                    let t = Instant::now();
                    call.await?;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut all = Latencies::default();
    for worker in workers {
        all.extend(worker.await.context("a load worker failed")??);
    }
    Ok((total as f64 / started.elapsed().as_secs_f64(), all))
}
