//! Shape checks of a module's API arguments, before anything reaches the kernel.
//!
//! The sandbox checks only what would be unsafe or absurd to pass on: path segments that are
//! not names (a `/`, `..`, control characters), oversized strings and bodies, bodies that are
//! not JSON. What a valid object is stays the API server's business.

use crate::api::{ApiCall, ApiError, DeleteOptions, ListOptions, ResourceRef, WriteOptions};

/// The largest body the API server accepts (as kube-apiserver: 3 MiB).
pub(crate) const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// kube's longest object name (a DNS subdomain).
const MAX_NAME: usize = 253;
/// kube's longest field manager.
const MAX_FIELD_MANAGER: usize = 128;
/// Longest selector accepted.
const MAX_SELECTOR: usize = 16 * 1024;
/// Longest continue token or resourceVersion accepted.
const MAX_TOKEN: usize = 4 * 1024;

/// Checks every argument of `call`.
pub(crate) fn call(call: &ApiCall) -> Result<(), ApiError> {
    resource(call.res())?;
    if let Some(name) = call.name() {
        object_name(name)?;
    }
    if let Some(sub) = call.subresource() {
        subresource(sub)?;
    }
    if let Some(body) = call.body() {
        json_body(body, matches!(call, ApiCall::Patch { .. }))?;
    }
    match call {
        ApiCall::List { options, .. } => list_options(options),
        ApiCall::Create { options, .. }
        | ApiCall::CreateSubresource { options, .. }
        | ApiCall::Update { options, .. }
        | ApiCall::Patch { options, .. } => write_options(options),
        ApiCall::Delete { options, .. } => delete_options(options),
        ApiCall::Get { .. } => Ok(()),
    }
}

/// Checks a resource reference: group a DNS subdomain (or empty), version and resource
/// lower-case names, namespace a DNS label.
pub(crate) fn resource(res: &ResourceRef) -> Result<(), ApiError> {
    if !res.group.is_empty() && !is_dns_subdomain(&res.group) {
        return Err(ApiError::bad_request(format!(
            "invalid API group {:?}",
            clip(&res.group)
        )));
    }
    if !is_lower_alnum(&res.version, 63) {
        return Err(ApiError::bad_request(format!(
            "invalid API version {:?}",
            clip(&res.version)
        )));
    }
    if res.resource.is_empty()
        || res.resource.len() > MAX_NAME
        || !res
            .resource
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(ApiError::bad_request(format!(
            "invalid resource {:?}",
            clip(&res.resource)
        )));
    }
    if let Some(ns) = &res.namespace
        && !is_dns_label(ns)
    {
        return Err(ApiError::bad_request(format!(
            "invalid namespace {:?}",
            clip(ns)
        )));
    }
    Ok(())
}

/// Checks an object name: what kube accepts as a path segment for a name.
pub(crate) fn object_name(name: &str) -> Result<(), ApiError> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '%' || c.is_control() || c.is_whitespace());
    if bad {
        return Err(ApiError::bad_request(format!(
            "invalid object name {:?}",
            clip(name)
        )));
    }
    Ok(())
}

fn subresource(sub: &str) -> Result<(), ApiError> {
    if !is_lower_alnum(sub, 63) {
        return Err(ApiError::bad_request(format!(
            "invalid subresource {:?}",
            clip(sub)
        )));
    }
    Ok(())
}

/// Checks a body: at most 3 MiB (413), JSON (400); an object unless it is a patch (a JSON
/// patch is an array).
fn json_body(body: &str, patch: bool) -> Result<(), ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(format!(
            "the request body is {} bytes, more than the limit of {MAX_BODY_BYTES}",
            body.len()
        )));
    }
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not JSON: {e}")))?;
    if !patch && !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    }
    Ok(())
}

pub(crate) fn list_options(options: &ListOptions) -> Result<(), ApiError> {
    for (what, value, max) in [
        ("labelSelector", &options.label_selector, MAX_SELECTOR),
        ("fieldSelector", &options.field_selector, MAX_SELECTOR),
        ("continue", &options.continue_token, MAX_TOKEN),
    ] {
        if let Some(v) = value
            && (v.len() > max || v.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(format!(
                "invalid {what}: {} bytes",
                v.len()
            )));
        }
    }
    Ok(())
}

fn write_options(options: &WriteOptions) -> Result<(), ApiError> {
    if let Some(manager) = &options.field_manager
        && (manager.len() > MAX_FIELD_MANAGER || manager.chars().any(|c| c.is_control()))
    {
        return Err(ApiError::invalid(format!(
            "fieldManager: Invalid value: {:?}: must be printable and at most {MAX_FIELD_MANAGER} characters",
            clip(manager)
        )));
    }
    Ok(())
}

fn delete_options(options: &DeleteOptions) -> Result<(), ApiError> {
    if let Some(policy) = &options.propagation_policy
        && !matches!(policy.as_str(), "Foreground" | "Background" | "Orphan")
    {
        return Err(ApiError::invalid(format!(
            "propagationPolicy: Unsupported value: {:?}: supported values: \"Foreground\", \"Background\", \"Orphan\"",
            clip(policy)
        )));
    }
    if let Some(seconds) = options.grace_period_seconds
        && seconds < 0
    {
        return Err(ApiError::invalid(format!(
            "gracePeriodSeconds: Invalid value: {seconds}: must be >= 0"
        )));
    }
    for (what, value) in [
        ("uid", &options.precondition_uid),
        ("resourceVersion", &options.precondition_resource_version),
    ] {
        if let Some(v) = value
            && (v.len() > MAX_TOKEN || v.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(format!(
                "invalid precondition {what}"
            )));
        }
    }
    Ok(())
}

fn is_lower_alnum(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// An RFC 1123 label: lower-case alphanumerics and `-`, alphanumeric at both ends, ≤ 63.
pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// An RFC 1123 subdomain: labels joined by dots, ≤ 253.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= MAX_NAME && s.split('.').all(is_dns_label)
}

/// A string cut to 64 characters for a message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(ns: &str) -> ResourceRef {
        ResourceRef {
            group: String::new(),
            version: "v1".into(),
            resource: "configmaps".into(),
            namespace: Some(ns.into()),
        }
    }

    fn get(res: ResourceRef, name: &str, sub: Option<&str>) -> ApiCall {
        ApiCall::Get {
            res,
            name: name.into(),
            subresource: sub.map(String::from),
        }
    }

    fn create(body: &str) -> ApiCall {
        ApiCall::Create {
            res: cm("default"),
            body: body.into(),
            options: WriteOptions::default(),
        }
    }

    #[test]
    fn well_formed_calls_pass() {
        call(&get(cm("default"), "my-config.v1", None)).unwrap();
        call(&get(cm("kube-system"), "x", Some("status"))).unwrap();
        let deploy = ResourceRef {
            group: "apps".into(),
            resource: "deployments".into(),
            ..cm("a")
        };
        call(&get(deploy, "web", Some("scale"))).unwrap();
        call(&create(r#"{"metadata":{"name":"a"}}"#)).unwrap();
        let patch = ApiCall::Patch {
            res: cm("default"),
            name: "a".into(),
            subresource: None,
            patch_type: crate::api::PatchType::Json,
            body: r#"[{"op":"remove","path":"/data"}]"#.into(),
            options: WriteOptions::default(),
        };
        call(&patch).unwrap();
    }

    #[test]
    fn garbage_is_a_clean_api_error() {
        let code = |c: ApiCall| call(&c).unwrap_err().code;
        assert_eq!(code(get(cm("default"), "../../secrets/x", None)), 400);
        assert_eq!(code(get(cm("default"), "", None)), 400);
        assert_eq!(code(get(cm("default"), "a b", None)), 400);
        assert_eq!(code(get(cm("a/b"), "x", None)), 400);
        assert_eq!(code(get(cm("default"), "x", Some("status/../x"))), 400);
        assert_eq!(
            code(get(
                ResourceRef {
                    resource: "config maps".into(),
                    ..cm("d")
                },
                "x",
                None
            )),
            400
        );
        assert_eq!(
            code(get(
                ResourceRef {
                    group: "-x".into(),
                    ..cm("d")
                },
                "x",
                None
            )),
            400
        );
        assert_eq!(
            code(get(
                ResourceRef {
                    version: "".into(),
                    ..cm("d")
                },
                "x",
                None
            )),
            400
        );
        assert_eq!(code(create("{not json")), 400);
        assert_eq!(code(create("[1]")), 400);
        let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(code(create(&huge)), 413);
        let long_manager = ApiCall::Create {
            res: cm("default"),
            body: "{}".into(),
            options: WriteOptions {
                field_manager: Some("m".repeat(200)),
                ..Default::default()
            },
        };
        assert_eq!(code(long_manager), 422);
        let bad_policy = ApiCall::Delete {
            res: cm("default"),
            name: "x".into(),
            options: DeleteOptions {
                propagation_policy: Some("Sideways".into()),
                ..Default::default()
            },
        };
        assert_eq!(code(bad_policy), 422);
        let long_selector = ApiCall::List {
            res: cm("default"),
            options: ListOptions {
                label_selector: Some("x".repeat(100_000)),
                ..Default::default()
            },
        };
        assert_eq!(code(long_selector), 400);
    }

    #[test]
    fn messages_quote_at_most_a_clip_of_the_garbage() {
        let err = call(&get(cm("default"), &"/".repeat(10_000), None)).unwrap_err();
        assert!(err.message.len() < 200, "{}", err.message);
    }
}
