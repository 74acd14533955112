//! A pod's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, written once per pod under
//! its directory and bind-mounted into each container (kubelet's managed files).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

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
pub fn hosts_file(pod: &Pod, hostname: &str, pod_ip: Option<IpAddr>) -> String {
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
                "{ip}\t{hostname}.{subdomain}.{namespace}.svc.cluster.local\t{hostname}\n"
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

/// The node's resolv.conf for a pod: loopback name servers dropped (they would be the pod's
/// own loopback), everything else kept. Cluster DNS comes later.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver")
            && let Some(addr) = words.next().and_then(|a| a.parse::<IpAddr>().ok())
            && addr.is_loopback()
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Writes the files into `dir`.
pub fn write(
    dir: &Path,
    pod: &Pod,
    host_network: bool,
    pod_ip: Option<IpAddr>,
) -> std::io::Result<EtcFiles> {
    std::fs::create_dir_all(dir)?;
    let name = hostname(pod, host_network);
    let hosts = if host_network {
        host_network_hosts_file(
            pod,
            &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        )
    } else {
        hosts_file(pod, &name, pod_ip)
    };
    let files = EtcFiles {
        hosts: dir.join("etc-hosts"),
        resolv_conf: dir.join("resolv.conf"),
        hostname: dir.join("hostname"),
    };
    std::fs::write(&files.hosts, hosts)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(&files.resolv_conf, resolv_conf(&host_resolv))?;
    std::fs::write(&files.hostname, format!("{name}\n"))?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_name_servers_are_dropped() {
        let host =
            "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan\nnameserver ::1\n";
        assert_eq!(
            resolv_conf(host),
            "# generated\nnameserver 10.0.0.2\nsearch lan\n"
        );
    }

    #[test]
    fn hosts_file_names_the_pod() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"containers": [], "hostAliases": [{"ip": "10.1.1.1", "hostnames": ["a", "b"]}]}
        }))
        .unwrap();
        let text = hosts_file(&pod, "web", Some("10.42.0.5".parse().unwrap()));
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.42.0.5\tweb\n"));
        assert!(text.ends_with("# Entries added by HostAliases.\n10.1.1.1\ta\tb\n"));
        assert_eq!(hostname(&pod, false), "web");
    }
}
