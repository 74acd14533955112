//! `batch`: jobs and cron jobs.

use serde_json::Value;

use super::util::{
    age, arr_at, at, containers, deleting, format_label_selector, int_at, name, opt_bool, opt_int,
    opt_str, print_bool, since, str_at, time,
};
use super::{AGE, Column, NAME, Printer, docs, human_duration};

/// The printer of a `batch` resource.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    match plural {
        "jobs" => Some(&JOB),
        "cronjobs" => Some(&CRON_JOB),
        _ => None,
    }
}

const CONTAINERS: Column = Column::wide("Containers", "string", docs::CONTAINERS);
const IMAGES: Column = Column::wide("Images", "string", docs::IMAGES);
const SELECTOR: Column = Column::wide("Selector", "string", docs::JOB_SELECTOR);

static JOB: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "Status of the job."),
        Column::new("Completions", "string", docs::JOB_SUCCEEDED),
        Column::new("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    job_cells,
);

/// Whether the job's first condition of type `ty` is `True`.
fn has_condition(job: &Value, ty: &str) -> bool {
    arr_at(job, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == ty)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn job_cells(o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let succeeded = int_at(o, &["status", "succeeded"]);
    let completions = match opt_int(o, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match opt_int(o, &["spec", "parallelism"]).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time(o, &["status", "startTime"]),
        time(o, &["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let status = if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if deleting(o) {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else if has_condition(o, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers(arr_at(o, &["spec", "template", "spec", "containers"]));
    vec![
        name(o),
        status.into(),
        completions.into(),
        duration.into(),
        age(o, now),
        names,
        images,
        format_label_selector(at(o, &["spec", "selector"])).into(),
    ]
}

static CRON_JOB: Printer = Printer::new(
    &[
        NAME,
        Column::new("Schedule", "string", docs::CJ_SCHEDULE),
        Column::new("Timezone", "string", docs::CJ_TIME_ZONE),
        Column::new("Suspend", "boolean", docs::CJ_SUSPEND),
        Column::new("Active", "integer", docs::CJ_ACTIVE),
        Column::new("Last Schedule", "string", docs::CJ_LAST_SCHEDULE),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    |o, now| {
        let last_schedule = match at(o, &["status", "lastScheduleTime"]) {
            Value::Null => "<none>".to_string(),
            _ => since(time(o, &["status", "lastScheduleTime"]), now),
        };
        let job_spec = at(o, &["spec", "jobTemplate", "spec"]);
        let (names, images) = containers(arr_at(job_spec, &["template", "spec", "containers"]));
        // kube defaults `suspend` to false.
        let suspend = print_bool(opt_bool(o, &["spec", "suspend"]).unwrap_or(false));
        vec![
            name(o),
            str_at(o, &["spec", "schedule"]).into(),
            opt_str(o, &["spec", "timeZone"]).unwrap_or("<none>").into(),
            suspend.into(),
            (arr_at(o, &["status", "active"]).len() as i64).into(),
            last_schedule.into(),
            age(o, now),
            names,
            images,
            format_label_selector(at(job_spec, &["selector"])).into(),
        ]
    },
);
