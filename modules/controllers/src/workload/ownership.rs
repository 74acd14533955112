//! Controller references: which objects a controller claims (kube's `ControllerRefManager`):
//! it keeps what it controls and still selects, adopts orphans it selects, and releases what
//! it controls but no longer selects.

use kmicro_module_sdk::api::PatchType;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kmicro_module_sdk::resource::Object;
use kmicro_module_sdk::resource::Scope;
use kmicro_module_sdk::serde_json::json;
use kmicro_module_sdk::{Api, Error, ResourceExt, WriteParams};

/// What a controller does with one object of its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by it and selected: it is the controller's.
    Keep,
    /// An orphan it selects: to be adopted.
    Adopt,
    /// Controlled by it but no longer selected: to be released.
    Release,
    /// Not its concern (another controller's, or an orphan it does not select).
    Ignore,
}

/// The owner's side of a claim.
#[derive(Debug, Clone, Copy)]
pub struct Claimant<'a> {
    /// The owner's uid.
    pub uid: &'a str,
    /// Whether the owner is being deleted (it then adopts and releases nothing).
    pub deleting: bool,
}

/// What `owner` does with `obj`, whose labels `selected` by the owner's selector or not.
pub fn claim<K: ResourceExt>(owner: Claimant, obj: &K, selected: bool) -> Claim {
    match obj.controller_owner() {
        Some(controller) if controller.uid != owner.uid => Claim::Ignore,
        Some(_) if selected => Claim::Keep,
        Some(_) if owner.deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner.deleting || !selected || obj.is_deleting() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// Makes `owner` the controller of `obj` (a merge patch conditional on `obj`'s
/// resourceVersion); answers the patched object, or none when it is gone.
pub fn adopt<K: Object>(api: &Api<K>, obj: &K, owner: OwnerReference) -> Result<Option<K>, Error>
where
    K::Scope: Scope,
{
    let mut refs: Vec<OwnerReference> = obj
        .owner_references()
        .iter()
        .filter(|r| r.uid != owner.uid)
        .cloned()
        .collect();
    refs.push(owner);
    patch_owners(api, obj, refs)
}

/// Removes `owner_uid` from `obj`'s owners; answers the patched object, or none when gone.
pub fn release<K: Object>(api: &Api<K>, obj: &K, owner_uid: &str) -> Result<Option<K>, Error>
where
    K::Scope: Scope,
{
    let refs: Vec<OwnerReference> = obj
        .owner_references()
        .iter()
        .filter(|r| r.uid != owner_uid)
        .cloned()
        .collect();
    patch_owners(api, obj, refs)
}

fn patch_owners<K: Object>(
    api: &Api<K>,
    obj: &K,
    refs: Vec<OwnerReference>,
) -> Result<Option<K>, Error>
where
    K::Scope: Scope,
{
    let patch = json!({
        "metadata": {
            "ownerReferences": refs,
            "resourceVersion": obj.metadata().resource_version,
        }
    });
    match api.patch(
        obj.name_any(),
        None,
        PatchType::Merge,
        &patch,
        &WriteParams::default(),
    ) {
        Ok(patched) => Ok(Some(patched)),
        Err(Error::Api(e)) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::testing::pod;

    const ME: Claimant = Claimant {
        uid: "me",
        deleting: false,
    };
    const ME_DELETING: Claimant = Claimant {
        uid: "me",
        deleting: true,
    };

    #[test]
    fn claims_as_kube_does() {
        let mine = pod("a").owner("ReplicaSet", "rs", "me").build();
        let theirs = pod("b").owner("ReplicaSet", "other", "them").build();
        let orphan = pod("c").build();
        let dying_orphan = pod("d").deleting().build();
        assert_eq!(claim(ME, &mine, true), Claim::Keep);
        assert_eq!(claim(ME, &mine, false), Claim::Release);
        assert_eq!(claim(ME_DELETING, &mine, false), Claim::Ignore);
        assert_eq!(claim(ME_DELETING, &mine, true), Claim::Keep);
        assert_eq!(claim(ME, &theirs, true), Claim::Ignore);
        assert_eq!(claim(ME, &orphan, true), Claim::Adopt);
        assert_eq!(claim(ME, &orphan, false), Claim::Ignore);
        assert_eq!(claim(ME_DELETING, &orphan, true), Claim::Ignore);
        assert_eq!(claim(ME, &dying_orphan, true), Claim::Ignore);
    }
}
