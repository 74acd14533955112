//! The pod manager: kubelet's pod lifecycle on this node. It watches the pods bound to the
//! node (`fieldSelector=spec.nodeName=<node>`) and runs one [`worker::Worker`] task per pod
//! (sandbox, network, images, root filesystems, containers, restarts, probes, status,
//! deletion), on the runtime crates: `kmicro-container` (processes), `kmicro-network` (pod
//! addresses through CNI), `kmicro-rootfs` (layers and overlay snapshots), `kmicro-images`
//! (the image store and pulls), `kmicro-cri-logs` (log files).
//!
//! Everything host-global is derived from the data dir or a flag, so several clusters can run
//! on one machine: `<data-dir>/agent/containers` (runtime state), `…/snapshots`,
//! `…/images-store`, `…/images` (airgap tarballs imported at start), `…/pods/<uid>` (volumes,
//! `/etc` files, termination logs), `…/network` (CNI state: IPAM, recorded attachments), the
//! log dir (`…/pod-logs` by default), the cgroup root, the bridge and the cluster CIDR.
//!
//! At start the manager takes back the containers that kept running while kmicro was away
//! (`Runtime::adopt_all`) and hands each to its pod's worker, which resumes without
//! restarting anything; containers, sandboxes, root filesystems and pod directories of pods
//! that no longer exist are removed. Stopping kmicro leaves containers running (as k3s does).
//! `kubectl exec` and `attach` go through [`sessions`], which the workers keep informed of
//! their running containers.
//! `kubectl port-forward` connects through [`port_forward::PortForwarder`]; unused images go
//! through [`image_gc`].
//! Pods get their addresses through [`network`] (`kmicro-network`'s CNI plugins).
//! Not yet: ephemeral containers.

mod api;
mod backoff;
mod command;
mod env;
mod etc_files;
mod events;
mod hooks;
pub mod image_gc;
pub mod logs;
pub mod network;
pub mod port_forward;
mod probes;
pub mod resolv_conf;
mod service_env;
pub mod sessions;
mod spec;
mod state;
mod status;
mod volumes;
mod worker;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kmicro_container::Runtime;
use kmicro_images::{ImageStore, Puller, RegistriesConfig};
use kmicro_rootfs::Snapshotter;
use tokio::sync::{mpsc, watch};

use self::api::PodEvent;
pub use self::image_gc::ImageGcPolicy;
use self::logs::LogRegistry;
use self::sessions::{Runner, SessionRegistry};
use self::worker::{Adopted, Worker};
use super::api::NodeApi;
use super::transport::Transport;

/// Where the pod manager keeps its state.
#[derive(Clone, Debug)]
pub struct PodsConfig {
    /// The node's name.
    pub node_name: String,
    /// The node's address (host-network pods' IP, `status.hostIP`).
    pub node_ip: IpAddr,
    /// The data dir (`<data-dir>/agent/…`).
    pub data_dir: PathBuf,
    /// Where container logs go (`<data-dir>/agent/pod-logs` by default).
    pub log_dir: PathBuf,
    /// The cgroup (relative to each hierarchy's root) pods go under.
    pub cgroup_root: PathBuf,
    /// When unused images are collected.
    pub image_gc: ImageGcPolicy,
    /// The pod network (opened at its first use; the agent also asks it for the node's
    /// readiness).
    pub network: Arc<network::Network>,
    /// Cluster DNS, cluster domain and the host's resolver file, for pods' resolv.conf.
    pub dns: resolv_conf::NodeDns,
}

/// What every worker shares.
pub struct Shared<T> {
    /// The API, as the node.
    pub api: NodeApi<T>,
    /// The node's name.
    pub node_name: String,
    /// The node's address.
    pub node_ip: IpAddr,
    /// Containers and sandboxes.
    pub runtime: Runtime,
    /// Unpacked layers and container root filesystems.
    pub snapshots: Arc<Snapshotter>,
    /// Image pulls (and the store).
    pub puller: Puller,
    /// `<data-dir>/agent/pods`.
    pub pods_dir: PathBuf,
    /// The log dir.
    pub log_dir: PathBuf,
    /// What `pods/log` reads.
    pub logs: LogRegistry,
    /// The pod network.
    pub network: Arc<network::Network>,
    /// When unused images are collected.
    pub image_gc: ImageGcPolicy,
    /// What `pods/exec` and `pods/attach` reach.
    pub sessions: SessionRegistry,
    /// Cluster DNS, cluster domain and the host's resolver file, for pods' resolv.conf.
    pub dns: resolv_conf::NodeDns,
}

impl<T: Transport> Runner for Shared<T> {
    fn exec(
        self: Arc<Self>,
        id: String,
        spec: kmicro_container::ExecSpec,
    ) -> futures::future::BoxFuture<'static, kmicro_container::Result<kmicro_container::ExecProcess>>
    {
        Box::pin(async move { self.runtime.exec(&id, &spec).await })
    }

    fn wait(
        self: Arc<Self>,
        id: String,
    ) -> futures::future::BoxFuture<'static, kmicro_container::Result<kmicro_container::Exit>> {
        Box::pin(async move { self.runtime.wait(&id).await })
    }
}

/// Runs the pod manager until the agent stops.
pub async fn run<T: Transport>(
    config: PodsConfig,
    transport: T,
    logs: LogRegistry,
    sessions: SessionRegistry,
    forwarder: port_forward::PortForwarder,
) {
    let shared = loop {
        match open(&config, &transport, &logs, &sessions).await {
            Ok(shared) => break Arc::new(shared),
            Err(err) => {
                tracing::error!(err = %format!("{err:#}"), "the pod manager cannot start; retrying in 10 s");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    };
    let runner: Arc<dyn Runner> = shared.clone();
    sessions.set_runner(Arc::downgrade(&runner));
    drop(runner);
    forwarder.attach(&shared);
    Manager::new(shared).run().await;
}

async fn open<T: Transport>(
    config: &PodsConfig,
    transport: &T,
    logs: &LogRegistry,
    sessions: &SessionRegistry,
) -> anyhow::Result<Shared<T>> {
    let agent_dir = config.data_dir.join("agent");
    let runtime = Runtime::new(agent_dir.join("containers"), &config.cgroup_root)
        .context("starting the container runtime")?;
    let snapshots_dir = agent_dir.join("snapshots");
    let store_dir = agent_dir.join("images-store");
    let imports = agent_dir.join("images");
    let registries_file = config.data_dir.join("registries.yaml");
    let (snapshots, store, registries) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let snapshots = Snapshotter::open(&snapshots_dir).context("opening the snapshotter")?;
        let store = ImageStore::open(&store_dir).context("opening the image store")?;
        match store.import_dir(&imports) {
            Ok(report) => {
                for (path, images) in &report.imported {
                    let names: Vec<String> = images.iter().flat_map(|i| i.names.clone()).collect();
                    tracing::info!(archive = %path.display(), ?names, "image archive imported");
                }
                for (path, err) in &report.failed {
                    tracing::warn!(archive = %path.display(), %err, "image archive not imported");
                }
            }
            Err(err) => tracing::warn!(%err, "importing image archives failed"),
        }
        let registries = if registries_file.exists() {
            RegistriesConfig::load(&registries_file)?
        } else {
            RegistriesConfig::default()
        };
        Ok((snapshots, store, registries))
    })
    .await??;
    Ok(Shared {
        api: NodeApi::new(transport.clone()),
        node_name: config.node_name.clone(),
        node_ip: config.node_ip,
        runtime,
        snapshots: Arc::new(snapshots),
        puller: Puller::new(store, registries),
        pods_dir: agent_dir.join("pods"),
        log_dir: config.log_dir.clone(),
        logs: logs.clone(),
        image_gc: config.image_gc,
        sessions: sessions.clone(),
        network: Arc::clone(&config.network),
        dns: config.dns.clone(),
    })
}

/// A worker as the manager sees it.
struct WorkerHandle {
    updates: watch::Sender<Option<Arc<Pod>>>,
}

struct Manager<T> {
    shared: Arc<Shared<T>>,
    workers: HashMap<String, WorkerHandle>,
    done_tx: mpsc::UnboundedSender<String>,
    done_rx: mpsc::UnboundedReceiver<String>,
    /// Adopted containers by pod uid, until the pod's worker takes them.
    adopted: HashMap<String, Vec<Adopted>>,
    /// The image garbage collection running, if one is.
    image_gc: Option<tokio::task::JoinHandle<()>>,
}

impl<T: Transport> Manager<T> {
    fn new(shared: Arc<Shared<T>>) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Manager {
            shared,
            workers: HashMap::new(),
            done_tx,
            done_rx,
            adopted: HashMap::new(),
            image_gc: None,
        }
    }

    async fn run(mut self) {
        self.adopt().await;
        let mut first = true;
        let mut gc_tick = tokio::time::interval(image_gc::GC_PERIOD);
        gc_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let list = match self.shared.api.node_pods(&self.shared.node_name).await {
                Ok(list) => list,
                Err(err) => {
                    tracing::warn!(err = %format!("{err:#}"), "listing the node's pods failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let uids: HashSet<String> = list
                .items
                .iter()
                .filter_map(|p| p.metadata.uid.clone())
                .collect();
            for uid in self
                .workers
                .keys()
                .filter(|u| !uids.contains(*u))
                .cloned()
                .collect::<Vec<_>>()
            {
                self.gone(&uid);
            }
            for pod in list.items {
                self.changed(pod);
            }
            if first {
                self.remove_orphans(&uids).await;
                first = false;
            }
            // The first tick (at once) comes after the pods in use are known.
            let mut events = match self
                .shared
                .api
                .watch_node_pods(&self.shared.node_name, &list.resource_version)
                .await
            {
                Ok(events) => Box::pin(events),
                Err(err) => {
                    tracing::warn!(err = %format!("{err:#}"), "watching the node's pods failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(PodEvent::Changed(pod)) => self.changed(*pod),
                        Some(PodEvent::Deleted(pod)) => {
                            if let Some(uid) = pod.metadata.uid.as_deref() {
                                self.gone(uid);
                            }
                        }
                        Some(PodEvent::Expired) | None => break,
                    },
                    Some(uid) = self.done_rx.recv() => {
                        self.workers.remove(&uid);
                    }
                    _ = gc_tick.tick() => self.collect_images(),
                }
            }
        }
    }

    /// Starts an image garbage collection check in the background, unless one is running,
    /// with the images of every pod that has a worker counted as in use.
    fn collect_images(&mut self) {
        if self.image_gc.as_ref().is_some_and(|gc| !gc.is_finished()) {
            return;
        }
        let pods: Vec<Arc<Pod>> = self
            .workers
            .values()
            .filter_map(|w| w.updates.borrow().clone())
            .collect();
        let in_use = image_gc::images_in_use(pods.iter().map(|p| p.as_ref()));
        let shared = Arc::clone(&self.shared);
        self.image_gc = Some(tokio::task::spawn_blocking(move || {
            let store = shared.puller.store();
            match image_gc::check(store, &shared.snapshots, &in_use, &shared.image_gc) {
                Ok(Some(freed)) => tracing::info!(
                    images = ?freed.images,
                    bytes = freed.bytes,
                    layers = freed.layers,
                    "unused images collected"
                ),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(err = %format!("{err:#}"), "image garbage collection failed")
                }
            }
        }));
    }

    /// A pod was added or changed: its worker hears of it (started when new).
    fn changed(&mut self, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let pod = Arc::new(pod);
        if let Some(worker) = self.workers.get(&uid) {
            worker.updates.send_replace(Some(pod));
            return;
        }
        let (tx, rx) = watch::channel(Some(Arc::clone(&pod)));
        let adopted = self.adopted.remove(&uid).unwrap_or_default();
        let worker = Worker::new(Arc::clone(&self.shared), pod, rx);
        let done = self.done_tx.clone();
        let finished = uid.clone();
        tokio::spawn(async move {
            worker.run(adopted).await;
            let _ = done.send(finished);
        });
        self.workers.insert(uid, WorkerHandle { updates: tx });
    }

    /// A pod was deleted from the API: its worker stops what still runs.
    fn gone(&mut self, uid: &str) {
        if let Some(worker) = self.workers.get(uid) {
            worker.updates.send_replace(None);
        }
    }

    /// Takes back the containers that kept running while kmicro was away.
    async fn adopt(&mut self) {
        let containers = match self.shared.runtime.adopt_all().await {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(%err, "adopting the running containers failed");
                Vec::new()
            }
        };
        let mut by_id: HashMap<String, kmicro_container::Container> =
            containers.into_iter().map(|c| (c.id.clone(), c)).collect();
        for info in self.shared.runtime.list() {
            let Some(uid) = info.annotations.get(spec::POD_UID).cloned() else {
                continue;
            };
            let container = by_id.remove(&info.id);
            self.adopted
                .entry(uid)
                .or_default()
                .push(Adopted { info, container });
        }
        let count: usize = self.adopted.values().map(Vec::len).sum();
        if count > 0 {
            tracing::info!(
                containers = count,
                pods = self.adopted.len(),
                "containers taken back after a restart"
            );
        }
    }

    /// Removes what pods that no longer exist left behind: containers, network attachments,
    /// sandboxes, root filesystems, pod directories.
    async fn remove_orphans(&mut self, live: &HashSet<String>) {
        let orphans: Vec<(String, Vec<Adopted>)> = self
            .adopted
            .drain()
            .filter(|(uid, _)| !live.contains(uid))
            .collect();
        for (uid, containers) in orphans {
            tracing::info!(pod_uid = %uid, containers = containers.len(), "removing the containers of a pod that no longer exists");
            for c in containers {
                let _ = self.shared.runtime.kill(&c.info.id, 9);
                if let Err(err) = self.shared.runtime.delete(&c.info.id).await {
                    tracing::warn!(%err, id = %c.info.id, "deleting an orphaned container failed");
                }
            }
        }
        let detached = network::remove_strays(&self.shared.network, live).await;
        if detached > 0 {
            tracing::info!(
                pods = detached,
                "detached the networks of pods that no longer exist"
            );
        }
        if let Ok(sandboxes) = self.shared.runtime.sandboxes() {
            for sandbox in sandboxes.into_iter().filter(|s| !live.contains(s.id())) {
                if let Err(err) = self.shared.runtime.remove_sandbox(sandbox.id()) {
                    tracing::warn!(%err, id = sandbox.id(), "removing an orphaned sandbox failed");
                }
            }
        }
        let known: HashSet<String> = self
            .shared
            .runtime
            .list()
            .into_iter()
            .map(|c| c.id)
            .collect();
        let snapshots = Arc::clone(&self.shared.snapshots);
        let pods_dir = self.shared.pods_dir.clone();
        let live = live.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for id in snapshots.containers().unwrap_or_default() {
                if !known.contains(&id)
                    && let Err(err) = snapshots.remove(&id)
                {
                    tracing::warn!(%err, %id, "removing an orphaned root filesystem failed");
                }
            }
            for entry in std::fs::read_dir(&pods_dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !live.contains(&name)
                    && let Err(err) = volumes::remove_pod_dir(&entry.path())
                {
                    tracing::warn!(%err, dir = %entry.path().display(), "removing an orphaned pod directory failed");
                }
            }
        })
        .await;
    }
}
