//! Client-side apply, diff, edit and strategic merge patches with real kubectl (1.32 and 1.35),
//! and field validation (`fieldValidation=Strict|Warn|Ignore`) over raw requests and the
//! `kube` crate.
//!
//! apply, edit and create run with kubectl's default validation (`--validate=strict`: kubectl
//! reads `/openapi/v3`, sees that the server validates fields, and sends
//! `fieldValidation=Strict`).

mod common;

use std::process::Output;

use common::{Cluster, KUBECTLS};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

/// One kubectl binary against one cluster.
struct Kubectl<'c> {
    cluster: &'c Cluster,
    bin: &'static str,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        self.cluster.kubectl_at(self.bin, args, stdin, env)
    }

    /// stdout and stderr of a run that must succeed.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> (String, String) {
        let out = self.run(args, stdin, &[]);
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "{} {args:?} failed:\n{stdout}{stderr}",
            self.bin
        );
        (stdout, stderr)
    }

    /// stderr of a run that must fail.
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin, &[]);
        let (stdout, stderr) = texts(&out);
        assert!(
            !out.status.success(),
            "{} {args:?} should have failed:\n{stdout}",
            self.bin
        );
        stderr
    }

    /// An object as JSON.
    fn get(&self, kind: &str, name: &str) -> Value {
        let (out, _) = self.ok(&["get", kind, name, "-o", "json"], None);
        serde_json::from_str(&out).unwrap()
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Deployment with the given `name=image` containers.
fn deployment(name: &str, replicas: u32, containers: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n"
    );
    for (container, image) in containers {
        yaml.push_str(&format!(
            "      - name: {container}\n        image: {image}\n"
        ));
    }
    yaml
}

/// `name=image` of each container of a Deployment, in order.
fn containers(obj: &Value) -> Vec<String> {
    obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap(),
                c["image"].as_str().unwrap()
            )
        })
        .collect()
}

/// The name a test object gets for one kubectl binary.
fn name_for(base: &str, bin: &str) -> String {
    if bin == "kubectl" {
        format!("{base}-132")
    } else {
        format!("{base}-135")
    }
}

#[test]
fn client_side_apply_diff_and_edit_round_trip() {
    let cluster = Cluster::start_api_only();
    let editor_dir = tempfile::tempdir().unwrap();
    let editor = editor_dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/replicas: 1$/replicas: 3/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for &bin in KUBECTLS {
        let k = Kubectl {
            cluster: &cluster,
            bin,
        };
        let name = name_for("web", bin);
        let apply = ["apply", "-f", "-"];

        let first = deployment(&name, 1, &[("web", "nginx:1"), ("log", "busybox:1")]);
        let (out, _) = k.ok(&apply, Some(&first));
        assert!(out.contains("created"), "{out}");
        let live = k.get("deployment", &name);
        let last =
            live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .expect("the last applied configuration is recorded");
        assert!(last.contains("busybox:1"), "{last}");

        // The second apply is a three-way strategic merge patch with $setElementOrder.
        let second = deployment(&name, 1, &[("web", "nginx:2"), ("log", "busybox:1")]);
        let (out, _) = k.ok(&apply, Some(&second));
        assert!(out.contains("configured"), "{out}");
        let live = k.get("deployment", &name);
        assert_eq!(containers(&live), ["web=nginx:2", "log=busybox:1"]);
        assert_eq!(live["metadata"]["generation"], 2);

        // diff is a dry-run PATCH: it shows the change and persists nothing.
        let third = deployment(&name, 1, &[("web", "nginx:2"), ("log", "busybox:2")]);
        let out = k.run(&["diff", "-f", "-"], Some(&third), &[]);
        let (diff, stderr) = texts(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "diff exits 1 on changes:\n{diff}{stderr}"
        );
        assert!(diff.contains("-      - image: busybox:1"), "{diff}");
        assert!(diff.contains("+      - image: busybox:2"), "{diff}");
        let after = k.get("deployment", &name);
        assert_eq!(after, live, "a diff changes nothing");
        let out = k.run(&["diff", "-f", "-"], Some(&second), &[]);
        assert_eq!(out.status.code(), Some(0), "no changes: {:?}", texts(&out));

        // Removing a container from the manifest removes it.
        let fourth = deployment(&name, 1, &[("web", "nginx:2")]);
        k.ok(&apply, Some(&fourth));
        assert_eq!(containers(&k.get("deployment", &name)), ["web=nginx:2"]);

        // edit: GET, the editor's change, a strategic merge patch.
        let env = [("KUBE_EDITOR", editor.to_str().unwrap())];
        let out = k.run(&["edit", "deployment", &name], None, &env);
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("edited"), "{stdout}{stderr}");
        let live = k.get("deployment", &name);
        assert_eq!(live["spec"]["replicas"], 3);
        assert_eq!(containers(&live), ["web=nginx:2"]);
    }
}

#[test]
fn kubectl_patch_strategic_on_objects_status_dry_run_and_conflicts() {
    let cluster = Cluster::start_api_only();
    for &bin in KUBECTLS {
        let k = Kubectl {
            cluster: &cluster,
            bin,
        };
        let name = name_for("app", bin);
        let manifest = deployment(&name, 1, &[("web", "nginx:1"), ("log", "busybox:1")]);
        k.ok(&["apply", "-f", "-"], Some(&manifest));
        let patch = |p: &str| -> Vec<String> {
            vec![
                "patch".into(),
                "deployment".into(),
                name.clone(),
                "--type".into(),
                "strategic".into(),
                "-p".into(),
                p.into(),
            ]
        };
        let run_ok = |v: Vec<String>| {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            k.ok(&refs, None)
        };
        let run_fails = |v: Vec<String>| {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            k.fails(&refs, None)
        };

        // Merge by name: one container changed, the other kept; env merged by name.
        run_ok(patch(
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"log","image":"busybox:2","env":[{"name":"A","value":"1"}]}]}}}}"#,
        ));
        let live = k.get("deployment", &name);
        assert_eq!(containers(&live), ["web=nginx:1", "log=busybox:2"]);
        run_ok(patch(
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"log","env":[{"name":"B","value":"2"}]}]}}}}"#,
        ));
        let live = k.get("deployment", &name);
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"][1]["env"],
            json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
        );

        // $patch: delete removes an element.
        run_ok(patch(
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"log","$patch":"delete"}]}}}}"#,
        ));
        assert_eq!(containers(&k.get("deployment", &name)), ["web=nginx:1"]);

        // Server-side dry run answers the patched object and stores nothing.
        let mut dry = patch(r#"{"spec":{"replicas":7}}"#);
        dry.extend(["--dry-run=server", "-o", "json"].map(String::from));
        let (out, _) = run_ok(dry);
        let answered: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(answered["spec"]["replicas"], 7);
        let live = k.get("deployment", &name);
        assert_eq!(live["spec"]["replicas"], 1);

        // The status subresource takes strategic patches too (conditions merge by type) and
        // leaves the spec alone.
        let mut status = patch(
            r#"{"spec":{"replicas":9},"status":{"replicas":1,"conditions":[{"type":"Available","status":"True"}]}}"#,
        );
        status.push("--subresource=status".into());
        run_ok(status);
        let live = k.get("deployment", &name);
        assert_eq!(live["status"]["replicas"], 1);
        assert_eq!(live["status"]["conditions"][0]["type"], "Available");
        assert_eq!(live["spec"]["replicas"], 1);

        // The scale subresource's Scale takes them as well.
        let mut scale = patch(r#"{"spec":{"replicas":3}}"#);
        scale.push("--subresource=scale".into());
        run_ok(scale);
        let live = k.get("deployment", &name);
        assert_eq!(live["spec"]["replicas"], 3);

        // A resourceVersion in the patch is a precondition.
        let rv = live["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let stale = r#"{"metadata":{"resourceVersion":"1"},"spec":{"replicas":2}}"#;
        let err = run_fails(patch(stale));
        assert!(
            err.contains("Operation cannot be fulfilled on deployments.apps")
                && err.contains("the object has been modified"),
            "{err}"
        );
        let fresh =
            format!(r#"{{"metadata":{{"resourceVersion":"{rv}"}},"spec":{{"replicas":2}}}}"#);
        run_ok(patch(&fresh));
        assert_eq!(k.get("deployment", &name)["spec"]["replicas"], 2);

        // Malformed patches are kube's 400s.
        let err = run_fails(patch(r#"{"spec":{"$patch":"nope"}}"#));
        assert!(
            err.contains(
                "Error from server (BadRequest): unknown patch type: nope in map: map[$patch:nope]"
            ),
            "{err}"
        );
        let err = run_fails(patch(
            r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
        ));
        assert!(
            err.contains("does not contain declared merge key: name"),
            "{err}"
        );
    }
}

#[test]
fn field_validation_strict_warn_and_ignore_on_create_and_update() {
    let cluster = Cluster::start_api_only();
    for &bin in KUBECTLS {
        let k = Kubectl {
            cluster: &cluster,
            bin,
        };
        let name = name_for("fv", bin);
        let body = format!(
            r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}","labels":{{"a":"1","a":"2"}}}},"spec":{{"selector":{{"matchLabels":{{"app":"x"}}}},"template":{{"metadata":{{"labels":{{"app":"x"}}}},"spec":{{"containers":[{{"name":"c","image":"busybox","imagePullPolicyy":"Always"}}]}}}}}},"extra":true}}"#
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body.json");
        std::fs::write(&file, &body).unwrap();
        let file = file.to_str().unwrap();
        let collection = "/apis/apps/v1/namespaces/default/deployments";
        let create = |validation: &str| -> Output {
            let path = format!("{collection}?fieldValidation={validation}");
            k.run(&["create", "--raw", &path, "-f", file], None, &[])
        };

        let out = create("Strict");
        let (_, stderr) = texts(&out);
        assert!(!out.status.success());
        assert!(
            stderr.contains(r#"Error from server (BadRequest): Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: duplicate field "metadata.labels.a", unknown field "spec.template.spec.containers[0].imagePullPolicyy", unknown field "extra""#),
            "{stderr}"
        );

        let out = create("bogus");
        let (_, stderr) = texts(&out);
        assert!(
            stderr.contains(r#"The CreateOptions "" is invalid: fieldValidation: Unsupported value: "bogus": supported values: "", "Ignore", "Strict", "Warn""#),
            "{stderr}"
        );

        // Warn (also the default): stored, each problem a warning, unknown fields dropped.
        let out = create("Warn");
        let (_, stderr) = texts(&out);
        assert!(out.status.success(), "{stderr}");
        for warning in [
            r#"Warning: duplicate field "metadata.labels.a""#,
            r#"Warning: unknown field "spec.template.spec.containers[0].imagePullPolicyy""#,
            r#"Warning: unknown field "extra""#,
        ] {
            assert!(stderr.contains(warning), "{stderr}");
        }
        let live = k.get("deployment", &name);
        assert!(live.get("extra").is_none(), "{live}");
        assert!(
            live["spec"]["template"]["spec"]["containers"][0]
                .get("imagePullPolicyy")
                .is_none()
        );
        assert_eq!(live["metadata"]["labels"]["a"], "2");

        // Update (PUT) validates the same way; Ignore is silent.
        let mut replacement: Value = serde_json::from_str(&body).unwrap();
        replacement["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        replacement["spec"]["replicas"] = json!(4);
        std::fs::write(file, replacement.to_string()).unwrap();
        let object = format!("{collection}/{name}");
        let put = |validation: &str| -> Output {
            let path = format!("{object}?fieldValidation={validation}");
            k.run(&["replace", "--raw", &path, "-f", file], None, &[])
        };
        let (_, stderr) = texts(&put("Strict"));
        assert!(
            stderr.contains("strict decoding error: unknown field \"extra\""),
            "{stderr}"
        );
        let out = put("Ignore");
        let (_, stderr) = texts(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("Warning"), "{stderr}");
        let live = k.get("deployment", &name);
        assert_eq!(live["spec"]["replicas"], 4);
        assert!(live.get("extra").is_none());

        // kubectl apply --validate=false sends Ignore: nothing said, nothing stored.
        let manifest = format!(
            "{}        imagePullPolicyy: Always\n",
            deployment(&format!("{name}-a"), 1, &[("c", "busybox")])
        );
        let (_, stderr) = k.ok(&["apply", "--validate=false", "-f", "-"], Some(&manifest));
        assert!(!stderr.contains("Warning"), "{stderr}");
        let live = k.get("deployment", &format!("{name}-a"));
        assert!(
            live["spec"]["template"]["spec"]["containers"][0]
                .get("imagePullPolicyy")
                .is_none()
        );

        // A patch without fieldValidation warns about the unknown fields it adds.
        let (_, stderr) = k.ok(
            &[
                "patch",
                "deployment",
                &name,
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"bogus":1}}"#,
            ],
            None,
        );
        assert!(
            stderr.contains(r#"Warning: unknown field "spec.bogus""#),
            "{stderr}"
        );
    }
}

#[test]
fn kubectl_validation_flags_reach_the_server() {
    let cluster = Cluster::start_api_only();
    for &bin in KUBECTLS {
        let k = Kubectl {
            cluster: &cluster,
            bin,
        };
        let unknown = r#"unknown field "spec.template.spec.containers[0].imagePullPolicyy""#;
        let with_unknown = |name: &str| {
            format!(
                "{}        imagePullPolicyy: Always\n",
                deployment(name, 1, &[("c", "busybox")])
            )
        };
        let strict = format!(
            r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: {unknown}"#
        );

        // Creates: strict (kubectl's default) refuses, warn warns and drops the field.
        let name = name_for("flags", bin);
        let err = k.fails(&["create", "-f", "-"], Some(&with_unknown(&name)));
        assert!(err.contains(&strict), "{err}");
        let err = k.fails(&["apply", "-f", "-"], Some(&with_unknown(&name)));
        assert!(err.contains(&strict), "{err}");
        let (_, stderr) = k.ok(
            &["create", "--validate=warn", "-f", "-"],
            Some(&with_unknown(&name)),
        );
        assert!(stderr.contains(&format!("Warning: {unknown}")), "{stderr}");
        let live = k.get("deployment", &name);
        assert!(
            live["spec"]["template"]["spec"]["containers"][0]
                .get("imagePullPolicyy")
                .is_none()
        );

        // A second apply is a strategic patch: strict refuses it as kube does, warn passes.
        let applied = name_for("flags-applied", bin);
        k.ok(
            &["apply", "-f", "-"],
            Some(&deployment(&applied, 1, &[("c", "busybox")])),
        );
        let err = k.fails(&["apply", "-f", "-"], Some(&with_unknown(&applied)));
        assert!(
            err.contains("The request is invalid: patch: Invalid value: \"map[")
                && err.contains(&format!("strict decoding error: {unknown}")),
            "{err}"
        );
        let (out, stderr) = k.ok(
            &["apply", "--validate=warn", "-f", "-"],
            Some(&with_unknown(&applied)),
        );
        assert!(out.contains("configured"), "{out}");
        assert!(stderr.contains(&format!("Warning: {unknown}")), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_validation_on_patches_through_the_kube_crate() {
    let cluster = Cluster::start_api_only();
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&cluster.kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    let cms: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let cm: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm"}, "data": {"a": "1"}
    }))
    .unwrap();
    cms.create(&Default::default(), &cm).await.unwrap();

    let strict = PatchParams::default().validation_strict();
    let strategic = Patch::Strategic(json!({"data": {"b": "2"}, "bogus": {"x": 1}}));
    let err = cms.patch("cm", &strict, &strategic).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("an API error: {err:?}")
    };
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        r#" "" is invalid: patch: Invalid value: "map[bogus:map[x:1] data:map[b:2]]": strict decoding error: unknown field "bogus""#
    );

    let merge = Patch::Merge(json!({"data": {"b": "2"}, "bogus": 1}));
    let err = cms.patch("cm", &strict, &merge).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("an API error: {err:?}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .ends_with(r#"strict decoding error: unknown field "bogus""#),
        "{}",
        status.message
    );

    let stored = cms.get("cm").await.unwrap();
    assert!(stored.data.get("bogus").is_none());
    assert_eq!(stored.data["data"], json!({"a": "1"}));

    let ignore = PatchParams::default().validation_ignore();
    let patched = cms.patch("cm", &ignore, &strategic).await.unwrap();
    assert_eq!(patched.data["data"], json!({"a": "1", "b": "2"}));
    assert!(patched.data.get("bogus").is_none());
}
