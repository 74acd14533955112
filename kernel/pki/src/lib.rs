//! kmicro's cluster PKI: certificate authorities, the API server's serving certificate, client
//! certificates, kubeconfig files, static bearer tokens and the rustls server configuration.
//!
//! [`Pki::load_or_create`] keeps everything in one directory, `<data-dir>/server/tls` (mode
//! `0700`), as PEM files:
//!
//! | file | what |
//! |------|------|
//! | `server-ca.crt`, `server-ca.key` | the CA clients trust for the API server |
//! | `client-ca.crt`, `client-ca.key` | the CA whose client certificates the server accepts |
//! | `serving-kube-apiserver.crt`, `.key` | the API server's serving certificate |
//! | `client-admin.crt`, `.key` | `system:admin` in `system:masters` |
//! | `service-account.key` | signs and verifies service-account tokens ([`ServiceAccountKey`]) |
//!
//! Keys are ECDSA P-256, mode `0600`; every file is written atomically (temporary file,
//! fsync, rename, fsync of the directory). Cryptography is ring's, chosen explicitly, so the
//! crate needs no process-wide rustls provider and cross-compiles for armv7.
//!
//! Authentication helpers follow Kubernetes: [`identity_from_cert`] maps a client
//! certificate's CN to the user and its O attributes to groups; [`TokenFile`] reads
//! kube-apiserver's static token file format.

mod ca;
mod client;
mod decode;
mod error;
mod files;
mod identity;
mod kubeconfig;
mod leaf;
mod pki;
mod random;
mod service_account;
mod serving;
mod subject;
mod tls;
mod tokens;
mod validity;

pub use error::PkiError;
pub use identity::{Identity, identity_from_cert};
pub use kubeconfig::{KubeconfigOptions, write_kubeconfig};
pub use pki::{Pki, PkiConfig};
pub use service_account::{ServiceAccountKey, looks_like_jwt};
pub use tokens::TokenFile;
