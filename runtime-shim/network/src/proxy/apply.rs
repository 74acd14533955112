//! Installing and removing the rules on the host, through `iptables-save` and
//! `iptables-restore --noflush` (one atomic transaction per table).

use std::path::Path;

use super::model::{ProxyConfig, ProxyState};
use super::rules::{Ruleset, removal_script};
use crate::error::{Error, Result};
use crate::remove::run;

/// Makes the host's tables hold exactly the rules for `state` among the instance's chains:
/// one `iptables-restore --noflush` per table, touching only `config.prefix`'s chains and
/// the jumps to them. Idempotent.
pub fn apply(config: &ProxyConfig, state: &ProxyState) -> Result<()> {
    let rules = Ruleset::build(config, state);
    for table in [&rules.filter, &rules.nat] {
        let save = run("iptables-save", &["-t", table.table], None)?;
        let script = table.restore_script(&config.prefix, &save);
        run("iptables-restore", &["-w", "--noflush"], Some(&script))?;
    }
    Ok(())
}

/// Deletes every chain of the instance `prefix` and the jumps to them, from `nat` first
/// (traffic stops being redirected) then `filter`. Safe to repeat.
pub fn remove(prefix: &str) -> Result<()> {
    for table in ["nat", "filter"] {
        let save = run("iptables-save", &["-t", table], None)?;
        if let Some(script) = removal_script(table, prefix, &save) {
            run("iptables-restore", &["-w", "--noflush"], Some(&script))?;
        }
    }
    Ok(())
}

/// The host settings service traffic needs, set when they are not: bridged traffic passes
/// iptables (`net.bridge.bridge-nf-call-iptables`, so replies between pods on the bridge
/// are un-NATed; the `br_netfilter` module must be loaded, as for kube-proxy), and
/// `route_localnet` on `bridge` (when it exists yet), so traffic to 127.0.0.1 node ports can
/// be DNATed to pods and a pod can reach an endpoint on 127.0.0.1. Returns whether
/// `bridge` existed.
pub fn prepare_host(bridge: &str) -> Result<bool> {
    let nf = Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if nf.exists() {
        set_sysctl(nf)?;
    } else {
        tracing::warn!(
            "net.bridge.bridge-nf-call-iptables is missing (br_netfilter not loaded): replies between pods through a Service may not be un-NATed"
        );
    }
    let localnet = Path::new("/proc/sys/net/ipv4/conf")
        .join(bridge)
        .join("route_localnet");
    if !localnet.exists() {
        return Ok(false);
    }
    set_sysctl(&localnet)?;
    Ok(true)
}

fn set_sysctl(path: &Path) -> Result<()> {
    let now = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    if now.trim() != "1" {
        std::fs::write(path, b"1\n").map_err(|e| Error::io("write", path, e))?;
        tracing::info!(path = %path.display(), "set to 1 for the service proxy");
    }
    Ok(())
}
