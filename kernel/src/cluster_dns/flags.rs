//! `--cluster-dns` and `--cluster-domain` checked as k3s checks them, no I/O.

use std::net::Ipv4Addr;

use kmicro_network::Ipv4Cidr;

/// Which address of the service CIDR is the cluster DNS by default (k3s: `10.43.0.10`).
const DEFAULT_INDEX: u32 = 10;

/// The cluster DNS address: `flag`, else the tenth address of `service_cidr`. It must lie in
/// the service CIDR and be neither its network, broadcast nor first address (the
/// `kubernetes` Service's).
pub fn cluster_dns_address(service_cidr: &str, flag: Option<Ipv4Addr>) -> Result<Ipv4Addr, String> {
    let cidr: Ipv4Cidr = service_cidr
        .parse()
        .map_err(|e| format!("--service-cidr {service_cidr:?}: {e}"))?;
    let address = match flag {
        Some(address) => address,
        None => cidr.nth(DEFAULT_INDEX).ok_or_else(|| {
            format!(
                "--service-cidr {cidr} is too small for a cluster DNS address; pass --cluster-dns"
            )
        })?,
    };
    if !cidr.contains(address) {
        return Err(format!(
            "--cluster-dns {address} is outside --service-cidr {cidr}"
        ));
    }
    let last = (1u64 << (32 - u32::from(cidr.prefix_len()))) - 1;
    let broadcast = u32::try_from(last)
        .ok()
        .and_then(|n| cidr.nth(n))
        .unwrap_or(cidr.network());
    let reserved = [
        cidr.network(),
        broadcast,
        cidr.nth(1).unwrap_or(cidr.network()),
    ];
    if reserved.contains(&address) {
        return Err(format!(
            "--cluster-dns {address} is the network, broadcast or `kubernetes` Service address of --service-cidr {cidr}"
        ));
    }
    Ok(address)
}

/// The cluster domain without a final dot; it must be a DNS subdomain.
pub fn cluster_domain(flag: &str) -> Result<String, String> {
    let domain = flag.trim_end_matches('.').to_ascii_lowercase();
    let problems = kmicro_apimachinery::names::is_dns1123_subdomain(&domain);
    if problems.is_empty() {
        Ok(domain)
    } else {
        Err(format!(
            "--cluster-domain {flag:?}: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_tenth_address() {
        assert_eq!(
            cluster_dns_address("10.43.0.0/16", None).unwrap(),
            Ipv4Addr::new(10, 43, 0, 10)
        );
        assert_eq!(
            cluster_dns_address("10.96.7.0/24", Some(Ipv4Addr::new(10, 96, 7, 10))).unwrap(),
            Ipv4Addr::new(10, 96, 7, 10)
        );
    }

    #[test]
    fn addresses_outside_or_reserved_are_refused() {
        let outside = cluster_dns_address("10.43.0.0/16", Some(Ipv4Addr::new(10, 44, 0, 10)));
        assert!(outside.unwrap_err().contains("outside --service-cidr"));
        for reserved in [[10, 43, 0, 0], [10, 43, 255, 255], [10, 43, 0, 1]] {
            assert!(cluster_dns_address("10.43.0.0/16", Some(Ipv4Addr::from(reserved))).is_err());
        }
    }

    #[test]
    fn domains() {
        assert_eq!(cluster_domain("Cluster.Local.").unwrap(), "cluster.local");
        assert!(
            cluster_domain("bad_domain")
                .unwrap_err()
                .contains("--cluster-domain")
        );
    }
}
