//! `TillkitCore`: one device's till and its sync engine as the apps see them: async calls
//! (Kotlin `suspend`, Swift `async`) for anything that touches disk or network. It converts
//! arguments and forwards to tillkit-core; no sale, tax or sync logic lives here.

use std::sync::{Arc, PoisonError, RwLock};

use tillkit_core::sync::{KeychainTokens, SyncConfig, SyncEngine};
use tillkit_core::{Config, Till};

use crate::cart::CartHandle;
use crate::error::TillkitError;
use crate::journal::JournalReport;
use crate::records::{
    CatalogImportRecord, MetricsRecord, PairedRegister, PaymentRecord, ProductRecord,
    QueuedSaleRecord, RefundReceipt, RefundRequestRecord, RefundableSale, SaleReceipt,
    SaleRefRecord, SyncStatusRecord,
};
use crate::runtime::{blocking, detached, own_thread};
use crate::status::{StatusObserver, StatusSubscription};

/// How a device's core is set up. Optional fields fall back to the core's documented
/// defaults. It holds no secret: the register's tokens live in the keychain (`pair`).
#[derive(uniffi::Record)]
pub struct CoreConfig {
    /// Directory of the encrypted database (created if missing); one per register.
    pub data_dir: String,
    /// Base URL of the sync server, e.g. `https://sync.example.com/`.
    pub server_url: String,
    /// Keychain service of the database key and the tokens. Default `app.tillkit`.
    #[uniffi(default = None)]
    pub keychain_service: Option<String>,
    /// Keychain account of the database key; one per data directory. Each store's token is
    /// kept beside it as `<account>.token.<store id>`. Default `database-key`.
    #[uniffi(default = None)]
    pub keychain_account: Option<String>,
    /// Allow plain HTTP to a loopback address (development and tests only). Default false.
    #[uniffi(default = false)]
    pub allow_http_loopback: bool,
    /// PEM root certificates trusted in addition to the bundled Mozilla roots (private
    /// deployments). The same on every platform: the OS trust store is not consulted.
    #[uniffi(default = [])]
    pub root_certificates_pem: Vec<String>,
    /// SPKI SHA-256 pins, `sha256/<base64>`: when not empty, the server's verified chain
    /// must hold one of these keys, or nothing is sent. Default: no pinning.
    #[uniffi(default = [])]
    pub pinned_spki_sha256: Vec<String>,
}

impl CoreConfig {
    /// The core's configuration for this directory and keychain entry.
    pub(crate) fn core_config(&self) -> Config {
        let mut core_config = Config::new(&self.data_dir);
        if let Some(service) = &self.keychain_service {
            core_config.keychain_service = service.clone();
        }
        if let Some(account) = &self.keychain_account {
            core_config.keychain_account = account.clone();
        }
        core_config
    }

    /// Sync settings for `server_url` with this config's TLS settings and `tokens`.
    fn sync_config(&self, tokens: Arc<KeychainTokens>) -> SyncConfig {
        let mut sync = SyncConfig::with_credentials(&self.server_url, tokens);
        sync.allow_http_loopback = self.allow_http_loopback;
        sync.root_certificates_pem = self
            .root_certificates_pem
            .iter()
            .map(|pem| pem.clone().into_bytes())
            .collect();
        sync.pinned_spki_sha256 = self.pinned_spki_sha256.clone();
        sync
    }
}

/// The open till, its running sync engine and the keychain its tokens are in.
pub(crate) struct Running {
    // Declared first so it is dropped first: sync stops before the database closes.
    pub(crate) engine: SyncEngine,
    pub(crate) till: Arc<Till>,
    tokens: Arc<KeychainTokens>,
    /// What sync was started with (server, TLS settings), for pairing with the same server.
    sync: SyncConfig,
}

/// The offline point-of-sale core of one register: catalogue, carts, sales, sync.
#[derive(uniffi::Object)]
pub struct TillkitCore {
    running: RwLock<Option<Arc<Running>>>,
}

impl TillkitCore {
    pub(crate) fn running(&self) -> Result<Arc<Running>, TillkitError> {
        self.running
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(TillkitError::Closed)
    }

    /// The till, for carts made by this core.
    pub(crate) fn till(&self) -> Result<Arc<Till>, TillkitError> {
        Ok(self.running()?.till.clone())
    }

    /// Runs `f` with the till on a blocking thread.
    async fn with_till<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Till) -> Result<T, TillkitError> + Send + 'static,
    ) -> Result<T, TillkitError> {
        let till = self.till()?;
        blocking(move || f(&till)).await
    }

    /// Runs `f` with the till and engine on a blocking thread.
    pub(crate) async fn with_running<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Running) -> Result<T, TillkitError> + Send + 'static,
    ) -> Result<T, TillkitError> {
        let running = self.running()?;
        blocking(move || f(&running)).await
    }

    fn open_now(config: CoreConfig) -> Result<Arc<Self>, TillkitError> {
        let core_config = config.core_config();
        let tokens = Arc::new(KeychainTokens::new(&core_config)?);
        let sync = config.sync_config(tokens.clone());
        let till = Arc::new(Till::open(core_config)?);
        let engine = SyncEngine::start(till.clone(), sync.clone())?;
        Ok(Arc::new(TillkitCore {
            running: RwLock::new(Some(Arc::new(Running {
                engine,
                till,
                tokens,
                sync,
            }))),
        }))
    }
}

/// The same server, written either way (`https://h/` and `https://h`).
fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[uniffi::export]
impl TillkitCore {
    /// Opens the encrypted store with its key from the OS keychain (created on first run)
    /// and starts background sync; each store's token comes from the keychain, where
    /// `pair` put it. Without one the store's sales wait, and the status says
    /// `needsPairing`. The network is assumed up until told otherwise.
    #[uniffi::constructor]
    pub async fn open(config: CoreConfig) -> Result<Arc<Self>, TillkitError> {
        blocking(move || Self::open_now(config)).await
    }

    /// Trades the one-time pairing code an operator made (`admin pair-register`) for the
    /// register's token, keeps it in the keychain (its own entry for the store, beside the
    /// database key) and syncs at once: a queue waiting for pairing uploads now. The code
    /// is typed or pasted; `server_url` is the server it came for and must be this core's
    /// (a code for another server is refused before anything is sent). Once sent, the
    /// exchange finishes even if the caller is cancelled, so a redeemed code keeps its token.
    /// Returns the store and register the code was for: log in with them.
    pub async fn pair(
        &self,
        server_url: String,
        code: String,
    ) -> Result<PairedRegister, TillkitError> {
        let running = self.running()?;
        if !same_server(&server_url, &running.sync.server_url) {
            return Err(TillkitError::invalid(format!(
                "this register syncs with {}; a pairing code for {server_url} does not fit it",
                running.sync.server_url
            )));
        }
        detached(async move {
            let paired = tillkit_core::sync::pair(&running.sync, &code).await?;
            let registered = PairedRegister {
                store_id: paired.store_id.clone(),
                register_id: paired.register_id.clone(),
            };
            let keep = running.clone();
            blocking(move || {
                keep.tokens
                    .save(&paired.store_id, &paired.register_id, paired.token())?;
                Ok(())
            })
            .await?;
            running.engine.sync_now();
            Ok(registered)
        })
        .await
    }

    /// The register this device is paired as in `store_id`, or null when it holds no token
    /// for the store (show the pairing screen). Never returns the token.
    pub async fn paired_register(
        &self,
        store_id: String,
    ) -> Result<Option<PairedRegister>, TillkitError> {
        self.with_running(move |r| {
            Ok(r.tokens.load(&store_id)?.map(|t| PairedRegister {
                store_id: store_id.clone(),
                register_id: t.register_id.clone(),
            }))
        })
        .await
    }

    /// Stops sync and closes the database once calls in flight return. Later calls fail
    /// with `Closed`. (Kotlin's `close()` only frees this handle; carts keep a core alive.)
    pub async fn shutdown(&self) {
        let running = self
            .running
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // The engine waits for its threads off any runtime thread; nothing to report.
        let _ = own_thread(move || drop(running)).await;
    }

    /// Opens a cashier session; the engine starts syncing this store's queue at once.
    pub async fn login(
        &self,
        store_id: String,
        register_id: String,
        staff_id: String,
    ) -> Result<(), TillkitError> {
        self.with_running(move |r| {
            r.till.login(&store_id, &register_id, &staff_id)?;
            r.engine.sync_now();
            Ok(())
        })
        .await
    }

    /// Closes the session. Unsent sales stay queued and keep uploading: the token belongs
    /// to the register, not to the cashier.
    pub async fn logout(&self) -> Result<(), TillkitError> {
        self.with_till(|t| {
            t.logout();
            Ok(())
        })
        .await
    }

    /// Searches the current store's active products by name, SKU or barcode.
    pub async fn search(&self, query: String) -> Result<Vec<ProductRecord>, TillkitError> {
        self.with_till(move |t| Ok(t.search(&query)?.into_iter().map(Into::into).collect()))
            .await
    }

    /// A product of the current store by id.
    pub async fn product(&self, product_id: String) -> Result<ProductRecord, TillkitError> {
        self.with_till(move |t| Ok(t.product(&product_id)?.into()))
            .await
    }

    /// A product of the current store by barcode.
    pub async fn product_by_barcode(&self, code: String) -> Result<ProductRecord, TillkitError> {
        self.with_till(move |t| Ok(t.product_by_barcode(&code)?.into()))
            .await
    }

    /// A new empty cart with the store's current prices and tax settings.
    pub async fn new_cart(self: Arc<Self>) -> Result<Arc<CartHandle>, TillkitError> {
        let cart = self.with_till(|t| Ok(t.new_cart()?)).await?;
        Ok(Arc::new(CartHandle::new(self, cart)))
    }

    /// Checks the payments and writes the sale durably (with its queue row) in one
    /// transaction. Start a new cart for the next customer. A cancelled call still
    /// finishes: a sale is written whole or not at all, never half because a screen closed.
    /// To retry (the screen hung, the call was cancelled), complete the SAME cart with the
    /// same payments: a cart whose sale is written returns that sale (same id, receipt and
    /// figures) and writes nothing. Other payments, or editing that cart afterwards:
    /// `SaleAlreadyCompleted` naming the sale and its receipt.
    pub async fn complete_sale(
        &self,
        cart: Arc<CartHandle>,
        payments: Vec<PaymentRecord>,
    ) -> Result<SaleReceipt, TillkitError> {
        let payments = payments
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>, _>>()?;
        self.with_till(move |till| {
            let sale = cart.with_cart(|c| till.complete_sale(c, &payments).map_err(Into::into))?;
            Ok(sale.record.into())
        })
        .await
    }

    /// Refunds some lines of a sale (or all that is left of it), written durably with its
    /// receipt number, restocking and queue row in one transaction; it uploads once the
    /// server has its sale. A sale this device does not hold (rung on another register) is
    /// fetched from the server first when the network is up (the sale, its refunds from
    /// every register and the tax settings it was made with) and kept as a held copy, never
    /// uploaded as this register's; offline, or the server unreachable: `NeedsConnection`;
    /// a receipt number no sale has (the store's server holds none, or it is this register's
    /// own and this device, holding every number it rang, never printed it):
    /// `UnknownReceipt`; a sale id the server does not hold either: `NotFound`. More than is
    /// left of a line: `OverRefund` with the figures; `refund_id` not a UUID: `InvalidInput`. A
    /// cancelled call still finishes. To retry, send the same request with the same
    /// `refund_id` (made once when the refund screen opened): a refund whose id is written
    /// returns that refund and writes nothing, so it is never given twice. The same id for
    /// another sale, other lines or another tender: `RefundAlreadyGiven`.
    pub async fn refund(
        &self,
        request: RefundRequestRecord,
    ) -> Result<RefundReceipt, TillkitError> {
        let request = request.try_into()?;
        self.with_running(move |r| Ok(r.engine.refund(&request)?.record.into()))
            .await
    }

    /// A sale and what can still be refunded of each of its lines; a sale this device does
    /// not hold is fetched from the server first, as `refund` does.
    pub async fn refundable(&self, sale: SaleRefRecord) -> Result<RefundableSale, TillkitError> {
        let sale = sale.into();
        self.with_running(move |r| Ok(r.engine.refundable(&sale)?.into()))
            .await
    }

    /// Why this open treated the keychain's receipt book as unknown (unreadable, or reset by
    /// `resetReceiptBook`: numbers skipped ahead), for the app to show; null when it was read.
    pub async fn receipt_book_note(&self) -> Result<Option<String>, TillkitError> {
        self.with_till(|t| Ok(t.receipt_book_note())).await
    }

    /// Sales of the current store waiting for upload, oldest first.
    pub async fn pending_sales(&self, limit: u32) -> Result<Vec<QueuedSaleRecord>, TillkitError> {
        self.with_till(move |t| {
            Ok(t.pending_sales(limit as usize)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }

    /// Sales of the current store that need a person: set aside by the server (with its
    /// reasons) or parked (still retried).
    pub async fn attention_sales(&self, limit: u32) -> Result<Vec<QueuedSaleRecord>, TillkitError> {
        self.with_till(move |t| {
            Ok(t.attention_sales(limit as usize)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }

    /// Puts set-aside sales back in line (their reason cleared) and makes parked sales due
    /// at once (their backoff reset), of every store on this device, whoever is logged in:
    /// all of them (`sale_ids` null), or those listed. Returns how many it touched; a sync
    /// round starts at once.
    pub async fn retry_attention_sales(
        &self,
        sale_ids: Option<Vec<String>>,
    ) -> Result<u64, TillkitError> {
        self.with_running(move |r| {
            let touched = r.till.retry_attention_sales(sale_ids.as_deref())?;
            r.engine.sync_now();
            Ok(touched)
        })
        .await
    }

    /// The sales the server set aside, with its reasons, as JSON for an operator to export.
    pub async fn export_attention_sales(&self) -> Result<String, TillkitError> {
        self.with_till(|t| Ok(t.export_attention_sales()?)).await
    }

    /// The current register's journal as this device holds it, for an auditor: JSON Lines
    /// (`.jsonl`), a header (store, register, export time, the register's counter and its
    /// recorded newest record) then every sale and refund of the register, byte for byte as
    /// stored and uploaded, oldest first. Hand the text to a share sheet or save it as a
    /// file; `verifyJournalExport` checks it anywhere. Reads only; `NoSession` without a login.
    pub async fn export_journal(&self) -> Result<String, TillkitError> {
        self.with_till(|t| Ok(t.export_journal()?)).await
    }

    /// Checks the current register's journal as this device holds it: its export, verified
    /// as `verifyJournalExport` verifies it (the same text an auditor would get).
    pub async fn verify_journal(&self) -> Result<JournalReport, TillkitError> {
        self.with_till(|t| crate::journal::verify_text(&t.export_journal()?))
            .await
    }

    /// The app reports the OS network state; going up triggers an immediate sync (and
    /// reads the queue's size, hence async). Report changes in order, one at a time.
    pub async fn set_network_available(&self, available: bool) -> Result<(), TillkitError> {
        self.with_running(move |r| {
            r.engine.set_network_available(available);
            Ok(())
        })
        .await
    }

    /// Sync as soon as possible (a "sync now" button, or after a new token). Returns at once.
    pub fn sync_now(&self) -> Result<(), TillkitError> {
        self.running()?.engine.sync_now();
        Ok(())
    }

    /// The current sync status (counted from the queue).
    pub async fn status(&self) -> Result<SyncStatusRecord, TillkitError> {
        self.with_running(|r| Ok(r.engine.status().into())).await
    }

    /// Calls `observer` with the current status at once, then on every change, on a
    /// background thread, until the returned subscription is cancelled or freed. Kotlin's
    /// `statusFlow()` and Swift's `statusUpdates()` (app.tillkit.core / TillkitKit) wrap it.
    pub fn subscribe_status(
        &self,
        observer: Box<dyn StatusObserver>,
    ) -> Result<Arc<StatusSubscription>, TillkitError> {
        let running = self.running()?;
        Ok(Arc::new(StatusSubscription::new(&running.engine, observer)))
    }

    /// Status listeners subscribed now (diagnostics: a subscription left open by a screen
    /// that went away shows here). Freed subscriptions leave within moments.
    pub fn status_watchers(&self) -> Result<u64, TillkitError> {
        Ok(self.running()?.engine.watchers() as u64)
    }

    /// Operator metrics for the current store.
    pub async fn metrics(&self) -> Result<MetricsRecord, TillkitError> {
        self.with_till(|t| Ok(t.metrics()?.into())).await
    }

    /// Applies a catalogue payload (the sync protocol's JSON) atomically; a bad one is
    /// refused whole and the previous catalogue stays.
    pub async fn import_catalog_json(
        &self,
        json: String,
    ) -> Result<CatalogImportRecord, TillkitError> {
        self.with_till(move |t| Ok(t.import_catalog_json(&json)?.into()))
            .await
    }
}
