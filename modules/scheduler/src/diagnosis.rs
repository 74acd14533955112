//! The failure message of a pod no node takes, as kube-scheduler's `FitError` words it:
//! `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s).`
//! followed by what preemption found.

use std::collections::BTreeMap;

use crate::status::Status;

/// The message when the cluster has no nodes at all (kube's `ErrNoNodesAvailable`).
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// `0/<nodes> nodes are available: <count> <reason>, ….` with the reasons of every refusing
/// node counted and the `<count> <reason>` strings sorted (byte order, as Go's
/// `sort.Strings`), then ` <post_filter>` when preemption has something to say.
pub fn fit_error<'a>(
    nodes: usize,
    statuses: impl IntoIterator<Item = &'a Status>,
    post_filter: Option<&str>,
) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for status in statuses {
        for reason in &status.reasons {
            *counts.entry(reason.as_str()).or_insert(0) += 1;
        }
    }
    let mut histogram: Vec<String> = counts
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    histogram.sort();
    let mut message = format!("0/{nodes} nodes are available:");
    if !histogram.is_empty() {
        message.push_str(&format!(" {}.", histogram.join(", ")));
    }
    if let Some(post) = post_filter.filter(|p| !p.is_empty()) {
        message.push(' ');
        message.push_str(post);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::{REASON_AFFINITY, REASON_TAINT};

    #[test]
    fn one_node_short_of_cpu_with_preemption() {
        let statuses = [Status::unschedulable(vec!["Insufficient cpu".into()])];
        let preemption = format!(
            "preemption: {}",
            fit_error(
                1,
                &[Status::unresolvable(
                    "No preemption victims found for incoming pod"
                )],
                None
            )
        );
        assert_eq!(
            fit_error(1, &statuses, Some(&preemption)),
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: \
             1 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn reasons_are_counted_and_sorted_as_strings() {
        let mut statuses = vec![
            Status::unresolvable(REASON_TAINT),
            Status::unresolvable(REASON_AFFINITY),
            Status::unschedulable(vec![
                "Insufficient memory".into(),
                "Insufficient cpu".into(),
            ]),
        ];
        statuses.extend((0..10).map(|_| Status::unschedulable(vec!["Insufficient cpu".into()])));
        assert_eq!(
            fit_error(13, &statuses, None),
            "0/13 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node \
             affinity/selector, 1 node(s) had untolerated taint(s), 11 Insufficient cpu."
        );
    }

    #[test]
    fn without_reasons_only_the_count_remains() {
        assert_eq!(fit_error(0, &[], None), "0/0 nodes are available:");
        assert_eq!(
            fit_error(
                2,
                &[],
                Some("preemption: not eligible due to preemptionPolicy=Never.")
            ),
            "0/2 nodes are available: preemption: not eligible due to preemptionPolicy=Never."
        );
    }
}
