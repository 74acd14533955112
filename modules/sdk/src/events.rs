//! Kubernetes Events about objects, as `kubectl describe` and `kubectl get events` show them.

use std::cell::Cell;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::Api;
use crate::error::Error;
use crate::resource::{Object, ResourceExt};
use crate::time;

/// Whether an event is routine or reports a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Routine: `Scheduled`, `SuccessfulCreate`.
    Normal,
    /// A problem: `FailedScheduling`, `FailedCreate`.
    Warning,
}

thread_local! {
    static SEQUENCE: Cell<u32> = const { Cell::new(0) };
}

/// Records an event about `obj` from `component` (such as `default-scheduler`).
pub fn record<K: Object>(
    obj: &K,
    event_type: EventType,
    reason: &str,
    message: &str,
    component: &str,
) -> Result<(), Error> {
    let namespace = match obj.namespace_any() {
        "" => "default",
        ns => ns,
    };
    let now = time::now();
    let sequence = SEQUENCE.with(|s| {
        s.set(s.get().wrapping_add(1));
        s.get()
    });
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}{:04x}",
                obj.name_any(),
                time::now_millis(),
                sequence & 0xffff
            )),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(K::API_VERSION.to_string()),
            kind: Some(K::KIND.to_string()),
            name: Some(obj.name_any().to_string()),
            namespace: obj.metadata().namespace.clone(),
            uid: obj.metadata().uid.clone(),
            resource_version: obj.metadata().resource_version.clone(),
            field_path: None,
        },
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        type_: Some(
            match event_type {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .to_string(),
        ),
        source: Some(EventSource {
            component: Some(component.to_string()),
            host: None,
        }),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(component.to_string()),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        ..Event::default()
    };
    Api::<Event>::namespaced(namespace).create(&event)?;
    Ok(())
}
