//! kube's ServiceAccount admission plugin, on pod creates (never updates or subresources):
//!
//! - `spec.serviceAccountName` defaults to `default`;
//! - the account must exist in the pod's namespace, else `403 Forbidden` `pods "<name>" is
//!   forbidden: error looking up service account <ns>/<account>: serviceaccount "<account>"
//!   not found` (the `default` account is looked up ten times, 100–200 ms apart, since the
//!   service-account controller creates it just after its namespace appears);
//! - unless the pod, or else the account, says `automountServiceAccountToken: false`, every
//!   init container and container that does not already mount
//!   [`TOKEN_MOUNT_PATH`] mounts the projected volume `kube-api-access-<5 random>` there,
//!   read-only (a token of the account, the cluster CA from the `kube-root-ca.crt`
//!   ConfigMap, the namespace from the downward API); a volume already named
//!   `kube-api-access-…` is reused;
//! - a pod without `imagePullSecrets` gets the account's;
//! - a mirror pod (annotation `kubernetes.io/config.mirror`) is not changed and may not name
//!   an account.

use std::time::Duration;

use kmicro_apimachinery::registry::ResourceInfo;
use serde_json::{Map, Value, json};

use super::{DEFAULT, service_accounts};
use crate::error::{ApiError, ApiResult};
use crate::storage::Storage;

/// Where service-account credentials are mounted in containers.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the token volume's name.
pub const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";
/// The lifetime kube asks for the token volume's tokens (kube's
/// `WarnOnlyBoundTokenExpirationSeconds`: one hour and seven seconds).
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;
/// The ConfigMap holding the cluster CA in every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// The annotation of a mirror pod (a kubelet's static pod, shown in the API).
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// How often the `default` account is looked up before the pod is refused.
const DEFAULT_ACCOUNT_ATTEMPTS: u32 = 10;

/// Runs the plugin on the pod `pod` being created as `name` in `namespace`.
pub async fn admit_create(
    storage: &Storage,
    pods: &ResourceInfo,
    namespace: &str,
    name: &str,
    pod: &mut Value,
) -> ApiResult<()> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        // The kind's rules refuse it next.
        return Ok(());
    }
    let mirror = pod["metadata"]["annotations"]
        .get(MIRROR_ANNOTATION)
        .is_some();
    let account = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if mirror {
        if !account.is_empty() {
            return Err(ApiError::forbidden(
                pods,
                name,
                "a mirror pod may not reference service accounts",
            ));
        }
        return Ok(());
    }
    let account = if account.is_empty() {
        pod["spec"]["serviceAccountName"] = json!(DEFAULT);
        DEFAULT.to_string()
    } else {
        account
    };
    let Some(sa) = lookup(storage, namespace, &account).await? else {
        return Err(ApiError::forbidden(
            pods,
            name,
            &format!(
                "error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
            ),
        ));
    };
    mutate(pod, &sa, &crate::handlers::random_suffix());
    Ok(())
}

/// The account `name` in `namespace`, looked up again a few times when it is `default`.
async fn lookup(storage: &Storage, namespace: &str, name: &str) -> ApiResult<Option<Value>> {
    let attempts = if name == DEFAULT {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    let pause = Duration::from_millis(100 + u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 100);
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
        }
        if let Some(stored) = storage
            .get(service_accounts(), Some(namespace), name)
            .await?
        {
            return Ok(Some(stored.obj));
        }
    }
    Ok(None)
}

/// The changes to `pod` given its account `sa` (no I/O): the token volume and its mounts
/// when automounting, the account's image pull secrets. `suffix` names a new volume.
pub fn mutate(pod: &mut Value, sa: &Value, suffix: &str) {
    if should_automount(pod, sa) {
        mount_token(pod, suffix);
    }
    let spec = &mut pod["spec"];
    let has_pull_secrets = spec["imagePullSecrets"]
        .as_array()
        .is_some_and(|s| !s.is_empty());
    if !has_pull_secrets && let Some(secrets) = sa["imagePullSecrets"].as_array() {
        let names: Vec<Value> = secrets
            .iter()
            .map(|s| json!({"name": s["name"].as_str().unwrap_or("")}))
            .collect();
        if !names.is_empty() {
            spec["imagePullSecrets"] = Value::Array(names);
        }
    }
}

/// The pod's `automountServiceAccountToken` wins, then the account's; true by default.
fn should_automount(pod: &Value, sa: &Value) -> bool {
    pod["spec"]["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| sa["automountServiceAccountToken"].as_bool())
        .unwrap_or(true)
}

/// Mounts the token volume in every container lacking a mount at [`TOKEN_MOUNT_PATH`]; adds
/// the volume when one of them needed it and the pod has none yet.
fn mount_token(pod: &mut Value, suffix: &str) {
    let spec = &mut pod["spec"];
    let existing = spec["volumes"].as_array().and_then(|volumes| {
        volumes
            .iter()
            .filter_map(|v| v["name"].as_str())
            .find(|n| n.starts_with(TOKEN_VOLUME_PREFIX))
            .map(str::to_string)
    });
    let volume_name = existing
        .clone()
        .unwrap_or_else(|| format!("{TOKEN_VOLUME_PREFIX}{suffix}"));
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec[list].as_array_mut() else {
            continue;
        };
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            needed |= add_mount(container, &volume_name);
        }
    }
    if needed && existing.is_none() {
        let volume = token_volume(&volume_name);
        match spec["volumes"].as_array_mut() {
            Some(volumes) => volumes.push(volume),
            None => spec["volumes"] = json!([volume]),
        }
    }
}

/// Adds the token mount to `container` unless something is mounted at its path; answers
/// whether it did.
fn add_mount(container: &mut Map<String, Value>, volume: &str) -> bool {
    let mounts = container
        .entry("volumeMounts")
        .or_insert_with(|| Value::Array(Vec::new()));
    if mounts.is_null() {
        *mounts = Value::Array(Vec::new());
    }
    let Some(mounts) = mounts.as_array_mut() else {
        return false;
    };
    if mounts
        .iter()
        .any(|m| m["mountPath"].as_str() == Some(TOKEN_MOUNT_PATH))
    {
        return false;
    }
    mounts.push(json!({
        "name": volume,
        "readOnly": true,
        "mountPath": TOKEN_MOUNT_PATH,
    }));
    true
}

/// kube's token volume (`TokenVolumeSource`), `defaultMode` 0644 written out.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {
                    "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                    "path": "token",
                }},
                {"configMap": {
                    "name": ROOT_CA_CONFIG_MAP,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }},
                {"downwardAPI": {
                    "items": [{
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                    }],
                }},
            ],
        },
    })
}

/// Whether a create of `resource` (`subresource` when to one) is one this plugin looks at.
pub fn applies(resource: &ResourceInfo, subresource: Option<&str>) -> bool {
    subresource.is_none() && resource.group.is_empty() && resource.kind == "Pod"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    #[test]
    fn token_volume_is_mounted_everywhere_but_where_the_path_is_taken() {
        let mut p = pod(json!({
            "initContainers": [{"name": "i", "image": "x"}],
            "containers": [
                {"name": "a", "image": "x"},
                {"name": "b", "image": "x", "volumeMounts": [
                    {"name": "own", "mountPath": TOKEN_MOUNT_PATH}
                ]},
            ],
            "volumes": [{"name": "own", "emptyDir": {}}],
        }));
        mutate(&mut p, &json!({}), "abcde");
        let mount = json!({"name": "kube-api-access-abcde", "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
        assert_eq!(
            p["spec"]["initContainers"][0]["volumeMounts"],
            json!([mount])
        );
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], json!([mount]));
        assert_eq!(
            p["spec"]["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            p["spec"]["volumes"][1],
            token_volume("kube-api-access-abcde")
        );
        assert_eq!(
            p["spec"]["volumes"][1]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
    }

    #[test]
    fn automount_false_on_pod_or_account() {
        let base = json!({"containers": [{"name": "a", "image": "x"}]});
        let mut p = pod(base.clone());
        p["spec"]["automountServiceAccountToken"] = json!(false);
        mutate(
            &mut p,
            &json!({"automountServiceAccountToken": true}),
            "abcde",
        );
        assert!(p["spec"]["volumes"].is_null());
        let mut p = pod(base.clone());
        mutate(
            &mut p,
            &json!({"automountServiceAccountToken": false}),
            "abcde",
        );
        assert!(p["spec"]["volumes"].is_null());
        // The pod's preference wins over the account's.
        let mut p = pod(base);
        p["spec"]["automountServiceAccountToken"] = json!(true);
        mutate(
            &mut p,
            &json!({"automountServiceAccountToken": false}),
            "abcde",
        );
        assert_eq!(p["spec"]["volumes"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn existing_token_volume_is_reused_and_pull_secrets_copied() {
        let mut p = pod(json!({
            "containers": [{"name": "a", "image": "x"}],
            "volumes": [{"name": "kube-api-access-zzzzz", "emptyDir": {}}],
        }));
        mutate(
            &mut p,
            &json!({"imagePullSecrets": [{"name": "reg"}]}),
            "abcde",
        );
        assert_eq!(p["spec"]["volumes"].as_array().unwrap().len(), 1);
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "kube-api-access-zzzzz"
        );
        assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "reg"}]));
        let mut p = pod(json!({
            "containers": [{"name": "a", "image": "x"}],
            "imagePullSecrets": [{"name": "own"}],
        }));
        mutate(
            &mut p,
            &json!({"imagePullSecrets": [{"name": "reg"}]}),
            "abcde",
        );
        assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "own"}]));
    }
}
