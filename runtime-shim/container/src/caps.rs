//! Linux capabilities: names, the default set of containerd and Docker, add/drop.

use crate::error::{Error, Result};

/// Capability names by number (`include/uapi/linux/capability.h`).
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The default capabilities of a container under containerd's CRI and Docker.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// The number of a capability named `NET_ADMIN` or `CAP_NET_ADMIN` (any case).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

/// The name (without `CAP_`) of capability `n`.
pub fn name(n: u32) -> Option<&'static str> {
    NAMES.get(n as usize).copied()
}

/// A set of capabilities as the kernel's bit mask.
pub fn mask_of(names: &[&str]) -> u64 {
    names
        .iter()
        .filter_map(|n| number(n))
        .fold(0, |m, n| m | (1u64 << n))
}

/// The highest capability the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// The capability mask of a container: every capability the kernel knows when privileged,
/// else the default set with `drop` removed (`ALL` removes all) and `add` added (`ALL` adds
/// all). Unknown names are refused with the field that holds them.
pub fn effective_mask(privileged: bool, add: &[String], drop: &[String]) -> Result<u64> {
    let all = if last_cap() >= 63 {
        u64::MAX
    } else {
        (1u64 << (last_cap() + 1)) - 1
    };
    if privileged {
        return Ok(all);
    }
    let mut mask = mask_of(&DEFAULT_CAPABILITIES);
    for (i, d) in drop.iter().enumerate() {
        if d.eq_ignore_ascii_case("ALL") {
            mask = 0;
        } else {
            let n = number(d).ok_or_else(|| {
                Error::invalid(format!("cap_drop[{i}]"), format!("unknown capability {d}"))
            })?;
            mask &= !(1u64 << n);
        }
    }
    for (i, a) in add.iter().enumerate() {
        if a.eq_ignore_ascii_case("ALL") {
            mask = all;
        } else {
            let n = number(a).ok_or_else(|| {
                Error::invalid(format!("cap_add[{i}]"), format!("unknown capability {a}"))
            })?;
            mask |= 1u64 << n;
        }
    }
    Ok(mask & all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mask_is_dockers() {
        // Docker's and containerd's default set as `CapBnd` shows it.
        assert_eq!(mask_of(&DEFAULT_CAPABILITIES), 0x00000000a80425fb);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(number("cap_net_admin"), Some(12));
        assert_eq!(number("SYS_ADMIN"), Some(21));
        assert_eq!(name(40), Some("CHECKPOINT_RESTORE"));
        assert_eq!(number("NOPE"), None);
    }

    #[test]
    fn add_and_drop() {
        let m = effective_mask(false, &["NET_ADMIN".into()], &["CAP_NET_RAW".into()]).unwrap();
        assert_eq!(m & (1 << 12), 1 << 12);
        assert_eq!(m & (1 << 13), 0);
        let m = effective_mask(false, &["KILL".into()], &["ALL".into()]).unwrap();
        assert_eq!(m, 1 << 5);
        let e = effective_mask(false, &[], &["BOGUS".into()]).unwrap_err();
        assert!(e.to_string().contains("cap_drop[0]"), "{e}");
    }
}
