//! The node's prerequisites for pod networking, checked and set once.
//!
//! What the plugins need from the host, read from their behaviour: `bridge` with
//! `isGateway` turns on IPv4 forwarding itself and creates the bridge; `ipMasq` and
//! `portmap` run `iptables` (the `nat` table; with iptables-nft this is nf_tables, no legacy
//! modules); portmap with `snat` sets `route_localnet` on the bridge only. None of them needs
//! `br_netfilter` (that module matters for kube-proxy's Service rules on bridged traffic,
//! not here), so it is neither loaded nor required. Nothing here touches an existing
//! interface; `/proc/sys/net` is that of the calling thread's network namespace.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turns on IPv4 forwarding (pods reach beyond the node through it) and checks that
/// `iptables` is on `PATH`.
pub(crate) fn ensure_host() -> Result<()> {
    enable_ip_forward(Path::new(IP_FORWARD))?;
    if find_in_path("iptables").is_none() {
        return Err(Error::MissingProgram {
            program: "iptables",
            needed_by: "the bridge plugin's ipMasq and the portmap plugin run it",
        });
    }
    Ok(())
}

fn enable_ip_forward(path: &Path) -> Result<()> {
    let now = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    if now.trim() != "1" {
        std::fs::write(path, b"1\n").map_err(|e| Error::io("write", path, e))?;
        tracing::info!("enabled IPv4 forwarding ({})", path.display());
    }
    Ok(())
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forward_is_written_only_when_off() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ip_forward");
        std::fs::write(&f, "0\n").unwrap();
        enable_ip_forward(&f).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "1\n");
        std::fs::write(&f, "1").unwrap();
        enable_ip_forward(&f).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "1");
        let err = enable_ip_forward(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn finds_programs_on_path() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("no-such-program-kmicro").is_none());
    }
}
