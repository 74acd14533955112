//! The workload the controllers must not lose track of: Deployments created at one replica,
//! then scaled to 3 and back to 2 over and over while something else (the swaps) goes on, and
//! the check that each one converged (one ReplicaSet at the Deployment's replicas, that many
//! live pods, all bound to a node, statuses caught up).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::ApiClient;

/// The benchmark's namespace (created for the run; the server's data dir is temporary).
const NAMESPACE: &str = "kmicro-bench-modules";
/// Names of the Deployments: `bench-000`, …
const PREFIX: &str = "bench-";
/// The replica counts every churn cycle goes through; the last one is the final spec.
const CYCLE: [i64; 2] = [3, 2];
/// A breath between scale operations, so the churn spreads over the swaps.
const PACE: Duration = Duration::from_millis(20);
/// How often convergence is checked.
const POLL: Duration = Duration::from_millis(500);

fn name(i: usize) -> String {
    format!("{PREFIX}{i:03}")
}

fn deployments_path() -> String {
    format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments")
}

/// A Deployment of `replicas` pause pods. Its pods tolerate the node's pressure taints: the
/// benchmark runs on development machines whose disks may be nearly full, and measures the
/// controllers, not eviction.
fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}],
                    "tolerations": [
                        {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
                        {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
                    ],
                },
            },
        },
    })
}

/// Creates `count` Deployments, then scales each through [`CYCLE`] again and again until
/// `alongside` (run concurrently) is done, at least once. Returns the number of scale
/// operations and what `alongside` returned.
pub(super) async fn run<T>(
    client: &ApiClient,
    count: usize,
    alongside: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(usize, T)> {
    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    client
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Some(Bytes::from(namespace.to_string())),
        )
        .await?
        .expect(
            StatusCode::CREATED,
            &format!("creating namespace {NAMESPACE}"),
        )?;

    let done = AtomicBool::new(false);
    let alongside = async {
        let result = alongside.await;
        done.store(true, Ordering::Relaxed);
        result
    };
    let churn = async {
        for i in 0..count {
            let body = Bytes::from(deployment(&name(i), 1).to_string());
            client
                .call(Method::POST, &deployments_path(), Some(body))
                .await?
                .expect(
                    StatusCode::CREATED,
                    &format!("creating Deployment {}", name(i)),
                )?;
            tokio::time::sleep(PACE).await;
        }
        let mut ops = 0;
        loop {
            for replicas in CYCLE {
                for i in 0..count {
                    scale(client, &name(i), replicas).await?;
                    ops += 1;
                    tokio::time::sleep(PACE).await;
                }
            }
            if done.load(Ordering::Relaxed) {
                return anyhow::Ok(ops);
            }
        }
    };
    let (swapped, ops) = tokio::join!(alongside, churn);
    Ok((ops?, swapped?))
}

async fn scale(client: &ApiClient, name: &str, replicas: i64) -> anyhow::Result<()> {
    let patch = json!({"spec": {"replicas": replicas}});
    client
        .call_body(
            Method::PATCH,
            &format!("{}/{name}", deployments_path()),
            Some((
                "application/merge-patch+json",
                Bytes::from(patch.to_string()),
            )),
        )
        .await?
        .expect(
            StatusCode::OK,
            &format!("scaling Deployment {name} to {replicas}"),
        )?;
    Ok(())
}

/// Waits up to `timeout` for the `count` Deployments to converge; returns what is still wrong
/// with each one that did not (empty: all converged).
pub(super) async fn converge(
    client: &ApiClient,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    loop {
        let wrong = check(client, count).await?;
        if wrong.is_empty() || Instant::now() > deadline {
            return Ok(wrong);
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn list(client: &ApiClient, path: &str) -> anyhow::Result<Vec<Value>> {
    let body = client
        .call(Method::GET, path, None)
        .await?
        .expect(StatusCode::OK, &format!("listing {path}"))?;
    let list: Value = serde_json::from_slice(&body).with_context(|| format!("{path}: not JSON"))?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// One line per Deployment that has not converged.
async fn check(client: &ApiClient, count: usize) -> anyhow::Result<Vec<String>> {
    let deployments = list(client, &deployments_path()).await?;
    let replica_sets = list(
        client,
        &format!("/apis/apps/v1/namespaces/{NAMESPACE}/replicasets"),
    )
    .await?;
    let pods = list(client, &format!("/api/v1/namespaces/{NAMESPACE}/pods")).await?;
    let by_name: BTreeMap<&str, &Value> = deployments
        .iter()
        .filter_map(|d| Some((d["metadata"]["name"].as_str()?, d)))
        .collect();
    Ok((0..count)
        .filter_map(|i| {
            let name = name(i);
            let problem = match by_name.get(name.as_str()) {
                None => Some("missing".to_string()),
                Some(d) => problem(d, &replica_sets, &pods),
            };
            problem.map(|p| format!("Deployment {NAMESPACE}/{name}: {p}"))
        })
        .collect())
}

/// Whether `object` has a controller owner reference to uid `owner`.
fn owned_by(object: &Value, owner: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["uid"].as_str() == Some(owner) && r["controller"] == json!(true))
        })
}

/// What is wrong with Deployment `d`, if anything.
fn problem(d: &Value, replica_sets: &[Value], pods: &[Value]) -> Option<String> {
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(0);
    if observed < generation {
        return Some(format!(
            "status.observedGeneration {observed} < generation {generation}"
        ));
    }
    let uid = d["metadata"]["uid"].as_str().unwrap_or_default();
    let owned: Vec<&Value> = replica_sets.iter().filter(|rs| owned_by(rs, uid)).collect();
    let [rs] = owned.as_slice() else {
        return Some(format!("{} ReplicaSets, expected 1", owned.len()));
    };
    let rs_spec = rs["spec"]["replicas"].as_i64().unwrap_or(1);
    let rs_status = rs["status"]["replicas"].as_i64().unwrap_or(0);
    if rs_spec != want || rs_status != want {
        return Some(format!(
            "ReplicaSet spec.replicas {rs_spec}, status.replicas {rs_status}, expected {want}"
        ));
    }
    let rs_uid = rs["metadata"]["uid"].as_str().unwrap_or_default();
    let live: Vec<&Value> = pods
        .iter()
        .filter(|p| owned_by(p, rs_uid) && p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    if live.len() as i64 != want {
        return Some(format!("{} live pods, expected {want}", live.len()));
    }
    let unbound = live
        .iter()
        .filter(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        })
        .count();
    if unbound > 0 {
        return Some(format!("{unbound} pods not bound to a node"));
    }
    let replicas = d["status"]["replicas"].as_i64().unwrap_or(0);
    let updated = d["status"]["updatedReplicas"].as_i64().unwrap_or(0);
    if replicas != want || updated != want {
        return Some(format!(
            "status.replicas {replicas}, updatedReplicas {updated}, expected {want}"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(uid: &str, extra: Value) -> Value {
        let mut object = json!({"metadata": {"uid": format!("{uid}-child"),
            "ownerReferences": [{"uid": uid, "controller": true}]}});
        if let (Some(o), Some(e)) = (object.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        object
    }

    fn converged() -> (Value, Vec<Value>, Vec<Value>) {
        let d = json!({"metadata": {"uid": "d", "generation": 3},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2}});
        let mut rs = owned(
            "d",
            json!({"spec": {"replicas": 2}, "status": {"replicas": 2}}),
        );
        rs["metadata"]["uid"] = json!("rs");
        let pod = owned("rs", json!({"spec": {"nodeName": "n"}}));
        (d, vec![rs], vec![pod.clone(), pod])
    }

    #[test]
    fn a_converged_deployment_has_no_problem() {
        let (d, rs, pods) = converged();
        assert_eq!(problem(&d, &rs, &pods), None);
    }

    #[test]
    fn missing_pods_unbound_pods_and_stale_status_are_problems() {
        let (d, rs, mut pods) = converged();
        pods.pop();
        assert_eq!(
            problem(&d, &rs, &pods).as_deref(),
            Some("1 live pods, expected 2")
        );

        let (d, rs, mut pods) = converged();
        pods[1]["spec"]["nodeName"] = json!("");
        assert_eq!(
            problem(&d, &rs, &pods).as_deref(),
            Some("1 pods not bound to a node")
        );

        let (mut d, rs, pods) = converged();
        d["status"]["observedGeneration"] = json!(2);
        assert!(problem(&d, &rs, &pods).is_some());

        let (d, mut rs, pods) = converged();
        rs[0]["spec"]["replicas"] = json!(3);
        assert!(problem(&d, &rs, &pods).is_some());
    }

    #[test]
    fn terminating_pods_do_not_count() {
        let (d, rs, mut pods) = converged();
        let mut extra = pods[0].clone();
        extra["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        pods.push(extra);
        assert_eq!(problem(&d, &rs, &pods), None);
    }
}
