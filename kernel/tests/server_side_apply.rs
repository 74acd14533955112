//! Server-side apply and managedFields against `kmicro run`, driven by both kubectl versions
//! the project supports and by the `kube` crate as a second field manager.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Cluster, Kubectl};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

const KUBECTL_132: &str = "/usr/bin/kubectl";
const KUBECTL_135: &str = "/opt/kmicro-test-tools/v35/kubectl/kubectl";

/// A Deployment manifest with the given name, replicas, image and labels.
fn manifest(name: &str, replicas: u32, image: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{{labels}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: {image}
        ports:
        - containerPort: 80
"#
    )
}

impl Kubectl<'_> {
    /// `apply --server-side` of `manifest` with extra flags; stdout and the verbose log.
    fn apply(&self, manifest: &str, extra: &[&str]) -> Output {
        let mut args = vec!["apply", "--server-side", "-f", "-", "-v=6"];
        args.extend_from_slice(extra);
        self.run(&args, Some(manifest))
    }

    fn get(&self, name: &str) -> Value {
        let out = self.ok(
            &[
                "get",
                "deployment",
                name,
                "-o",
                "json",
                "--show-managed-fields",
            ],
            None,
        );
        serde_json::from_str(&out).unwrap()
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(manager, operation, subresource)` of every managedFields entry.
fn managers(obj: &Value) -> Vec<(String, String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("manager"), s("operation"), s("subresource"))
        })
        .collect()
}

fn has_manager(obj: &Value, manager: &str, operation: &str) -> bool {
    managers(obj)
        .iter()
        .any(|(m, o, _)| m == manager && o == operation)
}

/// The whole kubectl story for one kubectl binary.
fn kubectl_story(binary: &str) {
    assert!(Path::new(binary).exists(), "{binary} is missing");
    let cluster = Cluster::start_api_only();
    let kubectl = Kubectl::new(binary, &cluster);
    let name = "web";

    // Create: 201, recorded as kubectl's Apply.
    let out = kubectl.apply(
        &manifest(name, 2, "nginx:1.25", "app: web, tier: front"),
        &[],
    );
    let (stdout, log) = text(&out);
    assert!(out.status.success(), "{stdout}{log}");
    assert!(stdout.contains("serverside-applied"), "{stdout}");
    assert!(log.contains("201 Created"), "{log}");
    let obj = kubectl.get(name);
    assert!(has_manager(&obj, "kubectl", "Apply"), "{obj}");
    let fields = &obj["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
    assert!(fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"main\"}"]["f:image"].is_object(), "{fields}");
    let yaml = kubectl.ok(
        &[
            "get",
            "deployment",
            name,
            "-o",
            "yaml",
            "--show-managed-fields",
        ],
        None,
    );
    assert!(
        yaml.contains("manager: kubectl") && yaml.contains("operation: Apply"),
        "{yaml}"
    );
    let hidden = kubectl.ok(&["get", "deployment", name, "-o", "yaml"], None);
    assert!(!hidden.contains("managedFields"), "{hidden}");

    // Re-apply with a change: 200, changed.
    let out = kubectl.apply(
        &manifest(name, 2, "nginx:1.26", "app: web, tier: front"),
        &[],
    );
    let (stdout, log) = text(&out);
    assert!(out.status.success(), "{stdout}{log}");
    assert!(log.contains("200 OK"), "{log}");
    let obj = kubectl.get(name);
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );

    // Someone scales; applying another replica count conflicts, naming them and the field.
    kubectl.ok(&["scale", "deployment", name, "--replicas=5"], None);
    let obj = kubectl.get(name);
    assert!(
        managers(&obj)
            .iter()
            .any(|(_, o, s)| o == "Update" && s == "scale"),
        "{obj}"
    );
    let out = kubectl.apply(
        &manifest(name, 3, "nginx:1.26", "app: web, tier: front"),
        &[],
    );
    let (_, log) = text(&out);
    assert!(!out.status.success());
    assert!(
        log.contains("Apply failed with 1 conflict: conflict with \"kubectl"),
        "{log}"
    );
    assert!(
        log.contains("with subresource \"scale\" using apps/v1: .spec.replicas"),
        "{log}"
    );
    assert_eq!(kubectl.get(name)["spec"]["replicas"], 5);

    // --force-conflicts takes the field over.
    let out = kubectl.apply(
        &manifest(name, 3, "nginx:1.26", "app: web, tier: front"),
        &["--force-conflicts"],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let obj = kubectl.get(name);
    assert_eq!(obj["spec"]["replicas"], 3);
    assert!(
        !managers(&obj).iter().any(|(_, _, s)| s == "scale"),
        "{obj}"
    );

    // A server dry run persists nothing.
    let before = kubectl.get(name)["metadata"]["resourceVersion"].clone();
    let out = kubectl.apply(
        &manifest(name, 9, "nginx:1.26", "app: web, tier: front"),
        &["--dry-run=server"],
    );
    let (stdout, _) = text(&out);
    assert!(
        out.status.success() && stdout.contains("server dry run"),
        "{stdout}"
    );
    let obj = kubectl.get(name);
    assert_eq!(obj["spec"]["replicas"], 3);
    assert_eq!(obj["metadata"]["resourceVersion"], before);

    // A field dropped from the manifest is removed.
    let out = kubectl.apply(&manifest(name, 3, "nginx:1.26", "app: web"), &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let obj = kubectl.get(name);
    assert_eq!(obj["metadata"]["labels"], json!({"app": "web"}));

    // Fields another manager changed meanwhile stay when the applier drops them.
    kubectl.ok(&["label", "deployment", name, "owner=ops"], None);
    assert!(has_manager(&kubectl.get(name), "kubectl-label", "Update"));
    let out = kubectl.apply(&manifest(name, 3, "nginx:1.26", "app: web"), &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(kubectl.get(name)["metadata"]["labels"]["owner"], "ops");

    // A client-side create records kubectl-create's Update; applying the same values
    // shares ownership without conflict.
    let other = manifest("other", 1, "busybox", "app: other");
    kubectl.ok(&["create", "-f", "-"], Some(&other));
    assert!(has_manager(
        &kubectl.get("other"),
        "kubectl-create",
        "Update"
    ));
    let out = kubectl.apply(&other, &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let obj = kubectl.get("other");
    assert!(has_manager(&obj, "kubectl", "Apply") && has_manager(&obj, "kubectl-create", "Update"));
}

#[test]
fn kubectl_1_32_server_side_apply() {
    kubectl_story(KUBECTL_132);
}

#[test]
fn kubectl_1_35_server_side_apply() {
    kubectl_story(KUBECTL_135);
}

async fn client(cluster: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&cluster.kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_keep_their_own_containers() {
    let cluster = Cluster::start_api_only();
    let kubectl = Kubectl::new(KUBECTL_132, &cluster);
    let out = kubectl.apply(&manifest("pair", 1, "nginx", "app: pair"), &[]);
    assert!(out.status.success(), "{:?}", text(&out));

    let api: Api<Deployment> = Api::namespaced(client(&cluster).await, "default");
    let sidecar = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pair"},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}
    });
    let applied = api
        .patch(
            "pair",
            &PatchParams::apply("sidecar-mgr"),
            &Patch::Apply(&sidecar),
        )
        .await
        .expect("second manager applies");
    let names = |d: &Deployment| -> Vec<String> {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(names(&applied), ["main", "sidecar"]);

    // kubectl re-applies its manifest (without the sidecar): the sidecar stays.
    let out = kubectl.apply(&manifest("pair", 1, "nginx:2", "app: pair"), &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let both = api.get("pair").await.unwrap();
    assert_eq!(names(&both), ["main", "sidecar"]);
    let entries: Vec<String> = both
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .map(|e| e.manager.clone().unwrap())
        .collect();
    assert!(
        entries.contains(&"kubectl".into()) && entries.contains(&"sidecar-mgr".into()),
        "{entries:?}"
    );

    // The sidecar manager stops applying: its sidecar goes, kubectl's container stays.
    let nothing =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pair"}});
    let after = api
        .patch(
            "pair",
            &PatchParams::apply("sidecar-mgr"),
            &Patch::Apply(&nothing),
        )
        .await
        .expect("empty apply");
    assert_eq!(names(&after), ["main"]);

    // The sidecar manager changing kubectl's image conflicts, with kube's Status.
    let steal = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pair"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "busybox"}, {"name": "main", "image": "evil"}
        ]}}}
    });
    let err = api
        .patch(
            "pair",
            &PatchParams::apply("sidecar-mgr"),
            &Patch::Apply(&steal),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.template.spec.containers[name=\"main\"].image"
    );
    let forced = api
        .patch(
            "pair",
            &PatchParams::apply("sidecar-mgr").force(),
            &Patch::Apply(&steal),
        )
        .await
        .expect("forced");
    let containers = forced.spec.unwrap().template.spec.unwrap().containers;
    let main = containers.iter().find(|c| c.name == "main").unwrap();
    assert_eq!(main.image.as_deref(), Some("evil"));

    // Status is applied through its subresource and owned there.
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pair"},
                        "status": {"observedGeneration": 1}});
    let with_status = api
        .patch_status(
            "pair",
            &PatchParams::apply("status-mgr"),
            &Patch::Apply(&status),
        )
        .await
        .expect("status apply");
    let entry = with_status
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|e| e.manager.as_deref() == Some("status-mgr"))
        .unwrap();
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_needs_a_field_manager_and_creates_with_dry_run_nothing() {
    let cluster = Cluster::start_api_only();
    let url = format!(
        "{}/apis/apps/v1/namespaces/default/deployments/solo",
        cluster.url()
    );
    let body = manifest("solo", 1, "nginx", "app: solo");
    let client = client(&cluster).await;
    let request = |query: &str| {
        http::Request::patch(format!("{url}{query}"))
            .header("Content-Type", "application/apply-patch+yaml")
            .body(body.clone().into_bytes())
            .unwrap()
    };
    let err = client.request::<Value>(request("")).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    // YAML body, dry run: answered as created, nothing stored.
    let created: Value = client
        .request(request("?fieldManager=yaml&dryRun=All"))
        .await
        .unwrap();
    assert_eq!(created["spec"]["replicas"], 1);
    assert_eq!(created["metadata"]["managedFields"][0]["manager"], "yaml");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    assert!(api.get_opt("solo").await.unwrap().is_none());
    // Not a Deployment of this version.
    let wrong = http::Request::patch(format!("{url}?fieldManager=x"))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(b"apiVersion: apps/v1beta1\nkind: Deployment\n".to_vec())
        .unwrap();
    let err = client.request::<Value>(wrong).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 400);
    // An unknown field: refused under Strict, dropped (and warned about) otherwise.
    let unknown = body.replace("replicas: 1", "replicas: 1\n  colour: red");
    let with_unknown = |query: &str| {
        http::Request::patch(format!("{url}{query}"))
            .header("Content-Type", "application/apply-patch+yaml")
            .body(unknown.clone().into_bytes())
            .unwrap()
    };
    let err = client
        .request::<Value>(with_unknown("?fieldManager=x&fieldValidation=Strict"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 400);
    assert!(
        status.message.contains(r#"unknown field "spec.colour""#),
        "{}",
        status.message
    );
    assert!(api.get_opt("solo").await.unwrap().is_none());
    let created: Value = client
        .request(with_unknown("?fieldManager=x&fieldValidation=Warn"))
        .await
        .unwrap();
    assert_eq!(created["spec"]["replicas"], 1);
    assert!(created["spec"].get("colour").is_none(), "{created}");
}
