//! CustomResourceDefinitions and custom resources against `kmicro run`, driven by both kubectl
//! versions the project supports.
//!
//! kubectl validates as it does by default: it downloads `/openapi/v3` (where custom resources
//! appear with their definitions) and sends `fieldValidation=Strict`. Objects with fields their
//! schema does not know go in with `--validate=false` (`fieldValidation=Ignore`), under which
//! kube prunes them silently.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Cluster, Kubectl, output_text};
use serde_json::Value;

const KUBECTL_132: &str = "/usr/bin/kubectl";
const KUBECTL_135: &str = "/opt/kmicro-test-tools/v35/kubectl/kubectl";

/// `widgets.example.com`: namespaced, served at v1beta1 and v1 (storage), v1 with status and
/// scale subresources and printer columns, short name `wd`, in category `all`.
const WIDGETS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Size
      type: string
      jsonPath: .spec.size
    - name: Color
      type: string
      priority: 1
      jsonPath: .spec.color
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              replicas: {type: integer, minimum: 0, default: 1}
              size: {type: string, enum: [small, large]}
              color: {type: string, default: blue}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
"#;

/// A widget with a field the schema does not know.
const W1: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: small
  bogus: dropped
"#;

impl Kubectl<'_> {
    fn create(&self, manifest: &str) -> String {
        self.ok(&["create", "-f", "-"], Some(manifest))
    }

    /// Creates with `fieldValidation=Ignore`: unknown fields are pruned without a word.
    fn create_ignoring_unknown_fields(&self, manifest: &str) -> String {
        self.ok(&["create", "--validate=false", "-f", "-"], Some(manifest))
    }

    fn apply(&self, manifest: &str, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        self.ok(&args, Some(manifest))
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&args, None)).unwrap()
    }

    /// Creates the widgets definition and waits until it is established.
    fn install_widgets(&self) {
        let out = self.create(WIDGETS);
        assert!(out.contains("widgets.example.com created"), "{out}");
        self.ok(
            &[
                "wait",
                "--for",
                "condition=established",
                "crd/widgets.example.com",
                "--timeout=20s",
            ],
            None,
        );
    }
}

/// The cells of a printed table, one vector per line (header first).
fn table(printed: &str) -> Vec<Vec<String>> {
    printed
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Polls `f` until it holds (10 s at most).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The whole story of a custom resource for one kubectl binary.
fn widget_story(binary: &str) {
    let cluster = Cluster::start();
    let k = Kubectl::new(binary, &cluster);
    k.install_widgets();
    let crd = k.json(&["get", "crd", "widgets.example.com"]);
    assert_eq!(crd["status"]["acceptedNames"]["shortNames"][0], "wd");
    assert_eq!(crd["status"]["storedVersions"], serde_json::json!(["v1"]));
    let printed = k.ok(&["get", "crds"], None);
    assert_eq!(table(&printed)[0], ["NAME", "CREATED", "AT"], "{printed}");
    assert!(printed.contains("widgets.example.com"), "{printed}");

    // Unknown fields: refused under kubectl's default (Strict) field validation; pruned
    // without a word under Ignore.
    let err = k.fails(&["create", "-f", "-"], Some(W1));
    assert!(
        err.contains(r#"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus""#),
        "{err}"
    );
    // Create: unknown fields pruned, defaults applied, printed with the printer columns.
    let out = k.create_ignoring_unknown_fields(W1);
    assert!(out.contains("widget.example.com/w1 created"), "{out}");
    let w1 = k.json(&["get", "wd", "w1"]);
    assert!(w1["spec"].get("bogus").is_none(), "pruned: {w1}");
    assert_eq!(w1["spec"]["replicas"], 1, "defaulted: {w1}");
    assert_eq!(w1["spec"]["color"], "blue", "defaulted: {w1}");
    assert_eq!(w1["metadata"]["generation"], 1);
    let printed = k.ok(&["get", "wd"], None);
    let rows = table(&printed);
    assert_eq!(rows[0], ["NAME", "REPLICAS", "SIZE", "AGE"], "{printed}");
    assert_eq!(rows[1][..3], ["w1", "1", "small"], "{printed}");
    let wide = table(&k.ok(&["get", "widgets", "-o", "wide"], None));
    assert_eq!(wide[0], ["NAME", "REPLICAS", "SIZE", "COLOR", "AGE"]);
    assert_eq!(wide[1][..4], ["w1", "1", "small", "blue"]);
    let all = k.ok(&["get", "all"], None);
    assert!(all.contains("widget.example.com/w1"), "{all}");

    // The schema is in the OpenAPI documents.
    let explained = k.ok(&["explain", "wd.spec"], None);
    assert!(explained.contains("KIND:       Widget"), "{explained}");
    assert!(explained.contains("replicas\t<integer>"), "{explained}");
    assert!(explained.contains("enum: small, large"), "{explained}");

    // Invalid objects: 422 with kube's field paths and messages.
    let err = k.fails(
        &["create", "-f", "-"],
        Some(
            r#"{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"},
                "spec": {"replicas": "three", "size": "medium"}}"#,
        ),
    );
    assert!(err.contains(r#"The Widget "bad" is invalid"#), "{err}");
    assert!(
        err.contains(r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#),
        "{err}"
    );
    assert!(
        err.contains(
            r#"spec.size: Unsupported value: "medium": supported values: "small", "large""#
        ),
        "{err}"
    );
    let err = k.fails(
        &["create", "-f", "-"],
        Some(r#"{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "nosize"}, "spec": {}}"#),
    );
    assert!(err.contains("spec.size: Required value"), "{err}");

    // Scale subresource.
    let out = k.ok(&["scale", "wd", "w1", "--replicas=3"], None);
    assert!(out.contains("scaled"), "{out}");
    let w1 = k.json(&["get", "wd", "w1"]);
    assert_eq!(w1["spec"]["replicas"], 3);
    assert_eq!(w1["metadata"]["generation"], 2);
    let err = k.fails(&["scale", "wd", "w1", "--replicas=-1"], None);
    assert!(err.contains("must be greater than or equal to 0"), "{err}");

    // Status subresource: /status changes only status, the main endpoint never status.
    k.ok(
        &[
            "patch",
            "wd",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status": {"replicas": 3, "selector": "app=w1"}, "spec": {"size": "large"}}"#,
        ],
        None,
    );
    let w1 = k.json(&["get", "wd", "w1"]);
    assert_eq!(w1["status"]["replicas"], 3);
    assert_eq!(w1["spec"]["size"], "small");
    assert_eq!(w1["metadata"]["generation"], 2, "status never bumps it");
    k.ok(
        &[
            "patch",
            "wd",
            "w1",
            "--type=merge",
            "-p",
            r#"{"status": {"replicas": 7}, "spec": {"size": "large"}}"#,
        ],
        None,
    );
    let w1 = k.json(&["get", "wd", "w1"]);
    assert_eq!(w1["status"]["replicas"], 3);
    assert_eq!(w1["spec"]["size"], "large");
    let scale: Value = serde_json::from_str(&k.ok(
        &[
            "get",
            "--raw",
            "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
        ],
        None,
    ))
    .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=w1");

    // Patches: JSON merge and JSON patch; strategic merge patch is refused as kube refuses it.
    k.ok(&["label", "wd", "w1", "tier=front"], None);
    k.ok(
        &[
            "patch",
            "wd",
            "w1",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/color", "value": "red"}]"#,
        ],
        None,
    );
    let w1 = k.json(&["get", "wd", "w1"]);
    assert_eq!(w1["metadata"]["labels"]["tier"], "front");
    assert_eq!(w1["spec"]["color"], "red");
    let err = k.fails(
        &["patch", "wd", "w1", "-p", r#"{"spec": {"size": "small"}}"#],
        None,
    );
    assert!(
        err.contains("application/strategic-merge-patch+json is not supported"),
        "{err}"
    );

    // Client-side apply (merge patches for custom resources) and server-side apply.
    let w2 =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: small\n";
    assert!(k.apply(w2, &[]).contains("created"));
    let out = k.apply(&w2.replace("small", "large"), &[]);
    assert!(out.contains("configured"), "{out}");
    assert_eq!(k.json(&["get", "wd", "w2"])["spec"]["size"], "large");
    let w3 = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w3\nspec:\n  size: small\n  replicas: 2\n";
    let out = k.apply(w3, &["--server-side"]);
    assert!(out.contains("serverside-applied"), "{out}");
    let w3 = k.json(&["get", "wd", "w3", "--show-managed-fields"]);
    assert_eq!(w3["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(w3["spec"]["replicas"], 2);

    // Another version: served with its own apiVersion, stored at the storage version.
    let old = k.json(&["get", "widgets.v1beta1.example.com", "w1"]);
    assert_eq!(old["apiVersion"], "example.com/v1beta1");
    assert_eq!(old["spec"]["size"], "large");
    k.create("apiVersion: example.com/v1beta1\nkind: Widget\nmetadata:\n  name: old\nspec:\n  size: small\n  extra: kept\n");
    let via_v1 = k.json(&["get", "widgets.v1.example.com", "old"]);
    assert_eq!(via_v1["apiVersion"], "example.com/v1");
    assert_eq!(
        via_v1["spec"]["extra"], "kept",
        "v1beta1 preserves unknown fields"
    );

    // Watch: an event for a new object, printed with the columns.
    let mut watch = k
        .command(&["get", "wd", "--watch", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    assert!(header.contains("REPLICAS"), "{header}");
    k.create("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: watched\nspec:\n  size: large\n");
    let seen = lines
        .map_while(Result::ok)
        .find(|l| l.contains("watched"))
        .unwrap();
    assert!(seen.starts_with("ADDED"), "{seen}");
    let _ = watch.kill();
    let _ = watch.wait();

    // Deleting the definition deletes its objects and the resource.
    k.ok(&["delete", "wd", "w2"], None);
    let out = k.ok(&["delete", "crd", "widgets.example.com"], None);
    assert!(out.contains("deleted"), "{out}");
    let crds = k.ok(&["get", "crd"], None);
    assert!(!crds.contains("widgets"), "{crds}");
    let fresh = Kubectl::new(binary, &cluster);
    let resources = fresh.ok(&["api-resources"], None);
    assert!(!resources.contains("widgets"), "{resources}");
    let err = fresh.fails(
        &[
            "get",
            "--raw",
            "/apis/example.com/v1/namespaces/default/widgets",
        ],
        None,
    );
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    fresh.install_widgets();
    let left = fresh.ok(&["get", "wd", "-A"], None);
    assert!(
        left.trim().is_empty() || left.contains("No resources"),
        "{left}"
    );
}

#[test]
fn kubectl_1_32_custom_resources() {
    widget_story(KUBECTL_132);
}

#[test]
fn kubectl_1_35_custom_resources() {
    widget_story(KUBECTL_135);
}

#[test]
fn definitions_are_validated_and_names_conflict() {
    let cluster = Cluster::start();
    let k = Kubectl::new(KUBECTL_135, &cluster);
    let no_schema = WIDGETS.replace(
        "    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            x-kubernetes-preserve-unknown-fields: true\n",
        "",
    );
    let err = k.fails(&["create", "-f", "-"], Some(&no_schema));
    assert!(
        err.contains(
            "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"
        ),
        "{err}"
    );
    let not_structural = WIDGETS.replace(
        "            type: object\n            x-kubernetes-preserve-unknown-fields: true\n",
        "            x-kubernetes-preserve-unknown-fields: true\n",
    );
    let err = k.fails(&["create", "-f", "-"], Some(&not_structural));
    assert!(
        err.contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"),
        "{err}"
    );
    let misnamed = WIDGETS.replace("name: widgets.example.com", "name: gadgets.example.com");
    let err = k.fails(&["create", "-f", "-"], Some(&misnamed));
    assert!(
        err.contains(r#"metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group"#),
        "{err}"
    );

    // A second definition asking for a short name already accepted: names not accepted.
    k.install_widgets();
    let gadgets = WIDGETS
        .replace("widgets.example.com", "gadgets.example.com")
        .replace("plural: widgets", "plural: gadgets")
        .replace("singular: widget", "singular: gadget")
        .replace("kind: Widget", "kind: Gadget");
    k.create(&gadgets);
    eventually("the conflict to be reported", || {
        let crd = k.json(&["get", "crd", "gadgets.example.com"]);
        crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == "NamesAccepted"
                    && c["status"] == "False"
                    && c["reason"] == "ShortNamesConflict"
                    && c["message"] == r#""wd" is already in use"#
            })
    });
    let crd = k.json(&["get", "crd", "gadgets.example.com"]);
    assert_eq!(crd["status"]["acceptedNames"]["plural"], "gadgets");
    assert!(
        crd["status"]["acceptedNames"].get("shortNames").is_none(),
        "{crd}"
    );
    // Never established, so not served (as kube); a free short name resolves it.
    let err = k.fails(&["get", "gadgets"], None);
    assert!(
        err.contains(r#"doesn't have a resource type "gadgets""#),
        "{err}"
    );
    k.ok(
        &[
            "patch",
            "crd",
            "gadgets.example.com",
            "--type=merge",
            "-p",
            r#"{"spec": {"names": {"shortNames": ["gd"]}}}"#,
        ],
        None,
    );
    k.ok(
        &[
            "wait",
            "--for",
            "condition=established",
            "crd/gadgets.example.com",
        ],
        None,
    );
    let printed = k.ok(&["get", "gd"], None);
    assert!(
        printed.contains("No resources found") || printed.is_empty(),
        "{printed}"
    );
}

#[test]
fn definitions_survive_a_restart_and_namespaces_take_their_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = common::free_port();
    let mut cluster = Cluster::start_in(&data, port);
    {
        let k = Kubectl::new(KUBECTL_132, &cluster);
        k.install_widgets();
        k.create_ignoring_unknown_fields(W1);
    }
    cluster.kill9();
    let cluster = Cluster::start_in(&data, port);
    let k = Kubectl::new(KUBECTL_132, &cluster);
    // Served as soon as the server is ready.
    let w1 = k.json(&["get", "wd", "w1"]);
    assert_eq!(w1["spec"]["size"], "small");

    k.create("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
    k.ok(
        &["create", "--validate=false", "-n", "shop", "-f", "-"],
        Some(W1),
    );
    k.ok(&["delete", "namespace", "shop"], None);
    eventually("the namespace and its widgets to go", || {
        let out = k.run(&["get", "wd", "w1", "-n", "shop"], None);
        !out.status.success() && output_text(&out).contains("NotFound")
    });
    assert_eq!(
        k.json(&["get", "wd", "w1"])["metadata"]["namespace"],
        "default"
    );
}
