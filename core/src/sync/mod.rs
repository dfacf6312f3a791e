//! The sync engine: a background task on the core's own tokio runtime that uploads the
//! current store's queue in batches, pulls the catalogue, and publishes status.
//! UI-thread calls never wait on the network; the queue is only shortened by server acks.

pub mod backoff;
pub mod client;
pub mod protocol;
pub mod tls;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::outbox;
use crate::till::Till;
use backoff::Backoff;
use client::{Client, SyncError};
use protocol::SaleStatus;

/// How sync talks to the server. `SyncConfig::new(url, token)` gives the defaults.
#[derive(Clone)]
pub struct SyncConfig {
    /// Base URL of the sync server, e.g. `https://sync.example.com/`.
    pub server_url: String,
    /// The register's bearer token (bound to one store on the server).
    pub token: String,
    /// Most sales per upload request. Default 200 (the server accepts up to 500). Each
    /// upload that times out halves it (down to 1); each full batch acknowledged within
    /// a quarter of `request_timeout` doubles it again (up to this value).
    pub batch_size: usize,
    /// Whole-request timeout. Default 10 s.
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout. Default 5 s.
    pub connect_timeout: Duration,
    /// First retry delay ceiling. Default 250 ms.
    pub backoff_base: Duration,
    /// Largest retry delay. Default 60 s.
    pub backoff_cap: Duration,
    /// How often to sync while online even without a trigger. Default 30 s.
    pub periodic_interval: Duration,
    /// How often to pull the catalogue while online. Default 5 min.
    pub catalog_interval: Duration,
    /// Allow plain HTTP to loopback addresses (development and tests). Default false.
    pub allow_http_loopback: bool,
    /// PEM root certificates trusted in addition to the bundled Mozilla roots (private
    /// deployments, tests). Each entry holds one or more certificates.
    pub root_certificates_pem: Vec<Vec<u8>>,
    /// SPKI SHA-256 pins (`sha256/<base64>`, see `tls::certificate_pin`): when not empty,
    /// the server's verified chain must hold one of these keys. Default: none.
    pub pinned_spki_sha256: Vec<String>,
}

impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("server_url", &self.server_url)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl SyncConfig {
    /// Defaults for a server and token.
    pub fn new(server_url: &str, token: &str) -> Self {
        SyncConfig {
            server_url: if server_url.ends_with('/') {
                server_url.to_string()
            } else {
                format!("{server_url}/")
            },
            token: token.to_string(),
            batch_size: 200,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(60),
            periodic_interval: Duration::from_secs(30),
            catalog_interval: Duration::from_secs(300),
            allow_http_loopback: false,
            root_certificates_pem: Vec::new(),
            pinned_spki_sha256: Vec::new(),
        }
    }
}

/// Green or amber, as the cashier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// The server answered recently.
    Online,
    /// No network, or the server is unreachable.
    Offline,
}

/// Everything the status pill and the needs-attention list show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    pub connectivity: Connectivity,
    /// An upload is in progress.
    pub syncing: bool,
    /// Sales waiting for upload in the current store.
    pub pending: u64,
    /// When the oldest pending sale was queued (Unix ms).
    pub oldest_pending_at: Option<i64>,
    /// Last time the queue was fully acknowledged (Unix ms).
    pub last_success_at: Option<i64>,
    /// The last sync error, readable.
    pub last_error: Option<String>,
    /// Sales set aside by the server, plus 1 while the token is refused.
    pub attention: u64,
    /// The server refuses this register's token.
    pub auth_failed: bool,
}

impl SyncStatus {
    fn initial() -> Self {
        SyncStatus {
            connectivity: Connectivity::Offline,
            syncing: false,
            pending: 0,
            oldest_pending_at: None,
            last_success_at: None,
            last_error: None,
            attention: 0,
            auth_failed: false,
        }
    }

    /// Age of the oldest pending sale now.
    pub fn oldest_pending_age(&self) -> Option<Duration> {
        self.oldest_pending_at
            .map(|at| Duration::from_millis((crate::time::now_ms() - at).max(0) as u64))
    }
}

/// Receives status changes. Called on a core thread, never the caller's.
pub trait StatusListener: Send + Sync {
    /// The new status (the current one first, right after subscribing).
    fn on_status(&self, status: SyncStatus);
}

/// Keeps a listener subscribed; dropping it unsubscribes.
pub struct Subscription(tokio::task::AbortHandle);

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Mutable state shared between the engine's task and its handle.
struct Shared {
    till: Arc<Till>,
    cfg: SyncConfig,
    client: Client,
    network_up: AtomicBool,
    reachable: AtomicBool,
    auth_failed: AtomicBool,
    syncing: AtomicBool,
    /// Batches the server has answered, ever: a round that moved it made progress.
    acknowledged: AtomicU64,
    wake: Notify,
    status: watch::Sender<SyncStatus>,
    last_error: Mutex<Option<String>>,
    /// When the network last came back with sales waiting (for the latency metric).
    reconnect_at: Mutex<Option<(i64, u64)>>,
}

/// The running sync engine. Dropping it stops the background task.
pub struct SyncEngine {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncEngine {
    /// Starts the engine on its own runtime. Assumes the network is up until told otherwise.
    pub fn start(till: Arc<Till>, cfg: SyncConfig) -> Result<SyncEngine> {
        let client = Client::new(&cfg)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tillkit-sync")
            .enable_all()
            .build()
            .map_err(|e| Error::Sync(format!("cannot start runtime: {e}")))?;
        let (status, _) = watch::channel(SyncStatus::initial());
        let shared = Arc::new(Shared {
            till,
            cfg,
            client,
            network_up: AtomicBool::new(true),
            reachable: AtomicBool::new(false),
            auth_failed: AtomicBool::new(false),
            syncing: AtomicBool::new(false),
            acknowledged: AtomicU64::new(0),
            wake: Notify::new(),
            status,
            last_error: Mutex::new(None),
            reconnect_at: Mutex::new(None),
        });
        shared.till.set_offline(true);
        let task = runtime.spawn(run(shared.clone()));
        Ok(SyncEngine {
            shared,
            runtime: Some(runtime),
            task,
        })
    }

    /// The app reports the OS network state. Going up triggers an immediate sync.
    pub fn set_network_available(&self, available: bool) {
        let was = self.shared.network_up.swap(available, Ordering::SeqCst);
        if available && !was {
            let pending = self.shared.pending().unwrap_or(0);
            *lock(&self.shared.reconnect_at) = Some((crate::time::now_ms(), pending));
        }
        if !available {
            self.shared.reachable.store(false, Ordering::SeqCst);
            self.shared.till.set_offline(true);
        }
        self.shared.wake.notify_one();
    }

    /// Sync as soon as possible (e.g. a "sync now" button, or the token was replaced).
    pub fn sync_now(&self) {
        self.shared.auth_failed.store(false, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// The current status.
    pub fn status(&self) -> SyncStatus {
        self.shared.refresh_status();
        self.shared.status.borrow().clone()
    }

    /// Calls `listener` with the current status at once and on every change, until the
    /// returned subscription is dropped.
    pub fn subscribe(&self, listener: Arc<dyn StatusListener>) -> Subscription {
        let mut rx = self.shared.status.subscribe();
        let handle = self.shared_runtime().spawn(async move {
            let first = rx.borrow_and_update().clone();
            listener.on_status(first);
            while rx.changed().await.is_ok() {
                let next = rx.borrow_and_update().clone();
                listener.on_status(next);
            }
        });
        Subscription(handle.abort_handle())
    }

    /// Waits until the current store's queue is empty or `timeout` passes; true if empty.
    /// For tools and tests: the app itself just watches the status.
    pub fn wait_until_drained(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.shared.pending().map(|p| p == 0).unwrap_or(false)
                && !self.shared.syncing.load(Ordering::SeqCst)
            {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn shared_runtime(&self) -> &tokio::runtime::Handle {
        // The runtime lives as long as the engine.
        match &self.runtime {
            Some(rt) => rt.handle(),
            None => unreachable_runtime(),
        }
    }
}

#[cold]
fn unreachable_runtime() -> &'static tokio::runtime::Handle {
    // `runtime` is only taken in Drop, after which no method can be called.
    panic!("sync runtime used after shutdown")
}

impl Drop for SyncEngine {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(rt) = self.runtime.take() {
            // Never block a caller's thread on in-flight HTTP: abandon it. Anything in
            // flight stays queued and is re-sent (deduplicated) next time.
            rt.shutdown_background();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn store_id(&self) -> Option<String> {
        self.till.session().ok().map(|s| s.store_id)
    }

    fn pending(&self) -> Result<u64> {
        Ok(self.till.queue_counts()?.pending)
    }

    /// Recomputes the status from the queue and flags; listeners hear only real changes.
    fn refresh_status(&self) {
        let counts = self.till.queue_counts().unwrap_or_default();
        let last_success_at = self.store_id().and_then(|s| {
            self.till
                .with_reader(|c| crate::metrics::last_success(c, &s))
                .ok()
                .flatten()
        });
        let auth_failed = self.auth_failed.load(Ordering::SeqCst);
        let online =
            self.network_up.load(Ordering::SeqCst) && self.reachable.load(Ordering::SeqCst);
        let next = SyncStatus {
            connectivity: if online {
                Connectivity::Online
            } else {
                Connectivity::Offline
            },
            syncing: self.syncing.load(Ordering::SeqCst),
            pending: counts.pending,
            oldest_pending_at: counts.oldest_pending_at,
            last_success_at,
            last_error: lock(&self.last_error).clone(),
            attention: counts.attention + u64::from(auth_failed),
            auth_failed,
        };
        self.status.send_if_modified(|cur| {
            if *cur == next {
                false
            } else {
                *cur = next;
                true
            }
        });
    }

    fn set_error(&self, e: Option<String>) {
        *lock(&self.last_error) = e;
    }

    fn set_reachable(&self, up: bool) {
        self.reachable.store(up, Ordering::SeqCst);
        self.till.set_offline(!up);
    }
}

/// What a sync round ended with.
enum Round {
    /// Everything pending was acknowledged (or set aside).
    Drained,
    /// Try again after the delay.
    RetryAfter(Option<Duration>),
    /// Stop until someone acts (token refused) or the next periodic tick.
    Blocked,
}

async fn run(shared: Arc<Shared>) {
    let mut backoff = Backoff::new(shared.cfg.backoff_base, shared.cfg.backoff_cap);
    let mut next_catalog = tokio::time::Instant::now();
    let full_batch = shared.cfg.batch_size.max(1);
    // Shrinks when a batch times out, so a slow link still drains; full again once drained.
    let mut batch_size = full_batch;
    let sale_signal = shared.till.sale_signal();
    loop {
        shared.refresh_status();
        // `retrying`: the last round failed, so a new sale waits for the backoff like the
        // rest of the queue. `not_before`: the server's Retry-After, which nothing cuts short.
        let mut retrying = false;
        let mut not_before = None;
        let wait = if !shared.network_up.load(Ordering::SeqCst) {
            None
        } else if shared.auth_failed.load(Ordering::SeqCst) {
            Some(shared.cfg.periodic_interval)
        } else {
            let span = tracing::info_span!("sync_round", attempt = backoff.attempts());
            let acknowledged = shared.acknowledged.load(Ordering::SeqCst);
            match round(&shared, &mut next_catalog, &mut batch_size)
                .instrument(span)
                .await
            {
                Round::Drained => {
                    backoff.reset();
                    batch_size = full_batch;
                    Some(shared.cfg.periodic_interval)
                }
                Round::RetryAfter(floor) => {
                    if shared.acknowledged.load(Ordering::SeqCst) != acknowledged {
                        // Batches went through before this failure: the link works, so a
                        // long drain does not carry the backoff of failures long past.
                        backoff.reset();
                    }
                    retrying = true;
                    not_before = floor.map(|f| tokio::time::Instant::now() + f);
                    Some(backoff.next_delay(floor))
                }
                Round::Blocked => Some(shared.cfg.periodic_interval),
            }
        };
        shared.refresh_status();
        let deadline = wait.map(|d| tokio::time::Instant::now() + d);
        loop {
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shared.wake.notified() => {
                    // "Sync now" and a network change retry at once, but never before the
                    // server said it would take requests again.
                    shared.refresh_status();
                    if not_before.is_none_or(|t| tokio::time::Instant::now() >= t) {
                        break;
                    }
                }
                _ = sleep => break,
                _ = sale_signal.notified() => {
                    // Show the new sale in the pending count at once. Upload it now only
                    // if the server is reachable and the last attempt went through;
                    // otherwise keep to the backoff schedule.
                    shared.refresh_status();
                    if !retrying && shared.reachable.load(Ordering::SeqCst) && !shared.auth_failed.load(Ordering::SeqCst) {
                        break;
                    }
                }
            }
        }
    }
}

/// One round: probe if needed, pull the catalogue if due, drain the queue.
async fn round(
    shared: &Shared,
    next_catalog: &mut tokio::time::Instant,
    batch_size: &mut usize,
) -> Round {
    let Some(store_id) = shared.store_id() else {
        return Round::Blocked;
    };
    if !shared.reachable.load(Ordering::SeqCst) {
        match shared.client.health().await {
            Ok(()) => {
                shared.set_reachable(true);
                tracing::info!("server reachable");
            }
            Err(e) => return failed(shared, e),
        }
        shared.refresh_status();
    }
    raise_seq_floor(shared, &store_id).await;
    if tokio::time::Instant::now() >= *next_catalog {
        match pull_catalog(shared, &store_id).await {
            Ok(()) => *next_catalog = tokio::time::Instant::now() + shared.cfg.catalog_interval,
            Err(e) => return failed(shared, e),
        }
    }
    match drain(shared, &store_id, batch_size).await {
        Ok(()) => {
            shared.set_error(None);
            let now = crate::time::now_ms();
            let reconnect = lock(&shared.reconnect_at).take();
            let _ = shared.till.with_writer(|c| {
                crate::metrics::record_success(c, &store_id, now)?;
                if let Some((up_at, sales)) = reconnect.filter(|(_, n)| *n > 0) {
                    crate::metrics::record_latency(c, &store_id, up_at, now, sales)?;
                }
                Ok(())
            });
            Round::Drained
        }
        Err(e) => failed(shared, e),
    }
}

fn failed(shared: &Shared, e: SyncError) -> Round {
    tracing::warn!(error = %e, "sync attempt failed");
    shared.set_error(Some(e.to_string()));
    match e {
        SyncError::Network(_) | SyncError::Timeout(_) => {
            shared.set_reachable(false);
            Round::RetryAfter(None)
        }
        SyncError::Busy { retry_after, .. } => Round::RetryAfter(retry_after),
        SyncError::BadResponse(_) | SyncError::Refused { .. } => Round::RetryAfter(None),
        SyncError::Auth { .. } => {
            shared.auth_failed.store(true, Ordering::SeqCst);
            Round::Blocked
        }
    }
}

/// After a recovery or a fresh start, the first contact asks the server for the highest
/// receipt sequence it holds for this register and raises the local counter to it. A
/// failure never holds up the upload (sales rung meanwhile keep their numbers either way);
/// it is asked again next round.
async fn raise_seq_floor(shared: &Shared, store_id: &str) {
    if !shared.till.needs_seq_floor().unwrap_or(false) {
        return;
    }
    let Ok(session) = shared.till.session() else {
        return;
    };
    match shared.client.last_seq(store_id, &session.register_id).await {
        Ok(last_seq) => {
            if let Err(e) = shared
                .till
                .raise_seq_floor(store_id, &session.register_id, last_seq)
            {
                tracing::warn!(error = %e, "cannot raise the receipt sequence floor");
            }
        }
        Err(e) => tracing::warn!(error = %e, "server did not tell the receipt sequence floor"),
    }
}

async fn pull_catalog(shared: &Shared, store_id: &str) -> Result<(), SyncError> {
    let since = shared.till.catalog_cursor(store_id).ok().flatten();
    let payload = shared.client.catalog(store_id, since.as_deref()).await?;
    if payload.store_id != store_id {
        return Err(SyncError::BadResponse("catalogue for another store".into()));
    }
    // A refused catalogue keeps the previous one; selling goes on.
    if let Err(e) = shared.till.import_catalog(&payload) {
        tracing::warn!(error = %e, "catalogue from server refused");
        shared.set_error(Some(format!("catalogue refused: {e}")));
    }
    Ok(())
}

/// A full batch acknowledged within `request_timeout / QUICK_BATCH_FRACTION` shows the link
/// carries twice as much in time: a batch size halved by a timeout doubles again.
const QUICK_BATCH_FRACTION: u32 = 4;

/// Uploads the store's pending sales oldest first until none are left.
/// `size` is the batch size to use; halved when a batch times out (the link could not
/// carry it in time), so the next attempt sends less, and doubled (up to the configured
/// size) when a full batch goes through quickly, so one stall does not slow a whole drain.
async fn drain(shared: &Shared, store_id: &str, size: &mut usize) -> Result<(), SyncError> {
    let mut batch_size = *size;
    loop {
        let batch = shared
            .till
            .with_reader(|c| outbox::next_batch(c, store_id, batch_size))
            .map_err(local)?;
        if batch.is_empty() {
            return Ok(());
        }
        shared.syncing.store(true, Ordering::SeqCst);
        shared.refresh_status();
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        let payloads: Vec<&str> = batch.iter().map(|(_, p)| p.as_str()).collect();
        let span = tracing::info_span!("upload_batch", store = store_id, sales = ids.len());
        let sent_at = tokio::time::Instant::now();
        let result = shared
            .client
            .upload(store_id, protocol::batch_body(&payloads))
            .instrument(span)
            .await;
        shared.syncing.store(false, Ordering::SeqCst);
        let response = match result {
            Ok(r) => r,
            // The request itself was refused: split the batch to find the sale that
            // causes it, and set that one sale aside so the queue moves on.
            Err(SyncError::Refused { status, message }) if status == 400 || status == 413 => {
                if ids.len() > 1 {
                    batch_size = ids.len() / 2;
                    continue;
                }
                let reason = format!("refused by the server (HTTP {status}): {message}");
                shared
                    .till
                    .with_writer(|c| outbox::set_aside(c, &ids[0], &reason))
                    .map_err(local)?;
                continue;
            }
            Err(e) => {
                let _ = shared
                    .till
                    .with_writer(|c| outbox::record_failure(c, &ids, &e.to_string()));
                if matches!(e, SyncError::Timeout(_)) {
                    // Resending the same batch would time out the same way on a slow link.
                    *size = (ids.len() / 2).max(1);
                }
                return Err(e);
            }
        };
        let mut synced = Vec::with_capacity(ids.len());
        // Distinct sales answered: a response naming one sale twice and another not at
        // all must not pass for complete.
        let mut answered = std::collections::HashSet::with_capacity(ids.len());
        shared
            .till
            .with_writer(|c| {
                for r in &response.results {
                    if !ids.contains(&r.sale_id) || !answered.insert(r.sale_id.as_str()) {
                        continue;
                    }
                    match r.status {
                        SaleStatus::Accepted | SaleStatus::Duplicate => {
                            synced.push(r.sale_id.clone())
                        }
                        SaleStatus::Rejected => {
                            let reason = r.reason.as_deref().unwrap_or("rejected by the server");
                            outbox::set_aside(c, &r.sale_id, reason)?;
                        }
                        SaleStatus::Conflict => {
                            let reason = r
                                .reason
                                .as_deref()
                                .unwrap_or("the server holds a different sale with this id");
                            outbox::set_aside(c, &r.sale_id, &format!("conflict: {reason}"))?;
                        }
                    }
                }
                outbox::mark_synced(c, &synced)
            })
            .map_err(local)?;
        shared.acknowledged.fetch_add(1, Ordering::SeqCst);
        tracing::info!(
            sent = ids.len(),
            synced = synced.len(),
            "batch acknowledged"
        );
        shared.refresh_status();
        if answered.len() < ids.len() {
            return Err(SyncError::BadResponse(format!(
                "the server answered for {} of {} sales",
                answered.len(),
                ids.len()
            )));
        }
        if ids.len() >= *size
            && sent_at.elapsed() < shared.cfg.request_timeout / QUICK_BATCH_FRACTION
        {
            *size = (*size * 2).min(shared.cfg.batch_size.max(1));
        }
        batch_size = *size;
    }
}

fn local(e: Error) -> SyncError {
    // A local storage failure: nothing was lost; retry later like a busy server.
    SyncError::BadResponse(format!("local storage: {e}"))
}
