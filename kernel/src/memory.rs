//! Process-wide memory settings for a small board.

/// At most this many glibc malloc arenas. glibc gives every thread that allocates its own
/// arena (up to eight per core), and each keeps the memory it once held: a burst of large
/// list answers left kmicro at 72 MiB with the default, 29 MiB with two arenas, at the same
/// speed (`kmicro bench api`).
const MALLOC_ARENAS: i32 = 2;

/// How often freed heap memory is handed back to the kernel.
const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Applies the settings; call first thing, before any thread starts.
pub(crate) fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tuning; it is called before any other thread
        // exists, and M_ARENA_MAX takes a plain integer.
        #[allow(unsafe_code)]
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) };
        if ok != 1 {
            tracing::debug!("mallopt(M_ARENA_MAX) was refused; keeping glibc's default arenas");
        }
    }
}

/// Starts a thread that hands freed heap pages back to the kernel once a second.
///
/// glibc keeps memory that was freed inside its arenas: after a burst of large list answers
/// kmicro's resident size stayed about 13 MiB above idle although the objects were gone.
/// `malloc_trim` releases every whole free page in every arena (a walk over the free lists,
/// microseconds on a heap this size), so the resident size follows what is really in use.
pub(crate) fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .stack_size(64 * 1024)
            .spawn(|| {
                loop {
                    std::thread::sleep(TRIM_INTERVAL);
                    // SAFETY: malloc_trim only returns free pages to the kernel; it takes the
                    // arena locks itself and is safe to call from any thread at any time.
                    #[allow(unsafe_code)]
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::debug!("no malloc-trim thread ({e}); freed memory stays in the heap");
        }
    }
}
