//! Parts of a [`Plan`] shared by containers and exec sessions: program lookup, argv/envp,
//! user, capabilities, rlimits, cgroup placement.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};

use crate::caps;
use crate::child::Plan;
use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, RlimitResource};

/// The default `PATH` when the environment has none (runc's and Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn cstring(field: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(field, format!("{s:?} contains a NUL byte")))
}

/// Fills program candidates, argv and envp.
pub(crate) fn set_command(plan: &mut Plan, args: &[String], env: &[String]) -> Result<()> {
    let Some(program) = args.first().filter(|a| !a.is_empty()) else {
        return Err(Error::invalid("args", "empty: no program to run"));
    };
    plan.argv = args
        .iter()
        .enumerate()
        .map(|(i, a)| cstring(&format!("args[{i}]"), a))
        .collect::<Result<_>>()?;
    plan.envp = env
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if !e.contains('=') {
                return Err(Error::invalid(
                    format!("env[{i}]"),
                    format!("{e:?} is not KEY=VALUE"),
                ));
            }
            cstring(&format!("env[{i}]"), e)
        })
        .collect::<Result<_>>()?;
    plan.programs = if program.contains('/') {
        vec![cstring("args[0]", program)?]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| cstring("args[0]", &format!("{}/{program}", d.trim_end_matches('/'))))
            .collect::<Result<_>>()?
    };
    if plan.programs.is_empty() {
        return Err(Error::invalid(
            "env",
            "PATH has no directory to find args[0] in",
        ));
    }
    Ok(())
}

fn rlimit_resource(r: RlimitResource) -> libc::c_int {
    use RlimitResource::*;
    (match r {
        Cpu => libc::RLIMIT_CPU,
        Fsize => libc::RLIMIT_FSIZE,
        Data => libc::RLIMIT_DATA,
        Stack => libc::RLIMIT_STACK,
        Core => libc::RLIMIT_CORE,
        Rss => libc::RLIMIT_RSS,
        Nproc => libc::RLIMIT_NPROC,
        Nofile => libc::RLIMIT_NOFILE,
        Memlock => libc::RLIMIT_MEMLOCK,
        As => libc::RLIMIT_AS,
        Locks => libc::RLIMIT_LOCKS,
        Sigpending => libc::RLIMIT_SIGPENDING,
        Msgqueue => libc::RLIMIT_MSGQUEUE,
        Nice => libc::RLIMIT_NICE,
        Rtprio => libc::RLIMIT_RTPRIO,
        Rttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}

/// Fills user, groups, capabilities, no-new-privileges and rlimits from a container spec.
pub(crate) fn set_security(plan: &mut Plan, spec: &ContainerSpec) -> Result<()> {
    // Nothing beyond what kmicro holds itself (a root without CAP_SYS_RESOURCE, say, cannot
    // grant it): privileged means every capability kmicro has.
    let held = rustix::thread::capabilities(None)
        .map(|c| c.permitted.bits())
        .map_err(|e| Error::sys("capget", e))?;
    plan.cap_mask = caps::effective_mask(spec.privileged, &spec.cap_add, &spec.cap_drop)? & held;
    plan.last_cap = caps::last_cap().min(63);
    plan.uid = spec.user.uid;
    plan.gid = spec.user.gid;
    plan.groups = spec
        .user
        .additional_gids
        .iter()
        .map(|g| rustix::process::Gid::from_raw(*g))
        .collect();
    plan.no_new_privs = spec.no_new_privileges;
    plan.rlimits = spec
        .rlimits
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.soft > r.hard {
                return Err(Error::invalid(
                    format!("rlimits[{i}]"),
                    format!("soft limit {} above hard limit {}", r.soft, r.hard),
                ));
            }
            let v = |x: u64| {
                if x == u64::MAX {
                    libc::RLIM_INFINITY
                } else {
                    x as libc::rlim_t
                }
            };
            Ok((
                rlimit_resource(r.resource),
                libc::rlimit {
                    rlim_cur: v(r.soft),
                    rlim_max: v(r.hard),
                },
            ))
        })
        .collect::<Result<_>>()?;
    Ok(())
}

/// Opens each `cgroup.procs` file for the child to join.
pub(crate) fn open_cgroup_procs(files: &[std::path::PathBuf]) -> Result<Vec<OwnedFd>> {
    files
        .iter()
        .map(|f| {
            rustix::fs::open(f, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| Error::io("open", f, e.into()))
        })
        .collect()
}

/// Opens a namespace file.
pub(crate) fn open_ns(path: &std::path::Path) -> Result<OwnedFd> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("open namespace", path, e.into()))
}
