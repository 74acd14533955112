//! The API calls the workload controllers share: creating and deleting pods with kube's
//! events, claiming objects, and keeping the shared caches current with what was written.

use kmicro_module_sdk::api::Deleted;
use kmicro_module_sdk::events::{self, EventType};
use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;
use kmicro_module_sdk::resource::{Object, ObjectRef, Scope};
use kmicro_module_sdk::{Api, Cache, DeleteParams, Error, ResourceExt, warn};

use std::rc::Rc;

use super::ownership::{self, Claim, Claimant};

/// Records an event about `obj`, logging (not failing) when it cannot be written.
pub fn event<K: Object>(obj: &K, kind: EventType, reason: &str, message: &str, component: &str) {
    if let Err(e) = events::record(obj, kind, reason, message, component) {
        warn!(
            "{component}: event {reason} about {}/{} not recorded: {e}",
            obj.namespace_any(),
            obj.name_any()
        );
    }
}

/// Creates `pod` for `owner`, recording it in `pods` and the event kube records
/// (`SuccessfulCreate`, or `FailedCreate` with the error).
pub fn create_pod<K: Object>(
    pods: &Cache<Pod>,
    owner: &K,
    pod: &Pod,
    component: &str,
) -> Result<Pod, Error> {
    let api = Api::<Pod>::namespaced(owner.namespace_any());
    match api.create(pod) {
        Ok(created) => {
            let message = format!("Created pod: {}", created.name_any());
            pods.record(created.clone());
            event(
                owner,
                EventType::Normal,
                "SuccessfulCreate",
                &message,
                component,
            );
            Ok(created)
        }
        Err(e) => {
            event(
                owner,
                EventType::Warning,
                "FailedCreate",
                &format!("Error creating: {e}"),
                component,
            );
            Err(e)
        }
    }
}

/// Deletes pod `name` of `owner`, keeping `pods` current and recording `SuccessfulDelete`
/// (or `FailedDelete`). A pod already gone is not an error.
pub fn delete_pod<K: Object>(
    pods: &Cache<Pod>,
    owner: &K,
    name: &str,
    component: &str,
) -> Result<(), Error> {
    let namespace = owner.namespace_any();
    let api = Api::<Pod>::namespaced(namespace);
    match api.delete(name, &DeleteParams::default()) {
        Ok(outcome) => {
            match outcome {
                Deleted::Pending(pod) => {
                    pods.record(*pod);
                }
                Deleted::Gone => {
                    pods.forget(&ObjectRef::new(namespace, name));
                }
            }
            let message = format!("Deleted pod: {name}");
            event(
                owner,
                EventType::Normal,
                "SuccessfulDelete",
                &message,
                component,
            );
            Ok(())
        }
        Err(Error::Api(e)) if e.is_not_found() => {
            pods.forget(&ObjectRef::new(namespace, name));
            Ok(())
        }
        Err(e) => {
            event(
                owner,
                EventType::Warning,
                "FailedDelete",
                &format!("Error deleting: {e}"),
                component,
            );
            Err(e)
        }
    }
}

/// Claims `candidates` (objects of `cache` in `owner`'s namespace) for `owner`: adopts
/// orphans `selected` answers true for and releases controlled objects it answers false for,
/// answering the objects `owner` controls afterwards. Adoption first re-reads the owner from
/// the API, as kube does, so a deleted and re-created owner never adopts under a stale uid.
pub fn claim_all<O, K>(
    cache: &Cache<K>,
    owner: &O,
    candidates: Vec<Rc<K>>,
    selected: impl Fn(&K) -> bool,
) -> Result<Vec<Rc<K>>, Error>
where
    O: Object,
    O::Scope: Scope,
    K: Object,
    K::Scope: Scope,
{
    let namespace = owner.namespace_any();
    let claimant = Claimant {
        uid: owner.uid_any(),
        deleting: owner.is_deleting(),
    };
    let api = Api::<K>::namespaced(namespace);
    let mut owner_checked = false;
    let mut claimed = Vec::new();
    for obj in candidates {
        match ownership::claim(claimant, obj.as_ref(), selected(&obj)) {
            Claim::Keep => claimed.push(obj),
            Claim::Ignore => {}
            Claim::Release => {
                if let Some(released) = ownership::release(&api, obj.as_ref(), claimant.uid)? {
                    cache.record(released);
                }
            }
            Claim::Adopt => {
                if !owner_checked {
                    let fresh = Api::<O>::namespaced(namespace).get_opt(owner.name_any())?;
                    if fresh.is_none_or(|f| f.uid_any() != claimant.uid || f.is_deleting()) {
                        return Err(Error::msg(format!(
                            "{}/{} changed since it was read; not adopting",
                            namespace,
                            owner.name_any()
                        )));
                    }
                    owner_checked = true;
                }
                if let Some(adopted) =
                    ownership::adopt(&api, obj.as_ref(), owner.controller_reference())?
                {
                    cache.record(adopted.clone());
                    claimed.push(Rc::new(adopted));
                }
            }
        }
    }
    Ok(claimed)
}

/// Writes the status `set_status` gives `obj`, retrying on a fresh copy when the object
/// changed meanwhile (a conflict), and keeping `cache` current. An object gone is not an
/// error.
pub fn write_status<K>(cache: &Cache<K>, obj: &K, set_status: impl Fn(&mut K)) -> Result<(), Error>
where
    K: Object,
    K::Scope: Scope,
{
    const ATTEMPTS: usize = 3;
    let api = Api::<K>::namespaced(obj.namespace_any());
    let mut current = obj.clone();
    for _ in 0..ATTEMPTS {
        set_status(&mut current);
        match api.replace_status(&current) {
            Ok(stored) => {
                cache.record(stored);
                return Ok(());
            }
            Err(Error::Api(e)) if e.is_not_found() => return Ok(()),
            Err(Error::Api(e)) if e.is_conflict() => match api.get_opt(obj.name_any())? {
                Some(fresh) => current = fresh,
                None => return Ok(()),
            },
            Err(e) => return Err(e),
        }
    }
    Err(Error::msg(format!(
        "{}/{} kept changing while its status was written",
        obj.namespace_any(),
        obj.name_any()
    )))
}
