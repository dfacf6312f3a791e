//! The one accept loop for plain HTTP and HTTPS: a cap on open connections (in all and per
//! client address), a deadline for each request head (which also ends idle keep-alive
//! connections), for each request body, and for the TLS handshake, and a graceful shutdown
//! that waits for in-flight requests only up to a deadline.
//! It never lets a slow or silent client hold a connection for ever.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
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
use crate::forwarded::Cidr;

/// How long to wait before accepting again after `accept` failed (out of file descriptors
/// and the like), instead of spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// What every connection needs, shared.
struct Shared {
    app: Router,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    body_read_timeout: Duration,
}

/// Open connections per client address, so one address cannot take every place.
struct PerIp {
    max: usize,
    exempt: Vec<Cidr>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection counted against its address; uncounted when dropped.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: Option<IpAddr>,
}

impl PerIp {
    /// A place for one more connection from `ip`, or `None` when it holds `max` already.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        if self.exempt.iter().any(|c| c.contains(ip)) {
            return Some(IpSlot {
                per_ip: self.clone(),
                ip: None,
            });
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            per_ip: self.clone(),
            ip: Some(ip),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self
            .per_ip
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// Why reading a request body failed when it did not arrive in full by its deadline; the
/// handler that reads it answers `408 request_timeout`.
#[derive(Debug)]
pub(crate) struct BodyDeadline;

impl std::fmt::Display for BodyDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyDeadline {}

/// Whether `e`, or any of its causes, is a body that missed its deadline.
pub(crate) fn is_body_deadline(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<BodyDeadline>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A request body that must arrive in full by one deadline, however steadily it trickles:
/// a client sending a byte a second cannot keep its request, and its place, for ever.
struct DeadlineBody {
    inner: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyDeadline)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
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
        body_read_timeout: config.body_read_timeout,
    });
    let per_ip = Arc::new(PerIp {
        max: config.max_connections_per_ip.max(1),
        exempt: config.trusted_proxies.clone(),
        open: Mutex::default(),
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
        let Some(slot) = per_ip.take(peer.ip()) else {
            // Dropping `tcp` closes it; its place under the cap is free again at once.
            // Not a warning: a client refused this way may retry at once, many times.
            tracing::debug!(
                %peer,
                max_connections_per_ip = per_ip.max,
                "too many connections from one address; closed"
            );
            continue;
        };
        // Finished connections' tasks are collected as we go, so the set stays small.
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            shared.clone(),
            tcp,
            peer,
            stopping.clone(),
            (permit, slot),
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
/// past the head deadline, or the server stops. `_places` free its places (under the cap,
/// and its address's) when it ends.
async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    stopping: watch::Receiver<bool>,
    _places: (OwnedSemaphorePermit, IpSlot),
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
/// an idle keep-alive connection, is closed then. Every body must arrive within the body
/// deadline, counted from its head.
async fn http<I>(shared: &Shared, io: I, peer: SocketAddr, mut stopping: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let app = shared.app.clone();
    let body_read_timeout = shared.body_read_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let mut request = request.map(|inner| {
            axum::body::Body::new(DeadlineBody {
                inner,
                deadline: Box::pin(tokio::time::sleep(body_read_timeout)),
            })
        });
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
