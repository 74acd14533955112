//! A pod's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, written once per pod under
//! its directory and bind-mounted into each container (kubelet's managed files).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use super::resolv_conf::{self, DnsConfig, NodeDns};

/// The files of one pod.
#[derive(Debug, Clone)]
pub struct EtcFiles {
    /// `etc-hosts`.
    pub hosts: PathBuf,
    /// `resolv.conf`.
    pub resolv_conf: PathBuf,
    /// `hostname`.
    pub hostname: PathBuf,
}

/// The pod's hostname: `spec.hostname`, else its name (at most 63 characters, as kubelet
/// truncates), or the node's for host-network pods.
pub fn hostname(pod: &Pod, host_network: bool) -> String {
    if host_network {
        return std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
    }
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.hostname.clone())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    let mut name: String = name.chars().take(63).collect();
    while name.ends_with(['-', '.']) {
        name.pop();
    }
    name
}

/// kubelet's managed hosts file for a pod with its own network: localhost entries, the pod's
/// address with its hostname (and `<hostname>.<subdomain>.<ns>.svc.<domain>` when a subdomain
/// is set), then `hostAliases`.
pub fn hosts_file(pod: &Pod, hostname: &str, pod_ip: Option<IpAddr>, domain: &str) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let spec = pod.spec.as_ref();
    if let Some(ip) = pod_ip {
        let subdomain = spec.and_then(|s| s.subdomain.as_deref()).unwrap_or("");
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        if subdomain.is_empty() {
            out.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            out.push_str(&format!(
                "{ip}\t{hostname}.{subdomain}.{namespace}.svc.{domain}\t{hostname}\n"
            ));
        }
    }
    aliases(pod, &mut out);
    out
}

/// The hosts file of a host-network pod: the node's, under kubelet's header, and the aliases.
pub fn host_network_hosts_file(pod: &Pod, node_hosts: &str) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file (host network).\n");
    out.push_str(node_hosts);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    aliases(pod, &mut out);
    out
}

fn aliases(pod: &Pod, out: &mut String) {
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_ref());
    if let Some(aliases) = aliases.filter(|a| !a.is_empty()) {
        out.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            let names = alias.hostnames.clone().unwrap_or_default().join("\t");
            out.push_str(&format!("{}\t{names}\n", alias.ip));
        }
    }
}

/// Writes the files into `dir`; `dns` gives the resolv.conf's rules (the pod's `dnsPolicy`
/// and `dnsConfig` over the node's cluster DNS and the host's resolver file).
pub fn write(
    dir: &Path,
    pod: &Pod,
    host_network: bool,
    pod_ip: Option<IpAddr>,
    dns: &NodeDns,
) -> std::io::Result<EtcFiles> {
    std::fs::create_dir_all(dir)?;
    let name = hostname(pod, host_network);
    let hosts = if host_network {
        host_network_hosts_file(
            pod,
            &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        )
    } else {
        hosts_file(pod, &name, pod_ip, &dns.domain)
    };
    let files = EtcFiles {
        hosts: dir.join("etc-hosts"),
        resolv_conf: dir.join("resolv.conf"),
        hostname: dir.join("hostname"),
    };
    std::fs::write(&files.hosts, hosts)?;
    let host_resolv = match std::fs::read_to_string(&dns.host_file) {
        Ok(text) => text,
        Err(err) => {
            tracing::warn!(file = %dns.host_file.display(), %err, "cannot read the host's resolver file; pods get no host resolvers");
            String::new()
        }
    };
    let config = resolv_conf::for_pod(pod, dns, &DnsConfig::parse(&host_resolv));
    std::fs::write(&files.resolv_conf, config.render())?;
    std::fs::write(&files.hostname, format!("{name}\n"))?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_names_the_pod() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"containers": [], "hostAliases": [{"ip": "10.1.1.1", "hostnames": ["a", "b"]}]}
        }))
        .unwrap();
        let text = hosts_file(
            &pod,
            "web",
            Some("10.42.0.5".parse().unwrap()),
            "cluster.local",
        );
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.42.0.5\tweb\n"));
        assert!(text.ends_with("# Entries added by HostAliases.\n10.1.1.1\ta\tb\n"));
        assert_eq!(hostname(&pod, false), "web");
    }
}
