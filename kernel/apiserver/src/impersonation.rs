//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the `Impersonate-User`,
//! `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-<key>` headers make a request
//! run as someone else, when the requester may `impersonate` each of them (kube's
//! impersonation filter): users, groups and service accounts in the core group, `uids` and
//! `userextras/<key>` in `authentication.k8s.io`. Impersonating
//! `system:serviceaccount:<ns>:<name>` checks `serviceaccounts` in `<ns>` and, when no group
//! is asked for, brings the service account's groups.

use std::collections::BTreeMap;

use http::HeaderMap;
use kmicro_apimachinery::rbac::{Action, ResourceAction, subject};

use crate::auth::{self, User};
use crate::authz::Authorizer;
use crate::error::{ApiError, ApiResult};

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA: &str = "impersonate-extra-";

/// The user a request runs as: `requester`, or whom its headers impersonate if allowed.
pub fn apply(requester: User, headers: &HeaderMap, authorizer: &Authorizer) -> ApiResult<User> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    };
    let user = values(USER).into_iter().next();
    let groups = values(GROUP);
    let uid = values(UID).into_iter().next();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA)
            && let Ok(value) = value.to_str()
        {
            extra
                .entry(percent_decode(key).to_ascii_lowercase())
                .or_default()
                .push(value.to_string());
        }
    }
    let Some(user) = user else {
        if !groups.is_empty() || uid.is_some() || !extra.is_empty() {
            return Err(ApiError::bad_request(
                "requested impersonation of groups, a uid or extra fields without impersonating a user",
            ));
        }
        return Ok(requester);
    };

    let check = |resource: &str, group: &str, namespace: &str, sub: &str, name: &str| {
        let action = Action::Resource(ResourceAction {
            verb: "impersonate".into(),
            namespace: namespace.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
        });
        authorizer.authorize(&requester, &action)
    };
    let mut groups_out = groups.clone();
    match subject::parse_service_account_user(&user) {
        Some((ns, name)) => {
            check("serviceaccounts", "", ns, "", name)?;
            if groups.is_empty() {
                groups_out = subject::service_account_groups(ns);
            }
        }
        None => check("users", "", "", "", &user)?,
    }
    for group in &groups {
        check("groups", "", "", "", group)?;
    }
    if let Some(uid) = &uid {
        check("uids", "authentication.k8s.io", "", "", uid)?;
    }
    for (key, values) in &extra {
        for value in values {
            check("userextras", "authentication.k8s.io", "", key, value)?;
        }
    }
    if user != auth::ANONYMOUS && !groups_out.iter().any(|g| g == auth::AUTHENTICATED) {
        groups_out.push(auth::AUTHENTICATED.into());
    }
    Ok(User {
        name: user,
        uid: uid.unwrap_or_default(),
        groups: groups_out,
        extra,
    })
}

/// `%XX` escapes decoded (kube escapes extra keys that are not valid header names).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_unescaped() {
        assert_eq!(percent_decode("scopes"), "scopes");
        assert_eq!(percent_decode("example.com%2fteam"), "example.com/team");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("trail%2"), "trail%2");
    }
}
