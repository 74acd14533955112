//! Removing a node's whole pod network from the host, after its pods are gone (k3s's
//! `k3s-killall.sh` does the same for `cni0`): the bridge, and every `nat` rule the plugins
//! made for the network (each carries the comment `name: "<network>" …`) with the per-pod
//! chains those rules jump to. The chains portmap shares between networks
//! (`CNI-HOSTPORT-…`) stay, as do the state files (they live in the state directory).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Deletes `bridge` (when present) and the `nat` rules and per-pod chains of CNI network
/// `network`. Safe to repeat.
pub fn remove_network(bridge: &str, network: &str) -> Result<()> {
    if std::path::Path::new("/sys/class/net").join(bridge).exists() {
        run("ip", &["link", "del", bridge], None)?;
    }
    let save = run("iptables-save", &["-t", "nat"], None)?;
    let script = removal_script(&save, network);
    if !script.is_empty() {
        let input = format!("*nat\n{script}COMMIT\n");
        run("iptables-restore", &["-w", "--noflush"], Some(&input))?;
        tracing::info!(network, bridge, "removed the pod network's rules");
    }
    Ok(())
}

/// The `iptables-restore` lines deleting every rule of `save` (`iptables-save -t nat`) whose
/// comment names `network`, then flushing and deleting the per-pod `CNI-…` chains they are
/// in or jump to (not the shared `CNI-HOSTPORT-…` ones).
fn removal_script(save: &str, network: &str) -> String {
    let marker = format!(r#"name: \"{network}\""#);
    let mut script = String::new();
    let mut chains: Vec<&str> = Vec::new();
    for rule in save.lines().filter_map(|l| l.strip_prefix("-A ")) {
        if !rule.contains(&marker) {
            continue;
        }
        script.push_str(&format!("-D {rule}\n"));
        let chain = rule.split(' ').next().unwrap_or("");
        let target = rule
            .rsplit_once(" -j ")
            .and_then(|(_, t)| t.split(' ').next())
            .unwrap_or("");
        for c in [chain, target] {
            if c.starts_with("CNI-") && !c.starts_with("CNI-HOSTPORT-") && !chains.contains(&c) {
                chains.push(c);
            }
        }
    }
    let declared: Vec<&str> = save
        .lines()
        .filter_map(|l| l.strip_prefix(':')?.split(' ').next())
        .collect();
    let chains: Vec<&str> = chains
        .into_iter()
        .filter(|c| declared.contains(c))
        .collect();
    for c in &chains {
        script.push_str(&format!("-F {c}\n"));
    }
    for c in &chains {
        script.push_str(&format!("-X {c}\n"));
    }
    script
}

/// Runs an iptables tool with `input` on its stdin; its stdout, or an error naming the
/// arguments and what it printed.
pub(crate) fn run(program: &'static str, args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("run", program, e))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("write to", program, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io("run", program, e))?;
    if !out.status.success() {
        return Err(Error::io(
            "run",
            program,
            std::io::Error::other(format!(
                "{args:?}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = r#"*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-DN-1c0b - [0:0]
:CNI-7846 - [0:0]
:CNI-9999 - [0:0]
-A POSTROUTING -s 10.244.3.2/32 -m comment --comment "name: \"kmt-3\" id: \"u1\"" -j CNI-7846
-A POSTROUTING -s 10.42.0.2/32 -m comment --comment "name: \"cbr0\" id: \"u2\"" -j CNI-9999
-A CNI-7846 -d 10.244.3.0/24 -m comment --comment "name: \"kmt-3\" id: \"u1\"" -j ACCEPT
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"kmt-3\" id: \"u1\"" -m multiport --dports 8080 -j CNI-DN-1c0b
-A CNI-DN-1c0b -p tcp --dport 8080 -j DNAT --to-destination 10.244.3.2:80
COMMIT
"#;

    #[test]
    fn only_the_networks_rules_and_chains() {
        let script = removal_script(SAVE, "kmt-3");
        assert_eq!(
            script,
            "-D POSTROUTING -s 10.244.3.2/32 -m comment --comment \"name: \\\"kmt-3\\\" id: \\\"u1\\\"\" -j CNI-7846\n\
             -D CNI-7846 -d 10.244.3.0/24 -m comment --comment \"name: \\\"kmt-3\\\" id: \\\"u1\\\"\" -j ACCEPT\n\
             -D CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat name: \\\"kmt-3\\\" id: \\\"u1\\\"\" -m multiport --dports 8080 -j CNI-DN-1c0b\n\
             -F CNI-7846\n-F CNI-DN-1c0b\n-X CNI-7846\n-X CNI-DN-1c0b\n"
        );
        assert_eq!(removal_script(SAVE, "kmt-4"), "");
        assert!(!removal_script(SAVE, "cbr0").contains("kmt-3"));
    }
}
