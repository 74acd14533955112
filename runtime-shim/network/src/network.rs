//! `PodNetwork`: a pod's network namespace attached to the node's pod network and detached
//! again, through the CNI plugins, with the result recorded for later DEL and CHECK.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::cni_result;
use crate::config::NetworkConfig;
use crate::conflist::{NetworkList, RuntimeConfig};
use crate::error::{Error, Result};
use crate::host;
use crate::masquerade;
use crate::plugin::{CniCommand, Invocation, Plugins};
use crate::pod::{PodIp, PodRef, PortMapping, validate_port_mappings, validate_sandbox_id};
use crate::record::{Attachment, Records};

/// The pod's interface name.
const POD_IFNAME: &str = "eth0";
/// The loopback's interface name.
const LO_IFNAME: &str = "lo";
/// `statfs` magic of nsfs: what a live namespace file (or a bind mount of one) reports.
const NSFS_MAGIC: u64 = 0x6e73_6673;

/// The node's pod network.
///
/// Every method blocks while plugin processes run (tens of milliseconds); call them from a
/// blocking thread. Calls for different sandboxes may run concurrently (the plugins lock
/// their own state); calls for the same sandbox must not overlap.
#[derive(Debug)]
pub struct PodNetwork {
    config: NetworkConfig,
    pod_net: NetworkList,
    loopback: NetworkList,
    plugins: Plugins,
    records: Records,
}

impl PodNetwork {
    /// Checks the config, finds the plugins (`bridge`, `host-local`, `portmap`, `loopback`),
    /// creates the state directories, writes the network config list to
    /// `<state>/net.d/10-kmicro.conflist` (what the plugins are given; for inspection) and
    /// prepares the host: IPv4 forwarding on, `iptables` present. The bridge itself is
    /// created by the bridge plugin at the first `setup`.
    pub fn new(config: NetworkConfig) -> Result<Self> {
        config.validate()?;
        let pod_net = NetworkList::pod_network(&config);
        let loopback = NetworkList::loopback();
        let plugins = Plugins::locate(
            &config.plugin_dirs,
            pod_net
                .plugin_types()
                .chain(loopback.plugin_types())
                .chain(["host-local"]),
            config.plugin_timeout,
        )?;
        for dir in [config.ipam_dir(), config.state_dir.join("net.d")] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        }
        let records = Records::open(config.records_dir())?;
        write_conflist(&config.conflist_path(), &pod_net.to_conflist())?;
        host::ensure_host()?;
        Ok(PodNetwork {
            config,
            pod_net,
            loopback,
            plugins,
            records,
        })
    }

    /// Whether the network still works as it did when opened: every plugin binary is still
    /// found, forwarding is on and `iptables` is on `PATH` (what the node's `NetworkReady`
    /// reflects). Only looks at files.
    pub fn check_ready(&self) -> Result<()> {
        Plugins::locate(
            &self.config.plugin_dirs,
            self.pod_net
                .plugin_types()
                .chain(self.loopback.plugin_types())
                .chain(["host-local"]),
            self.config.plugin_timeout,
        )?;
        host::ensure_host()
    }

    /// The configuration in force.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Attaches the pod's network namespace `netns`: CNI ADD of the loopback, then of the
    /// pod network (veth `eth0` on the bridge, an address from the node subnet, the default
    /// route via the bridge, the hostPorts), and records the result. Returns the address.
    ///
    /// A sandbox already attached with the same namespace and ports is checked (CNI CHECK)
    /// and its recorded address returned; when the check fails, or the namespace or ports
    /// differ, it is detached and attached anew. A failure half-way detaches what was made.
    pub fn setup(
        &self,
        pod: &PodRef,
        netns: &Path,
        port_mappings: &[PortMapping],
    ) -> Result<PodIp> {
        pod.validate()?;
        validate_port_mappings(port_mappings)?;
        if !is_netns(netns) {
            return Err(Error::request(
                "netns",
                format!("{} is not a network namespace file", netns.display()),
            ));
        }
        let started = Instant::now();
        if let Some(old) = self.records.load(&pod.sandbox_id)? {
            if old.netns == netns
                && old.port_mappings == port_mappings
                && old.network == self.pod_net.name
            {
                match self.check_attachment(&old) {
                    Ok(()) => return Ok(old.pod_ip),
                    Err(e) => tracing::warn!(
                        sandbox = %pod.sandbox_id,
                        "recorded pod network fails CHECK, attaching anew: {e}"
                    ),
                }
            }
            self.detach(&old.pod, Some(&old.netns), &old)?;
        }
        let runtime = RuntimeConfig::with_ports(port_mappings);
        let attached = self
            .add_list(&self.loopback, pod, netns, LO_IFNAME, &runtime)
            .and_then(|lo| {
                let result = self.add_list(&self.pod_net, pod, netns, POD_IFNAME, &runtime)?;
                Ok((lo, result))
            })
            .and_then(|(lo, result)| {
                let pod_ip =
                    cni_result::pod_ip(&result, POD_IFNAME).map_err(|reason| Error::BadResult {
                        plugin: self
                            .pod_net
                            .plugin_type(self.pod_net.plugins.len() - 1)
                            .into(),
                        command: "ADD",
                        reason,
                    })?;
                let attachment = Attachment {
                    pod: pod.clone(),
                    netns: netns.to_path_buf(),
                    port_mappings: port_mappings.to_vec(),
                    pod_ip,
                    network: self.pod_net.name.clone(),
                    result,
                    loopback_result: lo,
                };
                self.records.save(&attachment)?;
                Ok(pod_ip)
            });
        match attached {
            Ok(ip) => {
                tracing::info!(
                    sandbox = %pod.sandbox_id,
                    pod = %format_args!("{}/{}", pod.namespace, pod.name),
                    ip = %ip.ip,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                    "pod network attached"
                );
                Ok(ip)
            }
            Err(e) => {
                let runtime = RuntimeConfig::with_ports(port_mappings);
                for (list, ifname) in [(&self.pod_net, POD_IFNAME), (&self.loopback, LO_IFNAME)] {
                    if let Err(undo) = self.del_list(list, pod, Some(netns), ifname, &runtime, None)
                    {
                        tracing::warn!(
                            sandbox = %pod.sandbox_id,
                            "cleaning up a failed pod network setup: {undo}"
                        );
                    }
                }
                Err(e)
            }
        }
    }

    /// Detaches the pod: CNI DEL of the pod network (hostPort rules, masquerade rule, veth,
    /// address released) and of the loopback, with the recorded ADD result as `prevResult`,
    /// then forgets the record. Idempotent: detaching again, or a sandbox never attached,
    /// succeeds; a namespace that is gone (no longer a namespace file) is passed as empty
    /// `CNI_NETNS`, as the spec allows, and the address is still released.
    pub fn teardown(&self, pod: &PodRef, netns: &Path) -> Result<()> {
        pod.validate()?;
        let started = Instant::now();
        match self.records.load(&pod.sandbox_id)? {
            Some(old) => self.detach(pod, Some(netns), &old)?,
            None => {
                let runtime = RuntimeConfig::ports_unknown();
                let netns = is_netns(netns).then_some(netns);
                self.del_both(pod, netns, &runtime, None, None)?;
            }
        }
        tracing::info!(
            sandbox = %pod.sandbox_id,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "pod network detached"
        );
        Ok(())
    }

    /// CNI CHECK of a recorded attachment (the interfaces, address, routes and hostPort rules
    /// are still as ADD made them); returns the recorded address.
    pub fn check(&self, pod: &PodRef) -> Result<PodIp> {
        pod.validate()?;
        let a = self
            .records
            .load(&pod.sandbox_id)?
            .ok_or_else(|| Error::NotAttached {
                sandbox_id: pod.sandbox_id.clone(),
            })?;
        self.check_attachment(&a)?;
        Ok(a.pod_ip)
    }

    /// The recorded attachment of a sandbox, if any (its address after a restart).
    pub fn attachment(&self, sandbox_id: &str) -> Result<Option<Attachment>> {
        validate_sandbox_id(sandbox_id)?;
        self.records.load(sandbox_id)
    }

    /// Every recorded attachment (to find those whose sandbox no longer exists).
    pub fn attachments(&self) -> Result<Vec<Attachment>> {
        self.records.list()
    }

    fn check_attachment(&self, a: &Attachment) -> Result<()> {
        if !is_netns(&a.netns) {
            return Err(Error::request(
                "netns",
                format!(
                    "{} is no longer a network namespace file",
                    a.netns.display()
                ),
            ));
        }
        let runtime = RuntimeConfig::with_ports(&a.port_mappings);
        self.run_list(
            CniCommand::Check,
            &self.loopback,
            &a.pod,
            Some(&a.netns),
            LO_IFNAME,
            &runtime,
            Some(&a.loopback_result),
        )?;
        self.run_list(
            CniCommand::Check,
            &self.pod_net,
            &a.pod,
            Some(&a.netns),
            POD_IFNAME,
            &runtime,
            Some(&a.result),
        )
    }

    /// DEL of a recorded attachment, then the record removed.
    fn detach(&self, pod: &PodRef, netns: Option<&Path>, a: &Attachment) -> Result<()> {
        let netns = netns.filter(|p| is_netns(p));
        let runtime = RuntimeConfig::with_ports(&a.port_mappings);
        self.del_both(
            pod,
            netns,
            &runtime,
            Some(&a.result),
            Some(&a.loopback_result),
        )?;
        if netns.is_none()
            && let Err(e) = masquerade::remove_leftover(&a.network, &pod.sandbox_id, a.pod_ip.ip)
        {
            tracing::warn!(sandbox = %pod.sandbox_id, "leftover masquerade rule: {e}");
        }
        self.records.remove(&pod.sandbox_id)
    }

    fn del_both(
        &self,
        pod: &PodRef,
        netns: Option<&Path>,
        runtime: &RuntimeConfig,
        result: Option<&Value>,
        lo_result: Option<&Value>,
    ) -> Result<()> {
        let net = self.del_list(&self.pod_net, pod, netns, POD_IFNAME, runtime, result);
        let lo = self.del_list(&self.loopback, pod, netns, LO_IFNAME, runtime, lo_result);
        net.and(lo)
    }

    /// ADD of each plugin in order, each given the previous one's result; the last result.
    fn add_list(
        &self,
        list: &NetworkList,
        pod: &PodRef,
        netns: &Path,
        ifname: &str,
        runtime: &RuntimeConfig,
    ) -> Result<Value> {
        let args = pod.cni_args();
        let inv = Invocation {
            command: CniCommand::Add,
            container_id: &pod.sandbox_id,
            netns: Some(netns),
            ifname,
            args: &args,
        };
        let mut prev: Option<Value> = None;
        for i in 0..list.plugins.len() {
            if list.skips(i, runtime) {
                continue;
            }
            let plugin = list.plugin_type(i);
            let stdin = list.plugin_stdin(i, prev.as_ref(), runtime);
            let result =
                self.plugins
                    .exec(plugin, &inv, stdin)?
                    .ok_or_else(|| Error::BadResult {
                        plugin: plugin.into(),
                        command: "ADD",
                        reason: "empty output".into(),
                    })?;
            prev = Some(result);
        }
        prev.ok_or_else(|| Error::config("plugins", "the network has no plugins"))
    }

    /// DEL of each plugin in reverse order, all attempted; the first error.
    fn del_list(
        &self,
        list: &NetworkList,
        pod: &PodRef,
        netns: Option<&Path>,
        ifname: &str,
        runtime: &RuntimeConfig,
        prev_result: Option<&Value>,
    ) -> Result<()> {
        let args = pod.cni_args();
        let inv = Invocation {
            command: CniCommand::Del,
            container_id: &pod.sandbox_id,
            netns,
            ifname,
            args: &args,
        };
        let mut first_err = None;
        for i in (0..list.plugins.len()).rev() {
            if list.skips(i, runtime) {
                continue;
            }
            let stdin = list.plugin_stdin(i, prev_result, runtime);
            if let Err(e) = self.plugins.exec(list.plugin_type(i), &inv, stdin) {
                tracing::warn!(sandbox = %pod.sandbox_id, "{e}");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// CHECK of each plugin in order, each given the recorded result.
    #[allow(clippy::too_many_arguments)]
    fn run_list(
        &self,
        command: CniCommand,
        list: &NetworkList,
        pod: &PodRef,
        netns: Option<&Path>,
        ifname: &str,
        runtime: &RuntimeConfig,
        prev_result: Option<&Value>,
    ) -> Result<()> {
        let args = pod.cni_args();
        let inv = Invocation {
            command,
            container_id: &pod.sandbox_id,
            netns,
            ifname,
            args: &args,
        };
        for i in 0..list.plugins.len() {
            if list.skips(i, runtime) {
                continue;
            }
            let stdin = list.plugin_stdin(i, prev_result, runtime);
            match self.plugins.exec(list.plugin_type(i), &inv, stdin) {
                Ok(_) => {}
                Err(e) if portmap_ipv6_check_bug(&e, prev_result) => {
                    tracing::debug!(sandbox = %pod.sandbox_id, "ignored for an IPv4-only pod: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// portmap (up to at least 1.1.1) CHECKs its chain in ip6tables too whenever ip6tables
/// works, so every CHECK of an IPv4-only pod with hostPorts fails with "could not check ipv6
/// dnat: chain … not found" (a known upstream bug). It checks IPv4 first and would have
/// failed with "could not check ipv4 dnat", so for a pod without an IPv6 address this error
/// means the IPv4 rules passed.
fn portmap_ipv6_check_bug(e: &Error, prev_result: Option<&Value>) -> bool {
    let Error::Plugin {
        plugin,
        command,
        msg,
        ..
    } = e
    else {
        return false;
    };
    let has_ipv6 = prev_result
        .and_then(|r| r.get("ips"))
        .and_then(Value::as_array)
        .is_some_and(|ips| {
            ips.iter().any(|ip| {
                ip.get("address")
                    .and_then(Value::as_str)
                    .is_some_and(|a| a.contains(':'))
            })
        });
    plugin == "portmap"
        && *command == "CHECK"
        && msg.starts_with("could not check ipv6 dnat")
        && !has_ipv6
}

/// Whether `path` is a live network namespace file (nsfs: `/proc/<pid>/ns/net` or a bind
/// mount of one). A file left behind after its namespace was unmounted is not.
fn is_netns(path: &Path) -> bool {
    match rustix::fs::statfs(path) {
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        Ok(st) => st.f_type as u64 == NSFS_MAGIC,
        Err(_) => false,
    }
}

fn write_conflist(path: &Path, conflist: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(conflist).expect("JSON values serialize");
    text.push('\n');
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    let tmp = path.with_extension("conflist.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_network_is_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<PodNetwork>();
    }

    #[test]
    fn portmap_ipv6_check_bug_only_for_ipv4_pods() {
        let bug = Error::Plugin {
            plugin: "portmap".into(),
            command: "CHECK",
            code: Some(999),
            msg: "could not check ipv6 dnat: chain CNI-DN-1c0b not found in iptables table nat"
                .into(),
            details: String::new(),
        };
        let v4 = serde_json::json!({"ips": [{"address": "10.42.0.2/24"}]});
        let v6 = serde_json::json!({"ips": [{"address": "fd00::2/64"}]});
        assert!(portmap_ipv6_check_bug(&bug, Some(&v4)));
        assert!(!portmap_ipv6_check_bug(&bug, Some(&v6)));
        let v4_failure = Error::Plugin {
            plugin: "portmap".into(),
            command: "CHECK",
            code: Some(999),
            msg: "could not check ipv4 dnat: rule missing".into(),
            details: String::new(),
        };
        assert!(!portmap_ipv6_check_bug(&v4_failure, Some(&v4)));
    }

    #[test]
    fn namespace_files_are_told_apart() {
        assert!(is_netns(Path::new("/proc/self/ns/net")));
        assert!(!is_netns(Path::new("/proc/self/status")));
        assert!(!is_netns(Path::new("/nonexistent/ns/net")));
    }
}
