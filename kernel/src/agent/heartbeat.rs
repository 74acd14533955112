//! The heartbeats: the node status (written when it changed, or when it has not been written
//! for [`STATUS_REPORT_INTERVAL`](super::STATUS_REPORT_INTERVAL)) and the Lease (renewed
//! every round).

use anyhow::bail;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

use super::api::{Written, lease_path, leases_path, node_path};
use super::lease;
use super::node::{self, StatusInputs};
use super::registration::WRITE_ATTEMPTS;
use super::transport::Transport;
use super::{Agent, STATUS_REPORT_INTERVAL, now};

impl<T: Transport> Agent<T> {
    /// Computes the status from the Node as stored now and writes it when it differs from
    /// the last report, or when `force`, or when the last is getting old.
    pub(super) async fn report_status(&mut self, force: bool) -> anyhow::Result<()> {
        let name = self.config.node_name.clone();
        let usage = self.usage().await;
        let network_not_ready = self.network_not_ready().await;
        if let Some(why) = &network_not_ready {
            tracing::warn!(%why, "the pod network is not ready: the node is not Ready");
        }
        for _ in 0..WRITE_ATTEMPTS {
            let Some(current) = self.api.get::<Node>(&node_path(&name, None)).await? else {
                self.node = None;
                bail!("node {name} was deleted; it is registered again");
            };
            let previous = current
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            let report = node::status(
                &StatusInputs {
                    node_name: &name,
                    ip: self.ip,
                    host: &self.host,
                    usage: &usage,
                    kubelet_version: &self.kubelet_version,
                    thresholds: &self.config.eviction_hard,
                    network_not_ready: network_not_ready.as_deref(),
                },
                &previous,
                &now(),
            );
            let due = match &self.reported {
                Some((last, at)) => {
                    !node::same_report(last, &report) || at.elapsed() >= STATUS_REPORT_INTERVAL
                }
                None => true,
            };
            if !force && !due {
                self.node = Some(current);
                return Ok(());
            }
            let mut updated = current.clone();
            updated.status = Some(node::merged_status(&report, current.status.as_ref()));
            match self
                .api
                .replace(&node_path(&name, Some("status")), &updated)
                .await?
            {
                Written::Done(stored) => {
                    tracing::debug!(node = %name, "node status reported");
                    self.node = Some(stored);
                    self.reported = Some((report, std::time::Instant::now()));
                    return Ok(());
                }
                Written::Conflict | Written::Exists => continue,
                Written::Missing => {
                    self.node = None;
                    bail!("node {name} was deleted; it is registered again");
                }
            }
        }
        bail!("the node status kept conflicting with other writers")
    }

    /// Renews the Lease (creating it, or taking it over as stored, when needed).
    pub(super) async fn renew_lease(&mut self) -> anyhow::Result<()> {
        let Some(node) = self.node.clone() else {
            return Ok(());
        };
        let name = self.config.node_name.clone();
        for _ in 0..WRITE_ATTEMPTS {
            let renewal = lease::renewed(self.lease.as_ref(), &node, MicroTime(Timestamp::now()));
            let stored = renewal.metadata.resource_version.is_some();
            let written = if stored {
                self.api.replace(&lease_path(&name), &renewal).await?
            } else {
                self.api.create(&leases_path(), &renewal).await?
            };
            match written {
                Written::Done(lease) => {
                    self.lease = Some(lease);
                    return Ok(());
                }
                Written::Conflict | Written::Exists => {
                    self.lease = self.api.get::<Lease>(&lease_path(&name)).await?;
                }
                Written::Missing => self.lease = None,
            }
        }
        bail!("the node lease kept conflicting with other writers")
    }
}
