//! Shared fixtures: a busybox rootfs, a runtime on a temp state dir, stdio readers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use kmicro_container::{ContainerSpec, Runtime, Sandbox, SandboxSpec};
use tokio::io::AsyncReadExt;

/// A root filesystem with static busybox, its applet links, /etc/passwd and /etc/group.
pub fn busybox_rootfs(dir: &Path) {
    let bb = Path::new("/bin/busybox");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(bb, dir.join("bin/busybox")).unwrap();
    let list = std::process::Command::new(bb)
        .arg("--list-full")
        .output()
        .unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        let target = dir.join(applet);
        if target.exists() {
            continue;
        }
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", &target).unwrap();
    }
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A unique name for this test process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub rt: Runtime,
    pub rootfs: PathBuf,
    pub cgroup_root: String,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        busybox_rootfs(&rootfs);
        let cgroup_root = unique("kmicro-test");
        let rt = Runtime::new(tmp.path().join("state"), &cgroup_root).unwrap();
        Env {
            tmp,
            rt,
            rootfs,
            cgroup_root,
        }
    }

    pub fn sandbox(&self, hostname: &str) -> Sandbox {
        let id = unique("sb");
        self.rt
            .create_sandbox(&SandboxSpec {
                id: id.clone(),
                pod_uid: format!("uid-{id}"),
                hostname: hostname.into(),
                ..Default::default()
            })
            .unwrap()
    }

    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        ContainerSpec {
            id: unique("c"),
            name: "main".into(),
            rootfs: self.rootfs.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![
                "PATH=/bin:/usr/bin:/sbin:/usr/sbin".into(),
                "HOME=/root".into(),
            ],
            ..Default::default()
        }
    }
}

/// Removes a cgroup directory tree, deepest first.
pub fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Env {
    fn drop(&mut self) {
        // A failed test may leave containers running: end them with it.
        let running: Vec<_> = self
            .rt
            .list()
            .into_iter()
            .filter(|c| c.exit.is_none())
            .collect();
        for c in &running {
            let _ = self.rt.kill(&c.id, libc::SIGKILL);
        }
        if !running.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        if let Ok(sbs) = self.rt.sandboxes() {
            for sb in sbs {
                let _ = self.rt.remove_sandbox(sb.id());
            }
        }
        for dir in self.rt.cgroup_layout().dirs(Path::new(&self.cgroup_root)) {
            rmdir_tree(&dir);
        }
    }
}

/// Reads a stdio stream to its end.
pub async fn read_all<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        r.read_to_string(&mut s).await.unwrap();
    }
    s
}

/// Starts `spec`, collects stdout and stderr, waits; returns (exit, stdout, stderr).
pub async fn run(
    env: &Env,
    sandbox: &Sandbox,
    spec: &ContainerSpec,
) -> (kmicro_container::Exit, String, String) {
    let mut c = env.rt.start(sandbox, spec).await.unwrap();
    let out = tokio::spawn(read_all(c.stdio.stdout.take()));
    let err = tokio::spawn(read_all(c.stdio.stderr.take()));
    let exit = tokio::time::timeout(std::time::Duration::from_secs(30), env.rt.wait(&c.id))
        .await
        .expect("container did not end in 30 s")
        .unwrap();
    let out = out.await.unwrap();
    let err = err.await.unwrap();
    env.rt.delete(&c.id).await.unwrap();
    (exit, out, err)
}
