//! Table-driven tests per kind, plus tests across every resource in `BUILTIN`.

use serde_json::{Value, json};

use super::{RulesError, prepare_create, prepare_namespace_finalize, prepare_update};
use crate::registry::{BUILTIN, ResourceInfo, find};

fn res(group: &str, plural: &str) -> &'static ResourceInfo {
    find(group, "v1", plural).unwrap_or_else(|| panic!("no resource {group}/{plural}"))
}

/// A minimal valid object of each built-in kind.
fn minimal(r: &ResourceInfo) -> Value {
    let container = json!([{"name": "c", "image": "nginx:1.25"}]);
    let template = json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": container},
    });
    let selector = json!({"matchLabels": {"app": "web"}});
    let mut obj = match (r.group, r.kind) {
        ("", "Namespace" | "Node" | "Endpoints" | "Secret" | "ServiceAccount") => json!({}),
        ("", "Pod") => json!({"spec": {"containers": container}}),
        ("", "Service") => json!({"spec": {"ports": [{"port": 80}]}}),
        ("", "ConfigMap") => json!({"data": {"a": "b"}}),
        ("", "Event") => {
            json!({"involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}})
        }
        ("", "PersistentVolume") => json!({"spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/pv"},
        }}),
        ("", "PersistentVolumeClaim") => json!({"spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        }}),
        ("", "ResourceQuota") => json!({"spec": {"hard": {"pods": "10", "requests.cpu": "2"}}}),
        ("", "LimitRange") => {
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}})
        }
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            json!({"spec": {"selector": selector, "template": template}})
        }
        ("apps", "StatefulSet") => {
            json!({"spec": {"selector": selector, "template": template, "serviceName": "web"}})
        }
        ("apps", "ControllerRevision") => json!({"data": {"spec": {}}, "revision": 1}),
        ("batch", "Job") => json!({
            "metadata": {"uid": "0b7ba8f8-6a5c-4d3c-9f4d-2f1a3b5c7d9e"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": container}}},
        }),
        ("batch", "CronJob") => json!({"spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": container,
            }}}},
        }}),
        ("coordination.k8s.io", "Lease") => {
            json!({"spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 15}})
        }
        ("discovery.k8s.io", "EndpointSlice") => json!({
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.3"]}],
            "ports": [{"port": 80}],
        }),
        ("events.k8s.io", "Event") => json!({
            "eventTime": "2024-01-02T03:04:05.000000Z",
            "reportingController": "kmicro.io/scheduler",
            "reportingInstance": "node-1",
            "action": "Binding",
            "reason": "Scheduled",
            "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        }),
        ("networking.k8s.io", "Ingress") => json!({"spec": {"rules": [{
            "host": "example.com",
            "http": {"paths": [{
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}},
            }]},
        }]}}),
        ("networking.k8s.io", "IngressClass") => {
            json!({"spec": {"controller": "example.com/ingress-controller"}})
        }
        ("networking.k8s.io", "NetworkPolicy") => json!({"spec": {"podSelector": {}}}),
        ("policy", "PodDisruptionBudget") => {
            json!({"spec": {"minAvailable": 1, "selector": selector}})
        }
        ("storage.k8s.io", "StorageClass") => json!({"provisioner": "example.com/provisioner"}),
        ("scheduling.k8s.io", "PriorityClass") => json!({"value": 1000}),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => json!({
            // A definition's name is its plural and group.
            "metadata": {"name": "webs.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "webs", "kind": "Web"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {
                    "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                        "type": "object", "properties": {"port": {"type": "integer", "default": 80}},
                    }}},
                }}],
            },
        }),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => json!({"rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
        ]}),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => json!({
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "bob"}],
        }),
        ("modules.kmicro.io", "Module") => json!({}),
        (g, k) => panic!("no minimal object for {g}/{k}"),
    };
    let meta = obj
        .as_object_mut()
        .unwrap()
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if meta.get("name").is_none() {
        meta["name"] = json!("web");
    }
    if r.namespaced {
        meta["namespace"] = json!("default");
    }
    obj
}

/// RFC 7386 merge patch: `null` deletes.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        p => *target = p.clone(),
    }
}

fn with(r: &ResourceInfo, patch: Value) -> Value {
    let mut obj = minimal(r);
    merge(&mut obj, &patch);
    obj
}

fn create_ok(r: &ResourceInfo, patch: Value) -> Value {
    match prepare_create(r, with(r, patch)) {
        Ok(v) => v,
        Err(e) => panic!("{} refused: {e:?}", r.kind),
    }
}

fn causes(result: Result<Value, RulesError>) -> Vec<(String, String, String)> {
    match result {
        Err(RulesError::Invalid(causes)) => causes
            .into_iter()
            .map(|c| (c.field, c.reason, c.message))
            .collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Asserts that every `(field, reason)` expected is among the causes.
fn assert_causes(got: &[(String, String, String)], expected: &[(&str, &str)], case: &str) {
    for (field, reason) in expected {
        assert!(
            got.iter().any(|(f, r, _)| f == field && r == reason),
            "{case}: expected {field} {reason}, got {got:#?}"
        );
    }
}

fn reason(short: &str) -> &'static str {
    match short {
        "Required" => "FieldValueRequired",
        "Invalid" => "FieldValueInvalid",
        "NotSupported" => "FieldValueNotSupported",
        "Duplicate" => "FieldValueDuplicate",
        "Forbidden" => "FieldValueForbidden",
        "TooLong" => "FieldValueTooLong",
        "NotFound" => "FieldValueNotFound",
        "TooMany" => "FieldValueTooMany",
        other => panic!("unknown reason {other}"),
    }
}

/// One table row: a name, a merge patch, and the `(field, reason)` pairs expected.
type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>);

/// Runs create cases: each patch of the minimal object must fail with the given causes.
fn invalid_creates(group: &str, plural: &str, cases: Vec<Case<'_>>) {
    let r = res(group, plural);
    for (case, patch, expected) in cases {
        let got = causes(prepare_create(r, with(r, patch)));
        let expected: Vec<(&str, &str)> = expected.iter().map(|(f, k)| (*f, reason(k))).collect();
        assert_causes(&got, &expected, case);
    }
}

/// Runs update cases: the minimal object is created, then replaced by the patched one.
fn invalid_updates(group: &str, plural: &str, cases: Vec<Case<'_>>) {
    let r = res(group, plural);
    let old = create_ok(r, json!({}));
    for (case, patch, expected) in cases {
        let mut new = old.clone();
        merge(&mut new, &patch);
        let got = causes(prepare_update(r, new, &old));
        let expected: Vec<(&str, &str)> = expected.iter().map(|(f, k)| (*f, reason(k))).collect();
        assert_causes(&got, &expected, case);
    }
}

fn update_ok(r: &ResourceInfo, old: &Value, patch: Value) -> Value {
    let mut new = old.clone();
    merge(&mut new, &patch);
    match prepare_update(r, new, old) {
        Ok(v) => v,
        Err(e) => panic!("{} update refused: {e:?}", r.kind),
    }
}

// ---------------------------------------------------------------------------------------------
// Every built-in resource
// ---------------------------------------------------------------------------------------------

#[test]
fn every_builtin_accepts_a_minimal_object_and_its_own_update() {
    for r in BUILTIN.iter().filter(|r| !r.is_virtual()) {
        let created = match prepare_create(r, minimal(r)) {
            Ok(v) => v,
            Err(e) => panic!("{}/{} refused its minimal object: {e:?}", r.group, r.kind),
        };
        assert_eq!(created["apiVersion"], json!(r.api_version()), "{}", r.kind);
        assert_eq!(created["kind"], json!(r.kind));
        assert_eq!(created["metadata"]["name"], minimal(r)["metadata"]["name"]);
        // Defaults are stable: the created object passes as its own replacement, unchanged.
        match prepare_update(r, created.clone(), &created) {
            Ok(updated) => assert_eq!(updated, created, "{} changed on a no-op update", r.kind),
            Err(e) => panic!("{}/{} refused a no-op update: {e:?}", r.group, r.kind),
        }
        // Decoding is tolerant of a missing apiVersion/kind and of unknown fields.
        let mut bare = minimal(r);
        let map = bare.as_object_mut().unwrap();
        map.remove("apiVersion");
        map.remove("kind");
        map.insert("unknownField".into(), json!({"x": 1}));
        let out = prepare_create(r, bare).expect("bare object");
        assert!(
            out.get("unknownField").is_none(),
            "{} kept an unknown field",
            r.kind
        );
    }
}

#[test]
fn every_builtin_refuses_wrongly_typed_fields_with_decode() {
    for r in BUILTIN.iter().filter(|r| !r.is_virtual()) {
        let mut obj = minimal(r);
        obj["metadata"]["labels"] = json!("not-a-map");
        match prepare_create(r, obj) {
            Err(RulesError::Decode(msg)) => assert!(
                msg.starts_with(&format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: ",
                    kind = r.kind,
                    version = r.version
                )),
                "{msg}"
            ),
            other => panic!("{}: expected Decode, got {other:?}", r.kind),
        }
        // Every top-level field of the minimal object, given a value of the wrong shape.
        let base = minimal(r);
        for key in base.as_object().unwrap().keys() {
            if r.kind == "ControllerRevision" && key == "data" {
                continue; // a RawExtension: any JSON is valid
            }
            let mut obj = base.clone();
            obj[key] = json!([[1]]);
            assert!(
                matches!(prepare_create(r, obj), Err(RulesError::Decode(_))),
                "{}.{key} with a wrong type was not a Decode error",
                r.kind
            );
        }
        assert!(matches!(
            prepare_create(r, json!([])),
            Err(RulesError::Decode(_))
        ));
        assert!(matches!(
            prepare_create(r, json!("x")),
            Err(RulesError::Decode(_))
        ));
        let mut wrong_kind = minimal(r);
        wrong_kind["kind"] = json!("Other");
        assert!(matches!(
            prepare_create(r, wrong_kind),
            Err(RulesError::Decode(_))
        ));
        // A stored object that no longer decodes is reported too, not a panic.
        let good = prepare_create(r, minimal(r)).unwrap();
        assert!(matches!(
            prepare_update(r, good, &json!({"metadata": 5})),
            Err(RulesError::Decode(_))
        ));
    }
}

#[test]
fn every_builtin_requires_a_valid_name_and_keeps_it() {
    // A CustomResourceDefinition's name has a rule of its own (plural and group; crd::tests).
    for r in BUILTIN
        .iter()
        .filter(|r| !r.is_virtual() && r.kind != "CustomResourceDefinition")
    {
        let mut obj = minimal(r);
        obj["metadata"]["name"] = json!("");
        let got = causes(prepare_create(r, obj));
        assert_causes(&got, &[("metadata.name", "FieldValueRequired")], r.kind);
        if r.namespaced {
            let mut obj = minimal(r);
            obj["metadata"].as_object_mut().unwrap().remove("namespace");
            let got = causes(prepare_create(r, obj));
            assert_causes(
                &got,
                &[("metadata.namespace", "FieldValueRequired")],
                r.kind,
            );
        } else {
            let mut obj = minimal(r);
            obj["metadata"]["namespace"] = json!("default");
            let out = prepare_create(r, obj).unwrap();
            assert!(out["metadata"].get("namespace").is_none(), "{}", r.kind);
        }
        let old = prepare_create(r, minimal(r)).unwrap();
        let mut renamed = old.clone();
        renamed["metadata"]["name"] = json!("other");
        let got = causes(prepare_update(r, renamed, &old));
        assert_causes(&got, &[("metadata.name", "FieldValueInvalid")], r.kind);
        let mut labelled = minimal(r);
        labelled["metadata"]["labels"] = json!({"bad key!": "v"});
        let got = causes(prepare_create(r, labelled));
        assert_causes(&got, &[("metadata.labels", "FieldValueInvalid")], r.kind);
    }
}

/// A tiny deterministic generator, for the no-panic test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 3 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!(-(self.below(100) as i64)),
            4 => json!(
                ["", "0", "-1", "a/b", "Always", "é", "1Gi", "*", "None"][self.below(9) as usize]
            ),
            5 => json!(1.5),
            6 => Value::Array((0..self.below(3)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let keys = [
                    "name",
                    "spec",
                    "containers",
                    "ports",
                    "port",
                    "image",
                    "type",
                    "data",
                    "x",
                ];
                Value::Object(
                    (0..self.below(3))
                        .map(|_| {
                            (
                                keys[self.below(keys.len() as u64) as usize].to_string(),
                                self.value(depth + 1),
                            )
                        })
                        .collect(),
                )
            }
        }
    }

    /// Replaces one random node of `v` with a random value.
    fn mutate(&mut self, v: &mut Value) {
        let go_deeper = self.below(3) != 0;
        match v {
            Value::Object(m) if go_deeper && !m.is_empty() => {
                let keys: Vec<String> = m.keys().cloned().collect();
                let k = &keys[self.below(keys.len() as u64) as usize];
                if let Some(child) = m.get_mut(k) {
                    self.mutate(child);
                }
            }
            Value::Array(a) if go_deeper && !a.is_empty() => {
                let i = self.below(a.len() as u64) as usize;
                self.mutate(&mut a[i]);
            }
            _ => *v = self.value(0),
        }
    }
}

#[test]
fn no_input_makes_the_rules_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for r in BUILTIN.iter().filter(|r| !r.is_virtual()) {
        let good = prepare_create(r, minimal(r)).unwrap();
        for _ in 0..300 {
            let mut obj = minimal(r);
            for _ in 0..1 + rng.below(3) {
                rng.mutate(&mut obj);
            }
            let _ = prepare_create(r, obj.clone());
            let _ = prepare_update(r, obj.clone(), &good);
            let _ = prepare_update(r, good.clone(), &obj);
            let mut from_good = good.clone();
            rng.mutate(&mut from_good);
            let _ = prepare_create(r, from_good.clone());
            let _ = prepare_update(r, from_good, &good);
        }
    }
}

#[test]
fn unknown_resources_only_get_metadata_rules() {
    let r = ResourceInfo {
        group: "example.com",
        version: "v1",
        kind: "Widget",
        plural: "widgets",
        singular: "widget",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        scale: false,
    };
    let obj = json!({"metadata": {"name": "w", "namespace": "default"}, "spec": {"anything": 1}});
    assert_eq!(prepare_create(&r, obj.clone()).unwrap(), obj);
    let bad = json!({"metadata": {"name": "W!", "namespace": "default"}});
    assert_causes(
        &causes(prepare_create(&r, bad)),
        &[("metadata.name", "FieldValueInvalid")],
        "widget",
    );
    let mut renamed = obj.clone();
    renamed["metadata"]["name"] = json!("v");
    assert_causes(
        &causes(prepare_update(&r, renamed, &obj)),
        &[("metadata.name", "FieldValueInvalid")],
        "widget",
    );
}

// ---------------------------------------------------------------------------------------------
// Pod
// ---------------------------------------------------------------------------------------------

#[test]
fn pod_defaults() {
    let r = res("", "pods");
    let pod = create_ok(
        r,
        json!({"spec": {"containers": [
            {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b", "image": "nginx:1.25"},
            {"name": "c", "image": "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
            {"name": "d", "image": "nginx:latest",
             "livenessProbe": {"httpGet": {"port": 8080}}},
        ]}}),
    );
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["enableServiceLinks"], true);
    // kube does not default the service account here (admission does) nor automount.
    assert!(spec.get("serviceAccountName").is_none());
    assert!(spec.get("automountServiceAccountToken").is_none());
    let c = &spec["containers"];
    assert_eq!(c[0]["imagePullPolicy"], "Always");
    assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c[2]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c[3]["imagePullPolicy"], "Always");
    assert_eq!(c[0]["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c[0]["terminationMessagePolicy"], "File");
    assert_eq!(c[0]["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c[0]["resources"]["requests"],
        json!({"cpu": "1", "memory": "1Gi"})
    );
    assert_eq!(c[1]["resources"], json!({}));
    let probe = &c[3]["livenessProbe"];
    assert_eq!(probe["timeoutSeconds"], 1);
    assert_eq!(probe["periodSeconds"], 10);
    assert_eq!(probe["successThreshold"], 1);
    assert_eq!(probe["failureThreshold"], 3);
    assert_eq!(probe["httpGet"]["path"], "/");
    assert_eq!(probe["httpGet"]["scheme"], "HTTP");
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["qosClass"], "Burstable");

    let guaranteed = create_ok(
        r,
        json!({"spec": {"containers": [{"name": "a", "image": "x:1",
            "resources": {"limits": {"cpu": "0.5", "memory": "65536Ki"}}}]}}),
    );
    assert_eq!(guaranteed["status"]["qosClass"], "Guaranteed");
    // Quantities come back in kube's canonical form, requests copied from limits.
    assert_eq!(
        guaranteed["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "500m", "memory": "64Mi"}})
    );
    let best_effort = create_ok(r, json!({"status": {"phase": "Running"}}));
    assert_eq!(
        best_effort["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );

    let volumes = create_ok(
        r,
        json!({"spec": {
            "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}],
            "serviceAccount": "robot",
        }}),
    );
    assert_eq!(volumes["spec"]["volumes"][0]["emptyDir"], json!({}));
    assert_eq!(volumes["spec"]["volumes"][1]["secret"]["defaultMode"], 420);
    assert_eq!(volumes["spec"]["serviceAccountName"], "robot");
}

#[test]
fn pod_invalid() {
    let c = |extra: Value| {
        let mut base = json!({"name": "c", "image": "nginx"});
        merge(&mut base, &extra);
        json!({"spec": {"containers": [base]}})
    };
    invalid_creates(
        "",
        "pods",
        vec![
            (
                "no containers",
                json!({"spec": {"containers": []}}),
                vec![("spec.containers", "Required")],
            ),
            (
                "container name",
                c(json!({"name": "Bad_Name"})),
                vec![("spec.containers[0].name", "Invalid")],
            ),
            (
                "no image",
                c(json!({"image": null})),
                vec![("spec.containers[0].image", "Required")],
            ),
            (
                "duplicate names",
                json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}}),
                vec![("spec.containers[1].name", "Duplicate")],
            ),
            (
                "restart policy",
                json!({"spec": {"restartPolicy": "Sometimes"}}),
                vec![("spec.restartPolicy", "NotSupported")],
            ),
            (
                "dns policy",
                json!({"spec": {"dnsPolicy": "Foo"}}),
                vec![("spec.dnsPolicy", "NotSupported")],
            ),
            (
                "pull policy",
                c(json!({"imagePullPolicy": "Sometimes"})),
                vec![("spec.containers[0].imagePullPolicy", "NotSupported")],
            ),
            (
                "port range",
                c(json!({"ports": [{"containerPort": 70000}]})),
                vec![("spec.containers[0].ports[0].containerPort", "Invalid")],
            ),
            (
                "port zero",
                c(json!({"ports": [{"containerPort": 0}]})),
                vec![("spec.containers[0].ports[0].containerPort", "Required")],
            ),
            (
                "port protocol",
                c(json!({"ports": [{"containerPort": 80, "protocol": "HTTP"}]})),
                vec![("spec.containers[0].ports[0].protocol", "NotSupported")],
            ),
            (
                "duplicate port names",
                c(
                    json!({"ports": [{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}]}),
                ),
                vec![("spec.containers[0].ports[1].name", "Duplicate")],
            ),
            (
                "mount without volume",
                c(json!({"volumeMounts": [{"name": "data", "mountPath": "/data"}]})),
                vec![("spec.containers[0].volumeMounts[0].name", "NotFound")],
            ),
            (
                "env name",
                c(json!({"env": [{"name": "A=B", "value": "x"}]})),
                vec![("spec.containers[0].env[0].name", "Invalid")],
            ),
            (
                "request above limit",
                c(json!({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}})),
                vec![("spec.containers[0].resources.requests", "Invalid")],
            ),
            (
                "bad quantity",
                c(json!({"resources": {"limits": {"memory": "lots"}}})),
                vec![("spec.containers[0].resources.limits[memory]", "Invalid")],
            ),
            (
                "probe without handler",
                c(json!({"readinessProbe": {"periodSeconds": 5}})),
                vec![("spec.containers[0].readinessProbe", "Required")],
            ),
            (
                "two volume sources",
                json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]}}),
                vec![("spec.volumes[0].hostPath", "Forbidden")],
            ),
            (
                "ephemeral containers on create",
                json!({"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}}),
                vec![("spec.ephemeralContainers", "Forbidden")],
            ),
            (
                "restartPolicy on a regular container",
                c(json!({"restartPolicy": "Always"})),
                vec![("spec.containers[0].restartPolicy", "Forbidden")],
            ),
            (
                "init container probe",
                json!({"spec": {"initContainers": [{"name": "i", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}}}]}}),
                vec![("spec.initContainers[0].livenessProbe", "Forbidden")],
            ),
            (
                "host port used twice",
                json!({"spec": {"containers": [
                    {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
                    {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]},
                ]}}),
                vec![("spec.containers[1].ports[0].hostPort", "Duplicate")],
            ),
            (
                "host port used twice in one init container",
                json!({"spec": {"initContainers": [
                    {"name": "i0", "image": "x"},
                    {"name": "i1", "image": "x", "ports": [
                        {"containerPort": 80, "hostPort": 8080},
                        {"containerPort": 81, "hostPort": 8080},
                    ]},
                ]}}),
                vec![("spec.initContainers[1].ports[1].hostPort", "Duplicate")],
            ),
            (
                "topology spread",
                json!({"spec": {"topologySpreadConstraints": [
                    {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"},
                ]}}),
                vec![
                    ("spec.topologySpreadConstraints[0].maxSkew", "Invalid"),
                    (
                        "spec.topologySpreadConstraints[0].whenUnsatisfiable",
                        "NotSupported",
                    ),
                ],
            ),
            (
                "toleration without key",
                json!({"spec": {"tolerations": [{"operator": "Equal", "value": "x"}]}}),
                vec![("spec.tolerations[0].operator", "Invalid")],
            ),
            (
                "hostname",
                json!({"spec": {"hostname": "Not_A_Label"}}),
                vec![("spec.hostname", "Invalid")],
            ),
            (
                "node selector",
                json!({"spec": {"nodeSelector": {"a": "b c"}}}),
                vec![("spec.nodeSelector", "Invalid")],
            ),
            (
                "active deadline",
                json!({"spec": {"activeDeadlineSeconds": 0}}),
                vec![("spec.activeDeadlineSeconds", "Invalid")],
            ),
        ],
    );

    let r = res("", "pods");
    let got = causes(prepare_create(
        r,
        with(r, json!({"metadata": {"name": "Bad_Name"}})),
    ));
    assert_eq!(
        got[0],
        (
            "metadata.name".to_string(),
            "FieldValueInvalid".to_string(),
            "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()
        )
    );
    let got = causes(prepare_create(
        r,
        with(
            r,
            json!({"spec": {"containers": [{"name": "c", "image": "x", "imagePullPolicy": "Sometimes"}]}}),
        ),
    ));
    assert_eq!(
        got[0].2,
        "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
    );
}

#[test]
fn pod_updates() {
    let r = res("", "pods");
    let old = create_ok(
        r,
        json!({"spec": {"tolerations": [{"key": "k", "operator": "Exists"}]}}),
    );
    let new = update_ok(
        r,
        &old,
        json!({"spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]}}),
    );
    assert_eq!(new["spec"]["containers"][0]["image"], "nginx:1.26");
    update_ok(
        r,
        &old,
        json!({"spec": {"activeDeadlineSeconds": 30, "tolerations": [
            {"key": "k", "operator": "Exists"},
            {"key": "j", "operator": "Exists"},
        ]}}),
    );
    invalid_updates(
        "",
        "pods",
        vec![
            (
                "restart policy",
                json!({"spec": {"restartPolicy": "Never"}}),
                vec![("spec", "Forbidden")],
            ),
            (
                "container name",
                json!({"spec": {"containers": [{"name": "other", "image": "nginx:1.25"}]}}),
                vec![("spec", "Forbidden")],
            ),
            (
                "added container",
                json!({"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "d", "image": "y"}]}}),
                vec![("spec.containers", "Forbidden")],
            ),
            (
                "namespace",
                json!({"metadata": {"namespace": "other"}}),
                vec![("metadata.namespace", "Invalid")],
            ),
        ],
    );
    let mut new = old.clone();
    merge(&mut new, &json!({"spec": {"restartPolicy": "Never"}}));
    let got = causes(prepare_update(r, new, &old));
    assert!(got[0].2.starts_with(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    ));
    assert!(got[0].2.contains("restartPolicy"), "{}", got[0].2);

    let mut untolerated = old.clone();
    untolerated["spec"]["tolerations"] = json!([]);
    let got = causes(prepare_update(r, untolerated, &old));
    assert_causes(
        &got,
        &[("spec.tolerations", "FieldValueForbidden")],
        "removed toleration",
    );

    let with_deadline = update_ok(r, &old, json!({"spec": {"activeDeadlineSeconds": 30}}));
    let mut longer = with_deadline.clone();
    merge(&mut longer, &json!({"spec": {"activeDeadlineSeconds": 60}}));
    let got = causes(prepare_update(r, longer, &with_deadline));
    assert_causes(
        &got,
        &[("spec.activeDeadlineSeconds", "FieldValueInvalid")],
        "deadline",
    );
}

// ---------------------------------------------------------------------------------------------
// apps/v1
// ---------------------------------------------------------------------------------------------

#[test]
fn deployment_defaults() {
    let d = create_ok(
        res("apps", "deployments"),
        json!({"status": {"replicas": 3}}),
    );
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    // Pod-only defaults stay out of templates.
    assert!(pod.get("enableServiceLinks").is_none());
    assert_eq!(d["status"], json!({}));

    let recreate = create_ok(
        res("apps", "deployments"),
        json!({"spec": {"strategy": {"type": "Recreate"}, "replicas": 0}}),
    );
    assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(recreate["spec"]["replicas"], 0);
}

#[test]
fn deployment_invalid() {
    invalid_creates(
        "apps",
        "deployments",
        vec![
            (
                "no selector",
                json!({"spec": {"selector": null}}),
                vec![("spec.selector", "Required")],
            ),
            (
                "selector mismatch",
                json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}}),
                vec![("spec.template.metadata.labels", "Invalid")],
            ),
            (
                "negative replicas",
                json!({"spec": {"replicas": -1}}),
                vec![("spec.replicas", "Invalid")],
            ),
            (
                "template restart policy",
                json!({"spec": {"template": {"spec": {"restartPolicy": "Never"}}}}),
                vec![("spec.template.spec.restartPolicy", "NotSupported")],
            ),
            (
                "template without containers",
                json!({"spec": {"template": {"spec": {"containers": []}}}}),
                vec![("spec.template.spec.containers", "Required")],
            ),
            (
                "template container image",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}),
                vec![("spec.template.spec.containers[0].image", "Required")],
            ),
            (
                "strategy type",
                json!({"spec": {"strategy": {"type": "Blue"}}}),
                vec![("spec.strategy", "NotSupported")],
            ),
            (
                "zero surge and unavailable",
                json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}}),
                vec![("spec.strategy.rollingUpdate.maxUnavailable", "Invalid")],
            ),
            (
                "bad percent",
                json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": "lots"}}}}),
                vec![("spec.strategy.rollingUpdate.maxSurge", "Invalid")],
            ),
            (
                "bad selector operator",
                json!({"spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Has"}]}}}),
                vec![("spec.selector.matchExpressions[0].operator", "Invalid")],
            ),
        ],
    );
    let r = res("apps", "deployments");
    let got = causes(prepare_create(
        r,
        with(
            r,
            json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}}),
        ),
    ));
    assert!(
        got.iter()
            .any(|c| c.2.ends_with("`selector` does not match template `labels`"))
    );
}

#[test]
fn deployment_updates() {
    let r = res("apps", "deployments");
    let old = create_ok(r, json!({}));
    let scaled = update_ok(r, &old, json!({"spec": {"replicas": 5}}));
    assert_eq!(scaled["spec"]["replicas"], 5);
    update_ok(
        r,
        &old,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}),
    );
    invalid_updates(
        "apps",
        "deployments",
        vec![(
            "selector",
            json!({"spec": {"selector": {"matchLabels": {"app": "web", "tier": "x"}},
                            "template": {"metadata": {"labels": {"app": "web", "tier": "x"}}}}}),
            vec![("spec.selector", "Invalid")],
        )],
    );
}

#[test]
fn replicaset_daemonset_statefulset() {
    let rs = create_ok(res("apps", "replicasets"), json!({}));
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(rs["spec"]["template"]["spec"]["restartPolicy"], "Always");

    let ds = create_ok(res("apps", "daemonsets"), json!({}));
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
        "1"
    );
    let ds2 = update_ok(
        res("apps", "daemonsets"),
        &ds,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}),
    );
    assert_eq!(
        ds2["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
        "2"
    );

    let sts = create_ok(
        res("apps", "statefulsets"),
        json!({"spec": {
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
            "template": {"spec": {"containers": [{"name": "c", "image": "x:1",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
        }}),
    );
    let spec = &sts["spec"];
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        spec["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );

    for plural in ["replicasets", "daemonsets", "statefulsets"] {
        invalid_creates(
            "apps",
            plural,
            vec![
                (
                    "no selector",
                    json!({"spec": {"selector": null}}),
                    vec![("spec.selector", "Required")],
                ),
                (
                    "mismatch",
                    json!({"spec": {"selector": {"matchLabels": {"app": "x"}}}}),
                    vec![("spec.template.metadata.labels", "Invalid")],
                ),
                (
                    "restart policy",
                    json!({"spec": {"template": {"spec": {"restartPolicy": "OnFailure"}}}}),
                    vec![("spec.template.spec.restartPolicy", "NotSupported")],
                ),
            ],
        );
        invalid_updates(
            "apps",
            plural,
            vec![(
                "selector",
                json!({"spec": {"selector": {"matchLabels": {"app": "web", "v": "2"}},
                                "template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}}),
                vec![if plural == "statefulsets" {
                    ("spec", "Forbidden")
                } else {
                    ("spec.selector", "Invalid")
                }],
            )],
        );
    }
    invalid_creates(
        "apps",
        "statefulsets",
        vec![(
            "name is a label",
            json!({"metadata": {"name": "a.b"}}),
            vec![("metadata.name", "Invalid")],
        )],
    );
    invalid_updates(
        "apps",
        "statefulsets",
        vec![(
            "service name",
            json!({"spec": {"serviceName": "other"}}),
            vec![("spec", "Forbidden")],
        )],
    );
    update_ok(
        res("apps", "statefulsets"),
        &sts,
        json!({"spec": {"replicas": 3}}),
    );
    invalid_creates(
        "apps",
        "daemonsets",
        vec![(
            "surge and unavailable",
            json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}}}),
            vec![("spec.updateStrategy.rollingUpdate.maxSurge", "Invalid")],
        )],
    );
    invalid_creates(
        "apps",
        "controllerrevisions",
        vec![
            ("no data", json!({"data": null}), vec![("data", "Required")]),
            (
                "negative revision",
                json!({"revision": -1}),
                vec![("revision", "Invalid")],
            ),
        ],
    );
    invalid_updates(
        "apps",
        "controllerrevisions",
        vec![("data", json!({"data": {"x": 1}}), vec![("data", "Invalid")])],
    );
}

// ---------------------------------------------------------------------------------------------
// batch/v1
// ---------------------------------------------------------------------------------------------

#[test]
fn job_defaults_and_selector() {
    let r = res("batch", "jobs");
    let job = create_ok(
        r,
        json!({"spec": {"template": {"metadata": {"labels": {"team": "a"}}}}}),
    );
    let spec = &job["spec"];
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(spec["manualSelector"], false);
    let uid = "0b7ba8f8-6a5c-4d3c-9f4d-2f1a3b5c7d9e";
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    assert_eq!(
        spec["template"]["metadata"]["labels"],
        json!({
            "team": "a",
            "job-name": "web",
            "batch.kubernetes.io/job-name": "web",
            "controller-uid": uid,
            "batch.kubernetes.io/controller-uid": uid,
        })
    );
    assert_eq!(job["metadata"]["labels"], json!({"team": "a"}));
    let parallel = create_ok(r, json!({"spec": {"parallelism": 3}}));
    assert!(parallel["spec"].get("completions").is_none());
    let indexed = create_ok(
        r,
        json!({"spec": {"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1}}),
    );
    assert_eq!(indexed["spec"]["backoffLimit"], i32::MAX);
}

#[test]
fn job_invalid_and_updates() {
    invalid_creates(
        "batch",
        "jobs",
        vec![
            (
                "no restart policy",
                json!({"spec": {"template": {"spec": {"restartPolicy": null}}}}),
                vec![("spec.template.spec.restartPolicy", "Required")],
            ),
            (
                "restart always",
                json!({"spec": {"template": {"spec": {"restartPolicy": "Always"}}}}),
                vec![("spec.template.spec.restartPolicy", "Required")],
            ),
            (
                "negative backoff",
                json!({"spec": {"backoffLimit": -1}}),
                vec![("spec.backoffLimit", "Invalid")],
            ),
            (
                "indexed without completions",
                json!({"spec": {"completionMode": "Indexed", "parallelism": 2}}),
                vec![("spec.completions", "Required")],
            ),
            (
                "completion mode",
                json!({"spec": {"completionMode": "Sometimes"}}),
                vec![("spec.completionMode", "NotSupported")],
            ),
            (
                "manual selector without one",
                json!({"spec": {"manualSelector": true}}),
                vec![("spec.selector", "Required")],
            ),
        ],
    );
    let r = res("batch", "jobs");
    let got = causes(prepare_create(
        r,
        with(
            r,
            json!({"spec": {"template": {"spec": {"restartPolicy": null}}}}),
        ),
    ));
    assert!(
        got.iter()
            .any(|c| c.2 == "Required value: valid values: \"OnFailure\", \"Never\""),
        "{got:?}"
    );
    let old = create_ok(r, json!({}));
    update_ok(r, &old, json!({"spec": {"parallelism": 4}}));
    // A replacement without the uid keeps the stored one.
    let without_uid = update_ok(r, &old, json!({"metadata": {"uid": null}}));
    assert_eq!(without_uid["metadata"]["uid"], old["metadata"]["uid"]);
    invalid_updates(
        "batch",
        "jobs",
        vec![
            (
                "template",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}),
                vec![("spec.template", "Invalid")],
            ),
            (
                "completions",
                json!({"spec": {"completions": 2}}),
                vec![("spec.completions", "Invalid")],
            ),
            (
                "selector",
                json!({"spec": {"selector": {"matchLabels": {"x": "y"}}}}),
                vec![("spec.selector", "Invalid")],
            ),
        ],
    );
}

#[test]
fn cronjob_rules() {
    let r = res("batch", "cronjobs");
    let cj = create_ok(r, json!({}));
    let spec = &cj["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    assert_eq!(
        spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
    invalid_creates(
        "batch",
        "cronjobs",
        vec![
            (
                "schedule",
                json!({"spec": {"schedule": "every day"}}),
                vec![("spec.schedule", "Invalid")],
            ),
            (
                "no schedule",
                json!({"spec": {"schedule": ""}}),
                vec![("spec.schedule", "Required")],
            ),
            (
                "long name",
                json!({"metadata": {"name": "a".repeat(53)}}),
                vec![("metadata.name", "Invalid")],
            ),
            (
                "job restart policy",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Always"}}}}}}),
                vec![(
                    "spec.jobTemplate.spec.template.spec.restartPolicy",
                    "Required",
                )],
            ),
            (
                "concurrency",
                json!({"spec": {"concurrencyPolicy": "Sometimes"}}),
                vec![("spec.concurrencyPolicy", "NotSupported")],
            ),
            (
                "time zone",
                json!({"spec": {"timeZone": "Local"}}),
                vec![("spec.timeZone", "Invalid")],
            ),
            (
                "tz in schedule",
                json!({"spec": {"schedule": "TZ=UTC 0 * * * *"}}),
                vec![("spec.schedule", "Invalid")],
            ),
        ],
    );
    update_ok(
        r,
        &cj,
        json!({"spec": {"schedule": "0 * * * *", "timeZone": "Europe/Paris"}}),
    );
}

// ---------------------------------------------------------------------------------------------
// Service, Endpoints
// ---------------------------------------------------------------------------------------------

#[test]
fn service_defaults() {
    let r = res("", "services");
    let svc = create_ok(
        r,
        json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "targetPort": "http"}]}}),
    );
    let spec = &svc["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["ports"][1]["targetPort"], "http");
    assert!(
        spec.get("clusterIP").is_none(),
        "allocation is the server's"
    );
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));

    let lb = create_ok(r, json!({"spec": {"type": "LoadBalancer"}}));
    assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    let affinity = create_ok(r, json!({"spec": {"sessionAffinity": "ClientIP"}}));
    assert_eq!(
        affinity["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    let external = create_ok(
        r,
        json!({"spec": {"type": "ExternalName", "externalName": "example.com", "ports": null}}),
    );
    assert!(external["spec"].get("ipFamilyPolicy").is_none());
    assert!(external["spec"].get("internalTrafficPolicy").is_none());
}

#[test]
fn service_invalid_and_updates() {
    invalid_creates(
        "",
        "services",
        vec![
            (
                "no ports",
                json!({"spec": {"ports": null}}),
                vec![("spec.ports", "Required")],
            ),
            (
                "port range",
                json!({"spec": {"ports": [{"port": 0}]}}),
                vec![("spec.ports[0].port", "Invalid")],
            ),
            (
                "unnamed ports",
                json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}}),
                vec![
                    ("spec.ports[0].name", "Required"),
                    ("spec.ports[1].name", "Required"),
                ],
            ),
            (
                "duplicate port names",
                json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}}),
                vec![("spec.ports[1].name", "Duplicate")],
            ),
            (
                "duplicate ports",
                json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}}),
                vec![("spec.ports[1]", "Duplicate")],
            ),
            (
                "type",
                json!({"spec": {"type": "Internal"}}),
                vec![("spec.type", "NotSupported")],
            ),
            (
                "name",
                json!({"metadata": {"name": "1web"}}),
                vec![("metadata.name", "Invalid")],
            ),
            (
                "external name",
                json!({"spec": {"type": "ExternalName", "ports": null}}),
                vec![("spec.externalName", "Required")],
            ),
            (
                "node port on cluster IP",
                json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
                vec![("spec.ports[0].nodePort", "Forbidden")],
            ),
            (
                "cluster IP",
                json!({"spec": {"clusterIP": "10.0.0.300"}}),
                vec![("spec.clusterIPs[0]", "Invalid")],
            ),
            (
                "session affinity",
                json!({"spec": {"sessionAffinity": "Sticky"}}),
                vec![("spec.sessionAffinity", "NotSupported")],
            ),
            (
                "target port",
                json!({"spec": {"ports": [{"port": 80, "targetPort": "Not_A_Port"}]}}),
                vec![("spec.ports[0].targetPort", "Invalid")],
            ),
        ],
    );
    let r = res("", "services");
    let got = causes(prepare_create(
        r,
        with(r, json!({"spec": {"type": "Internal"}})),
    ));
    assert!(got.iter().any(|c| c.2
        == "Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""));
    let allocated = create_ok(r, json!({"spec": {"clusterIP": "10.96.0.10"}}));
    assert_eq!(allocated["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    let mut replacement = allocated.clone();
    replacement["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterIP");
    replacement["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterIPs");
    let kept = prepare_update(r, replacement, &allocated).unwrap();
    assert_eq!(kept["spec"]["clusterIP"], "10.96.0.10");
    let mut moved = allocated.clone();
    moved["spec"]["clusterIP"] = json!("10.96.0.11");
    moved["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
    assert_causes(
        &causes(prepare_update(r, moved, &allocated)),
        &[("spec.clusterIPs[0]", "FieldValueInvalid")],
        "cluster IP change",
    );
    // Switching to ExternalName drops what only made sense with a cluster IP.
    let mut external = allocated.clone();
    merge(
        &mut external,
        &json!({"spec": {"type": "ExternalName", "externalName": "db.example.com", "ports": null}}),
    );
    let switched = prepare_update(r, external, &allocated).unwrap();
    assert!(switched["spec"].get("clusterIP").is_none(), "{switched}");
    assert!(switched["spec"].get("ipFamilyPolicy").is_none());
    // A NodePort service keeps its allocated node ports when a replacement omits them.
    let np = create_ok(
        r,
        json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}),
    );
    let mut omitted = np.clone();
    omitted["spec"]["ports"][0]
        .as_object_mut()
        .unwrap()
        .remove("nodePort");
    let kept = prepare_update(r, omitted, &np).unwrap();
    assert_eq!(kept["spec"]["ports"][0]["nodePort"], 30080);
    let mut to_cluster_ip = np.clone();
    to_cluster_ip["spec"]["type"] = json!("ClusterIP");
    let back = prepare_update(r, to_cluster_ip, &np).unwrap();
    assert!(back["spec"]["ports"][0].get("nodePort").is_none());
    assert!(back["spec"].get("externalTrafficPolicy").is_none());
}

#[test]
fn endpoints_rules() {
    let r = res("", "endpoints");
    let ep = create_ok(
        r,
        json!({"subsets": [{"addresses": [{"ip": "10.1.0.5"}], "ports": [{"port": 80}]}]}),
    );
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    invalid_creates(
        "",
        "endpoints",
        vec![
            (
                "no addresses",
                json!({"subsets": [{"ports": [{"port": 80}]}]}),
                vec![("subsets[0]", "Required")],
            ),
            (
                "bad ip",
                json!({"subsets": [{"addresses": [{"ip": "x"}]}]}),
                vec![("subsets[0].addresses[0].ip", "Invalid")],
            ),
            (
                "loopback",
                json!({"subsets": [{"addresses": [{"ip": "127.0.0.1"}]}]}),
                vec![("subsets[0].addresses[0].ip", "Invalid")],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// ConfigMap, Secret, Namespace, Node, ServiceAccount, Event
// ---------------------------------------------------------------------------------------------

#[test]
fn configmap_rules() {
    invalid_creates(
        "",
        "configmaps",
        vec![
            (
                "bad key",
                json!({"data": {"bad key": "x"}}),
                vec![("data[bad key]", "Invalid")],
            ),
            (
                "too big",
                json!({"data": {"a": "x".repeat(1024 * 1024 + 1)}}),
                vec![("", "TooLong")],
            ),
            (
                "duplicate in binaryData",
                json!({"binaryData": {"a": "eA=="}}),
                vec![("data[a]", "Invalid")],
            ),
        ],
    );
    let r = res("", "configmaps");
    let frozen = create_ok(r, json!({"immutable": true}));
    let mut changed = frozen.clone();
    changed["data"]["a"] = json!("c");
    assert_causes(
        &causes(prepare_update(r, changed, &frozen)),
        &[("data", "FieldValueForbidden")],
        "immutable",
    );
    let mut thawed = frozen.clone();
    thawed["immutable"] = json!(false);
    assert_causes(
        &causes(prepare_update(r, thawed, &frozen)),
        &[("immutable", "FieldValueForbidden")],
        "thaw",
    );
    let open = create_ok(r, json!({}));
    update_ok(r, &open, json!({"data": {"a": "c"}}));
}

#[test]
fn secret_rules() {
    let r = res("", "secrets");
    let s = create_ok(
        r,
        json!({"stringData": {"user": "admin"}, "data": {"pw": "c2VjcmV0"}}),
    );
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"pw": "c2VjcmV0", "user": "YWRtaW4="}));
    assert!(s.get("stringData").is_none());
    invalid_creates(
        "",
        "secrets",
        vec![
            (
                "bad key",
                json!({"data": {"a/b": "eA=="}}),
                vec![("data[a/b]", "Invalid")],
            ),
            (
                "tls without keys",
                json!({"type": "kubernetes.io/tls"}),
                vec![("data[tls.crt]", "Required"), ("data[tls.key]", "Required")],
            ),
            (
                "token without account",
                json!({"type": "kubernetes.io/service-account-token"}),
                vec![(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "Required",
                )],
            ),
            (
                "docker config json",
                json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "bm90IGpzb24="}}),
                vec![("data[.dockerconfigjson]", "Invalid")],
            ),
        ],
    );
    invalid_updates(
        "",
        "secrets",
        vec![(
            "type",
            json!({"type": "kubernetes.io/basic-auth", "data": {"username": "eA=="}}),
            vec![("type", "Invalid")],
        )],
    );
    let frozen = create_ok(r, json!({"immutable": true, "data": {"a": "eA=="}}));
    let mut changed = frozen.clone();
    changed["data"]["a"] = json!("eQ==");
    assert_causes(
        &causes(prepare_update(r, changed, &frozen)),
        &[("data", "FieldValueForbidden")],
        "immutable",
    );
}

#[test]
fn namespace_rules() {
    let r = res("", "namespaces");
    let ns = create_ok(r, json!({"status": {"phase": "Terminating"}}));
    assert_eq!(ns["status"], json!({"phase": "Active"}));
    assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(
        ns["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "web"})
    );
    let got = causes(prepare_create(
        r,
        with(r, json!({"metadata": {"name": "a.b"}})),
    ));
    assert_eq!(got[0].0, "metadata.name");
    assert_eq!(got[0].2, "Invalid value: \"a.b\": must not contain dots");
    invalid_creates(
        "",
        "namespaces",
        vec![(
            "finalizer",
            json!({"spec": {"finalizers": ["custom"]}}),
            vec![("spec.finalizers", "Invalid")],
        )],
    );
    // Finalizers are carried over on update (the finalize subresource changes them).
    let updated = update_ok(
        r,
        &ns,
        json!({"spec": {"finalizers": []}, "metadata": {"labels": {"team": "a"}}}),
    );
    assert_eq!(updated["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(
        updated["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "web"
    );
}

#[test]
fn namespace_finalize_replaces_only_spec_finalizers() {
    let r = res("", "namespaces");
    let ns = create_ok(r, json!({"spec": {"finalizers": ["example.com/hold"]}}));
    assert_eq!(
        ns["spec"]["finalizers"],
        json!(["example.com/hold", "kubernetes"])
    );
    // Everything but spec.finalizers in the body is ignored.
    let out = prepare_namespace_finalize(
        json!({
            "metadata": {"name": "web", "labels": {"sneaky": "yes"}},
            "spec": {"finalizers": ["example.com/hold"]},
            "status": {"phase": "Terminating"},
        }),
        &ns,
    )
    .unwrap();
    assert_eq!(out["spec"]["finalizers"], json!(["example.com/hold"]));
    assert_eq!(out["metadata"], ns["metadata"]);
    assert_eq!(out["status"], ns["status"]);
    // No finalizers in the body: none left.
    let out = prepare_namespace_finalize(json!({"spec": {}}), &ns).unwrap();
    assert!(out["spec"].get("finalizers").is_none(), "{out}");
    // Names are checked as on create; a body of the wrong shape does not decode.
    let got = causes(prepare_namespace_finalize(
        json!({"spec": {"finalizers": ["custom"]}}),
        &ns,
    ));
    assert_causes(
        &got,
        &[("spec.finalizers", "FieldValueInvalid")],
        "finalize",
    );
    assert!(matches!(
        prepare_namespace_finalize(json!({"spec": {"finalizers": "kubernetes"}}), &ns),
        Err(RulesError::Decode(_))
    ));
}

#[test]
fn namespace_phase_follows_the_deletion_timestamp() {
    let r = res("", "namespaces");
    let ns = create_ok(r, json!({}));
    let got = causes(prepare_update(
        r,
        with(r, json!({"status": {"phase": "Terminating"}})),
        &ns,
    ));
    assert_eq!(got[0].0, "status.Phase");
    assert_eq!(
        got[0].2,
        "Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"
    );
    let mut deleting = ns.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    deleting["status"]["phase"] = json!("Terminating");
    let mut conditions = deleting.clone();
    conditions["status"]["conditions"] = json!([{
        "type": "NamespaceContentRemaining",
        "status": "True",
        "reason": "SomeResourcesRemain",
        "message": "Some resources are remaining: pods. has 1 resource instances",
        "lastTransitionTime": "2026-01-01T00:00:01Z",
    }]);
    let out = prepare_update(r, conditions, &deleting).unwrap();
    assert_eq!(
        out["status"]["conditions"][0]["type"],
        "NamespaceContentRemaining"
    );
    let mut active = deleting.clone();
    active["status"]["phase"] = json!("Active");
    let got = causes(prepare_update(r, active, &deleting));
    assert_eq!(
        got[0].2,
        "Invalid value: \"Active\": may only be 'Terminating' if `deletionTimestamp` is not empty"
    );
}

#[test]
fn node_rules() {
    invalid_creates(
        "",
        "nodes",
        vec![
            (
                "taint effect",
                json!({"spec": {"taints": [{"key": "k", "effect": "Maybe"}]}}),
                vec![("spec.taints[0].effect", "NotSupported")],
            ),
            (
                "duplicate taints",
                json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}]}}),
                vec![("spec.taints[1]", "Duplicate")],
            ),
            (
                "pod CIDR",
                json!({"spec": {"podCIDRs": ["10.0.0.0/99"]}}),
                vec![("spec.podCIDRs[0]", "Invalid")],
            ),
        ],
    );
    let r = res("", "nodes");
    let node = create_ok(r, json!({"spec": {"podCIDRs": ["10.244.0.0/24"]}}));
    let mut moved = node.clone();
    moved["spec"]["podCIDRs"] = json!(["10.244.1.0/24"]);
    assert_causes(
        &causes(prepare_update(r, moved, &node)),
        &[("spec.podCIDRs", "FieldValueForbidden")],
        "cidr",
    );
    update_ok(r, &node, json!({"spec": {"unschedulable": true}}));
}

#[test]
fn core_event_rules() {
    invalid_creates(
        "",
        "events",
        vec![(
            "namespace mismatch",
            json!({"involvedObject": {"namespace": "other"}}),
            vec![("involvedObject.namespace", "Invalid")],
        )],
    );
    // Event names are path segments, not DNS names.
    create_ok(
        res("", "events"),
        json!({"metadata": {"name": "web.17a2b3c4d5e6f7a8"}}),
    );
    create_ok(
        res("", "events"),
        json!({"metadata": {"name": "Web_Event"}}),
    );
    invalid_creates(
        "",
        "events",
        vec![(
            "slash",
            json!({"metadata": {"name": "a/b"}}),
            vec![("metadata.name", "Invalid")],
        )],
    );
}

// ---------------------------------------------------------------------------------------------
// Storage, quota, limits
// ---------------------------------------------------------------------------------------------

#[test]
fn volume_and_claim_rules() {
    let pv = create_ok(res("", "persistentvolumes"), json!({}));
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pv["status"]["phase"], "Pending");
    invalid_creates(
        "",
        "persistentvolumes",
        vec![
            (
                "no access modes",
                json!({"spec": {"accessModes": null}}),
                vec![("spec.accessModes", "Required")],
            ),
            (
                "no capacity",
                json!({"spec": {"capacity": null}}),
                vec![("spec.capacity", "Required")],
            ),
            (
                "no source",
                json!({"spec": {"hostPath": null}}),
                vec![("spec", "Required")],
            ),
            (
                "reclaim",
                json!({"spec": {"persistentVolumeReclaimPolicy": "Keep"}}),
                vec![("spec.persistentVolumeReclaimPolicy", "NotSupported")],
            ),
        ],
    );
    invalid_updates(
        "",
        "persistentvolumes",
        vec![(
            "source",
            json!({"spec": {"hostPath": {"path": "/other"}}}),
            vec![("spec.persistentvolumesource", "Forbidden")],
        )],
    );
    let pvc = create_ok(res("", "persistentvolumeclaims"), json!({}));
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"], json!({"phase": "Pending"}));
    invalid_creates(
        "",
        "persistentvolumeclaims",
        vec![
            (
                "no storage",
                json!({"spec": {"resources": {"requests": null}}}),
                vec![("spec.resources[storage]", "Required")],
            ),
            (
                "access mode",
                json!({"spec": {"accessModes": ["ReadWriteSometimes"]}}),
                vec![("spec.accessModes", "NotSupported")],
            ),
            (
                "zero storage",
                json!({"spec": {"resources": {"requests": {"storage": "0"}}}}),
                vec![("spec.resources[storage]", "Invalid")],
            ),
        ],
    );
    invalid_updates(
        "",
        "persistentvolumeclaims",
        vec![(
            "access modes",
            json!({"spec": {"accessModes": ["ReadWriteMany"]}}),
            vec![("spec", "Forbidden")],
        )],
    );
    update_ok(
        res("", "persistentvolumeclaims"),
        &pvc,
        json!({"spec": {"volumeName": "pv-1"}}),
    );
}

#[test]
fn quota_and_limit_ranges() {
    invalid_creates(
        "",
        "resourcequotas",
        vec![
            (
                "resource name",
                json!({"spec": {"hard": {"widgets": "1"}}}),
                vec![("spec.hard[widgets]", "Invalid")],
            ),
            (
                "negative",
                json!({"spec": {"hard": {"pods": "-1"}}}),
                vec![("spec.hard[pods]", "Invalid")],
            ),
            (
                "fraction of pods",
                json!({"spec": {"hard": {"pods": "1500m"}}}),
                vec![("spec.hard[pods]", "Invalid")],
            ),
            (
                "scope",
                json!({"spec": {"scopes": ["Sometimes"]}}),
                vec![("spec.scopes", "Invalid")],
            ),
        ],
    );
    invalid_updates(
        "",
        "resourcequotas",
        vec![(
            "scopes",
            json!({"spec": {"scopes": ["BestEffort"]}}),
            vec![("spec.scopes", "Invalid")],
        )],
    );
    let lr = create_ok(res("", "limitranges"), json!({}));
    assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "1"}));
    assert_eq!(
        lr["spec"]["limits"][0]["defaultRequest"],
        json!({"cpu": "1"})
    );
    invalid_creates(
        "",
        "limitranges",
        vec![
            (
                "min above max",
                json!({"spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}),
                vec![("spec.limits[0].min[cpu]", "Invalid")],
            ),
            (
                "type",
                json!({"spec": {"limits": [{"type": "Widget"}]}}),
                vec![("spec.limits[0].type", "Invalid")],
            ),
            (
                "pod default",
                json!({"spec": {"limits": [{"type": "Pod", "default": {"cpu": "1"}}]}}),
                vec![("spec.limits[0].default", "Forbidden")],
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// The other groups
// ---------------------------------------------------------------------------------------------

#[test]
fn lease_endpointslice_events() {
    invalid_creates(
        "coordination.k8s.io",
        "leases",
        vec![
            (
                "duration",
                json!({"spec": {"leaseDurationSeconds": 0}}),
                vec![("spec.leaseDurationSeconds", "Invalid")],
            ),
            (
                "preferred holder",
                json!({"spec": {"preferredHolder": "x"}}),
                vec![("spec.preferredHolder", "Forbidden")],
            ),
        ],
    );
    let slice = create_ok(res("discovery.k8s.io", "endpointslices"), json!({}));
    assert_eq!(
        slice["ports"][0],
        json!({"name": "", "port": 80, "protocol": "TCP"})
    );
    invalid_creates(
        "discovery.k8s.io",
        "endpointslices",
        vec![
            (
                "address type",
                json!({"addressType": ""}),
                vec![("addressType", "Required")],
            ),
            (
                "address type value",
                json!({"addressType": "IPv5"}),
                vec![("addressType", "NotSupported")],
            ),
            (
                "no addresses",
                json!({"endpoints": [{"addresses": []}]}),
                vec![("endpoints[0].addresses", "Required")],
            ),
            (
                "v6 in v4",
                json!({"endpoints": [{"addresses": ["::1"]}]}),
                vec![("endpoints[0].addresses[0]", "Invalid")],
            ),
        ],
    );
    invalid_updates(
        "discovery.k8s.io",
        "endpointslices",
        vec![(
            "address type",
            json!({"addressType": "IPv6", "endpoints": [{"addresses": ["fd00::1"]}]}),
            vec![("addressType", "Invalid")],
        )],
    );
    invalid_creates(
        "events.k8s.io",
        "events",
        vec![
            (
                "no event time",
                json!({"eventTime": null}),
                vec![("eventTime", "Required")],
            ),
            ("type", json!({"type": "Loud"}), vec![("type", "Invalid")]),
            (
                "no controller",
                json!({"reportingController": null}),
                vec![("reportingController", "Required")],
            ),
            (
                "deprecated count",
                json!({"deprecatedCount": 3}),
                vec![("count", "Invalid")],
            ),
        ],
    );
    invalid_updates(
        "events.k8s.io",
        "events",
        vec![(
            "note",
            json!({"note": "changed"}),
            vec![("message", "Invalid")],
        )],
    );
}

#[test]
fn ingress_and_network_policy() {
    invalid_creates(
        "networking.k8s.io",
        "ingresses",
        vec![
            (
                "path type",
                json!({"spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
                vec![("spec.rules[0].http.paths[0].pathType", "Required")],
            ),
            (
                "relative path",
                json!({"spec": {"rules": [{"http": {"paths": [{"path": "api", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
                vec![("spec.rules[0].http.paths[0].path", "Invalid")],
            ),
            (
                "no port",
                json!({"spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Exact", "backend": {"service": {"name": "web"}}}]}}]}}),
                vec![("spec.rules[0].http.paths[0].backend", "Required")],
            ),
            (
                "ip host",
                json!({"spec": {"rules": [{"host": "10.0.0.1"}]}}),
                vec![("spec.rules[0].host", "Invalid")],
            ),
            (
                "nothing",
                json!({"spec": {"rules": null}}),
                vec![("spec", "Invalid")],
            ),
        ],
    );
    let r = res("networking.k8s.io", "ingresses");
    let got = causes(prepare_create(
        r,
        with(
            r,
            json!({"spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        ),
    ));
    assert!(
        got.iter()
            .any(|c| c.2 == "Required value: pathType must be specified")
    );

    invalid_creates(
        "networking.k8s.io",
        "ingressclasses",
        vec![(
            "controller",
            json!({"spec": {"controller": null}}),
            vec![("spec.controller", "Required")],
        )],
    );
    invalid_updates(
        "networking.k8s.io",
        "ingressclasses",
        vec![(
            "controller",
            json!({"spec": {"controller": "example.com/other"}}),
            vec![("spec.controller", "Invalid")],
        )],
    );

    let np = create_ok(
        res("networking.k8s.io", "networkpolicies"),
        json!({"spec": {"ingress": [{"ports": [{"port": 80}]}]}}),
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
    let both = create_ok(
        res("networking.k8s.io", "networkpolicies"),
        json!({"spec": {"egress": [{}]}}),
    );
    assert_eq!(both["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    invalid_creates(
        "networking.k8s.io",
        "networkpolicies",
        vec![
            (
                "empty peer",
                json!({"spec": {"ingress": [{"from": [{}]}]}}),
                vec![("spec.ingress[0].from[0]", "Required")],
            ),
            (
                "cidr",
                json!({"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0"}}]}]}}),
                vec![("spec.egress[0].to[0].ipBlock.cidr", "Invalid")],
            ),
            (
                "policy type",
                json!({"spec": {"policyTypes": ["Sideways"]}}),
                vec![("spec.policyTypes[0]", "NotSupported")],
            ),
            (
                "end port",
                json!({"spec": {"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}}),
                vec![("spec.ingress[0].ports[0].endPort", "Invalid")],
            ),
        ],
    );
}

#[test]
fn budgets_storage_and_priority_classes() {
    invalid_creates(
        "policy",
        "poddisruptionbudgets",
        vec![
            (
                "both",
                json!({"spec": {"maxUnavailable": "10%"}}),
                vec![("spec", "Invalid")],
            ),
            (
                "percent",
                json!({"spec": {"minAvailable": "150%"}}),
                vec![("spec.minAvailable", "Invalid")],
            ),
        ],
    );
    let sc = create_ok(res("storage.k8s.io", "storageclasses"), json!({}));
    assert_eq!(sc["reclaimPolicy"], "Delete");
    assert_eq!(sc["volumeBindingMode"], "Immediate");
    invalid_creates(
        "storage.k8s.io",
        "storageclasses",
        vec![
            (
                "provisioner",
                json!({"provisioner": ""}),
                vec![("provisioner", "Required")],
            ),
            (
                "reclaim",
                json!({"reclaimPolicy": "Recycle"}),
                vec![("reclaimPolicy", "NotSupported")],
            ),
            (
                "binding",
                json!({"volumeBindingMode": "Later"}),
                vec![("volumeBindingMode", "NotSupported")],
            ),
        ],
    );
    invalid_updates(
        "storage.k8s.io",
        "storageclasses",
        vec![
            (
                "parameters",
                json!({"parameters": {"a": "b"}}),
                vec![("parameters", "Forbidden")],
            ),
            (
                "provisioner",
                json!({"provisioner": "example.com/other"}),
                vec![("provisioner", "Forbidden")],
            ),
        ],
    );
    let pc = create_ok(res("scheduling.k8s.io", "priorityclasses"), json!({}));
    assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
    invalid_creates(
        "scheduling.k8s.io",
        "priorityclasses",
        vec![
            (
                "too high",
                json!({"value": 1_000_000_001}),
                vec![("value", "Forbidden")],
            ),
            (
                "system name",
                json!({"metadata": {"name": "system-mine"}}),
                vec![("metadata.name", "Forbidden")],
            ),
            (
                "policy",
                json!({"preemptionPolicy": "Always"}),
                vec![("preemptionPolicy", "NotSupported")],
            ),
        ],
    );
    create_ok(
        res("scheduling.k8s.io", "priorityclasses"),
        json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000}),
    );
    invalid_updates(
        "scheduling.k8s.io",
        "priorityclasses",
        vec![("value", json!({"value": 5}), vec![("value", "Forbidden")])],
    );
}

// ---------------------------------------------------------------------------------------------
// rbac.authorization.k8s.io
// ---------------------------------------------------------------------------------------------

#[test]
fn rbac_rules_need_verbs_groups_and_resources() {
    invalid_creates(
        "rbac.authorization.k8s.io",
        "roles",
        vec![
            (
                "no verbs",
                json!({"rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]}]}),
                vec![("rules[0].verbs", "Required")],
            ),
            (
                "no groups or resources",
                json!({"rules": [{"verbs": ["get"]}]}),
                vec![
                    ("rules[0].apiGroups", "Required"),
                    ("rules[0].resources", "Required"),
                ],
            ),
            (
                "urls in a namespaced role",
                json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}),
                vec![("rules[0].nonResourceURLs", "Invalid")],
            ),
            (
                "a name with a slash",
                json!({"metadata": {"name": "a/b"}}),
                vec![("metadata.name", "Invalid")],
            ),
        ],
    );
    let r = res("rbac.authorization.k8s.io", "clusterroles");
    create_ok(
        r,
        json!({"metadata": {"name": "system:Mixed_Case"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}),
    );
    let got = causes(prepare_create(
        r,
        with(
            r,
            json!({"rules": [{"verbs": ["get"], "resources": ["pods"], "apiGroups": [""], "nonResourceURLs": ["/a", "/b"]}]}),
        ),
    ));
    assert_eq!(
        got[0].2,
        "Invalid value: []string{\"/a\", \"/b\"}: rules cannot apply to both regular resources and non-resource URLs"
    );
    invalid_creates(
        "rbac.authorization.k8s.io",
        "clusterroles",
        vec![(
            "aggregation without selectors",
            json!({"aggregationRule": {"clusterRoleSelectors": []}}),
            vec![("aggregationRule.clusterRoleSelectors", "Required")],
        )],
    );
}

#[test]
fn rbac_bindings_default_groups_and_check_subjects() {
    let r = res("rbac.authorization.k8s.io", "rolebindings");
    let created = create_ok(
        r,
        json!({"subjects": [{"kind": "User", "name": "bob"}, {"kind": "ServiceAccount", "name": "sa"}]}),
    );
    assert_eq!(created["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(
        created["subjects"][0]["apiGroup"],
        "rbac.authorization.k8s.io"
    );
    assert_eq!(created["subjects"][1]["apiGroup"], "");
    invalid_creates(
        "rbac.authorization.k8s.io",
        "rolebindings",
        vec![
            (
                "bad role kind",
                json!({"roleRef": {"kind": "Deployment"}}),
                vec![("roleRef.kind", "NotSupported")],
            ),
            (
                "no role name",
                json!({"roleRef": {"name": ""}}),
                vec![("roleRef.name", "Required")],
            ),
            (
                "bad subject kind",
                json!({"subjects": [{"kind": "Robot", "name": "r"}]}),
                vec![("subjects[0].kind", "NotSupported")],
            ),
            (
                "no subject name",
                json!({"subjects": [{"kind": "User", "name": ""}]}),
                vec![("subjects[0].name", "Required")],
            ),
        ],
    );
    invalid_creates(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        vec![
            (
                "a Role in a cluster binding",
                json!({"roleRef": {"kind": "Role"}}),
                vec![("roleRef.kind", "NotSupported")],
            ),
            (
                "a service account without namespace",
                json!({"subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
                vec![("subjects[0].namespace", "Required")],
            ),
        ],
    );
}

#[test]
fn rbac_role_refs_are_immutable() {
    let r = res("rbac.authorization.k8s.io", "clusterrolebindings");
    let old = create_ok(r, json!({}));
    update_ok(
        r,
        &old,
        json!({"subjects": [{"kind": "Group", "name": "devs"}]}),
    );
    let mut new = old.clone();
    merge(&mut new, &json!({"roleRef": {"name": "edit"}}));
    let got = causes(prepare_update(r, new, &old));
    assert_eq!(
        got,
        [(
            "roleRef".to_string(),
            "FieldValueInvalid".to_string(),
            "Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef".to_string()
        )]
    );
}

#[test]
fn module_defaults_and_status() {
    let r = crate::registry::find("modules.kmicro.io", "v1alpha1", "modules").unwrap();
    let created = prepare_create(
        r,
        json!({"metadata": {"name": "scheduler"}, "spec": {"source": {"builtin": true}},
               "status": {"phase": "Running"}}),
    )
    .unwrap();
    assert_eq!(
        created["spec"]["limits"],
        json!({"memory": "32Mi", "callTimeout": "1s", "hostCallsPerSecond": 200})
    );
    assert!(created.get("status").is_none(), "a create resets status");
    let mut reported = created.clone();
    reported["status"] = json!({"phase": "Running", "restarts": 1, "memoryBytes": 1024,
        "conditions": [{"type": "Ready", "status": "True"}]});
    let updated = prepare_update(r, reported, &created).unwrap();
    assert_eq!(updated["status"]["phase"], "Running");
}

#[test]
fn module_invalid() {
    let r = crate::registry::find("modules.kmicro.io", "v1alpha1", "modules").unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let cases: Vec<Case<'_>> = vec![
        (
            "bad digest",
            json!({"spec": {"source": {"digest": "sha256:xyz"}}}),
            vec![("spec.source.digest", "Invalid")],
        ),
        (
            "digest and builtin",
            json!({"spec": {"source": {"digest": digest, "builtin": true}}}),
            vec![("spec.source.builtin", "Forbidden")],
        ),
        (
            "bad memory",
            json!({"spec": {"limits": {"memory": "lots"}}}),
            vec![("spec.limits.memory", "Invalid")],
        ),
        (
            "zero memory",
            json!({"spec": {"limits": {"memory": "0"}}}),
            vec![("spec.limits.memory", "Invalid")],
        ),
        (
            "huge memory",
            json!({"spec": {"limits": {"memory": "5Gi"}}}),
            vec![("spec.limits.memory", "Invalid")],
        ),
        (
            "bad timeout",
            json!({"spec": {"limits": {"callTimeout": "soon"}}}),
            vec![("spec.limits.callTimeout", "Invalid")],
        ),
        (
            "zero rate",
            json!({"spec": {"limits": {"hostCallsPerSecond": 0}}}),
            vec![("spec.limits.hostCallsPerSecond", "Invalid")],
        ),
        (
            "bad verb",
            json!({"spec": {"permissions": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "fly"]}]}}),
            vec![("spec.permissions[0].verbs[1]", "NotSupported")],
        ),
        (
            "empty rule",
            json!({"spec": {"permissions": [{}]}}),
            vec![
                ("spec.permissions[0].apiGroups", "Required"),
                ("spec.permissions[0].resources", "Required"),
                ("spec.permissions[0].verbs", "Required"),
            ],
        ),
        (
            "uppercase name",
            json!({"metadata": {"name": "Sched"}}),
            vec![("metadata.name", "Invalid")],
        ),
    ];
    for (case, patch, expected) in cases {
        let mut obj = json!({"metadata": {"name": "m"}});
        merge(&mut obj, &patch);
        let got = causes(prepare_create(r, obj));
        let expected: Vec<(&str, &str)> = expected.iter().map(|(f, k)| (*f, reason(k))).collect();
        assert_causes(&got, &expected, case);
    }
    let created = prepare_create(r, json!({"metadata": {"name": "m"}})).unwrap();
    let mut bad_status = created.clone();
    bad_status["status"] = json!({"phase": "Crashed", "restarts": -1, "digest": "md5:1",
        "conditions": [{"type": "Ready", "status": "yes"}]});
    let got = causes(prepare_update(r, bad_status, &created));
    assert_causes(
        &got,
        &[
            ("status.phase", "FieldValueNotSupported"),
            ("status.restarts", "FieldValueInvalid"),
            ("status.digest", "FieldValueInvalid"),
            ("status.conditions[0].status", "FieldValueNotSupported"),
        ],
        "status",
    );
    // Another kind in the body is a decode error.
    assert!(matches!(
        prepare_create(
            r,
            json!({"apiVersion": "v1", "kind": "Module", "metadata": {"name": "m"}})
        ),
        Err(RulesError::Decode(_))
    ));
}
