//! Registration, as kubelet and k3s do it: create the Node with its labels, taints and a
//! first status; if it exists (a restart), keep it — its uid, its taints — adding this
//! start's labels and reporting a fresh status.

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Node;

use super::api::{NODES, Written, node_path};
use super::node::{self, StatusInputs};
use super::transport::Transport;
use super::{Agent, now};

/// Writes that conflict this many times in a row give up until the next round.
pub(super) const WRITE_ATTEMPTS: usize = 5;

impl<T: Transport> Agent<T> {
    /// Creates or updates the Node; afterwards it is Ready with a fresh status.
    pub(super) async fn register(&mut self) -> anyhow::Result<()> {
        if self.kubelet_version.is_empty() {
            self.kubelet_version = self.api.version().await?;
        }
        let name = self.config.node_name.clone();
        let existing = match self.api.get::<Node>(&node_path(&name, None)).await? {
            Some(existing) => existing,
            None => {
                if self.create().await? {
                    return Ok(());
                }
                self.api
                    .get::<Node>(&node_path(&name, None))
                    .await?
                    .with_context(|| format!("node {name} exists and does not"))?
            }
        };
        tracing::info!(node = %name, uid = ?existing.metadata.uid, "updating the registered node");
        self.node = Some(existing);
        self.add_labels().await?;
        self.add_pod_cidr().await?;
        self.report_status(true).await
    }

    /// Creates the Node; false when one of that name appeared meanwhile.
    async fn create(&mut self) -> anyhow::Result<bool> {
        let usage = self.usage().await;
        let report = node::status(
            &StatusInputs {
                node_name: &self.config.node_name,
                ip: self.ip,
                host: &self.host,
                usage: &usage,
                kubelet_version: &self.kubelet_version,
                thresholds: &self.config.eviction_hard,
                // Not known before the pod manager runs: the next heartbeat says.
                network_not_ready: None,
            },
            &[],
            &now(),
        );
        let new = node::new_node(&self.config, self.host.architecture, report.clone());
        match self.api.create(NODES, &new).await? {
            Written::Done(created) => {
                tracing::info!(node = %self.config.node_name, uid = ?created.metadata.uid, "registered the node");
                self.node = Some(created);
                self.reported = Some((report, std::time::Instant::now()));
                Ok(true)
            }
            Written::Exists => Ok(false),
            Written::Conflict | Written::Missing => bail!("unexpected answer to creating the node"),
        }
    }

    /// Gives a registered Node without a pod CIDR the first /24 of `--cluster-cidr` (a Node
    /// that has one keeps it: the API refuses to change it).
    async fn add_pod_cidr(&mut self) -> anyhow::Result<()> {
        let subnet = super::pod_cidr::first_node_subnet(&self.config.cluster_cidr);
        let path = node_path(&self.config.node_name, None);
        for _ in 0..WRITE_ATTEMPTS {
            let Some(current) = &self.node else {
                bail!("node {} was deleted", self.config.node_name);
            };
            let Some(updated) = super::pod_cidr::with_pod_cidr(current, &subnet) else {
                return Ok(());
            };
            match self.api.replace(&path, &updated).await? {
                Written::Done(stored) => {
                    tracing::info!(node = %self.config.node_name, pod_cidr = %subnet, "pod CIDR set");
                    self.node = Some(stored);
                    return Ok(());
                }
                Written::Conflict | Written::Exists => {
                    self.node = self.api.get(&path).await?;
                }
                Written::Missing => self.node = None,
            }
        }
        bail!("setting the node's pod CIDR kept conflicting with other writers")
    }

    /// Adds this start's labels to the registered Node.
    async fn add_labels(&mut self) -> anyhow::Result<()> {
        let wanted = node::labels(&self.config, self.host.architecture);
        let path = node_path(&self.config.node_name, None);
        for _ in 0..WRITE_ATTEMPTS {
            let Some(current) = &self.node else {
                bail!("node {} was deleted", self.config.node_name);
            };
            let Some(updated) = node::with_labels(current, &wanted) else {
                return Ok(());
            };
            match self.api.replace(&path, &updated).await? {
                Written::Done(stored) => {
                    self.node = Some(stored);
                    return Ok(());
                }
                Written::Conflict | Written::Exists => {
                    self.node = self.api.get(&path).await?;
                }
                Written::Missing => self.node = None,
            }
        }
        bail!("the node's labels kept conflicting with other writers")
    }
}
