//! A container's environment from its Pod, as kubelet builds it: `envFrom` (ConfigMaps and
//! Secrets, with a prefix), then `env` (values with `$(VAR)` expanded from what came before,
//! `valueFrom` ConfigMap and Secret keys, the downward API's `fieldRef` and
//! `resourceFieldRef`), then the service variables the container's own do not override
//! ([`super::service_env`]). Missing objects and keys fail the start with kubelet's messages
//! (`CreateContainerConfigError`) unless `optional`.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::Value;

use super::api::ObjectSource;
use super::command::{expand, lookup};

/// The addresses the downward API may name.
#[derive(Clone, Copy, Debug)]
pub struct Addresses {
    /// The node's IP (`status.hostIP`).
    pub host_ip: IpAddr,
    /// The pod's IP, when it has one (`status.podIP`).
    pub pod_ip: Option<IpAddr>,
}

/// ConfigMaps and Secrets read once per container start.
#[derive(Default)]
pub struct Objects {
    cache: HashMap<(&'static str, String), Option<Value>>,
}

impl Objects {
    /// The object `kind` (`configmaps` or `secrets`) named `name` in `namespace`, decoded into
    /// key → bytes (Secret `data` and ConfigMap `binaryData` are base64).
    pub async fn data(
        &mut self,
        source: &dyn ObjectSource,
        kind: &'static str,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Option<Vec<(String, Vec<u8>)>>> {
        let key = (kind, name.to_string());
        if !self.cache.contains_key(&key) {
            let obj = source.object(kind, namespace, name).await?;
            self.cache.insert(key.clone(), obj);
        }
        let Some(obj) = self.cache.get(&key).cloned().flatten() else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let b64 = base64::engine::general_purpose::STANDARD;
        if kind == "secrets" {
            for field in ["data"] {
                if let Some(map) = obj[field].as_object() {
                    for (k, v) in map {
                        let bytes = b64.decode(v.as_str().unwrap_or("")).unwrap_or_default();
                        out.push((k.clone(), bytes));
                    }
                }
            }
            if let Some(map) = obj["stringData"].as_object() {
                for (k, v) in map {
                    out.push((k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec()));
                }
            }
        } else {
            if let Some(map) = obj["data"].as_object() {
                for (k, v) in map {
                    out.push((k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec()));
                }
            }
            if let Some(map) = obj["binaryData"].as_object() {
                for (k, v) in map {
                    let bytes = b64.decode(v.as_str().unwrap_or("")).unwrap_or_default();
                    out.push((k.clone(), bytes));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(out))
    }
}

/// Why the environment cannot be built: kubelet's message (`configmap "x" not found`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// The environment of `container`, in order. (A boxed `Send` future: rustc cannot prove the
/// plain `async fn`'s future `Send` for every lifetime when the pod worker is spawned,
/// rust-lang/rust#110338.)
pub fn resolve<'a>(
    source: &'a dyn ObjectSource,
    objects: &'a mut Objects,
    pod: &'a Pod,
    container: &'a Container,
    addresses: Addresses,
) -> futures::future::BoxFuture<'a, Result<Vec<(String, String)>, EnvError>> {
    Box::pin(resolve_inner(source, objects, pod, container, addresses))
}

async fn resolve_inner(
    source: &dyn ObjectSource,
    objects: &mut Objects,
    pod: &Pod,
    container: &Container,
    addresses: Addresses,
) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| match env
        .iter_mut()
        .find(|(name, _)| *name == k)
    {
        Some(slot) => slot.1 = v,
        None => env.push((k, v)),
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, label, name, optional) = if let Some(r) = &from.config_map_ref {
            (
                "configmaps",
                "configmap",
                r.name.clone(),
                r.optional.unwrap_or(false),
            )
        } else if let Some(r) = &from.secret_ref {
            (
                "secrets",
                "secret",
                r.name.clone(),
                r.optional.unwrap_or(false),
            )
        } else {
            continue;
        };
        match objects
            .data(source, kind, namespace, &name)
            .await
            .map_err(|e| EnvError(format!("{e:#}")))?
        {
            Some(data) => {
                for (k, v) in data {
                    set(
                        &mut env,
                        format!("{prefix}{k}"),
                        String::from_utf8_lossy(&v).into_owned(),
                    );
                }
            }
            None if optional => {}
            None => return Err(EnvError(format!("{label} {name:?} not found"))),
        }
    }
    let service_vars = service_variables(source, pod).await?;
    for var in container.env.iter().flatten() {
        let value = match &var.value_from {
            None => {
                // `$(VAR)` sees the container's variables so far, then the services'.
                let mut vars = lookup(&service_vars);
                vars.extend(lookup(&env));
                expand(var.value.as_deref().unwrap_or(""), &vars)
            }
            Some(from) => {
                if let Some(r) = &from.config_map_key_ref {
                    match key_of(source, objects, "configmaps", namespace, &r.name, &r.key).await? {
                        Ok(v) => v,
                        Err(()) if r.optional.unwrap_or(false) => continue,
                        Err(()) => {
                            return Err(missing(
                                "ConfigMap",
                                "configmap",
                                objects,
                                namespace,
                                &r.name,
                                &r.key,
                            ));
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    match key_of(source, objects, "secrets", namespace, &r.name, &r.key).await? {
                        Ok(v) => v,
                        Err(()) if r.optional.unwrap_or(false) => continue,
                        Err(()) => {
                            return Err(missing(
                                "Secret", "secret", objects, namespace, &r.name, &r.key,
                            ));
                        }
                    }
                } else if let Some(r) = &from.field_ref {
                    field_value(pod, &r.field_path, addresses).ok_or_else(|| {
                        EnvError(format!("unsupported fieldPath: {}", r.field_path))
                    })?
                } else if let Some(r) = &from.resource_field_ref {
                    let name = r.container_name.as_deref().unwrap_or(&container.name);
                    let target = pod
                        .spec
                        .iter()
                        .flat_map(|s| {
                            s.containers
                                .iter()
                                .chain(s.init_containers.iter().flatten())
                        })
                        .find(|c| c.name == name)
                        .unwrap_or(container);
                    resource_value(
                        target,
                        &r.resource,
                        r.divisor.as_ref().map(|d| d.0.as_str()),
                    )
                    .ok_or_else(|| {
                        EnvError(format!("unsupported container resource: {}", r.resource))
                    })?
                } else {
                    continue;
                }
            }
        };
        set(&mut env, var.name.clone(), value);
    }
    // The service variables kubelet adds after the container's own (which win).
    for (k, v) in service_vars {
        if !env.iter().any(|(name, _)| *name == k) {
            env.push((k, v));
        }
    }
    Ok(env)
}

/// The service variables of a container of `pod` starting now ([`super::service_env`]).
async fn service_variables(
    source: &dyn ObjectSource,
    pod: &Pod,
) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let failed = |e: anyhow::Error| {
        EnvError(format!(
            "failed to list services when setting up env vars: {e:#}"
        ))
    };
    let defaults = source.services("default").await.map_err(failed)?;
    let kubernetes = defaults
        .iter()
        .find(|s| s["metadata"]["name"] == "kubernetes");
    let local = if !links {
        Vec::new()
    } else if namespace == "default" {
        defaults.clone()
    } else {
        source.services(namespace).await.map_err(failed)?
    };
    let seen = super::service_env::visible(namespace, links, kubernetes, &local);
    Ok(super::service_env::variables(&seen))
}

/// The value of `key` in the object, `Err(())` when the object or key is missing.
async fn key_of(
    source: &dyn ObjectSource,
    objects: &mut Objects,
    kind: &'static str,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Result<String, ()>, EnvError> {
    let data = objects
        .data(source, kind, namespace, name)
        .await
        .map_err(|e| EnvError(format!("{e:#}")))?;
    Ok(data
        .and_then(|d| d.into_iter().find(|(k, _)| k == key))
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
        .ok_or(()))
}

/// kubelet's message for a missing object or key.
fn missing(
    kind: &str,
    label: &str,
    objects: &Objects,
    namespace: &str,
    name: &str,
    key: &str,
) -> EnvError {
    let plural = if label == "secret" {
        "secrets"
    } else {
        "configmaps"
    };
    let exists = objects
        .cache
        .get(&(plural, name.to_string()))
        .is_some_and(|o| o.is_some());
    if exists {
        EnvError(format!(
            "couldn't find key {key} in {kind} {namespace}/{name}"
        ))
    } else {
        EnvError(format!("{label} {name:?} not found"))
    }
}

/// A downward-API field of `pod` (`metadata.name`, `metadata.labels['app']`,
/// `status.podIP`, …).
pub fn field_value(pod: &Pod, path: &str, addresses: Addresses) -> Option<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_entry = |map: &Option<std::collections::BTreeMap<String, String>>, key: &str| {
        map.as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let subscript = |prefix: &str| -> Option<String> {
        path.strip_prefix(prefix)?
            .strip_prefix("['")?
            .strip_suffix("']")
            .map(str::to_string)
    };
    Some(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_lines(&meta.labels),
        "metadata.annotations" => map_lines(&meta.annotations),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => addresses.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => addresses
            .pod_ip
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        _ => {
            if let Some(key) = subscript("metadata.labels") {
                map_entry(&meta.labels, &key)
            } else if let Some(key) = subscript("metadata.annotations") {
                map_entry(&meta.annotations, &key)
            } else {
                return None;
            }
        }
    })
}

/// `key="value"` lines, sorted, joined by newlines (no final one), as the downward API
/// writes label and annotation files.
fn map_lines(map: &Option<std::collections::BTreeMap<String, String>>) -> String {
    map.iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A container resource (`limits.cpu`, `requests.memory`, …) over `divisor` (default 1),
/// rounded up as kubelet does; a limit that is not set is the node's capacity.
pub fn resource_value(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
) -> Option<String> {
    use kmicro_apimachinery::quantity::milli_value;
    let resources = container.resources.as_ref();
    let (section, name) = resource.split_once('.')?;
    let map = match section {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return None,
    };
    let set = map.and_then(|m| m.get(name)).map(|q| q.0.clone());
    let milli: i128 = match (set, name) {
        (Some(q), _) => milli_value(&q)?,
        (None, "cpu") if section == "limits" => {
            std::thread::available_parallelism().map_or(1, |n| n.get()) as i128 * 1000
        }
        (None, "memory") if section == "limits" => node_memory_bytes()? as i128 * 1000,
        (None, "ephemeral-storage") if section == "limits" => 0,
        (None, _) => 0,
    };
    let divisor = milli_value(divisor.unwrap_or("1")).filter(|d| *d > 0)?;
    let value = (milli + divisor - 1) / divisor;
    Some(value.to_string())
}

fn node_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downward_fields_and_resources() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": [
                {"name": "c", "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}}
            ]}
        }))
        .unwrap();
        let addresses = Addresses {
            host_ip: "10.0.0.1".parse().unwrap(),
            pod_ip: None,
        };
        let f = |p: &str| field_value(&pod, p, addresses);
        assert_eq!(f("metadata.name").unwrap(), "p");
        assert_eq!(f("metadata.labels['app']").unwrap(), "web");
        assert_eq!(f("metadata.labels").unwrap(), "app=\"web\"");
        assert_eq!(f("spec.nodeName").unwrap(), "n1");
        assert_eq!(f("status.hostIP").unwrap(), "10.0.0.1");
        assert_eq!(f("status.podIP").unwrap(), "");
        assert!(f("spec.bogus").is_none());
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(resource_value(c, "limits.cpu", None).unwrap(), "1");
        assert_eq!(resource_value(c, "limits.cpu", Some("1m")).unwrap(), "250");
        assert_eq!(
            resource_value(c, "limits.memory", Some("1Mi")).unwrap(),
            "64"
        );
    }
}
