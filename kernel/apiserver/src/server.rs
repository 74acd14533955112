//! The HTTPS listener: TLS (with optional client certificates), HTTP/1.1 and HTTP/2 by ALPN,
//! upgrades on HTTP/1.1, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::Api;
use crate::auth::User;

/// How long a stop waits for open requests to finish.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// A bound HTTPS listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    api: Arc<Api>,
}

impl Server {
    /// Binds `addr`.
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        api: Arc<Api>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(tls),
            api,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections until `shutdown` resolves; then stops accepting and lets open
    /// requests finish.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(conn) => conn,
                        Err(err) => {
                            tracing::warn!(%err, "accept failed");
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let acceptor = self.acceptor.clone();
                    let api = self.api.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let tls = match acceptor.accept(tcp).await {
                            Ok(tls) => tls,
                            Err(err) => {
                                tracing::debug!(%peer, %err, "TLS handshake failed");
                                return;
                            }
                        };
                        let cert_user = client_identity(&tls);
                        let service = service_fn(move |req| {
                            let api = api.clone();
                            let user = cert_user.clone();
                            async move { Ok::<_, std::convert::Infallible>(api.handle(req, user).await) }
                        });
                        let builder = auto::Builder::new(TokioExecutor::new());
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                        if let Err(err) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(%peer, %err, "connection ended with an error");
                        }
                    });
                }
            }
        }
        drop(self.listener);
        self.api.begin_shutdown();
        if tokio::time::timeout(DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {DRAIN:?}; stopping anyway");
        }
    }
}

/// The user named by the verified client certificate of a connection, if it presented one.
fn client_identity(tls: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Option<User> {
    let (_, conn) = tls.get_ref();
    let cert = conn.peer_certificates()?.first()?;
    match kmicro_pki::identity_from_cert(cert.as_ref()) {
        Ok(identity) => Some(User::new(identity.user, identity.groups)),
        Err(err) => {
            tracing::warn!(%err, "a verified client certificate has no usable identity");
            None
        }
    }
}
