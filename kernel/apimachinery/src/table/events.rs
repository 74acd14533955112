//! Events, core/v1 and `events.k8s.io/v1`. kube serves both from one storage and prints both
//! with the core printer, after converting an `events.k8s.io` event to the core shape
//! (`regarding` is `involvedObject`, `note` is `message`, `deprecated*` are the old fields).

use serde_json::Value;

use super::util::{at, opt_int, since, str_at, time};
use super::{Column, Printer, docs};

/// The printer of core/v1 `events`.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    (plural == "events").then_some(&CORE_EVENT)
}

/// The printer of `events.k8s.io` `events`.
pub(crate) fn printer_events_k8s_io(plural: &str) -> Option<&'static Printer> {
    (plural == "events").then_some(&EVENTS_K8S_IO_EVENT)
}

const COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", docs::EV_LAST_TIMESTAMP),
    Column::new("Type", "string", docs::EV_TYPE),
    Column::new("Reason", "string", docs::EV_REASON),
    Column::new("Object", "string", docs::EV_INVOLVED_OBJECT),
    Column::wide("Subobject", "string", docs::EV_FIELD_PATH),
    Column::wide("Source", "string", docs::EV_SOURCE),
    Column::new("Message", "string", docs::EV_MESSAGE),
    Column::wide("First Seen", "string", docs::EV_FIRST_TIMESTAMP),
    Column::wide("Count", "string", docs::EV_COUNT),
    Column::wide("Name", "string", docs::NAME).named(),
];

static CORE_EVENT: Printer = Printer::new(COLUMNS, |o, now| {
    cells(
        &Fields {
            involved: at(o, &["involvedObject"]),
            message: str_at(o, &["message"]),
            source: at(o, &["source"]),
            first_timestamp: &["firstTimestamp"],
            last_timestamp: &["lastTimestamp"],
            count: &["count"],
            reporting_controller: "reportingComponent",
        },
        o,
        now,
    )
});

static EVENTS_K8S_IO_EVENT: Printer = Printer::new(COLUMNS, |o, now| {
    cells(
        &Fields {
            involved: at(o, &["regarding"]),
            message: str_at(o, &["note"]),
            source: at(o, &["deprecatedSource"]),
            first_timestamp: &["deprecatedFirstTimestamp"],
            last_timestamp: &["deprecatedLastTimestamp"],
            count: &["deprecatedCount"],
            reporting_controller: "reportingController",
        },
        o,
        now,
    )
});

/// Where the fields that differ between the two versions are.
struct Fields<'a> {
    involved: &'a Value,
    message: &'a str,
    source: &'a Value,
    first_timestamp: &'static [&'static str],
    last_timestamp: &'static [&'static str],
    count: &'static [&'static str],
    /// `reportingComponent` in core/v1, `reportingController` in `events.k8s.io`.
    reporting_controller: &'static str,
}

fn cells(f: &Fields<'_>, o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let first = match time(o, f.first_timestamp) {
        Some(t) => since(Some(t), now),
        None => since(time(o, &["eventTime"]), now),
    };
    let mut last = match time(o, f.last_timestamp) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let series = at(o, &["series"]);
    let count = if series.is_null() {
        // Singleton events of the new API have no count.
        match opt_int(o, f.count).unwrap_or(0) {
            0 => 1,
            n => n,
        }
    } else {
        last = since(time(series, &["lastObservedTime"]), now);
        opt_int(series, &["count"]).unwrap_or(0)
    };

    let kind = str_at(f.involved, &["kind"]).to_lowercase();
    let involved_name = str_at(f.involved, &["name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };

    vec![
        last.into(),
        str_at(o, &["type"]).into(),
        str_at(o, &["reason"]).into(),
        target.into(),
        str_at(f.involved, &["fieldPath"]).into(),
        source(f, o).into(),
        f.message.trim().into(),
        first.into(),
        count.into(),
        super::util::name(o),
    ]
}

/// kube's `formatEventSource`: `component, host`, with the reporting controller and instance
/// standing in for missing parts.
fn source(f: &Fields<'_>, o: &Value) -> String {
    let first_non_empty = |a: &str, b: &str| -> String {
        match str_at(f.source, &[a]) {
            "" => str_at(o, &[b]).to_string(),
            s => s.to_string(),
        }
    };
    let component = first_non_empty("component", f.reporting_controller);
    let instance = first_non_empty("host", "reportingInstance");
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}
