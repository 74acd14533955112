//! Time as the host tells it.

use crate::bindings::kmicro::module::clock;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    clock::now_millis()
}

/// The current time as a Kubernetes `Time` (RFC 3339, seconds precision), for conditions,
/// events and `startTime` fields.
pub fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(timestamp(now_millis()))
}

/// The `jiff::Timestamp` (as k8s-openapi uses) of `millis` since the epoch.
pub fn timestamp(millis: u64) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_millisecond(millis as i64)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

/// Milliseconds since the epoch of a Kubernetes `Time`.
pub fn millis_of(time: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> u64 {
    time.0.as_millisecond().max(0) as u64
}
