//! API errors and their `Status` objects.

use http::StatusCode;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_apimachinery::status::Cause;
use kmicro_store::StoreError;
use serde_json::{Value, json};

/// An error answered as a Kubernetes `Status` object.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status code.
    pub code: StatusCode,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, …).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details` (name, group, kind, causes), if any.
    pub details: Option<Value>,
}

/// Result of an API operation.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error without details.
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 NotFound for a path that is not an API endpoint.
    pub fn path_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 404 NotFound for an object.
    pub fn not_found(resource: &ResourceInfo, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource)),
        )
        .with_details(resource, name)
    }

    /// 409 AlreadyExists.
    pub fn already_exists(resource: &ResourceInfo, name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(resource)),
        )
        .with_details(resource, name)
    }

    /// 403 Forbidden by admission: `<resource> "<name>" is forbidden: <why>`.
    pub fn forbidden(resource: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("{} \"{name}\" is forbidden: {why}", qualified(resource)),
        )
        .with_details(resource, name)
    }

    /// 409 Conflict on a stale resourceVersion or a failed precondition.
    pub fn conflict(resource: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(resource)
            ),
        )
        .with_details(resource, name)
    }

    /// 409 Conflict for an update built on an old version of the object.
    pub fn stale(resource: &ResourceInfo, name: &str) -> Self {
        Self::conflict(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid with field causes.
    pub fn invalid(resource: &ResourceInfo, name: &str, causes: Vec<Cause>) -> Self {
        // kube names the kind with its group (`Deployment.apps`, `Widget.example.com`).
        let kind = if resource.group.is_empty() {
            resource.kind.to_string()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {}", causes_summary(&causes)),
        );
        err.details = Some(json!({
            "name": name,
            "group": resource.group,
            "kind": resource.kind,
            "causes": causes,
        }));
        err
    }

    /// 422 Invalid for request options (`PatchOptions`, `CreateOptions`…), which kube names
    /// `PatchOptions.meta.k8s.io ""`.
    pub fn invalid_options(kind: &str, causes: Vec<Cause>) -> Self {
        Self::invalid_other("meta.k8s.io", kind, "", causes)
    }

    /// 422 Invalid for something other than a stored kind (request options, a patch), as
    /// kube's `NewInvalid` words it: `<Kind>.<group> "<name>" is invalid: <causes>`, where
    /// kind, group and name may be empty (then left out of `details`).
    pub fn invalid_other(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!(
                "{qualified} \"{name}\" is invalid: {}",
                causes_summary(&causes)
            ),
        );
        let mut details = serde_json::Map::new();
        for (key, value) in [("name", name), ("group", group), ("kind", kind)] {
            if !value.is_empty() {
                details.insert(key.into(), json!(value));
            }
        }
        details.insert("causes".into(), json!(causes));
        err.details = Some(Value::Object(details));
        err
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 410 Expired (Gone) for a compacted resourceVersion.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/json-patch+json (got {content_type})"
            ),
        )
    }

    /// 415 UnsupportedMediaType for a patch of a type the resource does not take, listing
    /// the ones it does (kube's wording).
    pub fn unsupported_patch_type(accepted: &[&str]) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    fn with_details(mut self, resource: &ResourceInfo, name: &str) -> Self {
        self.details = Some(json!({
            "name": name,
            "group": resource.group,
            "kind": resource.plural,
        }));
        self
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// Field causes as kube's aggregate error lists them in a message: `field: message`, one
/// alone as is, several as `[a, b]`.
fn causes_summary(causes: &[Cause]) -> String {
    let summary: Vec<String> = causes
        .iter()
        .map(|c| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        })
        .collect();
    if summary.len() == 1 {
        summary[0].clone()
    } else {
        format!("[{}]", summary.join(", "))
    }
}

/// `resource.group` or just `resource` for the core group, as kube names resources in messages.
pub fn qualified(resource: &ResourceInfo) -> String {
    if resource.group.is_empty() {
        resource.plural.to_string()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Compacted {
                requested,
                compact_revision,
            } => Self::expired(format!(
                "The resourceVersion for the provided request is too old: {requested} has been compacted (oldest retained: {compact_revision})"
            )),
            StoreError::FutureRevision { requested, current } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "Timeout",
                format!("Too large resource version: {requested}, current: {current}"),
            ),
            StoreError::InvalidArgument(message) => Self::bad_request(message),
            other => {
                tracing::error!(error = %other, "store failure");
                Self::internal(format!("storage error: {other}"))
            }
        }
    }
}
