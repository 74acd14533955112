//! Writing kubeconfig files.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::PkiError;
use crate::files;

/// What goes into a kubeconfig.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KubeconfigOptions {
    /// The API server URL, e.g. `https://127.0.0.1:6443`.
    pub server: String,
    /// The CA that signed the serving certificate, PEM.
    pub ca_pem: String,
    /// The client certificate, PEM.
    pub client_cert_pem: String,
    /// The client key, PEM.
    pub client_key_pem: String,
    /// The file's mode, e.g. `0o600` (k3s `--write-kubeconfig-mode`).
    pub mode: u32,
}

impl std::fmt::Debug for KubeconfigOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeconfigOptions")
            .field("server", &self.server)
            .field("mode", &format_args!("{:#o}", self.mode))
            .finish_non_exhaustive()
    }
}

/// Writes a kubeconfig to `path` (atomically, with exactly `opts.mode`, creating missing
/// parent directories): one cluster, user and context, all named `default`, with the CA,
/// client certificate and key embedded as base64 `*-data` fields.
pub fn write_kubeconfig(path: &Path, opts: &KubeconfigOptions) -> Result<(), PkiError> {
    files::create_dirs(files::parent_of(path), 0o755)?;
    files::write_atomic(path, render(opts).as_bytes(), opts.mode)
}

/// The kubeconfig YAML.
fn render(opts: &KubeconfigOptions) -> String {
    let b64 = |pem: &str| STANDARD.encode(pem.as_bytes());
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
        ca = b64(&opts.ca_pem),
        server = quote(&opts.server),
        cert = b64(&opts.client_cert_pem),
        key = b64(&opts.client_key_pem),
    );
    out
}

/// A YAML double-quoted scalar (JSON string syntax, which YAML accepts).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_is_quoted_and_escaped() {
        assert_eq!(quote("https://[::1]:6443"), "\"https://[::1]:6443\"");
        assert_eq!(quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn render_has_the_fixed_shape() {
        let yaml = render(&KubeconfigOptions {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: "CA".into(),
            client_cert_pem: "CERT".into(),
            client_key_pem: "KEY".into(),
            mode: 0o600,
        });
        assert!(yaml.contains("    certificate-authority-data: Q0E=\n"));
        assert!(yaml.contains("    server: \"https://127.0.0.1:6443\"\n"));
        assert!(yaml.contains("    client-certificate-data: Q0VSVA==\n"));
        assert!(yaml.contains("    client-key-data: S0VZ\n"));
        assert!(yaml.contains("\ncurrent-context: default\n"));
    }
}
