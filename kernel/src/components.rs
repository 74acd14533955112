//! k3s's `--disable`: the packaged components a server can be told not to run.

/// A component `--disable` turns off (k3s's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Component {
    /// Cluster DNS (k3s's CoreDNS; kmicro's in-process server).
    Coredns,
    /// The LoadBalancer service implementation (k3s's ServiceLB, "klipper-lb").
    Servicelb,
}

/// Whether `component` is among the `--disable`d ones.
pub fn disabled(list: &[Component], component: Component) -> bool {
    list.contains(&component)
}
