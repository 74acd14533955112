//! Errors of API calls and of reconciles.

use std::fmt;

use crate::bindings::kmicro::module::types as wit;

/// A failed API call, as the API server's `Status` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Kubernetes reason, such as `NotFound` or `Conflict`.
    pub reason: String,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// 404: the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// 409 `AlreadyExists`: a create found the name taken.
    pub fn is_already_exists(&self) -> bool {
        self.code == 409 && self.reason == "AlreadyExists"
    }

    /// 409 `Conflict`: the object changed since it was read.
    pub fn is_conflict(&self) -> bool {
        self.code == 409 && self.reason != "AlreadyExists"
    }

    /// 403: outside the module's permissions.
    pub fn is_forbidden(&self) -> bool {
        self.code == 403
    }
}

impl From<wit::ApiError> for ApiError {
    fn from(e: wit::ApiError) -> Self {
        Self {
            code: e.code,
            reason: e.reason,
            message: e.message,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Why a reconcile or an initialisation failed.
#[derive(Debug)]
pub enum Error {
    /// An API call failed.
    Api(ApiError),
    /// A JSON answer or config did not decode.
    Decode(String),
    /// Anything else, in words.
    Other(String),
}

impl Error {
    /// An error with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Decode(e.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => e.fmt(f),
            Self::Decode(e) => write!(f, "decoding: {e}"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Error {}
