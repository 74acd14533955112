//! Protobuf request bodies end to end: `kubectl create …` (1.32 and 1.35) sends
//! `application/vnd.kubernetes.protobuf`; kmicro must store exactly what the same object sent
//! as JSON gives. Raw requests check the errors: garbage → 400 with a Status, nothing stored.

mod common;

use std::process::Command;

use common::{Cluster, Kubectl};
use serde_json::Value;

/// `/usr/bin/kubectl` runs its built-in 1.32 against a 1.35 server.
const KUBECTL_1_32: &str = "kubectl";
/// Installed by `tests/install-deps.sh`.
const KUBECTL_1_35: &str = "/opt/kmicro-test-tools/v35/kubectl/kubectl";

impl Kubectl<'_> {
    fn get(&self, namespace: Option<&str>, resource: &str, name: &str) -> Value {
        let mut args = vec!["get", resource, name, "-o", "json"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        serde_json::from_str(&self.ok(&args, None)).unwrap()
    }

    /// `kubectl create <what>` (protobuf) in `pb_ns`, and the same object as a JSON body
    /// in `json_ns`.
    fn create_both_ways(&self, what: &[&str], pb_ns: &str, json_ns: &str) {
        let mut create = vec!["create"];
        create.extend(in_namespace(what, pb_ns));
        self.ok(&create, None);
        self.create_from_json(&in_namespace(what, json_ns));
    }

    /// `kubectl create <what>` as a JSON body: printed by `--dry-run=client -o json`, then
    /// created from that (`create -f` sends JSON).
    fn create_from_json(&self, what: &[&str]) {
        let mut dry = vec!["create"];
        dry.extend(in_namespace(what, ""));
        let at = dry.iter().position(|a| *a == "--").unwrap_or(dry.len());
        dry.splice(at..at, ["--dry-run=client", "-o", "json"]);
        let printed = self.ok(&dry, None);
        self.ok(&["create", "-f", "-"], Some(&printed));
    }
}

/// `what` with `-n namespace` before any `--` (none for "").
fn in_namespace<'a>(what: &[&'a str], namespace: &'a str) -> Vec<&'a str> {
    let mut args = what.to_vec();
    if !namespace.is_empty() {
        let at = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        args.splice(at..at, ["-n", namespace]);
    }
    args
}

/// An object without what differs between two creations of the same content (its uid is
/// also in a Job's labels and selector).
fn comparable(obj: Value) -> Value {
    let uid = obj["metadata"]["uid"].as_str().unwrap().to_string();
    let text = obj.to_string().replace(&uid, "UID");
    let mut obj: Value = serde_json::from_str(&text).unwrap();
    let meta = obj["metadata"].as_object_mut().unwrap();
    for field in [
        "uid",
        "creationTimestamp",
        "resourceVersion",
        "namespace",
        "managedFields",
        "name",
    ] {
        meta.remove(field);
    }
    // A namespace's name label.
    if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
        labels.remove("kubernetes.io/metadata.name");
    }
    // A Service's allocated cluster IP and node ports differ from one Service to the next.
    if obj["kind"] == "Service" {
        let spec = &mut obj["spec"];
        for field in ["clusterIP", "clusterIPs", "healthCheckNodePort"] {
            spec.as_object_mut().unwrap().remove(field);
        }
        for port in spec["ports"].as_array_mut().into_iter().flatten() {
            port.as_object_mut().unwrap().remove("nodePort");
        }
    }
    obj
}

/// What each `kubectl create` subcommand makes: arguments, resource, name.
fn namespaced_creates(file: &str) -> Vec<(Vec<String>, &'static str, &'static str)> {
    let from_file = format!("--from-file={file}");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["configmap", "c", "--from-literal=a=b", &from_file],
            "configmap",
            "c",
        ),
        (
            vec!["secret", "generic", "s", "--from-literal=k=v"],
            "secret",
            "s",
        ),
        (
            vec![
                "deployment",
                "web",
                "--image=nginx",
                "--replicas=2",
                "--port=80",
            ],
            "deployment",
            "web",
        ),
        (
            vec!["job", "j", "--image=busybox", "--", "date"],
            "job",
            "j",
        ),
        (
            vec!["cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"],
            "cronjob",
            "cj",
        ),
        (
            vec!["service", "clusterip", "svc", "--tcp=5678:8080"],
            "service",
            "svc",
        ),
        (vec!["serviceaccount", "sa"], "serviceaccount", "sa"),
        (
            vec!["quota", "q", "--hard=cpu=1,memory=1G,pods=2"],
            "resourcequota",
            "q",
        ),
        (
            vec![
                "poddisruptionbudget",
                "pdb",
                "--selector=app=web",
                "--min-available=50%",
            ],
            "poddisruptionbudget",
            "pdb",
        ),
        (
            vec!["ingress", "ing", "--rule=foo.com/bar=svc:8080,tls=my-cert"],
            "ingress",
            "ing",
        ),
    ];
    cases
        .into_iter()
        .map(|(args, resource, name)| {
            (
                args.into_iter().map(str::to_string).collect(),
                resource,
                name,
            )
        })
        .collect()
}

#[test]
fn kubectl_create_stores_what_the_same_object_as_json_stores() {
    let c = Cluster::start_api_only();
    let file = c.data_dir.with_extension("greeting.txt");
    std::fs::write(&file, "hello\n").unwrap();
    for (version, bin) in [("132", KUBECTL_1_32), ("135", KUBECTL_1_35)] {
        let k = Kubectl::new(bin, &c);
        let (pb_ns, json_ns) = (format!("pb-{version}"), format!("json-{version}"));
        k.ok(&["create", "namespace", &pb_ns], None);
        k.create_from_json(&["namespace", &json_ns]);
        assert_eq!(
            comparable(k.get(None, "namespace", &pb_ns)),
            comparable(k.get(None, "namespace", &json_ns)),
        );

        for (args, resource, name) in namespaced_creates(file.to_str().unwrap()) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            k.create_both_ways(&args, &pb_ns, &json_ns);
            let pb = k.get(Some(&pb_ns), resource, name);
            let json = k.get(Some(&json_ns), resource, name);
            assert_eq!(
                comparable(pb.clone()),
                comparable(json),
                "kubectl {version} create {args:?}: protobuf vs JSON"
            );
        }

        let pc = format!("high-{version}");
        k.ok(
            &[
                "create",
                "priorityclass",
                &pc,
                "--value=1000",
                "--description=high",
            ],
            None,
        );
        let pc_json = format!("{pc}-json");
        k.create_from_json(&[
            "priorityclass",
            &pc_json,
            "--value=1000",
            "--description=high",
        ]);
        let pb = k.get(None, "priorityclass", &pc);
        assert_eq!(pb["value"], 1000);
        assert_eq!(pb["description"], "high");
        assert_eq!(
            comparable(pb),
            comparable(k.get(None, "priorityclass", &pc_json))
        );

        check_contents(&k, &pb_ns);
    }
}

/// What the protobuf creates hold, read back as a user would.
fn check_contents(k: &Kubectl<'_>, ns: &str) {
    let secret = k.ok(
        &["get", "secret", "s", "-n", ns, "-o", "jsonpath={.data.k}"],
        None,
    );
    assert_eq!(secret, "dg==", "base64 of \"v\"");
    let cm = k.get(Some(ns), "configmap", "c");
    assert_eq!(cm["data"]["a"], "b");
    let file_key = cm["data"]
        .as_object()
        .unwrap()
        .keys()
        .find(|key| key.ends_with(".txt"))
        .cloned()
        .unwrap();
    assert_eq!(cm["data"][&file_key], "hello\n");

    let deploy = k.get(Some(ns), "deploy", "web");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "nginx");
    assert_eq!(container["image"], "nginx");
    assert_eq!(container["ports"][0]["containerPort"], 80);
    assert_eq!(container["ports"][0]["protocol"], "TCP");
    assert_eq!(container["imagePullPolicy"], "Always");
    assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(deploy["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(deploy["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(deploy["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        deploy["spec"]["template"]["spec"]["restartPolicy"],
        "Always"
    );
    assert!(deploy["spec"].get("paused").is_none(), "{deploy}");

    let job = k.get(Some(ns), "job", "j");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        serde_json::json!(["date"])
    );
    let cron = k.get(Some(ns), "cronjob", "cj");
    assert_eq!(cron["spec"]["schedule"], "*/5 * * * *");
    let svc = k.get(Some(ns), "service", "svc");
    assert_eq!(svc["spec"]["ports"][0]["port"], 5678);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    let quota = k.get(Some(ns), "resourcequota", "q");
    assert_eq!(
        quota["spec"]["hard"],
        serde_json::json!({"cpu": "1", "memory": "1G", "pods": "2"})
    );
    let pdb = k.get(Some(ns), "pdb", "pdb");
    assert_eq!(pdb["spec"]["minAvailable"], "50%");
    let ing = k.get(Some(ns), "ingress", "ing");
    let path = &ing["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(ing["spec"]["rules"][0]["host"], "foo.com");
    assert_eq!(path["path"], "/bar");
    assert_eq!(path["backend"]["service"]["port"]["number"], 8080);
    assert_eq!(ing["spec"]["tls"][0]["secretName"], "my-cert");
    k.ok(&["get", "serviceaccount", "sa", "-n", ns], None);
}

// ---------------------------------------------------------------------------------------------
// Raw requests

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
fn ld(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2];
    push_varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// The envelope client-go sends around an object's message.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [ld(1, api_version.as_bytes()), ld(2, kind.as_bytes())].concat();
    [&b"k8s\0"[..], &ld(1, &type_meta), &ld(2, raw)].concat()
}

/// A ConfigMap message: metadata.name and one data entry.
fn config_map(name: &str, key: &str, value: &str) -> Vec<u8> {
    let meta = ld(1, name.as_bytes());
    let entry = [ld(1, key.as_bytes()), ld(2, value.as_bytes())].concat();
    [ld(1, &meta), ld(2, &entry)].concat()
}

/// Status code, Content-Type and body of a raw request with the admin token.
fn request(
    c: &Cluster,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, String, Value) {
    let tokens = std::fs::read_to_string(c.data_dir.join("server/tokens.csv")).unwrap();
    let token = tokens
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let file = c.data_dir.with_extension("body");
    std::fs::write(&file, body).unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "-X", method, "-w", "\n%{http_code}\n%{content_type}"])
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("{}{path}", c.url()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, content_type) = text.rsplit_once('\n').unwrap();
    let (body, code) = rest.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        content_type.to_string(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

const PROTOBUF: &str = "Content-Type: application/vnd.kubernetes.protobuf";

#[test]
fn raw_protobuf_bodies_and_their_errors() {
    let c = Cluster::start_api_only();
    let cms = "/api/v1/namespaces/default/configmaps";

    // A valid body, answered in JSON even when protobuf is preferred.
    let good = envelope("v1", "ConfigMap", &config_map("raw", "a", "b"));
    let accept = "Accept: application/vnd.kubernetes.protobuf, application/json";
    let (code, content_type, obj) = request(&c, "POST", cms, &[PROTOBUF, accept], &good);
    assert_eq!(code, 201, "{obj}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(obj["data"]["a"], "b");
    assert_eq!(obj["metadata"]["namespace"], "default");

    // Update with a protobuf body.
    let changed = envelope("v1", "ConfigMap", &config_map("raw", "a", "c"));
    let (code, _, obj) = request(&c, "PUT", &format!("{cms}/raw"), &[PROTOBUF], &changed);
    assert_eq!(code, 200, "{obj}");
    assert_eq!(obj["data"]["a"], "c");

    // Every way of being wrong is a 400 Status, and nothing is stored.
    let valid = envelope("v1", "ConfigMap", &config_map("broken", "a", "b"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"this is not protobuf".to_vec(),
            "does not appear to be a protobuf message",
        ),
        (
            "JSON",
            br#"{"metadata":{"name":"broken"}}"#.to_vec(),
            "does not appear to be a protobuf message",
        ),
        ("magic only", b"k8s\0".to_vec(), "empty body"),
        (
            "truncated",
            valid[..valid.len() - 3].to_vec(),
            "unexpected EOF",
        ),
        (
            "another kind",
            envelope("v1", "Secret", &config_map("broken", "a", "b")),
            "does not match the expected kind",
        ),
        (
            "another version",
            envelope("apps/v1", "ConfigMap", &config_map("broken", "a", "b")),
            "does not match the expected API version",
        ),
        (
            "wrong wire type",
            envelope("v1", "ConfigMap", &[0x08, 0x01]),
            "wrong wireType",
        ),
    ];
    for (what, body, message) in cases {
        let (code, _, status) = request(&c, "POST", cms, &[PROTOBUF], &body);
        assert_eq!(code, 400, "{what}: {status}");
        assert_eq!(status["kind"], "Status", "{what}");
        assert_eq!(status["reason"], "BadRequest", "{what}");
        let text = status["message"].as_str().unwrap();
        assert!(text.contains(message), "{what}: {text}");
    }
    let (code, _, _) = request(&c, "GET", &format!("{cms}/broken"), &[], b"");
    assert_eq!(code, 404, "a refused body stored nothing");

    // Every truncation of a valid body is refused: 400, or 422 when it ends between fields
    // and what is left is an object without a name.
    for len in 0..valid.len() {
        let (code, _, status) = request(&c, "POST", cms, &[PROTOBUF], &valid[..len]);
        assert!(code == 400 || code == 422, "{len} bytes: {code} {status}");
        assert_eq!(status["kind"], "Status", "{len} bytes");
    }
    let (code, _, _) = request(&c, "GET", &format!("{cms}/broken"), &[], b"");
    assert_eq!(code, 404, "a truncated body stored nothing");

    // Patches are never protobuf.
    let (code, _, status) = request(&c, "PATCH", &format!("{cms}/raw"), &[PROTOBUF], &good);
    assert_eq!(code, 415, "{status}");
    assert_eq!(status["reason"], "UnsupportedMediaType");

    // The scale subresource takes an autoscaling/v1 Scale.
    let k = Kubectl::new(KUBECTL_1_35, &c);
    k.ok(&["create", "deployment", "web", "--image=nginx"], None);
    let scale = [ld(1, &ld(1, b"web")), ld(2, &[0x08, 0x03])].concat();
    let body = envelope("autoscaling/v1", "Scale", &scale);
    let path = "/apis/apps/v1/namespaces/default/deployments/web/scale";
    let (code, _, obj) = request(&c, "PUT", path, &[PROTOBUF], &body);
    assert_eq!(code, 200, "{obj}");
    assert_eq!(k.get(None, "deploy", "web")["spec"]["replicas"], 3);
}
