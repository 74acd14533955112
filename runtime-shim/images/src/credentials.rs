//! Registry credentials, and imagePullSecrets: `kubernetes.io/dockerconfigjson` and
//! `kubernetes.io/dockercfg` secret data parsed into credentials per registry, looked up for an
//! image as kubelet does (host with `*` globs per label, port, path prefix; the most specific
//! key first).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use serde::Deserialize;

use crate::error::Error;
use crate::reference::ImageRef;

/// A credential for a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Username and password: sent as HTTP basic auth, or exchanged for a bearer token when
    /// the registry asks for one (oci-client does the token dance).
    Basic {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// A token sent as `Authorization: Bearer` (registries.yaml `identity_token`, dockerconfig
    /// `identitytoken`/`registrytoken`).
    Token(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credential::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// The `auth`, `username`/`password` and token fields shared by docker config entries and
/// registries.yaml; turned into a [`Credential`].
pub(crate) fn credential_from_fields(
    username: Option<&str>,
    password: Option<&str>,
    auth: Option<&str>,
    token: Option<&str>,
    field: &str,
) -> Result<Option<Credential>, String> {
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::Token(token.to_owned())));
    }
    if let Some(auth) = auth.filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| format!("{field}.auth: not base64: {e}"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| format!("{field}.auth: not UTF-8"))?;
        let Some((username, password)) = decoded.split_once(':') else {
            return Err(format!("{field}.auth: not `username:password`"));
        };
        return Ok(Some(Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    match (username.filter(|u| !u.is_empty()), password) {
        (Some(username), password) => Ok(Some(Credential::Basic {
            username: username.to_owned(),
            password: password.unwrap_or("").to_owned(),
        })),
        (None, Some(p)) if !p.is_empty() => Err(format!("{field}: password without username")),
        _ => Ok(None),
    }
}

/// Credentials from one or more imagePullSecrets, keyed as in their docker config.
#[derive(Clone, Debug, Default)]
pub struct PullSecrets {
    entries: Vec<(Key, Credential)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    /// As written, for ordering (kubelet sorts keys in reverse so that the longer and more
    /// specific come first).
    text: String,
    host: String,
    path: String,
}

#[derive(Deserialize)]
struct DockerConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default, alias = "registrytoken")]
    identitytoken: Option<String>,
}

/// The Secret type of `.dockerconfigjson` data.
pub const DOCKER_CONFIG_JSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The Secret type of `.dockercfg` data.
pub const DOCKERCFG_TYPE: &str = "kubernetes.io/dockercfg";

impl PullSecrets {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the credentials of a Secret: its type and its (base64-decoded) data. `source`
    /// names it in errors (`secret default/regcred`).
    pub fn add_secret(
        &mut self,
        secret_type: &str,
        data: &BTreeMap<String, Vec<u8>>,
        source: &str,
    ) -> Result<(), Error> {
        let fail = |field: &str, message: String| Error::DockerConfig {
            source_name: source.to_owned(),
            field: field.to_owned(),
            message,
        };
        match secret_type {
            DOCKER_CONFIG_JSON_TYPE => {
                let bytes = data
                    .get(".dockerconfigjson")
                    .ok_or_else(|| fail("data", "no `.dockerconfigjson` key".to_owned()))?;
                self.add_dockerconfigjson(bytes, source)
            }
            DOCKERCFG_TYPE => {
                let bytes = data
                    .get(".dockercfg")
                    .ok_or_else(|| fail("data", "no `.dockercfg` key".to_owned()))?;
                self.add_dockercfg(bytes, source)
            }
            other => Err(fail(
                "type",
                format!("{other:?} is not {DOCKER_CONFIG_JSON_TYPE} or {DOCKERCFG_TYPE}"),
            )),
        }
    }

    /// Adds `.dockerconfigjson` content: `{"auths": {"<registry>": {…}}}`.
    pub fn add_dockerconfigjson(&mut self, bytes: &[u8], source: &str) -> Result<(), Error> {
        let config: DockerConfigJson =
            serde_json::from_slice(bytes).map_err(|e| Error::DockerConfig {
                source_name: source.to_owned(),
                field: ".dockerconfigjson".to_owned(),
                message: e.to_string(),
            })?;
        self.add_entries(config.auths, source, ".dockerconfigjson.auths")
    }

    /// Adds `.dockercfg` content: `{"<registry>": {…}}`.
    pub fn add_dockercfg(&mut self, bytes: &[u8], source: &str) -> Result<(), Error> {
        let entries: BTreeMap<String, Entry> =
            serde_json::from_slice(bytes).map_err(|e| Error::DockerConfig {
                source_name: source.to_owned(),
                field: ".dockercfg".to_owned(),
                message: e.to_string(),
            })?;
        self.add_entries(entries, source, ".dockercfg")
    }

    fn add_entries(
        &mut self,
        entries: BTreeMap<String, Entry>,
        source: &str,
        field: &str,
    ) -> Result<(), Error> {
        for (key, entry) in entries {
            let entry_field = format!("{field}[{key:?}]");
            let credential = credential_from_fields(
                entry.username.as_deref(),
                entry.password.as_deref(),
                entry.auth.as_deref(),
                entry.identitytoken.as_deref(),
                &entry_field,
            )
            .map_err(|message| Error::DockerConfig {
                source_name: source.to_owned(),
                field: entry_field.clone(),
                message,
            })?;
            if let Some(credential) = credential {
                self.entries.push((Key::parse(&key), credential));
            }
        }
        Ok(())
    }

    /// The credentials whose key matches `image`, most specific key first (kubelet tries them
    /// in this order). Empty when none match.
    pub fn lookup(&self, image: &ImageRef) -> Vec<Credential> {
        let mut matching: Vec<&(Key, Credential)> = self
            .entries
            .iter()
            .filter(|(key, _)| key.matches(&image.registry, &image.repository))
            .collect();
        matching.sort_by(|a, b| b.0.text.cmp(&a.0.text));
        matching.into_iter().map(|(_, c)| c.clone()).collect()
    }

    /// Whether no credential was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Key {
    fn parse(text: &str) -> Self {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .unwrap_or(text);
        let rest = rest.trim_end_matches('/');
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.to_ascii_lowercase();
        let (host, path) = match host.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "docker.io" => (
                "docker.io".to_owned(),
                if path == "v1" || path == "v2" {
                    ""
                } else {
                    path
                }
                .to_owned(),
            ),
            _ => (host, path.to_owned()),
        };
        Self {
            text: text.to_owned(),
            host,
            path,
        }
    }

    /// kubelet's `URLsMatch`: same number of host labels, each matching its glob, the same
    /// port, and the key's path a prefix of the repository.
    fn matches(&self, registry: &str, repository: &str) -> bool {
        let (key_host, key_port) = split_port(&self.host);
        let (host, port) = split_port(registry);
        if key_port != port {
            return false;
        }
        let key_labels: Vec<&str> = key_host.split('.').collect();
        let labels: Vec<&str> = host.split('.').collect();
        if key_labels.len() != labels.len()
            || !key_labels.iter().zip(&labels).all(|(k, l)| glob(k, l))
        {
            return false;
        }
        repository.starts_with(&self.path)
    }
}

fn split_port(host: &str) -> (&str, &str) {
    match host.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (host, ""),
    }
}

/// `*` matches any run of characters (within one host label), everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(text),
        Some((head, tail)) => {
            let (Some(prefix), Some(rest)) = (text.get(..head.len()), text.get(head.len()..))
            else {
                return false;
            };
            if !prefix.eq_ignore_ascii_case(head) {
                return false;
            }
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str) -> Credential {
        Credential::Basic {
            username: u.to_owned(),
            password: "p".to_owned(),
        }
    }

    fn image(text: &str) -> ImageRef {
        ImageRef::parse(text).unwrap()
    }

    #[test]
    fn dockerconfigjson_matches_like_kubelet() {
        let auth = base64::engine::general_purpose::STANDARD.encode("hub:p");
        let json = format!(
            r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "registry.example.com":{{"username":"plain","password":"p"}},
                "registry.example.com/team":{{"username":"team","password":"p"}},
                "*.corp.example":{{"username":"glob","password":"p"}},
                "localhost:5000":{{"username":"port","password":"p"}}
            }}}}"#
        );
        let mut secrets = PullSecrets::new();
        let data = BTreeMap::from([(".dockerconfigjson".to_owned(), json.into_bytes())]);
        secrets
            .add_secret(DOCKER_CONFIG_JSON_TYPE, &data, "secret default/regcred")
            .unwrap();
        assert_eq!(secrets.lookup(&image("busybox")), [basic("hub")]);
        assert_eq!(
            secrets.lookup(&image("registry.example.com/team/app")),
            [basic("team"), basic("plain")]
        );
        assert_eq!(
            secrets.lookup(&image("registry.example.com/other")),
            [basic("plain")]
        );
        assert_eq!(secrets.lookup(&image("a.corp.example/x")), [basic("glob")]);
        assert!(secrets.lookup(&image("a.b.corp.example/x")).is_empty());
        assert_eq!(secrets.lookup(&image("localhost:5000/x")), [basic("port")]);
        assert!(secrets.lookup(&image("localhost:5001/x")).is_empty());
        assert!(
            secrets
                .lookup(&image("registry.example.com:443/x"))
                .is_empty()
        );
    }

    #[test]
    fn dockercfg_and_errors_name_the_field() {
        let mut secrets = PullSecrets::new();
        secrets
            .add_dockercfg(br#"{"quay.io":{"username":"q","password":"p"}}"#, "s")
            .unwrap();
        assert_eq!(secrets.lookup(&image("quay.io/a/b")), [basic("q")]);
        let err = secrets
            .add_dockerconfigjson(br#"{"auths":{"quay.io":{"auth":"!!"}}}"#, "secret ns/bad")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("secret ns/bad") && err.contains("auths[\"quay.io\"].auth"),
            "{err}"
        );
        let err = secrets
            .add_secret("Opaque", &BTreeMap::new(), "secret ns/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Opaque"), "{err}");
    }
}
