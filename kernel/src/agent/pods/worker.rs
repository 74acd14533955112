//! One pod's worker: the task that runs a pod bound to this node, from its sandbox to its
//! deletion (kubelet's pod worker and sync loop). Level-triggered: every change of the pod,
//! container exit, probe result or timer runs [`Worker::sync`] on the current state, then the
//! status is written when it changed.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};
use kmicro_container::{ContainerInfo, Exit, ExitStatus, Sandbox, SandboxSpec};
use kmicro_cri_logs::{LogConfig, LogWriter};
use kmicro_images::{Ensured, PullPolicy, PullSecrets};
use kmicro_rootfs::LayerSource;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::backoff::{self, go_duration};
use super::env::{self, Addresses, Objects};
use super::etc_files::{self, EtcFiles};
use super::events::{self, EventType};
use super::hooks;
use super::logs::{log_path, pod_log_dir};
use super::probes::{self, ProbeKind};
use super::sessions::RunningContainer;
use super::spec::{self, ATTEMPT, CONTAINER_NAME, IMAGE_ID};
use super::state::{Slot, SlotState, Terminated};
use super::status::{self, StatusInput};
use super::{Shared, network, volumes};
use crate::agent::transport::Transport;

/// What a worker hears besides pod changes.
#[derive(Debug)]
pub enum WorkerEvent {
    /// An instance ended.
    Exited {
        /// Its id.
        id: String,
        /// How.
        exit: Exit,
    },
    /// A probe crossed a threshold.
    Probe {
        /// The instance probed.
        id: String,
        /// Which probe.
        kind: ProbeKind,
        /// Succeeded or failed.
        success: bool,
        /// The last failure's message.
        message: String,
    },
}

/// A container taken back after a restart of kmicro.
pub struct Adopted {
    /// What the runtime knows of it.
    pub info: ContainerInfo,
    /// Its process and stdio (none when it ended while kmicro was away).
    pub container: Option<kmicro_container::Container>,
}

/// The pod's volumes and `/etc` files, once prepared.
struct Prepared {
    volumes: HashMap<String, PathBuf>,
    etc: EtcFiles,
}

/// One pod's worker.
pub struct Worker<T> {
    shared: Arc<Shared<T>>,
    uid: String,
    pod: Arc<Pod>,
    updates: watch::Receiver<Option<Arc<Pod>>>,
    tx: mpsc::UnboundedSender<WorkerEvent>,
    rx: mpsc::UnboundedReceiver<WorkerEvent>,
    slots: Vec<Slot>,
    sandbox: Option<Sandbox>,
    pod_ip: Option<IpAddr>,
    prepared: Option<Prepared>,
    start_time: Timestamp,
    reported: Option<Value>,
    released: bool,
    /// Per running instance: whether its startup probe passed (liveness and readiness wait).
    started: HashMap<String, watch::Sender<bool>>,
    /// Per running instance: its environment (exec probes and hooks get it).
    envs: HashMap<String, Vec<String>>,
    /// The pod's directory (`<data-dir>/agent/pods/<uid>`).
    pod_dir: PathBuf,
    /// The pod's log directory.
    log_dir: PathBuf,
    /// When the sandbox or volumes may be tried again after a failure.
    setup_retry: Option<Instant>,
    /// When the volumes that follow their sources are rewritten next.
    volumes_refresh: Option<Instant>,
}

impl<T: Transport> Worker<T> {
    /// A worker for `pod`, hearing its changes on `updates` (`None`: deleted from the API).
    pub fn new(
        shared: Arc<Shared<T>>,
        pod: Arc<Pod>,
        updates: watch::Receiver<Option<Arc<Pod>>>,
    ) -> Self {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let (tx, rx) = mpsc::unbounded_channel();
        let spec = pod.spec.clone().unwrap_or_default();
        let mut slots = Vec::new();
        for c in spec.init_containers.iter().flatten() {
            slots.push(Slot::new(&c.name, true, c.image.as_deref().unwrap_or("")));
        }
        for c in &spec.containers {
            slots.push(Slot::new(&c.name, false, c.image.as_deref().unwrap_or("")));
        }
        let start_time = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
            .unwrap_or_else(Timestamp::now);
        let pod_dir = shared.pods_dir.join(&uid);
        let log_dir = pod_log_dir(
            &shared.log_dir,
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or(""),
            &uid,
        );
        Worker {
            shared,
            uid,
            pod,
            updates,
            tx,
            rx,
            slots,
            sandbox: None,
            pod_ip: None,
            prepared: None,
            start_time,
            reported: None,
            released: false,
            started: HashMap::new(),
            envs: HashMap::new(),
            pod_dir,
            log_dir,
            setup_retry: None,
            volumes_refresh: None,
        }
    }

    /// Runs the pod until it is deleted (or kmicro stops).
    pub async fn run(mut self, adopted: Vec<Adopted>) {
        self.resume(adopted).await;
        loop {
            let gone = self.updates.borrow().is_none();
            if gone || self.pod.metadata.deletion_timestamp.is_some() {
                self.terminate(gone).await;
                break;
            }
            let mut wake = self.sync().await;
            if !self.report().await {
                let retry = Instant::now() + Duration::from_secs(1);
                wake = Some(wake.map_or(retry, |w| w.min(retry)));
            }
            // Without a wake-up time, a day (an event comes first).
            let at = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
            let sleep = tokio::time::sleep_until(at.into());
            tokio::select! {
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        // The manager is gone: kmicro is stopping. Containers keep running.
                        return;
                    }
                    if let Some(pod) = self.updates.borrow_and_update().clone() {
                        self.pod = pod;
                    }
                }
                Some(event) = self.rx.recv() => self.handle(event).await,
                _ = sleep => {}
            }
        }
        self.shared.logs.remove(&self.uid);
        self.shared.sessions.remove(&self.uid);
    }

    fn restart_policy(&self) -> String {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into())
    }

    fn container(&self, name: &str, init: bool) -> Option<Container> {
        let spec = self.pod.spec.as_ref()?;
        if init {
            spec.init_containers
                .iter()
                .flatten()
                .find(|c| c.name == name)
                .cloned()
        } else {
            spec.containers.iter().find(|c| c.name == name).cloned()
        }
    }

    fn event(&self, slot: Option<usize>, kind: EventType, reason: &str, message: String) {
        let container = slot.map(|i| (self.slots[i].name.as_str(), self.slots[i].init));
        events::record(&self.shared, &self.pod, container, kind, reason, message);
    }

    fn pod_label(&self) -> String {
        format!(
            "{}_{}({})",
            self.pod.metadata.name.as_deref().unwrap_or(""),
            self.pod.metadata.namespace.as_deref().unwrap_or(""),
            self.uid
        )
    }

    /// One round: sandbox, volumes, then the containers in order. Answers when to look again
    /// (a back-off ending), if no event will come first.
    async fn sync(&mut self) -> Option<Instant> {
        let policy = self.restart_policy();
        let phase = status::phase(&policy, &self.slots);
        if status::is_terminal(phase) {
            if !self.released {
                self.release().await;
            }
            return None;
        }
        let now = Instant::now();
        if let Some(at) = self.setup_retry.filter(|at| *at > now) {
            return Some(at);
        }
        if self.sandbox.is_none()
            && let Err(err) = self.create_sandbox().await
        {
            self.event(
                None,
                EventType::Warning,
                "FailedCreatePodSandBox",
                format!("Failed to create pod sandbox: {err:#}"),
            );
            self.setup_retry = Some(now + Duration::from_secs(5));
            return self.setup_retry;
        }
        if self.prepared.is_none()
            && let Err(err) = self.prepare().await
        {
            self.event(None, EventType::Warning, "FailedMount", format!("{err:#}"));
            self.setup_retry = Some(now + Duration::from_secs(5));
            return self.setup_retry;
        }
        let refresh = self.refresh_volumes(now).await;
        let wake = self.sync_containers(&policy).await;
        Some(wake.map_or(refresh, |w| w.min(refresh)))
    }

    /// Rewrites the volumes that follow their sources when their period is over (a failure
    /// keeps what the pod has, as kubelet does); answers when to do it next.
    async fn refresh_volumes(&mut self, now: Instant) -> Instant {
        let due = *self
            .volumes_refresh
            .get_or_insert(now + volumes::REFRESH_PERIOD);
        if due > now {
            return due;
        }
        if let Err(err) =
            volumes::refresh(&self.shared.api, &self.pod, &self.pod_dir, self.addresses()).await
        {
            tracing::warn!(pod = %self.pod_label(), err = %format!("{err:#}"), "refreshing volumes failed");
            self.event(None, EventType::Warning, "FailedMount", format!("{err:#}"));
        }
        let next = Instant::now() + volumes::REFRESH_PERIOD;
        self.volumes_refresh = Some(next);
        next
    }

    /// The containers in order: init containers first, each to completion, then the app
    /// containers. Answers when to look again, if no event will come first.
    async fn sync_containers(&mut self, policy: &str) -> Option<Instant> {
        let policy = policy.to_string();
        let inits: Vec<usize> = (0..self.slots.len())
            .filter(|i| self.slots[*i].init)
            .collect();
        for i in inits {
            if self.slots[i].succeeded() {
                continue;
            }
            if let Some(wait) = self.advance(i, &policy).await {
                return wait;
            }
            // An init container is running or could not start: nothing after it starts.
            if !self.slots[i].succeeded() {
                return self.retry_at(i);
            }
        }
        let mut wake: Option<Instant> = None;
        let apps: Vec<usize> = (0..self.slots.len())
            .filter(|i| !self.slots[*i].init)
            .collect();
        for i in apps {
            if let Some(Some(at)) = self.advance(i, &policy).await {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            } else if let Some(at) = self.retry_at(i) {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake
    }

    fn retry_at(&self, i: usize) -> Option<Instant> {
        match &self.slots[i].state {
            SlotState::Waiting { retry_at, .. } => *retry_at,
            _ => None,
        }
    }

    /// Moves container `i` along: a terminated instance is restarted (after its back-off) when
    /// the policy says so, a waiting one whose wait is over is started. `Some(at)`: it waits
    /// until `at` (or `None` inside: for an event).
    async fn advance(&mut self, i: usize, policy: &str) -> Option<Option<Instant>> {
        let now = Instant::now();
        match &self.slots[i].state {
            SlotState::Running { .. } => return if self.slots[i].init { Some(None) } else { None },
            SlotState::Terminated(t) => {
                let restart = match policy {
                    "Never" => false,
                    "OnFailure" => t.exit_code != 0,
                    _ => !self.slots[i].init || t.exit_code != 0,
                };
                if !restart {
                    return None;
                }
                let t = t.clone();
                let pod_label = self.pod_label();
                let slot = &mut self.slots[i];
                let (at, wait) = slot.backoff.next(now, t.ran);
                slot.last = Some(t);
                if wait > Duration::ZERO {
                    let name = slot.name.clone();
                    slot.state = SlotState::Waiting {
                        reason: "CrashLoopBackOff".into(),
                        message: Some(format!(
                            "back-off {} restarting failed container={name} pod={}",
                            go_duration(wait),
                            pod_label
                        )),
                        retry_at: Some(at),
                    };
                    self.event(
                        Some(i),
                        EventType::Warning,
                        "BackOff",
                        format!("Back-off restarting failed container {name} in pod {pod_label}"),
                    );
                    return Some(Some(at));
                }
            }
            SlotState::Waiting {
                retry_at: Some(at), ..
            } if *at > now => return Some(Some(*at)),
            SlotState::Waiting { reason, .. } if reason == "ErrImagePull" => {
                let slot = &mut self.slots[i];
                let (at, wait) = slot.pull_backoff.next(now, Duration::ZERO);
                let wait = wait.max(backoff::INITIAL);
                let at = at.max(now + wait);
                let image = slot.image.clone();
                slot.state = SlotState::Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: Some(format!("Back-off pulling image {image:?}")),
                    retry_at: Some(at),
                };
                self.event(
                    Some(i),
                    EventType::Normal,
                    "BackOff",
                    format!("Back-off pulling image {image:?}"),
                );
                return Some(Some(at));
            }
            SlotState::Waiting { .. } => {}
        }
        self.start(i).await;
        match &self.slots[i].state {
            SlotState::Waiting { retry_at, .. } => Some(*retry_at),
            SlotState::Running { .. } if self.slots[i].init => Some(None),
            _ => None,
        }
    }

    fn waiting(
        &mut self,
        i: usize,
        reason: &str,
        message: Option<String>,
        retry_at: Option<Instant>,
    ) {
        self.slots[i].state = SlotState::Waiting {
            reason: reason.into(),
            message,
            retry_at,
        };
        let (uid, dir, name) = (
            self.uid.clone(),
            self.log_dir.clone(),
            self.slots[i].name.clone(),
        );
        let reason = reason.to_string();
        self.shared
            .logs
            .update(&uid, &dir, &name, |l| l.waiting_reason = reason);
    }

    /// The sandbox: namespaces, hostname, network.
    async fn create_sandbox(&mut self) -> anyhow::Result<()> {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let host_network = spec.host_network.unwrap_or(false);
        let sandbox = match self.shared.runtime.sandbox(&self.uid) {
            Ok(existing) => existing,
            Err(_) => self.shared.runtime.create_sandbox(&SandboxSpec {
                id: self.uid.clone(),
                pod_uid: self.uid.clone(),
                hostname: etc_files::hostname(&self.pod, false),
                host_network,
                host_ipc: spec.host_ipc.unwrap_or(false),
                host_pid: spec.host_pid.unwrap_or(false),
                shm_size: None,
            })?,
        };
        self.pod_ip = network::attach(
            &self.shared.network,
            &sandbox,
            &self.pod,
            self.shared.node_ip,
        )
        .await?;
        self.sandbox = Some(sandbox);
        Ok(())
    }

    fn addresses(&self) -> Addresses {
        Addresses {
            host_ip: self.shared.node_ip,
            pod_ip: self.pod_ip,
        }
    }

    /// Volumes and `/etc` files.
    async fn prepare(&mut self) -> anyhow::Result<()> {
        let host_network = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let volumes =
            volumes::prepare(&self.shared.api, &self.pod, &self.pod_dir, self.addresses()).await?;
        let dir = self.pod_dir.join("etc");
        let pod = Arc::clone(&self.pod);
        let pod_ip = self.pod_ip;
        let dns = self.shared.dns.clone();
        let etc = tokio::task::spawn_blocking(move || {
            etc_files::write(&dir, &pod, host_network, pod_ip, &dns)
        })
        .await??;
        self.prepared = Some(Prepared { volumes, etc });
        Ok(())
    }

    /// Starts a new instance of container `i`: image, root filesystem, spec, process, log,
    /// probes. A failure leaves it waiting (with a reason and a retry time) or terminated
    /// (`StartError`, restarted by the policy).
    async fn start(&mut self, i: usize) {
        let Some(container) = self.container(&self.slots[i].name.clone(), self.slots[i].init)
        else {
            return;
        };
        let image = container.image.clone().unwrap_or_default();
        if !self.ensure_image(i, &container, &image).await {
            return;
        }
        let now = Instant::now();
        let store = self.shared.puller.store().clone();
        let snapshots = Arc::clone(&self.shared.snapshots);
        let image_ref = image.clone();
        let unpacked = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let runtime_image = store.runtime_image(&image_ref)?;
            let layers: Vec<LayerSource> = runtime_image
                .layers
                .iter()
                .map(|l| LayerSource {
                    path: l.path.clone(),
                    compression: match l.compression {
                        kmicro_images::Compression::None => kmicro_rootfs::Compression::None,
                        kmicro_images::Compression::Gzip => kmicro_rootfs::Compression::Gzip,
                        kmicro_images::Compression::Zstd => kmicro_rootfs::Compression::Zstd,
                    },
                    diff_id: l.diff_id.as_str().to_string(),
                })
                .collect();
            let lowers = snapshots.unpack(&layers)?;
            Ok((runtime_image, lowers))
        })
        .await;
        let (image_info, lowers) = match unpacked {
            Ok(Ok(v)) => v,
            Ok(Err(err)) => return self.create_failed(i, now, format!("{err:#}")),
            Err(err) => return self.create_failed(i, now, err.to_string()),
        };
        let image_id = image_info
            .repo_digests
            .first()
            .cloned()
            .unwrap_or_else(|| image_info.id.as_str().to_string());
        self.slots[i].image_id = image_id.clone();
        // The environment.
        let mut objects = Objects::default();
        let pod_env = match env::resolve(
            &self.shared.api,
            &mut objects,
            &self.pod,
            &container,
            self.addresses(),
        )
        .await
        {
            Ok(e) => e,
            Err(err) => {
                self.event(
                    Some(i),
                    EventType::Warning,
                    "Failed",
                    format!("Error: {err}"),
                );
                let wait = self.slots[i]
                    .backoff
                    .next(now, Duration::ZERO)
                    .1
                    .max(Duration::from_secs(1));
                return self.waiting(
                    i,
                    "CreateContainerConfigError",
                    Some(err.to_string()),
                    Some(now + wait),
                );
            }
        };
        let attempt = self.slots[i].attempt.map_or(0, |a| a + 1);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let read_only = spec::read_only_rootfs(&container);
        let snapshots = Arc::clone(&self.shared.snapshots);
        let prepare_id = id.clone();
        let rootfs = match tokio::task::spawn_blocking(move || {
            snapshots.prepare(&prepare_id, &lowers, read_only)
        })
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(err)) => return self.create_failed(i, now, err.to_string()),
            Err(err) => return self.create_failed(i, now, err.to_string()),
        };
        let termination_log = self
            .pod_dir
            .join("containers")
            .join(&container.name)
            .join(&id);
        if let Err(err) = create_termination_log(&termination_log) {
            self.remove_instance(&id).await;
            return self.create_failed(
                i,
                now,
                format!("creating {}: {err}", termination_log.display()),
            );
        }
        let Some(prepared) = self.prepared.as_ref() else {
            return;
        };
        let built = spec::build(spec::Inputs {
            pod: &self.pod,
            container: &container,
            init: self.slots[i].init,
            id: id.clone(),
            attempt,
            image: &image_info.config,
            image_id,
            rootfs: rootfs.path.clone(),
            env: pod_env,
            volumes: &prepared.volumes,
            etc: &prepared.etc,
            termination_log,
            hostname: etc_files::hostname(
                &self.pod,
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.host_network)
                    .unwrap_or(false),
            ),
        });
        let spec = match built {
            Ok(s) => s,
            Err(err) => {
                self.remove_instance(&id).await;
                self.event(
                    Some(i),
                    EventType::Warning,
                    "Failed",
                    format!("Error: {err}"),
                );
                let wait = self.slots[i]
                    .backoff
                    .next(now, Duration::ZERO)
                    .1
                    .max(Duration::from_secs(1));
                return self.waiting(
                    i,
                    "CreateContainerConfigError",
                    Some(err.to_string()),
                    Some(now + wait),
                );
            }
        };
        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        self.slots[i].attempt = Some(attempt);
        self.event(
            Some(i),
            EventType::Normal,
            "Created",
            format!("Created container {}", container.name),
        );
        let started_at = Timestamp::now();
        // Boxed as `Send` here: rustc cannot prove the runtime's future `Send` for every
        // lifetime inside the generic worker (rust-lang/rust#110338).
        let starting: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
            Box::pin(self.shared.runtime.start(&sandbox, &spec));
        match starting.await {
            Ok(running) => {
                self.event(
                    Some(i),
                    EventType::Normal,
                    "Started",
                    format!("Started container {}", container.name),
                );
                self.envs.insert(id.clone(), spec.env.clone());
                self.running(
                    i,
                    &container,
                    id.clone(),
                    attempt,
                    started_at,
                    Instant::now(),
                    running.stdio,
                    false,
                );
                if let Some(hook) = container
                    .lifecycle
                    .as_ref()
                    .and_then(|l| l.post_start.clone())
                {
                    self.post_start(i, &container, id, hook).await;
                }
            }
            Err(err) => {
                self.remove_instance(&id).await;
                let message = err.to_string();
                self.event(
                    Some(i),
                    EventType::Warning,
                    "Failed",
                    format!("Error: {message}"),
                );
                self.slots[i].state = SlotState::Terminated(Terminated {
                    id,
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".into(),
                    message: Some(message),
                    started_at,
                    finished_at: Timestamp::now(),
                    ran: Duration::ZERO,
                });
            }
        }
    }

    /// Where hooks of instance `id` of `container` run.
    fn hook_target(&self, container: &Container, id: &str) -> probes::Target {
        probes::Target {
            pod: Arc::clone(&self.pod),
            container: container.clone(),
            id: id.to_string(),
            env: self.envs.get(id).cloned().unwrap_or_default(),
            pod_ip: self.pod_ip,
            netns: self.sandbox.as_ref().and_then(|s| s.netns_path()),
        }
    }

    /// The preStop hook of slot `i`'s instance `id`, if its container has one.
    fn pre_stop(&self, i: usize, id: &str) -> Option<PreStop> {
        let container = self.container(&self.slots[i].name, self.slots[i].init)?;
        let handler = container.lifecycle.as_ref()?.pre_stop.clone()?;
        Some(PreStop {
            handler,
            target: self.hook_target(&container, id),
            init: self.slots[i].init,
            pod_label: self.pod_label(),
        })
    }

    /// Runs the postStart hook of the instance just started, as kubelet does before it counts
    /// the start done; a failure is a `FailedPostStartHook` event and the instance is killed
    /// (restarted then by the policy). The pod's deletion cuts a running hook short.
    async fn post_start(
        &mut self,
        i: usize,
        container: &Container,
        id: String,
        hook: k8s_openapi::api::core::v1::LifecycleHandler,
    ) {
        let target = self.hook_target(container, &id);
        let label = self.pod_label();
        let mut updates = self.updates.clone();
        let deleted = async move {
            loop {
                if updates.changed().await.is_err() {
                    return;
                }
                let pod = updates.borrow_and_update();
                if pod
                    .as_ref()
                    .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
                {
                    return;
                }
            }
        };
        let outcome = tokio::select! {
            outcome = hooks::run(&self.shared, &target, &hook, &label) => outcome,
            () = deleted => Ok(()),
        };
        let Err(message) = outcome else {
            return;
        };
        tracing::info!(pod = %label, container = %container.name, %message, "postStart hook failed");
        self.event(Some(i), EventType::Warning, "FailedPostStartHook", message);
        self.event(
            Some(i),
            EventType::Normal,
            "Killing",
            "FailedPostStartHook".into(),
        );
        self.slots[i].stop_probes();
        let grace = self.grace_period();
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move { stop_instance(&shared, &id, None, grace).await });
    }

    /// A create that failed before any process existed: `CreateContainerError`, retried after
    /// the back-off.
    fn create_failed(&mut self, i: usize, now: Instant, message: String) {
        self.event(
            Some(i),
            EventType::Warning,
            "Failed",
            format!("Error: {message}"),
        );
        let wait = self.slots[i]
            .backoff
            .next(now, Duration::ZERO)
            .1
            .max(Duration::from_secs(1));
        self.waiting(i, "CreateContainerError", Some(message), Some(now + wait));
    }

    /// Makes sure container `i`'s image is present under its pull policy; `false` when it is
    /// not (the slot then waits with kubelet's reason).
    async fn ensure_image(&mut self, i: usize, container: &Container, image: &str) -> bool {
        let policy = match container.image_pull_policy.as_deref() {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            Some("IfNotPresent") => PullPolicy::IfNotPresent,
            _ => PullPolicy::default_for(image),
        };
        let secrets = self.pull_secrets().await;
        let present = {
            let store = self.shared.puller.store().clone();
            let image = image.to_string();
            tokio::task::spawn_blocking(move || store.find(&image).ok().flatten())
                .await
                .ok()
                .flatten()
        };
        if present.is_none() && policy != PullPolicy::Never || policy == PullPolicy::Always {
            self.event(
                Some(i),
                EventType::Normal,
                "Pulling",
                format!("Pulling image {image:?}"),
            );
        }
        let asked = Instant::now();
        let ensured = self
            .shared
            .puller
            .ensure(image, policy, &secrets, None)
            .await;
        match ensured {
            Ok(Ensured::Present(_)) => {
                self.event(
                    Some(i),
                    EventType::Normal,
                    "Pulled",
                    format!("Container image {image:?} already present on machine"),
                );
                true
            }
            Ok(Ensured::Pulled(outcome)) => {
                self.event(
                    Some(i),
                    EventType::Normal,
                    "Pulled",
                    outcome.pulled_message(image, asked.elapsed()),
                );
                true
            }
            Err(kmicro_images::Error::NeverPull { .. }) => {
                let message =
                    format!("Container image {image:?} is not present with pull policy of Never");
                self.event(
                    Some(i),
                    EventType::Warning,
                    "ErrImageNeverPull",
                    message.clone(),
                );
                self.waiting(
                    i,
                    "ErrImageNeverPull",
                    Some(message),
                    Some(Instant::now() + backoff::INITIAL),
                );
                false
            }
            Err(err) => {
                let message = format!("{err}");
                self.event(
                    Some(i),
                    EventType::Warning,
                    "Failed",
                    format!("Failed to pull image {image:?}: {message}"),
                );
                self.event(
                    Some(i),
                    EventType::Warning,
                    "Failed",
                    "Error: ErrImagePull".into(),
                );
                self.waiting(
                    i,
                    "ErrImagePull",
                    Some(message),
                    Some(Instant::now() + Duration::from_secs(1)),
                );
                false
            }
        }
    }

    /// The pod's `imagePullSecrets`, read as the node.
    async fn pull_secrets(&self) -> PullSecrets {
        let mut secrets = PullSecrets::new();
        let namespace = self.pod.metadata.namespace.clone().unwrap_or_default();
        let names: Vec<String> = self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.image_pull_secrets.iter().flatten())
            .map(|r| r.name.clone())
            .collect();
        for name in names {
            let path = super::api::core_path(&namespace, "secrets", &name);
            match self.shared.api.get::<Value>(&path).await {
                Ok(Some(secret)) => {
                    use base64::Engine;
                    let b64 = base64::engine::general_purpose::STANDARD;
                    let data: BTreeMap<String, Vec<u8>> = secret["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                b64.decode(v.as_str().unwrap_or("")).unwrap_or_default(),
                            )
                        })
                        .collect();
                    let kind = secret["type"].as_str().unwrap_or("");
                    if let Err(err) =
                        secrets.add_secret(kind, &data, &format!("secret {namespace}/{name}"))
                    {
                        tracing::warn!(%err, "an image pull secret cannot be used");
                    }
                }
                Ok(None) => tracing::warn!(%namespace, %name, "image pull secret not found"),
                Err(err) => {
                    tracing::warn!(err = %format!("{err:#}"), "reading an image pull secret failed")
                }
            }
        }
        secrets
    }

    /// Records a running instance: log writer, exit watcher, probes.
    #[allow(clippy::too_many_arguments)]
    fn running(
        &mut self,
        i: usize,
        container: &Container,
        id: String,
        attempt: u32,
        started_at: Timestamp,
        since: Instant,
        mut stdio: kmicro_container::Stdio,
        adopted: bool,
    ) {
        let path = log_path(&self.log_dir, &container.name, attempt);
        // What attach sessions write to: the container's stdin (kept open here for its whole
        // life) or its terminal, which the log writer below reads.
        let stdin = stdio.stdin.take();
        let tty = stdio
            .tty
            .as_ref()
            .and_then(|t| match (t.try_clone(), t.try_clone()) {
                (Ok(input), Ok(resize)) => Some((input, resize)),
                (Err(err), _) | (_, Err(err)) => {
                    tracing::warn!(%err, "the container's terminal cannot be shared with attach");
                    None
                }
            });
        let writer = match (stdio.stdout, stdio.stderr, stdio.tty) {
            (_, _, Some(tty)) => {
                LogWriter::spawn(&path, tty, tokio::io::empty(), LogConfig::default())
            }
            (Some(out), Some(err), None) => LogWriter::spawn(&path, out, err, LogConfig::default()),
            (Some(out), None, None) => {
                LogWriter::spawn(&path, out, tokio::io::empty(), LogConfig::default())
            }
            (None, Some(err), None) => {
                LogWriter::spawn(&path, tokio::io::empty(), err, LogConfig::default())
            }
            (None, None, None) => LogWriter::spawn(
                &path,
                tokio::io::empty(),
                tokio::io::empty(),
                LogConfig::default(),
            ),
        };
        let follow = match writer {
            Ok(writer) => {
                let follow = writer.follow();
                tokio::spawn(async move {
                    writer.wait().await;
                });
                Some(follow)
            }
            Err(err) => {
                tracing::warn!(%err, path = %path.display(), "the container's log cannot be written");
                None
            }
        };
        let (uid, dir, name) = (
            self.uid.clone(),
            self.log_dir.clone(),
            container.name.clone(),
        );
        self.shared.sessions.running(
            &uid,
            &name,
            RunningContainer {
                id: id.clone(),
                env: self.envs.get(&id).cloned().unwrap_or_default(),
                stdin,
                stdin_once: container.stdin_once.unwrap_or(false),
                tty,
                log: path.clone(),
                follow: follow.clone(),
            },
        );
        self.shared.logs.update(&uid, &dir, &name, |l| {
            l.attempt = Some(attempt);
            l.follow = follow;
            l.waiting_reason.clear();
        });
        // The exit.
        let runtime_shared = Arc::clone(&self.shared);
        let tx = self.tx.clone();
        let wait_id = id.clone();
        tokio::spawn(async move {
            match runtime_shared.runtime.wait(&wait_id).await {
                Ok(exit) => {
                    let _ = tx.send(WorkerEvent::Exited { id: wait_id, exit });
                }
                Err(err) => tracing::warn!(%err, id = %wait_id, "waiting for a container failed"),
            }
        });
        let slot = &mut self.slots[i];
        slot.state = SlotState::Running {
            id: id.clone(),
            started_at,
            since,
        };
        let has_startup = container.startup_probe.is_some();
        let has_readiness = container.readiness_probe.is_some();
        slot.started = !has_startup;
        slot.ready = !has_startup && !has_readiness;
        let (started_tx, started_rx) = watch::channel(!has_startup);
        self.started.insert(id.clone(), started_tx);
        let target = probes::Target {
            pod: Arc::clone(&self.pod),
            container: container.clone(),
            id: id.clone(),
            env: self.envs.get(&id).cloned().unwrap_or_default(),
            pod_ip: self.pod_ip,
            netns: self.sandbox.as_ref().and_then(|s| s.netns_path()),
        };
        let mut handles = Vec::new();
        for (kind, probe) in [
            (ProbeKind::Startup, container.startup_probe.clone()),
            (ProbeKind::Readiness, container.readiness_probe.clone()),
            (ProbeKind::Liveness, container.liveness_probe.clone()),
        ] {
            if let Some(probe) = probe {
                handles.push(probes::spawn(
                    Arc::clone(&self.shared),
                    target.clone(),
                    kind,
                    probe,
                    started_rx.clone(),
                    self.tx.clone(),
                ));
            }
        }
        self.slots[i].probes = handles;
        if adopted {
            tracing::info!(pod = %self.pod_label(), container = %container.name, %id, "container adopted");
        }
    }

    /// Handles an exit or a probe result.
    async fn handle(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::Exited { id, exit } => self.exited(&id, exit).await,
            WorkerEvent::Probe {
                id,
                kind,
                success,
                message,
            } => {
                let Some(i) = self.slots.iter().position(|s| s.running_id() == Some(&id)) else {
                    return;
                };
                let has_readiness = self
                    .container(&self.slots[i].name.clone(), self.slots[i].init)
                    .is_some_and(|c| c.readiness_probe.is_some());
                match (kind, success) {
                    (ProbeKind::Readiness, ready) => self.slots[i].ready = ready,
                    (ProbeKind::Startup, true) => {
                        self.slots[i].started = true;
                        if !has_readiness {
                            self.slots[i].ready = true;
                        }
                        if let Some(tx) = self.started.get(&id) {
                            let _ = tx.send(true);
                        }
                    }
                    (ProbeKind::Liveness, true) => {}
                    (ProbeKind::Startup | ProbeKind::Liveness, false) => {
                        let label = if kind == ProbeKind::Startup {
                            "startup"
                        } else {
                            "liveness"
                        };
                        let name = self.slots[i].name.clone();
                        tracing::debug!(%name, %message, "probe failed: restarting");
                        self.event(
                            Some(i),
                            EventType::Normal,
                            "Killing",
                            format!("Container {name} failed {label} probe, will be restarted"),
                        );
                        self.slots[i].stop_probes();
                        let grace = self.grace_period();
                        let shared = Arc::clone(&self.shared);
                        let hook = self.pre_stop(i, &id);
                        tokio::spawn(async move { stop_instance(&shared, &id, hook, grace).await });
                    }
                }
            }
        }
    }

    /// An instance ended: its termination recorded, its process and root filesystem removed.
    async fn exited(&mut self, id: &str, exit: Exit) {
        let Some(i) = self.slots.iter().position(|s| s.running_id() == Some(id)) else {
            return;
        };
        let (started_at, since) = match &self.slots[i].state {
            SlotState::Running {
                started_at, since, ..
            } => (*started_at, *since),
            _ => return,
        };
        let log = self
            .pod_dir
            .join("containers")
            .join(&self.slots[i].name)
            .join(id);
        let message = read_termination_message(&log);
        let _ = std::fs::remove_file(&log);
        let finished_at =
            Timestamp::try_from(exit.finished_at).unwrap_or_else(|_| Timestamp::now());
        let t = terminated(id, &exit, message, started_at, finished_at, since.elapsed());
        let slot = &mut self.slots[i];
        slot.stop_probes();
        slot.ready = false;
        slot.started = false;
        slot.state = SlotState::Terminated(t);
        self.started.remove(id);
        self.envs.remove(id);
        let (uid, dir, name) = (
            self.uid.clone(),
            self.log_dir.clone(),
            self.slots[i].name.clone(),
        );
        self.shared
            .logs
            .update(&uid, &dir, &name, |l| l.follow = None);
        self.shared.sessions.stopped(&uid, &name, id);
        self.remove_instance(id).await;
    }

    /// Removes an instance's process record and root filesystem.
    async fn remove_instance(&self, id: &str) {
        if let Err(err) = self.shared.runtime.delete(id).await
            && !matches!(err, kmicro_container::Error::NotFound(_))
        {
            tracing::warn!(%err, %id, "deleting a container failed");
        }
        let snapshots = Arc::clone(&self.shared.snapshots);
        let id = id.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(err) = snapshots.remove(&id) {
                tracing::warn!(%err, %id, "removing a container's root filesystem failed");
            }
        })
        .await;
    }

    fn grace_period(&self) -> Duration {
        let seconds = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        Duration::from_secs(seconds.max(0) as u64)
    }

    /// Writes the status when it changed; `false` when the write failed.
    async fn report(&mut self) -> bool {
        let policy = self.restart_policy();
        let current: Vec<Value> = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|c| {
                c.iter()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .collect()
            })
            .unwrap_or_default();
        let mut status = status::pod_status(&StatusInput {
            restart_policy: &policy,
            slots: &self.slots,
            sandbox_ready: self.sandbox.is_some(),
            host_ip: self.shared.node_ip,
            pod_ip: self.pod_ip,
            start_time: self.start_time,
            current_conditions: &current,
            now: Timestamp::now(),
        });
        if self.reported.as_ref() == Some(&status) {
            return true;
        }
        // Transition times of the status just computed are kept next time too.
        let path = format!(
            "{}/status",
            super::api::core_path(
                self.pod.metadata.namespace.as_deref().unwrap_or(""),
                "pods",
                self.pod.metadata.name.as_deref().unwrap_or("")
            )
        );
        let patch = json!({"metadata": {"uid": self.uid}, "status": status});
        match self.shared.api.merge_patch(&path, &patch).await {
            Ok(_) => {
                if let Some(conditions) = status.get("conditions").cloned()
                    && let Ok(conditions) = serde_json::from_value(conditions)
                {
                    let mut pod = (*self.pod).clone();
                    pod.status.get_or_insert_with(Default::default).conditions = Some(conditions);
                    self.pod = Arc::new(pod);
                }
                self.reported = Some(std::mem::take(&mut status));
                true
            }
            Err(err) => {
                tracing::warn!(err = %format!("{err:#}"), pod = %self.pod_label(), "writing the pod status failed");
                false
            }
        }
    }

    /// A finished pod (Succeeded or Failed) gives its resources back: processes, root
    /// filesystems, sandbox, volumes. Its logs stay until the pod is deleted.
    async fn release(&mut self) {
        self.stop_all(Duration::ZERO).await;
        self.cleanup(false).await;
        self.released = true;
    }

    /// The pod is being deleted: stop its containers within the grace period, remove what it
    /// had here, and confirm the deletion.
    async fn terminate(&mut self, gone: bool) {
        let grace = if gone {
            Duration::ZERO
        } else {
            self.grace_period()
        };
        self.stop_all(grace).await;
        self.cleanup(true).await;
        if gone {
            return;
        }
        let (Some(namespace), Some(name)) = (
            self.pod.metadata.namespace.clone(),
            self.pod.metadata.name.clone(),
        ) else {
            return;
        };
        let body = json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        });
        match self
            .shared
            .api
            .delete(&super::api::core_path(&namespace, "pods", &name), &body)
            .await
        {
            Ok(status) if status.is_success() => {
                tracing::debug!(%namespace, %name, "pod deletion confirmed")
            }
            Ok(status)
                if status == http::StatusCode::NOT_FOUND
                    || status == http::StatusCode::CONFLICT => {}
            Ok(status) => {
                tracing::warn!(%namespace, %name, %status, "confirming a pod's deletion failed")
            }
            Err(err) => {
                tracing::warn!(err = %format!("{err:#}"), "confirming a pod's deletion failed")
            }
        }
    }

    /// Stops every running instance: preStop hook, SIGTERM, the grace period, SIGKILL.
    async fn stop_all(&mut self, grace: Duration) {
        let mut stops = Vec::new();
        for i in 0..self.slots.len() {
            self.slots[i].stop_probes();
            let Some(id) = self.slots[i].running_id().map(str::to_string) else {
                continue;
            };
            let name = self.slots[i].name.clone();
            if !grace.is_zero() {
                self.event(
                    Some(i),
                    EventType::Normal,
                    "Killing",
                    format!("Stopping container {name}"),
                );
            }
            let hook = self.pre_stop(i, &id);
            let shared = Arc::clone(&self.shared);
            stops.push(tokio::spawn(async move {
                stop_instance(&shared, &id, hook, grace).await
            }));
        }
        for stop in stops {
            let _ = stop.await;
        }
        // The exits arrive as events; take them now.
        while let Ok(event) = self.rx.try_recv() {
            if let WorkerEvent::Exited { id, exit } = event {
                self.exited(&id, exit).await;
            }
        }
    }

    /// Removes every instance, root filesystem, the sandbox and the pod's directory (and its
    /// logs when `logs`).
    async fn cleanup(&mut self, logs: bool) {
        let ids: Vec<String> = self
            .shared
            .runtime
            .list()
            .into_iter()
            .filter(|c| c.annotations.get(spec::POD_UID) == Some(&self.uid))
            .map(|c| c.id)
            .collect();
        for id in ids {
            self.remove_instance(&id).await;
        }
        self.sandbox = None;
        if let Err(err) = network::detach(&self.shared.network, &self.uid).await {
            tracing::warn!(err = %format!("{err:#}"), "detaching the pod from the network failed");
        }
        if let Err(err) = self.shared.runtime.remove_sandbox(&self.uid)
            && !matches!(err, kmicro_container::Error::SandboxNotFound(_))
        {
            tracing::warn!(%err, "removing the pod sandbox failed");
        }
        self.prepared = None;
        let pod_dir = self.pod_dir.clone();
        let log_dir = self.log_dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(err) = volumes::remove_pod_dir(&pod_dir) {
                tracing::warn!(%err, dir = %pod_dir.display(), "removing the pod's directory failed");
            }
            if logs {
                let _ = std::fs::remove_dir_all(&log_dir);
            }
        })
        .await;
    }

    /// After a restart of kmicro: the status the API holds (terminations, restart counts),
    /// then the containers that kept running, taken back without a restart.
    async fn resume(&mut self, adopted: Vec<Adopted>) {
        let status = self.pod.status.clone().unwrap_or_default();
        let statuses: Vec<_> = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect();
        for s in &statuses {
            let Some(slot) = self.slots.iter_mut().find(|x| s["name"] == x.name.as_str()) else {
                continue;
            };
            if s["containerID"].as_str().is_none_or(str::is_empty) {
                continue;
            }
            slot.attempt = s["restartCount"].as_u64().map(|n| n as u32);
            slot.image_id = s["imageID"].as_str().unwrap_or("").to_string();
            slot.last = parse_terminated(&s["lastState"]["terminated"]);
            if let Some(t) = parse_terminated(&s["state"]["terminated"]) {
                slot.state = SlotState::Terminated(t);
            }
        }
        if (!adopted.is_empty() || self.shared.runtime.sandbox(&self.uid).is_ok())
            && let Err(err) = self.create_sandbox().await
        {
            tracing::warn!(err = %format!("{err:#}"), pod = %self.pod_label(), "resuming the sandbox failed");
        }
        for a in adopted {
            let name = a
                .info
                .annotations
                .get(CONTAINER_NAME)
                .cloned()
                .unwrap_or_default();
            let Some(i) = self.slots.iter().position(|s| s.name == name) else {
                continue;
            };
            let attempt: u32 = a
                .info
                .annotations
                .get(ATTEMPT)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            if self.slots[i].attempt.is_some_and(|known| known > attempt) {
                self.remove_instance(&a.info.id).await;
                continue;
            }
            self.slots[i].attempt = Some(attempt);
            if let Some(image_id) = a.info.annotations.get(IMAGE_ID) {
                self.slots[i].image_id = image_id.clone();
            }
            let created =
                Timestamp::try_from(a.info.created_at).unwrap_or_else(|_| Timestamp::now());
            let age = SystemTime::now()
                .duration_since(a.info.created_at)
                .unwrap_or_default();
            let since = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            let container = self.container(&name, self.slots[i].init);
            match (a.info.exit, a.container, container) {
                (None, Some(running), Some(container)) => {
                    // The runtime kept the instance's environment in its state: probes,
                    // hooks and exec get it as before the restart.
                    let env = if a.info.env.is_empty() {
                        vec![spec::DEFAULT_PATH.to_string()]
                    } else {
                        a.info.env.clone()
                    };
                    self.envs.insert(a.info.id.clone(), env);
                    self.running(
                        i,
                        &container,
                        a.info.id.clone(),
                        attempt,
                        created,
                        since,
                        running.stdio,
                        true,
                    );
                }
                (exit, _, _) => {
                    let exit = exit.unwrap_or(Exit {
                        status: ExitStatus::Unknown,
                        oom_killed: false,
                        finished_at: SystemTime::now(),
                    });
                    self.slots[i].state = SlotState::Running {
                        id: a.info.id.clone(),
                        started_at: created,
                        since,
                    };
                    self.exited(&a.info.id, exit).await;
                }
            }
        }
        // A container the API saw running that is not here any more ended while kmicro was
        // away: its status is unknown (kubelet's ContainerStatusUnknown).
        for s in &statuses {
            let Some(i) = self.slots.iter().position(|x| s["name"] == x.name.as_str()) else {
                continue;
            };
            if s["state"]["running"].is_object()
                && !matches!(self.slots[i].state, SlotState::Running { .. })
            {
                let id = s["containerID"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("kmicro://")
                    .to_string();
                let started_at = s["state"]["running"]["startedAt"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(Timestamp::now);
                self.slots[i].state = SlotState::Terminated(Terminated {
                    id,
                    exit_code: 137,
                    signal: None,
                    reason: "ContainerStatusUnknown".into(),
                    message: Some(
                        "The container could not be located when the pod was terminated".into(),
                    ),
                    started_at,
                    finished_at: Timestamp::now(),
                    ran: Duration::ZERO,
                });
            }
        }
    }
}

/// The termination of an instance from its exit.
fn terminated(
    id: &str,
    exit: &Exit,
    message: Option<String>,
    started_at: Timestamp,
    finished_at: Timestamp,
    ran: Duration,
) -> Terminated {
    let (exit_code, signal) = match exit.status {
        ExitStatus::Exited(code) => (code, None),
        ExitStatus::Signaled(signal) => (128 + signal, Some(signal)),
        ExitStatus::Unknown => (137, None),
    };
    let reason = if exit.oom_killed {
        "OOMKilled"
    } else if exit.status == ExitStatus::Unknown {
        "ContainerStatusUnknown"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Terminated {
        id: id.to_string(),
        exit_code,
        signal,
        reason: reason.into(),
        message,
        started_at,
        finished_at,
        ran,
    }
}

/// A `terminated` state as the API holds it.
fn parse_terminated(v: &Value) -> Option<Terminated> {
    let v = v.as_object()?;
    let time = |k: &str| {
        v.get(k)
            .and_then(|t| t.as_str())
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    Some(Terminated {
        id: v
            .get("containerID")?
            .as_str()?
            .trim_start_matches("kmicro://")
            .to_string(),
        exit_code: v.get("exitCode")?.as_i64()? as i32,
        signal: v.get("signal").and_then(|s| s.as_i64()).map(|s| s as i32),
        reason: v
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or("")
            .to_string(),
        message: v
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string),
        started_at: time("startedAt").unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: time("finishedAt").unwrap_or(Timestamp::UNIX_EPOCH),
        ran: Duration::ZERO,
    })
}

/// An empty termination log the container may write (mode 0666).
fn create_termination_log(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, b"")?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
}

/// The termination message: the first 4096 bytes of the termination log.
fn read_termination_message(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
    (!text.is_empty()).then_some(text)
}

/// A container's preStop hook, ready to run.
struct PreStop {
    handler: k8s_openapi::api::core::v1::LifecycleHandler,
    target: probes::Target,
    init: bool,
    pod_label: String,
}

/// Stops one instance: its preStop hook (within the grace period; a failure is a
/// `FailedPreStopHook` event), SIGTERM, then SIGKILL once the grace period is over; returns
/// when it ended.
async fn stop_instance<T: Transport>(
    shared: &Arc<Shared<T>>,
    id: &str,
    hook: Option<PreStop>,
    grace: Duration,
) {
    let deadline = Instant::now() + grace;
    if let Some(hook) = hook
        && !grace.is_zero()
    {
        let run = hooks::run(shared, &hook.target, &hook.handler, &hook.pod_label);
        if let Ok(Err(message)) = tokio::time::timeout(grace, run).await {
            tracing::info!(pod = %hook.pod_label, container = %hook.target.container.name, %message, "preStop hook failed");
            events::record(
                shared,
                &hook.target.pod,
                Some((&hook.target.container.name, hook.init)),
                EventType::Warning,
                "FailedPreStopHook",
                message,
            );
        }
    }
    if !grace.is_zero() && shared.runtime.kill(id, 15).is_ok() {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, shared.runtime.wait(id))
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = shared.runtime.kill(id, 9);
    let _ = tokio::time::timeout(Duration::from_secs(10), shared.runtime.wait(id)).await;
}
