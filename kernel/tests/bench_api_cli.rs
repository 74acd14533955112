//! `kmicro bench api` as a user runs it: the real binary starting `kmicro run` as its child.

use std::process::Command;

fn kmicro(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(args)
        .output()
        .expect("run kmicro")
}

#[test]
fn bench_api_ends_with_a_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = kmicro(&[
        "bench",
        "api",
        "--json",
        "--objects",
        "300",
        "--watchers",
        "10",
        "--watch-writes",
        "20",
        "--lists",
        "3",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kmicro failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    let last = stdout.lines().last().expect("some output");
    let json: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    for field in [
        "creates_per_s",
        "create_p50_ms",
        "create_p99_ms",
        "list_p50_ms",
        "list_p99_ms",
        "list_bytes",
        "watch_p50_ms",
        "watch_p99_ms",
        "idle_rss_mib",
        "loaded_rss_mib",
        "peak_rss_mib",
        "objects",
        "watchers",
    ] {
        let value = json[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} missing: {last}"));
        assert!(value > 0.0, "{field} = {value}");
    }
    assert!(json["rss_delta_mib"].is_number(), "{last}");
    assert_eq!(json["objects"], 300);
    assert_eq!(json["watchers"], 10);
    assert_eq!(json["watch_events"], 200, "every watcher got every update");
    assert_eq!(json["stop_killed"], false, "the server stops on SIGTERM");
    assert!(
        stdout.lines().any(|l| l.starts_with("watch ")),
        "a readable table too: {stdout}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "the server's temp dir is removed: {left:?}"
    );
}

#[test]
fn bad_arguments_get_a_clear_error() {
    for flag in ["--objects", "--watchers", "--watch-writes", "--lists"] {
        let out = kmicro(&["bench", "api", flag, "0"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains("at least 1"),
            "{stderr}"
        );
    }

    let out = kmicro(&["bench", "api", "--dir", "/proc/definitely/not/here"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/proc/definitely/not/here"), "{stderr}");
}
