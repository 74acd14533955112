//! A real image: busybox-static packed by umoci (with umoci's own whiteout and opaque
//! layers), unpacked, mounted, and run with `chroot`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Env;
use kmicro_rootfs::{Compression, LayerSource, Snapshotter};

fn run(argv: &[&str]) {
    let status = Command::new(argv[0]).args(&argv[1..]).status().unwrap();
    assert!(status.success(), "{argv:?}: {status}");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// The layers of `<layout>:<tag>` (an OCI layout with one manifest) as the image store will
/// hand them over.
fn layers_of(layout: &Path) -> Vec<LayerSource> {
    let index = json(&layout.join("index.json"));
    let manifest = json(&blob(
        layout,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ));
    let config = json(&blob(
        layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    layers
        .iter()
        .zip(diff_ids)
        .map(|(layer, diff_id)| LayerSource {
            path: blob(layout, layer["digest"].as_str().unwrap()),
            compression: Compression::from_media_type(layer["mediaType"].as_str().unwrap())
                .unwrap(),
            diff_id: diff_id.as_str().unwrap().to_owned(),
        })
        .collect()
}

/// busybox with `sh`, `/etc/motd` and `/opt/old`; then a layer whiting out `/etc/motd`;
/// then one replacing `/opt` opaquely.
fn build_image(dir: &Path) -> PathBuf {
    let layout = dir.join("image");
    let layout_text = layout.display().to_string();
    let image = format!("{layout_text}:busybox");
    let base = dir.join("base");
    std::fs::create_dir_all(base.join("bin")).unwrap();
    std::fs::create_dir_all(base.join("etc")).unwrap();
    std::fs::create_dir_all(base.join("opt/old")).unwrap();
    std::fs::copy("/bin/busybox", base.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", base.join("bin/sh")).unwrap();
    std::fs::write(base.join("etc/motd"), b"hello\n").unwrap();
    std::fs::write(base.join("opt/old/file"), b"old\n").unwrap();
    let new_opt = dir.join("new-opt");
    std::fs::create_dir_all(&new_opt).unwrap();
    std::fs::write(new_opt.join("fresh"), b"fresh\n").unwrap();
    run(&["umoci", "init", "--layout", &layout_text]);
    run(&["umoci", "new", "--image", &image]);
    run(&[
        "umoci",
        "insert",
        "--image",
        &image,
        base.to_str().unwrap(),
        "/",
    ]);
    run(&[
        "umoci",
        "insert",
        "--image",
        &image,
        "--whiteout",
        "/etc/motd",
    ]);
    run(&[
        "umoci",
        "insert",
        "--image",
        &image,
        "--opaque",
        new_opt.to_str().unwrap(),
        "/opt",
    ]);
    layout
}

fn chroot(root: &Path, argv: &[&str]) -> (bool, String) {
    let output = Command::new("chroot")
        .arg(root)
        .args(argv)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn busybox_runs_in_the_merged_rootfs() {
    let env = Env::new();
    let layout = build_image(env.dir.path());
    let layers = layers_of(&layout);
    assert_eq!(layers.len(), 3);
    let lowers = env.snapshotter.unpack(&layers).unwrap();
    let rootfs = env.snapshotter.prepare("busybox", &lowers, false).unwrap();
    let root = &rootfs.path;

    let (ok, out) = chroot(root, &["/bin/busybox", "echo", "hello from busybox"]);
    assert!(ok);
    assert_eq!(out, "hello from busybox\n");
    let (ok, out) = chroot(root, &["/bin/sh", "-c", "echo $((6 * 7))"]);
    assert!(ok, "the relative symlink /bin/sh works");
    assert_eq!(out, "42\n");
    let (ok, _) = chroot(root, &["/bin/busybox", "cat", "/etc/motd"]);
    assert!(!ok, "umoci's whiteout hides /etc/motd");
    let (ok, out) = chroot(root, &["/bin/busybox", "ls", "/opt"]);
    assert!(ok);
    assert_eq!(out, "fresh\n", "umoci's opaque /opt hides the old content");
    let (ok, _) = chroot(
        root,
        &[
            "/bin/sh",
            "-c",
            "echo written > /etc/new && test -f /etc/new",
        ],
    );
    assert!(ok, "the root filesystem is writable");
    env.snapshotter.remove("busybox").unwrap();
}

#[test]
fn busybox_layer_unpack_time() {
    let env = Env::new();
    let layout = build_image(env.dir.path());
    let base = layers_of(&layout).remove(0);
    let size = std::fs::metadata(&base.path).unwrap().len();
    let mut times: Vec<Duration> = (0..7)
        .map(|i| {
            let snapshotter =
                Snapshotter::open(env.dir.path().join(format!("timing-{i}"))).unwrap();
            let started = Instant::now();
            snapshotter.unpack(std::slice::from_ref(&base)).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "busybox layer ({size} bytes gzip): unpack median {:.2} ms (min {:.2}, max {:.2}) over {} runs",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
}
