//! HTTPS on the server itself (rustls with the ring provider, as the rest of Tillkit): loading
//! a PEM certificate chain and key, and the accept loop that serves the router over TLS.
//! It never logs key material, and a failed handshake never reaches the router.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::error::ServerError;

/// A client that has not finished its handshake by then is dropped, so idle half-open
/// connections cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS server configuration from a PEM certificate chain (leaf first) and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1), for `ServerConfig::tls`.
pub fn load_pem(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        ServerError::Tls(format!("{what} {}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate file", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate file", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("certificate file", cert, &"no certificate in it"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key file", key, &e))?;
    config(chain, key_der)
}

/// A TLS server configuration from a certificate chain and its key in DER.
pub fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ServerError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| ServerError::Tls(format!("certificate and key: {e}")))?;
    // The protocol is HTTP/1.1 (what the router is served as without TLS too).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then lets open
/// connections finish their requests. Each connection's peer address reaches the handlers
/// as `ConnectInfo<SocketAddr>`, as with plain HTTP.
pub async fn serve(
    app: Router,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let acceptor = TlsAcceptor::from(tls);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, app, stopping) = (acceptor.clone(), app.clone(), stopping.clone());
                connections.spawn(connection(acceptor, app, tcp, peer, stopping));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One client: handshake, then HTTP/1.1 until it closes or the server stops.
async fn connection(
    acceptor: TlsAcceptor,
    app: Router,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stopping: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = TowerToHyperService::new(app.layer(axum::Extension(ConnectInfo(peer))));
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = stopping.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
