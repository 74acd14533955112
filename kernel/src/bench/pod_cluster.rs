//! The cluster half of `kmicro bench pods`: a `kmicro run` child with a busybox image in its
//! airgap directory; pods created over the API one after the other, each timed from the
//! create to `Running` in its status (image present: no pull), and kmicro's RSS before and
//! after, as memory added per idle pod. The child has a pod network of its own (see
//! `child_host`), removed afterwards; each pod's CNI setup time is read from the child's log
//! (`kmicro_network`'s `pod network attached` lines).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::api::wait_ready;
use super::child::{ChildServer, measure_started};
use super::summary::Latencies;
use crate::client::ApiClient;

/// The image the pods run.
const IMAGE: &str = "kmicro.bench/busybox:1";
/// How long one pod may take to run.
const POD_TIMEOUT: Duration = Duration::from_secs(60);

/// What the cluster half measured.
pub(super) struct ClusterFigures {
    /// Pods created and timed.
    pub pods: usize,
    /// Create → `Running`, median.
    pub pod_running_ms_p50: f64,
    /// Create → `Running`, 90th percentile.
    pub pod_running_ms_p90: f64,
    /// kmicro's RSS added per idle pod.
    pub rss_per_pod_kib: f64,
    /// CNI ADD of one pod (loopback, bridge, IPAM), median, from the child's log.
    pub cni_setup_ms_p50: f64,
}

/// Runs `pods` pods of `rootfs` (a busybox tree) in a child cluster under `dir`.
pub(super) async fn measure(
    dir: &Path,
    rootfs: &Path,
    pods: usize,
) -> anyhow::Result<ClusterFigures> {
    let archive = dir.join("busybox-oci.tar");
    write_oci_archive(rootfs, &archive).context("writing the busybox OCI archive")?;
    let flags = ["--log-level", "warn,kmicro_network=info"];
    let mut server = ChildServer::start_with(dir, 4, &flags, |data| {
        let images = data.join("agent/images");
        std::fs::create_dir_all(&images)?;
        std::fs::copy(&archive, images.join("busybox.tar"))?;
        Ok(())
    })?;
    let result = measure_started(&mut server, async |server| run_pods(server, pods).await).await;
    let cni_ms = cni_setup_times(&server.log());
    drop(server);
    let mut figures = result.map(|(figures, _)| figures)?;
    let mut cni = Latencies::default();
    for ms in cni_ms {
        cni.push(Duration::from_secs_f64(ms / 1e3));
    }
    figures.cni_setup_ms_p50 = cni.percentile_ms(50.0);
    Ok(figures)
}

/// The `elapsed_ms` of each `pod network attached` line of a kmicro log.
fn cni_setup_times(log: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains("pod network attached"))
        .filter_map(|l| {
            let l = strip_ansi(l);
            let rest = &l[l.find("elapsed_ms")? + "elapsed_ms".len()..];
            let number: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            number.parse().ok()
        })
        .collect()
}

async fn run_pods(server: &mut ChildServer, pods: usize) -> anyhow::Result<ClusterFigures> {
    let (_, client) = wait_ready(server).await?;
    // A first pod (the node registering, the image imported, the layer unpacked): not timed.
    create_pod(&client, "warm-up").await?;
    wait_running(&client, "warm-up").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_mib()?;
    let mut latencies = Latencies::default();
    for i in 0..pods {
        let name = format!("bench-{i}");
        let started = Instant::now();
        create_pod(&client, &name).await?;
        wait_running(&client, &name).await?;
        latencies.push(started.elapsed());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_mib()?;
    Ok(ClusterFigures {
        pods,
        pod_running_ms_p50: latencies.percentile_ms(50.0),
        pod_running_ms_p90: latencies.percentile_ms(90.0),
        rss_per_pod_kib: (after - before) * 1024.0 / pods as f64,
        cni_setup_ms_p50: 0.0,
    })
}

async fn create_pod(client: &ApiClient, name: &str) -> anyhow::Result<()> {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}],
            "terminationGracePeriodSeconds": 0,
        },
    });
    client
        .call(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            Some(Bytes::from(serde_json::to_vec(&pod)?)),
        )
        .await?
        .expect(StatusCode::CREATED, "creating a pod")?;
    Ok(())
}

/// Polls the pod until its phase is `Running`.
async fn wait_running(client: &ApiClient, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + POD_TIMEOUT;
    let path = format!("/api/v1/namespaces/default/pods/{name}");
    loop {
        let body = client
            .call(Method::GET, &path, None)
            .await?
            .expect(StatusCode::OK, &path)?;
        let pod: Value = serde_json::from_slice(&body)?;
        if pod["status"]["phase"] == "Running" {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "pod {name} was not Running after {POD_TIMEOUT:?}: {}",
                pod["status"]
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// An OCI image archive (`oci-archive`, what `skopeo copy … oci-archive:` writes) of
/// `rootfs` as one uncompressed layer, named [`IMAGE`].
fn write_oci_archive(rootfs: &Path, out: &Path) -> anyhow::Result<()> {
    let sha = |bytes: &[u8]| {
        let d = ring::digest::digest(&ring::digest::SHA256, bytes);
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut layer = tar::Builder::new(Vec::new());
    layer.follow_symlinks(false);
    layer.append_dir_all(".", rootfs)?;
    let layer = layer.into_inner()?;
    let layer_hex = sha(&layer);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    let mut config = json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
    });
    if arch == "arm" {
        config["variant"] = json!("v7");
    }
    let config = serde_json::to_vec(&config)?;
    let config_hex = sha(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{layer_hex}"), "size": layer.len()}],
    }))?;
    let manifest_hex = sha(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest.len(),
            "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": IMAGE},
        }],
    }))?;
    let mut archive = tar::Builder::new(std::fs::File::create(out)?);
    let mut add = |path: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive.append_data(&mut header, path, bytes)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", &index)?;
    add(&format!("blobs/sha256/{layer_hex}"), &layer)?;
    add(&format!("blobs/sha256/{config_hex}"), &config)?;
    add(&format!("blobs/sha256/{manifest_hex}"), &manifest)?;
    archive.finish()?;
    Ok(())
}

/// `line` without its ANSI escape sequences (`ESC [ … letter`: a terminal's colours).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod network_tests {
    use super::*;

    #[test]
    fn reads_cni_setup_times_from_the_log() {
        let log = "2026-11-26T10:00:00Z  INFO kmicro_network::network: pod network attached sandbox=a elapsed_ms=12.5\n\
                   2026-11-26T10:00:01Z  WARN kmicro::agent: other elapsed_ms=99\n\
                   \x1b[2m2026\x1b[0m INFO pod network attached \x1b[3melapsed_ms\x1b[0m\x1b[2m=\x1b[0m7.25\n";
        assert_eq!(cni_setup_times(log), vec![12.5, 7.25]);
    }
}
