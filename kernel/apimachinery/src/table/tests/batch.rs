//! Jobs and cron jobs.

use serde_json::{Value, json};

use super::{ago, headers, row};

fn job(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"containers": [
        {"name": "pi", "image": "perl:5.34.0", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}
    ], "restartPolicy": "Never"}});
    spec["selector"] = json!({"matchLabels": {
        "batch.kubernetes.io/controller-uid": "863452e6-270d-420e-9b94-53a54146c223"}});
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "creationTimestamp": ago(300)},
        "spec": spec,
        "status": status,
    })
}

#[test]
fn job_columns() {
    assert_eq!(
        headers("batch", "jobs"),
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
}

#[test]
fn completed_job() {
    let j = job(
        json!({"completions": 1, "parallelism": 1, "backoffLimit": 4}),
        json!({
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"},
            ],
            "startTime": ago(300),
            "completionTime": ago(291),
            "succeeded": 1,
            "ready": 0,
        }),
    );
    assert_eq!(
        row("batch", "jobs", j),
        [
            "pi",
            "Complete",
            "1/1",
            "9s",
            "5m",
            "pi",
            "perl:5.34.0",
            "batch.kubernetes.io/controller-uid=863452e6-270d-420e-9b94-53a54146c223"
        ]
    );
}

#[test]
fn running_failed_suspended_and_terminating_jobs() {
    let running = job(
        json!({"completions": 5, "parallelism": 2}),
        json!({"startTime": ago(100), "active": 2, "succeeded": 2, "ready": 2}),
    );
    assert_eq!(
        row("batch", "jobs", running)[1..4],
        ["Running", "2/5", "100s"]
    );

    let work_queue = job(
        json!({"parallelism": 3}),
        json!({"startTime": ago(4000), "active": 3}),
    );
    assert_eq!(
        row("batch", "jobs", work_queue)[1..4],
        ["Running", "0/1 of 3", "66m"]
    );

    let failed = job(
        json!({"completions": 1, "parallelism": 1}),
        json!({"conditions": [{"type": "FailureTarget", "status": "True"},
                              {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
               "startTime": ago(250), "failed": 5}),
    );
    assert_eq!(
        row("batch", "jobs", failed)[1..4],
        ["Failed", "0/1", "4m10s"]
    );

    let failing = job(
        json!({"completions": 1, "parallelism": 1}),
        json!({"conditions": [{"type": "FailureTarget", "status": "True"}], "startTime": ago(30)}),
    );
    assert_eq!(row("batch", "jobs", failing)[1], "FailureTarget");

    let suspended = job(
        json!({"completions": 1, "parallelism": 1, "suspend": true}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    assert_eq!(
        row("batch", "jobs", suspended)[1..4],
        ["Suspended", "0/1", ""]
    );

    let mut terminating = job(
        json!({}),
        json!({"conditions": [
        {"type": "Suspended", "status": "False"}]}),
    );
    terminating["metadata"]["deletionTimestamp"] = json!(ago(0));
    assert_eq!(
        row("batch", "jobs", terminating)[1..3],
        ["Terminating", "0/1"]
    );
}

#[test]
fn cron_jobs() {
    assert_eq!(
        headers("batch", "cronjobs"),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let cj = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "hello", "creationTimestamp": ago(600)},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": "Allow",
            "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "hello", "image": "busybox:1.28",
                                "command": ["/bin/sh", "-c", "date; echo Hello"]}],
                "restartPolicy": "OnFailure"}}}},
        },
        "status": {"active": [{"kind": "Job", "name": "hello-28581960"}],
                   "lastScheduleTime": ago(30), "lastSuccessfulTime": ago(80)},
    });
    assert_eq!(
        row("batch", "cronjobs", cj),
        [
            "hello",
            "* * * * *",
            "<none>",
            "False",
            "1",
            "30s",
            "10m",
            "hello",
            "busybox:1.28",
            "<none>"
        ]
    );

    let never = json!({
        "metadata": {"name": "nightly", "creationTimestamp": ago(60)},
        "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Paris", "suspend": true,
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    });
    assert_eq!(
        row("batch", "cronjobs", never),
        [
            "nightly",
            "0 3 * * *",
            "Europe/Paris",
            "True",
            "0",
            "<none>",
            "60s",
            "",
            "",
            "<none>"
        ]
    );
}
