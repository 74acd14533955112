//! Slow start (kube's `slowStartBatch`): many similar calls made in batches of 1, 2, 4, …,
//! stopping after the first batch with a failure, so a create that fails for every pod (a
//! quota, a webhook, a bad template) fails once rather than hundreds of times.

use kmicro_module_sdk::Error;

/// The batch sizes for `count` calls starting with `initial`.
pub fn batch_sizes(count: usize, initial: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut remaining = count;
    let mut size = initial.max(1).min(remaining);
    while size > 0 {
        sizes.push(size);
        remaining -= size;
        size = (size * 2).min(remaining);
    }
    sizes
}

/// Runs `call` up to `count` times in slow-start batches; answers how many succeeded and the
/// first error, if any.
pub fn slow_start(
    count: usize,
    mut call: impl FnMut() -> Result<(), Error>,
) -> (usize, Option<Error>) {
    let mut successes = 0;
    for size in batch_sizes(count, 1) {
        let mut first_error = None;
        for _ in 0..size {
            match call() {
                Ok(()) => successes += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_some() {
            return (successes, first_error);
        }
    }
    (successes, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_double_up_to_the_count() {
        assert_eq!(batch_sizes(0, 1), Vec::<usize>::new());
        assert_eq!(batch_sizes(1, 1), vec![1]);
        assert_eq!(batch_sizes(10, 1), vec![1, 2, 4, 3]);
        assert_eq!(batch_sizes(15, 1), vec![1, 2, 4, 8]);
    }

    #[test]
    fn stops_after_the_batch_that_failed() {
        let mut calls = 0;
        let (ok, err) = slow_start(20, || {
            calls += 1;
            if calls == 5 {
                Err(Error::msg("quota"))
            } else {
                Ok(())
            }
        });
        // Batches 1, 2, 4: the fifth call (in the third batch) fails; the batch finishes.
        assert_eq!(calls, 7);
        assert_eq!(ok, 6);
        assert!(err.is_some());
        let (ok, err) = slow_start(5, || Ok(()));
        assert_eq!((ok, err.is_none()), (5, true));
    }
}
