//! The one accept loop for plain HTTP and HTTPS: a cap on open connections, a deadline for
//! each request head (which also ends idle keep-alive connections), the TLS handshake, and a
//! graceful shutdown that waits for in-flight requests only up to a deadline.
//! It never lets a slow or silent client hold a connection for ever.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::config::ServerConfig;
use crate::error::ServerError;

/// How long to wait before accepting again after `accept` failed (out of file descriptors
/// and the like), instead of spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// What every connection needs, shared.
struct Shared {
    app: Router,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
}

/// Serves `app` on `listener` (HTTPS when `config.tls` is set) until `shutdown` resolves.
/// At most `config.max_connections` connections are open at once; beyond that, new clients
/// wait in the listen backlog until one closes. On shutdown, open connections finish their
/// requests for up to `config.shutdown_grace`, then are dropped.
pub async fn serve(
    app: Router,
    listener: TcpListener,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let shared = Arc::new(Shared {
        app,
        tls: config.tls.clone().map(TlsAcceptor::from),
        header_read_timeout: config.header_read_timeout,
    });
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut at_cap_logged = false;
    tokio::pin!(shutdown);
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => {
                at_cap_logged = false;
                p
            }
            Err(_) => {
                if !at_cap_logged {
                    tracing::warn!(
                        max_connections = config.max_connections,
                        "connection cap reached; new clients wait until one closes"
                    );
                    at_cap_logged = true;
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        // Finished connections' tasks are collected as we go, so the set stays small.
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            shared.clone(),
            tcp,
            peer,
            stopping.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            still_open = connections.len(),
            of = open,
            grace_secs = config.shutdown_grace.as_secs(),
            "connections still open at the shutdown deadline were dropped"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One client: the TLS handshake when serving HTTPS, then HTTP/1.1 until it closes, idles
/// past the head deadline, or the server stops. `_permit` frees its place when it ends.
async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Answers are one write each; Nagle would only add latency.
    let _ = tcp.set_nodelay(true);
    match &shared.tls {
        None => http(&shared, TokioIo::new(tcp), peer, stopping).await,
        Some(acceptor) => {
            let handshake = acceptor.accept(tcp);
            match tokio::time::timeout(shared.header_read_timeout, handshake).await {
                Ok(Ok(tls)) => http(&shared, TokioIo::new(tls), peer, stopping).await,
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// HTTP/1.1 on one connection. Every request head must arrive within the head deadline,
/// counted from when the connection starts waiting for it: a client dripping a header, or
/// an idle keep-alive connection, is closed then.
async fn http<I>(shared: &Shared, io: I, peer: SocketAddr, mut stopping: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let app = shared.app.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        // The handlers read the peer as axum's `ConnectInfo`, as with `axum::serve`.
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { app.call(request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.header_read_timeout);
    let conn = builder.serve_connection(io, service);
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
