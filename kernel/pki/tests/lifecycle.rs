//! Creating, reloading and renewing the PKI on disk.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use kmicro_pki::{Identity, Pki, PkiConfig, PkiError, identity_from_cert};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;

const FILES: [&str; 8] = [
    "client-admin.crt",
    "client-admin.key",
    "client-ca.crt",
    "client-ca.key",
    "server-ca.crt",
    "server-ca.key",
    "serving-kube-apiserver.crt",
    "serving-kube-apiserver.key",
];
const SERVING_CRT: &str = "serving-kube-apiserver.crt";

fn config(root: &Path, sans: &[&str]) -> PkiConfig {
    PkiConfig {
        dir: root.join("server/tls"),
        sans: sans.iter().map(|s| s.to_string()).collect(),
    }
}

/// Every file in the directory, by name.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn dns_and_ips(pem: &str) -> Vec<String> {
    let der = der(pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) if b.len() == 4 => {
                std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string()
            }
            GeneralName::IPAddress(b) => {
                std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string()
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn common_name(pem: &str) -> String {
    let der = der(pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let cn = cert.subject().iter_common_name().next().unwrap();
    cn.as_str().unwrap().to_string()
}

/// Days from now until the certificate expires.
fn days_left(pem: &str) -> i64 {
    let der = der(pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (cert.validity().not_after.timestamp() - now) / 86_400
}

fn signed_by(cert_pem: &str, ca_pem: &str) -> bool {
    let (cert_der, ca_der) = (der(cert_pem), der(ca_pem));
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    cert.verify_signature(Some(ca.public_key())).is_ok()
}

#[test]
fn pki_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pki>();
    check::<kmicro_pki::TokenFile>();
}

#[test]
fn first_start_creates_everything_and_a_reload_reuses_it_byte_for_byte() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &[]);
    let pki = Pki::load_or_create(&cfg).unwrap();

    let files = snapshot(&cfg.dir);
    assert_eq!(files.keys().map(String::as_str).collect::<Vec<_>>(), FILES);
    assert_eq!(mode(&cfg.dir), 0o700);
    for name in FILES {
        let expected = if name.ends_with(".key") { 0o600 } else { 0o644 };
        assert_eq!(mode(&cfg.dir.join(name)), expected, "{name}");
    }
    assert_eq!(pki.server_ca_pem().as_bytes(), files["server-ca.crt"]);
    assert_eq!(pki.client_ca_pem().as_bytes(), files["client-ca.crt"]);
    assert_eq!(pki.admin_cert_pem().as_bytes(), files["client-admin.crt"]);
    assert_eq!(pki.admin_key_pem().as_bytes(), files["client-admin.key"]);
    assert_eq!(pki.serving_cert_pem().as_bytes(), files[SERVING_CRT]);

    assert!(common_name(pki.server_ca_pem()).starts_with("kmicro-server-ca@"));
    assert!(common_name(pki.client_ca_pem()).starts_with("kmicro-client-ca@"));
    assert_ne!(pki.server_ca_pem(), pki.client_ca_pem());
    assert!((3640..=3650).contains(&days_left(pki.server_ca_pem())));
    assert!((360..=365).contains(&days_left(pki.serving_cert_pem())));
    assert!(signed_by(pki.serving_cert_pem(), pki.server_ca_pem()));
    assert!(signed_by(pki.admin_cert_pem(), pki.client_ca_pem()));
    assert!(!signed_by(pki.admin_cert_pem(), pki.server_ca_pem()));

    let sans = dns_and_ips(pki.serving_cert_pem());
    for want in [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        assert!(
            sans.iter().any(|s| s == want),
            "{want} missing from {sans:?}"
        );
    }
    if let Ok(host) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim().to_ascii_lowercase();
        if !host.is_empty() && !host.contains('_') {
            assert!(
                sans.contains(&host),
                "host name {host} missing from {sans:?}"
            );
        }
    }

    drop(pki);
    let again = Pki::load_or_create(&cfg).unwrap();
    assert_eq!(snapshot(&cfg.dir), files);
    assert_eq!(again.server_ca_pem().as_bytes(), files["server-ca.crt"]);
    assert_eq!(again.serving_cert_pem().as_bytes(), files[SERVING_CRT]);
    assert_eq!(again.admin_key_pem().as_bytes(), files["client-admin.key"]);
}

#[test]
fn changing_the_sans_reissues_only_the_serving_certificate() {
    let root = tempfile::tempdir().unwrap();
    let before = {
        let cfg = config(root.path(), &[]);
        Pki::load_or_create(&cfg).unwrap();
        snapshot(&cfg.dir)
    };

    let cfg = config(root.path(), &["10.1.2.3", "Board.Example.com", "fd00::7"]);
    let pki = Pki::load_or_create(&cfg).unwrap();
    let after = snapshot(&cfg.dir);
    for name in FILES {
        if name == SERVING_CRT {
            assert_ne!(before[name], after[name], "{name} should be reissued");
        } else {
            assert_eq!(before[name], after[name], "{name} should be untouched");
        }
    }
    let sans = dns_and_ips(pki.serving_cert_pem());
    for want in ["10.1.2.3", "board.example.com", "fd00::7", "localhost"] {
        assert!(
            sans.iter().any(|s| s == want),
            "{want} missing from {sans:?}"
        );
    }
    assert!(signed_by(pki.serving_cert_pem(), pki.server_ca_pem()));

    // Same SANs (in another order and case): nothing changes.
    let cfg = config(root.path(), &["fd00::7", "board.example.com", "10.1.2.3"]);
    Pki::load_or_create(&cfg).unwrap();
    assert_eq!(snapshot(&cfg.dir), after);

    // Removing a SAN reissues again.
    let cfg = config(root.path(), &["10.1.2.3"]);
    let pki = Pki::load_or_create(&cfg).unwrap();
    assert_ne!(snapshot(&cfg.dir)[SERVING_CRT], after[SERVING_CRT]);
    assert!(!dns_and_ips(pki.serving_cert_pem()).contains(&"fd00::7".to_string()));
}

/// Writes a serving certificate signed by `ca` (files in `dir`) valid for `days`.
fn forge_serving_cert(dir: &Path, ca_stem: &str, sans: Vec<String>, days: i64) {
    let ca_key =
        rcgen::KeyPair::from_pem(&fs::read_to_string(dir.join(format!("{ca_stem}.key"))).unwrap())
            .unwrap();
    let ca_pem = fs::read_to_string(dir.join(format!("{ca_stem}.crt"))).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let key = rcgen::KeyPair::from_pem(
        &fs::read_to_string(dir.join("serving-kube-apiserver.key")).unwrap(),
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::new(sans).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    let cert = params.signed_by(&key, &issuer).unwrap();
    fs::write(dir.join(SERVING_CRT), cert.pem()).unwrap();
}

#[test]
fn an_expiring_or_foreign_serving_certificate_is_renewed() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &[]);
    let pki = Pki::load_or_create(&cfg).unwrap();
    let sans = dns_and_ips(pki.serving_cert_pem());

    forge_serving_cert(&cfg.dir, "server-ca", sans.clone(), 30);
    let forged = fs::read(cfg.dir.join(SERVING_CRT)).unwrap();
    let pki = Pki::load_or_create(&cfg).unwrap();
    assert_ne!(pki.serving_cert_pem().as_bytes(), forged);
    assert!(days_left(pki.serving_cert_pem()) >= 360);

    // Valid for long enough: kept.
    forge_serving_cert(&cfg.dir, "server-ca", sans.clone(), 200);
    let forged = fs::read(cfg.dir.join(SERVING_CRT)).unwrap();
    let pki = Pki::load_or_create(&cfg).unwrap();
    assert_eq!(pki.serving_cert_pem().as_bytes(), forged);

    // Signed by the client CA instead of the server CA: reissued by the server CA.
    forge_serving_cert(&cfg.dir, "client-ca", sans, 200);
    let pki = Pki::load_or_create(&cfg).unwrap();
    assert!(signed_by(pki.serving_cert_pem(), pki.server_ca_pem()));
}

fn expect_invalid_file(result: Result<Pki, PkiError>, path: &Path) -> String {
    match result {
        Err(PkiError::InvalidFile { path: p, reason }) => {
            assert_eq!(p, path, "{reason}");
            let message = PkiError::InvalidFile { path: p, reason }.to_string();
            assert!(message.contains(&*path.to_string_lossy()), "{message}");
            message
        }
        Err(other) => panic!("expected InvalidFile for {}, got {other}", path.display()),
        Ok(_) => panic!("expected an error for {}", path.display()),
    }
}

#[test]
fn corrupt_files_are_errors_naming_them_and_nothing_is_regenerated() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &[]);
    Pki::load_or_create(&cfg).unwrap();
    let good = snapshot(&cfg.dir);

    let cases: [(&str, &[u8]); 6] = [
        ("server-ca.key", b"not a key"),
        (
            "client-ca.key",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
        ("server-ca.crt", b"garbage"),
        (
            "client-ca.crt",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ),
        (SERVING_CRT, b""),
        ("client-admin.key", b"\xff\xfe not utf-8"),
    ];
    for (name, contents) in cases {
        let path = cfg.dir.join(name);
        fs::write(&path, contents).unwrap();
        let message = expect_invalid_file(Pki::load_or_create(&cfg), &path);
        eprintln!("{message}");
        // Nothing else was touched, the bad file neither.
        let mut expected = good.clone();
        expected.insert(name.to_string(), contents.to_vec());
        assert_eq!(snapshot(&cfg.dir), expected, "after corrupting {name}");
        fs::write(&path, &good[name]).unwrap();
    }

    // A key that belongs to another CA.
    let path = cfg.dir.join("server-ca.key");
    fs::write(&path, &good["client-ca.key"]).unwrap();
    let message = expect_invalid_file(Pki::load_or_create(&cfg), &path);
    assert!(
        message.contains("client-ca") || message.contains("server-ca.crt"),
        "{message}"
    );
    fs::write(&path, &good["server-ca.key"]).unwrap();

    // A leaf certificate where a CA should be.
    let path = cfg.dir.join("client-ca.crt");
    fs::write(&path, &good["client-admin.crt"]).unwrap();
    let message = expect_invalid_file(Pki::load_or_create(&cfg), &path);
    assert!(message.contains("not a CA"), "{message}");
    fs::write(&path, &good["client-ca.crt"]).unwrap();

    Pki::load_or_create(&cfg).unwrap();
    assert_eq!(snapshot(&cfg.dir), good);
}

#[test]
fn a_ca_certificate_without_its_key_is_an_error_not_a_new_ca() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &[]);
    Pki::load_or_create(&cfg).unwrap();
    let key = cfg.dir.join("client-ca.key");
    fs::remove_file(&key).unwrap();
    let before = snapshot(&cfg.dir);
    let message = expect_invalid_file(Pki::load_or_create(&cfg), &key);
    assert!(message.contains("missing"), "{message}");
    assert_eq!(snapshot(&cfg.dir), before);
}

#[test]
fn unreadable_file_is_an_io_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &[]);
    Pki::load_or_create(&cfg).unwrap();
    let path = cfg.dir.join("server-ca.key");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap(); // reading a directory fails with EISDIR
    match Pki::load_or_create(&cfg) {
        Err(PkiError::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn an_interrupted_first_start_is_completed() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &[]);
    Pki::load_or_create(&cfg).unwrap();
    // As if the process died after writing the server CA key: only that key is left.
    let key = fs::read(cfg.dir.join("server-ca.key")).unwrap();
    for name in FILES {
        fs::remove_file(cfg.dir.join(name)).unwrap();
    }
    fs::write(cfg.dir.join("server-ca.key"), &key).unwrap();
    let pki = Pki::load_or_create(&cfg).unwrap();
    assert_eq!(snapshot(&cfg.dir).len(), FILES.len());
    assert_eq!(fs::read(cfg.dir.join("server-ca.key")).unwrap(), key);
    assert!(signed_by(pki.serving_cert_pem(), pki.server_ca_pem()));

    // A lost leaf (here the admin certificate) is simply issued again.
    fs::remove_file(cfg.dir.join("client-admin.crt")).unwrap();
    let pki = Pki::load_or_create(&cfg).unwrap();
    assert!(signed_by(pki.admin_cert_pem(), pki.client_ca_pem()));
}

#[test]
fn a_bad_san_is_rejected_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &["ok.example", "not valid!"]);
    match Pki::load_or_create(&cfg) {
        Err(PkiError::InvalidSan { san, .. }) => assert_eq!(san, "not valid!"),
        other => panic!("expected InvalidSan, got {other:?}"),
    }
    assert!(!cfg.dir.exists());
}

#[test]
fn an_existing_directory_is_made_private() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &[]);
    fs::create_dir_all(&cfg.dir).unwrap();
    fs::set_permissions(&cfg.dir, fs::Permissions::from_mode(0o755)).unwrap();
    Pki::load_or_create(&cfg).unwrap();
    assert_eq!(mode(&cfg.dir), 0o700);
}

#[test]
fn admin_identity_and_issued_client_certificates() {
    let root = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(&config(root.path(), &[])).unwrap();

    let admin = identity_from_cert(&der(pki.admin_cert_pem())).unwrap();
    assert_eq!(
        admin,
        Identity {
            user: "system:admin".into(),
            groups: vec!["system:masters".into()],
        }
    );

    let (cert, key) = pki
        .issue_client_cert(
            "alice",
            &["dev", "ops", "system:authenticated"],
            Duration::from_secs(3600),
        )
        .unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(signed_by(&cert, pki.client_ca_pem()));
    let identity = identity_from_cert(&der(&cert)).unwrap();
    assert_eq!(identity.user, "alice");
    assert_eq!(identity.groups, ["dev", "ops", "system:authenticated"]);
    let cert_der = der(&cert);
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    let eku = parsed.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.client_auth && !eku.value.server_auth);
    assert!(
        parsed
            .validity()
            .time_to_expiration()
            .unwrap()
            .whole_seconds()
            <= 3600
    );
    let key_pair = rcgen::KeyPair::from_pem(&key).unwrap();
    assert_eq!(
        key_pair.public_key_raw(),
        parsed.public_key().subject_public_key.data.as_ref()
    );

    let (cert, _) = pki
        .issue_client_cert("system:node:pi-1", &[], Duration::from_secs(60))
        .unwrap();
    let identity = identity_from_cert(&der(&cert)).unwrap();
    assert_eq!(
        (identity.user.as_str(), identity.groups.len()),
        ("system:node:pi-1", 0)
    );

    for bad in [
        pki.issue_client_cert("", &["g"], Duration::from_secs(60)),
        pki.issue_client_cert("u", &[""], Duration::from_secs(60)),
        pki.issue_client_cert("u", &[], Duration::ZERO),
        pki.issue_client_cert("u", &[], Duration::MAX),
    ] {
        assert!(matches!(bad, Err(PkiError::InvalidArgument(_))), "{bad:?}");
    }
    assert!(matches!(
        identity_from_cert(b"not a certificate"),
        Err(PkiError::InvalidCertificate(_))
    ));
    // A CA certificate has no O: the identity is its CN and no groups.
    let ca = identity_from_cert(&der(pki.client_ca_pem())).unwrap();
    assert!(ca.user.starts_with("kmicro-client-ca@") && ca.groups.is_empty());
}

#[test]
fn debug_output_does_not_leak_keys() {
    let root = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(&config(root.path(), &[])).unwrap();
    let debug = format!("{pki:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    assert!(debug.contains(&*root.path().to_string_lossy()));
}
