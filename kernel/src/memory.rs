//! Process-wide memory settings for a small board.

/// At most this many glibc malloc arenas. glibc gives every thread that allocates its own
/// arena (up to eight per core), and each keeps the memory it once held: a burst of large
/// list answers left kmicro at 72 MiB with the default, 29 MiB with two arenas, at the same
/// speed (`kmicro bench api`).
const MALLOC_ARENAS: i32 = 2;

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
