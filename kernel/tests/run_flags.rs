//! `kmicro run`'s k3s-style flags: an external etcd as the datastore, extra kubeconfigs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .arg("--cache-dir")
        .arg(kubeconfig.with_extension("cache"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_etcd_holds_the_cluster_state() {
    use kmicro_store::Store;
    let etcd = kmicro_store::etcd::LocalEtcd::start().await.unwrap();
    let endpoint = etcd.endpoint().replace("http://", "etcd://");
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = common::free_port();
    let cluster =
        common::Cluster::start_with(&data_dir, port, &["--datastore-endpoint", &endpoint]);
    let kubeconfig = cluster.kubeconfig.clone();
    let manifest = tmp.path().join("cm.json");
    std::fs::write(
        &manifest,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"in-etcd"},"data":{"k":"v"}}"#,
    )
    .unwrap();
    let (ok, out) = kubectl(&kubeconfig, &["create", "-f", manifest.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &["get", "cm", "in-etcd", "-o", "jsonpath={.data.k}"],
    );
    assert!(ok && out == "v", "{out}");
    assert!(
        !data_dir.join("server/db").exists(),
        "no embedded store when etcd is the datastore"
    );

    // The object is in etcd itself, under kmicro's key layout.
    let store = kmicro_store::EtcdStore::connect(&[etcd.endpoint()])
        .await
        .unwrap();
    let kv = store
        .get(b"/registry/core/configmaps/default/in-etcd")
        .await
        .unwrap();
    assert!(kv.is_some_and(|kv| String::from_utf8_lossy(&kv.value).contains("in-etcd")));
}

#[test]
fn bad_datastore_endpoints_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args([
            "run",
            "--bind-address",
            "127.0.0.1",
            "--https-listen-port",
            &common::free_port().to_string(),
            "--data-dir",
        ])
        .arg(tmp.path())
        .args(["--datastore-endpoint", "mysql://root@localhost/kmicro"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--datastore-endpoint") && stderr.contains("mysql://"),
        "{stderr}"
    );
}

#[test]
fn write_kubeconfig_writes_a_second_copy_with_the_requested_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let extra = tmp.path().join("home/.kube/config");
    let _cluster = common::Cluster::start_with(
        &data_dir,
        common::free_port(),
        &[
            "--write-kubeconfig",
            extra.to_str().unwrap(),
            "--write-kubeconfig-mode",
            "644",
        ],
    );
    let mode = std::fs::metadata(&extra).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let default_mode = std::fs::metadata(data_dir.join("kubeconfig.yaml"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        default_mode, 0o644,
        "the mode applies to the data dir's kubeconfig too"
    );
    let (ok, out) = kubectl(&extra, &["get", "ns", "default", "-o", "name"]);
    assert!(ok && out.trim() == "namespace/default", "{out}");
}

#[test]
fn a_smaller_store_cache_still_serves_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = common::Cluster::start_with(
        &tmp.path().join("data"),
        common::free_port(),
        &["--datastore-cache-mib", "1"],
    );
    let (ok, out) = kubectl(&cluster.kubeconfig, &["get", "ns", "-o", "name"]);
    assert!(ok && out.lines().count() == 4, "{out}");
    let bad = Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(["run", "--datastore-cache-mib", "0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--datastore-cache-mib"));
}
