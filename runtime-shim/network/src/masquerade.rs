//! The bridge plugin's masquerade rule of a pod whose network namespace is already gone.
//!
//! bridge's DEL learns the pod's addresses from `eth0` inside the namespace and removes its
//! `ipMasq` rule (`POSTROUTING -s <ip>/32 … -j CNI-<hash>` and that chain) only then; with
//! the namespace gone it releases the address but leaves the rule. kmicro knows the address
//! from its record, so it removes that rule and chain itself, matching the comment the
//! plugin puts on them (`name: "<network>" id: "<sandbox id>"`).

use std::net::Ipv4Addr;

use crate::error::Result;

/// Removes the leftover masquerade rule and chain; `Ok(false)` when there was none.
pub(crate) fn remove_leftover(network: &str, sandbox_id: &str, ip: Ipv4Addr) -> Result<bool> {
    let save = super::remove::run("iptables-save", &["-t", "nat"], None)?;
    let Some(chain) = leftover_chain(&save, network, sandbox_id, ip) else {
        return Ok(false);
    };
    let comment = format!("name: \"{network}\" id: \"{sandbox_id}\"");
    let source = format!("{ip}/32");
    super::remove::run(
        "iptables",
        &[
            "-w",
            "-t",
            "nat",
            "-D",
            "POSTROUTING",
            "-s",
            &source,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            &chain,
        ],
        None,
    )?;
    super::remove::run("iptables", &["-w", "-t", "nat", "-F", &chain], None)?;
    super::remove::run("iptables", &["-w", "-t", "nat", "-X", &chain], None)?;
    tracing::info!(sandbox = sandbox_id, %ip, chain, "removed a leftover masquerade rule");
    Ok(true)
}

/// The chain the `POSTROUTING` rule for `ip` with the plugin's comment jumps to.
fn leftover_chain(save: &str, network: &str, sandbox_id: &str, ip: Ipv4Addr) -> Option<String> {
    let prefix = format!("-A POSTROUTING -s {ip}/32 ");
    let comment = format!(r#"--comment "name: \"{network}\" id: \"{sandbox_id}\"" -j "#);
    save.lines().find_map(|line| {
        let rest = line.strip_prefix(&prefix)?;
        let (_, chain) = rest.split_once(&comment)?;
        let chain = chain.trim();
        (chain.starts_with("CNI-") && !chain.contains(' ')).then(|| chain.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = r#"*nat
:POSTROUTING ACCEPT [0:0]
:CNI-78464b94c4519587c4afa206 - [0:0]
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s 10.42.5.2/32 -m comment --comment "name: \"cbr0\" id: \"sb-p1\"" -j CNI-78464b94c4519587c4afa206
-A POSTROUTING -s 10.42.5.3/32 -m comment --comment "name: \"cbr0\" id: \"sb-p10\"" -j CNI-0000
-A CNI-78464b94c4519587c4afa206 -d 10.42.5.0/30 -m comment --comment "name: \"cbr0\" id: \"sb-p1\"" -j ACCEPT
COMMIT
"#;

    #[test]
    fn finds_the_pods_chain_only() {
        let ip = Ipv4Addr::new(10, 42, 5, 2);
        assert_eq!(
            leftover_chain(SAVE, "cbr0", "sb-p1", ip).as_deref(),
            Some("CNI-78464b94c4519587c4afa206")
        );
        assert_eq!(leftover_chain(SAVE, "cbr0", "sb-p", ip), None);
        assert_eq!(leftover_chain(SAVE, "other", "sb-p1", ip), None);
        assert_eq!(
            leftover_chain(SAVE, "cbr0", "sb-p1", Ipv4Addr::new(10, 42, 5, 3)),
            None
        );
    }
}
