//! What the cashier and the operator see of sync: the status record, its per-store backlog,
//! and listener subscriptions. It words and counts; it never decides what to upload.

use std::time::Duration;

use super::protocol::ProtocolRange;

/// Green or amber, as the cashier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// The server answered recently.
    Online,
    /// No network, or the server is unreachable.
    Offline,
}

/// Why a store's sales cannot upload now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBlock {
    /// This device holds no token for the store.
    NoToken,
    /// The server refused the store's token (unknown, revoked, or another store's).
    TokenRefused,
}

/// One store's unsent sales on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreBacklog {
    pub store_id: String,
    /// Sales waiting for upload, parked ones included.
    pub pending: u64,
    /// Of those, parked: the network path refused them even alone; still retried.
    pub parked: u64,
    /// Sales the server set aside.
    pub set_aside: u64,
    /// Why none of them can upload now, if so.
    pub blocked: Option<StoreBlock>,
}

/// The app and the server speak no common version of the sync protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolMismatch {
    /// The server is older than this app: update the server.
    ServerTooOld { app: u32, server: ProtocolRange },
    /// This app is older than the server serves: update the app.
    AppTooOld { app: u32, server: ProtocolRange },
}

impl ProtocolMismatch {
    /// Which side is behind, from the app's version and the server's range.
    pub fn of(app: u32, server: ProtocolRange) -> Self {
        if app > server.max {
            ProtocolMismatch::ServerTooOld { app, server }
        } else {
            ProtocolMismatch::AppTooOld { app, server }
        }
    }
}

/// Everything the status pill and the needs-attention list show. Counts cover every store
/// on this device, whoever is logged in: `pending` is never 0 while a sale is unsent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    pub connectivity: Connectivity,
    /// An upload is in progress.
    pub syncing: bool,
    /// Sales waiting for upload, every store, parked ones included.
    pub pending: u64,
    /// When the oldest pending sale was queued (Unix ms).
    pub oldest_pending_at: Option<i64>,
    /// Last time a store's queue was fully acknowledged (Unix ms).
    pub last_success_at: Option<i64>,
    /// The last sync error, readable.
    pub last_error: Option<String>,
    /// What needs a person: sales set aside by the server, parked sales, and one per store
    /// whose sales cannot upload (no token, or the token refused).
    pub attention: u64,
    /// The server refuses the token of some store with unsent sales.
    pub auth_failed: bool,
    /// Some store with unsent sales has no token on this device or a refused one: the
    /// register needs pairing again (`pair`). Its sales stay queued and upload after it.
    pub needs_pairing: bool,
    /// Set while the server and this app speak no common protocol version.
    pub protocol_mismatch: Option<ProtocolMismatch>,
    /// Every store with unsent sales, by store id.
    pub stores: Vec<StoreBacklog>,
    /// The session store's offline limits: the open window and the limits near or reached
    /// (`None` without a session).
    pub offline: Option<crate::offline_limits::OfflineStatus>,
}

impl SyncStatus {
    pub(crate) fn initial() -> Self {
        SyncStatus {
            connectivity: Connectivity::Offline,
            syncing: false,
            pending: 0,
            oldest_pending_at: None,
            last_success_at: None,
            last_error: None,
            attention: 0,
            auth_failed: false,
            needs_pairing: false,
            protocol_mismatch: None,
            stores: Vec::new(),
            offline: None,
        }
    }

    /// Age of the oldest pending sale now.
    pub fn oldest_pending_age(&self) -> Option<Duration> {
        self.oldest_pending_at.map(|at| {
            let ms = crate::time::now_ms().saturating_sub(at).max(0);
            Duration::from_millis(u64::try_from(ms).unwrap_or(0))
        })
    }

    /// Stores whose sales cannot upload now, with how many wait and why.
    pub fn blocked_stores(&self) -> impl Iterator<Item = &StoreBacklog> {
        self.stores.iter().filter(|s| s.blocked.is_some())
    }
}

/// Receives status changes. Called on a core thread, never the caller's.
pub trait StatusListener: Send + Sync {
    /// The new status (the current one first, right after subscribing).
    fn on_status(&self, status: SyncStatus);
}

/// Keeps a listener subscribed; dropping it unsubscribes.
pub struct Subscription(pub(crate) tokio::task::AbortHandle);

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The status as a stream: the current status first, then each change. Runtime-agnostic
/// (any executor may poll it); dropping it unsubscribes.
pub struct StatusWatch {
    rx: tokio::sync::watch::Receiver<SyncStatus>,
    started: bool,
}

impl StatusWatch {
    pub(crate) fn new(rx: tokio::sync::watch::Receiver<SyncStatus>) -> Self {
        StatusWatch { rx, started: false }
    }

    /// The current status on the first call, then the next change; `None` once the engine
    /// is gone. Cancel-safe: a dropped call loses no change (the next one sees it).
    pub async fn next(&mut self) -> Option<SyncStatus> {
        if !self.started {
            self.started = true;
        } else {
            self.rx.changed().await.ok()?;
        }
        Some(self.rx.borrow_and_update().clone())
    }
}
