//! Between the generated WIT types and the sandbox's own.

use crate::api::{self, ApiError};
use crate::bindings::kmicro::module::types as wit;
use crate::informer::{Delivery, EventKind};
use crate::logs::LogLevel;
use crate::manifest::PolicyRule;

impl From<wit::ResourceRef> for api::ResourceRef {
    fn from(r: wit::ResourceRef) -> Self {
        api::ResourceRef {
            group: r.group,
            version: r.version,
            resource: r.resource,
            namespace: r.namespace,
        }
    }
}

impl From<wit::ListOptions> for api::ListOptions {
    fn from(o: wit::ListOptions) -> Self {
        api::ListOptions {
            label_selector: o.label_selector,
            field_selector: o.field_selector,
            limit: o.limit,
            continue_token: o.continue_token,
        }
    }
}

impl From<wit::PatchType> for api::PatchType {
    fn from(p: wit::PatchType) -> Self {
        match p {
            wit::PatchType::Json => api::PatchType::Json,
            wit::PatchType::Merge => api::PatchType::Merge,
            wit::PatchType::Strategic => api::PatchType::Strategic,
            wit::PatchType::Apply => api::PatchType::Apply,
        }
    }
}

impl From<wit::WriteOptions> for api::WriteOptions {
    fn from(o: wit::WriteOptions) -> Self {
        api::WriteOptions {
            dry_run: o.dry_run,
            field_manager: o.field_manager,
            force: o.force,
        }
    }
}

impl From<wit::DeleteOptions> for api::DeleteOptions {
    fn from(o: wit::DeleteOptions) -> Self {
        api::DeleteOptions {
            propagation_policy: o.propagation_policy,
            grace_period_seconds: o.grace_period_seconds,
            precondition_uid: o.precondition_uid,
            precondition_resource_version: o.precondition_resource_version,
        }
    }
}

impl From<ApiError> for wit::ApiError {
    fn from(e: ApiError) -> Self {
        wit::ApiError {
            code: e.code,
            reason: e.reason,
            message: e.message,
        }
    }
}

impl From<wit::PolicyRule> for PolicyRule {
    fn from(r: wit::PolicyRule) -> Self {
        PolicyRule {
            api_groups: r.api_groups,
            resources: r.resources,
            verbs: r.verbs,
        }
    }
}

impl From<wit::Level> for LogLevel {
    fn from(l: wit::Level) -> Self {
        match l {
            wit::Level::Trace => LogLevel::Trace,
            wit::Level::Debug => LogLevel::Debug,
            wit::Level::Info => LogLevel::Info,
            wit::Level::Warn => LogLevel::Warn,
            wit::Level::Error => LogLevel::Error,
        }
    }
}

impl From<Delivery> for wit::WatchEvent {
    fn from(d: Delivery) -> Self {
        let event_type = match d.kind {
            EventKind::Added => wit::EventType::Added,
            EventKind::Modified => wit::EventType::Modified,
            EventKind::Deleted => wit::EventType::Deleted,
            EventKind::Synced => wit::EventType::Synced,
        };
        wit::WatchEvent {
            watch: d.watch,
            event_type,
            object: d.object,
        }
    }
}
