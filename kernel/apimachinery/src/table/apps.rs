//! `apps`: deployments, replica sets, daemon sets, stateful sets, controller revisions.

use serde_json::Value;

use super::util::{
    age, arr_at, at, containers, format_label_selector, format_labels, int_at, map_at, name,
    opt_int, selector_string, str_at,
};
use super::{AGE, Column, NAME, Printer, docs};

/// The printer of an `apps` resource.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    Some(match plural {
        "deployments" => &DEPLOYMENT,
        "replicasets" => &REPLICA_SET,
        "daemonsets" => &DAEMON_SET,
        "statefulsets" => &STATEFUL_SET,
        "controllerrevisions" => &CONTROLLER_REVISION,
        _ => return None,
    })
}

const CONTAINERS: Column = Column::wide("Containers", "string", docs::CONTAINERS);
const IMAGES: Column = Column::wide("Images", "string", docs::IMAGES);

/// The containers of the pod template.
fn template_containers(o: &Value) -> &[Value] {
    arr_at(o, &["spec", "template", "spec", "containers"])
}

/// `spec.replicas`, 1 when unset (kube's default for the workloads that have it).
fn replicas(o: &Value) -> i64 {
    opt_int(o, &["spec", "replicas"]).unwrap_or(1)
}

static DEPLOYMENT: Printer = Printer::new(
    &[
        NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        Column::new("Up-to-date", "string", docs::DEPLOY_UPDATED),
        Column::new("Available", "string", docs::DEPLOY_AVAILABLE),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::wide("Selector", "string", docs::DEPLOY_SELECTOR),
    ],
    |o, now| {
        let ready = int_at(o, &["status", "readyReplicas"]);
        let (names, images) = containers(template_containers(o));
        // Unlike the other workloads, an empty selector prints as nothing, not `<none>`.
        let selector =
            selector_string(at(o, &["spec", "selector"])).unwrap_or_else(|()| "<invalid>".into());
        vec![
            name(o),
            format!("{ready}/{}", replicas(o)).into(),
            int_at(o, &["status", "updatedReplicas"]).into(),
            int_at(o, &["status", "availableReplicas"]).into(),
            age(o, now),
            names,
            images,
            selector.into(),
        ]
    },
);

static REPLICA_SET: Printer = Printer::new(
    &[
        NAME,
        Column::new("Desired", "integer", docs::RS_SPEC_REPLICAS),
        Column::new("Current", "integer", docs::RS_STATUS_REPLICAS),
        Column::new("Ready", "integer", docs::RS_READY_REPLICAS),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::wide("Selector", "string", docs::RS_SELECTOR),
    ],
    |o, now| {
        let (names, images) = containers(template_containers(o));
        vec![
            name(o),
            replicas(o).into(),
            int_at(o, &["status", "replicas"]).into(),
            int_at(o, &["status", "readyReplicas"]).into(),
            age(o, now),
            names,
            images,
            format_label_selector(at(o, &["spec", "selector"])).into(),
        ]
    },
);

static DAEMON_SET: Printer = Printer::new(
    &[
        NAME,
        Column::new("Desired", "integer", docs::DS_DESIRED),
        Column::new("Current", "integer", docs::DS_CURRENT),
        Column::new("Ready", "integer", docs::DS_READY),
        Column::new("Up-to-date", "integer", docs::DS_UPDATED),
        Column::new("Available", "integer", docs::DS_AVAILABLE),
        Column::new("Node Selector", "string", docs::POD_NODE_SELECTOR),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::wide("Selector", "string", docs::DS_SELECTOR),
    ],
    |o, now| {
        let status = |field| -> Value { int_at(o, &["status", field]).into() };
        let (names, images) = containers(template_containers(o));
        vec![
            name(o),
            status("desiredNumberScheduled"),
            status("currentNumberScheduled"),
            status("numberReady"),
            status("updatedNumberScheduled"),
            status("numberAvailable"),
            format_labels(map_at(o, &["spec", "template", "spec", "nodeSelector"])).into(),
            age(o, now),
            names,
            images,
            format_label_selector(at(o, &["spec", "selector"])).into(),
        ]
    },
);

static STATEFUL_SET: Printer = Printer::new(
    &[
        NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ],
    |o, now| {
        let ready = int_at(o, &["status", "readyReplicas"]);
        let (names, images) = containers(template_containers(o));
        vec![
            name(o),
            format!("{ready}/{}", replicas(o)).into(),
            age(o, now),
            names,
            images,
        ]
    },
);

static CONTROLLER_REVISION: Printer = Printer::new(
    &[
        NAME,
        Column::new("Controller", "string", "Controller of the object"),
        Column::new("Revision", "string", docs::CR_REVISION),
        AGE,
    ],
    |o, now| {
        vec![
            name(o),
            controller(o).into(),
            int_at(o, &["revision"]).into(),
            age(o, now),
        ]
    },
);

/// The controlling owner as `kind.group/name` in lower case (`statefulset.apps/web`), or
/// `<none>`.
fn controller(o: &Value) -> String {
    let Some(owner) = arr_at(o, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| at(r, &["controller"]).as_bool() == Some(true))
    else {
        return "<none>".into();
    };
    let api_version = str_at(owner, &["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let kind = str_at(owner, &["kind"]);
    let name = str_at(owner, &["name"]);
    if kind.is_empty() && group.is_empty() {
        return name.into();
    }
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{name}", group_kind.to_lowercase())
}
