//! A pod's volumes, prepared on the node under `<pod-dir>/volumes/<plugin>/<name>` and
//! bind-mounted into its containers: `emptyDir` (a directory, or a tmpfs of `sizeLimit` for
//! `medium: Memory`), `hostPath` (with kubelet's type checks), `configMap`, `secret`,
//! `downwardAPI` and `projected` (those four plus `serviceAccountToken`) written the way
//! kubelet's atomic writer does (`..data` → a timestamped directory, a link per key).

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, DownwardAPIVolumeFile, KeyToPath, Pod, SecretProjection, Volume,
};
use serde_json::json;

use super::api::ObjectSource;
use super::env::{Addresses, Objects, field_value, resource_value};

/// Why a volume cannot be set up (kubelet's `FailedMount` message follows
/// `MountVolume.SetUp failed for volume "<name>" : `).
#[derive(Debug, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {reason}")]
pub struct VolumeError {
    /// The volume.
    pub volume: String,
    /// Why.
    pub reason: String,
}

/// How often the worker rewrites a running pod's configMap, secret, downwardAPI and projected
/// volumes from their sources. kubelet's period is a minute plus its object cache's TTL; here
/// the sources are read through the in-process API (no network, no TLS, one GET per source),
/// and a write happens only when something changed, so a shorter period costs little and an
/// edit reaches the pods within seconds.
pub const REFRESH_PERIOD: std::time::Duration = std::time::Duration::from_secs(10);

/// The directory of a pod's volumes.
pub fn volumes_dir(pod_dir: &Path) -> PathBuf {
    pod_dir.join("volumes")
}

/// Prepares every volume of `pod`; answers each one's host path by name. (A boxed `Send`
/// future, as [`super::env::resolve`].)
pub fn prepare<'a>(
    source: &'a dyn ObjectSource,
    pod: &'a Pod,
    pod_dir: &'a Path,
    addresses: Addresses,
) -> futures::future::BoxFuture<'a, Result<HashMap<String, PathBuf>, VolumeError>> {
    Box::pin(prepare_all(source, pod, pod_dir, addresses, false))
}

/// Rewrites the volumes that follow their sources (configMap, secret, downwardAPI, projected:
/// changed data, the pod's labels and annotations, a ServiceAccount token due for renewal) as
/// kubelet's periodic sync does; unchanged volumes are left alone. Mounts with a `subPath`
/// keep the file they were given at start (a bind of the file itself), as under kubelet.
pub fn refresh<'a>(
    source: &'a dyn ObjectSource,
    pod: &'a Pod,
    pod_dir: &'a Path,
    addresses: Addresses,
) -> futures::future::BoxFuture<'a, Result<(), VolumeError>> {
    Box::pin(async move {
        prepare_all(source, pod, pod_dir, addresses, true)
            .await
            .map(|_| ())
    })
}

/// Whether a volume's content comes from sources that can change while the pod runs.
fn follows_sources(volume: &Volume) -> bool {
    volume.config_map.is_some()
        || volume.secret.is_some()
        || volume.downward_api.is_some()
        || volume.projected.is_some()
}

async fn prepare_all(
    source: &dyn ObjectSource,
    pod: &Pod,
    pod_dir: &Path,
    addresses: Addresses,
    refreshing: bool,
) -> Result<HashMap<String, PathBuf>, VolumeError> {
    let mut out = HashMap::new();
    let mut objects = Objects::default();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for volume in volumes.iter().filter(|v| !refreshing || follows_sources(v)) {
        let fail = |reason: String| VolumeError {
            volume: volume.name.clone(),
            reason,
        };
        let path = prepare_one(source, &mut objects, pod, pod_dir, addresses, volume)
            .await
            .map_err(fail)?;
        out.insert(volume.name.clone(), path);
    }
    Ok(out)
}

async fn prepare_one(
    source: &dyn ObjectSource,
    objects: &mut Objects,
    pod: &Pod,
    pod_dir: &Path,
    addresses: Addresses,
    volume: &Volume,
) -> Result<PathBuf, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let dir = |plugin: &str| volumes_dir(pod_dir).join(plugin).join(&volume.name);
    let io = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());
    if let Some(empty) = &volume.empty_dir {
        let path = dir("kubernetes.io~empty-dir");
        std::fs::create_dir_all(&path).map_err(|e| io("create", &path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| io("chmod", &path, e))?;
        if empty.medium.as_deref() == Some("Memory") && !is_mount_point(&path) {
            let size = empty
                .size_limit
                .as_ref()
                .and_then(|q| kmicro_apimachinery::quantity::whole_value(&q.0))
                .map(|bytes| format!("size={bytes},mode=0777"))
                .unwrap_or_else(|| "mode=0777".to_string());
            let data = std::ffi::CString::new(size).map_err(|e| e.to_string())?;
            let flags = rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV;
            rustix::mount::mount("tmpfs", &path, "tmpfs", flags, data.as_c_str())
                .map_err(|e| io("mount tmpfs on", &path, e.into()))?;
        }
        return Ok(path);
    }
    if let Some(host) = &volume.host_path {
        let path = PathBuf::from(&host.path);
        check_host_path(&path, host.type_.as_deref().unwrap_or(""))?;
        return Ok(path);
    }
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let plugin;
    if let Some(cm) = &volume.config_map {
        plugin = "kubernetes.io~configmap";
        let projection = ConfigMapProjection {
            items: cm.items.clone(),
            name: cm.name.clone(),
            optional: cm.optional,
        };
        config_map_files(
            source,
            objects,
            namespace,
            &projection,
            cm.default_mode,
            &mut files,
        )
        .await?;
    } else if let Some(secret) = &volume.secret {
        plugin = "kubernetes.io~secret";
        let projection = SecretProjection {
            items: secret.items.clone(),
            name: secret.secret_name.clone().unwrap_or_default(),
            optional: secret.optional,
        };
        secret_files(
            source,
            objects,
            namespace,
            &projection,
            secret.default_mode,
            &mut files,
        )
        .await?;
    } else if let Some(downward) = &volume.downward_api {
        plugin = "kubernetes.io~downward-api";
        downward_files(
            pod,
            addresses,
            downward.items.iter().flatten(),
            downward.default_mode,
            &mut files,
        )?;
    } else if let Some(projected) = &volume.projected {
        plugin = "kubernetes.io~projected";
        let mode = projected.default_mode;
        for p in projected.sources.iter().flatten() {
            if let Some(cm) = &p.config_map {
                config_map_files(source, objects, namespace, cm, mode, &mut files).await?;
            }
            if let Some(secret) = &p.secret {
                secret_files(source, objects, namespace, secret, mode, &mut files).await?;
            }
            if let Some(downward) = &p.downward_api {
                downward_files(
                    pod,
                    addresses,
                    downward.items.iter().flatten(),
                    mode,
                    &mut files,
                )?;
            }
            if let Some(token) = &p.service_account_token {
                let current = dir("kubernetes.io~projected")
                    .join("..data")
                    .join(&token.path);
                if let Some(jwt) = std::fs::read(&current)
                    .ok()
                    .filter(|jwt| !token_due(jwt, jiff::Timestamp::now().as_second()))
                {
                    files.push((token.path.clone(), jwt, mode.unwrap_or(0o644) as u32));
                    continue;
                }
                let account = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.service_account_name.clone())
                    .unwrap_or_else(|| "default".into());
                let mut spec = json!({
                    "expirationSeconds": token.expiration_seconds.unwrap_or(3607),
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": pod.metadata.name,
                        "uid": pod.metadata.uid,
                    },
                });
                if let Some(aud) = &token.audience {
                    spec["audiences"] = json!([aud]);
                }
                let jwt = source.token(namespace, &account, spec).await.map_err(|e| {
                    format!("requesting a token for service account {account:?}: {e:#}")
                })?;
                files.push((
                    token.path.clone(),
                    jwt.into_bytes(),
                    mode.unwrap_or(0o644) as u32,
                ));
            }
        }
    } else {
        return Err("this volume type is not supported by kmicro's node agent yet".into());
    }
    let path = dir(plugin);
    write_atomic(&path, &files).map_err(|e| io("write", &path, e))?;
    Ok(path)
}

async fn config_map_files(
    source: &dyn ObjectSource,
    objects: &mut Objects,
    namespace: &str,
    cm: &ConfigMapProjection,
    default_mode: Option<i32>,
    files: &mut Vec<(String, Vec<u8>, u32)>,
) -> Result<(), String> {
    let data = objects
        .data(source, "configmaps", namespace, &cm.name)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let Some(data) = data else {
        if cm.optional.unwrap_or(false) {
            return Ok(());
        }
        return Err(format!("configmap {:?} not found", cm.name));
    };
    project(
        data,
        cm.items.as_deref(),
        default_mode,
        cm.optional,
        "configmap",
        &cm.name,
        files,
    )
}

async fn secret_files(
    source: &dyn ObjectSource,
    objects: &mut Objects,
    namespace: &str,
    secret: &SecretProjection,
    default_mode: Option<i32>,
    files: &mut Vec<(String, Vec<u8>, u32)>,
) -> Result<(), String> {
    let data = objects
        .data(source, "secrets", namespace, &secret.name)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let Some(data) = data else {
        if secret.optional.unwrap_or(false) {
            return Ok(());
        }
        return Err(format!("secret {:?} not found", secret.name));
    };
    project(
        data,
        secret.items.as_deref(),
        default_mode,
        secret.optional,
        "secret",
        &secret.name,
        files,
    )
}

/// The files of a ConfigMap or Secret: every key, or the `items` asked for.
fn project(
    data: Vec<(String, Vec<u8>)>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: Option<bool>,
    label: &str,
    name: &str,
    files: &mut Vec<(String, Vec<u8>, u32)>,
) -> Result<(), String> {
    let mode = default_mode.unwrap_or(0o644) as u32;
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                files.push((k, v, mode));
            }
        }
        Some(items) => {
            for item in items {
                match data.iter().find(|(k, _)| *k == item.key) {
                    Some((_, v)) => files.push((
                        item.path.clone(),
                        v.clone(),
                        item.mode.map_or(mode, |m| m as u32),
                    )),
                    None if optional.unwrap_or(false) => {}
                    None => {
                        return Err(format!(
                            "{label}s \"{name}\" not found: couldn't find key {} in {label} {name}",
                            item.key
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn downward_files<'a>(
    pod: &Pod,
    addresses: Addresses,
    items: impl Iterator<Item = &'a DownwardAPIVolumeFile>,
    default_mode: Option<i32>,
    files: &mut Vec<(String, Vec<u8>, u32)>,
) -> Result<(), String> {
    let mode = default_mode.unwrap_or(0o644) as u32;
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            field_value(pod, &f.field_path, addresses)
                .ok_or_else(|| format!("unsupported fieldPath: {}", f.field_path))?
        } else if let Some(r) = &item.resource_field_ref {
            let container = pod
                .spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .find(|c| Some(c.name.as_str()) == r.container_name.as_deref())
                .ok_or_else(|| {
                    format!("no container {:?} for resourceFieldRef", r.container_name)
                })?;
            resource_value(
                container,
                &r.resource,
                r.divisor.as_ref().map(|d| d.0.as_str()),
            )
            .ok_or_else(|| format!("unsupported container resource: {}", r.resource))?
        } else {
            continue;
        };
        files.push((
            item.path.clone(),
            value.into_bytes(),
            item.mode.map_or(mode, |m| m as u32),
        ));
    }
    Ok(())
}

/// kubelet's `hostPath` type checks.
fn check_host_path(path: &Path, kind: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path);
    let shown = path.display();
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta.is_err() {
                std::fs::create_dir_all(path).map_err(|e| format!("create {shown}: {e}"))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| format!("chmod {shown}: {e}"))?;
                return Ok(());
            }
            check_host_path(path, "Directory")
        }
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(format!(
                "hostPath type check failed: {shown} is not a directory"
            )),
            Err(_) => Err(format!(
                "hostPath type check failed: {shown} is not a directory"
            )),
        },
        "FileOrCreate" => {
            if meta.is_err() {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("create {}: {e}", parent.display()))?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("create {shown}: {e}"))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| format!("chmod {shown}: {e}"))?;
                return Ok(());
            }
            check_host_path(path, "File")
        }
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => Err(format!("hostPath type check failed: {shown} is not a file")),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => Err(format!(
                "hostPath type check failed: {shown} is not a socket file"
            )),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => Err(format!(
                "hostPath type check failed: {shown} is not a character device"
            )),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => Err(format!(
                "hostPath type check failed: {shown} is not a block device"
            )),
        },
        other => Err(format!("hostPath type {other:?} is not supported")),
    }
}

/// Whether a projected ServiceAccount token (a JWT) must be requested again at `now` (Unix
/// seconds), by kubelet's rule: once 80 % of its lifetime (`iat` to `exp`) has passed, or when
/// it is older than 24 hours. A token that cannot be read is due.
pub fn token_due(jwt: &[u8], now: i64) -> bool {
    use base64::Engine as _;
    let Some(payload) = jwt.split(|b| *b == b'.').nth(1) else {
        return true;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return true;
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return true;
    };
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return true;
    };
    let ttl = exp.saturating_sub(iat).max(0);
    now >= iat.saturating_add(ttl * 8 / 10) || now >= iat.saturating_add(24 * 3600)
}

/// The files under `data` (the current `..data` directory) as (relative path, bytes, mode),
/// sorted; `None` when it cannot be read.
fn current_files(data: &Path) -> Option<Vec<(String, Vec<u8>, u32)>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>, u32)>) -> Option<()> {
        for entry in std::fs::read_dir(dir).ok()? {
            let entry = entry.ok()?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).ok()?;
            if meta.is_dir() {
                walk(base, &path, out)?;
            } else {
                let rel = path.strip_prefix(base).ok()?.to_str()?.to_string();
                let bytes = std::fs::read(&path).ok()?;
                out.push((rel, bytes, meta.permissions().mode() & 0o7777));
            }
        }
        Some(())
    }
    let mut out = Vec::new();
    walk(data, data, &mut out)?;
    out.sort();
    Some(out)
}

/// Writes `files` into `dir` as kubelet's atomic writer: when they differ from what `..data`
/// holds, a new `..<time>` directory with the files, `..data` switched to it by a rename, one
/// link per top-level name into `..data` (links of names no longer there removed), the old
/// directory removed. Paths that climb out are refused. Answers whether anything was written.
pub fn write_atomic(dir: &Path, files: &[(String, Vec<u8>, u32)]) -> std::io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let mut wanted: Vec<(String, Vec<u8>, u32)> = files
        .iter()
        .map(|(rel, bytes, mode)| (rel.clone(), bytes.clone(), mode & 0o7777))
        .collect();
    wanted.sort();
    if std::fs::symlink_metadata(dir.join("..data")).is_ok()
        && current_files(&dir.join("..data")).as_ref() == Some(&wanted)
    {
        return Ok(false);
    }
    let stamp = format!(
        "..{}",
        jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S.%f")
    );
    let new = dir.join(&stamp);
    std::fs::create_dir(&new)?;
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o755))?;
    let mut tops = Vec::new();
    for (rel, bytes, mode) in files {
        let rel_path = Path::new(rel);
        if rel_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(std::io::Error::other(format!(
                "invalid path {rel:?}: must be relative and may not contain '..'"
            )));
        }
        let target = new.join(rel_path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode & 0o7777))?;
        if let Some(Component::Normal(top)) = rel_path.components().next() {
            tops.push(top.to_os_string());
        }
    }
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&stamp, &tmp)?;
    std::fs::rename(&tmp, dir.join("..data"))?;
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(top), &link)?;
        }
    }
    // Links of names the new data lacks (a key removed from the ConfigMap).
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("..") || tops.contains(&name) {
            continue;
        }
        let link = entry.path();
        if std::fs::read_link(&link).is_ok_and(|t| t.starts_with("..data")) {
            std::fs::remove_file(&link)?;
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

/// Whether `path` is a mount point (its device differs from its parent's).
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// Unmounts everything mounted under `dir` (memory volumes), deepest first, then removes it.
pub fn remove_pod_dir(dir: &Path) -> std::io::Result<()> {
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        let mut points: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| PathBuf::from(p.replace("\\040", " ")))
            .filter(|p| p.starts_with(dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for point in points {
            if let Err(err) = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH) {
                tracing::warn!(path = %point.display(), %err, "unmounting a pod volume failed");
            }
        }
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writer_links_keys_through_data() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("v");
        write_atomic(
            &dir,
            &[
                ("a".into(), b"1".to_vec(), 0o644),
                ("sub/b".into(), b"2".to_vec(), 0o600),
            ],
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(dir.join("sub/b")).unwrap(), "2");
        let data = std::fs::read_link(dir.join("..data")).unwrap();
        // The same content again: nothing written, `..data` unchanged.
        let same = [
            ("sub/b".into(), b"2".to_vec(), 0o600),
            ("a".into(), b"1".to_vec(), 0o644),
        ];
        assert!(!write_atomic(&dir, &same).unwrap());
        assert_eq!(std::fs::read_link(dir.join("..data")).unwrap(), data);
        // A mode change alone is a change.
        assert!(
            write_atomic(&dir, &[("a".into(), b"1".to_vec(), 0o600), same[0].clone()]).unwrap()
        );
        assert_eq!(
            std::fs::metadata(dir.join("a"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert!(write_atomic(&dir, &[("a".into(), b"3".to_vec(), 0o644)]).unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "3");
        assert!(
            std::fs::symlink_metadata(dir.join("sub")).is_err(),
            "the link of a name no longer there is removed"
        );
        let stamps = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("..2")
            })
            .count();
        assert_eq!(stamps, 1, "the old directory is removed");
        assert!(write_atomic(&dir, &[("../x".into(), vec![], 0o644)]).is_err());
    }

    fn jwt(iat: i64, exp: i64) -> Vec<u8> {
        use base64::Engine as _;
        let claims = serde_json::json!({"iat": iat, "exp": exp}).to_string();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("e30.{payload}.sig").into_bytes()
    }

    #[test]
    fn tokens_are_renewed_at_80_percent_or_after_a_day() {
        // One hour of life: due after 48 minutes.
        let t = jwt(1_000, 4_600);
        assert!(!token_due(&t, 1_000));
        assert!(!token_due(&t, 1_000 + 2_879));
        assert!(token_due(&t, 1_000 + 2_880));
        // A year of life: due after a day.
        let t = jwt(0, 365 * 86_400);
        assert!(!token_due(&t, 86_399));
        assert!(token_due(&t, 86_400));
        assert!(token_due(b"not a jwt", 0));
        assert!(token_due(b"a.!!!.c", 0));
    }

    #[test]
    fn host_path_types_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(check_host_path(tmp.path(), "Directory").is_ok());
        assert!(
            check_host_path(&file, "Directory")
                .unwrap_err()
                .contains("is not a directory")
        );
        assert!(check_host_path(&file, "File").is_ok());
        let made = tmp.path().join("new/dir");
        check_host_path(&made, "DirectoryOrCreate").unwrap();
        assert!(made.is_dir());
        let made_file = tmp.path().join("new/file");
        check_host_path(&made_file, "FileOrCreate").unwrap();
        assert!(made_file.is_file());
        assert!(check_host_path(&file, "Socket").is_err());
    }
}
