use serde_json::json;

use super::*;
use crate::registry::{self, BUILTIN};

fn res(group: &str, plural: &str) -> &'static ResourceInfo {
    BUILTIN
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .unwrap_or_else(|| panic!("{group}/{plural} is not served"))
}

fn pods() -> &'static ResourceInfo {
    registry::find("", "v1", "pods").unwrap()
}

/// Resources kube has and kmicro does not (yet) serve.
const REPLICATION_CONTROLLERS: ResourceInfo = ResourceInfo {
    group: "",
    version: "v1",
    kind: "ReplicationController",
    plural: "replicationcontrollers",
    singular: "replicationcontroller",
    namespaced: true,
    short_names: &["rc"],
    categories: &["all"],
    status: true,
    scale: true,
};
const CSRS: ResourceInfo = ResourceInfo {
    group: "certificates.k8s.io",
    version: "v1",
    kind: "CertificateSigningRequest",
    plural: "certificatesigningrequests",
    singular: "certificatesigningrequest",
    namespaced: false,
    short_names: &["csr"],
    categories: &[],
    status: true,
    scale: false,
};
const WIDGETS: ResourceInfo = ResourceInfo {
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

fn parse(s: &str, r: &ResourceInfo) -> FieldSelector {
    FieldSelector::parse(s, r).unwrap_or_else(|e| panic!("{s:?} on {}: {e}", r.plural))
}

fn err(s: &str, r: &ResourceInfo) -> SelectorError {
    match FieldSelector::parse(s, r) {
        Ok(sel) => panic!("{s:?} on {} should be refused, got {sel}", r.plural),
        Err(e) => e,
    }
}

fn unsupported(field: &str, message: &str) -> SelectorError {
    SelectorError::UnsupportedField {
        field: field.to_string(),
        message: message.to_string(),
    }
}

#[test]
fn parses_terms_and_operators() {
    let sel = parse(
        "spec.nodeName=n1,status.phase!=Running,metadata.name==p",
        pods(),
    );
    assert_eq!(
        sel.to_string(),
        "metadata.name=p,spec.nodeName=n1,status.phase!=Running"
    );
    assert!(!sel.is_empty());
    for empty in ["", ",", ",,,"] {
        let sel = parse(empty, pods());
        assert!(sel.is_empty(), "{empty:?}");
        assert_eq!(sel.to_string(), "");
        assert!(sel.matches(&json!({})));
    }
    // The value runs to the end of the term; an empty value is allowed.
    let sel = parse("spec.nodeName=", pods());
    assert_eq!(sel.to_string(), "spec.nodeName=");
    let sel = parse("metadata.name=a!b", pods());
    assert_eq!(sel.requires_exact_match("metadata.name"), Some("a!b"));
    // The term splits at its first operator: here `!=`, leaving the value `=x`.
    let sel = parse(r"metadata.name!=\=x", pods());
    assert_eq!(sel.to_string(), r"metadata.name!=\=x");
    assert!(!sel.matches(&json!({"metadata": {"name": "=x"}})));
}

#[test]
fn refuses_what_does_not_parse() {
    assert_eq!(
        err("metadata.name", pods()),
        SelectorError::InvalidFieldSelector(
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'".into()
        )
    );
    assert_eq!(
        err("spec.nodeName=a,oops", pods()).to_string(),
        "invalid selector: 'spec.nodeName=a,oops'; can't understand 'oops'"
    );
    // Parsing comes before any field is checked.
    assert_eq!(
        err("spec.foo=a,oops", pods()).to_string(),
        "invalid selector: 'spec.foo=a,oops'; can't understand 'oops'"
    );
}

#[test]
fn unescapes_values() {
    let cases = [
        (r"metadata.name=a\,b", "a,b", r"metadata.name=a\,b"),
        (r"metadata.name=a\=b", "a=b", r"metadata.name=a\=b"),
        (r"metadata.name=a\\b", r"a\b", r"metadata.name=a\\b"),
        (r"metadata.name=\\\,\=", r"\,=", r"metadata.name=\\\,\="),
        ("metadata.name=é", "é", "metadata.name=é"),
    ];
    for (input, value, display) in cases {
        let sel = parse(input, pods());
        assert_eq!(
            sel.requires_exact_match("metadata.name"),
            Some(value),
            "{input}"
        );
        assert_eq!(sel.to_string(), display, "{input}");
        assert_eq!(parse(&sel.to_string(), pods()), sel, "{input}");
        assert!(
            sel.matches(&json!({"metadata": {"name": value}})),
            "{input}"
        );
    }
    // An escaped comma does not split terms.
    let sel = parse(r"metadata.name=a\,spec.nodeName\=b", pods());
    assert_eq!(
        sel.requires_exact_match("metadata.name"),
        Some("a,spec.nodeName=b")
    );
}

#[test]
fn refuses_bad_escapes_as_kube_does() {
    let cases = [
        (
            r"metadata.name=a\b",
            r"invalid field selector: invalid escape sequence: \b",
        ),
        (
            r"metadata.name=a\",
            r"invalid field selector: invalid escape sequence: \",
        ),
        (
            r"metadata.name=a\é",
            r"invalid field selector: invalid escape sequence: \é",
        ),
        (
            "metadata.name=a=b",
            "invalid field selector: unescaped character in value: 61",
        ),
        (
            "metadata.name==a=b",
            "invalid field selector: unescaped character in value: 61",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(
            err(input, pods()),
            SelectorError::InvalidFieldSelector(message.into()),
            "{input}"
        );
    }
}

#[test]
fn does_not_trim() {
    assert_eq!(
        err("metadata.name = a", pods()).to_string(),
        "field label not supported: metadata.name "
    );
    let sel = parse("metadata.name= a", pods());
    assert_eq!(sel.requires_exact_match("metadata.name"), Some(" a"));
}

#[test]
fn refuses_unsupported_fields_in_each_resources_words() {
    assert_eq!(
        err("spec.foo=x", pods()),
        unsupported("spec.foo", "field label not supported: spec.foo")
    );
    assert_eq!(
        err("spec.unschedulable=true", pods()).to_string(),
        "field label not supported: spec.unschedulable"
    );
    // Kinds with their own rules and no namespace field refuse metadata.namespace.
    for r in [res("", "nodes"), res("", "namespaces"), &CSRS] {
        assert_eq!(
            err("metadata.namespace=x", r).to_string(),
            "field label not supported: metadata.namespace",
            "{}",
            r.plural
        );
    }
    assert_eq!(
        err("status.succeeded=1", res("batch", "jobs")),
        unsupported(
            "status.succeeded",
            r#"field label "status.succeeded" not supported for Job"#
        )
    );
    for r in [
        res("", "configmaps"),
        res("apps", "deployments"),
        res("apps", "replicasets"),
        res("", "persistentvolumes"),
        &WIDGETS,
    ] {
        assert_eq!(
            err("status.replicas=1", r),
            unsupported(
                "status.replicas",
                r#""status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace""#
            ),
            "{}",
            r.plural
        );
    }
    // The first refused field in sorted order is the one reported.
    assert_eq!(
        err("z=1,a=1", pods()).to_string(),
        "field label not supported: a"
    );
    assert_eq!(err("=x", pods()).to_string(), "field label not supported: ");
    assert_eq!(
        err("=x", res("", "configmaps")).to_string(),
        r#""" is not a known field selector: only "metadata.name", "metadata.namespace""#
    );
    // events.k8s.io/v1 uses its own spellings, not the core ones.
    assert_eq!(
        err("involvedObject.kind=Pod", res("events.k8s.io", "events")).to_string(),
        "field label not supported: involvedObject.kind"
    );
    assert_eq!(
        err("regarding.kind=Pod", res("", "events")).to_string(),
        "field label not supported: regarding.kind"
    );
}

#[test]
fn supported_fields_per_resource() {
    let cases: &[(&ResourceInfo, &[&str])] = &[
        (
            pods(),
            &[
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
                "spec.host",
            ],
        ),
        (res("", "nodes"), &["metadata.name", "spec.unschedulable"]),
        (res("", "namespaces"), &["metadata.name", "status.phase"]),
        (
            res("", "secrets"),
            &["metadata.name", "metadata.namespace", "type"],
        ),
        (
            res("", "services"),
            &[
                "metadata.name",
                "metadata.namespace",
                "spec.clusterIP",
                "spec.type",
            ],
        ),
        (
            &REPLICATION_CONTROLLERS,
            &["metadata.name", "metadata.namespace", "status.replicas"],
        ),
        (
            res("", "events"),
            &[
                "metadata.name",
                "metadata.namespace",
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
        ),
        (
            res("events.k8s.io", "events"),
            &[
                "metadata.name",
                "metadata.namespace",
                "reason",
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "regarding.resourceVersion",
                "regarding.fieldPath",
                "reportingController",
                "source",
                "type",
            ],
        ),
        (
            res("batch", "jobs"),
            &["metadata.name", "metadata.namespace", "status.successful"],
        ),
        (&CSRS, &["metadata.name", "spec.signerName"]),
        (
            res("", "configmaps"),
            &["metadata.name", "metadata.namespace"],
        ),
        (
            res("apps", "replicasets"),
            &["metadata.name", "metadata.namespace"],
        ),
        (
            res("", "persistentvolumes"),
            &["metadata.name", "metadata.namespace"],
        ),
        (&WIDGETS, &["metadata.name", "metadata.namespace"]),
    ];
    for (r, fields) in cases {
        assert_eq!(supported_fields(r), *fields, "{}", r.plural);
        for f in *fields {
            let sel = parse(&format!("{f}=x"), r);
            assert!(!sel.is_empty());
            assert!(field_value(r, &json!({}), f).is_some());
        }
    }
    // Every served resource accepts metadata.name.
    for r in BUILTIN {
        parse("metadata.name=x", r);
        assert!(supported_fields(r).contains(&"metadata.name"));
    }
}

#[test]
fn pod_fields() {
    let pod = json!({
        "metadata": {"name": "web-1", "namespace": "prod"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "sa",
            "hostNetwork": true,
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
            "nominatedNodeName": "n2",
        }
    });
    let r = pods();
    let expect = [
        ("metadata.name", "web-1"),
        ("metadata.namespace", "prod"),
        ("spec.nodeName", "n1"),
        ("spec.host", "n1"),
        ("spec.restartPolicy", "Always"),
        ("spec.schedulerName", "default-scheduler"),
        ("spec.serviceAccountName", "sa"),
        ("spec.hostNetwork", "true"),
        ("status.phase", "Running"),
        ("status.podIP", "10.0.0.5"),
        ("status.podIPs", ""),
        ("status.nominatedNodeName", "n2"),
    ];
    for (f, v) in expect {
        assert_eq!(field_value(r, &pod, f).as_deref(), Some(v), "{f}");
        assert!(parse(&format!("{f}={v}"), r).matches(&pod), "{f}={v}");
        assert!(!parse(&format!("{f}!={v}"), r).matches(&pod), "{f}!={v}");
    }
    assert_eq!(field_value(r, &pod, "spec.foo"), None);

    // An unscheduled pod: missing strings are "", a missing hostNetwork is false.
    let pending = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {}});
    assert_eq!(
        field_value(r, &pending, "spec.nodeName").as_deref(),
        Some("")
    );
    assert_eq!(
        field_value(r, &pending, "spec.hostNetwork").as_deref(),
        Some("false")
    );
    assert_eq!(
        field_value(r, &pending, "status.podIP").as_deref(),
        Some("")
    );
    assert!(parse("spec.nodeName=", r).matches(&pending));
    assert!(!parse("spec.nodeName=", r).matches(&pod));
    assert!(parse("spec.nodeName!=", r).matches(&pod));
    assert!(parse("spec.hostNetwork=false", r).matches(&pending));

    // status.podIP falls back to the first of status.podIPs.
    let ips_only = json!({"status": {"podIPs": [{"ip": "fd00::9"}]}});
    assert_eq!(
        field_value(r, &ips_only, "status.podIP").as_deref(),
        Some("fd00::9")
    );

    // spec.host is an alias: it prints, and matches, as spec.nodeName.
    let sel = parse("spec.host=n1", r);
    assert_eq!(sel.to_string(), "spec.nodeName=n1");
    assert_eq!(sel.requires_exact_match("spec.nodeName"), Some("n1"));
    assert_eq!(sel.requires_exact_match("spec.host"), None);
    assert!(sel.matches(&pod));

    // status.podIPs is accepted but never populated: only the empty value matches.
    assert!(parse("status.podIPs=", r).matches(&pod));
    assert!(!parse("status.podIPs=10.0.0.5", r).matches(&pod));

    let sel = parse(
        "spec.nodeName=n1,status.phase=Running,metadata.namespace=prod",
        r,
    );
    assert!(sel.matches(&pod));
    assert!(!sel.matches(&pending));
}

#[test]
fn node_namespace_secret_service_fields() {
    let nodes = res("", "nodes");
    let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
    assert!(parse("spec.unschedulable=true", nodes).matches(&node));
    assert!(parse("metadata.name=n1", nodes).matches(&node));
    let fresh = json!({"metadata": {"name": "n2"}, "spec": {}});
    assert_eq!(
        field_value(nodes, &fresh, "spec.unschedulable").as_deref(),
        Some("false")
    );
    assert!(parse("spec.unschedulable!=true", nodes).matches(&fresh));

    let namespaces = res("", "namespaces");
    let ns = json!({"metadata": {"name": "prod"}, "status": {"phase": "Terminating"}});
    assert!(parse("status.phase=Terminating", namespaces).matches(&ns));
    assert!(!parse("status.phase=Active", namespaces).matches(&ns));

    let secrets = res("", "secrets");
    let secret = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls"});
    assert!(parse("type=kubernetes.io/tls", secrets).matches(&secret));
    assert!(parse("type!=Opaque,metadata.namespace=d", secrets).matches(&secret));

    let services = res("", "services");
    let svc =
        json!({"metadata": {"name": "api"}, "spec": {"clusterIP": "None", "type": "ClusterIP"}});
    assert!(parse("spec.clusterIP=None", services).matches(&svc));
    assert!(parse("spec.type=ClusterIP", services).matches(&svc));
    assert!(!parse("spec.type=NodePort", services).matches(&svc));
}

#[test]
fn counts_read_as_integers() {
    let jobs = res("batch", "jobs");
    let job = json!({"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 3}});
    assert_eq!(
        field_value(jobs, &job, "status.successful").as_deref(),
        Some("3")
    );
    assert!(parse("status.successful=3", jobs).matches(&job));
    let new_job = json!({"metadata": {"name": "j"}, "status": {}});
    assert!(parse("status.successful=0", jobs).matches(&new_job));

    let rc = json!({"status": {"replicas": 2}});
    assert!(parse("status.replicas=2", &REPLICATION_CONTROLLERS).matches(&rc));
    assert!(parse("status.replicas=0", &REPLICATION_CONTROLLERS).matches(&json!({})));
}

#[test]
fn core_event_fields() {
    let events = res("", "events");
    let ev = json!({
        "metadata": {"name": "e", "namespace": "d"},
        "involvedObject": {
            "kind": "Pod", "namespace": "d", "name": "web", "uid": "u-1",
            "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{app}"
        },
        "reason": "Scheduled",
        "reportingComponent": "default-scheduler",
        "source": {"component": "kubelet", "host": "n1"},
        "type": "Normal"
    });
    let expect = [
        ("involvedObject.kind", "Pod"),
        ("involvedObject.namespace", "d"),
        ("involvedObject.name", "web"),
        ("involvedObject.uid", "u-1"),
        ("involvedObject.apiVersion", "v1"),
        ("involvedObject.resourceVersion", "42"),
        ("involvedObject.fieldPath", "spec.containers{app}"),
        ("reason", "Scheduled"),
        ("reportingComponent", "default-scheduler"),
        ("source", "kubelet"),
        ("type", "Normal"),
    ];
    for (f, v) in expect {
        assert_eq!(field_value(events, &ev, f).as_deref(), Some(v), "{f}");
    }
    let sel = parse(
        "involvedObject.kind=Pod,involvedObject.name=web,type=Normal",
        events,
    );
    assert!(sel.matches(&ev));
    // Without source.component, source is the reporting component.
    let new_style = json!({"reportingComponent": "kubelet"});
    assert_eq!(
        field_value(events, &new_style, "source").as_deref(),
        Some("kubelet")
    );
    assert_eq!(
        field_value(events, &json!({}), "source").as_deref(),
        Some("")
    );
}

#[test]
fn events_k8s_io_fields() {
    let events = res("events.k8s.io", "events");
    let ev = json!({
        "metadata": {"name": "e", "namespace": "d"},
        "regarding": {"kind": "Node", "name": "n1", "uid": "u", "apiVersion": "v1",
                      "resourceVersion": "7", "fieldPath": "", "namespace": ""},
        "reason": "NodeReady",
        "reportingController": "kubelet",
        "type": "Normal"
    });
    assert_eq!(
        field_value(events, &ev, "regarding.kind").as_deref(),
        Some("Node")
    );
    assert_eq!(
        field_value(events, &ev, "reportingController").as_deref(),
        Some("kubelet")
    );
    assert_eq!(
        field_value(events, &ev, "source").as_deref(),
        Some("kubelet")
    );
    assert_eq!(field_value(events, &ev, "involvedObject.kind"), None);
    let sel = parse("regarding.kind=Node,reportingController=kubelet", events);
    assert!(sel.matches(&ev));
    // Printed with the core Event's names, as kube-apiserver converts them.
    assert_eq!(
        sel.to_string(),
        "involvedObject.kind=Node,reportingComponent=kubelet"
    );
    let with_source =
        json!({"deprecatedSource": {"component": "old"}, "reportingController": "new"});
    assert_eq!(
        field_value(events, &with_source, "source").as_deref(),
        Some("old")
    );
}

#[test]
fn cluster_scoped_default_kinds_accept_metadata_namespace_as_empty() {
    let pvs = res("", "persistentvolumes");
    let pv = json!({"metadata": {"name": "pv1"}});
    assert_eq!(
        field_value(pvs, &pv, "metadata.namespace").as_deref(),
        Some("")
    );
    assert!(parse("metadata.namespace=", pvs).matches(&pv));
    assert!(!parse("metadata.namespace=default", pvs).matches(&pv));
    assert!(parse("metadata.name=pv1", pvs).matches(&pv));

    let cms = res("", "configmaps");
    let cm = json!({"metadata": {"name": "c", "namespace": "kube-system"}});
    assert!(parse("metadata.namespace=kube-system", cms).matches(&cm));
    assert!(parse("metadata.namespace!=default,metadata.name=c", cms).matches(&cm));
}

#[test]
fn requires_exact_match_only_for_equality() {
    let sel = parse("metadata.name!=a,spec.nodeName=n", pods());
    assert_eq!(sel.requires_exact_match("metadata.name"), None);
    assert_eq!(sel.requires_exact_match("spec.nodeName"), Some("n"));
    assert_eq!(sel.requires_exact_match("status.phase"), None);
}

#[test]
fn odd_values_in_objects_do_not_break_matching() {
    let r = pods();
    for obj in [
        json!(null),
        json!(1),
        json!([]),
        json!({"spec": null}),
        json!({"spec": "x"}),
        json!({"spec": {"nodeName": 5}}),
        json!({"spec": {"nodeName": {"a": 1}}}),
        json!({"status": {"podIPs": "x"}}),
        json!({"status": {"podIPs": [1]}}),
    ] {
        let sel = parse("spec.nodeName!=zz,status.podIP!=zz", r);
        assert!(sel.matches(&obj), "{obj}");
    }
    assert_eq!(
        field_value(r, &json!({"spec": {"nodeName": 5}}), "spec.nodeName").as_deref(),
        Some("5")
    );
}

/// A tiny deterministic generator, so the test needs no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn odd_inputs_never_panic() {
    let r = pods();
    let odd = [
        "\\",
        "\\\\",
        "=",
        "==",
        "!=",
        "!",
        "=\\",
        "a=\\",
        ",=,",
        "\0",
        "é",
        "é=é\\é",
        "metadata.name=\u{10ffff}",
        "metadata.name=\\\u{10ffff}",
        "\u{feff}=x",
        "a,b,c",
    ];
    for s in odd {
        let _ = FieldSelector::parse(s, r);
    }
    let alphabet: Vec<char> = "ms.=!,\\ aé\0\u{200b}".chars().collect();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let len = (rng.next() % 14) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
            .collect();
        let s = format!("metadata.name={s}");
        if let Ok(sel) = FieldSelector::parse(&s, r) {
            // What parses prints with escapes that parse back to the same selector.
            assert_eq!(parse(&sel.to_string(), r), sel, "{s:?}");
            let _ = sel.matches(&json!({"metadata": {"name": "a"}}));
        }
    }
}
