//! `kmicro bench store` as a user runs it: the real binary, a real etcd from PATH.

use std::process::Command;

fn kmicro(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(args)
        .output()
        .expect("run kmicro")
}

#[cfg(feature = "etcd")]
#[test]
fn bench_store_vs_etcd_ends_with_a_json_line() {
    let out = kmicro(&[
        "bench",
        "store",
        "--vs",
        "etcd",
        "--json",
        "--puts",
        "2000",
        "--watch-puts",
        "200",
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
        "redb_writes_per_s",
        "etcd_writes_per_s",
        "ratio",
        "redb_watch_p99_ms",
        "etcd_watch_p99_ms",
    ] {
        let value = json[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} missing: {last}"));
        assert!(value > 0.0, "{field} = {value}");
    }
    let ratio =
        json["redb_writes_per_s"].as_f64().unwrap() / json["etcd_writes_per_s"].as_f64().unwrap();
    assert!((ratio - json["ratio"].as_f64().unwrap()).abs() < 0.01);
    assert!(
        stdout.contains("redb") && stdout.contains("etcd"),
        "a readable table too"
    );
}

#[test]
fn bench_store_alone_prints_a_table() {
    let out = kmicro(&["bench", "store", "--puts", "300", "--watch-puts", "50"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("redb ")), "{stdout}");
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let out = kmicro(&["bench", "store", "--puts", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--puts"), "{stderr}");

    let out = kmicro(&["bench", "store", "--dir", "/proc/definitely/not/here"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/proc/definitely/not/here"), "{stderr}");
}
