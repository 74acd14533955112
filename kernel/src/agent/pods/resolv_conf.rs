//! A pod's `/etc/resolv.conf` by kubelet's rules (`pkg/kubelet/network/dns`): the pod's
//! `dnsPolicy` picks the cluster DNS or the host's resolvers, `dnsConfig` is merged in, and
//! kubelet's limits apply (3 name servers, 32 search domains of at most 2048 characters in
//! all). No I/O: the host's file comes in as text.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;

/// At most this many name servers (glibc reads no more; kube's `MaxDNSNameservers`).
pub const MAX_NAMESERVERS: usize = 3;
/// At most this many search domains (kube's `MaxDNSSearchPaths`).
pub const MAX_SEARCHES: usize = 32;
/// The search line's longest total length (kube's `MaxDNSSearchListChars`).
pub const MAX_SEARCH_CHARS: usize = 2048;
/// The `ndots` of cluster-first pods (kubelet's).
const CLUSTER_NDOTS: &str = "ndots:5";

/// The node's DNS settings, as kubelet takes them (`--cluster-dns`, `--cluster-domain`,
/// `--resolv-conf`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeDns {
    /// The cluster DNS servers (empty: cluster-first pods fall back to the host's resolvers,
    /// as kubelet does).
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
    /// The host's resolver file (`--resolv-conf`, `/etc/resolv.conf` by default).
    pub host_file: PathBuf,
}

/// A resolver configuration: what a resolv.conf says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<String>,
    /// The `search` domains (the last `search` line of a file), without trailing dots.
    pub searches: Vec<String>,
    /// `options`, each `name` or `name:value`.
    pub options: Vec<String>,
}

impl DnsConfig {
    /// Parses resolv.conf text as kubelet does (comments and unknown lines ignored; the last
    /// `search` or `domain` line wins; options accumulate).
    pub fn parse(text: &str) -> Self {
        let mut config = Self::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(server) = words.next() {
                        config.nameservers.push(server.to_string());
                    }
                }
                Some("search" | "domain") => {
                    config.searches = words
                        .map(|w| w.trim_end_matches('.').to_string())
                        .filter(|w| !w.is_empty())
                        .collect();
                }
                Some("options") => config.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        config
    }

    /// The file's text, as the runtime writes it (search, name servers, options).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for server in &self.nameservers {
            out.push_str(&format!("nameserver {server}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

/// Where a pod's resolver configuration starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Cluster,
    Host,
    Empty,
}

/// kubelet's `getPodDNSType`: `None` → nothing; `ClusterFirstWithHostNet` → cluster;
/// `ClusterFirst` (the default) → cluster unless the pod uses the host's network; `Default`
/// → the host's.
fn source(pod: &Pod) -> Source {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    match spec.and_then(|s| s.dns_policy.as_deref()) {
        Some("None") => Source::Empty,
        Some("ClusterFirstWithHostNet") => Source::Cluster,
        Some("Default") => Source::Host,
        _ if host_network => Source::Host,
        _ => Source::Cluster,
    }
}

/// The pod's resolver configuration from the node's settings and the host's resolv.conf
/// (`host`, already parsed). Loopback name servers of the host are dropped for pods with
/// their own network (they would reach the pod's own loopback).
pub fn for_pod(pod: &Pod, node: &NodeDns, host: &DnsConfig) -> DnsConfig {
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let host_config = || {
        let mut config = host.clone();
        if !host_network {
            config.nameservers.retain(|s| {
                s.split('%')
                    .next()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .is_none_or(|a| !a.is_loopback())
            });
        }
        config
    };
    let mut config = match source(pod) {
        Source::Cluster if node.cluster_dns.is_empty() => {
            tracing::warn!(
                pod = pod.metadata.name.as_deref().unwrap_or(""),
                "ClusterFirst policy specified but no cluster DNS address configured; falling back to the host's resolvers"
            );
            host_config()
        }
        Source::Cluster => DnsConfig {
            nameservers: node.cluster_dns.iter().map(IpAddr::to_string).collect(),
            searches: cluster_searches(pod, &node.domain, &host.searches),
            options: vec![CLUSTER_NDOTS.to_string()],
        },
        Source::Host => host_config(),
        Source::Empty => DnsConfig::default(),
    };
    if let Some(extra) = pod.spec.as_ref().and_then(|s| s.dns_config.as_ref()) {
        config
            .nameservers
            .extend(extra.nameservers.iter().flatten().cloned());
        config.nameservers = without_duplicates(config.nameservers);
        config
            .searches
            .extend(extra.searches.iter().flatten().cloned());
        config.searches = without_duplicates(config.searches);
        config.options = merge_options(&config.options, extra.options.iter().flatten());
    }
    config.nameservers.truncate(MAX_NAMESERVERS);
    config.searches = fit_searches(config.searches);
    config
}

/// `<ns>.svc.<domain> svc.<domain> <domain>`, then the host's search domains.
fn cluster_searches(pod: &Pod, domain: &str, host: &[String]) -> Vec<String> {
    let domain = domain.trim_end_matches('.');
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut searches = if domain.is_empty() {
        Vec::new()
    } else {
        vec![
            format!("{ns}.svc.{domain}"),
            format!("svc.{domain}"),
            domain.to_string(),
        ]
    };
    searches.extend(host.iter().cloned());
    without_duplicates(searches)
}

fn without_duplicates(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// kubelet's `mergeDNSOptions`: the pod's options replace same-named ones (in name order
/// here, where kubelet's map order is random).
fn merge_options<'a>(
    existing: &[String],
    extra: impl Iterator<Item = &'a k8s_openapi::api::core::v1::PodDNSConfigOption>,
) -> Vec<String> {
    let mut options: BTreeMap<String, String> = BTreeMap::new();
    for option in existing {
        let (name, value) = option.split_once(':').unwrap_or((option, ""));
        options.insert(name.to_string(), value.to_string());
    }
    for option in extra {
        let Some(name) = option.name.as_deref() else {
            continue;
        };
        options.insert(name.to_string(), option.value.clone().unwrap_or_default());
    }
    options
        .into_iter()
        .map(|(name, value)| {
            if value.is_empty() {
                name
            } else {
                format!("{name}:{value}")
            }
        })
        .collect()
}

/// kubelet's `formDNSSearchFitsLimits`: at most [`MAX_SEARCHES`] domains, dropped from the
/// end until the line is at most [`MAX_SEARCH_CHARS`] long.
fn fit_searches(mut searches: Vec<String>) -> Vec<String> {
    if searches.len() > MAX_SEARCHES {
        tracing::warn!(
            dropped = searches.len() - MAX_SEARCHES,
            "search line has too many domains; the last ones are omitted"
        );
        searches.truncate(MAX_SEARCHES);
    }
    let length =
        |s: &[String]| s.iter().map(String::len).sum::<usize>() + s.len().saturating_sub(1);
    while length(&searches) > MAX_SEARCH_CHARS {
        searches.pop();
    }
    searches
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "team"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn node() -> NodeDns {
        NodeDns {
            cluster_dns: vec!["10.43.0.10".parse().unwrap()],
            domain: "cluster.local".into(),
            host_file: PathBuf::new(),
        }
    }

    fn host() -> DnsConfig {
        DnsConfig::parse(
            "# host\nnameserver 127.0.0.53\nnameserver 192.168.1.1\nsearch old.example\nsearch lan. home\noptions edns0 trust-ad\n",
        )
    }

    #[test]
    fn host_file_is_parsed_as_kubelet_reads_it() {
        let h = host();
        assert_eq!(h.nameservers, ["127.0.0.53", "192.168.1.1"]);
        assert_eq!(h.searches, ["lan", "home"]);
        assert_eq!(h.options, ["edns0", "trust-ad"]);
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns_and_search_path() {
        let text = for_pod(&pod(json!({"containers": []})), &node(), &host()).render();
        assert_eq!(
            text,
            "search team.svc.cluster.local svc.cluster.local cluster.local lan home\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn host_network_and_default_get_the_hosts_resolvers() {
        let hostnet = pod(json!({"containers": [], "hostNetwork": true}));
        let config = for_pod(&hostnet, &node(), &host());
        assert_eq!(config.nameservers, ["127.0.0.53", "192.168.1.1"]);
        assert_eq!(config.searches, ["lan", "home"]);
        let with_hostnet = pod(
            json!({"containers": [], "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}),
        );
        assert_eq!(
            for_pod(&with_hostnet, &node(), &host()).nameservers,
            ["10.43.0.10"]
        );
        let default = pod(json!({"containers": [], "dnsPolicy": "Default"}));
        let config = for_pod(&default, &node(), &host());
        assert_eq!(config.nameservers, ["192.168.1.1"], "loopback dropped");
        assert_eq!(config.options, ["edns0", "trust-ad"]);
    }

    #[test]
    fn no_cluster_dns_falls_back_to_the_host() {
        let none = NodeDns {
            cluster_dns: vec![],
            domain: "cluster.local".into(),
            host_file: PathBuf::new(),
        };
        let config = for_pod(&pod(json!({"containers": []})), &none, &host());
        assert_eq!(config.nameservers, ["192.168.1.1"]);
    }

    #[test]
    fn none_takes_only_the_pods_dns_config() {
        let p = pod(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["1.2.3.4", "1.2.3.4"],
            "searches": ["a.example", "b.example"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        }}));
        assert_eq!(
            for_pod(&p, &node(), &host()).render(),
            "search a.example b.example\nnameserver 1.2.3.4\noptions edns0 ndots:2\n"
        );
    }

    #[test]
    fn dns_config_merges_into_cluster_first_within_limits() {
        let searches: Vec<String> = (0..40).map(|i| format!("s{i}.example")).collect();
        let p = pod(json!({"containers": [], "dnsConfig": {
            "nameservers": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
            "searches": searches,
            "options": [{"name": "ndots", "value": "1"}],
        }}));
        let config = for_pod(&p, &node(), &host());
        assert_eq!(config.nameservers, ["10.43.0.10", "10.0.0.1", "10.0.0.2"]);
        assert_eq!(config.searches.len(), MAX_SEARCHES);
        assert_eq!(config.searches[0], "team.svc.cluster.local");
        assert_eq!(config.options, ["ndots:1"]);
        let long: Vec<String> = (0..30).map(|i| format!("{i:0>100}")).collect();
        let fitted = fit_searches(long);
        assert_eq!(fitted.len(), 20, "20 × 100 + 19 spaces fit, 21 do not");
    }
}
