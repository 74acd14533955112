//! Storage: persistent volumes and claims (core/v1) and storage classes (`storage.k8s.io`).

use serde_json::Value;

use super::util::{annotation, arr_at, at, deleting, name, opt_bool, opt_str, str_at};
use super::{AGE, Column, NAME, Printer, docs};
use crate::quantity::canonical_json as canonical;

/// The printer of a core/v1 volume resource.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    match plural {
        "persistentvolumes" => Some(&PERSISTENT_VOLUME),
        "persistentvolumeclaims" => Some(&PERSISTENT_VOLUME_CLAIM),
        _ => None,
    }
}

/// The printer of a `storage.k8s.io` resource.
pub(crate) fn printer_storage_k8s_io(plural: &str) -> Option<&'static Printer> {
    (plural == "storageclasses").then_some(&STORAGE_CLASS)
}

/// The annotation that overrides `storageClassName` on volumes and claims.
const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// kube's `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP`, in that order, each once.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// A phase, `Terminating` while deleting, `Pending` (kube's default) when unset.
fn phase(o: &Value) -> &str {
    if deleting(o) {
        return "Terminating";
    }
    match str_at(o, &["status", "phase"]) {
        "" => "Pending",
        p => p,
    }
}

/// `spec.volumeMode`, `Filesystem` by default.
fn volume_mode(o: &Value) -> &str {
    opt_str(o, &["spec", "volumeMode"]).unwrap_or("Filesystem")
}

/// `spec.volumeAttributesClassName`, or `<unset>`.
fn attributes_class(o: &Value) -> &str {
    opt_str(o, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")
}

static PERSISTENT_VOLUME: Printer = Printer::new(
    &[
        NAME,
        Column::new("Capacity", "string", docs::PV_CAPACITY),
        Column::new("Access Modes", "string", docs::PV_ACCESS_MODES),
        Column::new("Reclaim Policy", "string", docs::PV_RECLAIM_POLICY),
        Column::new("Status", "string", docs::PV_PHASE),
        Column::new("Claim", "string", docs::PV_CLAIM_REF),
        Column::new("StorageClass", "string", "StorageClass of the pv"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        Column::new("Reason", "string", docs::PV_REASON),
        AGE,
        Column::wide("VolumeMode", "string", docs::PV_VOLUME_MODE),
    ],
    |o, now| {
        let claim = at(o, &["spec", "claimRef"]);
        let claim = if claim.is_null() {
            String::new()
        } else {
            format!(
                "{}/{}",
                str_at(claim, &["namespace"]),
                str_at(claim, &["name"])
            )
        };
        let reclaim = match str_at(o, &["spec", "persistentVolumeReclaimPolicy"]) {
            "" => "Retain",
            p => p,
        };
        let class = annotation(o, BETA_STORAGE_CLASS)
            .unwrap_or_else(|| str_at(o, &["spec", "storageClassName"]));
        vec![
            name(o),
            canonical(at(o, &["spec", "capacity", "storage"])).into(),
            access_modes(arr_at(o, &["spec", "accessModes"])).into(),
            reclaim.into(),
            phase(o).into(),
            claim.into(),
            class.into(),
            attributes_class(o).into(),
            str_at(o, &["status", "reason"]).into(),
            super::util::age(o, now),
            volume_mode(o).into(),
        ]
    },
);

static PERSISTENT_VOLUME_CLAIM: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", docs::PVC_PHASE),
        Column::new("Volume", "string", docs::PVC_VOLUME_NAME),
        Column::new("Capacity", "string", docs::PVC_CAPACITY),
        Column::new("Access Modes", "string", docs::PVC_ACCESS_MODES),
        Column::new("StorageClass", "string", "StorageClass of the pvc"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        AGE,
        Column::wide("VolumeMode", "string", docs::PVC_VOLUME_MODE),
    ],
    |o, now| {
        let volume = str_at(o, &["spec", "volumeName"]);
        // Capacity and access modes show once the claim is bound to a volume.
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                canonical(at(o, &["status", "capacity", "storage"])),
                access_modes(arr_at(o, &["status", "accessModes"])),
            )
        };
        let class = annotation(o, BETA_STORAGE_CLASS)
            .or_else(|| opt_str(o, &["spec", "storageClassName"]))
            .unwrap_or("");
        vec![
            name(o),
            phase(o).into(),
            volume.into(),
            capacity.into(),
            modes.into(),
            class.into(),
            attributes_class(o).into(),
            super::util::age(o, now),
            volume_mode(o).into(),
        ]
    },
);

static STORAGE_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new("Provisioner", "string", docs::SC_PROVISIONER),
        Column::new("ReclaimPolicy", "string", docs::SC_RECLAIM_POLICY),
        Column::new("VolumeBindingMode", "string", docs::SC_BINDING_MODE),
        Column::new("AllowVolumeExpansion", "string", docs::SC_ALLOW_EXPANSION),
        AGE,
    ],
    |o, now| {
        let is_default = |key| annotation(o, key) == Some("true");
        let mut display = str_at(o, &["metadata", "name"]).to_string();
        if is_default("storageclass.kubernetes.io/is-default-class")
            || is_default("storageclass.beta.kubernetes.io/is-default-class")
        {
            display.push_str(" (default)");
        }
        let reclaim = opt_str(o, &["reclaimPolicy"]).unwrap_or("Delete");
        let binding = opt_str(o, &["volumeBindingMode"]).unwrap_or("Immediate");
        let expansion = opt_bool(o, &["allowVolumeExpansion"]).unwrap_or(false);
        vec![
            display.into(),
            str_at(o, &["provisioner"]).into(),
            reclaim.into(),
            binding.into(),
            expansion.into(),
            super::util::age(o, now),
        ]
    },
);
