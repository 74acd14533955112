//! Container start of `/bin/true` through this crate against `runc run` on the same busybox
//! rootfs: 20 runs each (after 2 warm-ups), medians and the ratio shim/runc.
//!
//! Each shim run is start → wait → delete of a container in a pod sandbox created once (as a
//! pod's containers are); the "with sandbox" figure adds creating and removing the sandbox's
//! network/IPC/UTS namespaces per run, which `runc run` does too. Each runc run is
//! `runc run` of a bundle from `runc spec` (terminal off, args `/bin/true`), which creates,
//! starts, waits for and deletes the container.
//!
//! Run as root: `cargo run --release -p kmicro-container --example start_bench [-- --json]`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kmicro_container::{ContainerSpec, Runtime, SandboxSpec};

const RUNS: usize = 20;
const WARMUP: usize = 2;

fn busybox_rootfs(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy("/bin/busybox", dir.join("bin/busybox"))?;
    let list = Command::new("/bin/busybox").arg("--list-full").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let target = dir.join(applet);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !target.exists() {
            std::os::unix::fs::symlink("/bin/busybox", &target)?;
        }
    }
    std::fs::create_dir_all(dir.join("etc"))?;
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\n")?;
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = std::env::args().any(|a| a == "--json");
    let tmp = tempfile::tempdir()?;
    let rootfs = tmp.path().join("rootfs");
    busybox_rootfs(&rootfs)?;

    // The shim.
    let cgroup_root = format!("kmicro-bench-{}", std::process::id());
    let rt = Runtime::new(tmp.path().join("state"), &cgroup_root)?;
    let spec = |i: usize| ContainerSpec {
        id: format!("bench-{i}"),
        name: "bench".into(),
        rootfs: rootfs.clone(),
        args: vec!["/bin/true".into()],
        env: vec!["PATH=/bin".into()],
        ..Default::default()
    };
    let sandbox_spec = |i: usize| SandboxSpec {
        id: format!("pod-{i}"),
        pod_uid: format!("pod-uid-{i}"),
        hostname: "bench".into(),
        ..Default::default()
    };
    let sb = rt.create_sandbox(&sandbox_spec(usize::MAX))?;
    let mut shim = Vec::new();
    let (mut t_start, mut t_wait, mut t_delete) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARMUP + RUNS {
        let t = Instant::now();
        let c = rt.start(&sb, &spec(i)).await?;
        let t1 = t.elapsed();
        let exit = rt.wait(&c.id).await?;
        let t2 = t.elapsed();
        rt.delete(&c.id).await?;
        let d = t.elapsed();
        t_start.push(t1);
        t_wait.push(t2 - t1);
        t_delete.push(d - t2);
        if exit.status != kmicro_container::ExitStatus::Exited(0) {
            return Err(format!("shim run {i}: {exit:?}").into());
        }
        if i >= WARMUP {
            shim.push(d);
        }
    }
    rt.remove_sandbox(sb.id())?;
    let mut shim_pod = Vec::new();
    for i in 0..WARMUP + RUNS {
        let t = Instant::now();
        let sb = rt.create_sandbox(&sandbox_spec(i))?;
        let c = rt.start(&sb, &spec(1000 + i)).await?;
        rt.wait(&c.id).await?;
        rt.delete(&c.id).await?;
        rt.remove_sandbox(sb.id())?;
        if i >= WARMUP {
            shim_pod.push(t.elapsed());
        }
    }
    for dir in rt.cgroup_layout().dirs(Path::new(&cgroup_root)) {
        let _ = std::fs::remove_dir(dir.join("pods"));
        let _ = std::fs::remove_dir(&dir);
    }

    // runc.
    let bundle = tmp.path().join("bundle");
    std::fs::create_dir_all(&bundle)?;
    let st = Command::new("runc")
        .arg("spec")
        .current_dir(&bundle)
        .status()?;
    if !st.success() {
        return Err("runc spec failed".into());
    }
    let config_path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path)?)?;
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    config["root"]["path"] = rootfs.to_string_lossy().into_owned().into();
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
    let runc_root = tmp.path().join("runc-state");
    let mut runc = Vec::new();
    for i in 0..WARMUP + RUNS {
        let t = Instant::now();
        let st = Command::new("runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("kmicro-bench-runc-{}-{i}", std::process::id()))
            .status()?;
        let d = t.elapsed();
        if !st.success() {
            return Err(format!("runc run {i}: {st}").into());
        }
        if i >= WARMUP {
            runc.push(d);
        }
    }

    let (shim, shim_pod, runc) = (median(shim), median(shim_pod), median(runc));
    let ratio = ms(shim) / ms(runc);
    let ratio_pod = ms(shim_pod) / ms(runc);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "runs": RUNS,
                "shim_median_ms": ms(shim),
                "shim_with_sandbox_median_ms": ms(shim_pod),
                "runc_median_ms": ms(runc),
                "ratio": ratio,
                "ratio_with_sandbox": ratio_pod,
            })
        );
    } else {
        println!("container start of /bin/true, median of {RUNS} (start, wait, delete):");
        println!("  shim                 {:8.2} ms", ms(shim));
        println!(
            "    of which start {:.2} ms, wait {:.2} ms, delete {:.2} ms",
            ms(median(t_start)),
            ms(median(t_wait)),
            ms(median(t_delete))
        );
        println!("  shim + sandbox       {:8.2} ms", ms(shim_pod));
        println!("  runc run             {:8.2} ms", ms(runc));
        println!(
            "  ratio shim/runc      {ratio:8.2}   (with sandbox {ratio_pod:.2}; target <= 0.5)"
        );
    }
    Ok(())
}
