//! The Deployment controller (kube's `deployment` controller): one ReplicaSet per template
//! (`<deployment>-<pod-template-hash>`), rolled over by `RollingUpdate` (maxSurge and
//! maxUnavailable) or `Recreate`, scaled proportionally while a rollout is under way, paused
//! and resumed, its history kept to `revisionHistoryLimit`, and its status and conditions as
//! `kubectl rollout status` reads them. `kubectl rollout undo` works as with kube: kubectl
//! copies an old ReplicaSet's template into the Deployment, and that ReplicaSet becomes the
//! new one again with the next revision.

mod plan;
mod status;
mod util;

use std::collections::BTreeMap;

use kmicro_module_sdk::events::EventType;
use kmicro_module_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kmicro_module_sdk::{Action, Api, Cache, Error, Key, ResourceExt, time};

use crate::caches::Caches;
use crate::workload::actions::{claim_all, event};
use crate::workload::hash::template_hash;
use crate::workload::{controller_key, pods, selector_of};

use util::{
    POD_TEMPLATE_HASH, REVISION, equal_ignore_hash, find_new, is_paused, is_rolling, max_revision,
    max_surge, min_ready_seconds, progress_deadline, replicas, replicas_annotations_need_update,
    rs_actual, rs_replicas, set_new_rs_annotations, set_replicas_annotations,
};

/// The key kind this controller reconciles.
pub const KIND: &str = "deployment";

/// The name kube's Deployment controller reports events as.
const COMPONENT: &str = "deployment-controller";

/// How often an update that meets a conflict is retried on a fresh copy.
const CONFLICT_RETRIES: usize = 3;

/// Keys to queue when a Deployment changes: itself.
pub fn keys_of_deployment(d: &Deployment) -> Vec<Key> {
    vec![Key::new(KIND, d.namespace_any(), d.name_any())]
}

/// Keys to queue when a ReplicaSet changes: the Deployment controlling it, or for an orphan
/// every Deployment of its namespace selecting it.
pub fn keys_of_owned(rs: &ReplicaSet, deployments: &Cache<Deployment>) -> Vec<Key> {
    if rs.controller_owner().is_some() {
        return controller_key(rs, "Deployment", KIND).into_iter().collect();
    }
    deployments
        .in_namespace(rs.namespace_any())
        .iter()
        .filter(|d| {
            d.spec
                .as_ref()
                .and_then(|s| selector_of(&s.selector))
                .is_some_and(|sel| sel.matches(rs.labels()))
        })
        .map(|d| Key::new(KIND, d.namespace_any(), d.name_any()))
        .collect()
}

/// Keys to queue when a pod changes: a `Recreate` Deployment waits for its old pods to be
/// gone, which no ReplicaSet status reports.
pub fn keys_of_pod(
    pod: &Pod,
    replica_sets: &Cache<ReplicaSet>,
    deployments: &Cache<Deployment>,
) -> Vec<Key> {
    let Some(owner) = pod.controller_owner().filter(|o| o.kind == "ReplicaSet") else {
        return Vec::new();
    };
    let Some(rs) = replica_sets.get(pod.namespace_any(), &owner.name) else {
        return Vec::new();
    };
    let Some(key) = controller_key(rs.as_ref(), "Deployment", KIND) else {
        return Vec::new();
    };
    match deployments.get(&key.namespace, &key.name) {
        Some(d) if !is_rolling(&d) => vec![key],
        _ => Vec::new(),
    }
}

/// Brings the Deployment at `key` in line.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(d) = caches.deployments.get(&key.namespace, &key.name) else {
        return Ok(Action::Done);
    };
    let d = (*d).clone();
    let now = time::now_millis();
    let spec = d.spec.clone().unwrap_or_default();
    let Some(selector) = selector_of(&spec.selector) else {
        return selecting_all(caches, d);
    };
    let candidates = caches.replica_sets.in_namespace(&key.namespace);
    let claimed = claim_all(&caches.replica_sets, &d, candidates, |rs| {
        selector.matches(rs.labels())
    })?;
    let mut sync = Sync {
        caches,
        api: Api::namespaced(&key.namespace),
        sets: claimed.iter().map(|rs| (**rs).clone()).collect(),
        d,
        now,
    };
    if sync.d.is_deleting() {
        return sync.status_only();
    }
    sync.check_paused_conditions()?;
    if is_paused(&sync.d) {
        return sync.scale_only();
    }
    sync.new_and_old(false)?;
    if plan::is_scaling_event(&sync.d, &sync.sets) {
        return sync.scale_only();
    }
    if is_rolling(&sync.d) {
        sync.rolling()
    } else {
        sync.recreate()
    }
}

/// kube refuses Deployments with an empty selector: a warning, and the generation observed.
fn selecting_all(caches: &Caches, mut d: Deployment) -> Result<Action, Error> {
    event(
        &d,
        EventType::Warning,
        "SelectingAll",
        "This deployment is selecting all pods. A non-empty selector is required.",
        COMPONENT,
    );
    let status = d.status.get_or_insert_with(Default::default);
    if status.observed_generation < d.metadata.generation {
        status.observed_generation = d.metadata.generation;
        let stored = Api::<Deployment>::namespaced(d.namespace_any()).replace_status(&d)?;
        caches.deployments.record(stored);
    }
    Ok(Action::Done)
}

/// One sync of one Deployment: the Deployment and its ReplicaSets as last written.
struct Sync<'a> {
    caches: &'a Caches,
    api: Api<ReplicaSet>,
    d: Deployment,
    sets: Vec<ReplicaSet>,
    now: u64,
}

impl Sync<'_> {
    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.d.namespace_any())
    }

    /// Writes `self.d`'s status.
    fn write_status(&mut self) -> Result<(), Error> {
        let stored = self.deployments().replace_status(&self.d)?;
        self.caches.deployments.record(stored.clone());
        self.d = stored;
        Ok(())
    }

    /// Sets the Deployment's revision annotation (kube's `SetDeploymentRevision`), writing
    /// the Deployment when it changes.
    fn set_revision(&mut self, revision: &str) -> Result<(), Error> {
        if self.d.annotations().get(REVISION).map(String::as_str) == Some(revision) {
            return Ok(());
        }
        for _ in 0..CONFLICT_RETRIES {
            let mut d = self.d.clone();
            d.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(REVISION.to_string(), revision.to_string());
            match self.deployments().replace(&d) {
                Ok(stored) => {
                    self.caches.deployments.record(stored.clone());
                    self.d = stored;
                    return Ok(());
                }
                Err(Error::Api(e)) if e.is_conflict() => {
                    self.d = self.deployments().get(self.d.name_any())?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::msg(
            "the Deployment kept changing while its revision was set",
        ))
    }

    /// Replaces ReplicaSet `index` after `change`, retrying on a fresh copy on conflicts.
    fn update_rs(&mut self, index: usize, change: impl Fn(&mut ReplicaSet)) -> Result<(), Error> {
        let mut rs = self.sets[index].clone();
        for _ in 0..CONFLICT_RETRIES {
            change(&mut rs);
            match self.api.replace(&rs) {
                Ok(stored) => {
                    self.caches.replica_sets.record(stored.clone());
                    self.sets[index] = stored;
                    return Ok(());
                }
                Err(Error::Api(e)) if e.is_conflict() => rs = self.api.get(rs.name_any())?,
                Err(e) => return Err(e),
            }
        }
        Err(Error::msg(format!(
            "replica set {} kept changing",
            rs.name_any()
        )))
    }

    /// kube's `scaleReplicaSet`: sets the size and the replica annotations; answers whether
    /// the size changed (then with a `ScalingReplicaSet` event).
    fn scale(&mut self, index: usize, to: i32) -> Result<bool, Error> {
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let from = rs_replicas(&self.sets[index]);
        let resize = from != to;
        if !resize && !replicas_annotations_need_update(&self.sets[index], desired, max) {
            return Ok(false);
        }
        self.update_rs(index, |rs| {
            rs.spec.get_or_insert_with(Default::default).replicas = Some(to);
            set_replicas_annotations(rs, desired, max);
        })?;
        if resize {
            let direction = if from < to { "up" } else { "down" };
            let message = format!(
                "Scaled {direction} replica set {} from {from} to {to}",
                self.sets[index].name_any()
            );
            event(
                &self.d,
                EventType::Normal,
                "ScalingReplicaSet",
                &message,
                COMPONENT,
            );
        }
        Ok(resize)
    }

    /// kube's `scaleReplicaSetAndRecordEvent`: [`Self::scale`] unless the size is right.
    fn scale_if_resized(&mut self, index: usize, to: i32) -> Result<bool, Error> {
        if rs_replicas(&self.sets[index]) == to {
            return Ok(false);
        }
        self.scale(index, to)
    }

    /// kube's `getAllReplicaSetsAndSyncRevision`: finds (or, with `create`, creates) the new
    /// ReplicaSet and brings revisions up to date; answers its index.
    fn new_and_old(&mut self, create: bool) -> Result<Option<usize>, Error> {
        let new = find_new(&self.d, &self.sets);
        let old_max = max_revision(
            self.sets
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != new)
                .map(|(_, rs)| rs),
        );
        let new_revision = old_max + 1;
        match new {
            Some(index) => self.sync_existing(index, new_revision).map(Some),
            None if create => self.create_new(new_revision).map(Some),
            None => Ok(None),
        }
    }

    fn sync_existing(&mut self, index: usize, new_revision: i64) -> Result<usize, Error> {
        let mut copy = self.sets[index].clone();
        let annotations_changed = set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
        let min_ready = min_ready_seconds(&self.d);
        let rs_min_ready = copy
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        if annotations_changed || rs_min_ready != min_ready {
            let d = self.d.clone();
            self.update_rs(index, |rs| {
                set_new_rs_annotations(&d, rs, new_revision, true);
                rs.spec
                    .get_or_insert_with(Default::default)
                    .min_ready_seconds = Some(min_ready);
            })?;
        }
        let revision = self.sets[index]
            .annotations()
            .get(REVISION)
            .cloned()
            .unwrap_or_default();
        self.set_revision(&revision)?;
        let has_progressing = self
            .d
            .status
            .as_ref()
            .is_some_and(|s| status::get(s, status::PROGRESSING).is_some());
        if progress_deadline(&self.d).is_some() && !has_progressing {
            let message = format!("Found new replica set {:?}", self.sets[index].name_any());
            let c = status::condition(
                status::PROGRESSING,
                "True",
                status::FOUND_NEW_RS,
                &message,
                self.now,
            );
            status::set(self.d.status.get_or_insert_with(Default::default), c);
            self.write_status()?;
        }
        Ok(index)
    }

    fn create_new(&mut self, new_revision: i64) -> Result<usize, Error> {
        let spec = self.d.spec.clone().unwrap_or_default();
        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = template_hash(&spec.template, collision_count);
        let mut template = spec.template.clone();
        let labels = template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        labels.insert(POD_TEMPLATE_HASH.to_string(), hash.clone());
        let labels = labels.clone();
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.to_string(), hash.clone());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", self.d.name_any())),
                namespace: Some(self.d.namespace_any().to_string()),
                labels: Some(labels),
                owner_references: Some(vec![self.d.controller_reference()]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: Some(spec.min_ready_seconds.unwrap_or(0)),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = self.sets.iter().chain(std::iter::once(&rs)).collect();
        let size = util::new_rs_new_replicas(&self.d, &all, &rs);
        rs.spec.get_or_insert_with(Default::default).replicas = Some(size);
        set_new_rs_annotations(&self.d, &mut rs, new_revision, false);

        let (index, created) = match self.api.create(&rs) {
            Ok(stored) => {
                self.caches.replica_sets.record(stored.clone());
                self.sets.push(stored);
                (self.sets.len() - 1, true)
            }
            Err(Error::Api(e)) if e.is_already_exists() => {
                let existing = self.api.get(rs.name_any())?;
                let ours = existing
                    .controller_owner()
                    .is_some_and(|o| o.uid == self.d.uid_any());
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if !(ours && same) {
                    let status = self.d.status.get_or_insert_with(Default::default);
                    status.collision_count = Some(collision_count.unwrap_or(0).saturating_add(1));
                    self.write_status()?;
                    return Err(Error::msg(format!(
                        "replica set {} exists with another template: hash collision, collisionCount raised",
                        rs.name_any()
                    )));
                }
                self.caches.replica_sets.record(existing.clone());
                match self
                    .sets
                    .iter()
                    .position(|s| s.uid_any() == existing.uid_any())
                {
                    Some(i) => (i, false),
                    None => {
                        self.sets.push(existing);
                        (self.sets.len() - 1, false)
                    }
                }
            }
            Err(e) => {
                if progress_deadline(&self.d).is_some() {
                    let message =
                        format!("Failed to create new replica set {:?}: {e}", rs.name_any());
                    let c = status::condition(
                        status::PROGRESSING,
                        "False",
                        status::FAILED_RS_CREATE,
                        &message,
                        self.now,
                    );
                    status::set(self.d.status.get_or_insert_with(Default::default), c);
                    self.write_status()?;
                }
                return Err(e);
            }
        };
        if created && size > 0 {
            let message = format!("Scaled up replica set {} from 0 to {size}", rs.name_any());
            event(
                &self.d,
                EventType::Normal,
                "ScalingReplicaSet",
                &message,
                COMPONENT,
            );
        }
        self.set_revision(&new_revision.to_string())?;
        if created && progress_deadline(&self.d).is_some() {
            let message = format!("Created new replica set {:?}", rs.name_any());
            let c = status::condition(
                status::PROGRESSING,
                "True",
                status::NEW_RS_CREATED,
                &message,
                self.now,
            );
            status::set(self.d.status.get_or_insert_with(Default::default), c);
            self.write_status()?;
        }
        Ok(index)
    }

    /// kube's `checkPausedConditions`.
    fn check_paused_conditions(&mut self) -> Result<(), Error> {
        if let Some(new) = status::paused_condition(&self.d, is_paused(&self.d), self.now) {
            self.d.status = Some(new);
            self.write_status()?;
        }
        Ok(())
    }

    /// kube's `syncStatusOnly` (a Deployment being deleted).
    fn status_only(&mut self) -> Result<Action, Error> {
        let new = self.new_and_old(false)?;
        self.sync_status(new)
    }

    /// kube's `sync`: scaling (and history cleanup while paused), no rollout.
    fn scale_only(&mut self) -> Result<Action, Error> {
        let new = self.new_and_old(false)?;
        for resize in plan::scale(&self.d, &self.sets, new) {
            self.scale(resize.index, resize.to)?;
        }
        if is_paused(&self.d) {
            self.cleanup(new)?;
        }
        self.sync_status(new)
    }

    /// kube's `rolloutRolling`: one step of the rolling update.
    fn rolling(&mut self) -> Result<Action, Error> {
        let new = self.new_and_old(true)?;
        if let Some(index) = new
            && let Some(resize) = plan::scale_new(&self.d, &self.sets, index)
            && self.scale_if_resized(resize.index, resize.to)?
        {
            return self.sync_rollout_status(new);
        }
        let mut scaled_down = false;
        for resize in plan::scale_old(&self.d, &self.sets, new) {
            scaled_down |= self.scale_if_resized(resize.index, resize.to)?;
        }
        if scaled_down {
            return self.sync_rollout_status(new);
        }
        self.cleanup_when_complete(new)?;
        self.sync_rollout_status(new)
    }

    /// kube's `rolloutRecreate`: old pods all gone before the new ReplicaSet grows.
    fn recreate(&mut self) -> Result<Action, Error> {
        let mut new = self.new_and_old(false)?;
        let mut scaled_down = false;
        for resize in plan::recreate_scale_down(&self.sets, new) {
            scaled_down |= self.scale_if_resized(resize.index, resize.to)?;
        }
        if scaled_down || self.old_pods_running(new) {
            return self.sync_rollout_status(new);
        }
        if new.is_none() {
            new = self.new_and_old(true)?;
        }
        if let Some(index) = new {
            self.scale_if_resized(index, replicas(&self.d))?;
        }
        self.cleanup_when_complete(new)?;
        self.sync_rollout_status(new)
    }

    /// kube's `oldPodsRunning`: old ReplicaSets report pods, or pods of theirs are not yet
    /// finished (terminating ones included).
    fn old_pods_running(&self, new: Option<usize>) -> bool {
        let old_uids: Vec<&str> = (0..self.sets.len())
            .filter(|&i| Some(i) != new)
            .map(|i| self.sets[i].uid_any())
            .collect();
        if (0..self.sets.len())
            .filter(|&i| Some(i) != new)
            .any(|i| rs_actual(&self.sets[i]) > 0)
        {
            return true;
        }
        self.caches
            .pods
            .in_namespace(self.d.namespace_any())
            .iter()
            .filter(|p| {
                p.controller_owner()
                    .is_some_and(|o| old_uids.contains(&o.uid.as_str()))
            })
            .any(|p| !pods::is_terminal(p))
    }

    fn cleanup_when_complete(&mut self, new: Option<usize>) -> Result<(), Error> {
        let current = self.d.status.clone().unwrap_or_default();
        if status::is_complete(&self.d, &current) {
            self.cleanup(new)?;
        }
        Ok(())
    }

    /// kube's `cleanupDeployment`: old ReplicaSets beyond `revisionHistoryLimit` deleted.
    fn cleanup(&mut self, new: Option<usize>) -> Result<(), Error> {
        for index in plan::history_to_delete(&self.d, &self.sets, new) {
            let name = self.sets[index].name_any().to_string();
            match self.api.delete(&name, &Default::default()) {
                Ok(_) => {}
                Err(Error::Api(e)) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// kube's `syncDeploymentStatus`: the counts and `Available`, written when changed.
    fn sync_status(&mut self, new: Option<usize>) -> Result<Action, Error> {
        let status = status::calculate(&self.d, &self.sets, new, self.now);
        if self.d.status.as_ref() != Some(&status) {
            self.d.status = Some(status);
            self.write_status()?;
        }
        Ok(Action::Done)
    }

    /// kube's `syncRolloutStatus`: counts and conditions written when changed; a rollout
    /// that may stall is looked at again when its deadline passes.
    fn sync_rollout_status(&mut self, new: Option<usize>) -> Result<Action, Error> {
        let status = status::rollout(&self.d, &self.sets, new, self.now);
        let requeue = status::stuck_requeue(&self.d, &status, self.now);
        if self.d.status.as_ref() != Some(&status) {
            self.d.status = Some(status);
            self.write_status()?;
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }
}
