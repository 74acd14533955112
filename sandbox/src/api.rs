//! What the sandbox asks of the kernel: the Kubernetes API, in-process, as one module.
//!
//! These are plain Rust mirrors of the WIT `api` interface's types, so the kernel never sees
//! generated bindings. The kernel implements [`HostApi`] over its API server, acting as user
//! `system:module:<name>`; the sandbox has already checked the module's manifest, its host
//! call rate and the arguments' shape before it calls.

use crate::manifest::PolicyRule;
use std::fmt;
use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

/// Which API resource a call is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRef {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, such as `v1`.
    pub version: String,
    /// Plural resource name, such as `pods`.
    pub resource: String,
    /// Namespace of namespaced resources; `None` for cluster-scoped resources and for lists
    /// and watches across all namespaces.
    pub namespace: Option<String>,
}

/// Options of a list or a watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOptions {
    /// `?labelSelector=`.
    pub label_selector: Option<String>,
    /// `?fieldSelector=`.
    pub field_selector: Option<String>,
    /// Page size of a list; ignored by watch.
    pub limit: Option<u32>,
    /// Continue token of the previous page; ignored by watch.
    pub continue_token: Option<String>,
}

/// How a patch body is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatchType {
    /// RFC 6902 JSON patch (`application/json-patch+json`).
    Json,
    /// RFC 7386 JSON merge patch (`application/merge-patch+json`).
    Merge,
    /// Kubernetes strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply,
}

/// Options of create, update and patch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The field manager; the sandbox fills in the module's name when the module gave none,
    /// so the kernel always receives one.
    pub field_manager: Option<String>,
    /// Server-side apply: take over conflicting fields.
    pub force: bool,
}

/// Options of delete.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOptions {
    /// `Foreground`, `Background` or `Orphan`.
    pub propagation_policy: Option<String>,
    /// Grace period override, in seconds.
    pub grace_period_seconds: Option<i64>,
    /// Delete only if the object still has this uid.
    pub precondition_uid: Option<String>,
    /// Delete only if the object still has this resourceVersion.
    pub precondition_resource_version: Option<String>,
}

/// One API call of a module (the WIT `api` functions but `watch`, which the sandbox builds
/// on [`HostApi::watch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiCall {
    /// Reads object `name`, or its `subresource`.
    Get {
        /// The resource.
        res: ResourceRef,
        /// The object.
        name: String,
        /// A subresource such as `status`.
        subresource: Option<String>,
    },
    /// Lists objects; answers the `List` object.
    List {
        /// The resource.
        res: ResourceRef,
        /// Selectors and paging.
        options: ListOptions,
    },
    /// Creates an object.
    Create {
        /// The resource.
        res: ResourceRef,
        /// The object, JSON.
        body: String,
        /// Write options.
        options: WriteOptions,
    },
    /// Creates a subresource of object `name`, such as `pods/binding`.
    CreateSubresource {
        /// The resource.
        res: ResourceRef,
        /// The object.
        name: String,
        /// The subresource, such as `binding`.
        subresource: String,
        /// The body, JSON.
        body: String,
        /// Write options.
        options: WriteOptions,
    },
    /// Replaces object `name` or its `subresource`.
    Update {
        /// The resource.
        res: ResourceRef,
        /// The object.
        name: String,
        /// A subresource such as `status`.
        subresource: Option<String>,
        /// The object, JSON.
        body: String,
        /// Write options.
        options: WriteOptions,
    },
    /// Patches object `name` or its `subresource`.
    Patch {
        /// The resource.
        res: ResourceRef,
        /// The object.
        name: String,
        /// A subresource such as `status`.
        subresource: Option<String>,
        /// How `body` is to be read.
        patch_type: PatchType,
        /// The patch.
        body: String,
        /// Write options.
        options: WriteOptions,
    },
    /// Deletes object `name`.
    Delete {
        /// The resource.
        res: ResourceRef,
        /// The object.
        name: String,
        /// Delete options.
        options: DeleteOptions,
    },
}

/// An RBAC verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `get`
    Get,
    /// `list`
    List,
    /// `watch`
    Watch,
    /// `create`
    Create,
    /// `update`
    Update,
    /// `patch`
    Patch,
    /// `delete`
    Delete,
}

impl Verb {
    /// The verb as RBAC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ApiCall {
    /// The resource the call is about.
    pub fn res(&self) -> &ResourceRef {
        match self {
            ApiCall::Get { res, .. }
            | ApiCall::List { res, .. }
            | ApiCall::Create { res, .. }
            | ApiCall::CreateSubresource { res, .. }
            | ApiCall::Update { res, .. }
            | ApiCall::Patch { res, .. }
            | ApiCall::Delete { res, .. } => res,
        }
    }

    /// The RBAC verb the call needs.
    pub fn verb(&self) -> Verb {
        match self {
            ApiCall::Get { .. } => Verb::Get,
            ApiCall::List { .. } => Verb::List,
            ApiCall::Create { .. } | ApiCall::CreateSubresource { .. } => Verb::Create,
            ApiCall::Update { .. } => Verb::Update,
            ApiCall::Patch { .. } => Verb::Patch,
            ApiCall::Delete { .. } => Verb::Delete,
        }
    }

    /// The object's name, for calls about one object.
    pub fn name(&self) -> Option<&str> {
        match self {
            ApiCall::Get { name, .. }
            | ApiCall::CreateSubresource { name, .. }
            | ApiCall::Update { name, .. }
            | ApiCall::Patch { name, .. }
            | ApiCall::Delete { name, .. } => Some(name),
            ApiCall::List { .. } | ApiCall::Create { .. } => None,
        }
    }

    /// The subresource, if the call is about one.
    pub fn subresource(&self) -> Option<&str> {
        match self {
            ApiCall::Get { subresource, .. }
            | ApiCall::Update { subresource, .. }
            | ApiCall::Patch { subresource, .. } => subresource.as_deref(),
            ApiCall::CreateSubresource { subresource, .. } => Some(subresource),
            ApiCall::List { .. } | ApiCall::Create { .. } | ApiCall::Delete { .. } => None,
        }
    }

    /// The request body, for writes.
    pub fn body(&self) -> Option<&str> {
        match self {
            ApiCall::Create { body, .. }
            | ApiCall::CreateSubresource { body, .. }
            | ApiCall::Update { body, .. }
            | ApiCall::Patch { body, .. } => Some(body),
            ApiCall::Get { .. } | ApiCall::List { .. } | ApiCall::Delete { .. } => None,
        }
    }

    /// The write options, for writes.
    pub fn write_options_mut(&mut self) -> Option<&mut WriteOptions> {
        match self {
            ApiCall::Create { options, .. }
            | ApiCall::CreateSubresource { options, .. }
            | ApiCall::Update { options, .. }
            | ApiCall::Patch { options, .. } => Some(options),
            ApiCall::Get { .. } | ApiCall::List { .. } | ApiCall::Delete { .. } => None,
        }
    }
}

/// A failed API call, as a Kubernetes `Status` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Kubernetes reason (`NotFound`, `Forbidden`, ...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with this code, reason and message.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403 `Forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// 410 `Gone` (`Expired` in kube's words for a too old resourceVersion).
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 413 `RequestEntityTooLarge`.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(413, "RequestEntityTooLarge", message)
    }

    /// 422 `Invalid`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "Invalid", message)
    }

    /// 429 `TooManyRequests`.
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError::new(429, "TooManyRequests", message)
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    /// The error a `Status` object (JSON) describes, as watch `ERROR` events carry it;
    /// `None` when `status` is not one.
    pub fn from_status(status: &str) -> Option<ApiError> {
        #[derive(Deserialize)]
        struct Status {
            code: Option<u16>,
            reason: Option<String>,
            message: Option<String>,
        }
        let status: Status = serde_json::from_str(status).ok()?;
        Some(ApiError {
            code: status.code?,
            reason: status.reason.unwrap_or_default(),
            message: status.message.unwrap_or_default(),
        })
    }
}

/// The type of a raw watch event, as the API's watch stream says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RawEventType {
    /// `ADDED`
    Added,
    /// `MODIFIED`
    Modified,
    /// `DELETED`
    Deleted,
    /// `BOOKMARK`: only `metadata.resourceVersion` of `object` counts.
    Bookmark,
    /// `ERROR`: `object` is a `Status`; code 410 means "list again".
    Error,
}

/// One event of a raw watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawWatchEvent {
    /// What happened.
    pub type_: RawEventType,
    /// The object (or `Status`) as JSON.
    pub object: String,
}

/// A raw watch: events in order; the stream ending means the watch broke (the sandbox
/// watches again from the last resourceVersion it saw).
pub type WatchStream = Pin<Box<dyn Stream<Item = RawWatchEvent> + Send>>;

/// The kernel's API, in-process, as seen by the sandbox.
///
/// Each method acts as user `system:module:<module>`. Implementations must not panic on any
/// input: the sandbox checks shapes (names, sizes, JSON) but not meaning.
#[async_trait::async_trait]
pub trait HostApi: Send + Sync + 'static {
    /// Called for every new instance after `describe` and before `init`, with the rules
    /// the module will act under (the operator's grant, else what it declared): the kernel
    /// makes the API agree (RBAC for `system:module:<module>`). An error fails the start.
    /// By default there is nothing to do.
    async fn authorize(&self, module: &str, rules: &[PolicyRule]) -> Result<(), ApiError> {
        let _ = (module, rules);
        Ok(())
    }

    /// Performs one call; answers the API server's JSON body.
    async fn call(&self, module: &str, call: ApiCall) -> Result<String, ApiError>;

    /// Starts a watch of `res` (with `options`' selectors) from `resource_version`
    /// (exclusive), as `?watch=1&resourceVersion=…&allowWatchBookmarks=true`. A
    /// resourceVersion too old is a 410 error, here or as an `ERROR` event.
    async fn watch(
        &self,
        module: &str,
        res: &ResourceRef,
        options: &ListOptions,
        resource_version: &str,
    ) -> Result<WatchStream, ApiError>;
}
