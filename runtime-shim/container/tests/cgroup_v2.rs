//! The unified (v2) hierarchy for real. On this project's hybrid machines cgroup2 is mounted
//! at `/sys/fs/cgroup/unified` with no resource controller (they are bound to v1), so this
//! exercises group creation, placement of the container before `execve`, exec joining the
//! group, and removal; the limit files are checked against a temp dir in the unit tests.

mod common;

use std::path::{Path, PathBuf};

use kmicro_container::{CgroupLayout, ExecSpec, ExitStatus, Runtime, SandboxSpec};

fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let point = left.split(' ').nth(4)?;
        right.starts_with("cgroup2 ").then(|| PathBuf::from(point))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_in_a_cgroup2_hierarchy() {
    let mount = cgroup2_mount().expect("this test needs a cgroup2 mount (unified or hybrid)");
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    common::busybox_rootfs(&rootfs);
    let root = common::unique("kmicro-v2");
    let rt = Runtime::with_layout(
        tmp.path().join("state"),
        &root,
        CgroupLayout::V2 {
            mount: mount.clone(),
        },
    )
    .unwrap();
    let sb = rt
        .create_sandbox(&SandboxSpec {
            id: "v2".into(),
            pod_uid: "v2-uid".into(),
            ..Default::default()
        })
        .unwrap();
    let spec = kmicro_container::ContainerSpec {
        id: "c".into(),
        rootfs,
        args: vec![
            "sh".into(),
            "-c".into(),
            "grep '^0::' /proc/self/cgroup; sleep 1000".into(),
        ],
        env: vec!["PATH=/bin".into()],
        ..Default::default()
    };
    let mut c = rt.start(&sb, &spec).await.unwrap();
    let dir = mount.join(&root).join("pods/v2-uid/c");
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == c.pid.to_string()), "{procs}");
    let host_view = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid)).unwrap();
    assert!(
        host_view.contains(&format!("0::/{root}/pods/v2-uid/c")),
        "{host_view}"
    );
    // Exec joins the same group.
    let p = rt
        .exec(
            "c",
            &ExecSpec {
                args: vec!["sleep".into(), "0.2".into()],
                env: vec!["PATH=/bin".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == p.pid.to_string()), "{procs}");
    assert_eq!(p.wait().await.unwrap(), ExitStatus::Exited(0));
    rt.kill("c", libc::SIGKILL).unwrap();
    rt.wait("c").await.unwrap();
    let out = common::read_all(c.stdio.stdout.take()).await;
    // Inside there is no cgroup namespace: the container sees the same path.
    assert!(out.contains(&format!("0::/{root}/pods/v2-uid/c")), "{out}");
    rt.delete("c").await.unwrap();
    assert!(!dir.exists());
    rt.remove_sandbox("v2").unwrap();
    common::rmdir_tree(&Path::new(&mount).join(&root));
}
