//! The resource table: every API resource kmicro serves, with what discovery, routing and
//! storage need to know about it.

/// One API resource (a plural name within a group-version).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind of one object.
    pub kind: &'static str,
    /// Plural name, used in URLs (`pods`).
    pub plural: &'static str,
    /// Singular name (`pod`).
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`po`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Whether the resource has a `status` subresource.
    pub status: bool,
    /// Whether the resource has a `scale` subresource.
    pub scale: bool,
}

/// Verbs every stored resource supports.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs of the virtual review resources (access reviews, token reviews): create only.
pub const CREATE_ONLY: &[&str] = &["create"];

/// A subresource with a kind and verbs of its own (beyond `status` and `scale`, which every
/// resource that has them serves alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subresource {
    /// The name after the object's name in the path (`token`).
    pub name: &'static str,
    /// The group of what it takes and answers.
    pub group: &'static str,
    /// The version of what it takes and answers.
    pub version: &'static str,
    /// The kind of what it takes and answers (`TokenRequest`).
    pub kind: &'static str,
    /// Its verbs.
    pub verbs: &'static [&'static str],
}

/// `pods/binding`: a Binding assigns the pod to a node (the scheduler's write).
pub const POD_BINDING: Subresource = Subresource {
    name: "binding",
    group: "",
    version: "v1",
    kind: "Binding",
    verbs: CREATE_ONLY,
};

/// `pods/eviction`: a `policy/v1` Eviction deletes the pod if its disruption budget allows.
pub const POD_EVICTION: Subresource = Subresource {
    name: "eviction",
    group: "policy",
    version: "v1",
    kind: "Eviction",
    verbs: CREATE_ONLY,
};

/// `namespaces/finalize`: replaces a namespace's `spec.finalizers` (the namespace
/// controller's write once the namespace is empty).
pub const NAMESPACE_FINALIZE: Subresource = Subresource {
    name: "finalize",
    group: "",
    version: "v1",
    kind: "Namespace",
    verbs: &["update"],
};

/// The legacy `bindings` collection (`POST /api/v1/namespaces/<ns>/bindings`): a Binding
/// naming the pod in its metadata, as `pods/<name>/binding` takes it. Create only; nothing of
/// its own is stored, and it is routed but not listed in discovery's resource table.
pub static LEGACY_BINDINGS: ResourceInfo = ResourceInfo {
    group: "",
    version: "v1",
    kind: "Binding",
    plural: "bindings",
    singular: "binding",
    namespaced: true,
    short_names: &[],
    categories: &[],
    status: false,
    scale: false,
};

/// `serviceaccounts/token`: the TokenRequest API (`kubectl create token`).
pub const SERVICE_ACCOUNT_TOKEN: Subresource = Subresource {
    name: "token",
    group: "authentication.k8s.io",
    version: "v1",
    kind: "TokenRequest",
    verbs: CREATE_ONLY,
};

/// `pods/log`: a container's log (text), served by the node agent of the pod's node.
pub const POD_LOG: Subresource = Subresource {
    name: "log",
    group: "",
    version: "v1",
    kind: "Pod",
    verbs: &["get"],
};

/// `pods/exec`: a command run in one of the pod's containers, its stdio streamed over a
/// WebSocket (`v5.channel.k8s.io`); `GET` is the upgrade, `POST` the SPDY form kmicro refuses.
pub const POD_EXEC: Subresource = Subresource {
    name: "exec",
    group: "",
    version: "v1",
    kind: "PodExecOptions",
    verbs: &["create", "get"],
};

/// `pods/attach`: the stdio of a running container, streamed like `pods/exec`.
pub const POD_ATTACH: Subresource = Subresource {
    name: "attach",
    group: "",
    version: "v1",
    kind: "PodAttachOptions",
    verbs: &["create", "get"],
};

/// `pods/portforward`: a connection upgraded to a stream of forwarded TCP connections to the
/// pod's ports, served by the node agent of the pod's node. A connect subresource: kubectl's
/// WebSocket `GET` is authorized as `create`, as kube-apiserver 1.30+ does.
pub const POD_PORTFORWARD: Subresource = Subresource {
    name: "portforward",
    group: "",
    version: "v1",
    kind: "PodPortForwardOptions",
    verbs: &["create", "get"],
};

/// `modules/source`: the component's bytes (`application/wasm`), read and replaced whole.
pub const MODULE_SOURCE: Subresource = Subresource {
    name: "source",
    group: "modules.kmicro.io",
    version: "v1alpha1",
    kind: "Module",
    verbs: &["get", "update"],
};

/// `modules/log`: the module's log lines (text), like `pods/log`.
pub const MODULE_LOG: Subresource = Subresource {
    name: "log",
    group: "modules.kmicro.io",
    version: "v1alpha1",
    kind: "Module",
    verbs: &["get"],
};

impl Subresource {
    /// Whether it is a connect subresource (a streaming upgrade, `*Options` its kind): a
    /// `GET` of it is authorized and served as `create`, as kube-apiserver does for the
    /// WebSocket upgrades of `exec`, `attach` and `portforward`.
    pub fn is_connect(&self) -> bool {
        self.group.is_empty()
            && matches!(
                self.kind,
                "PodPortForwardOptions" | "PodExecOptions" | "PodAttachOptions"
            )
    }
}

impl ResourceInfo {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the resource is virtual: a request is answered from what it carries and
    /// nothing is stored (the access and token reviews of `authorization.k8s.io` and
    /// `authentication.k8s.io`).
    pub fn is_virtual(&self) -> bool {
        matches!(self.group, "authorization.k8s.io" | "authentication.k8s.io")
    }

    /// The verbs the resource supports: [`CREATE_ONLY`] for virtual resources and the legacy
    /// `bindings`, else [`VERBS`].
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.is_virtual() || *self == LEGACY_BINDINGS {
            CREATE_ONLY
        } else {
            VERBS
        }
    }

    /// Subresources with a kind and verbs of their own.
    pub fn other_subresources(&self) -> &'static [Subresource] {
        match (self.group, self.plural) {
            ("", "pods") => &[
                POD_ATTACH,
                POD_BINDING,
                POD_EVICTION,
                POD_EXEC,
                POD_LOG,
                POD_PORTFORWARD,
            ],
            ("", "namespaces") => &[NAMESPACE_FINALIZE],
            ("", "serviceaccounts") => &[SERVICE_ACCOUNT_TOKEN],
            ("modules.kmicro.io", "modules") => &[MODULE_SOURCE, MODULE_LOG],
            _ => &[],
        }
    }

    /// The [`other_subresources`](Self::other_subresources) whose bodies are objects of their
    /// kind, as OpenAPI documents describe them; `modules/source`, `modules/log`, `pods/log`
    /// and the streams of `pods/exec`, `pods/attach` and `pods/portforward` carry raw bytes
    /// and text and are left out of the documents.
    pub fn object_subresources(&self) -> &'static [Subresource] {
        match (self.group, self.plural) {
            ("modules.kmicro.io", "modules") => &[],
            ("", "pods") => &[POD_BINDING, POD_EVICTION],
            _ => self.other_subresources(),
        }
    }

    /// The kind of a list of these objects (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether objects of this resource are stored as another resource's (converted on the
    /// way in and out): `events.k8s.io/v1` Events are `core/v1` Events, as in kube.
    pub fn stored_as_core_event(&self) -> bool {
        self.group == "events.k8s.io" && self.plural == "events"
    }

    /// The storage key prefix of all objects of this resource, ending in `/`:
    /// `/registry/<group>/<plural>/` (`core` for the core group).
    pub fn key_prefix(&self) -> String {
        if self.stored_as_core_event() {
            return "/registry/core/events/".to_string();
        }
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// The storage key prefix of the objects in one namespace (or all, for cluster scope).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }
}

macro_rules! resource {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, namespaced: $ns:expr,
     short: [$($short:expr),*], categories: [$($cat:expr),*], status: $status:expr, scale: $scale:expr) => {
        ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            status: $status,
            scale: $scale,
        }
    };
}

/// Every built-in resource kmicro serves, grouped by group-version in discovery order.
pub static BUILTIN: &[ResourceInfo] = &[
    // core/v1
    resource!("", "v1", "Namespace", "namespaces", "namespace", namespaced: false, short: ["ns"], categories: [], status: true, scale: false),
    resource!("", "v1", "Node", "nodes", "node", namespaced: false, short: ["no"], categories: [], status: true, scale: false),
    resource!("", "v1", "Pod", "pods", "pod", namespaced: true, short: ["po"], categories: ["all"], status: true, scale: false),
    resource!("", "v1", "Service", "services", "service", namespaced: true, short: ["svc"], categories: ["all"], status: true, scale: false),
    resource!("", "v1", "Endpoints", "endpoints", "endpoints", namespaced: true, short: ["ep"], categories: [], status: false, scale: false),
    resource!("", "v1", "ConfigMap", "configmaps", "configmap", namespaced: true, short: ["cm"], categories: [], status: false, scale: false),
    resource!("", "v1", "Secret", "secrets", "secret", namespaced: true, short: [], categories: [], status: false, scale: false),
    resource!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", namespaced: true, short: ["sa"], categories: [], status: false, scale: false),
    resource!("", "v1", "Event", "events", "event", namespaced: true, short: ["ev"], categories: [], status: false, scale: false),
    resource!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", namespaced: false, short: ["pv"], categories: [], status: true, scale: false),
    resource!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", namespaced: true, short: ["pvc"], categories: [], status: true, scale: false),
    resource!("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", namespaced: true, short: ["quota"], categories: [], status: true, scale: false),
    resource!("", "v1", "LimitRange", "limitranges", "limitrange", namespaced: true, short: ["limits"], categories: [], status: false, scale: false),
    // apps/v1
    resource!("apps", "v1", "Deployment", "deployments", "deployment", namespaced: true, short: ["deploy"], categories: ["all"], status: true, scale: true),
    resource!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", namespaced: true, short: ["rs"], categories: ["all"], status: true, scale: true),
    resource!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", namespaced: true, short: ["ds"], categories: ["all"], status: true, scale: false),
    resource!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", namespaced: true, short: ["sts"], categories: ["all"], status: true, scale: true),
    resource!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", namespaced: true, short: [], categories: [], status: false, scale: false),
    // authentication.k8s.io/v1 and authorization.k8s.io/v1: virtual, create only
    resource!("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", namespaced: false, short: [], categories: [], status: false, scale: false),
    resource!("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", namespaced: false, short: [], categories: [], status: false, scale: false),
    resource!("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", "localsubjectaccessreview", namespaced: true, short: [], categories: [], status: false, scale: false),
    resource!("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", "selfsubjectaccessreview", namespaced: false, short: [], categories: [], status: false, scale: false),
    resource!("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", "selfsubjectrulesreview", namespaced: false, short: [], categories: [], status: false, scale: false),
    resource!("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", namespaced: false, short: [], categories: [], status: false, scale: false),
    // batch/v1
    resource!("batch", "v1", "Job", "jobs", "job", namespaced: true, short: [], categories: ["all"], status: true, scale: false),
    resource!("batch", "v1", "CronJob", "cronjobs", "cronjob", namespaced: true, short: ["cj"], categories: ["all"], status: true, scale: false),
    // coordination.k8s.io/v1
    resource!("coordination.k8s.io", "v1", "Lease", "leases", "lease", namespaced: true, short: [], categories: [], status: false, scale: false),
    // discovery.k8s.io/v1
    resource!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", namespaced: true, short: [], categories: [], status: false, scale: false),
    // events.k8s.io/v1
    resource!("events.k8s.io", "v1", "Event", "events", "event", namespaced: true, short: ["ev"], categories: [], status: false, scale: false),
    // networking.k8s.io/v1
    resource!("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", namespaced: true, short: ["ing"], categories: [], status: true, scale: false),
    resource!("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", namespaced: false, short: [], categories: [], status: false, scale: false),
    resource!("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", namespaced: true, short: ["netpol"], categories: [], status: false, scale: false),
    // policy/v1
    resource!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", namespaced: true, short: ["pdb"], categories: [], status: true, scale: false),
    // rbac.authorization.k8s.io/v1
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", namespaced: false, short: [], categories: [], status: false, scale: false),
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", namespaced: false, short: [], categories: [], status: false, scale: false),
    resource!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", namespaced: true, short: [], categories: [], status: false, scale: false),
    resource!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", namespaced: true, short: [], categories: [], status: false, scale: false),
    // storage.k8s.io/v1
    resource!("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", namespaced: false, short: ["sc"], categories: [], status: false, scale: false),
    // scheduling.k8s.io/v1
    resource!("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", namespaced: false, short: ["pc"], categories: [], status: false, scale: false),
    // apiextensions.k8s.io/v1
    resource!("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", namespaced: false, short: ["crd", "crds"], categories: ["api-extensions"], status: true, scale: false),
    // modules.kmicro.io/v1alpha1: kmicro's own (control-plane WebAssembly modules)
    resource!("modules.kmicro.io", "v1alpha1", "Module", "modules", "module", namespaced: false, short: ["kmod"], categories: ["kmicro"], status: true, scale: false),
];

/// Finds a built-in resource by group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    BUILTIN
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The group-versions served, in discovery order (core `v1` first).
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in BUILTIN {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_registry_layout() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        assert_eq!(pods.namespace_prefix(None), "/registry/core/pods/");
        let nodes = find("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/core/nodes/n1");
        let deploy = find("apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.list_kind(), "DeploymentList");
    }

    #[test]
    fn reviews_are_virtual_and_create_only() {
        let ssar = find("authorization.k8s.io", "v1", "selfsubjectaccessreviews").unwrap();
        assert!(ssar.is_virtual());
        assert_eq!(ssar.verbs(), ["create"]);
        let roles = find("rbac.authorization.k8s.io", "v1", "roles").unwrap();
        assert!(!roles.is_virtual());
        assert_eq!(roles.verbs(), VERBS);
        let sa = find("", "v1", "serviceaccounts").unwrap();
        assert_eq!(sa.other_subresources()[0].kind, "TokenRequest");
    }

    #[test]
    fn plural_names_are_unique_per_group_version() {
        for (i, a) in BUILTIN.iter().enumerate() {
            for b in &BUILTIN[i + 1..] {
                assert!(
                    (a.group, a.version, a.plural) != (b.group, b.version, b.plural),
                    "{} listed twice",
                    a.plural
                );
            }
        }
    }
}
