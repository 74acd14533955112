//! A kmicro restart: the first runtime lives in a helper process that is killed with SIGKILL
//! while its container writes; a new runtime adopts the container, reads on without losing a
//! line and observes its end.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use kmicro_container::{ExitStatus, Runtime, SandboxSpec};
use tokio::io::AsyncReadExt;

const HELPER_ENV: &str = "KMICRO_ADOPTION_HELPER_STATE";

/// Runs only as the helper (when the parent test sets the variable): the "first kmicro".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of adopted_containers_keep_running_and_lose_no_output"]
async fn adoption_helper() {
    let Ok(state) = std::env::var(HELPER_ENV) else {
        return;
    };
    let cgroup_root = std::env::var("KMICRO_ADOPTION_CGROUP").unwrap();
    let rootfs = std::env::var("KMICRO_ADOPTION_ROOTFS").unwrap();
    let rt = Runtime::new(&state, &cgroup_root).unwrap();
    let sb = rt
        .create_sandbox(&SandboxSpec {
            id: "pod".into(),
            pod_uid: "pod-uid".into(),
            hostname: "adopted".into(),
            ..Default::default()
        })
        .unwrap();
    let spec = |id: &str, script: &str| kmicro_container::ContainerSpec {
        id: id.into(),
        name: id.into(),
        rootfs: rootfs.clone().into(),
        args: vec!["sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into()],
        ..Default::default()
    };
    // Ends while no kmicro runs.
    let short = rt
        .start(&sb, &spec("short", "sleep 0.3; exit 7"))
        .await
        .unwrap();
    drop(short);
    let mut c = rt
        .start(
            &sb,
            &spec(
                "counter",
                "i=0; while true; do echo $i; i=$((i+1)); sleep 0.005; done",
            ),
        )
        .await
        .unwrap();
    let mut out = c.stdio.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.lines().any(|l| l == "20") {
        let n = out.read(&mut buf).await.unwrap();
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    // Each echo is one write of a whole line, so only whole lines were read.
    // libtest prints "test adoption_helper ... " without a newline first.
    print!("\nHELPER-BEGIN\n{seen}");
    println!("HELPER-PAUSED");
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    // Reading stops here; the container keeps writing into its FIFO.
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_containers_keep_running_and_lose_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    common::busybox_rootfs(&rootfs);
    let state = tmp.path().join("state");
    let cgroup_root = common::unique("kmicro-adopt");
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "adoption_helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, &state)
        .env("KMICRO_ADOPTION_CGROUP", &cgroup_root)
        .env("KMICRO_ADOPTION_ROOTFS", &rootfs)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut begun = false;
    for line in BufReader::new(helper.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        match line.as_str() {
            "HELPER-BEGIN" => begun = true,
            "HELPER-PAUSED" => break,
            _ if begun => lines.push(line),
            _ => {}
        }
    }
    assert!(lines.len() > 20, "{lines:?}");
    // The first kmicro dies without any clean-up.
    helper.kill().unwrap();
    helper.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rt = Runtime::new(&state, &cgroup_root).unwrap();
    let adopted = rt.adopt_all().await.unwrap();
    assert_eq!(
        adopted.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["counter", "short"]
    );
    assert!(adopted.iter().all(|c| c.adopted));
    let short = rt
        .exit("short")
        .unwrap()
        .expect("ended while kmicro was away");
    assert_eq!(short.status, ExitStatus::Unknown);
    assert!(!short.oom_killed);
    assert!(rt.exit("counter").unwrap().is_none(), "still running");

    let mut counter = adopted.into_iter().find(|c| c.id == "counter").unwrap();
    let mut out = counter.stdio.stdout.take().unwrap();
    let last_before: u64 = lines.last().unwrap().parse().unwrap();
    let mut more = String::new();
    let mut buf = [0u8; 4096];
    while !more.lines().any(|l| {
        l.parse::<u64>()
            .map(|n| n > last_before + 150)
            .unwrap_or(false)
    }) {
        let n = tokio::time::timeout(Duration::from_secs(10), out.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "output ended early");
        more.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    lines.extend(more.lines().map(str::to_string));
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l, &i.to_string(), "line {i} lost or out of order");
    }

    rt.kill("counter", libc::SIGKILL).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), rt.wait("counter"))
        .await
        .unwrap()
        .unwrap();
    // Not our child: the code is lost, the end is seen.
    assert_eq!(exit.status, ExitStatus::Unknown);
    assert!(rt.list().iter().all(|c| c.exit.is_some()));
    rt.delete("counter").await.unwrap();
    rt.delete("short").await.unwrap();
    rt.remove_sandbox("pod").unwrap();
    for dir in rt.cgroup_layout().dirs(std::path::Path::new(&cgroup_root)) {
        common::rmdir_tree(&dir);
        assert!(!dir.exists());
    }
}
