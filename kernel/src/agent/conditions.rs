//! The node's conditions as kubelet reports them: `MemoryPressure`, `DiskPressure`,
//! `PIDPressure` (from kubelet's default hard eviction thresholds) and `Ready`, with kube's
//! reasons and messages. A condition keeps its `lastTransitionTime` while its status stays.

use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::host::Usage;

/// Memory pressure below this much available memory (kubelet's `memory.available<100Mi`).
pub const MEMORY_AVAILABLE_MIN: u64 = 100 << 20;
/// Disk pressure below this share of the data dir's file system free (`nodefs.available<10%`).
pub const NODEFS_AVAILABLE_MIN_PERCENT: u64 = 10;
/// PID pressure below this share of process ids free. kubelet has no default `pid.available`
/// threshold; kmicro uses the same 10% as for disk.
pub const PIDS_AVAILABLE_MIN_PERCENT: u64 = 10;

/// Which resources are short.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Available memory under [`MEMORY_AVAILABLE_MIN`].
    pub memory: bool,
    /// The data dir's file system under [`NODEFS_AVAILABLE_MIN_PERCENT`] free.
    pub disk: bool,
    /// Process ids under [`PIDS_AVAILABLE_MIN_PERCENT`] free.
    pub pid: bool,
}

impl Pressure {
    /// The pressure `usage` shows; what could not be measured is not under pressure.
    pub fn of(usage: &Usage) -> Self {
        let below_percent =
            |free: u64, total: u64, percent: u64| total > 0 && free * 100 < total * percent;
        Self {
            memory: usage
                .memory_available
                .is_some_and(|m| m < MEMORY_AVAILABLE_MIN),
            disk: usage.filesystem.is_some_and(|fs| {
                below_percent(fs.available, fs.capacity, NODEFS_AVAILABLE_MIN_PERCENT)
            }),
            pid: usage.pids.is_some_and(|p| {
                below_percent(
                    p.max.saturating_sub(p.used),
                    p.max,
                    PIDS_AVAILABLE_MIN_PERCENT,
                )
            }),
        }
    }
}

/// One condition's two faces: (type, (reason, message) when False, (reason, message) when
/// True).
type Texts = (
    &'static str,
    (&'static str, &'static str),
    (&'static str, &'static str),
);

const MEMORY: Texts = (
    "MemoryPressure",
    (
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    ),
);
const DISK: Texts = (
    "DiskPressure",
    ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("KubeletHasDiskPressure", "kubelet has disk pressure"),
);
const PID: Texts = (
    "PIDPressure",
    (
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    (
        "KubeletHasInsufficientPID",
        "kubelet has insufficient PID available",
    ),
);
const READY: Texts = (
    "Ready",
    ("KubeletNotReady", "kubelet is not posting ready status"),
    ("KubeletReady", "kubelet is posting ready status"),
);

/// The four conditions in kubelet's order, heartbeat `now`; a condition whose status is
/// unchanged from `previous` keeps its transition time.
pub fn conditions(
    pressure: Pressure,
    previous: &[NodeCondition],
    now: &Time,
) -> Vec<NodeCondition> {
    [
        (MEMORY, pressure.memory),
        (DISK, pressure.disk),
        (PID, pressure.pid),
        (READY, true),
    ]
    .into_iter()
    .map(|((ty, when_false, when_true), value)| {
        let (reason, message) = if value { when_true } else { when_false };
        let status = if value { "True" } else { "False" };
        let transition = previous
            .iter()
            .find(|c| c.type_ == ty && c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        NodeCondition {
            type_: ty.to_string(),
            status: status.to_string(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(transition),
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::host::{FilesystemUsage, PidUsage};
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn usage(memory: u64, fs_free: u64, pids_used: u64) -> Usage {
        Usage {
            memory_available: Some(memory),
            filesystem: Some(FilesystemUsage {
                capacity: 1000,
                available: fs_free,
            }),
            pids: Some(PidUsage {
                max: 1000,
                used: pids_used,
            }),
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(Pressure::of(&usage(1 << 30, 500, 10)), Pressure::default());
        let p = Pressure::of(&usage(MEMORY_AVAILABLE_MIN - 1, 99, 901));
        assert!(p.memory && p.disk && p.pid);
        let p = Pressure::of(&usage(MEMORY_AVAILABLE_MIN, 100, 900));
        assert!(
            !p.memory && !p.disk && !p.pid,
            "at the threshold is no pressure"
        );
        assert_eq!(Pressure::of(&Usage::default()), Pressure::default());
    }

    #[test]
    fn kubelet_reasons_in_kubelet_order() {
        let c = conditions(Pressure::default(), &[], &at(10));
        let got: Vec<_> = c
            .iter()
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.reason.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID"),
                ("Ready", "True", "KubeletReady"),
            ]
        );
        assert_eq!(
            c[3].message.as_deref(),
            Some("kubelet is posting ready status")
        );
        let p = Pressure {
            memory: true,
            ..Pressure::default()
        };
        let c = conditions(p, &[], &at(10));
        assert_eq!(c[0].reason.as_deref(), Some("KubeletHasInsufficientMemory"));
    }

    #[test]
    fn transition_times_move_only_when_the_status_does() {
        let first = conditions(Pressure::default(), &[], &at(10));
        let p = Pressure {
            disk: true,
            ..Pressure::default()
        };
        let second = conditions(p, &first, &at(20));
        assert_eq!(second[0].last_transition_time, Some(at(10)));
        assert_eq!(second[1].last_transition_time, Some(at(20)));
        assert!(second.iter().all(|c| c.last_heartbeat_time == Some(at(20))));
        // A Ready that was Unknown (set by the node lifecycle) becomes True now.
        let mut unknown = first.clone();
        unknown[3].status = "Unknown".into();
        let third = conditions(Pressure::default(), &unknown, &at(30));
        assert_eq!(third[3].last_transition_time, Some(at(30)));
    }
}
