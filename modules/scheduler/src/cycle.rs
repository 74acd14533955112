//! What the cluster-wide filters need for one pod, counted once per decision (kube's
//! pre-filter state of PodTopologySpread and InterPodAffinity).

use crate::interpod::{self, NamespaceLabels};
use crate::node_info::{NodeInfo, PodInfo};
use crate::spread;
use crate::status::Status;

/// The counts the cluster-wide filters read, for one pod over one view of the nodes.
#[derive(Debug, Clone)]
pub struct Cycle<'a> {
    namespaces: &'a NamespaceLabels,
    spread: spread::FilterState,
    interpod: interpod::FilterState,
}

impl<'a> Cycle<'a> {
    /// Counts, for `pod`, the pods on `nodes` its spread constraints and pod (anti-)affinity
    /// look at.
    pub fn new(pod: &PodInfo, nodes: &[NodeInfo], namespaces: &'a NamespaceLabels) -> Self {
        Self {
            namespaces,
            spread: spread::FilterState::new(pod, nodes),
            interpod: interpod::FilterState::new(pod, nodes, namespaces),
        }
    }

    /// PodTopologySpread then InterPodAffinity, as kube orders them.
    pub fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        self.spread.filter(pod, node)?;
        self.interpod.filter(pod, node, self.namespaces)
    }

    /// The namespace labels the counts were made with.
    pub fn namespaces(&self) -> &'a NamespaceLabels {
        self.namespaces
    }
}
