//! Persistent volumes, claims and storage classes.

use serde_json::json;

use super::{ago, headers, row};

#[test]
fn persistent_volumes() {
    assert_eq!(
        headers("", "persistentvolumes"),
        [
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age",
            "VolumeMode"
        ]
    );
    let pv = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "task-pv-volume", "labels": {"type": "local"},
                     "creationTimestamp": ago(300)},
        "spec": {
            "storageClassName": "manual",
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/mnt/data"},
            "persistentVolumeReclaimPolicy": "Retain",
            "volumeMode": "Filesystem",
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default",
                         "name": "task-pv-claim", "uid": "1b4e28ba"},
        },
        "status": {"phase": "Bound", "lastPhaseTransitionTime": ago(280)},
    });
    assert_eq!(
        row("", "persistentvolumes", pv),
        [
            "task-pv-volume",
            "10Gi",
            "RWO",
            "Retain",
            "Bound",
            "default/task-pv-claim",
            "manual",
            "<unset>",
            "",
            "5m",
            "Filesystem"
        ]
    );

    let pv = json!({
        "metadata": {"name": "pv0003", "creationTimestamp": ago(60),
                     "annotations": {"volume.beta.kubernetes.io/storage-class": "slow"},
                     "deletionTimestamp": ago(1)},
        "spec": {"capacity": {"storage": "5120Mi"},
                 "accessModes": ["ReadWriteMany", "ReadOnlyMany", "ReadWriteOnce", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Recycle", "storageClassName": "ignored",
                 "volumeMode": "Block", "volumeAttributesClassName": "gold"},
        "status": {"phase": "Failed", "reason": "VolumeFailedRecycle"},
    });
    assert_eq!(
        row("", "persistentvolumes", pv),
        [
            "pv0003",
            "5Gi",
            "RWO,ROX,RWX",
            "Recycle",
            "Terminating",
            "",
            "slow",
            "gold",
            "VolumeFailedRecycle",
            "60s",
            "Block"
        ]
    );

    // Defaults kube applies on decode.
    assert_eq!(
        row("", "persistentvolumes", json!({"metadata": {"name": "e"}}))[1..],
        [
            "0",
            "",
            "Retain",
            "Pending",
            "",
            "",
            "<unset>",
            "",
            "<unknown>",
            "Filesystem"
        ]
    );
}

#[test]
fn persistent_volume_claims() {
    assert_eq!(
        headers("", "persistentvolumeclaims"),
        [
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age",
            "VolumeMode"
        ]
    );
    let bound = json!({
        "metadata": {"name": "task-pv-claim", "namespace": "default", "creationTimestamp": ago(290)},
        "spec": {"storageClassName": "manual", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "3Gi"}}, "volumeName": "task-pv-volume",
                 "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "10Gi"}},
    });
    assert_eq!(
        row("", "persistentvolumeclaims", bound),
        [
            "task-pv-claim",
            "Bound",
            "task-pv-volume",
            "10Gi",
            "RWO",
            "manual",
            "<unset>",
            "4m50s",
            "Filesystem"
        ]
    );

    let pending = json!({
        "metadata": {"name": "data-web-0", "creationTimestamp": ago(20)},
        "spec": {"storageClassName": "standard", "accessModes": ["ReadWriteOncePod"],
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    });
    assert_eq!(
        row("", "persistentvolumeclaims", pending),
        [
            "data-web-0",
            "Pending",
            "",
            "",
            "",
            "standard",
            "<unset>",
            "20s",
            "Filesystem"
        ]
    );

    let no_class = json!({"metadata": {"name": "c", "deletionTimestamp": ago(0)}});
    assert_eq!(
        row("", "persistentvolumeclaims", no_class)[1..],
        [
            "Terminating",
            "",
            "",
            "",
            "",
            "<unset>",
            "<unknown>",
            "Filesystem"
        ]
    );
}

#[test]
fn storage_classes() {
    assert_eq!(
        headers("storage.k8s.io", "storageclasses"),
        [
            "Name",
            "Provisioner",
            "ReclaimPolicy",
            "VolumeBindingMode",
            "AllowVolumeExpansion",
            "Age"
        ]
    );
    let sc = json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path", "creationTimestamp": ago(10 * 86_400),
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    });
    assert_eq!(
        row("storage.k8s.io", "storageclasses", sc),
        [
            "local-path (default)",
            "rancher.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            "false",
            "10d"
        ]
    );
    let sc = json!({
        "metadata": {"name": "fast", "creationTimestamp": ago(3600),
                     "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "false"}},
        "provisioner": "ebs.csi.aws.com",
        "reclaimPolicy": "Retain",
        "allowVolumeExpansion": true,
    });
    assert_eq!(
        row("storage.k8s.io", "storageclasses", sc),
        [
            "fast",
            "ebs.csi.aws.com",
            "Retain",
            "Immediate",
            "true",
            "60m"
        ]
    );
}
