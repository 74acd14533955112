//! The node's conditions as kubelet reports them: `MemoryPressure`, `DiskPressure`,
//! `PIDPressure` (from the hard eviction thresholds in force, kmicro's defaults or
//! `--kubelet-arg=eviction-hard=…`) and `Ready`, with kube's reasons and messages. A condition
//! keeps its `lastTransitionTime` while its status stays.

use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::eviction::{Signal, Thresholds};
use super::host::Usage;

/// Which resources are short.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Available memory under the `memory.available` threshold.
    pub memory: bool,
    /// The data dir's file system under the `nodefs.available` or `nodefs.inodesFree`
    /// threshold.
    pub disk: bool,
    /// Free process ids under the `pid.available` threshold.
    pub pid: bool,
}

impl Pressure {
    /// The pressure `usage` shows against `thresholds`, percentages of memory taken of
    /// `memory_capacity`; what could not be measured, or has no threshold, is not under
    /// pressure.
    pub fn of(usage: &Usage, thresholds: &Thresholds, memory_capacity: u64) -> Self {
        Self {
            memory: usage.memory_available.is_some_and(|available| {
                thresholds.is_below(Signal::MemoryAvailable, available, memory_capacity)
            }),
            disk: usage.filesystem.is_some_and(|fs| {
                thresholds.is_below(Signal::NodeFsAvailable, fs.available, fs.capacity)
            }) || usage.inodes.is_some_and(|inodes| {
                thresholds.is_below(Signal::NodeFsInodesFree, inodes.free, inodes.total)
            }),
            pid: usage.pids.is_some_and(|p| {
                thresholds.is_below(Signal::PidAvailable, p.max.saturating_sub(p.used), p.max)
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

/// The `Ready` condition's message when the pod network is not ready, as kubelet words the
/// runtime's `NetworkReady=false` (containerd's reason and its "Network plugin returns
/// error" prefix) after `why`.
pub fn network_not_ready_message(why: &str) -> String {
    format!(
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady \
         message:Network plugin returns error: {why}"
    )
}

/// The four conditions in kubelet's order, heartbeat `now`; a condition whose status is
/// unchanged from `previous` keeps its transition time. `network_not_ready`: why the pod
/// network does not work (then `Ready` is False, as under kubelet).
pub fn conditions(
    pressure: Pressure,
    network_not_ready: Option<&str>,
    previous: &[NodeCondition],
    now: &Time,
) -> Vec<NodeCondition> {
    let not_ready_message = network_not_ready.map(network_not_ready_message);
    [
        (MEMORY, pressure.memory),
        (DISK, pressure.disk),
        (PID, pressure.pid),
        (READY, network_not_ready.is_none()),
    ]
    .into_iter()
    .map(|((ty, when_false, when_true), value)| {
        let (reason, message) = if value { when_true } else { when_false };
        let message = match &not_ready_message {
            Some(text) if ty == "Ready" => text.as_str(),
            _ => message,
        };
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
    use crate::agent::eviction::{self, Thresholds};
    use crate::agent::host::{FilesystemUsage, InodeUsage, PidUsage};
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    const MEMORY_AVAILABLE_MIN: u64 = 100 << 20;

    fn usage(memory: u64, fs_free: u64, pids_used: u64) -> Usage {
        Usage {
            memory_available: Some(memory),
            filesystem: Some(FilesystemUsage {
                capacity: 1000,
                available: fs_free,
            }),
            inodes: Some(InodeUsage {
                total: 1000,
                free: 500,
            }),
            pids: Some(PidUsage {
                max: 1000,
                used: pids_used,
            }),
        }
    }

    fn thresholds(text: &str) -> Thresholds {
        let map = eviction::parse_pairs(text).unwrap().into_iter().collect();
        Thresholds::from_map(&map).unwrap()
    }

    #[test]
    fn default_thresholds() {
        let t = Thresholds::kmicro_default();
        let of = |usage: &Usage| Pressure::of(usage, &t, 1 << 30);
        assert_eq!(of(&usage(1 << 30, 500, 10)), Pressure::default());
        let p = of(&usage(MEMORY_AVAILABLE_MIN - 1, 99, 901));
        assert!(p.memory && p.disk && p.pid);
        let p = of(&usage(MEMORY_AVAILABLE_MIN, 100, 900));
        assert!(
            !p.memory && !p.disk && !p.pid,
            "at the threshold is no pressure"
        );
        let mut few_inodes = usage(1 << 30, 500, 10);
        few_inodes.inodes = Some(InodeUsage {
            total: 1000,
            free: 49,
        });
        assert_eq!(
            of(&few_inodes),
            Pressure {
                disk: true,
                ..Pressure::default()
            }
        );
        assert_eq!(of(&Usage::default()), Pressure::default());
    }

    #[test]
    fn configured_thresholds() {
        let short = usage(50 << 20, 5, 999);
        // Only what has a threshold can be under pressure (0.5% free is under 1%).
        let t = thresholds("nodefs.available<1%");
        assert_eq!(
            Pressure::of(&short, &t, 1 << 30),
            Pressure {
                disk: true,
                ..Pressure::default()
            }
        );
        assert_eq!(
            Pressure::of(&short, &thresholds("nodefs.available<0.5%"), 1 << 30),
            Pressure::default(),
            "5 of 1000 is not under 0.5%"
        );
        let t = thresholds("nodefs.available<6,memory.available<5%,pid.available<2");
        assert_eq!(
            Pressure::of(&short, &t, 1 << 30),
            Pressure {
                memory: true,
                disk: true,
                pid: true,
            }
        );
        // A percentage of memory needs the capacity; unknown, it is no pressure.
        assert!(!Pressure::of(&short, &t, 0).memory);
        assert_eq!(
            Pressure::of(&short, &Thresholds::none(), 1 << 30),
            Pressure::default()
        );
    }

    #[test]
    fn kubelet_reasons_in_kubelet_order() {
        let c = conditions(Pressure::default(), None, &[], &at(10));
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
        let c = conditions(p, None, &[], &at(10));
        assert_eq!(c[0].reason.as_deref(), Some("KubeletHasInsufficientMemory"));
    }

    #[test]
    fn transition_times_move_only_when_the_status_does() {
        let first = conditions(Pressure::default(), None, &[], &at(10));
        let p = Pressure {
            disk: true,
            ..Pressure::default()
        };
        let second = conditions(p, None, &first, &at(20));
        assert_eq!(second[0].last_transition_time, Some(at(10)));
        assert_eq!(second[1].last_transition_time, Some(at(20)));
        assert!(second.iter().all(|c| c.last_heartbeat_time == Some(at(20))));
        // A Ready that was Unknown (set by the node lifecycle) becomes True now.
        let mut unknown = first.clone();
        unknown[3].status = "Unknown".into();
        let third = conditions(Pressure::default(), None, &unknown, &at(30));
        assert_eq!(third[3].last_transition_time, Some(at(30)));
    }

    #[test]
    fn a_broken_pod_network_makes_the_node_not_ready() {
        let ready = conditions(Pressure::default(), None, &[], &at(10));
        let why = "CNI plugin \"bridge\" not found in [\"/usr/lib/cni\"]";
        let broken = conditions(Pressure::default(), Some(why), &ready, &at(20));
        assert_eq!(broken[3].type_, "Ready");
        assert_eq!(broken[3].status, "False");
        assert_eq!(broken[3].reason.as_deref(), Some("KubeletNotReady"));
        assert_eq!(
            broken[3].message.as_deref(),
            Some(
                "container runtime network not ready: NetworkReady=false \
                 reason:NetworkPluginNotReady message:Network plugin returns error: \
                 CNI plugin \"bridge\" not found in [\"/usr/lib/cni\"]"
            )
        );
        assert_eq!(broken[3].last_transition_time, Some(at(20)));
        // The other conditions are untouched.
        assert_eq!(
            broken[..3],
            conditions(Pressure::default(), None, &ready, &at(20))[..3]
        );
        // Still broken later: the transition time stays; working again: True, moved.
        let still = conditions(Pressure::default(), Some(why), &broken, &at(30));
        assert_eq!(still[3].last_transition_time, Some(at(20)));
        let fixed = conditions(Pressure::default(), None, &still, &at(40));
        assert_eq!(fixed[3].status, "True");
        assert_eq!(fixed[3].reason.as_deref(), Some("KubeletReady"));
        assert_eq!(fixed[3].last_transition_time, Some(at(40)));
    }
}
