//! The service proxy (kube-proxy's job) and servicelb (k3s's), in the kernel: Services and
//! EndpointSlices, listed and watched through the in-process API as `system:kube-proxy`,
//! become iptables rules (`kmicro_network::proxy`) in the kernel's packet path. Bursts of
//! changes are coalesced (a short debounce); each sync rebuilds every rule from the state
//! and applies it atomically, so a start after a crash converges without duplicates. The
//! rules are removed on shutdown. servicelb ([`servicelb`]) adds the LoadBalancer ports to
//! the same rules and writes the Services' `status.loadBalancer` as its own user.

pub mod access;
pub mod servicelb;
pub mod translate;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kmicro_apiserver::Api;
use kmicro_network::proxy::{self, ProxyConfig, ProxyState};
use kmicro_network::{Ipv4Cidr, Protocol};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::informer::{self, Change};
use crate::modules::kernel_user;
use crate::modules::local::{LocalClient, LocalError, encode_segment};
use translate::ObjectKey;

/// How long a burst of changes is collected before the rules are rebuilt.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long a failed sync waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How often the rules are rewritten even when nothing changed (repairing outside edits).
const RESYNC: Duration = Duration::from_secs(300);

/// What the proxy needs to know about this node.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// `--cni-bridge`: names the instance (its chain prefix) and gets `route_localnet`.
    pub bridge: String,
    /// `--cluster-cidr`: traffic to cluster IPs from elsewhere is masqueraded.
    pub cluster_cidr: Ipv4Cidr,
    /// The node's InternalIP: servicelb's ingress address.
    pub node_ip: IpAddr,
    /// Whether servicelb runs (k3s's `--disable servicelb` turns it off).
    pub servicelb: bool,
    /// The API server's port, which no LoadBalancer Service may take.
    pub api_port: u16,
}

/// The running proxy; [`ServiceProxy::shutdown`] stops it and removes its rules.
pub struct ServiceProxy {
    task: JoinHandle<()>,
    watches: Vec<JoinHandle<()>>,
    prefix: String,
}

impl ServiceProxy {
    /// Grants the proxy's and servicelb's users their roles, then starts following Services
    /// and EndpointSlices.
    pub async fn start(api: Arc<Api>, options: ProxyOptions) -> anyhow::Result<Self> {
        let admin = LocalClient::new(Arc::clone(&api), kernel_user());
        access::ensure(&admin)
            .await
            .map_err(|e| anyhow::anyhow!("writing the service proxy's RBAC: {e}"))?;
        let prefix = proxy::chain_prefix(&options.bridge);
        let config = ProxyConfig::new(prefix.clone(), options.cluster_cidr);
        tracing::info!(chain_prefix = %prefix, servicelb = options.servicelb, "service proxy starting");
        let reader = admin.as_user(access::user(access::PROXY_USER));
        let (tx, rx) = mpsc::unbounded_channel();
        let watches: Vec<JoinHandle<()>> = [
            (Kind::Services, "/api/v1/services"),
            (Kind::Slices, "/apis/discovery.k8s.io/v1/endpointslices"),
        ]
        .into_iter()
        .map(|(kind, collection)| {
            let tx: mpsc::UnboundedSender<(Kind, Change)> = tx.clone();
            tokio::spawn(informer::follow(
                reader.clone(),
                collection.to_string(),
                move |change| match tx.send((kind, change)) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                },
            ))
        })
        .collect();
        let proxier = Proxier {
            config,
            lb_client: admin.as_user(access::user(access::SERVICELB_USER)),
            options,
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            listed: (false, false),
            applied: None,
            warned: BTreeSet::new(),
        };
        let task = tokio::spawn(proxier.run(rx));
        Ok(ServiceProxy {
            task,
            watches,
            prefix,
        })
    }

    /// Stops following the API and removes every rule of the instance.
    pub async fn shutdown(self) {
        self.task.abort();
        for w in &self.watches {
            w.abort();
        }
        let _ = self.task.await;
        let prefix = self.prefix.clone();
        match tokio::task::spawn_blocking(move || proxy::remove(&prefix)).await {
            Ok(Ok(())) => {
                tracing::info!(chain_prefix = %self.prefix, "service proxy rules removed")
            }
            Ok(Err(err)) => tracing::warn!(%err, "removing the service proxy's rules failed"),
            Err(err) => tracing::warn!(%err, "removing the service proxy's rules failed"),
        }
    }
}

/// Which collection a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Services.
    Services,
    /// EndpointSlices.
    Slices,
}

struct Proxier {
    config: ProxyConfig,
    options: ProxyOptions,
    lb_client: LocalClient,
    services: BTreeMap<ObjectKey, Value>,
    slices: BTreeMap<ObjectKey, Value>,
    /// Whether Services and EndpointSlices were listed once (no sync before both are).
    listed: (bool, bool),
    /// The state last applied and when.
    applied: Option<(ProxyState, Instant)>,
    /// The pending LoadBalancer Services already told about by an event.
    warned: BTreeSet<ObjectKey>,
}

fn key_of(obj: &Value) -> ObjectKey {
    let text = |k: &str| obj["metadata"][k].as_str().unwrap_or_default().to_string();
    (text("namespace"), text("name"))
}

impl Proxier {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<(Kind, Change)>) {
        let mut due: Option<tokio::time::Instant> = None;
        let mut resync = tokio::time::interval(RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let sleep = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                change = rx.recv() => {
                    let Some((kind, change)) = change else { return };
                    self.record(kind, change);
                    if self.listed == (true, true) && due.is_none() {
                        due = Some(tokio::time::Instant::now() + DEBOUNCE);
                    }
                }
                _ = sleep => {
                    due = match self.sync().await {
                        Ok(()) => None,
                        Err(err) => {
                            tracing::warn!(%err, "service proxy sync failed; retrying");
                            Some(tokio::time::Instant::now() + RETRY)
                        }
                    };
                }
                _ = resync.tick() => {
                    if self.listed == (true, true) && due.is_none() {
                        self.applied = None;
                        due = Some(tokio::time::Instant::now());
                    }
                }
            }
        }
    }

    fn record(&mut self, kind: Kind, change: Change) {
        match change {
            Change::Listed(items) => {
                let map = self.map(kind);
                map.clear();
                for item in items {
                    map.insert(key_of(&item), item);
                }
                match kind {
                    Kind::Services => self.listed.0 = true,
                    Kind::Slices => self.listed.1 = true,
                }
            }
            Change::Applied(obj) => {
                self.map(kind).insert(key_of(&obj), obj);
            }
            Change::Deleted(obj) => {
                self.map(kind).remove(&key_of(&obj));
            }
        }
    }

    fn map(&mut self, kind: Kind) -> &mut BTreeMap<ObjectKey, Value> {
        match kind {
            Kind::Services => &mut self.services,
            Kind::Slices => &mut self.slices,
        }
    }

    /// Rebuilds the rules from the state (applied when they differ from the last applied,
    /// or after [`RESYNC`]), then brings servicelb's statuses in line.
    async fn sync(&mut self) -> anyhow::Result<()> {
        let services: Vec<Service> = self
            .services
            .values()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect();
        let slices: Vec<EndpointSlice> = self
            .slices
            .values()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect();
        let admission = if self.options.servicelb {
            servicelb::admit(
                &services,
                &[(
                    (Protocol::Tcp, self.options.api_port),
                    "the API server".to_string(),
                )],
            )
        } else {
            servicelb::Admission::default()
        };
        let state = translate::proxy_state(&services, &slices, &admission.admitted);
        if self.applied.as_ref().map(|(s, _)| s) != Some(&state) {
            let config = self.config.clone();
            let bridge = self.options.bridge.clone();
            let st = state.clone();
            let started = Instant::now();
            tokio::task::spawn_blocking(move || {
                proxy::prepare_host(&bridge)?;
                proxy::apply(&config, &st)
            })
            .await??;
            tracing::debug!(
                service_ports = state.services.len(),
                took_ms = started.elapsed().as_millis() as u64,
                "service proxy rules applied"
            );
            self.applied = Some((state, Instant::now()));
        }
        if self.options.servicelb {
            self.write_statuses(&services, &admission).await?;
        }
        Ok(())
    }

    async fn write_statuses(
        &mut self,
        services: &[Service],
        admission: &servicelb::Admission,
    ) -> Result<(), LocalError> {
        for svc in services.iter().filter(|s| servicelb::handles(s)) {
            let key = (
                svc.metadata.namespace.clone().unwrap_or_default(),
                svc.metadata.name.clone().unwrap_or_default(),
            );
            let admitted = admission.admitted.contains_key(&key);
            let wanted = servicelb::wanted_status(admitted.then_some(self.options.node_ip));
            let Some(raw) = self.services.get(&key) else {
                continue;
            };
            if !servicelb::status_matches(&raw["status"]["loadBalancer"], &wanted) {
                let mut body = raw.clone();
                body["status"]["loadBalancer"] = wanted;
                let path = format!(
                    "/api/v1/namespaces/{}/services/{}/status",
                    encode_segment(&key.0),
                    encode_segment(&key.1)
                );
                match self
                    .lb_client
                    .send(
                        Method::PUT,
                        &path,
                        Some("application/json"),
                        Bytes::from(body.to_string()),
                    )
                    .await
                {
                    // Changed or gone meanwhile: its event brings it back here.
                    Err(e) if e.code == 409 || e.code == 404 => {}
                    other => {
                        other?;
                    }
                }
            }
            match admission.pending.get(&key) {
                Some(message) if !self.warned.contains(&key) => {
                    self.warn_pending(raw.clone(), message).await?;
                    self.warned.insert(key);
                }
                Some(_) => {}
                None => {
                    self.warned.remove(&key);
                }
            }
        }
        let live: BTreeSet<&ObjectKey> = self.services.keys().collect();
        self.warned.retain(|k| live.contains(k));
        Ok(())
    }

    async fn warn_pending(&self, svc: Value, message: &str) -> Result<(), LocalError> {
        let (ns, name) = key_of(&svc);
        tracing::warn!(service = %format!("{ns}/{name}"), "{message}");
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{name}."), "namespace": ns},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Service", "namespace": ns, "name": name,
                "uid": svc["metadata"]["uid"], "resourceVersion": svc["metadata"]["resourceVersion"],
            },
            "reason": servicelb::PENDING_REASON,
            "message": message,
            "type": "Warning",
            "source": {"component": "service-lb-controller"},
            "reportingComponent": "service-lb-controller",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        let path = format!("/api/v1/namespaces/{}/events", encode_segment(&ns));
        self.lb_client
            .send(
                Method::POST,
                &path,
                Some("application/json"),
                Bytes::from(event.to_string()),
            )
            .await
            .map(|_| ())
    }
}
