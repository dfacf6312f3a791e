//! Tillkit's reference sync server: catalogue download, idempotent batched sale upload,
//! stock ledger and audit. It never trusts a device's input and never logs a bearer token.

pub mod admin;
pub mod auth;
pub mod config;
mod conn;
pub mod error;
pub mod forwarded;
pub mod http;
pub mod logtext;
pub mod protocol;
pub mod store;
#[cfg(any(test, feature = "conformance"))]
pub mod testkit;
pub mod tls;
pub mod validate;
pub mod version;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::ServerConfig;
pub use error::{ApiError, ServerError, StoreError};
pub use store::{PgStore, ServerStore, SqliteStore};

/// Serves the protocol on `listener` with the default configuration until `shutdown` resolves.
pub async fn serve(
    store: Arc<dyn ServerStore>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_with_config(store, listener, ServerConfig::default(), shutdown).await
}

/// Serves the protocol on `listener` with `config` (HTTPS when `config.tls` is set) until
/// `shutdown` resolves; in-flight requests finish first, for up to `config.shutdown_grace`.
pub async fn serve_with_config(
    store: Arc<dyn ServerStore>,
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = http::router(store, config.clone());
    conn::serve(app, listener, &config, shutdown).await
}

/// A server running in this process (tests, the demo). Dropping it stops the server too.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    tls: bool,
    store: Arc<dyn ServerStore>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (`https://` when serving TLS), without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The server's store, for admin calls (`admin::*`) and inspection.
    pub fn store(&self) -> Arc<dyn ServerStore> {
        self.store.clone()
    }

    /// Stops accepting requests, lets in-flight ones finish, and waits for the server.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| ServerError::Task(e.to_string()))?
    }
}

/// Starts a server on 127.0.0.1 (a free port) over the SQLite file `data`, created if missing.
pub async fn spawn_local(data: &Path) -> Result<ServerHandle, ServerError> {
    spawn_local_with_config(data, ServerConfig::default()).await
}

/// `spawn_local` with a non-default configuration.
pub async fn spawn_local_with_config(
    data: &Path,
    config: ServerConfig,
) -> Result<ServerHandle, ServerError> {
    let store = SqliteStore::open_async(data).await?;
    spawn_with_store(Arc::new(store), config).await
}

/// Starts a server on 127.0.0.1 (a free port) over any backend, e.g. `store::open(url)`.
pub async fn spawn_with_store(
    store: Arc<dyn ServerStore>,
    config: ServerConfig,
) -> Result<ServerHandle, ServerError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    // A dropped handle drops the sender, which also ends the server.
    let shutdown = async move {
        let _ = rx.await;
    };
    let tls = config.tls.is_some();
    let task = tokio::spawn(serve_with_config(store.clone(), listener, config, shutdown));
    tracing::info!(%addr, tls, "local server started");
    Ok(ServerHandle {
        addr,
        tls,
        store,
        shutdown: Some(tx),
        task,
    })
}
