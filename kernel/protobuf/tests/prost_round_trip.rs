//! Objects built as `k8s-pb` (prost) messages, encoded by prost, wrapped in a
//! `runtime.Unknown` the way client-go does, decoded by kmicro-protobuf: the JSON must be the
//! JSON a Go client would have sent for the same object, which is also what the kind's
//! `k8s-openapi` type makes of it.

use std::collections::BTreeMap;

use k8s_pb::api::{apps, authentication, authorization, batch, coordination, core, events};
use k8s_pb::api::{networking, policy, scheduling};
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The body client-go sends: `k8s\0` and the envelope.
fn body(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [&b"k8s\0"[..], &unknown.encode_to_vec()].concat()
}

/// Decodes `object` as a `kind` of `group`/`version`.
fn decode(group: &str, version: &str, kind: &str, object: &impl Message) -> Value {
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    kmicro_protobuf::decode(&body(&api_version, kind, object), group, version, kind).unwrap()
}

/// Decodes `object` and checks it against `expected`, and `expected` against `T`.
fn check<T: DeserializeOwned + Serialize>(
    group: &str,
    version: &str,
    kind: &str,
    object: &impl Message,
    expected: Value,
) {
    assert_eq!(
        decode(group, version, kind, object),
        expected,
        "{kind}: decoded vs expected"
    );
    let typed: T = serde_json::from_value(expected.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(typed).unwrap(),
        expected,
        "{kind}: expected vs k8s-openapi"
    );
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// ObjectMeta as a Go client sends it: every value field, empty ones included.
fn meta(name: &str, labels: &[(&str, &str)]) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(""),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        labels: map(labels),
        ..Default::default()
    })
}

fn int(v: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(v),
        str_val: s(""),
    })
}

fn string(v: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: s(v),
    })
}

fn quantity(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

#[test]
fn deployment_as_kubectl_create_deployment_sends_it() {
    let container = core::v1::Container {
        name: s("nginx"),
        image: s("nginx"),
        ports: vec![core::v1::ContainerPort {
            name: s(""),
            host_port: Some(0),
            container_port: Some(80),
            protocol: s(""),
            host_ip: s(""),
        }],
        resources: Some(core::v1::ResourceRequirements::default()),
        termination_message_path: s(""),
        image_pull_policy: s(""),
        stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    };
    let deployment = apps::v1::Deployment {
        metadata: meta("web", &[("app", "web")]),
        spec: Some(apps::v1::DeploymentSpec {
            replicas: Some(2),
            selector: Some(meta::LabelSelector {
                match_labels: map(&[("app", "web")]),
                match_expressions: vec![],
            }),
            template: Some(core::v1::PodTemplateSpec {
                metadata: meta("", &[("app", "web")]),
                spec: Some(core::v1::PodSpec {
                    containers: vec![container],
                    restart_policy: s(""),
                    dns_policy: s(""),
                    host_network: Some(false),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::v1::DeploymentStrategy::default()),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::v1::DeploymentStatus::default()),
    };
    check::<k8s_openapi::api::apps::v1::Deployment>(
        "apps",
        "v1",
        "Deployment",
        &deployment,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "nginx",
                        "ports": [{"containerPort": 80}],
                        "resources": {},
                    }]},
                },
                "strategy": {},
            },
            "status": {},
        }),
    );
}

#[test]
fn secret_and_config_map_bytes_are_base64() {
    let secret = core::v1::Secret {
        metadata: meta("s", &[]),
        immutable: Some(false),
        data: [("k".to_string(), b"v\x00\xff".to_vec())].into(),
        string_data: map(&[("plain", "text")]),
        r#type: s("Opaque"),
    };
    check::<k8s_openapi::api::core::v1::Secret>(
        "",
        "v1",
        "Secret",
        &secret,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "immutable": false,
            "data": {"k": "dgD/"},
            "stringData": {"plain": "text"},
            "type": "Opaque",
        }),
    );
    let config_map = core::v1::ConfigMap {
        metadata: meta("c", &[]),
        data: map(&[("a", "b")]),
        binary_data: [("bin".to_string(), vec![1, 2, 3])].into(),
        immutable: None,
    };
    check::<k8s_openapi::api::core::v1::ConfigMap>(
        "",
        "v1",
        "ConfigMap",
        &config_map,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": {"a": "b"},
            "binaryData": {"bin": "AQID"},
        }),
    );
}

#[test]
fn service_ports_and_pdb_int_or_string() {
    let port = |name: &str, port: i32, target: Option<IntOrString>| core::v1::ServicePort {
        name: s(name),
        protocol: s("TCP"),
        app_protocol: None,
        port: Some(port),
        target_port: target,
        node_port: Some(0),
    };
    let service = core::v1::Service {
        metadata: meta("svc", &[("app", "svc")]),
        spec: Some(core::v1::ServiceSpec {
            ports: vec![
                port("5678-8080", 5678, int(8080)),
                port("web", 80, string("http")),
                port("same", 81, int(0)),
            ],
            selector: map(&[("app", "svc")]),
            cluster_ip: s(""),
            r#type: s("ClusterIP"),
            session_affinity: s(""),
            publish_not_ready_addresses: Some(false),
            ..Default::default()
        }),
        status: Some(core::v1::ServiceStatus::default()),
    };
    check::<k8s_openapi::api::core::v1::Service>(
        "",
        "v1",
        "Service",
        &service,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc", "labels": {"app": "svc"}},
            "spec": {
                "ports": [
                    {"name": "5678-8080", "protocol": "TCP", "port": 5678, "targetPort": 8080},
                    {"name": "web", "protocol": "TCP", "port": 80, "targetPort": "http"},
                    {"name": "same", "protocol": "TCP", "port": 81, "targetPort": 0},
                ],
                "selector": {"app": "svc"},
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        }),
    );
    let pdb = policy::v1::PodDisruptionBudget {
        metadata: meta("pdb", &[]),
        spec: Some(policy::v1::PodDisruptionBudgetSpec {
            min_available: string("50%"),
            selector: Some(meta::LabelSelector {
                match_labels: map(&[("app", "web")]),
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: s("tier"),
                    operator: s("In"),
                    values: vec!["a".into(), "b".into()],
                }],
            }),
            max_unavailable: None,
            unhealthy_pod_eviction_policy: None,
        }),
        status: None,
    };
    check::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(
        "policy",
        "v1",
        "PodDisruptionBudget",
        &pdb,
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "pdb"},
            "spec": {
                "minAvailable": "50%",
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
                },
            },
            "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
        }),
    );
}

#[test]
fn cron_job_pointers_keep_their_zero_values() {
    let cron_job = batch::v1::CronJob {
        metadata: meta("cj", &[]),
        spec: Some(batch::v1::CronJobSpec {
            schedule: s("*/5 * * * *"),
            time_zone: None,
            starting_deadline_seconds: Some(0),
            concurrency_policy: s(""),
            suspend: Some(false),
            job_template: Some(batch::v1::JobTemplateSpec {
                metadata: meta("cj", &[]),
                spec: Some(batch::v1::JobSpec {
                    backoff_limit: Some(0),
                    ttl_seconds_after_finished: Some(0),
                    template: Some(core::v1::PodTemplateSpec {
                        metadata: meta("", &[]),
                        spec: Some(core::v1::PodSpec {
                            containers: vec![core::v1::Container {
                                name: s("cj"),
                                image: s("busybox"),
                                command: vec!["date".into()],
                                ..Default::default()
                            }],
                            restart_policy: s("OnFailure"),
                            ..Default::default()
                        }),
                    }),
                    ..Default::default()
                }),
            }),
            successful_jobs_history_limit: None,
            failed_jobs_history_limit: Some(1),
        }),
        status: Some(batch::v1::CronJobStatus::default()),
    };
    check::<k8s_openapi::api::batch::v1::CronJob>(
        "batch",
        "v1",
        "CronJob",
        &cron_job,
        json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj"},
            "spec": {
                "schedule": "*/5 * * * *",
                "startingDeadlineSeconds": 0,
                "suspend": false,
                "jobTemplate": {
                    "metadata": {"name": "cj"},
                    "spec": {
                        "backoffLimit": 0,
                        "ttlSecondsAfterFinished": 0,
                        "template": {
                            "metadata": {},
                            "spec": {
                                "containers": [{
                                    "name": "cj",
                                    "image": "busybox",
                                    "command": ["date"],
                                    "resources": {},
                                }],
                                "restartPolicy": "OnFailure",
                            },
                        },
                    },
                },
                "failedJobsHistoryLimit": 1,
            },
            "status": {},
        }),
    );
}

#[test]
fn pod_inline_structs_flatten_into_their_parent() {
    let pod = core::v1::Pod {
        metadata: meta("p", &[]),
        spec: Some(core::v1::PodSpec {
            volumes: vec![core::v1::Volume {
                name: s("config"),
                volume_source: Some(core::v1::VolumeSource {
                    config_map: Some(core::v1::ConfigMapVolumeSource {
                        local_object_reference: Some(core::v1::LocalObjectReference {
                            name: s("settings"),
                        }),
                        default_mode: Some(0o644),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            containers: vec![core::v1::Container {
                name: s("app"),
                image: s("app:1"),
                env: vec![core::v1::EnvVar {
                    name: s("MODE"),
                    value: s(""),
                    value_from: Some(core::v1::EnvVarSource {
                        config_map_key_ref: Some(core::v1::ConfigMapKeySelector {
                            local_object_reference: Some(core::v1::LocalObjectReference {
                                name: s("settings"),
                            }),
                            key: s("mode"),
                            optional: Some(true),
                        }),
                        ..Default::default()
                    }),
                }],
                liveness_probe: Some(core::v1::Probe {
                    handler: Some(core::v1::ProbeHandler {
                        http_get: Some(core::v1::HttpGetAction {
                            path: s("/healthz"),
                            port: string("http"),
                            host: s(""),
                            scheme: s(""),
                            http_headers: vec![],
                        }),
                        ..Default::default()
                    }),
                    initial_delay_seconds: Some(0),
                    timeout_seconds: Some(0),
                    period_seconds: Some(5),
                    success_threshold: Some(0),
                    failure_threshold: Some(0),
                    termination_grace_period_seconds: None,
                }),
                resources: Some(core::v1::ResourceRequirements {
                    limits: [("memory".to_string(), quantity("64Mi"))].into(),
                    requests: [("cpu".to_string(), quantity("100m"))].into(),
                    claims: vec![],
                }),
                ..Default::default()
            }],
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            ..Default::default()
        }),
        status: None,
    };
    check::<k8s_openapi::api::core::v1::Pod>(
        "",
        "v1",
        "Pod",
        &pod,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "volumes": [{"name": "config", "configMap": {"name": "settings", "defaultMode": 420}}],
                "containers": [{
                    "name": "app",
                    "image": "app:1",
                    "env": [{
                        "name": "MODE",
                        "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode", "optional": true}},
                    }],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
                    "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "100m"}},
                }],
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": false,
            },
            "status": {},
        }),
    );
}

#[test]
fn times_micro_times_and_raw_json() {
    let when = |seconds, nanos| meta::MicroTime {
        seconds: Some(seconds),
        nanos: Some(nanos),
    };
    let lease = coordination::v1::Lease {
        metadata: meta("l", &[]),
        spec: Some(coordination::v1::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(40),
            acquire_time: Some(when(1_704_164_645, 0)),
            renew_time: Some(when(1_704_164_645, 987_654_321)),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    check::<k8s_openapi::api::coordination::v1::Lease>(
        "coordination.k8s.io",
        "v1",
        "Lease",
        &lease,
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l"},
            "spec": {
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 40,
                "acquireTime": "2024-01-02T03:04:05.000000Z",
                "renewTime": "2024-01-02T03:04:05.987654Z",
                "leaseTransitions": 0,
            },
        }),
    );

    let mut metadata = meta("e", &[]).unwrap();
    metadata.namespace = s("default");
    metadata.creation_timestamp = Some(meta::Time {
        seconds: Some(1_704_164_645),
        nanos: Some(5),
    });
    metadata.managed_fields = vec![meta::ManagedFieldsEntry {
        manager: s("kubectl"),
        operation: s("Update"),
        api_version: s("events.k8s.io/v1"),
        time: Some(meta::Time {
            seconds: Some(1_704_164_645),
            nanos: None,
        }),
        fields_type: s("FieldsV1"),
        fields_v1: Some(meta::FieldsV1 {
            raw: Some(br#"{"f:note":{}}"#.to_vec()),
        }),
        subresource: s(""),
    }];
    let event = events::v1::Event {
        metadata: Some(metadata),
        event_time: Some(when(1_704_164_645, 1_500)),
        reporting_controller: s("kmicro"),
        reporting_instance: s("kmicro-1"),
        action: s("Test"),
        reason: s("Tested"),
        regarding: Some(core::v1::ObjectReference {
            kind: s("Pod"),
            name: s("p"),
            ..Default::default()
        }),
        note: s("hello"),
        r#type: s("Normal"),
        deprecated_first_timestamp: Some(meta::Time::default()),
        deprecated_count: Some(0),
        ..Default::default()
    };
    check::<k8s_openapi::api::events::v1::Event>(
        "events.k8s.io",
        "v1",
        "Event",
        &event,
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": "e",
                "namespace": "default",
                "creationTimestamp": "2024-01-02T03:04:05Z",
                "managedFields": [{
                    "manager": "kubectl",
                    "operation": "Update",
                    "apiVersion": "events.k8s.io/v1",
                    "time": "2024-01-02T03:04:05Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:note": {}},
                }],
            },
            "eventTime": "2024-01-02T03:04:05.000001Z",
            "reportingController": "kmicro",
            "reportingInstance": "kmicro-1",
            "action": "Test",
            "reason": "Tested",
            "regarding": {"kind": "Pod", "name": "p"},
            "note": "hello",
            "type": "Normal",
            "deprecatedSource": {},
        }),
    );

    let revision = apps::v1::ControllerRevision {
        metadata: meta("r", &[]),
        data: Some(RawExtension {
            raw: Some(br#"{"spec":{"template":{"$patch":"replace"}}}"#.to_vec()),
        }),
        revision: Some(3),
    };
    check::<k8s_openapi::api::apps::v1::ControllerRevision>(
        "apps",
        "v1",
        "ControllerRevision",
        &revision,
        json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "r"},
            "data": {"spec": {"template": {"$patch": "replace"}}},
            "revision": 3,
        }),
    );
}

#[test]
fn quota_priority_class_and_ingress() {
    let quota = core::v1::ResourceQuota {
        metadata: meta("q", &[]),
        spec: Some(core::v1::ResourceQuotaSpec {
            hard: [
                ("pods".to_string(), quantity("10")),
                ("requests.cpu".to_string(), quantity("1500m")),
            ]
            .into(),
            scopes: vec!["BestEffort".into()],
            scope_selector: None,
        }),
        status: Some(core::v1::ResourceQuotaStatus::default()),
    };
    check::<k8s_openapi::api::core::v1::ResourceQuota>(
        "",
        "v1",
        "ResourceQuota",
        &quota,
        json!({
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q"},
            "spec": {"hard": {"pods": "10", "requests.cpu": "1500m"}, "scopes": ["BestEffort"]},
            "status": {},
        }),
    );

    let priority_class = scheduling::v1::PriorityClass {
        metadata: meta("high", &[]),
        value: Some(1000),
        global_default: Some(false),
        description: s(""),
        preemption_policy: s("Never"),
    };
    check::<k8s_openapi::api::scheduling::v1::PriorityClass>(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        &priority_class,
        json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
            "preemptionPolicy": "Never",
        }),
    );

    let backend = |name: &str, number: i32| networking::v1::IngressBackend {
        service: Some(networking::v1::IngressServiceBackend {
            name: s(name),
            port: Some(networking::v1::ServiceBackendPort {
                name: s(""),
                number: Some(number),
            }),
        }),
        resource: None,
    };
    let ingress = networking::v1::Ingress {
        metadata: meta("ing", &[]),
        spec: Some(networking::v1::IngressSpec {
            ingress_class_name: None,
            default_backend: None,
            tls: vec![networking::v1::IngressTls {
                hosts: vec!["foo.com".into()],
                secret_name: s("tls"),
            }],
            rules: vec![networking::v1::IngressRule {
                host: s("foo.com"),
                ingress_rule_value: Some(networking::v1::IngressRuleValue {
                    http: Some(networking::v1::HttpIngressRuleValue {
                        paths: vec![networking::v1::HttpIngressPath {
                            path: s("/bar"),
                            path_type: s("Exact"),
                            backend: Some(backend("svc", 8080)),
                        }],
                    }),
                }),
            }],
        }),
        status: Some(networking::v1::IngressStatus::default()),
    };
    check::<k8s_openapi::api::networking::v1::Ingress>(
        "networking.k8s.io",
        "v1",
        "Ingress",
        &ingress,
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "ing"},
            "spec": {
                "tls": [{"hosts": ["foo.com"], "secretName": "tls"}],
                "rules": [{
                    "host": "foo.com",
                    "http": {"paths": [{
                        "path": "/bar",
                        "pathType": "Exact",
                        "backend": {"service": {"name": "svc", "port": {"number": 8080}}},
                    }]},
                }],
            },
            "status": {"loadBalancer": {}},
        }),
    );
}

#[test]
fn reviews_and_token_requests() {
    let review = authorization::v1::SelfSubjectAccessReview {
        metadata: meta("", &[]),
        spec: Some(authorization::v1::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authorization::v1::ResourceAttributes {
                namespace: s("default"),
                verb: s("create"),
                group: s(""),
                version: s(""),
                resource: s("pods"),
                subresource: s(""),
                name: s(""),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: Some(authorization::v1::SubjectAccessReviewStatus {
            allowed: Some(false),
            denied: None,
            reason: s(""),
            evaluation_error: s(""),
        }),
    };
    check::<k8s_openapi::api::authorization::v1::SelfSubjectAccessReview>(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        &review,
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
            "status": {"allowed": false},
        }),
    );

    let review = authorization::v1::SubjectAccessReview {
        metadata: meta("", &[]),
        spec: Some(authorization::v1::SubjectAccessReviewSpec {
            non_resource_attributes: Some(authorization::v1::NonResourceAttributes {
                path: s("/healthz"),
                verb: s("get"),
            }),
            user: s("alice"),
            groups: vec!["dev".into()],
            extra: [(
                "scopes".to_string(),
                authorization::v1::ExtraValue {
                    items: vec!["a".into(), "b".into()],
                },
            )]
            .into(),
            uid: s(""),
            resource_attributes: None,
        }),
        status: None,
    };
    check::<k8s_openapi::api::authorization::v1::SubjectAccessReview>(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        &review,
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {
                "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
                "user": "alice",
                "groups": ["dev"],
                "extra": {"scopes": ["a", "b"]},
            },
            "status": {"allowed": false},
        }),
    );

    let token = authentication::v1::TokenRequest {
        metadata: meta("default", &[]),
        spec: Some(authentication::v1::TokenRequestSpec {
            audiences: vec!["https://kubernetes.default.svc".into()],
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        }),
        status: Some(authentication::v1::TokenRequestStatus {
            token: s(""),
            expiration_timestamp: Some(meta::Time::default()),
        }),
    };
    // Go writes the zero `status.expirationTimestamp` as null, which k8s-openapi's
    // TokenRequest (a required Time) refuses as it refuses its absence: whoever serves
    // TokenRequest must drop the client's status before reading it as that type.
    assert_eq!(
        decode("authentication.k8s.io", "v1", "TokenRequest", &token),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": "default"},
            "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600},
            "status": {"token": ""},
        }),
    );
}
