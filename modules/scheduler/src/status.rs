//! The outcome of a filter on one node, as kube-scheduler's framework `Status` carries it.

/// How a node refused a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Refused now; evicting lower-priority pods could change that (resources, ports).
    Unschedulable,
    /// Refused whatever runs there (taints, affinity, a cordon): preemption cannot help.
    UnschedulableAndUnresolvable,
}

/// Why a node refused a pod: a code and the reasons, each as kube words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// How final the refusal is.
    pub code: Code,
    /// The reasons, such as `Insufficient cpu`; each is counted in the failure message.
    pub reasons: Vec<String>,
}

impl Status {
    /// A refusal that preemption could resolve.
    pub fn unschedulable(reasons: Vec<String>) -> Self {
        Self {
            code: Code::Unschedulable,
            reasons,
        }
    }

    /// A refusal that preemption cannot resolve, for one reason.
    pub fn unresolvable(reason: &str) -> Self {
        Self {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.to_string()],
        }
    }
}
