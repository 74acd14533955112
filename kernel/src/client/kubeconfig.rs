//! Reading kubeconfig files as kubectl does for one context: the current context (or the
//! only one), its cluster (server URL and CA) and its user (client certificate and key, or a
//! bearer token), each given inline (`*-data`) or as a file path relative to the kubeconfig.
//! Errors name the file and the field (`kubeconfig /x: users[0].user.client-key-data
//! missing`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_yaml_ng::Value;

/// What the client needs from a kubeconfig.
#[derive(Clone)]
pub(crate) struct Kubeconfig {
    /// The API server URL, `https://host:port`.
    pub(crate) server: String,
    /// The CA that signed the serving certificate, PEM.
    pub(crate) ca_pem: Vec<u8>,
    /// How the client proves who it is.
    pub(crate) credentials: Credentials,
}

/// A kubeconfig user's credentials.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// A client certificate and its key, PEM.
    Certificate {
        /// The certificate chain.
        cert_pem: Vec<u8>,
        /// The private key.
        key_pem: Vec<u8>,
    },
    /// A bearer token.
    Token(String),
}

impl Kubeconfig {
    /// Reads and parses the file at `path`.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("kubeconfig {}: cannot read it", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("/"));
        Self::parse(&text, base).with_context(|| format!("kubeconfig {}", path.display()))
    }

    /// Parses the text of a kubeconfig; relative file paths in it are taken from `base`.
    pub(crate) fn parse(text: &str, base: &Path) -> anyhow::Result<Self> {
        let doc: Value = serde_yaml_ng::from_str(text).context("not valid YAML")?;
        let current = doc.get("current-context").and_then(Value::as_str);
        let (context_path, context) = entry(&doc, "contexts", current, "context")?;
        let cluster_name = string(context, "cluster")
            .with_context(|| format!("{context_path}.cluster missing"))?;
        let user_name =
            string(context, "user").with_context(|| format!("{context_path}.user missing"))?;
        let (cluster_path, cluster) = entry(&doc, "clusters", Some(cluster_name), "cluster")?;
        let (user_path, user) = entry(&doc, "users", Some(user_name), "user")?;
        let server = string(cluster, "server")
            .with_context(|| format!("{cluster_path}.server missing"))?
            .to_string();
        let files = Files {
            base,
            section: cluster_path.as_str(),
            map: cluster,
        };
        let ca_pem = files
            .data_or_file("certificate-authority")?
            .with_context(|| format!("{cluster_path}.certificate-authority-data missing"))?;
        let files = Files {
            base,
            section: user_path.as_str(),
            map: user,
        };
        let credentials = if let Some(token) = string(user, "token") {
            Credentials::Token(token.to_string())
        } else {
            let cert_pem = files.data_or_file("client-certificate")?.with_context(|| {
                format!("{user_path}.client-certificate-data missing (and no token)")
            })?;
            let key_pem = files
                .data_or_file("client-key")?
                .with_context(|| format!("{user_path}.client-key-data missing"))?;
            Credentials::Certificate { cert_pem, key_pem }
        };
        Ok(Self {
            server,
            ca_pem,
            credentials,
        })
    }
}

/// The named entry of the list `list` (`contexts`, `clusters`, `users`) and its path
/// (`users[0].user`): the one named `name`, or the only entry when no name is given.
fn entry<'a>(
    doc: &'a Value,
    list: &str,
    name: Option<&str>,
    inner: &str,
) -> anyhow::Result<(String, &'a Value)> {
    let items = doc
        .get(list)
        .and_then(Value::as_sequence)
        .with_context(|| format!("{list} missing"))?;
    let index = match name {
        Some(name) => items
            .iter()
            .position(|item| string(item, "name") == Some(name))
            .with_context(|| format!("{list}: no entry named {name:?}"))?,
        None if items.len() == 1 => 0,
        None => bail!(
            "current-context missing and {list} has {} entries",
            items.len()
        ),
    };
    let value = items[index]
        .get(inner)
        .with_context(|| format!("{list}[{index}].{inner} missing"))?;
    Ok((format!("{list}[{index}].{inner}"), value))
}

fn string<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// One section's `<field>-data` (base64) or `<field>` (a file path) values.
struct Files<'a> {
    base: &'a Path,
    section: &'a str,
    map: &'a Value,
}

impl Files<'_> {
    /// The bytes of `<field>-data`, else of the file `<field>` names; `None` when neither
    /// is set.
    fn data_or_file(&self, field: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let section = self.section;
        if let Some(data) = string(self.map, &format!("{field}-data")) {
            return STANDARD
                .decode(data.trim())
                .map(Some)
                .with_context(|| format!("{section}.{field}-data is not base64"));
        }
        let Some(file) = string(self.map, field) else {
            return Ok(None);
        };
        let path: PathBuf = self.base.join(file);
        std::fs::read(&path)
            .map(Some)
            .with_context(|| format!("{section}.{field}: cannot read {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_kmicro_pki_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig.yaml");
        kmicro_pki::write_kubeconfig(
            &path,
            &kmicro_pki::KubeconfigOptions {
                server: "https://127.0.0.1:6443".into(),
                ca_pem: "CA PEM\n".into(),
                client_cert_pem: "CERT PEM\n".into(),
                client_key_pem: "KEY PEM\n".into(),
                mode: 0o600,
            },
        )
        .unwrap();
        let kc = Kubeconfig::read(&path).unwrap();
        assert_eq!(kc.server, "https://127.0.0.1:6443");
        assert_eq!(kc.ca_pem, b"CA PEM\n");
        let Credentials::Certificate { cert_pem, key_pem } = kc.credentials else {
            panic!("a client certificate")
        };
        assert_eq!(cert_pem, b"CERT PEM\n");
        assert_eq!(key_pem, b"KEY PEM\n");
    }

    const TWO_CONTEXTS: &str = "
current-context: b
contexts:
- name: a
  context: {cluster: one, user: alice}
- name: b
  context: {cluster: two, user: bob}
clusters:
- name: one
  cluster: {server: 'https://one:1', certificate-authority-data: QQ==}
- name: two
  cluster: {server: 'https://two:2', certificate-authority: ca.pem}
users:
- name: alice
  user: {token: secret}
- name: bob
  user: {client-certificate-data: Qg==}
";

    #[test]
    fn the_current_context_chooses_and_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "FILE CA").unwrap();
        let err = Kubeconfig::parse(TWO_CONTEXTS, dir.path()).err().unwrap();
        assert_eq!(format!("{err:#}"), "users[1].user.client-key-data missing");
        let alice = TWO_CONTEXTS.replace("current-context: b", "current-context: a");
        let kc = Kubeconfig::parse(&alice, dir.path()).unwrap();
        assert_eq!(kc.server, "https://one:1");
        assert_eq!(kc.ca_pem, b"A");
        assert!(matches!(kc.credentials, Credentials::Token(ref t) if t == "secret"));
        let bob = TWO_CONTEXTS.replace(
            "{client-certificate-data: Qg==}",
            "{client-certificate-data: Qg==, client-key: key.pem}",
        );
        let err = Kubeconfig::parse(&bob, dir.path()).err().unwrap();
        assert!(
            format!("{err:#}").starts_with("users[1].user.client-key: cannot read "),
            "{err:#}"
        );
        std::fs::write(dir.path().join("key.pem"), "KEY").unwrap();
        let kc = Kubeconfig::parse(&bob, dir.path()).unwrap();
        assert_eq!(kc.ca_pem, b"FILE CA");
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let base = Path::new("/");
        let err = Kubeconfig::parse("clusters: []\n", base).err().unwrap();
        assert_eq!(format!("{err:#}"), "contexts missing");
        let text = "contexts: [{name: c, context: {cluster: x, user: u}}]\nclusters: [{name: x, cluster: {server: 'https://x:1', certificate-authority-data: '!!'}}]\nusers: [{name: u, user: {token: t}}]\n";
        let err = Kubeconfig::parse(text, base).err().unwrap();
        assert!(
            format!("{err:#}")
                .starts_with("clusters[0].cluster.certificate-authority-data is not base64: "),
            "{err:#}"
        );
        let err = Kubeconfig::read(Path::new("/nonexistent/kc"))
            .err()
            .unwrap();
        assert!(format!("{err:#}").starts_with("kubeconfig /nonexistent/kc: cannot read it"));
    }
}
