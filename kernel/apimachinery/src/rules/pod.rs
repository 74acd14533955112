//! Pod specs: kube's defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`, …) and
//! validation (`ValidatePodSpec`, `ValidatePodUpdate`), shared by pods and every pod template.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, EphemeralContainer, HTTPGetAction, Lifecycle,
    PodDNSConfig, PodSpec, PodStatus, PodTemplateSpec, Probe, ResourceRequirements,
    SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field::{Bad, Errors, Path, diff, normalize, semantic_eq};
use super::meta;
use crate::names;
use crate::quantity::{self, QUANTITY_ERROR};

/// Reads an optional string as kube's plain string field.
pub(crate) fn s(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("")
}

/// Sets an optional string when it is absent or empty.
pub(crate) fn default_str(o: &mut Option<String>, value: &str) {
    if o.as_deref().is_none_or(str::is_empty) {
        *o = Some(value.to_string());
    }
}

/// Sets an optional number when it is absent or zero (kube defaults zero values).
fn default_zero<T: Copy + Default + PartialEq>(o: &mut Option<T>, value: T) {
    if o.is_none_or(|v| v == T::default()) {
        *o = Some(value);
    }
}

const FILE_MODE_DEFAULT: i32 = 0o644;
const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

/// Applies kube's defaults to a pod spec wherever it appears (pods and templates).
pub(crate) fn default_pod_spec(spec: &mut PodSpec) {
    default_str(&mut spec.dns_policy, "ClusterFirst");
    default_str(&mut spec.restart_policy, "Always");
    spec.security_context.get_or_insert_default();
    if spec.termination_grace_period_seconds.is_none() {
        spec.termination_grace_period_seconds = Some(30);
    }
    default_str(&mut spec.scheduler_name, "default-scheduler");
    // v1 keeps the deprecated `serviceAccount` in step with `serviceAccountName`.
    if s(&spec.service_account_name).is_empty() && !s(&spec.service_account).is_empty() {
        spec.service_account_name = spec.service_account.clone();
    }
    if !s(&spec.service_account_name).is_empty() {
        spec.service_account = spec.service_account_name.clone();
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c);
    }
    for c in &mut spec.containers {
        default_container(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        default_ephemeral_container(c);
    }
    quantity::canonicalize_list(spec.overhead.as_mut());
}

/// Defaults that kube applies to pods only, not to templates (`SetDefaults_Pod`).
pub(crate) fn default_pod_only(spec: &mut PodSpec) {
    for c in spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut())
    {
        let resources = c.resources.get_or_insert_default();
        if let Some(limits) = &resources.limits {
            let requests = resources.requests.get_or_insert_default();
            for (k, v) in limits {
                requests.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    if spec.enable_service_links.is_none() {
        spec.enable_service_links = Some(true);
    }
    if spec.host_network == Some(true) {
        for c in spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut())
        {
            for p in c.ports.iter_mut().flatten() {
                if p.host_port.unwrap_or(0) == 0 {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
}

/// Defaults a pod template's spec (creating an empty one if absent, as Go's value struct is).
pub(crate) fn default_template(template: &mut PodTemplateSpec) {
    default_pod_spec(template.spec.get_or_insert_default());
}

fn volume_sources(v: &Volume) -> [(&'static str, bool); 30] {
    [
        ("emptyDir", v.empty_dir.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("secret", v.secret.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("rbd", v.rbd.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephFS", v.cephfs.is_some()),
        ("quobyte", v.quobyte.is_some()),
        // kube spells this one wrong in its message; we print what it prints.
        ("downwarAPI", v.downward_api.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("configMap", v.config_map.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("storageos", v.storageos.is_some()),
        ("projected", v.projected.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
    ]
}

fn default_volume(v: &mut Volume) {
    if volume_sources(v).iter().all(|(_, set)| !set) {
        v.empty_dir = Some(Default::default());
    }
    if let Some(q) = v.empty_dir.as_mut().and_then(|e| e.size_limit.as_mut()) {
        quantity::canonicalize(q, false);
    }
    if let Some(hp) = &mut v.host_path
        && hp.type_.is_none()
    {
        hp.type_ = Some(String::new());
    }
    if let Some(sec) = &mut v.secret {
        sec.default_mode.get_or_insert(FILE_MODE_DEFAULT);
    }
    if let Some(cm) = &mut v.config_map {
        cm.default_mode.get_or_insert(FILE_MODE_DEFAULT);
    }
    if let Some(d) = &mut v.downward_api {
        d.default_mode.get_or_insert(FILE_MODE_DEFAULT);
        for item in d.items.iter_mut().flatten() {
            if let Some(f) = &mut item.field_ref {
                default_str(&mut f.api_version, "v1");
            }
        }
    }
    if let Some(p) = &mut v.projected {
        p.default_mode.get_or_insert(FILE_MODE_DEFAULT);
        for src in p.sources.iter_mut().flatten() {
            if let Some(d) = &mut src.downward_api {
                for item in d.items.iter_mut().flatten() {
                    if let Some(f) = &mut item.field_ref {
                        default_str(&mut f.api_version, "v1");
                    }
                }
            }
            if let Some(t) = &mut src.service_account_token {
                t.expiration_seconds.get_or_insert(3600);
            }
        }
    }
    if let Some(i) = &mut v.iscsi {
        default_str(&mut i.iscsi_interface, "default");
    }
    if let Some(r) = &mut v.rbd {
        default_str(&mut r.pool, "rbd");
        default_str(&mut r.user, "admin");
        default_str(&mut r.keyring, "/etc/ceph/keyring");
    }
    if let Some(e) = &mut v.ephemeral
        && let Some(t) = &mut e.volume_claim_template
    {
        default_str(&mut t.spec.volume_mode, "Filesystem");
        if let Some(r) = &mut t.spec.resources {
            quantity::canonicalize_list(r.limits.as_mut());
            quantity::canonicalize_list(r.requests.as_mut());
        }
    }
    if let Some(img) = &mut v.image
        && s(&img.pull_policy).is_empty()
    {
        let policy = if image_tag(s(&img.reference)) == Some("latest") {
            "Always"
        } else {
            "IfNotPresent"
        };
        img.pull_policy = Some(policy.to_string());
    }
}

/// The tag of an image reference as kube's `ParseImageName` sees it: `latest` when neither a
/// tag nor a digest is given, `None` when the reference does not parse.
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    if image.is_empty() || image.trim() != image {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let (algo, hex) = d.split_once(':')?;
        if algo.is_empty() || hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-');
        if !ok {
            return None;
        }
    }
    // Path components after an optional registry host are lowercase.
    let mut parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            parts.remove(0);
        }
    }
    let path_ok = parts.iter().all(|p| {
        !p.is_empty()
            && p.bytes().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'_' || c == b'-'
            })
            && p.as_bytes()[0].is_ascii_alphanumeric()
            && p.as_bytes()[p.len() - 1].is_ascii_alphanumeric()
    });
    if !path_ok {
        return None;
    }
    match (tag, digest) {
        (Some(t), _) => Some(t),
        (None, Some(_)) => Some(""),
        (None, None) => Some("latest"),
    }
}

fn default_pull_policy(policy: &mut Option<String>, image: &Option<String>) {
    if s(policy).is_empty() {
        let value = if image_tag(s(image)) == Some("latest") {
            "Always"
        } else {
            "IfNotPresent"
        };
        *policy = Some(value.to_string());
    }
}

fn canonicalize_requirements(r: &mut ResourceRequirements) {
    quantity::canonicalize_list(r.limits.as_mut());
    quantity::canonicalize_list(r.requests.as_mut());
}

fn default_container(c: &mut Container) {
    default_pull_policy(&mut c.image_pull_policy, &c.image);
    default_str(&mut c.termination_message_path, "/dev/termination-log");
    default_str(&mut c.termination_message_policy, "File");
    canonicalize_requirements(c.resources.get_or_insert_default());
    default_ports_env_probes(
        c.ports.as_deref_mut(),
        c.env.as_deref_mut(),
        [
            c.liveness_probe.as_mut(),
            c.readiness_probe.as_mut(),
            c.startup_probe.as_mut(),
        ],
        c.lifecycle.as_mut(),
    );
}

fn default_ephemeral_container(c: &mut EphemeralContainer) {
    default_pull_policy(&mut c.image_pull_policy, &c.image);
    default_str(&mut c.termination_message_path, "/dev/termination-log");
    default_str(&mut c.termination_message_policy, "File");
    canonicalize_requirements(c.resources.get_or_insert_default());
    default_ports_env_probes(
        c.ports.as_deref_mut(),
        c.env.as_deref_mut(),
        [
            c.liveness_probe.as_mut(),
            c.readiness_probe.as_mut(),
            c.startup_probe.as_mut(),
        ],
        c.lifecycle.as_mut(),
    );
}

fn default_ports_env_probes(
    ports: Option<&mut [ContainerPort]>,
    env: Option<&mut [EnvVar]>,
    probes: [Option<&mut Probe>; 3],
    lifecycle: Option<&mut Lifecycle>,
) {
    for p in ports.into_iter().flatten() {
        default_str(&mut p.protocol, "TCP");
    }
    for e in env.into_iter().flatten() {
        if let Some(from) = &mut e.value_from
            && let Some(f) = &mut from.field_ref
        {
            default_str(&mut f.api_version, "v1");
        }
    }
    for p in probes.into_iter().flatten() {
        default_zero(&mut p.timeout_seconds, 1);
        default_zero(&mut p.period_seconds, 10);
        default_zero(&mut p.success_threshold, 1);
        default_zero(&mut p.failure_threshold, 3);
        if let Some(h) = &mut p.http_get {
            default_http_get(h);
        }
    }
    if let Some(l) = lifecycle {
        for h in [l.post_start.as_mut(), l.pre_stop.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(g) = &mut h.http_get {
                default_http_get(g);
            }
        }
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    default_str(&mut h.path, "/");
    default_str(&mut h.scheme, "HTTP");
}

/// The status kube gives a new pod: `Pending`, with its QoS class.
pub(crate) fn initial_pod_status(spec: &PodSpec) -> PodStatus {
    PodStatus {
        phase: Some("Pending".to_string()),
        qos_class: Some(qos_class(spec).to_string()),
        ..Default::default()
    }
}

/// kube's QoS class of a pod: `Guaranteed`, `Burstable` or `BestEffort`.
pub(crate) fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, f64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, f64> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        let Some(r) = &c.resources else {
            guaranteed = false;
            continue;
        };
        for (name, q) in r.requests.iter().flatten() {
            if (name == "cpu" || name == "memory")
                && let Some(v) = quantity::parse(&q.0)
                && v > 0.0
            {
                *requests.entry(name.as_str()).or_default() += v;
            }
        }
        let mut found = BTreeSet::new();
        for (name, q) in r.limits.iter().flatten() {
            if (name == "cpu" || name == "memory")
                && let Some(v) = quantity::parse(&q.0)
                && v > 0.0
            {
                found.insert(name.as_str());
                *limits.entry(name.as_str()).or_default() += v;
            }
        }
        if found.len() != 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &requests {
            if limits.get(name) != Some(req) {
                guaranteed = false;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Validates a pod template (labels, annotations and spec) at `path`.
pub(crate) fn validate_template(template: &PodTemplateSpec, path: &Path, errs: &mut Errors) {
    if let Some(m) = &template.metadata {
        meta::validate_labels(m.labels.as_ref(), &path.child("labels"), errs);
        meta::validate_annotations(m.annotations.as_ref(), &path.child("annotations"), errs);
    }
    let empty = PodSpec::default();
    let spec = template.spec.as_ref().unwrap_or(&empty);
    validate_pod_spec(spec, &path.child("spec"), false, errs);
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        );
    }
}

/// The labels of a pod template.
pub(crate) fn template_labels(template: &PodTemplateSpec) -> Option<&BTreeMap<String, String>> {
    template.metadata.as_ref().and_then(|m| m.labels.as_ref())
}

/// The restart policy of a pod template, as defaulted.
pub(crate) fn template_restart_policy(template: &PodTemplateSpec) -> &str {
    template
        .spec
        .as_ref()
        .map_or("", |spec| s(&spec.restart_policy))
}

/// Validates a pod spec (kube's `ValidatePodSpec`). `is_pod` is true for pods themselves,
/// false for templates.
pub(crate) fn validate_pod_spec(spec: &PodSpec, path: &Path, is_pod: bool, errs: &mut Errors) {
    if spec.termination_grace_period_seconds.is_none() {
        errs.required(&path.child("terminationGracePeriodSeconds"), "");
    }
    let grace = spec.termination_grace_period_seconds;
    let volumes = validate_volumes(
        spec.volumes.as_deref().unwrap_or_default(),
        &path.child("volumes"),
        errs,
    );
    validate_containers(
        &spec.containers,
        &volumes,
        grace,
        &path.child("containers"),
        errs,
    );
    validate_init_containers(
        spec.init_containers.as_deref().unwrap_or_default(),
        &spec.containers,
        &volumes,
        grace,
        &path.child("initContainers"),
        errs,
    );
    validate_host_network(spec, path, is_pod, errs);
    match s(&spec.restart_policy) {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.required(&path.child("restartPolicy"), ""),
        other => errs.not_supported(
            &path.child("restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        ),
    }
    match s(&spec.dns_policy) {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.required(&path.child("dnsPolicy"), ""),
        other => errs.not_supported(
            &path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ),
    }
    meta::validate_labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
        errs,
    );
    if let Some(sc) = &spec.security_context {
        let p = path.child("securityContext");
        for (name, v) in [
            ("runAsUser", sc.run_as_user),
            ("runAsGroup", sc.run_as_group),
            ("fsGroup", sc.fs_group),
        ] {
            validate_id(v, &p.child(name), errs);
        }
        for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
            validate_id(Some(*g), &p.child("supplementalGroups").index(i), errs);
        }
    }
    validate_dns_config(
        spec.dns_config.as_ref(),
        s(&spec.dns_policy),
        &path.child("dnsConfig"),
        errs,
    );
    for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
        let p = path.child("readinessGates").index(i).child("conditionType");
        errs.invalid_all(
            &p,
            &g.condition_type,
            names::is_qualified_name(&g.condition_type),
        );
    }
    let mut seen_gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        errs.invalid_all(&p, &g.name, names::is_qualified_name(&g.name));
        if !seen_gates.insert(g.name.as_str()) {
            errs.duplicate(&p, &g.name);
        }
    }
    for (field, value) in [
        ("serviceAccountName", &spec.service_account_name),
        ("nodeName", &spec.node_name),
        ("priorityClassName", &spec.priority_class_name),
    ] {
        let v = s(value);
        if !v.is_empty() {
            errs.invalid_all(&path.child(field), v, names::is_dns1123_subdomain(v));
        }
    }
    if let Some(rc) = &spec.runtime_class_name {
        errs.invalid_all(
            &path.child("runtimeClassName"),
            rc,
            names::is_dns1123_subdomain(rc),
        );
    }
    if let Some(v) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&v)
    {
        errs.invalid(
            &path.child("activeDeadlineSeconds"),
            v,
            &names::inclusive_range_error(1, i64::from(i32::MAX)),
        );
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        let v = s(value);
        if !v.is_empty() {
            errs.invalid_all(&path.child(field), v, names::is_dns1123_label(v));
        }
    }
    validate_topology_spread(
        spec.topology_spread_constraints
            .as_deref()
            .unwrap_or_default(),
        &path.child("topologySpreadConstraints"),
        errs,
    );
    validate_tolerations(
        spec.tolerations.as_deref().unwrap_or_default(),
        &path.child("tolerations"),
        errs,
    );
    for (i, alias) in spec.host_aliases.iter().flatten().enumerate() {
        let p = path.child("hostAliases").index(i);
        if let Some(m) = names::is_valid_ip(&alias.ip) {
            errs.invalid(&p.child("ip"), &alias.ip, &m);
        }
        for (j, h) in alias.hostnames.iter().flatten().enumerate() {
            errs.invalid_all(
                &p.child("hostnames").index(j),
                h,
                names::is_dns1123_subdomain(h),
            );
        }
    }
    for (i, secret) in spec.image_pull_secrets.iter().flatten().enumerate() {
        if secret.name.is_empty() {
            errs.invalid(
                &path.child("imagePullSecrets").index(i),
                Bad::json(secret),
                "only name may be set",
            );
        }
    }
    if let Some(p) = &spec.preemption_policy {
        match p.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.required(&path.child("preemptionPolicy"), ""),
            other => errs.not_supported(
                &path.child("preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            ),
        }
    }
    if let Some(os) = &spec.os
        && !matches!(os.name.as_str(), "linux" | "windows")
    {
        errs.not_supported(
            &path.child("os").child("name"),
            &os.name,
            &["linux", "windows"],
        );
    }
}

fn validate_id(v: Option<i64>, path: &Path, errs: &mut Errors) {
    if let Some(v) = v
        && !(0..=i64::from(u32::MAX)).contains(&v)
    {
        errs.invalid(
            path,
            v,
            &names::inclusive_range_error(0, i64::from(u32::MAX)),
        );
    }
}

fn validate_file_mode(mode: Option<i32>, path: &Path, errs: &mut Errors) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        errs.invalid(path, m, FILE_MODE_ERROR);
    }
}

/// Validates volumes; returns the names of the valid ones, for mounts to refer to.
fn validate_volumes(volumes: &[Volume], path: &Path, errs: &mut Errors) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        let before = errs.len();
        let mut count = 0;
        for (name, set) in volume_sources(v) {
            if !set {
                continue;
            }
            if count > 0 {
                errs.forbidden(&p.child(name), "may not specify more than 1 volume type");
            }
            count += 1;
        }
        if count == 0 {
            errs.required(&p, "must specify a volume type");
        }
        if let Some(hp) = &v.host_path
            && hp.path.is_empty()
        {
            errs.required(&p.child("hostPath").child("path"), "");
        }
        if let Some(sec) = &v.secret {
            if s(&sec.secret_name).is_empty() {
                errs.required(&p.child("secret").child("secretName"), "");
            }
            validate_file_mode(
                sec.default_mode,
                &p.child("secret").child("defaultMode"),
                errs,
            );
        }
        if let Some(cm) = &v.config_map {
            if cm.name.is_empty() {
                errs.required(&p.child("configMap").child("name"), "");
            }
            validate_file_mode(
                cm.default_mode,
                &p.child("configMap").child("defaultMode"),
                errs,
            );
        }
        if let Some(pvc) = &v.persistent_volume_claim
            && pvc.claim_name.is_empty()
        {
            errs.required(&p.child("persistentVolumeClaim").child("claimName"), "");
        }
        if let Some(nfs) = &v.nfs {
            let np = p.child("nfs");
            if nfs.server.is_empty() {
                errs.required(&np.child("server"), "");
            }
            if nfs.path.is_empty() {
                errs.required(&np.child("path"), "");
            }
            if !nfs.path.starts_with('/') {
                errs.invalid(&np.child("path"), &nfs.path, "must be an absolute path");
            }
        }
        let name_path = p.child("name");
        if v.name.is_empty() {
            errs.required(&name_path, "");
        } else {
            errs.invalid_all(&name_path, &v.name, names::is_dns1123_label(&v.name));
        }
        if all.contains(&v.name) {
            errs.duplicate(&name_path, &v.name);
        }
        if errs.len() == before {
            all.insert(v.name.clone());
        }
    }
    all
}

fn validate_containers(
    containers: &[Container],
    volumes: &BTreeSet<String>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errors,
) {
    if containers.is_empty() {
        errs.required(path, "");
        return;
    }
    let mut all = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(c, volumes, &p, errs);
        if !all.insert(c.name.as_str()) {
            errs.duplicate(&p.child("name"), &c.name);
        }
        if let Some(l) = &c.lifecycle {
            validate_lifecycle(l, grace, &p.child("lifecycle"), errs);
        }
        validate_probes(c, grace, &p, errs);
        if c.restart_policy.is_some() {
            errs.forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            );
        }
    }
    check_host_port_conflicts(containers, 0, path, errs);
}

fn validate_init_containers(
    inits: &[Container],
    regular: &[Container],
    volumes: &BTreeSet<String>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Errors,
) {
    let mut all: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in inits.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(c, volumes, &p, errs);
        let mut restartable = false;
        if let Some(rp) = &c.restart_policy {
            if rp == "Always" {
                restartable = true;
            } else {
                errs.not_supported(&p.child("restartPolicy"), rp, &["Always"]);
            }
        }
        if all.contains(c.name.as_str()) {
            errs.duplicate(&p.child("name"), &c.name);
        } else if !c.name.is_empty() {
            all.insert(c.name.as_str());
        }
        check_host_port_conflicts(std::slice::from_ref(c), i, path, errs);
        if restartable {
            if let Some(l) = &c.lifecycle {
                validate_lifecycle(l, grace, &p.child("lifecycle"), errs);
            }
            validate_probes(c, grace, &p, errs);
        } else {
            const MSG: &str = "may not be set for init containers without restartPolicy=Always";
            if c.lifecycle.is_some() {
                errs.forbidden(&p.child("lifecycle"), MSG);
            }
            for (name, set) in [
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ] {
                if set {
                    errs.forbidden(&p.child(name), MSG);
                }
            }
        }
    }
}

/// Reports host ports used twice among `containers`, the first of which is at `first` in the
/// list at `path`.
fn check_host_port_conflicts(
    containers: &[Container],
    first: usize,
    path: &Path,
    errs: &mut Errors,
) {
    let mut seen = BTreeSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, port) in c.ports.iter().flatten().enumerate() {
            let hp = port.host_port.unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!("{}/{}/{hp}", s(&port.protocol), s(&port.host_ip));
            if !seen.insert(key.clone()) {
                errs.duplicate(
                    &path
                        .index(first + ci)
                        .child("ports")
                        .index(pi)
                        .child("hostPort"),
                    key,
                );
            }
        }
    }
}

fn validate_container_common(
    c: &Container,
    volumes: &BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.required(&name_path, "");
    } else {
        errs.invalid_all(&name_path, &c.name, names::is_dns1123_label(&c.name));
    }
    if s(&c.image).is_empty() {
        errs.required(&path.child("image"), "");
    }
    match s(&c.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.required(&path.child("terminationMessagePolicy"), ""),
        other => errs.not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        ),
    }
    validate_container_ports(
        c.ports.as_deref().unwrap_or_default(),
        &path.child("ports"),
        errs,
    );
    validate_env(
        c.env.as_deref().unwrap_or_default(),
        &path.child("env"),
        errs,
    );
    validate_env_from(
        c.env_from.as_deref().unwrap_or_default(),
        &path.child("envFrom"),
        errs,
    );
    validate_volume_mounts(
        c.volume_mounts.as_deref().unwrap_or_default(),
        volumes,
        &path.child("volumeMounts"),
        errs,
    );
    match s(&c.image_pull_policy) {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.required(&path.child("imagePullPolicy"), ""),
        other => errs.not_supported(
            &path.child("imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        ),
    }
    if let Some(r) = &c.resources {
        validate_resource_requirements(r, &path.child("resources"), errs);
    }
    if let Some(sc) = &c.security_context {
        validate_security_context(sc, &path.child("securityContext"), errs);
    }
}

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// Checks a protocol field: required, one of TCP, UDP or SCTP.
pub(crate) fn validate_protocol(protocol: &Option<String>, path: &Path, errs: &mut Errors) {
    match s(protocol) {
        "" => errs.required(path, ""),
        p if PROTOCOLS.contains(&p) => {}
        p => errs.not_supported(path, p, PROTOCOLS),
    }
}

fn validate_container_ports(ports: &[ContainerPort], path: &Path, errs: &mut Errors) {
    let mut all = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = s(&port.name);
        if !name.is_empty() {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.invalid_all(&p.child("name"), name, msgs);
            } else if !all.insert(name) {
                errs.duplicate(&p.child("name"), name);
            }
        }
        if port.container_port == 0 {
            errs.required(&p.child("containerPort"), "");
        } else {
            for m in names::is_valid_port_num(i64::from(port.container_port)) {
                errs.invalid(&p.child("containerPort"), port.container_port, &m);
            }
        }
        if let Some(hp) = port.host_port
            && hp != 0
        {
            for m in names::is_valid_port_num(i64::from(hp)) {
                errs.invalid(&p.child("hostPort"), hp, &m);
            }
        }
        validate_protocol(&port.protocol, &p.child("protocol"), errs);
    }
}

fn validate_env(vars: &[EnvVar], path: &Path, errs: &mut Errors) {
    for (i, e) in vars.iter().enumerate() {
        let p = path.index(i);
        if e.name.is_empty() {
            errs.required(&p.child("name"), "");
        } else {
            errs.invalid_all(&p.child("name"), &e.name, names::is_env_var_name(&e.name));
        }
        let Some(from) = &e.value_from else {
            continue;
        };
        let fp = p.child("valueFrom");
        let sources = [
            from.field_ref.is_some(),
            from.resource_field_ref.is_some(),
            from.config_map_key_ref.is_some(),
            from.secret_key_ref.is_some(),
            from.file_key_ref.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if let Some(f) = &from.field_ref {
            if s(&f.api_version).is_empty() {
                errs.required(&fp.child("fieldRef").child("apiVersion"), "");
            } else if f.field_path.is_empty() {
                errs.required(&fp.child("fieldRef").child("fieldPath"), "");
            }
        }
        if let Some(r) = &from.resource_field_ref
            && r.resource.is_empty()
        {
            errs.required(&fp.child("resourceFieldRef").child("resource"), "");
        }
        for (field, name, key) in [
            (
                "configMapKeyRef",
                from.config_map_key_ref.as_ref().map(|r| (&r.name, &r.key)),
            ),
            (
                "secretKeyRef",
                from.secret_key_ref.as_ref().map(|r| (&r.name, &r.key)),
            ),
        ]
        .into_iter()
        .filter_map(|(f, r)| r.map(|(n, k)| (f, n, k)))
        {
            let rp = fp.child(field);
            errs.invalid_all(&rp.child("name"), name, names::is_dns1123_subdomain(name));
            if key.is_empty() {
                errs.required(&rp.child("key"), "");
            } else {
                errs.invalid_all(&rp.child("key"), key, names::is_config_map_key(key));
            }
        }
        if sources == 0 {
            errs.invalid(
                &fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            );
        } else if !s(&e.value).is_empty() {
            errs.invalid(&fp, "", "may not be specified when `value` is not empty");
        } else if sources > 1 {
            errs.invalid(
                &fp,
                "",
                "may not have more than one field specified at a time",
            );
        }
    }
}

fn validate_env_from(sources: &[EnvFromSource], path: &Path, errs: &mut Errors) {
    for (i, e) in sources.iter().enumerate() {
        let p = path.index(i);
        let prefix = s(&e.prefix);
        if !prefix.is_empty() {
            errs.invalid_all(&p.child("prefix"), prefix, names::is_env_var_name(prefix));
        }
        let mut count = 0;
        for (field, name) in [
            ("configMapRef", e.config_map_ref.as_ref().map(|r| &r.name)),
            ("secretRef", e.secret_ref.as_ref().map(|r| &r.name)),
        ] {
            let Some(name) = name else { continue };
            count += 1;
            let np = p.child(field).child("name");
            if name.is_empty() {
                errs.required(&np, "");
            } else {
                errs.invalid_all(&np, name, names::is_dns1123_subdomain(name));
            }
        }
        if count == 0 {
            errs.invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            );
        } else if count > 1 {
            errs.invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            );
        }
    }
}

fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let mut points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.required(&p.child("name"), "");
        }
        if !volumes.contains(&m.name) {
            errs.not_found(&p.child("name"), &m.name);
        }
        if m.mount_path.is_empty() {
            errs.required(&p.child("mountPath"), "");
        }
        if !points.insert(m.mount_path.as_str()) {
            errs.invalid(&p.child("mountPath"), &m.mount_path, "must be unique");
        }
        let sub = s(&m.sub_path);
        let sub_expr = s(&m.sub_path_expr);
        if !sub.is_empty() {
            validate_local_descending_path(sub, &path.child("subPath"), errs);
        }
        if !sub_expr.is_empty() {
            if !sub.is_empty() {
                errs.invalid(
                    &p.child("subPathExpr"),
                    sub_expr,
                    "subPathExpr and subPath are mutually exclusive",
                );
            }
            validate_local_descending_path(sub_expr, &path.child("subPathExpr"), errs);
        }
        if let Some(mp) = &m.mount_propagation
            && !matches!(mp.as_str(), "None" | "HostToContainer" | "Bidirectional")
        {
            errs.not_supported(
                &path.child("mountPropagation"),
                mp,
                &["Bidirectional", "HostToContainer", "None"],
            );
        }
    }
}

fn validate_local_descending_path(target: &str, path: &Path, errs: &mut Errors) {
    if target.starts_with('/') {
        errs.invalid(path, target, "must be a relative path");
    }
    if target.split(['/', '\\']).any(|part| part == "..") {
        errs.invalid(path, target, "must not contain '..'");
    }
}

const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "ephemeral-storage",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// Checks a resource name (kube's `validateResourceName`); `container` adds the container rule.
pub(crate) fn validate_resource_name(name: &str, container: bool, path: &Path, errs: &mut Errors) {
    let msgs = names::is_qualified_name(name);
    if !msgs.is_empty() {
        errs.invalid_all(path, name, msgs);
    } else if !name.contains('/')
        && !STANDARD_RESOURCES.contains(&name)
        && !is_hugepages(name)
        && !name.starts_with("requests.hugepages-")
    {
        errs.invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        );
    }
    if container
        && !name.contains('/')
        && !STANDARD_CONTAINER_RESOURCES.contains(&name)
        && !is_hugepages(name)
    {
        errs.invalid(path, name, "must be a standard resource for containers");
    }
}

/// Whether requests of this resource may exceed nothing but limits (native, not huge pages).
fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    native && !is_hugepages(name)
}

/// Whether kube counts this resource in whole units (`pods`, `count/…`, extended resources).
pub(crate) fn is_integer_resource(name: &str) -> bool {
    const INTEGER: &[&str] = &[
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    ];
    INTEGER.contains(&name)
        || name.starts_with("count/")
        || (name.contains('/')
            && !name.contains("kubernetes.io/")
            && !name.starts_with("requests."))
}

/// Checks a resource's quantity: well formed, not negative, whole for integer resources.
pub(crate) fn validate_resource_quantity(
    name: &str,
    q: &Quantity,
    path: &Path,
    errs: &mut Errors,
) -> Option<f64> {
    let v = validate_quantity(q, path, errs)?;
    if is_integer_resource(name) && !quantity::is_integer(v) {
        errs.invalid(path, &q.0, "must be an integer");
    }
    Some(v)
}

/// Checks a quantity: well formed and not negative. Returns its value when well formed.
pub(crate) fn validate_quantity(q: &Quantity, path: &Path, errs: &mut Errors) -> Option<f64> {
    match quantity::parse(&q.0) {
        None => {
            errs.invalid(path, &q.0, QUANTITY_ERROR);
            None
        }
        Some(v) => {
            if v < 0.0 {
                errs.invalid(path, &q.0, "must be greater than or equal to 0");
            }
            Some(v)
        }
    }
}

fn validate_resource_requirements(r: &ResourceRequirements, path: &Path, errs: &mut Errors) {
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits = r.limits.as_ref().unwrap_or(&empty);
    for (name, q) in limits {
        let p = lim_path.key(name);
        validate_resource_name(name, true, &p, errs);
        validate_resource_quantity(name, q, &p, errs);
    }
    for (name, q) in r.requests.iter().flatten() {
        let p = req_path.key(name);
        validate_resource_name(name, true, &p, errs);
        let Some(value) = validate_resource_quantity(name, q, &p, errs) else {
            continue;
        };
        match limits.get(name) {
            Some(limit) => {
                let Some(lv) = quantity::parse(&limit.0) else {
                    continue;
                };
                if value != lv && !overcommit_allowed(name) {
                    errs.invalid(
                        &req_path,
                        &q.0,
                        &format!("must be equal to {name} limit of {}", limit.0),
                    );
                } else if value > lv {
                    errs.invalid(
                        &req_path,
                        &q.0,
                        &format!("must be less than or equal to {name} limit of {}", limit.0),
                    );
                }
            }
            None if !overcommit_allowed(name) => {
                errs.required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                );
            }
            None => {}
        }
    }
}

fn validate_security_context(sc: &SecurityContext, path: &Path, errs: &mut Errors) {
    validate_id(sc.run_as_user, &path.child("runAsUser"), errs);
    validate_id(sc.run_as_group, &path.child("runAsGroup"), errs);
    if let Some(pm) = &sc.proc_mount
        && !matches!(pm.as_str(), "Default" | "Unmasked")
    {
        errs.not_supported(&path.child("procMount"), pm, &["Default", "Unmasked"]);
    }
    if sc.allow_privilege_escalation == Some(false) && sc.privileged == Some(true) {
        errs.invalid(
            path,
            Bad::json(sc),
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        );
    }
}

struct Handler<'a> {
    exec: Option<&'a k8s_openapi::api::core::v1::ExecAction>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_socket: Option<&'a k8s_openapi::api::core::v1::TCPSocketAction>,
    grpc: Option<&'a k8s_openapi::api::core::v1::GRPCAction>,
    sleep: Option<&'a k8s_openapi::api::core::v1::SleepAction>,
}

fn validate_handler(h: &Handler<'_>, grace: Option<i64>, path: &Path, errs: &mut Errors) {
    let mut n = 0;
    let mut one = |name: &str, set: bool, errs: &mut Errors| -> bool {
        if !set {
            return false;
        }
        if n > 0 {
            errs.forbidden(
                &path.child(name),
                "may not specify more than 1 handler type",
            );
            return false;
        }
        n += 1;
        true
    };
    if one("exec", h.exec.is_some(), errs)
        && let Some(e) = h.exec
        && e.command.as_ref().is_none_or(Vec::is_empty)
    {
        errs.required(&path.child("exec").child("command"), "");
    }
    if one("httpGet", h.http_get.is_some(), errs)
        && let Some(g) = h.http_get
    {
        let gp = path.child("httpGet");
        if s(&g.path).is_empty() {
            errs.required(&gp.child("path"), "");
        }
        validate_port_num_or_name(&g.port, &gp.child("port"), errs);
        match s(&g.scheme) {
            "HTTP" | "HTTPS" => {}
            other => errs.not_supported(&gp.child("scheme"), other, &["HTTP", "HTTPS"]),
        }
        for header in g.http_headers.iter().flatten() {
            for m in names::is_http_header_name(&header.name) {
                errs.invalid(&gp.child("httpHeaders"), &header.name, &m);
            }
        }
    }
    if one("tcpSocket", h.tcp_socket.is_some(), errs)
        && let Some(t) = h.tcp_socket
    {
        validate_port_num_or_name(&t.port, &path.child("tcpSocket").child("port"), errs);
    }
    if one("grpc", h.grpc.is_some(), errs)
        && let Some(g) = h.grpc
    {
        validate_port_num_or_name(
            &IntOrString::Int(g.port),
            &path.child("grpc").child("port"),
            errs,
        );
    }
    if one("sleep", h.sleep.is_some(), errs)
        && let Some(sl) = h.sleep
        && let Some(g) = grace
        && (sl.seconds < 0 || sl.seconds > g)
    {
        errs.invalid(
            &path.child("sleep"),
            sl.seconds,
            &format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
        );
    }
    if n == 0 {
        errs.required(path, "must specify a handler type");
    }
}

/// Checks a port given by number or by name.
pub(crate) fn validate_port_num_or_name(port: &IntOrString, path: &Path, errs: &mut Errors) {
    match port {
        IntOrString::Int(n) => {
            for m in names::is_valid_port_num(i64::from(*n)) {
                errs.invalid(path, *n, &m);
            }
        }
        IntOrString::String(name) => {
            for m in names::is_valid_port_name(name) {
                errs.invalid(path, name, &m);
            }
        }
    }
}

fn validate_lifecycle(l: &Lifecycle, grace: Option<i64>, path: &Path, errs: &mut Errors) {
    for (name, h) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
        if let Some(h) = h {
            validate_handler(
                &Handler {
                    exec: h.exec.as_ref(),
                    http_get: h.http_get.as_ref(),
                    tcp_socket: h.tcp_socket.as_ref(),
                    grpc: None,
                    sleep: h.sleep.as_ref(),
                },
                grace,
                &path.child(name),
                errs,
            );
        }
    }
}

fn validate_probes(c: &Container, grace: Option<i64>, path: &Path, errs: &mut Errors) {
    for (name, probe) in [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ] {
        let Some(probe) = probe else { continue };
        let p = path.child(name);
        validate_handler(
            &Handler {
                exec: probe.exec.as_ref(),
                http_get: probe.http_get.as_ref(),
                tcp_socket: probe.tcp_socket.as_ref(),
                grpc: probe.grpc.as_ref(),
                sleep: None,
            },
            grace,
            &p,
            errs,
        );
        for (field, v) in [
            ("initialDelaySeconds", probe.initial_delay_seconds),
            ("timeoutSeconds", probe.timeout_seconds),
            ("periodSeconds", probe.period_seconds),
            ("successThreshold", probe.success_threshold),
            ("failureThreshold", probe.failure_threshold),
        ] {
            errs.non_negative(&p.child(field), v.map(i64::from));
        }
        if let Some(t) = probe.termination_grace_period_seconds
            && t <= 0
        {
            errs.invalid(
                &p.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            );
        }
        let success = probe.success_threshold.unwrap_or(0);
        if name != "readinessProbe" && success != 1 {
            errs.invalid(&p.child("successThreshold"), success, "must be 1");
        }
        if name == "readinessProbe"
            && let Some(t) = probe.termination_grace_period_seconds
        {
            errs.invalid(
                &p.child("terminationGracePeriodSeconds"),
                t,
                "must not be set for readinessProbes",
            );
        }
    }
}

fn validate_host_network(spec: &PodSpec, path: &Path, is_pod: bool, errs: &mut Errors) {
    if spec.host_network != Some(true) {
        return;
    }
    let cp = path.child("containers");
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, port) in c.ports.iter().flatten().enumerate() {
            let hp = port.host_port.unwrap_or(0);
            if (is_pod || hp != 0) && hp != port.container_port {
                errs.invalid(
                    &cp.index(i).child("ports").index(j).child("hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                );
            }
        }
    }
}

fn validate_dns_config(
    config: Option<&PodDNSConfig>,
    policy: &str,
    path: &Path,
    errs: &mut Errors,
) {
    if policy == "None" {
        match config {
            None => {
                errs.required(path, "must provide `dnsConfig` when `dnsPolicy` is None");
                return;
            }
            Some(c) if c.nameservers.as_ref().is_none_or(Vec::is_empty) => {
                errs.required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                );
                return;
            }
            _ => {}
        }
    }
    let Some(c) = config else { return };
    let nameservers = c.nameservers.as_deref().unwrap_or_default();
    if nameservers.len() > 3 {
        errs.invalid(
            &path.child("nameservers"),
            Bad::json(nameservers),
            "must not have more than 3 nameservers",
        );
    }
    for (i, ns) in nameservers.iter().enumerate() {
        if let Some(m) = names::is_valid_ip(ns) {
            errs.invalid(&path.child("nameservers").index(i), ns, &m);
        }
    }
    let searches = c.searches.as_deref().unwrap_or_default();
    if searches.len() > 32 {
        errs.invalid(
            &path.child("searches"),
            Bad::json(searches),
            "must not have more than 32 search paths",
        );
    }
    if searches.join(" ").len() > 2048 {
        errs.invalid(
            &path.child("searches"),
            Bad::json(searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        );
    }
    for (i, search) in searches.iter().enumerate() {
        if search == "." {
            continue;
        }
        let trimmed = search.strip_suffix('.').unwrap_or(search);
        let msgs: Vec<String> = names::is_dns1123_subdomain(&trimmed.replace('_', "a"));
        errs.invalid_all(&path.child("searches").index(i), trimmed, msgs);
    }
    for (i, o) in c.options.iter().flatten().enumerate() {
        if s(&o.name).is_empty() {
            errs.required(&path.child("options").index(i), "must not be empty");
        }
    }
}

fn validate_topology_spread(
    constraints: &[k8s_openapi::api::core::v1::TopologySpreadConstraint],
    path: &Path,
    errs: &mut Errors,
) {
    let mut seen = BTreeSet::new();
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.invalid(&p.child("maxSkew"), c.max_skew, "must be greater than zero");
        }
        if c.topology_key.is_empty() {
            errs.required(&p.child("topologyKey"), "can not be empty");
        } else {
            errs.invalid_all(
                &p.child("topologyKey"),
                &c.topology_key,
                names::is_qualified_name(&c.topology_key),
            );
        }
        let when = c.when_unsatisfiable.as_str();
        if !matches!(when, "DoNotSchedule" | "ScheduleAnyway") {
            errs.not_supported(
                &p.child("whenUnsatisfiable"),
                when,
                &["DoNotSchedule", "ScheduleAnyway"],
            );
        }
        if let Some(min) = c.min_domains {
            if min <= 0 {
                errs.invalid(&p.child("minDomains"), min, "must be greater than 0");
            } else if when != "DoNotSchedule" {
                errs.invalid(
                    &p.child("minDomains"),
                    min,
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"
                    ),
                );
            }
        }
        for (field, policy) in [
            ("nodeAffinityPolicy", &c.node_affinity_policy),
            ("nodeTaintsPolicy", &c.node_taints_policy),
        ] {
            if let Some(v) = policy
                && !matches!(v.as_str(), "Honor" | "Ignore")
            {
                errs.not_supported(&p.child(field), v, &["Honor", "Ignore"]);
            }
        }
        if let Some(sel) = &c.label_selector {
            meta::validate_label_selector(sel, &p.child("labelSelector"), errs);
        }
        if !seen.insert((c.topology_key.as_str(), when)) {
            errs.duplicate(&p, format!("{{{}, {when}}}", c.topology_key));
        }
    }
}

fn validate_tolerations(tolerations: &[Toleration], path: &Path, errs: &mut Errors) {
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = s(&t.key);
        let operator = s(&t.operator);
        let effect = s(&t.effect);
        if !key.is_empty() {
            errs.invalid_all(&p.child("key"), key, names::is_qualified_name(key));
        }
        if key.is_empty() && operator != "Exists" {
            errs.invalid(
                &p.child("operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            );
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            );
        }
        let value = s(&t.value);
        match operator {
            "Equal" | "" => {
                let msgs = names::is_label_value(value);
                if !msgs.is_empty() {
                    errs.invalid(&p.child("operator"), value, &msgs.join(";"));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.invalid(
                        &p.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    );
                }
            }
            other => errs.not_supported(&p.child("operator"), other, &["Equal", "Exists"]),
        }
        if !effect.is_empty() {
            validate_taint_effect(effect, &p.child("effect"), errs);
        }
    }
}

/// Checks a taint effect: `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
pub(crate) fn validate_taint_effect(effect: &str, path: &Path, errs: &mut Errors) {
    match effect {
        "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
        "" => errs.required(path, ""),
        other => errs.not_supported(
            path,
            other,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        ),
    }
}

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// kube's `ValidatePodUpdate` for the spec: only images, `activeDeadlineSeconds` (lowered),
/// tolerations (added), scheduling gates (removed) and a negative grace period may change.
pub(crate) fn validate_pod_spec_update(new: &PodSpec, old: &PodSpec, errs: &mut Errors) {
    let spec = Path::new("spec");
    for (field, n, o) in [
        (
            "containers",
            new.containers.as_slice(),
            old.containers.as_slice(),
        ),
        (
            "initContainers",
            new.init_containers.as_deref().unwrap_or_default(),
            old.init_containers.as_deref().unwrap_or_default(),
        ),
    ] {
        if n.len() != o.len() {
            errs.forbidden(
                &spec.child(field),
                "pod updates may not add or remove containers",
            );
            return;
        }
        for (i, c) in n.iter().enumerate() {
            let image = s(&c.image);
            let ip = spec.child(field).index(i).child("image");
            if image.is_empty() {
                errs.required(&ip, "");
            }
            if image.trim() != image {
                errs.invalid(&ip, image, "must not have leading or trailing whitespace");
            }
        }
    }
    let ads = spec.child("activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), o) => {
            if !(0..=i64::from(i32::MAX)).contains(&n) {
                errs.invalid(
                    &ads,
                    n,
                    &names::inclusive_range_error(0, i64::from(i32::MAX)),
                );
                return;
            }
            if let Some(o) = o
                && o < n
            {
                errs.invalid(&ads, n, "must be less than or equal to previous value");
                return;
            }
        }
        (None, Some(_)) => {
            errs.invalid(
                &ads,
                Bad::from(None),
                "must not update from a positive integer to nil value",
            );
        }
        (None, None) => {}
    }
    // Tolerations: every old one must remain, except for its tolerationSeconds.
    let new_tols = new.tolerations.as_deref().unwrap_or_default();
    for old_tol in old.tolerations.iter().flatten() {
        let found = new_tols.iter().any(|t| {
            let mut o = old_tol.clone();
            o.toleration_seconds = t.toleration_seconds;
            semantic_eq(&o, t)
        });
        if !found {
            errs.forbidden(
                &spec.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            );
            break;
        }
    }
    // Scheduling gates: only removals.
    let old_gates: BTreeSet<&str> = old
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    for (i, g) in new.scheduling_gates.iter().flatten().enumerate() {
        if !old_gates.contains(g.name.as_str()) {
            errs.forbidden(
                &spec.child("schedulingGates").index(i).child("name"),
                &format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    g.name
                ),
            );
        }
    }
    if semantic_eq(new, old) {
        return;
    }
    let mut munged = new.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old.containers) {
        c.image.clone_from(&o.image);
    }
    if let (Some(n), Some(o)) = (&mut munged.init_containers, &old.init_containers) {
        for (c, o) in n.iter_mut().zip(o) {
            c.image.clone_from(&o.image);
        }
    }
    munged.active_deadline_seconds = old.active_deadline_seconds;
    munged.scheduling_gates.clone_from(&old.scheduling_gates);
    munged.tolerations.clone_from(&old.tolerations);
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    if !semantic_eq(&munged, old) {
        let old_v = serde_json::to_value(old).map(normalize).unwrap_or_default();
        let new_v = serde_json::to_value(&munged)
            .map(normalize)
            .unwrap_or_default();
        let changes = diff(&old_v, &new_v, 10);
        errs.forbidden(
            &spec,
            &format!(
                "pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}",
                changes
                    .iter()
                    .map(|c| format!("  spec.{c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_decide_pull_policy() {
        assert_eq!(image_tag("nginx"), Some("latest"));
        assert_eq!(image_tag("nginx:latest"), Some("latest"));
        assert_eq!(image_tag("nginx:1.25"), Some("1.25"));
        assert_eq!(image_tag("localhost:5000/app"), Some("latest"));
        assert_eq!(
            image_tag("registry.example.com:5000/team/app:v2"),
            Some("v2")
        );
        assert_eq!(
            image_tag(
                "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            Some("")
        );
        assert_eq!(image_tag("Nginx"), None);
        assert_eq!(image_tag(""), None);
    }

    fn container(name: &str, cpu_req: Option<&str>, cpu_lim: Option<&str>) -> Container {
        let q = |v: &str| Quantity(v.to_string());
        Container {
            name: name.into(),
            image: Some("busybox".into()),
            resources: Some(ResourceRequirements {
                requests: cpu_req
                    .map(|v| [("cpu".to_string(), q(v)), ("memory".to_string(), q("1Gi"))].into()),
                limits: cpu_lim
                    .map(|v| [("cpu".to_string(), q(v)), ("memory".to_string(), q("1Gi"))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn qos_classes() {
        let spec = |c: Container| PodSpec {
            containers: vec![c],
            ..Default::default()
        };
        assert_eq!(qos_class(&spec(Container::default())), "BestEffort");
        assert_eq!(
            qos_class(&spec(container("a", Some("1"), Some("1")))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&spec(container("a", Some("500m"), Some("1")))),
            "Burstable"
        );
        assert_eq!(
            qos_class(&spec(container("a", Some("1"), None))),
            "Burstable"
        );
    }

    #[test]
    fn requests_above_limits_are_rejected() {
        let mut e = Errors::default();
        let c = container("a", Some("2"), Some("1"));
        validate_resource_requirements(
            c.resources.as_ref().unwrap(),
            &Path::new("spec")
                .child("containers")
                .index(0)
                .child("resources"),
            &mut e,
        );
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].field, "spec.containers[0].resources.requests");
        assert_eq!(
            e.0[0].message,
            "Invalid value: \"2\": must be less than or equal to cpu limit of 1"
        );
    }
}
