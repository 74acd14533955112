//! `/openapi/v3` and `/openapi/v2` as real kubectls use them: `explain`, and `apply` and
//! `create` with their default (server-side) field validation, which needs the v3 documents.

mod common;

use std::process::{Command, Output};

use common::Cluster;

/// The machine's kubectl: a dispatcher that runs its built-in 1.32 against a 1.35 server.
const KUBECTL_132: &str = "kubectl";
/// kubectl 1.35, installed by `tests/install-deps.sh`.
const KUBECTL_135: &str = "/opt/kmicro-test-tools/v35/kubectl/kubectl";
const KUBECTLS: [&str; 2] = [KUBECTL_132, KUBECTL_135];

const CONFIGMAP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: NAME
data:
  color: blue
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
spec:
  replicas: 1
  selector:
    matchLabels: {app: NAME}
  template:
    metadata:
      labels: {app: NAME}
    spec:
      containers:
      - name: web
        image: busybox
        ports:
        - containerPort: 80
"#;

/// A ConfigMap with a field ConfigMaps do not have.
const UNKNOWN_FIELD: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: NAME
data:
  color: blue
colour: red
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `bin` and returns its stdout, failing the test (with its output) if it fails.
fn ok(c: &Cluster, bin: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = c.kubectl_bin(bin, args, stdin);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn explain_prints_the_schema_documentation() {
    let c = Cluster::start();
    for bin in KUBECTLS {
        let out = ok(&c, bin, &["explain", "pod.spec.containers"], None);
        assert!(out.contains("KIND:       Pod"), "{bin}: {out}");
        assert!(
            out.contains("FIELD: containers <[]Container>"),
            "{bin}: {out}"
        );
        assert!(
            out.contains("List of containers belonging to the pod"),
            "{bin}: {out}"
        );
        assert!(out.contains("imagePullPolicy\t<string>"), "{bin}: {out}");

        let out = ok(
            &c,
            bin,
            &["explain", "deployment.spec", "--recursive"],
            None,
        );
        assert!(out.contains("GROUP:      apps"), "{bin}: {out}");
        assert!(
            out.contains("template\t<PodTemplateSpec> -required-"),
            "{bin}: {out}"
        );
        assert!(out.contains("maxSurge\t<IntOrString>"), "{bin}: {out}");
        assert!(
            out.contains("containerPort\t<integer> -required-"),
            "{bin}: {out}"
        );

        let out = ok(&c, bin, &["explain", "ingress.spec.rules"], None);
        assert!(
            out.contains("GROUP:      networking.k8s.io"),
            "{bin}: {out}"
        );
    }
}

#[test]
fn default_apply_and_create_work_against_the_served_documents() {
    let c = Cluster::start();
    for (i, bin) in KUBECTLS.into_iter().enumerate() {
        for (manifest, kind) in [(CONFIGMAP, "configmap"), (DEPLOYMENT, "deployment.apps")] {
            let name = format!("applied-{i}");
            let manifest = manifest.replace("NAME", &name);
            let out = ok(&c, bin, &["apply", "-f", "-"], Some(&manifest));
            assert_eq!(out.trim(), format!("{kind}/{name} created"), "{bin}");
            // The second apply computes a strategic merge patch from the v3 schema's patch
            // metadata; the manifest is unchanged, so the patch is empty and nothing is sent.
            let again = c.kubectl_bin(bin, &["apply", "-f", "-"], Some(&manifest));
            assert!(again.status.success(), "{bin}: {}", text(&again.stderr));
            assert_eq!(
                text(&again.stdout).trim(),
                format!("{kind}/{name} unchanged")
            );
            assert!(
                !text(&again.stderr).contains("warning"),
                "{bin}: {}",
                text(&again.stderr)
            );
        }
        let name = format!("created-{i}");
        let out = ok(
            &c,
            bin,
            &["create", "-f", "-"],
            Some(&CONFIGMAP.replace("NAME", &name)),
        );
        assert_eq!(out.trim(), format!("configmap/{name} created"), "{bin}");
    }
    let names = ok(
        &c,
        KUBECTL_132,
        &["get", "configmaps,deployments", "-o", "name"],
        None,
    );
    for name in [
        "configmap/applied-0",
        "configmap/applied-1",
        "configmap/created-0",
        "configmap/created-1",
        "deployment.apps/applied-0",
        "deployment.apps/applied-1",
    ] {
        assert!(names.lines().any(|l| l == name), "{name} in {names}");
    }
}

#[test]
fn kubectl_leaves_unknown_fields_to_strict_server_validation() {
    // The PATCH operations declare `fieldValidation`, so kubectl does not validate against a
    // schema itself (which would need /openapi/v2 as protobuf) but asks the server to be
    // strict. What the server then does with the unknown field is field validation's
    // business, not the documents'.
    let c = Cluster::start();
    for (i, bin) in KUBECTLS.into_iter().enumerate() {
        let manifest = UNKNOWN_FIELD.replace("NAME", &format!("unknown-{i}"));
        let out = c.kubectl_bin(bin, &["apply", "-f", "-", "-v=6"], Some(&manifest));
        let log = text(&out.stderr);
        assert!(!log.contains("failed to download openapi"), "{bin}: {log}");
        assert!(!log.contains("/openapi/v2"), "{bin}: {log}");
        assert!(
            log.lines()
                .any(|l| l.contains("POST") && l.contains("fieldValidation=Strict")),
            "{bin}: {log}"
        );
    }
}

#[test]
fn documents_over_http() {
    let c = Cluster::start();
    let index: serde_json::Value =
        serde_json::from_str(&ok(&c, KUBECTL_132, &["get", "--raw", "/openapi/v3"], None)).unwrap();
    let versions = ok(&c, KUBECTL_132, &["api-versions"], None);
    for gv in versions.lines() {
        let path = if gv.contains('/') {
            format!("apis/{gv}")
        } else {
            format!("api/{gv}")
        };
        let url = index["paths"][&path]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} not in the index: {index}"));
        assert!(
            url.starts_with(&format!("/openapi/v3/{path}?hash=")),
            "{url}"
        );
    }
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&ok(&c, KUBECTL_132, &["get", "--raw", url], None)).unwrap();
    assert_eq!(doc["openapi"], "3.0.0");
    assert!(
        doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"].is_object()
    );

    let missing = c.kubectl(&["get", "--raw", "/openapi/v3/apis/nope/v1"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("NotFound"),
        "{}",
        text(&missing.stderr)
    );

    let v2: serde_json::Value =
        serde_json::from_str(&ok(&c, KUBECTL_132, &["get", "--raw", "/openapi/v2"], None)).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
}

#[test]
fn documents_need_authentication_and_nothing_more() {
    let c = Cluster::start();
    let anonymous: Output = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/openapi/v3", c.url()))
        .output()
        .expect("run curl");
    assert_eq!(text(&anonymous.stdout), "401");
    // A user without any binding reads them (RBAC's system:discovery), as in kube.
    for bin in KUBECTLS {
        let out = ok(&c, bin, &["explain", "pods", "--as=nobody"], None);
        assert!(out.contains("KIND:       Pod"), "{bin}: {out}");
    }
}
