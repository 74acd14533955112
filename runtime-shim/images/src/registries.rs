//! `registries.yaml` in k3s's shape: mirrors (endpoints tried in order, then the registry
//! itself; rewrites of the repository; `"*"` for registries without an entry) and per-host
//! configs (auth, TLS).
//!
//! ```yaml
//! mirrors:
//!   docker.io:
//!     endpoint: ["http://10.0.0.5:5000", "https://mirror.example.com"]
//!     rewrite:
//!       "^rancher/(.*)": "mirrors/rancher/$1"
//!   "*":
//!     endpoint: ["https://cache.example.com"]
//! configs:
//!   mirror.example.com:
//!     auth: { username: u, password: p }      # or auth: <base64 u:p>, or identity_token
//!     tls: { ca_file: /etc/ssl/mirror-ca.pem, insecure_skip_verify: false }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use crate::credentials::{Credential, credential_from_fields};
use crate::error::Error;

/// A parsed registries.yaml. The default (no file) has no mirrors and no configs.
#[derive(Clone, Debug, Default)]
pub struct RegistriesConfig {
    /// Mirrors by registry host (`docker.io`, `"*"`).
    pub mirrors: BTreeMap<String, Mirror>,
    /// Settings by host (`host` or `host:port`, `"*"`).
    pub configs: BTreeMap<String, HostConfig>,
}

/// The mirrors of one registry.
#[derive(Clone, Debug, Default)]
pub struct Mirror {
    /// Endpoints, tried in order before the registry itself.
    pub endpoints: Vec<Endpoint>,
    /// Repository rewrites for the mirror endpoints, tried in order; the first whose
    /// pattern matches applies.
    pub rewrites: Vec<Rewrite>,
}

/// A registry endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host` or `host:port`.
    pub host: String,
    /// Plain HTTP (an `http://` endpoint) rather than HTTPS.
    pub plain_http: bool,
}

impl Endpoint {
    /// `http://host` or `https://host`, for messages.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.plain_http { "http" } else { "https" },
            self.host
        )
    }
}

/// A repository rewrite: a regex (RE2 syntax as in Go) and its replacement (`$1`).
#[derive(Clone, Debug)]
pub struct Rewrite {
    /// The pattern.
    pub pattern: Regex,
    /// The replacement.
    pub replacement: String,
}

/// Settings of one host.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    /// The credential to send.
    pub auth: Option<Credential>,
    /// Trust the host's certificate without checking it.
    pub insecure_skip_verify: bool,
    /// Extra roots (PEM) to trust for this host, besides the system's.
    pub ca_file: Option<PathBuf>,
}

/// One endpoint to try for a pull, with the repository to ask it for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedEndpoint {
    /// Where to go.
    pub endpoint: Endpoint,
    /// The repository there (rewritten for mirrors).
    pub repository: String,
    /// Whether this is the image's own registry (not a mirror).
    pub is_registry: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    mirrors: Option<BTreeMap<String, RawMirror>>,
    #[serde(default)]
    configs: Option<BTreeMap<String, RawConfig>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMirror {
    #[serde(default)]
    endpoint: Vec<String>,
    #[serde(default)]
    rewrite: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    auth: Option<RawAuth>,
    #[serde(default)]
    tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identity_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

impl RegistriesConfig {
    /// Reads `path`; a missing file is the empty default (as in k3s).
    pub fn load(path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io("reading", path)(e)),
        }
    }

    /// Parses registries.yaml text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let fail = |message: String| Error::RegistriesConfig {
            path: path.to_owned(),
            message,
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| fail(e.to_string()))?;
        let mut config = Self::default();
        for (registry, raw_mirror) in raw.mirrors.unwrap_or_default() {
            let mut mirror = Mirror::default();
            for (i, text) in raw_mirror.endpoint.iter().enumerate() {
                let endpoint = parse_endpoint(text).map_err(|message| {
                    fail(format!(
                        "mirrors.{registry:?}.endpoint[{i}]: {text:?}: {message}"
                    ))
                })?;
                mirror.endpoints.push(endpoint);
            }
            for (pattern, replacement) in raw_mirror.rewrite {
                let regex = Regex::new(&pattern)
                    .map_err(|e| fail(format!("mirrors.{registry:?}.rewrite[{pattern:?}]: {e}")))?;
                mirror.rewrites.push(Rewrite {
                    pattern: regex,
                    replacement,
                });
            }
            config.mirrors.insert(registry, mirror);
        }
        for (host, raw_config) in raw.configs.unwrap_or_default() {
            let mut host_config = HostConfig::default();
            if let Some(auth) = raw_config.auth {
                host_config.auth = credential_from_fields(
                    auth.username.as_deref(),
                    auth.password.as_deref(),
                    auth.auth.as_deref(),
                    auth.identity_token.as_deref(),
                    &format!("configs.{host:?}.auth"),
                )
                .map_err(fail)?;
            }
            if let Some(tls) = raw_config.tls {
                if tls.cert_file.is_some() || tls.key_file.is_some() {
                    tracing::warn!(
                        "{}: configs.{host:?}.tls: client certificates (cert_file, key_file) are not supported; ignored",
                        path.display()
                    );
                }
                host_config.insecure_skip_verify = tls.insecure_skip_verify;
                host_config.ca_file = tls.ca_file.filter(|f| !f.is_empty()).map(PathBuf::from);
            }
            config.configs.insert(host, host_config);
        }
        Ok(config)
    }

    /// The settings for a host: its own entry, else `"*"`.
    pub fn host_config(&self, host: &str) -> Option<&HostConfig> {
        self.configs.get(host).or_else(|| self.configs.get("*"))
    }

    /// Where to pull `repository` of `registry` from, in order: the mirror's endpoints (the
    /// registry's entry, else `"*"`), with the first matching rewrite applied, then the
    /// registry itself (unless an endpoint already is it). The registry itself is HTTPS,
    /// except a loopback host (`localhost`, `127.x`, `[::1]`) with no `tls` config, which is
    /// plain HTTP (as containerd treats localhost).
    pub fn plan(&self, registry: &str, repository: &str) -> Vec<PlannedEndpoint> {
        let mirror = self.mirrors.get(registry).or_else(|| self.mirrors.get("*"));
        let mut plan = Vec::new();
        if let Some(mirror) = mirror {
            let rewritten = mirror
                .rewrites
                .iter()
                .find(|r| r.pattern.is_match(repository))
                .map(|r| {
                    r.pattern
                        .replace_all(repository, r.replacement.as_str())
                        .into_owned()
                })
                .unwrap_or_else(|| repository.to_owned());
            for endpoint in &mirror.endpoints {
                let is_registry = endpoint.host == registry;
                plan.push(PlannedEndpoint {
                    endpoint: endpoint.clone(),
                    repository: if is_registry {
                        repository.to_owned()
                    } else {
                        rewritten.clone()
                    },
                    is_registry,
                });
            }
        }
        if !plan.iter().any(|p| p.is_registry) {
            let has_tls = self
                .configs
                .get(registry)
                .is_some_and(|c| c.ca_file.is_some() || c.insecure_skip_verify);
            plan.push(PlannedEndpoint {
                endpoint: Endpoint {
                    host: registry.to_owned(),
                    plain_http: is_loopback(registry) && !has_tls,
                },
                repository: repository.to_owned(),
                is_registry: true,
            });
        }
        plan
    }
}

fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    let (plain_http, rest) = if let Some(rest) = text.strip_prefix("http://") {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("https://") {
        (false, rest)
    } else if text.contains("://") {
        return Err("the scheme must be http or https".to_owned());
    } else {
        (false, text)
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    if !matches!(path.trim_end_matches('/'), "" | "v2") {
        return Err("endpoint paths other than /v2 are not supported".to_owned());
    }
    if host.contains(['@', '?', '#']) {
        return Err("not a host[:port]".to_owned());
    }
    Ok(Endpoint {
        host: host.to_owned(),
        plain_http,
    })
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5001"
      - "https://mirror.example.com/v2"
    rewrite:
      "^library/(.*)": "cache/$1"
  "*":
    endpoint: ["https://star.example.com"]
configs:
  mirror.example.com:
    auth:
      username: u
      password: p
    tls:
      insecure_skip_verify: true
      ca_file: /etc/ca.pem
"#;

    #[test]
    fn plans_mirrors_then_registry() {
        let config = RegistriesConfig::parse(YAML, Path::new("/r.yaml")).unwrap();
        let plan = config.plan("docker.io", "library/busybox");
        let hosts: Vec<(String, bool, String)> = plan
            .iter()
            .map(|p| {
                (
                    p.endpoint.host.clone(),
                    p.endpoint.plain_http,
                    p.repository.clone(),
                )
            })
            .collect();
        assert_eq!(
            hosts,
            [
                ("127.0.0.1:5001".into(), true, "cache/busybox".into()),
                ("mirror.example.com".into(), false, "cache/busybox".into()),
                ("docker.io".into(), false, "library/busybox".into()),
            ]
        );
        let star = config.plan("quay.io", "a/b");
        assert_eq!(star[0].endpoint.host, "star.example.com");
        assert_eq!(star[1].endpoint.host, "quay.io");
        let local = config.plan("127.0.0.1:5000", "x");
        assert!(local[1].endpoint.plain_http);
        let host = config.host_config("mirror.example.com").unwrap();
        assert!(host.insecure_skip_verify);
        assert!(matches!(host.auth, Some(Credential::Basic { .. })));
    }

    #[test]
    fn errors_name_file_and_field() {
        let err = RegistriesConfig::parse(
            "mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n",
            Path::new("/etc/r.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/etc/r.yaml: mirrors.\"docker.io\".endpoint[0]"),
            "{err}"
        );
        let err = RegistriesConfig::parse(
            "mirrors:\n  docker.io:\n    endpoints: []\n",
            Path::new("/r.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/r.yaml") && err.contains("endpoints"),
            "{err}"
        );
        let err = RegistriesConfig::parse(
            "configs:\n  h:\n    auth:\n      auth: \"%%%\"\n",
            Path::new("/r.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("configs.\"h\".auth.auth"), "{err}");
    }
}
