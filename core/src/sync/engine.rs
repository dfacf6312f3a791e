//! The running engine: a supervised background task on the core's own tokio runtime that
//! uploads every store's queue first, then pulls the catalogue on its own schedule, probes
//! the server's health while it does not answer, and publishes status. A panic in a round is
//! caught and the task goes on after a backoff.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::Instrument;

use super::backoff::{Backoff, deadline_after};
use super::client::Client;
use super::error::SyncError;
use super::probe::{Probed, Prober};
use super::status::{
    Connectivity, ProtocolMismatch, StatusListener, StatusWatch, StoreBacklog, StoreBlock,
    Subscription, SyncStatus,
};
use super::upload::{self, Sizings};
use super::{MAX_PROBE_INTERVAL, SyncConfig, catalog};
use crate::error::{Error, Result};
use crate::refund::{CompletedRefund, RefundRequest, Refundable, SaleRef};
use crate::sale::SaleRecord;
use crate::till::Till;

/// Mutable state shared between the engine's task and its handle.
pub(super) struct Shared {
    pub(super) till: Arc<Till>,
    pub(super) cfg: SyncConfig,
    pub(super) client: Client,
    network_up: AtomicBool,
    reachable: AtomicBool,
    /// The last upload or probe got no answer at all (refused, reset, timed out): the
    /// engine probes the server's health instead of retrying uploads until it answers.
    lost: AtomicBool,
    /// "Sync now": the next round uploads at once even while an outage is being probed.
    /// It leaves `lost` alone, so the answer that ends the outage still records its sample.
    force_upload: AtomicBool,
    syncing: AtomicBool,
    /// Batches the server has answered, ever: a round that moved it made progress.
    acknowledged: AtomicU64,
    /// Upload rounds finished, ever (a panic that recurs every round keeps it still).
    rounds: AtomicU64,
    /// Answers that show the path carrying requests, ever: an upload the server answered
    /// with batch results, a catalogue downloaded, a health probe answered over HTTP
    /// (the server's health or any other page), an upload refused for what it carried (see
    /// `refusal_answered`). Any other upload or pull answered with an error does not count. A lone sale cut again after it moved was cut by a path that carries
    /// other requests.
    answers: AtomicU64,
    wake: Notify,
    status: watch::Sender<SyncStatus>,
    flags: Mutex<Flags>,
}

/// What the status shows beyond the queue itself.
#[derive(Default)]
struct Flags {
    upload_error: Option<String>,
    catalog_error: Option<String>,
    /// Stores whose sales cannot upload now, and why.
    blocked: BTreeMap<String, StoreBlock>,
    mismatch: Option<ProtocolMismatch>,
    /// When the outage could first have ended, with the sales then waiting to be sent (for
    /// the latency metric): the network coming back, or the last unanswered request of an
    /// outage the engine found itself. Monotonic: a wall-clock step cannot bend a sample.
    reconnect_at: Option<(std::time::Instant, u64)>,
    /// When the latest request of the current outage that got no usable answer was sent:
    /// the server cannot be known to have come back before then. Set means an outage the
    /// engine found itself is on, whatever `lost` says.
    failed_at: Option<std::time::Instant>,
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
        let cfg = cfg.clamped();
        let client = Client::new(&cfg)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tillkit-sync")
            .enable_all()
            .build()
            .map_err(|e| Error::sync("cannot start the sync runtime", e))?;
        let (status, _) = watch::channel(SyncStatus::initial());
        let shared = Arc::new(Shared {
            till,
            cfg,
            client,
            network_up: AtomicBool::new(true),
            reachable: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            force_upload: AtomicBool::new(false),
            syncing: AtomicBool::new(false),
            acknowledged: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            wake: Notify::new(),
            status,
            flags: Mutex::new(Flags::default()),
        });
        shared.till.set_offline(true);
        // The queue as it is, before anybody asks: a status never starts at 0 pending.
        shared.refresh_status();
        let task = runtime.spawn(supervise(shared.clone()));
        Ok(SyncEngine {
            shared,
            runtime: Some(runtime),
            task,
        })
    }

    /// The app reports the OS network state. Going up triggers an immediate sync. A report
    /// that changes nothing (iOS repeats "satisfied") does nothing: it must not cut the
    /// probe spacing or the backoff short.
    pub fn set_network_available(&self, available: bool) {
        let was = self.shared.network_up.swap(available, Ordering::SeqCst);
        if available == was {
            return;
        }
        if available {
            let pending = self.shared.sendable().unwrap_or(0);
            let mut flags = lock(&self.shared.flags);
            // A recovery not yet measured keeps its start: a later event never moves it.
            // (The network going away again ends it unmeasured: see below.)
            if flags.reconnect_at.is_none() {
                flags.reconnect_at = Some((std::time::Instant::now(), pending));
            }
            flags.failed_at = None;
            drop(flags);
            // Whatever failed before the network went away, try the upload itself at once.
            self.shared.lost.store(false, Ordering::SeqCst);
        } else {
            // A new outage: a recovery not measured yet never happened, and the next one
            // counts from when the network comes back again.
            lock(&self.shared.flags).reconnect_at = None;
            self.shared.set_reachable(false);
        }
        self.shared.wake.notify_one();
    }

    /// Sync as soon as possible (a "sync now" button, a replaced token, a retried sale):
    /// stores whose token was refused are tried again, and the upload itself is tried at
    /// once even while the server's health is being probed.
    pub fn sync_now(&self) {
        lock(&self.shared.flags).blocked.clear();
        self.shared.force_upload.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// The current status.
    pub fn status(&self) -> SyncStatus {
        self.shared.refresh_status();
        self.shared.status.borrow().clone()
    }

    /// Calls `listener` with the current status at once and on every change, until the
    /// returned subscription is dropped.
    /// A listener that panics misses that status only; it keeps its subscription.
    pub fn subscribe(&self, listener: Arc<dyn StatusListener>) -> Subscription {
        self.shared.refresh_status();
        let mut rx = self.shared.status.subscribe();
        let handle = self.shared_runtime().spawn(async move {
            let first = rx.borrow_and_update().clone();
            tell(listener.as_ref(), first);
            while rx.changed().await.is_ok() {
                let next = rx.borrow_and_update().clone();
                tell(listener.as_ref(), next);
            }
        });
        Subscription(handle.abort_handle())
    }

    /// The status as a stream (current first, then each change) until it is dropped.
    pub fn watch(&self) -> StatusWatch {
        self.shared.refresh_status();
        StatusWatch::new(self.shared.status.subscribe())
    }

    /// How many status streams and listeners are subscribed now (diagnostics: a stream
    /// an app forgot to cancel shows here).
    pub fn watchers(&self) -> usize {
        self.shared.status.receiver_count()
    }

    /// Waits until no sale on this device is pending upload, or `timeout` passes; true if
    /// none is. For tools and tests: the app itself just watches the status.
    pub fn wait_until_drained(&self, timeout: Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            if self.shared.pending().map(|p| p == 0).unwrap_or(false)
                && !self.shared.syncing.load(Ordering::SeqCst)
            {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Refunds as `Till::refund` does; a sale this device does not hold (rung on another
    /// register) is fetched from the server first when the network is up, kept as a held
    /// copy (never queued, never in this register's journal, never uploaded), and refunded
    /// as a local sale: its own receipt number, queue row and journal link, counting the
    /// refunds the server held from every register. Offline, or the server unreachable:
    /// `NeedsConnection`. Blocks the calling thread (never call it on an async runtime's
    /// thread; the bindings call it on a blocking one).
    pub fn refund(&self, request: &RefundRequest) -> Result<CompletedRefund> {
        match self.shared.till.refund(request) {
            Err(Error::NeedsConnection { what }) => {
                self.fetch_sale(&request.sale, what)?;
                self.shared.till.refund(request)
            }
            other => other,
        }
    }

    /// `Till::refundable`, fetching the sale from the server first as `refund` does.
    pub fn refundable(&self, sale: &SaleRef) -> Result<(SaleRecord, Vec<Refundable>)> {
        match self.shared.till.refundable(sale) {
            Err(Error::NeedsConnection { what }) => {
                self.fetch_sale(sale, what)?;
                self.shared.till.refundable(sale)
            }
            other => other,
        }
    }

    /// Fetches `sale` and keeps it as a held copy (see `lookup::fetch`); offline at once
    /// `NeedsConnection` with `what`, the till's text.
    fn fetch_sale(&self, sale: &SaleRef, what: String) -> Result<()> {
        if !self.shared.network_up.load(Ordering::SeqCst) {
            return Err(Error::NeedsConnection {
                what: format!("{what} (the device is offline)"),
            });
        }
        let (done, answer) = std::sync::mpsc::channel();
        let shared = self.shared.clone();
        let sale = sale.clone();
        self.shared_runtime().spawn(async move {
            let _ = done.send(super::lookup::fetch(&shared, &sale, what).await);
        });
        answer
            .recv()
            .map_err(|e| Error::sync("the sync runtime stopped during a sale lookup", e))?
    }

    fn shared_runtime(&self) -> &tokio::runtime::Handle {
        // The runtime lives as long as the engine.
        match &self.runtime {
            Some(rt) => rt.handle(),
            None => unreachable_runtime(),
        }
    }
}

/// Gives a listener one status; its panic is logged, never the end of its subscription.
fn tell(listener: &dyn StatusListener, status: SyncStatus) {
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| listener.on_status(status))) {
        tracing::error!(panic = %panic_text(panic.as_ref()), "status listener panicked");
    }
}

#[cold]
fn unreachable_runtime() -> &'static tokio::runtime::Handle {
    // `runtime` is only taken in Drop, after which no method can be called.
    panic!("sync runtime used after shutdown")
}

/// Longest a dropped engine waits for its threads to let go of the database.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

impl Drop for SyncEngine {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(rt) = self.runtime.take() {
            // In-flight HTTP is abandoned (cancelled, not awaited): anything in flight stays
            // queued and is re-sent, deduplicated, next time. Waiting a moment for the
            // runtime's threads lets them drop their handles on the database, so that it is
            // closed when the caller drops the till (a recovery may rename its files next).
            // Inside an async context no thread may block: there, abandon at once.
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(SHUTDOWN_GRACE);
            }
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn pending(&self) -> Result<u64> {
        Ok(self.till.queue_backlog()?.values().map(|c| c.pending).sum())
    }

    /// Pending sales not parked: those a recovery has to send.
    fn sendable(&self) -> Result<u64> {
        Ok(self
            .till
            .queue_backlog()?
            .values()
            .map(|c| c.pending.saturating_sub(c.parked))
            .sum())
    }

    /// Recomputes the status from the queue and flags; listeners hear only real changes.
    pub(super) fn refresh_status(&self) {
        let backlog = match self.till.queue_backlog() {
            Ok(b) => b,
            Err(e) => {
                // Keep the counts last shown rather than claim an empty queue.
                tracing::warn!(error = %e, "queue counts unreadable");
                return;
            }
        };
        let last_success_at = self.till.last_sync_success().ok().flatten();
        let flags = lock(&self.flags);
        let mut next = SyncStatus::initial();
        for (store_id, counts) in &backlog {
            if counts.pending == 0 && counts.attention == 0 {
                continue;
            }
            let blocked = flags
                .blocked
                .get(store_id)
                .copied()
                .filter(|_| counts.pending > 0);
            next.pending += counts.pending;
            next.attention += counts.attention + counts.parked + u64::from(blocked.is_some());
            next.auth_failed |= blocked == Some(StoreBlock::TokenRefused);
            next.needs_pairing |= blocked.is_some();
            next.oldest_pending_at = match (next.oldest_pending_at, counts.oldest_pending_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            next.stores.push(StoreBacklog {
                store_id: store_id.clone(),
                pending: counts.pending,
                parked: counts.parked,
                set_aside: counts.attention,
                blocked,
            });
        }
        let online =
            self.network_up.load(Ordering::SeqCst) && self.reachable.load(Ordering::SeqCst);
        next.connectivity = if online {
            Connectivity::Online
        } else {
            Connectivity::Offline
        };
        next.syncing = self.syncing.load(Ordering::SeqCst);
        next.last_success_at = last_success_at;
        next.last_error = flags
            .upload_error
            .clone()
            .or_else(|| flags.catalog_error.clone());
        next.protocol_mismatch = flags.mismatch;
        drop(flags);
        next.offline = match self.till.offline_status() {
            Ok(offline) => Some(offline),
            Err(Error::NoSession) => None,
            Err(e) => {
                tracing::warn!(error = %e, "offline limits unreadable");
                self.status.borrow().offline.clone()
            }
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

    pub(super) fn set_syncing(&self, on: bool) {
        self.syncing.store(on, Ordering::SeqCst);
    }

    pub(super) fn acknowledged(&self) {
        self.acknowledged.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn set_reachable(&self, up: bool) {
        self.reachable.store(up, Ordering::SeqCst);
        self.till.set_offline(!up);
    }

    /// The server answered in its own protocol: it is there and speaks our version. When
    /// this ends an outage the engine found itself, the latency metric counts from the last
    /// request that went unanswered (the server could not be known back before it).
    pub(super) fn server_answered(&self) {
        self.set_reachable(true);
        lock(&self.flags).mismatch = None;
        self.outage_over();
    }

    /// Something answered over HTTP (the server, or a proxy in front of it): the outage the
    /// engine was probing is over, whatever the answer said, and the upload is tried again.
    /// Its own answer then says what the status shows.
    /// Whether an outage was on is told by `failed_at`, not by `lost`: "sync now" may have
    /// sent this request while probing, and its answer ends the outage all the same.
    pub(super) fn outage_over(&self) {
        self.answers.fetch_add(1, Ordering::SeqCst);
        self.lost.store(false, Ordering::SeqCst);
        if lock(&self.flags).failed_at.is_none() {
            return;
        }
        let pending = self.sendable().unwrap_or(0);
        let mut flags = lock(&self.flags);
        if let Some(failed_at) = flags.failed_at.take() {
            // The server was not back before its last unanswered request: a network event
            // earlier in the same outage is not where it ended.
            let (since, sales) = flags
                .reconnect_at
                .map_or((failed_at, pending), |(up_at, n)| {
                    (up_at.max(failed_at), n.max(pending))
                });
            flags.reconnect_at = Some((since, sales));
        }
    }

    /// An upload refused for what it carried (`SyncError::is_content_refusal`) was
    /// answered: counted like the answers above, and the count after it returned (each
    /// refusal of a lone sale counts toward parking it).
    pub(super) fn refusal_answered(&self) -> u64 {
        self.answers
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1)
    }

    /// How many requests something has answered over HTTP so far (see `outage_over`).
    pub(super) fn answers(&self) -> u64 {
        self.answers.load(Ordering::SeqCst)
    }

    /// True while an outage is being probed.
    pub(super) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// A request sent at `sent_at` found the server unreachable.
    pub(super) fn failed_request(&self, sent_at: std::time::Instant) {
        let mut flags = lock(&self.flags);
        flags.failed_at = Some(flags.failed_at.map_or(sent_at, |at| at.max(sent_at)));
    }

    pub(super) fn set_upload_error(&self, e: Option<String>) {
        lock(&self.flags).upload_error = e;
    }

    pub(super) fn set_catalog_error(&self, e: Option<String>) {
        lock(&self.flags).catalog_error = e;
    }

    fn block(&self, store_id: &str, why: Option<StoreBlock>) {
        let mut flags = lock(&self.flags);
        match why {
            Some(b) => flags.blocked.insert(store_id.to_string(), b),
            None => flags.blocked.remove(store_id),
        };
    }

    fn blocked(&self, store_id: &str) -> Option<StoreBlock> {
        lock(&self.flags).blocked.get(store_id).copied()
    }

    /// Updates flags for a failed request; what the status and reachability show.
    pub(super) fn note_failure(&self, e: &SyncError) {
        match e {
            SyncError::Network(_)
            | SyncError::Timeout(_)
            | SyncError::Tls { .. }
            | SyncError::Gateway { .. } => self.set_reachable(false),
            SyncError::Incompatible { ours, server } => {
                lock(&self.flags).mismatch = Some(ProtocolMismatch::of(*ours, *server));
                self.set_reachable(true);
            }
            _ => {}
        }
    }
}

/// A future that turns a panic while it is polled into an error, so the task survives.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        // A future that panicked is dropped, never polled again, so it cannot be seen
        // half-updated; shared state is behind locks that tolerate poisoning.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The text of a panic payload.
pub(super) fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Runs the engine's loop forever; a panic anywhere in it is logged, shown, and followed
/// by a fresh loop after a backoff (never shorter than `backoff_base`).
async fn supervise(shared: Arc<Shared>) {
    let mut restarts = Backoff::new(shared.cfg.backoff_base, shared.cfg.backoff_cap);
    loop {
        let rounds = shared.rounds.load(Ordering::SeqCst);
        let Err(panic) = CatchUnwind(Box::pin(run(shared.clone()))).await;
        let text = panic_text(panic.as_ref());
        tracing::error!(panic = %text, "sync task panicked; restarting after a backoff");
        shared.set_syncing(false);
        shared.set_upload_error(Some(format!(
            "sync stopped unexpectedly ({text}); restarting"
        )));
        shared.refresh_status();
        if shared.rounds.load(Ordering::SeqCst) != rounds {
            restarts.reset();
        }
        let delay = restarts.next_delay(None).max(shared.cfg.backoff_base);
        tokio::time::sleep_until(deadline_after(Instant::now(), delay)).await;
    }
}

/// The catalogue side of the loop: its own backoff and schedule, and the pull in flight.
struct CatalogSchedule {
    backoff: Backoff,
    due: Instant,
    task: Option<tokio::task::JoinHandle<Result<Option<String>, SyncError>>>,
}

impl CatalogSchedule {
    /// Starts a pull of the session store's catalogue if one is due and none is running.
    fn start_if_due(&mut self, shared: &Arc<Shared>) {
        if self.task.is_some() || Instant::now() < self.due {
            return;
        }
        let Ok(session) = shared.till.session() else {
            return;
        };
        let span = tracing::info_span!("catalog_pull", store = %session.store_id);
        self.task = Some(tokio::spawn(
            catalog::pull(shared.clone(), session.store_id).instrument(span),
        ));
    }

    /// The server answers again after an outage: a pull that failed in it is due at once
    /// (it starts after the uploads, as always), not at the end of its backoff.
    fn resume(&mut self) {
        if self.backoff.attempts() > 0 {
            self.due = Instant::now();
        }
    }

    /// Schedules the next pull from how the last one ended.
    fn finished(
        &mut self,
        shared: &Shared,
        result: std::result::Result<Result<Option<String>, SyncError>, tokio::task::JoinError>,
    ) {
        self.task = None;
        let interval = shared.cfg.catalog_interval;
        let wait = match result {
            Ok(Ok(warning)) => {
                self.backoff.reset();
                shared.set_catalog_error(warning);
                interval
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e.chain(), "catalogue pull failed");
                shared.note_failure(&e);
                shared.set_catalog_error(Some(format!("catalogue download failed: {}", e.chain())));
                let floor = match e {
                    SyncError::Busy { retry_after, .. } => retry_after,
                    _ => None,
                };
                self.backoff.next_delay(floor)
            }
            Err(join) => {
                let text = if join.is_panic() {
                    panic_text(join.into_panic().as_ref())
                } else {
                    "cancelled".into()
                };
                tracing::error!(panic = %text, "catalogue pull panicked");
                shared.set_catalog_error(Some(format!(
                    "catalogue download stopped unexpectedly ({text})"
                )));
                self.backoff.next_delay(None)
            }
        };
        self.due = deadline_after(Instant::now(), wait);
    }
}

impl Drop for CatalogSchedule {
    fn drop(&mut self) {
        // A loop restarted after a panic starts its own pull.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// How an upload round ended.
enum Round {
    /// Every store that could upload has nothing left to send now.
    Done,
    /// A failure stopped it: retry after a backoff, not before `retry_after` (capped).
    Failed { retry_after: Option<Duration> },
}

/// The engine's loop: an upload round when due, then the catalogue if due, then wait.
/// It never returns; only a panic ends it (see `supervise`).
async fn run(shared: Arc<Shared>) -> std::convert::Infallible {
    let cfg = &shared.cfg;
    let mut uploads = Backoff::new(cfg.backoff_base, cfg.backoff_cap);
    let mut catalog = CatalogSchedule {
        backoff: Backoff::new(cfg.backoff_base, cfg.backoff_cap),
        due: Instant::now(),
        task: None,
    };
    let mut sizing = Sizings::new(cfg.batch_size);
    let mut probes = Prober::new(cfg.probe_interval, cfg.request_timeout);
    let sale_signal = shared.till.sale_signal();
    let mut upload_due = Instant::now();
    // The last round failed: a new sale waits for the backoff like the rest of the queue.
    let mut retrying = false;
    // The server's Retry-After, which nothing cuts short.
    let mut not_before: Option<Instant> = None;
    loop {
        let online = shared.network_up.load(Ordering::SeqCst);
        let forced = shared.force_upload.load(Ordering::SeqCst);
        if online && (forced || !shared.is_lost()) && Instant::now() >= upload_due {
            shared.force_upload.store(false, Ordering::SeqCst);
            let span = tracing::info_span!("sync_round", attempt = uploads.attempts());
            let acknowledged = shared.acknowledged.load(Ordering::SeqCst);
            let round = upload_round(&shared, &mut sizing).instrument(span).await;
            shared.rounds.fetch_add(1, Ordering::SeqCst);
            #[cfg(feature = "test-support")]
            cfg.hooks.round_done();
            match round {
                Round::Done => {
                    uploads.reset();
                    sizing = Sizings::new(cfg.batch_size);
                    retrying = false;
                    not_before = None;
                    upload_due = next_periodic(&shared);
                }
                Round::Failed { retry_after } => {
                    if shared.acknowledged.load(Ordering::SeqCst) != acknowledged {
                        // Batches went through before this failure: the link works, so a
                        // long drain does not carry the backoff of failures long past.
                        uploads.reset();
                    }
                    let retry_after = retry_after.map(|r| r.min(cfg.backoff_cap));
                    retrying = true;
                    let now = Instant::now();
                    not_before = retry_after.map(|r| deadline_after(now, r));
                    upload_due = deadline_after(now, uploads.next_delay(retry_after));
                    if shared.is_lost() {
                        // No answer at all: until the server answers a health probe, retrying
                        // the upload would only repeat the failure, at a growing backoff
                        // that would hide the server's return for up to `backoff_cap`.
                        probes.schedule_from_now();
                    }
                }
            }
        }
        let lost = online && shared.is_lost();
        if lost {
            probes.send_if_due(&shared);
        } else if probes.out() {
            // Something else found the server (or the network went away): probes still out
            // no longer matter.
            probes.stop();
        }
        if online && !lost {
            catalog.start_if_due(&shared);
        }
        shared.refresh_status();
        // Wait for the next due time or an event.
        let mut wake_at = if lost { probes.wake_at() } else { upload_due };
        if !lost && catalog.task.is_none() && shared.till.session().is_ok() {
            wake_at = wake_at.min(catalog.due);
        }
        let sleep = async {
            if online {
                tokio::time::sleep_until(wake_at).await;
            } else {
                // Offline: only the network coming back (a wake) starts anything.
                std::future::pending::<()>().await;
            }
        };
        // A time limit becoming near or reached shows on time, whatever else happens.
        let limit_change = next_limit_change(&shared);
        let limit_tick = async {
            match limit_change {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        let catalog_done = async {
            match catalog.task.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shared.wake.notified() => {
                // "Sync now" and a network change retry at once, but never before the
                // server said it would take requests again.
                if not_before.is_none_or(|t| Instant::now() >= t) {
                    upload_due = Instant::now();
                    // During an outage, ask the server's health at once.
                    probes.hurry();
                } else if let Some(t) = not_before {
                    upload_due = upload_due.max(t);
                }
            }
            _ = sleep => {}
            _ = limit_tick => {}
            _ = sale_signal.notified() => {
                // Show the new sale at once. Upload it now unless the last attempt failed
                // (keep to the backoff) or the server is not answering (keep probing).
                if !retrying && !shared.is_lost() {
                    upload_due = Instant::now();
                }
            }
            result = catalog_done => catalog.finished(&shared, result),
            probed = probes.next(), if probes.out() => {
                let Some(probed) = probed else { continue };
                match probe_ended(&shared, &probes, probed) {
                    Probe::Answered => {
                        probes.stop();
                        uploads.reset();
                        retrying = false;
                        let now = Instant::now();
                        upload_due = not_before.map_or(now, |t| t.max(now));
                        catalog.resume();
                    }
                    Probe::Failed => {}
                    Probe::Busy(wait) => {
                        let t = deadline_after(Instant::now(), probe_hold(wait, cfg));
                        not_before = Some(t);
                        probes.due = probes.due.max(t);
                    }
                }
            }
        }
    }
}

/// How long a probe's `Retry-After` of `wait` holds probing back: up to `backoff_cap`, and
/// never beyond the longest probe spacing, so the server's return does not go unnoticed for
/// long whatever the answer asked.
fn probe_hold(wait: Duration, cfg: &SyncConfig) -> Duration {
    wait.min(cfg.backoff_cap).min(MAX_PROBE_INTERVAL)
}

/// What one probe's end means for the loop.
enum Probe {
    /// The server answered: upload at once.
    Answered,
    /// Still unreachable: probe again on schedule.
    Failed,
    /// Still unreachable, and the answer asked for this long before the next try.
    Busy(Duration),
}

/// Records how a probe ended (status, reachability, the latency metric's start).
fn probe_ended(shared: &Shared, probes: &Prober, probed: Probed) -> Probe {
    match probed.result {
        Ok(()) => {
            // A probe sent earlier and still unanswered was lost while this one got through:
            // the outage lasted at least until it was sent.
            if let Some(lost) = probes.unanswered_before(probed.sent_at) {
                shared.failed_request(lost);
            }
            shared.server_answered();
            shared.set_upload_error(None);
            tracing::info!("server answers again");
            Probe::Answered
        }
        Err(e) if e.is_answered() => {
            // An HTML page, a 404, a redirect...: no health answer, but an answer. Probing
            // on would strand the queue behind a path whose health route is odd, so the
            // upload itself is tried; its answer is what the status shows.
            tracing::info!(error = %e.chain(), "health probe answered; trying the upload");
            if let Some(lost) = probes.unanswered_before(probed.sent_at) {
                shared.failed_request(lost);
            }
            shared.note_failure(&e);
            shared.outage_over();
            shared.set_upload_error(Some(e.chain()));
            Probe::Answered
        }
        Err(e) => {
            tracing::debug!(error = %e.chain(), "health probe failed");
            shared.failed_request(probed.sent_at);
            shared.note_failure(&e);
            shared.set_upload_error(Some(e.chain()));
            match e {
                SyncError::Busy {
                    retry_after: Some(wait),
                    ..
                } => Probe::Busy(wait),
                _ => Probe::Failed,
            }
        }
    }
}

/// How long until an offline time limit of the session's store becomes near or reached.
fn next_limit_change(shared: &Shared) -> Option<Duration> {
    let status = shared.status.borrow().offline.clone()?;
    let warn = shared.till.config().offline_warn_percent;
    // A millisecond late, so the threshold has passed when the status is recomputed.
    status
        .next_change_in_ms(warn)
        .map(|ms| Duration::from_millis(ms.saturating_add(1)))
}

/// When the next round is due after one that left nothing to send: the periodic interval,
/// or sooner when a parked sale of a store that can upload is due again. A blocked store's
/// parked sale waits for its store (`sync_now`, a new token), or every round would find it
/// due and skip it, at once, forever.
fn next_periodic(shared: &Shared) -> Instant {
    let now = Instant::now();
    let periodic = deadline_after(now, shared.cfg.periodic_interval);
    let due = match shared.till.next_parked_due(shared.cfg.max_park()) {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "parked sales unreadable");
            return periodic;
        }
    };
    let flags = lock(&shared.flags);
    let first = due
        .iter()
        .filter(|(store_id, _)| !flags.blocked.contains_key(*store_id))
        .map(|(_, at)| *at)
        .min();
    drop(flags);
    match first {
        Some(at_ms) => {
            let in_ms = at_ms.saturating_sub(crate::time::now_ms()).max(0);
            let parked = deadline_after(now, Duration::from_millis(in_ms as u64));
            periodic.min(parked)
        }
        None => periodic,
    }
}

/// One upload round: every store with pending sales on this device (the session's store
/// first), each with its own token. A refused token stops only its own store.
async fn upload_round(shared: &Shared, sizing: &mut Sizings) -> Round {
    let backlog = match shared.till.queue_backlog() {
        Ok(b) => b,
        Err(e) => return failed(shared, SyncError::Local(e)),
    };
    raise_seq_floor(shared).await;
    let session_store = shared.till.session().ok().map(|s| s.store_id);
    let mut stores: Vec<&String> = backlog
        .iter()
        .filter(|(_, c)| c.pending > 0)
        .map(|(s, _)| s)
        .collect();
    stores.sort_by_key(|s| Some(s.as_str()) != session_store.as_deref());
    if stores.is_empty() {
        return idle_round(shared, session_store.as_deref()).await;
    }
    // Stores whose drain found nothing left to send, and when.
    let mut drained = Vec::new();
    // The first failure of a store's own request: the other stores still upload in this
    // round, and the round then fails with it (so the failing store backs off).
    let mut store_failure = None;
    for store_id in stores {
        if shared.blocked(store_id) == Some(StoreBlock::TokenRefused) {
            // Retried only after `sync_now`: repeating a refused token gets the peer
            // rate-limited and cannot succeed until a person acts.
            continue;
        }
        let Some(token) = shared.cfg.credentials.token(store_id) else {
            shared.block(store_id, Some(StoreBlock::NoToken));
            continue;
        };
        shared.block(store_id, None);
        match upload::drain(shared, store_id, &token, sizing.of(store_id)).await {
            Ok(empty_at) => drained.push((store_id.clone(), empty_at)),
            Err(e @ SyncError::Auth { .. }) => {
                tracing::warn!(store = %store_id, error = %e.chain(), "store's token refused");
                shared.block(store_id, Some(StoreBlock::TokenRefused));
                shared.set_upload_error(Some(e.chain()));
            }
            Err(e) if e.is_per_store() => {
                tracing::warn!(store = %store_id, error = %e.chain(), "store's upload failed; the other stores go on");
                store_failure.get_or_insert(e);
            }
            Err(e) => return failed(shared, e),
        }
    }
    record_recovery(shared, session_store.as_deref(), &drained);
    // A store that still holds a parked sale is not acknowledged whole: no success for it.
    let after = shared.till.queue_backlog().ok();
    let now = crate::time::now_ms();
    for (store_id, _) in &drained {
        let whole = after
            .as_ref()
            .is_some_and(|a| a.get(store_id).is_none_or(|c| c.pending == 0));
        if whole && let Err(e) = shared.till.record_sync_success(store_id, now) {
            tracing::warn!(error = %e, "sync success not recorded");
        }
    }
    if !drained.is_empty() {
        let mut flags = lock(&shared.flags);
        if !flags
            .blocked
            .values()
            .any(|b| *b == StoreBlock::TokenRefused)
        {
            flags.upload_error = None;
        }
    }
    match store_failure {
        Some(e) => failed(shared, e),
        None => Round::Done,
    }
}

/// The latency sample of a recovery, once a drain has found nothing left to send: from the
/// moment the outage could first have ended to that drain's empty batch, on the monotonic
/// clock. It goes to the store the cashier sells in, else the first drained. The flag is
/// read after the drain (the drain's own answer may have ended the outage) and taken only
/// here, so a recovery is measured once.
fn record_recovery(
    shared: &Shared,
    session_store: Option<&str>,
    drained: &[(String, std::time::Instant)],
) {
    let Some((store_id, empty_at)) = drained
        .iter()
        .find(|(s, _)| Some(s.as_str()) == session_store)
        .or_else(|| drained.first())
    else {
        return;
    };
    let Some((since, sales)) = lock(&shared.flags).reconnect_at.take() else {
        return;
    };
    if sales == 0 {
        // Nothing waited for the outage's end: no recovery to measure.
        return;
    }
    let took = empty_at.saturating_duration_since(since);
    let took_ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
    // The wall-clock end is when the round saw it; the start is that less the duration.
    let late_ms = i64::try_from(empty_at.elapsed().as_millis()).unwrap_or(i64::MAX);
    let drained_at = crate::time::now_ms().saturating_sub(late_ms);
    if let Err(e) = shared.till.record_recovery(
        store_id,
        drained_at.saturating_sub(took_ms),
        drained_at,
        sales,
    ) {
        tracing::warn!(error = %e, "latency sample not recorded");
    }
}

/// After a recovery or a fresh start, the first contact asks the server for the highest
/// receipt sequence it holds for this register and raises the local counter to it. A
/// failure never holds up the upload (sales rung meanwhile keep their numbers either way);
/// it is asked again next round.
async fn raise_seq_floor(shared: &Shared) {
    if !shared.till.needs_seq_floor().unwrap_or(false) {
        return;
    }
    let Ok(session) = shared.till.session() else {
        return;
    };
    let Some(token) = shared.cfg.credentials.token(&session.store_id) else {
        return;
    };
    let asked = shared
        .client
        .last_seq(&session.store_id, &session.register_id, &token)
        .await;
    match asked {
        Ok(last_seq) => {
            if let Err(e) =
                shared
                    .till
                    .raise_seq_floor(&session.store_id, &session.register_id, last_seq)
            {
                tracing::warn!(error = %e, "cannot raise the receipt sequence floor");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e.chain(), "server did not tell the receipt sequence floor")
        }
    }
}

/// A round with nothing to upload: probe the server if it was unreachable (for the pill),
/// and mark the session store's empty queue as acknowledged.
async fn idle_round(shared: &Shared, session_store: Option<&str>) -> Round {
    if !shared.reachable.load(Ordering::SeqCst) {
        let sent_at = std::time::Instant::now();
        match shared.client.health().await {
            Ok(()) => {
                shared.server_answered();
                tracing::info!("server reachable");
            }
            Err(e) => {
                if e.is_unanswered() {
                    shared.failed_request(sent_at);
                }
                return failed(shared, e);
            }
        }
    }
    let mut flags = lock(&shared.flags);
    flags.upload_error = None;
    flags.reconnect_at = None;
    drop(flags);
    if let Some(store_id) = session_store
        && let Err(e) = shared
            .till
            .record_sync_success(store_id, crate::time::now_ms())
    {
        tracing::warn!(error = %e, "sync success not recorded");
    }
    Round::Done
}

fn failed(shared: &Shared, e: SyncError) -> Round {
    tracing::warn!(error = %e.chain(), "sync attempt failed");
    shared.note_failure(&e);
    if e.is_unanswered() && !shared.lost.swap(true, Ordering::SeqCst) {
        shared.client.drop_connections();
    }
    shared.set_upload_error(Some(e.chain()));
    Round::Failed {
        retry_after: e.retry_after(shared.cfg.backoff_cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probes_retry_after_holds_probing_back_at_most_the_cap_and_never_beyond_a_minute() {
        let mut cfg = SyncConfig::new("https://sync.example.com", "t");
        let secs = Duration::from_secs;
        assert_eq!(probe_hold(secs(5), &cfg.clone().clamped()), secs(5));
        // Default cap 60 s: an hour's Retry-After waits a minute.
        assert_eq!(probe_hold(secs(3600), &cfg.clone().clamped()), secs(60));
        // A cap of ten minutes still holds a probe back one minute at most.
        cfg.backoff_cap = secs(600);
        assert_eq!(
            probe_hold(Duration::MAX, &cfg.clone().clamped()),
            MAX_PROBE_INTERVAL
        );
        // A short cap wins.
        cfg.backoff_cap = secs(2);
        cfg.backoff_base = secs(1);
        assert_eq!(probe_hold(secs(30), &cfg.clamped()), secs(2));
    }
}
