//! Parsers of the text files the host facts come from; pure, so each is tested on samples.

/// A field of `/proc/meminfo` (`MemTotal`, `MemAvailable`, …) in bytes.
pub(crate) fn meminfo_bytes(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?.trim();
        let (number, unit) = rest.split_once(' ').unwrap_or((rest, ""));
        let n: u64 = number.parse().ok()?;
        match unit.trim() {
            "kB" => n.checked_mul(1024),
            "" => Some(n),
            _ => None,
        }
    })
}

/// `PRETTY_NAME` of an `os-release` file, unquoted.
pub(crate) fn os_release_pretty_name(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        let value = value.replace("\\\"", "\"").replace("\\\\", "\\");
        (!value.is_empty()).then_some(value)
    })
}

/// The number of tasks (processes and threads) in `/proc/loadavg`: the `total` of its
/// fourth field, `running/total`.
pub(crate) fn loadavg_tasks(text: &str) -> Option<u64> {
    text.split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()
}

/// The page size in bytes of a `/sys/kernel/mm/hugepages` directory name
/// (`hugepages-2048kB`).
pub(crate) fn hugepage_dir_size(name: &str) -> Option<u64> {
    let kib: u64 = name
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// A byte count in kube's binary-suffixed form, as kubelet writes memory and hugepage
/// sizes: the largest of `Ki`, `Mi`, `Gi`, `Ti` that divides it, else plain bytes.
pub(crate) fn binary_quantity(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)];
    if bytes == 0 {
        return "0".to_string();
    }
    for (suffix, shift) in UNITS {
        if bytes.trailing_zeros() >= shift {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let text = "MemTotal:        8029096 kB\nMemFree:          123 kB\nMemAvailable:    4000000 kB\nHugePages_Total:       0\n";
        assert_eq!(meminfo_bytes(text, "MemTotal"), Some(8029096 * 1024));
        assert_eq!(meminfo_bytes(text, "MemAvailable"), Some(4000000 * 1024));
        assert_eq!(meminfo_bytes(text, "HugePages_Total"), Some(0));
        assert_eq!(meminfo_bytes(text, "Mem"), None);
        assert_eq!(meminfo_bytes(text, "Missing"), None);
    }

    #[test]
    fn os_release() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(
            os_release_pretty_name(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            os_release_pretty_name("PRETTY_NAME=Buildroot\n").as_deref(),
            Some("Buildroot")
        );
        assert_eq!(
            os_release_pretty_name("PRETTY_NAME='Alpine Linux v3.20'").as_deref(),
            Some("Alpine Linux v3.20")
        );
        assert_eq!(os_release_pretty_name("ID=x\nPRETTY_NAME=\"\"\n"), None);
    }

    #[test]
    fn loadavg() {
        assert_eq!(loadavg_tasks("0.52 0.58 0.59 3/467 12345\n"), Some(467));
        assert_eq!(loadavg_tasks("garbage"), None);
    }

    #[test]
    fn hugepage_sizes() {
        assert_eq!(hugepage_dir_size("hugepages-2048kB"), Some(2 << 20));
        assert_eq!(hugepage_dir_size("hugepages-1048576kB"), Some(1 << 30));
        assert_eq!(hugepage_dir_size("other"), None);
    }

    #[test]
    fn binary_quantities() {
        assert_eq!(binary_quantity(0), "0");
        assert_eq!(binary_quantity(8029096 * 1024), "8029096Ki");
        assert_eq!(binary_quantity(2 << 20), "2Mi");
        assert_eq!(binary_quantity(1 << 30), "1Gi");
        assert_eq!(binary_quantity(1000), "1000");
    }
}
