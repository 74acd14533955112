//! The query parameters of Kubernetes API requests.

use crate::error::{ApiError, ApiResult};

/// Parsed query parameters (the ones kmicro acts on).
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// `watch=true|1`
    pub watch: bool,
    /// `resourceVersion`
    pub resource_version: Option<String>,
    /// `resourceVersionMatch` (`Exact`, `NotOlderThan`)
    pub resource_version_match: Option<String>,
    /// `limit`
    pub limit: usize,
    /// `continue`
    pub continue_token: Option<String>,
    /// `labelSelector`
    pub label_selector: Option<String>,
    /// `fieldSelector`
    pub field_selector: Option<String>,
    /// `timeoutSeconds`
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`
    pub send_initial_events: Option<bool>,
    /// `dryRun=All`
    pub dry_run: bool,
    /// `gracePeriodSeconds`
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`
    pub propagation_policy: Option<String>,
    /// `orphanDependents` (deprecated)
    pub orphan_dependents: Option<bool>,
    /// `includeObject` (Table requests)
    pub include_object: Option<String>,
    /// `fieldManager` (writes)
    pub field_manager: Option<String>,
    /// `force` (apply patches)
    pub force: Option<bool>,
    /// `fieldValidation` (`Strict`, `Warn`, `Ignore`) as given; checked by the write handlers,
    /// whose error names their options kind.
    pub field_validation: Option<String>,
    /// `hash` (OpenAPI v3 documents: the content hash the client expects)
    pub hash: Option<String>,
    /// `follow` (logs: keep streaming new lines)
    pub follow: bool,
    /// `tailLines` (logs: only the last N lines)
    pub tail_lines: Option<usize>,
    /// `container` (pod logs: which container)
    pub container: Option<String>,
    /// `previous` (pod logs: the container's previous instance)
    pub previous: bool,
    /// The query string as received (pod logs hand it to the node agent whole).
    pub raw: String,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
        let mut q = Query {
            raw: raw.unwrap_or("").to_string(),
            ..Query::default()
        };
        for (key, value) in pairs(raw.unwrap_or("")) {
            match key.as_str() {
                "watch" => q.watch = boolean(&key, &value)?,
                "resourceVersion" => q.resource_version = Some(value),
                "resourceVersionMatch" => q.resource_version_match = Some(value),
                "limit" => q.limit = number(&key, &value)?.max(0) as usize,
                "continue" => q.continue_token = Some(value).filter(|v| !v.is_empty()),
                "labelSelector" => q.label_selector = Some(value),
                "fieldSelector" => q.field_selector = Some(value),
                "timeoutSeconds" => q.timeout_seconds = Some(number(&key, &value)?.max(0) as u64),
                "allowWatchBookmarks" => q.allow_watch_bookmarks = boolean(&key, &value)?,
                "sendInitialEvents" => q.send_initial_events = Some(boolean(&key, &value)?),
                "dryRun" => match value.as_str() {
                    "All" => q.dry_run = true,
                    "" => {}
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "Invalid dry run value: {other:?}; the only supported value is \"All\""
                        )));
                    }
                },
                "gracePeriodSeconds" => q.grace_period_seconds = Some(number(&key, &value)?),
                "propagationPolicy" => q.propagation_policy = Some(value),
                "orphanDependents" => q.orphan_dependents = Some(boolean(&key, &value)?),
                "includeObject" => q.include_object = Some(value),
                "fieldManager" => q.field_manager = Some(value).filter(|v| !v.is_empty()),
                "force" => q.force = Some(boolean(&key, &value)?),
                "fieldValidation" => q.field_validation = Some(value),
                "hash" => q.hash = Some(value).filter(|v| !v.is_empty()),
                "follow" => q.follow = boolean(&key, &value)?,
                "tailLines" => q.tail_lines = Some(number(&key, &value)?.max(0) as usize),
                "container" => q.container = Some(value).filter(|v| !v.is_empty()),
                "previous" => q.previous = boolean(&key, &value)?,
                _ => {}
            }
        }
        Ok(q)
    }
}

fn boolean(key: &str, value: &str) -> ApiResult<bool> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "invalid value for {key}: {other:?}"
        ))),
    }
}

fn number(key: &str, value: &str) -> ApiResult<i64> {
    value
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {value:?}")))
}

/// `application/x-www-form-urlencoded` pairs.
pub(crate) fn pairs(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

/// Percent-decoding with `+` as space.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_parameters() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+(a%2Cb)&limit=500&watch=1&resourceVersion=12&dryRun=All")).unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app=web,tier in (a,b)"));
        assert_eq!(q.limit, 500);
        assert!(q.watch && q.dry_run);
        assert_eq!(q.resource_version.as_deref(), Some("12"));
        assert!(Query::parse(Some("limit=abc")).is_err());
        assert!(Query::parse(Some("dryRun=Some")).is_err());
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("a%"), "a%");
    }
}
