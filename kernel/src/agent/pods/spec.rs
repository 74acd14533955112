//! A Pod's container as the runtime runs it ([`ContainerSpec`]): program, environment and
//! working dir merged with the image config, user and groups, security settings, cgroup
//! resources, volume mounts, the pod's `/etc` files and the termination log. No I/O but the
//! lookup of user and group names in the image's `/etc/passwd` and `/etc/group`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};
use kmicro_container::{BindMount, ContainerSpec, Resources, User};
use kmicro_images::ImageConfig;

use super::command;
use super::etc_files::EtcFiles;

/// Annotation: the pod's uid.
pub const POD_UID: &str = "kmicro.io/pod-uid";
/// Annotation: the pod's namespace.
pub const POD_NAMESPACE: &str = "kmicro.io/pod-namespace";
/// Annotation: the pod's name.
pub const POD_NAME: &str = "kmicro.io/pod-name";
/// Annotation: the container's name.
pub const CONTAINER_NAME: &str = "kmicro.io/container-name";
/// Annotation: the attempt (restart count) of this instance.
pub const ATTEMPT: &str = "kmicro.io/attempt";
/// Annotation: an init container.
pub const INIT: &str = "kmicro.io/init";
/// Annotation: the image's ID and name by digest (the status's `imageID`).
pub const IMAGE_ID: &str = "kmicro.io/image-id";
/// Annotation: the host file of the termination log.
pub const TERMINATION_LOG: &str = "kmicro.io/termination-log";

/// The default `PATH` when the image sets none (containerd's).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a container start is built from.
pub struct Inputs<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// The container.
    pub container: &'a Container,
    /// An init container.
    pub init: bool,
    /// The instance's id.
    pub id: String,
    /// Its attempt (restart count).
    pub attempt: u32,
    /// The image's config.
    pub image: &'a ImageConfig,
    /// The image's ID for the status.
    pub image_id: String,
    /// The prepared root filesystem.
    pub rootfs: PathBuf,
    /// The environment from the Pod (`envFrom`, `env`).
    pub env: Vec<(String, String)>,
    /// The pod's volumes by name.
    pub volumes: &'a HashMap<String, PathBuf>,
    /// The pod's `/etc` files.
    pub etc: &'a EtcFiles,
    /// The host file mounted as the termination log.
    pub termination_log: PathBuf,
    /// The pod's hostname (`HOSTNAME`).
    pub hostname: String,
}

/// Why a spec cannot be built (kubelet's `CreateContainerConfigError` message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// Builds the runtime's spec.
pub fn build(inputs: Inputs<'_>) -> Result<ContainerSpec, SpecError> {
    let Inputs { pod, container, .. } = inputs;
    let sc = container.security_context.as_ref();
    let mut env = command::merge_env(&inputs.image.env, &inputs.env);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", inputs.hostname));
    }
    let args = command::argv(
        container.command.as_deref(),
        container.args.as_deref(),
        &inputs.image.entrypoint,
        &inputs.image.cmd,
        &inputs.env,
    );
    if args.is_empty() {
        return Err(SpecError(
            "no command specified: neither the container nor its image names a program".into(),
        ));
    }
    let cwd = container
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| inputs.image.working_dir.clone())
        .unwrap_or_else(|| "/".into());
    let user = user(pod, container, inputs.image, &inputs.rootfs)?;
    let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let mut mounts = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let Some(source) = inputs.volumes.get(&m.name) else {
            return Err(SpecError(format!(
                "cannot find volume {:?} to mount into container {:?}",
                m.name, container.name
            )));
        };
        let mut source = source.clone();
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if Path::new(sub)
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(SpecError(format!(
                    "invalid subPath {sub:?}: must be a relative path without '..'"
                )));
            }
            source = source.join(sub);
            if !source.exists() {
                std::fs::create_dir_all(&source)
                    .map_err(|e| SpecError(format!("create subPath {}: {e}", source.display())))?;
            }
        }
        mounts.push(BindMount {
            source,
            target: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false),
        });
    }
    let log_target = container
        .termination_message_path
        .clone()
        .unwrap_or_else(|| "/dev/termination-log".into());
    mounts.push(BindMount {
        source: inputs.termination_log.clone(),
        target: log_target,
        read_only: false,
    });
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let annotations = BTreeMap::from([
        (
            POD_UID.to_string(),
            pod.metadata.uid.clone().unwrap_or_default(),
        ),
        (POD_NAMESPACE.to_string(), namespace),
        (
            POD_NAME.to_string(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        (CONTAINER_NAME.to_string(), container.name.clone()),
        (ATTEMPT.to_string(), inputs.attempt.to_string()),
        (INIT.to_string(), inputs.init.to_string()),
        (IMAGE_ID.to_string(), inputs.image_id.clone()),
        (
            TERMINATION_LOG.to_string(),
            inputs.termination_log.display().to_string(),
        ),
    ]);
    Ok(ContainerSpec {
        id: inputs.id,
        name: container.name.clone(),
        rootfs: inputs.rootfs,
        args,
        env,
        cwd,
        user,
        mounts,
        etc_hosts: Some(inputs.etc.hosts.clone()),
        etc_resolv_conf: Some(inputs.etc.resolv_conf.clone()),
        etc_hostname: Some(inputs.etc.hostname.clone()),
        read_only_rootfs: sc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        privileged,
        cap_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        cap_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        no_new_privileges: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        rlimits: Vec::new(),
        resources: resources(container),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        annotations,
    })
}

/// Whether the root filesystem is mounted read-only.
pub fn read_only_rootfs(container: &Container) -> bool {
    container
        .security_context
        .as_ref()
        .and_then(|s| s.read_only_root_filesystem)
        .unwrap_or(false)
}

/// The cgroup resources of a container's requests and limits.
pub fn resources(container: &Container) -> Resources {
    use kmicro_apimachinery::quantity::{milli_value, whole_value};
    let r = container.resources.as_ref();
    let limit = |name: &str| {
        r.and_then(|r| r.limits.as_ref())
            .and_then(|m| m.get(name))
            .map(|q| q.0.clone())
    };
    let request = |name: &str| {
        r.and_then(|r| r.requests.as_ref())
            .and_then(|m| m.get(name))
            .map(|q| q.0.clone())
    };
    let positive = |v: Option<i128>| v.filter(|v| *v > 0).map(|v| v as u64);
    Resources {
        cpu_request_millis: positive(
            request("cpu")
                .or_else(|| limit("cpu"))
                .and_then(|q| milli_value(&q)),
        ),
        cpu_limit_millis: positive(limit("cpu").and_then(|q| milli_value(&q))),
        cpu_period_us: None,
        memory_limit_bytes: positive(limit("memory").and_then(|q| whole_value(&q))),
        pids_limit: None,
    }
}

/// The user and groups: `runAsUser`/`runAsGroup` of the container, else the pod's, else the
/// image's `User` (names looked up in the image); `supplementalGroups` and `fsGroup` added.
fn user(
    pod: &Pod,
    container: &Container,
    image: &ImageConfig,
    rootfs: &Path,
) -> Result<User, SpecError> {
    let pod_sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let sc = container.security_context.as_ref();
    let run_as_user = sc
        .and_then(|s| s.run_as_user)
        .or_else(|| pod_sc.and_then(|s| s.run_as_user));
    let run_as_group = sc
        .and_then(|s| s.run_as_group)
        .or_else(|| pod_sc.and_then(|s| s.run_as_group));
    let (image_uid, image_gid) = match image.user.as_deref().filter(|u| !u.is_empty()) {
        None => (0, None),
        Some(spec) => image_user(spec, rootfs)?,
    };
    let uid = run_as_user.map_or(image_uid, |u| u as u32);
    let gid = run_as_group
        .map(|g| g as u32)
        .or(image_gid)
        .or_else(|| passwd_gid(rootfs, uid))
        .unwrap_or(0);
    if sc
        .and_then(|s| s.run_as_non_root)
        .or_else(|| pod_sc.and_then(|s| s.run_as_non_root))
        == Some(true)
        && uid == 0
    {
        return Err(SpecError(
            "container has runAsNonRoot and image will run as root".into(),
        ));
    }
    let mut additional: Vec<u32> = pod_sc
        .and_then(|s| s.supplemental_groups.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|g| g as u32)
        .collect();
    if let Some(fs_group) = pod_sc.and_then(|s| s.fs_group) {
        additional.push(fs_group as u32);
    }
    additional.sort_unstable();
    additional.dedup();
    Ok(User {
        uid,
        gid,
        additional_gids: additional,
    })
}

/// An image `User` (`uid`, `uid:gid`, `name`, `name:group`) as numbers.
fn image_user(spec: &str, rootfs: &Path) -> Result<(u32, Option<u32>), SpecError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => lookup_name(&rootfs.join("etc/passwd"), user).ok_or_else(|| {
            SpecError(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        })?,
    };
    let gid = match group {
        None => None,
        Some(g) => Some(match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup_name(&rootfs.join("etc/group"), g).ok_or_else(|| {
                SpecError(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        }),
    };
    Ok((uid, gid))
}

/// The id (third field) of `name` in a passwd or group file.
fn lookup_name(file: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(2)?.parse().ok())
}

/// The primary group of `uid` in the image's passwd file.
fn passwd_gid(rootfs: &Path, uid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(rootfs.join("etc/passwd")).ok()?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).and_then(|u| u.parse::<u32>().ok()) == Some(uid))
        .and_then(|f| f.get(3)?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_follow_requests_and_limits() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "resources": {"limits": {"cpu": "500m", "memory": "16Mi"}}
        }))
        .unwrap();
        let r = resources(&c);
        assert_eq!(r.cpu_limit_millis, Some(500));
        assert_eq!(r.cpu_request_millis, Some(500));
        assert_eq!(r.memory_limit_bytes, Some(16 << 20));
    }

    #[test]
    fn image_users_by_name_and_number() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
        std::fs::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("etc/group"), "root:x:0:\nweb:x:34:\n").unwrap();
        assert_eq!(image_user("www", tmp.path()).unwrap(), (33, None));
        assert_eq!(image_user("www:web", tmp.path()).unwrap(), (33, Some(34)));
        assert_eq!(
            image_user("1000:1000", tmp.path()).unwrap(),
            (1000, Some(1000))
        );
        assert!(image_user("nobody", tmp.path()).is_err());
        assert_eq!(passwd_gid(tmp.path(), 33), Some(34));
    }
}
