//! Containers through the real kernel: run as root.

mod common;

use common::{Env, read_all, run};
use kmicro_container::{ExecSpec, ExitStatus, Resources, User};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_stdio() {
    let env = Env::new();
    let sb = env.sandbox("pod-a");
    let (exit, _, _) = run(&env, &sb, &env.spec(&["/bin/true"])).await;
    assert_eq!(exit.status, ExitStatus::Exited(0));
    assert!(!exit.oom_killed);
    let (exit, _, _) = run(&env, &sb, &env.spec(&["sh", "-c", "exit 3"])).await;
    assert_eq!(exit.status, ExitStatus::Exited(3));
    let (exit, out, err) = run(
        &env,
        &sb,
        &env.spec(&["sh", "-c", "echo to-out; echo to-err >&2"]),
    )
    .await;
    assert_eq!(exit.status, ExitStatus::Exited(0));
    assert_eq!(out, "to-out\n");
    assert_eq!(err, "to-err\n");
    // The container's own readers of its FIFOs are fds 3 and 4.
    let (_, out, _) = run(
        &env,
        &sb,
        &env.spec(&[
            "sh",
            "-c",
            "ls -l /proc/self/fd/ | grep -c stdout; readlink /proc/self/fd/4",
        ]),
    )
    .await;
    assert!(out.contains("stderr"), "{out}");
    // A PID namespace's first process ignores its own signals; with hostPID it is not first.
    let (exit, _, _) = run(&env, &sb, &env.spec(&["sh", "-c", "kill -9 $$; exit 1"])).await;
    assert_eq!(exit.status, ExitStatus::Exited(1));
    let host_pid = env
        .rt
        .create_sandbox(&kmicro_container::SandboxSpec {
            id: common::unique("hostpid"),
            pod_uid: common::unique("hostpid-uid"),
            host_pid: true,
            ..Default::default()
        })
        .unwrap();
    let (exit, _, _) = run(
        &env,
        &host_pid,
        &env.spec(&["sh", "-c", "kill -9 $$; exit 1"]),
    )
    .await;
    assert_eq!(exit.status, ExitStatus::Signaled(9));
    assert_eq!(exit.status.code(), Some(137));
    let (_, out, _) = run(
        &env,
        &host_pid,
        &env.spec(&["sh", "-c", "echo $$; readlink /proc/self/ns/pid"]),
    )
    .await;
    assert_ne!(out.lines().next(), Some("1"), "{out}");
    assert_eq!(
        out.lines().nth(1).unwrap(),
        std::fs::read_link("/proc/self/ns/pid")
            .unwrap()
            .to_string_lossy()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_names_the_step() {
    let env = Env::new();
    let sb = env.sandbox("pod-b");
    let err = env
        .rt
        .start(&sb, &env.spec(&["no-such-program"]))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("execve") && text.contains("no-such-program"),
        "{text}"
    );
    assert!(env.rt.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_is_observed() {
    let env = Env::new();
    let sb = env.sandbox("pod-k");
    let c = env
        .rt
        .start(&sb, &env.spec(&["sleep", "1000"]))
        .await
        .unwrap();
    assert!(env.rt.exit(&c.id).unwrap().is_none());
    env.rt.kill(&c.id, libc::SIGKILL).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), env.rt.wait(&c.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.status, ExitStatus::Signaled(libc::SIGKILL));
    assert!(
        env.rt.kill(&c.id, libc::SIGKILL).is_err(),
        "not running any more"
    );
    env.rt.delete(&c.id).await.unwrap();
    assert!(env.rt.list().is_empty());
}

fn ns_of(out: &str, kind: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(&format!("{kind}:")))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_shares_net_ipc_uts_but_not_pid() {
    let env = Env::new();
    let sb = env.sandbox("shared-pod");
    let script = "hostname; for n in net ipc uts pid mnt; do readlink /proc/self/ns/$n; done; echo $$; cat /proc/1/cmdline | tr '\\0' ' '";
    // The first keeps running, so the second cannot get its freed namespace inodes.
    let long = format!("{script}; echo; sleep 1000");
    let mut first = env
        .rt
        .start(&sb, &env.spec(&["sh", "-c", &long]))
        .await
        .unwrap();
    let mut out = first.stdio.stdout.take().unwrap();
    let mut a = String::new();
    let mut buf = [0u8; 1024];
    while a.lines().count() < 8 {
        let n = out.read(&mut buf).await.unwrap();
        assert!(n > 0, "{a}");
        a.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    let (_, b, _) = run(&env, &sb, &env.spec(&["sh", "-c", script])).await;
    env.rt.kill(&first.id, libc::SIGKILL).unwrap();
    env.rt.wait(&first.id).await.unwrap();
    env.rt.delete(&first.id).await.unwrap();
    assert_eq!(a.lines().next(), Some("shared-pod"), "{a}");
    for kind in ["net", "ipc", "uts"] {
        assert_eq!(ns_of(&a, kind), ns_of(&b, kind), "{kind}: {a} / {b}");
        assert_ne!(ns_of(&a, kind), "");
    }
    assert_ne!(ns_of(&a, "pid"), ns_of(&b, "pid"));
    // The sandbox's bind-mounted file is the same network namespace.
    let ino =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(sb.netns_path().unwrap()).unwrap());
    assert_eq!(ns_of(&a, "net"), format!("net:[{ino}]"));
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(ns_of(&a, "net"), host.to_string_lossy());
    // /proc/1 is the container's own first process.
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines[6], "1", "{a}");
    assert!(lines[7].starts_with("sh -c hostname"), "{a}");
    env.rt.remove_sandbox(sb.id()).unwrap();
    assert!(!sb.dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_rootfs_mounts_and_etc_files() {
    let env = Env::new();
    let sb = env.sandbox("ro");
    let vol = env.tmp.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let ro = env.tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("data"), "kept").unwrap();
    let hosts = env.tmp.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n10.1.2.3 ro\n").unwrap();
    let mut spec = env.spec(&[
        "sh",
        "-c",
        "touch /x && echo root-writable; echo v > /data/vol/f && echo vol-writable; \
         echo y > /data/ro/data || echo ro-refused; cat /data/ro/data; echo; grep 10.1.2.3 /etc/hosts; \
         touch /dev/shm/s && echo shm-writable; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; \
         echo 1 > /proc/sys/kernel/domainname || echo procsys-refused; touch /sys/x || echo sys-refused; pwd",
    ]);
    spec.read_only_rootfs = true;
    spec.cwd = "/work/dir".into();
    spec.etc_hosts = Some(hosts);
    spec.mounts = vec![
        kmicro_container::BindMount {
            source: vol.clone(),
            target: "/data/vol".into(),
            read_only: false,
        },
        kmicro_container::BindMount {
            source: ro,
            target: "/data/ro".into(),
            read_only: true,
        },
    ];
    let (_, out, err) = run(&env, &sb, &spec).await;
    assert!(!out.contains("root-writable"), "{out} {err}");
    assert!(out.contains("vol-writable"), "{out} {err}");
    assert!(
        out.contains("ro-refused") && out.contains("kept"),
        "{out} {err}"
    );
    assert!(out.contains("10.1.2.3 ro"), "{out} {err}");
    assert!(out.contains("shm-writable"), "{out} {err}");
    assert!(
        out.contains("shm-writable\n0\n0\n"),
        "/proc/timer_list and /proc/acpi masked: {out} {err}"
    );
    assert!(
        out.contains("procsys-refused") && out.contains("sys-refused"),
        "{out} {err}"
    );
    assert!(out.trim_end().ends_with("/work/dir"), "{out}");
    assert_eq!(std::fs::read_to_string(vol.join("f")).unwrap(), "v\n");
}

fn cap_line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(name))
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_user_and_no_new_privs() {
    let env = Env::new();
    let sb = env.sandbox("caps");
    let script = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; id";
    let (_, out, _) = run(&env, &sb, &env.spec(&["sh", "-c", script])).await;
    assert_eq!(cap_line(&out, "CapBnd:"), "00000000a80425fb", "{out}");
    assert_eq!(cap_line(&out, "CapEff:"), "00000000a80425fb", "{out}");
    assert_eq!(cap_line(&out, "CapPrm:"), "00000000a80425fb", "{out}");
    assert_eq!(cap_line(&out, "CapInh:"), "0000000000000000", "{out}");
    assert_eq!(cap_line(&out, "NoNewPrivs:"), "0", "{out}");
    assert!(out.contains("uid=0(root) gid=0(root)"), "{out}");

    let mut spec = env.spec(&["sh", "-c", script]);
    spec.cap_drop = vec!["NET_RAW".into(), "CAP_KILL".into()];
    spec.cap_add = vec!["NET_ADMIN".into()];
    spec.no_new_privileges = true;
    let (_, out, _) = run(&env, &sb, &spec).await;
    let want = 0xa80425fbu64 & !(1 << 13) & !(1 << 5) | (1 << 12);
    assert_eq!(cap_line(&out, "CapBnd:"), format!("{want:016x}"), "{out}");
    assert_eq!(cap_line(&out, "CapEff:"), format!("{want:016x}"), "{out}");
    assert_eq!(cap_line(&out, "NoNewPrivs:"), "1", "{out}");

    let mut spec = env.spec(&["sh", "-c", script]);
    spec.user = User {
        uid: 1000,
        gid: 1000,
        additional_gids: vec![10, 20],
    };
    let (_, out, _) = run(&env, &sb, &spec).await;
    assert!(
        out.contains("uid=1000(user) gid=1000(user) groups=10,20"),
        "{out}"
    );
    assert_eq!(cap_line(&out, "CapEff:"), "0000000000000000", "{out}");
    assert_eq!(cap_line(&out, "CapBnd:"), "00000000a80425fb", "{out}");

    let mut spec = env.spec(&[
        "sh",
        "-c",
        "grep CapEff /proc/self/status; touch /sys/kernel/x 2>&1; ls /dev | wc -l",
    ]);
    spec.privileged = true;
    let (_, out, _) = run(&env, &sb, &spec).await;
    let all = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(
        cap_line(&out, "CapEff:"),
        cap_line(&all, "CapBnd:"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_oom_kill_is_reported() {
    let env = Env::new();
    let sb = env.sandbox("oom");
    let mut spec = env.spec(&["sh", "-c", "head -c 100m /dev/zero | tail > /dev/null"]);
    spec.resources = Resources {
        memory_limit_bytes: Some(16 << 20),
        ..Default::default()
    };
    let (exit, _, err) = run(&env, &sb, &spec).await;
    assert!(exit.oom_killed, "{exit:?} {err}");
    // The kernel's OOM killer picks the biggest process: `tail` (then `sh` exits 137), or at
    // times `sh` itself (then the container's first process died of SIGKILL). Kubernetes
    // shows 137 either way.
    assert!(
        matches!(
            exit.status,
            ExitStatus::Exited(137) | ExitStatus::Signaled(9)
        ),
        "{exit:?} {err}"
    );
    assert_eq!(exit.status.code(), Some(137));
    // Under the limit nothing is killed.
    let mut spec = env.spec(&["sh", "-c", "head -c 1m /dev/zero | tail > /dev/null"]);
    spec.resources = Resources {
        memory_limit_bytes: Some(16 << 20),
        ..Default::default()
    };
    let (exit, _, _) = run(&env, &sb, &spec).await;
    assert_eq!(exit.status, ExitStatus::Exited(0));
    assert!(!exit.oom_killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pids_and_cpu_limits() {
    let env = Env::new();
    let sb = env.sandbox("pids");
    let mut spec = env.spec(&[
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done 2>&1; echo started $(jobs -p | wc -l)",
    ]);
    spec.resources = Resources {
        pids_limit: Some(4),
        cpu_request_millis: Some(250),
        cpu_limit_millis: Some(500),
        ..Default::default()
    };
    let mut c = env.rt.start(&sb, &spec).await.unwrap();
    let layout = env.rt.cgroup_layout().clone();
    let rel = std::path::Path::new(&env.cgroup_root)
        .join("pods")
        .join(&sb.spec.pod_uid)
        .join(&c.id);
    for dir in layout.dirs(&rel) {
        if dir.join("pids.max").exists() {
            assert_eq!(
                std::fs::read_to_string(dir.join("pids.max"))
                    .unwrap()
                    .trim(),
                "4"
            );
        }
        if dir.join("cpu.shares").exists() {
            assert_eq!(
                std::fs::read_to_string(dir.join("cpu.shares"))
                    .unwrap()
                    .trim(),
                "256"
            );
            assert_eq!(
                std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
                    .unwrap()
                    .trim(),
                "50000"
            );
        }
        if dir.join("cpu.max").exists() {
            assert_eq!(
                std::fs::read_to_string(dir.join("cpu.max")).unwrap().trim(),
                "50000 100000"
            );
        }
    }
    let out = read_all(c.stdio.stdout.take()).await;
    env.rt.wait(&c.id).await.unwrap();
    assert!(
        out.contains("can't fork") || out.contains("Resource temporarily unavailable"),
        "{out}"
    );
    env.rt.delete(&c.id).await.unwrap();
    for dir in layout.dirs(&rel) {
        assert!(!dir.exists(), "{} removed", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_in_the_container_with_pipes_and_tty() {
    let env = Env::new();
    let sb = env.sandbox("exec-pod");
    let c = env
        .rt
        .start(&sb, &env.spec(&["sleep", "1000"]))
        .await
        .unwrap();
    let spec = ExecSpec {
        args: vec!["sh".into(), "-c".into(), "echo $$; hostname; readlink /proc/self/ns/pid; readlink /proc/1/exe; cat /proc/1/cmdline; echo; grep CapEff /proc/self/status; read x; echo got $x; exit 5".into()],
        env: vec!["PATH=/bin".into()],
        stdin: true,
        ..Default::default()
    };
    let mut p = env.rt.exec(&c.id, &spec).await.unwrap();
    let mut stdin = p.stdio.stdin.take().unwrap();
    stdin.write_all(b"hello\n").await.unwrap();
    drop(stdin);
    let out = read_all(p.stdio.stdout.take()).await;
    let status = p.wait().await.unwrap();
    assert_eq!(status, ExitStatus::Exited(5), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let pid: i32 = lines[0].parse().unwrap();
    assert!(
        pid > 1 && pid < 100,
        "a pid of the container's namespace: {out}"
    );
    assert_eq!(lines[1], "exec-pod");
    let container_pidns = std::fs::read_link(format!("/proc/{}/ns/pid", c.pid)).unwrap();
    assert_eq!(lines[2], container_pidns.to_string_lossy());
    assert_eq!(lines[4], "sleep\u{0}1000\u{0}");
    assert!(lines[5].ends_with("00000000a80425fb"), "{out}");
    assert_eq!(lines[6], "got hello");

    // With a terminal: resize it, ask its size.
    let spec = ExecSpec {
        args: vec!["sh".into()],
        env: vec!["PATH=/bin".into()],
        tty: true,
        stdin: true,
        ..Default::default()
    };
    let mut p = env.rt.exec(&c.id, &spec).await.unwrap();
    let mut pty = p.stdio.tty.take().unwrap();
    pty.resize(100, 30).unwrap();
    assert_eq!(pty.size().unwrap(), (100, 30));
    pty.write_all(b"stty size; [ -t 0 ] && echo on-a-tty; echo term=$(tty); exit 4\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), pty.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(p.wait().await.unwrap(), ExitStatus::Exited(4), "{out}");
    assert!(out.contains("30 100") && out.contains("on-a-tty"), "{out}");
    // The terminal is one of the container's devpts, not the host's.
    assert!(out.contains("term=/dev/pts/0"), "{out}");

    env.rt.kill(&c.id, libc::SIGKILL).unwrap();
    env.rt.wait(&c.id).await.unwrap();
    assert!(
        env.rt
            .exec(
                &c.id,
                &ExecSpec {
                    args: vec!["true".into()],
                    ..Default::default()
                }
            )
            .await
            .is_err()
    );
    env.rt.delete(&c.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_with_a_tty() {
    let env = Env::new();
    let sb = env.sandbox("tty");
    let mut spec = env.spec(&[
        "sh",
        "-c",
        "[ -t 0 ] && [ -t 1 ] && echo tty-ok; echo term=$(tty); read line; echo read:$line",
    ]);
    spec.tty = true;
    spec.stdin = true;
    let mut c = env.rt.start(&sb, &spec).await.unwrap();
    let mut pty = c.stdio.tty.take().unwrap();
    pty.write_all(b"abc\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), pty.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("tty-ok") && out.contains("read:abc"), "{out}");
    assert!(out.contains("term=/dev/pts/0"), "{out}");
    assert_eq!(
        env.rt.wait(&c.id).await.unwrap().status,
        ExitStatus::Exited(0)
    );
    env.rt.delete(&c.id).await.unwrap();
}
