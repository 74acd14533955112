//! Kubeconfig files written by `write_kubeconfig`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kmicro_pki::{KubeconfigOptions, Pki, PkiConfig, PkiError, write_kubeconfig};

fn field<'a>(yaml: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    let line = yaml
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{key} missing from\n{yaml}"));
    &line[prefix.len()..]
}

#[test]
fn admin_kubeconfig_is_private_and_embeds_the_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(&PkiConfig {
        dir: dir.path().join("server/tls"),
        sans: vec![],
    })
    .unwrap();
    let path = dir.path().join("etc/kmicro/kmicro.yaml");
    let opts = KubeconfigOptions {
        server: "https://127.0.0.1:6443".into(),
        ca_pem: pki.server_ca_pem().into(),
        client_cert_pem: pki.admin_cert_pem().into(),
        client_key_pem: pki.admin_key_pem().into(),
        mode: 0o600,
    };
    write_kubeconfig(&path, &opts).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );

    let yaml = fs::read_to_string(&path).unwrap();
    let decode = |key| String::from_utf8(STANDARD.decode(field(&yaml, key)).unwrap()).unwrap();
    assert_eq!(decode("certificate-authority-data"), pki.server_ca_pem());
    assert_eq!(decode("client-certificate-data"), pki.admin_cert_pem());
    assert_eq!(decode("client-key-data"), pki.admin_key_pem());
    assert_eq!(field(&yaml, "server"), "\"https://127.0.0.1:6443\"");
    assert_eq!(field(&yaml, "current-context"), "default");
    assert!(yaml.starts_with("apiVersion: v1\nkind: Config\n"));
    assert_eq!(yaml.matches("name: default").count(), 3);
    let debug = format!("{opts:?}");
    assert!(!debug.contains("PRIVATE"), "{debug}");

    // Rewriting replaces the file and applies the new mode exactly.
    let opts = KubeconfigOptions {
        server: "https://[::1]:6443".into(),
        mode: 0o644,
        ..opts
    };
    write_kubeconfig(&path, &opts).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o644
    );
    let yaml = fs::read_to_string(&path).unwrap();
    assert_eq!(field(&yaml, "server"), "\"https://[::1]:6443\"");
    let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1);
}

#[test]
fn bad_mode_or_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = KubeconfigOptions {
        mode: 0o100600,
        ..Default::default()
    };
    let err = write_kubeconfig(&dir.path().join("k"), &opts).unwrap_err();
    assert!(matches!(err, PkiError::InvalidArgument(_)), "{err}");

    let blocker = dir.path().join("file");
    fs::write(&blocker, "").unwrap();
    let opts = KubeconfigOptions {
        mode: 0o600,
        ..Default::default()
    };
    let err = write_kubeconfig(&blocker.join("k"), &opts).unwrap_err();
    assert!(
        err.to_string().contains(&*blocker.to_string_lossy()),
        "{err}"
    );
}
