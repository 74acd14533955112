//! Real TLS handshakes against `Pki::server_config` over loopback TCP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kmicro_pki::{Pki, PkiConfig, identity_from_cert};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};

const GREETING: &[u8] = b"hello";

/// What the server saw of a completed handshake.
#[derive(Debug)]
struct Seen {
    alpn: Option<Vec<u8>>,
    peer_chain: Option<Vec<CertificateDer<'static>>>,
}

fn pki(dir: &tempfile::TempDir) -> Pki {
    Pki::load_or_create(&PkiConfig {
        dir: dir.path().join("tls"),
        sans: vec!["10.9.8.7".into()],
    })
    .unwrap()
}

/// Accepts one connection, completes the handshake, greets and closes.
fn serve_once(config: Arc<ServerConfig>) -> (u16, thread::JoinHandle<Result<Seen, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| e.to_string())?;
        }
        let seen = Seen {
            alpn: tls.conn.alpn_protocol().map(<[u8]>::to_vec),
            peer_chain: tls.conn.peer_certificates().map(<[_]>::to_vec),
        };
        tls.write_all(GREETING).map_err(|e| e.to_string())?;
        tls.conn.send_close_notify();
        tls.flush().map_err(|e| e.to_string())?;
        Ok(seen)
    });
    (port, handle)
}

fn client_config(
    server_ca_pem: &str,
    client: Option<(&str, &str)>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(server_ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Connects, reads the greeting; returns the negotiated ALPN protocol.
fn connect(port: u16, name: &str, config: Arc<ClientConfig>) -> std::io::Result<Option<Vec<u8>>> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    let mut greeting = [0u8; GREETING.len()];
    tls.read_exact(&mut greeting)?;
    assert_eq!(greeting, GREETING);
    Ok(tls.conn.alpn_protocol().map(<[u8]>::to_vec))
}

const BOTH: &[&[u8]] = &[b"h2", b"http/1.1"];
const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

#[test]
fn admin_client_certificate_is_verified_and_h2_negotiated() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir);
    for versions in [TLS13, TLS12] {
        let (port, server) = serve_once(pki.server_config().unwrap());
        let client = client_config(
            pki.server_ca_pem(),
            Some((pki.admin_cert_pem(), pki.admin_key_pem())),
            BOTH,
            versions,
        );
        let alpn = connect(port, "localhost", client).unwrap();
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        let seen = server.join().unwrap().unwrap();
        assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
        let chain = seen.peer_chain.expect("the server sees the client chain");
        let admin = CertificateDer::from_pem_slice(pki.admin_cert_pem().as_bytes()).unwrap();
        assert_eq!(chain[0], admin);
        let identity = identity_from_cert(&chain[0]).unwrap();
        assert_eq!(identity.user, "system:admin");
        assert_eq!(identity.groups, ["system:masters"]);
    }
}

#[test]
fn client_without_certificate_is_accepted_anonymously() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir);
    let (port, server) = serve_once(pki.server_config().unwrap());
    let client = client_config(pki.server_ca_pem(), None, &[b"http/1.1"], TLS13);
    let alpn = connect(port, "127.0.0.1", client).unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let seen = server.join().unwrap().unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(seen.peer_chain.is_none());

    // No ALPN at all is fine too; the configured SANs verify.
    let (port, server) = serve_once(pki.server_config().unwrap());
    let client = client_config(pki.server_ca_pem(), None, &[], TLS13);
    assert_eq!(connect(port, "10.9.8.7", client).unwrap(), None);
    assert!(server.join().unwrap().unwrap().alpn.is_none());
    let (port, server) = serve_once(pki.server_config().unwrap());
    let client = client_config(pki.server_ca_pem(), None, BOTH, TLS13);
    connect(port, "kubernetes.default.svc", client).unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn issued_client_certificate_with_several_groups_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir);
    let (cert, key) = pki
        .issue_client_cert("bob", &["a", "b"], Duration::from_secs(600))
        .unwrap();
    let (port, server) = serve_once(pki.server_config().unwrap());
    let client = client_config(pki.server_ca_pem(), Some((&cert, &key)), BOTH, TLS13);
    connect(port, "localhost", client).unwrap();
    let seen = server.join().unwrap().unwrap();
    let identity = identity_from_cert(&seen.peer_chain.unwrap()[0]).unwrap();
    assert_eq!(
        (identity.user.as_str(), identity.groups),
        ("bob", vec!["a".to_string(), "b".to_string()])
    );
}

#[test]
fn client_certificate_from_a_foreign_ca_is_rejected() {
    let (dir, other_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pki, foreign) = (pki(&dir), pki(&other_dir));
    for versions in [TLS13, TLS12] {
        let (port, server) = serve_once(pki.server_config().unwrap());
        let client = client_config(
            pki.server_ca_pem(),
            Some((foreign.admin_cert_pem(), foreign.admin_key_pem())),
            BOTH,
            versions,
        );
        assert!(connect(port, "localhost", client).is_err());
        let err = server.join().unwrap().unwrap_err();
        assert!(
            err.contains("UnknownIssuer") || err.contains("invalid peer certificate"),
            "{err}"
        );
    }

    // A server certificate is not a client certificate either (wrong CA and wrong usage).
    let (port, server) = serve_once(pki.server_config().unwrap());
    let serving_key =
        std::fs::read_to_string(dir.path().join("tls/serving-kube-apiserver.key")).unwrap();
    let client = client_config(
        pki.server_ca_pem(),
        Some((pki.serving_cert_pem(), &serving_key)),
        BOTH,
        TLS13,
    );
    assert!(connect(port, "localhost", client).is_err());
    assert!(server.join().unwrap().is_err());
}

#[test]
fn client_trusting_another_server_ca_rejects_the_server() {
    let (dir, other_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pki, foreign) = (pki(&dir), pki(&other_dir));
    let (port, server) = serve_once(pki.server_config().unwrap());
    let client = client_config(foreign.server_ca_pem(), None, BOTH, TLS13);
    let err = connect(port, "localhost", client).unwrap_err().to_string();
    // Both CAs were likely created in the same second and then have the same name
    // (`kmicro-server-ca@<unix time>`): webpki then finds the anchor by name and rejects the
    // signature instead of reporting an unknown issuer.
    assert!(
        err.contains("UnknownIssuer") || err.contains("BadSignature"),
        "{err}"
    );
    assert!(server.join().unwrap().is_err());
}
