//! The small groups: `coordination.k8s.io` (leases), `policy` (pod disruption budgets) and
//! `scheduling.k8s.io` (priority classes).

use super::util::{age, at, bool_at, int_at, int_or_string, is_set, name, opt_str, str_at};
use super::{AGE, Column, NAME, Printer, docs};

/// The printer of a resource of one of these groups.
pub(crate) fn printer(group: &str, plural: &str) -> Option<&'static Printer> {
    Some(match (group, plural) {
        ("coordination.k8s.io", "leases") => &LEASE,
        ("policy", "poddisruptionbudgets") => &POD_DISRUPTION_BUDGET,
        ("scheduling.k8s.io", "priorityclasses") => &PRIORITY_CLASS,
        _ => return None,
    })
}

static LEASE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Holder", "string", docs::LEASE_HOLDER),
        AGE,
    ],
    |o, now| {
        vec![
            name(o),
            str_at(o, &["spec", "holderIdentity"]).into(),
            age(o, now),
        ]
    },
);

static POD_DISRUPTION_BUDGET: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        Column::new(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        Column::new(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        AGE,
    ],
    |o, now| {
        let int_or_na = |field| {
            let v = at(o, &["spec", field]);
            if is_set(o, &["spec", field]) {
                int_or_string(v)
            } else {
                "N/A".to_string()
            }
        };
        vec![
            name(o),
            int_or_na("minAvailable").into(),
            int_or_na("maxUnavailable").into(),
            int_at(o, &["status", "disruptionsAllowed"]).into(),
            age(o, now),
        ]
    },
);

static PRIORITY_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new("Value", "integer", docs::PC_VALUE),
        Column::new("Global-Default", "boolean", docs::PC_GLOBAL_DEFAULT),
        AGE,
        Column::new("PreemptionPolicy", "string", docs::PC_PREEMPTION_POLICY),
    ],
    |o, now| {
        // kube defaults `preemptionPolicy` to PreemptLowerPriority.
        let preemption = opt_str(o, &["preemptionPolicy"]).unwrap_or("PreemptLowerPriority");
        vec![
            name(o),
            int_at(o, &["value"]).into(),
            bool_at(o, &["globalDefault"]).into(),
            age(o, now),
            preemption.into(),
        ]
    },
);
