//! `Till`: the device's core as the app sees it, one per data directory.
//! It serialises writes through one connection and reads through another; no network here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use rust_decimal::Decimal;

use crate::cart::Cart;
use crate::catalog::{self, CatalogJson, CatalogPayload, ImportSummary, Product};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::journal;
use crate::outbox::{self, Listing, Payload, QueueCounts, QueuedSale, RetryScope, Verdict};
use crate::refund::{self, CompletedRefund, RefundRecord, RefundRequest, Refundable, SaleRef};
use crate::sale::{self, CompletedSale, Payment, SaleRecord};
use crate::session::Session;
use crate::store::key::{KeyVault, Keychain};
use crate::store::receipts::Receipts;
use crate::store::recovery::{self, RecoveryReport};
use crate::store::{Db, StoreLock};
use crate::tax::TaxSettings;

/// The offline point-of-sale core for one data directory.
pub struct Till {
    config: Config,
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    session: Mutex<Option<Session>>,
    /// Set by the sync engine while the server is unreachable (for the outage metric).
    offline: AtomicBool,
    /// Notified after every completed sale (the sync engine listens).
    sale_signal: Arc<tokio::sync::Notify>,
    /// Queue counts of every store on this device. A completed sale updates them under this
    /// lock in the same step as its commit; any other write drops them and they are
    /// recounted once. Recounting a long queue costs milliseconds, too much for every sale
    /// of an outage.
    counts: Mutex<Option<BTreeMap<String, QueueCounts>>>,
    /// Receipt numbers reserved in the vault's keychain before use (none for a vault that
    /// keeps no reservations).
    receipts: Option<Receipts>,
    /// The store's lock, held as long as this till (declared last: released only after the
    /// connections above have closed).
    store_lock: StoreLock,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (transactions roll
    // back on drop), so the connection stays usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Till {
    /// Opens the store with its key from the OS keychain.
    pub fn open(config: Config) -> Result<Till> {
        let vault = Keychain::new(&config.keychain_service, &config.keychain_account)?;
        Self::open_with_vault(config, &vault)
    }

    /// Opens the store with its key from `vault`.
    pub fn open_with_vault(config: Config, vault: &dyn KeyVault) -> Result<Till> {
        let mut db = Db::open(&config, vault)?;
        let receipts = vault
            .receipt_book()
            .map(|book| {
                Receipts::open(
                    book,
                    config.receipt_block,
                    &mut db.writer,
                    recovery::SEQ_FLOOR_KEY,
                )
            })
            .transpose()?;
        Ok(Till {
            config,
            path: db.path,
            writer: Mutex::new(db.writer),
            reader: Mutex::new(db.reader),
            session: Mutex::new(None),
            offline: AtomicBool::new(false),
            sale_signal: Arc::new(tokio::sync::Notify::new()),
            counts: Mutex::new(None),
            receipts,
            store_lock: db.lock,
        })
    }

    /// Salvages a store that answered `NeedsRecovery` (see [`recovery::recover`]) with the
    /// key from the OS keychain; open the till again afterwards.
    pub fn recover(config: &Config) -> Result<RecoveryReport> {
        let vault = Keychain::new(&config.keychain_service, &config.keychain_account)?;
        recovery::recover(config, &vault)
    }

    /// Starts an empty store in place of one that answered `NeedsRecovery`, without
    /// salvage. Only after a person confirmed it; the kept files stay listed.
    pub fn start_fresh(config: &Config) -> Result<()> {
        let vault = Keychain::new(&config.keychain_service, &config.keychain_account)?;
        recovery::start_fresh(config, &vault)
    }

    /// Resets the `.receipts` keychain entry (see [`crate::store::receipts::reset_book`]):
    /// only after a person confirmed it, when that entry keeps the register from working.
    /// Receipt numbers skip ahead at the next open and the server is asked for its highest.
    /// `Busy` while a till has the store open: its next reservation would write the old
    /// book back over the reset.
    pub fn reset_receipt_book(config: &Config) -> Result<()> {
        let _lock = match config.data_dir.is_dir() {
            true => Some(StoreLock::acquire(config)?),
            false => None,
        };
        let vault = Keychain::new(&config.keychain_service, &config.keychain_account)?;
        crate::store::receipts::reset_book(&vault)
    }

    /// Why this open treated the keychain's receipt book as unknown (unreadable or reset:
    /// numbers skipped ahead), for the app to show; `None` when it was read.
    pub fn receipt_book_note(&self) -> Option<String> {
        self.receipts
            .as_ref()
            .and_then(|r| r.note().map(str::to_string))
    }

    /// True until the server has told this register the highest receipt number it
    /// holds, after a recovery or a fresh start, and for a new store (the sync engine
    /// asks at the start of every upload round until it is answered; sales rung before
    /// that keep the numbers they took).
    pub fn needs_seq_floor(&self) -> Result<bool> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM meta WHERE key = ?1",
                [recovery::SEQ_FLOOR_KEY],
                |r| r.get::<_, i64>(0),
            )? > 0)
        })
    }

    /// Raises the register's receipt counter to at least `last_seq` (the server's
    /// highest for it), so the next sale continues after it, and clears the check.
    /// Sales already rung keep their numbers: they are printed and immutable.
    pub fn raise_seq_floor(&self, store_id: &str, register_id: &str, last_seq: u64) -> Result<()> {
        let floor = i64::try_from(last_seq)
            .map_err(|_| Error::invalid(format!("receipt number {last_seq} is out of range")))?;
        self.with_writer(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO register_seq (store_id, register_id, last_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store_id, register_id) DO UPDATE
                 SET last_seq = max(last_seq, excluded.last_seq)",
                rusqlite::params![store_id, register_id, floor],
            )?;
            tx.execute("DELETE FROM meta WHERE key = ?1", [recovery::SEQ_FLOOR_KEY])?;
            tx.commit()?;
            tracing::info!(
                store = store_id,
                register = register_id,
                last_seq,
                "receipt numbers continue after the server's highest"
            );
            Ok(())
        })
    }

    /// A damaged page met while running marks the store for recovery: the next open
    /// answers `NeedsRecovery` instead of working on over damage.
    fn watch<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Err(Error::Damaged(detail)) => {
                let dir = &self.config.data_dir;
                Err(recovery::mark(dir, &detail, false).unwrap_or(Error::Damaged(detail)))
            }
            other => other,
        }
    }

    /// Re-encrypts the database with a new key from `vault`, crash-safely (see
    /// `Db::rotate_key`). Sales, queue and catalogue are untouched.
    pub fn rotate_key(&self, vault: &dyn KeyVault) -> Result<()> {
        let mut writer = lock(&self.writer);
        let mut reader = lock(&self.reader);
        // Swap placeholders in so the real connections can be closed and replaced.
        let placeholder = || Connection::open_in_memory().map_err(Error::from);
        let db = Db {
            path: self.path.clone(),
            writer: std::mem::replace(&mut *writer, placeholder()?),
            reader: std::mem::replace(&mut *reader, placeholder()?),
            lock: self.store_lock.clone(),
        };
        let rotated = db.rotate_key(&self.config, vault);
        match rotated {
            Ok(db) => {
                *writer = db.writer;
                *reader = db.reader;
                Ok(())
            }
            Err(e) => {
                // Whatever happened, the file on disk opens with a key the vault holds.
                let db = Db::open_locked(&self.config, vault, self.store_lock.clone())?;
                *writer = db.writer;
                *reader = db.reader;
                Err(e)
            }
        }
    }

    /// The configuration this till was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Path of the database file.
    pub fn db_path(&self) -> &PathBuf {
        &self.path
    }

    /// Runs `f` on the write connection. Inside the core only: everything else goes through
    /// typed operations (tests have `testing::tamper`).
    pub(crate) fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let result = self.watch(f(&mut lock(&self.writer)));
        // `f` may have changed the queue; the writer lock is released first (lock order:
        // counts before writer).
        *lock(&self.counts) = None;
        result
    }

    /// Runs `f` on the read connection (inside the core; tests have `testing::inspect`).
    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.watch(f(&lock(&self.reader)))
    }

    /// Applies a catalogue payload atomically.
    pub fn import_catalog(&self, payload: &CatalogPayload) -> Result<ImportSummary> {
        // A larger configured length would let in names the server refuses in a sale.
        let max = self.config.max_text_len.min(crate::limits::MAX_TEXT_CHARS);
        self.with_writer(|c| catalog::import(c, payload, max))
    }

    /// Parses and applies a catalogue payload given as JSON.
    pub fn import_catalog_json(&self, json: &str) -> Result<ImportSummary> {
        let malformed = |e| Error::InvalidCatalog(format!("malformed payload: {e}"));
        let payload = CatalogJson::parse(json.as_bytes()).map_err(malformed)?;
        self.import_catalog_streamed(&payload)?.map_err(malformed)
    }

    /// Applies a catalogue payload given as JSON atomically, reading its products one at a
    /// time (see `catalog::import_json`). `Ok(Err(_))`: a product is malformed; nothing
    /// changed.
    pub fn import_catalog_streamed(
        &self,
        payload: &CatalogJson<'_>,
    ) -> Result<std::result::Result<ImportSummary, serde_json::Error>> {
        let max = self.config.max_text_len.min(crate::limits::MAX_TEXT_CHARS);
        self.with_writer(|c| catalog::import_json(c, payload, max))
    }

    /// Opens a session; any previous session is closed (its queue stays).
    pub fn login(&self, store_id: &str, register_id: &str, staff_id: &str) -> Result<Session> {
        let session = Session::new(store_id, register_id, staff_id)?;
        *lock(&self.session) = Some(session.clone());
        tracing::info!(store = store_id, register = register_id, "session opened");
        Ok(session)
    }

    /// Closes the session. The queue of unsent sales is never touched.
    pub fn logout(&self) {
        *lock(&self.session) = None;
    }

    /// The open session.
    pub fn session(&self) -> Result<Session> {
        lock(&self.session).clone().ok_or(Error::NoSession)
    }

    /// The current store's tax settings.
    pub fn tax_settings(&self) -> Result<TaxSettings> {
        Ok(self.current_tax()?.1)
    }

    fn current_tax(&self) -> Result<(i64, TaxSettings)> {
        let s = self.session()?;
        self.with_reader(|c| catalog::store_settings(c, &s.store_id))?
            .map(|(id, t, _)| (id, t))
            .ok_or(Error::NoCatalog {
                store_id: s.store_id,
            })
    }

    /// The cursor of the last catalogue applied for the current store.
    pub fn catalog_cursor(&self, store_id: &str) -> Result<Option<String>> {
        Ok(self
            .with_reader(|c| catalog::store_settings(c, store_id))?
            .and_then(|(_, _, cursor)| cursor))
    }

    /// Searches the current store's active products.
    pub fn search(&self, query: &str) -> Result<Vec<Product>> {
        let s = self.session()?;
        let limit = self.config.search_limit;
        self.with_reader(|c| catalog::search(c, &s.store_id, query, limit))
    }

    /// A product of the current store by id.
    pub fn product(&self, product_id: &str) -> Result<Product> {
        let s = self.session()?;
        self.with_reader(|c| catalog::product(c, &s.store_id, product_id))?
            .ok_or_else(|| Error::not_found(format!("product {product_id:?}")))
    }

    /// A product of the current store by barcode.
    pub fn product_by_barcode(&self, code: &str) -> Result<Product> {
        let s = self.session()?;
        self.with_reader(|c| catalog::by_barcode(c, &s.store_id, code))?
            .ok_or_else(|| Error::not_found(format!("barcode {code:?}")))
    }

    /// A new empty cart with the store's current prices and tax settings.
    pub fn new_cart(&self) -> Result<Cart> {
        let s = self.session()?;
        Ok(Cart::new(
            &s.store_id,
            self.current_tax()?,
            self.config
                .max_cart_lines
                .min(crate::limits::MAX_LINES_PER_SALE),
        ))
    }

    /// Adds a product by id.
    pub fn add_product(&self, cart: &mut Cart, product_id: &str, quantity: Decimal) -> Result<u64> {
        cart.add(&self.product(product_id)?, quantity)
    }

    /// Adds a product by barcode.
    pub fn add_barcode(&self, cart: &mut Cart, code: &str, quantity: Decimal) -> Result<u64> {
        cart.add(&self.product_by_barcode(code)?, quantity)
    }

    /// Applies a catalogue discount to a line or (with `None`) the whole cart.
    pub fn apply_discount(
        &self,
        cart: &mut Cart,
        discount_id: &str,
        line_id: Option<u64>,
        value: Option<Decimal>,
    ) -> Result<()> {
        let s = self.session()?;
        let rule = self
            .with_reader(|c| catalog::discount(c, &s.store_id, discount_id))?
            .ok_or_else(|| Error::not_found(format!("discount {discount_id:?}")))?;
        cart.apply_discount(&rule, line_id, value)
    }

    /// Validates payments and writes the sale, its stock movements and its queue row in
    /// one transaction. When this returns `Ok`, the sale is durable. Idempotent per cart:
    /// completing a cart whose sale is written returns that sale and writes nothing (see
    /// `sale::complete`), so a retry after a lost answer never makes a second sale.
    pub fn complete_sale(&self, cart: &Cart, payments: &[Payment]) -> Result<CompletedSale> {
        let s = self.session()?;
        let offline = self.offline.load(Ordering::Relaxed);
        let mut counts = lock(&self.counts);
        let result = {
            let c = &mut *lock(&self.writer);
            let result = self.watch(
                self.reserve_receipt_number(c, &s)
                    .and_then(|()| sale::complete(c, &s, cart, payments, offline)),
            );
            if offline && result.as_ref().is_err_and(Error::is_system_failure) {
                // Best effort: the failure itself may be a full disk.
                let _ = crate::metrics::record_attempt(c, &s.store_id, false);
            }
            result
        };
        let written = result.as_ref().is_ok_and(|sale| !sale.already_written);
        if let (true, Ok(sale), Some(stores)) = (written, &result, counts.as_mut()) {
            let n = stores.entry(s.store_id.clone()).or_default();
            n.pending += 1;
            n.queued_bytes += sale.stored_bytes;
            n.oldest_pending_at = n.oldest_pending_at.or(Some(sale.record.created_at));
        }
        drop(counts);
        if written {
            self.sale_signal.notify_one();
        }
        result
    }

    /// Refunds a sale this device holds (whole, or some lines and quantities), in one
    /// transaction with its own receipt number, journal link, restocking movements and queue
    /// row (see `refund`). A sale this device does not hold: `NeedsConnection`; more than
    /// is left of a line: `OverRefund`. When this returns `Ok`, the refund is durable.
    /// Idempotent per `refund_id`: a retry returns the refund already written and writes
    /// nothing; the same id with another sale, lines or tender: `RefundAlreadyGiven`.
    pub fn refund(&self, request: &RefundRequest) -> Result<CompletedRefund> {
        let s = self.session()?;
        let (_, store) = self.current_tax()?;
        let result = self.with_writer(|c| {
            self.reserve_receipt_number(c, &s)?;
            refund::refund(c, &s, &store, request)
        });
        if result.as_ref().is_ok_and(|r| !r.already_written) {
            self.sale_signal.notify_one();
        }
        result
    }

    /// A sale of the current store as this device holds it, and what can still be
    /// refunded of each of its lines.
    pub fn refundable(&self, sale: &SaleRef) -> Result<(SaleRecord, Vec<Refundable>)> {
        let s = self.session()?;
        self.with_reader(|c| refund::refundable(c, &s, sale))
    }

    /// Keeps a sale the server answered a lookup with as a held copy of this device (see
    /// `SyncEngine::refund`, which fetches it): never queued, never in this register's
    /// journal, never uploaded; its refunds then count against what is left.
    pub fn hold_fetched_sale(&self, lookup: &crate::sync::protocol::SaleLookup) -> Result<()> {
        let s = self.session()?;
        self.with_writer(|c| crate::held::keep(c, &s.store_id, lookup))
    }

    /// A stored refund read back.
    pub fn load_refund(&self, refund_id: &str) -> Result<Option<RefundRecord>> {
        self.with_reader(|c| refund::load(c, refund_id))
    }

    /// Reserves the session register's next receipt number in the keychain if it is not
    /// yet (see `store::receipts`). Every record that takes a number calls it first, with
    /// the writer held.
    fn reserve_receipt_number(&self, c: &Connection, s: &Session) -> Result<()> {
        match &self.receipts {
            Some(r) => r.reserve_next(c, &s.store_id, &s.register_id),
            None => Ok(()),
        }
    }

    /// The offline limits of the session's store: its limits, the open offline window and
    /// the warnings of limits near or reached (see `offline_limits`).
    pub fn offline_status(&self) -> Result<crate::offline_limits::OfflineStatus> {
        let s = self.session()?;
        let warn = self.config.offline_warn_percent;
        let now = crate::offline_limits::Reading::now();
        self.with_reader(|c| crate::offline_limits::status(c, &s.store_id, warn, now))
    }

    /// Tells the till whether the server is unreachable (set by the sync engine).
    pub fn set_offline(&self, offline: bool) {
        self.offline.store(offline, Ordering::Relaxed);
    }

    /// Notified after every completed sale.
    pub fn sale_signal(&self) -> Arc<tokio::sync::Notify> {
        self.sale_signal.clone()
    }

    /// Operator metrics for the current store.
    pub fn metrics(&self) -> Result<crate::metrics::Metrics> {
        let s = self.session()?;
        self.with_reader(|c| crate::metrics::collect(c, &s.store_id, &self.path))
    }

    /// A stored sale read back from its tables, with the tax settings it was computed with.
    pub fn load_sale(&self, sale_id: &str) -> Result<Option<(SaleRecord, TaxSettings)>> {
        self.with_reader(|c| sale::load(c, sale_id))
    }

    /// The current register's journal as this device holds it, for an auditor: JSON Lines,
    /// a header then every record byte for byte as stored (see `journal::JournalExport`).
    pub fn export_journal(&self) -> Result<String> {
        let s = self.session()?;
        self.with_reader(|c| journal::ledger::export(c, &s.store_id, &s.register_id))
    }

    /// Verifies the current register's journal as this device holds it (its export):
    /// gaps, forks, breaks and restarts, each naming the records concerned.
    pub fn verify_journal(&self) -> Result<journal::RegisterReport> {
        let export = self.export_journal()?;
        let parsed = journal::JournalExport::parse(&export)
            .and_then(|e| journal::verify_export(&e))
            .map_err(|e| Error::Storage(e.to_string()))?;
        Ok(parsed)
    }

    /// Queue counts for the current store.
    pub fn queue_counts(&self) -> Result<QueueCounts> {
        let s = self.session()?;
        Ok(self
            .queue_backlog()?
            .remove(&s.store_id)
            .unwrap_or_default())
    }

    /// Queue counts of every store with anything queued on this device, whoever is logged
    /// in (the sync status shows them all).
    pub fn queue_backlog(&self) -> Result<BTreeMap<String, QueueCounts>> {
        let mut cache = lock(&self.counts);
        if let Some(counts) = cache.as_ref() {
            return Ok(counts.clone());
        }
        let counts = self.with_reader(outbox::counts_by_store)?;
        *cache = Some(counts.clone());
        Ok(counts)
    }

    /// Sales of the current store waiting for upload (parked ones included), oldest first.
    pub fn pending_sales(&self, limit: usize) -> Result<Vec<QueuedSale>> {
        let s = self.session()?;
        self.with_reader(|c| outbox::list(c, &s.store_id, Listing::Pending, limit))
    }

    /// The current store's set-aside sales with the server's reasons, as JSON to export.
    pub fn export_attention_sales(&self) -> Result<String> {
        let s = self.session()?;
        self.with_reader(|c| outbox::export_attention(c, &s.store_id))
    }

    /// Sales of the current store that need a person: set aside by the server (with its
    /// reasons) or parked (still retried), oldest first.
    pub fn attention_sales(&self, limit: usize) -> Result<Vec<QueuedSale>> {
        let s = self.session()?;
        self.with_reader(|c| outbox::list(c, &s.store_id, Listing::NeedsAttention, limit))
    }

    /// Puts set-aside sales back in line and makes parked sales due at once, of every
    /// store on this device, whoever is logged in: all of them, or those of `sale_ids`.
    /// Returns how many it touched. The sync engine sends them at its next round (call
    /// `SyncEngine::sync_now` to start one).
    pub fn retry_attention_sales(&self, sale_ids: Option<&[String]>) -> Result<u64> {
        let scope = sale_ids.map_or(RetryScope::All, RetryScope::Sales);
        let touched = self.with_writer(|c| outbox::retry(c, scope))?;
        tracing::info!(sales = touched, "set-aside sales put back in line");
        self.sale_signal.notify_one();
        Ok(touched)
    }

    // Typed queue operations for the sync engine: each is one transaction.

    /// The next sales of `store_id` to upload (see `outbox::next_batch`); no park is
    /// believed longer than `max_park`.
    pub(crate) fn next_upload_batch(
        &self,
        store_id: &str,
        max_sales: usize,
        max_bytes: usize,
        max_park: std::time::Duration,
    ) -> Result<Vec<Payload>> {
        let clock = park_clock(max_park);
        self.with_reader(|c| outbox::next_batch(c, store_id, max_sales, max_bytes, clock))
    }

    /// Applies the server's verdicts on one upload, in one transaction.
    pub(crate) fn apply_upload_verdicts(&self, verdicts: &[(String, Verdict)]) -> Result<()> {
        self.with_writer(|c| outbox::apply_verdicts(c, verdicts))
    }

    /// Records a failed upload of `sale_ids`; they stay queued as they were.
    pub(crate) fn record_upload_failure(&self, sale_ids: &[String], error: &str) -> Result<()> {
        self.with_writer(|c| outbox::record_failure(c, sale_ids, error))
    }

    /// Parks a pending sale until `until` (Unix ms); returns its park count.
    pub(crate) fn park_sale(&self, sale_id: &str, error: &str, until: i64) -> Result<u32> {
        self.with_writer(|c| outbox::park(c, sale_id, error, until))
    }

    /// How many times a queued sale has been parked.
    pub(crate) fn sale_parks(&self, sale_id: &str) -> Result<u32> {
        self.with_reader(|c| outbox::parks(c, sale_id))
    }

    /// When each store's earliest parked sale is due again (Unix ms); no park is believed
    /// longer than `max_park`.
    pub(crate) fn next_parked_due(
        &self,
        max_park: std::time::Duration,
    ) -> Result<BTreeMap<String, i64>> {
        let clock = park_clock(max_park);
        self.with_reader(|c| outbox::next_parked_due(c, clock))
    }

    /// Records that `store_id`'s queue was fully acknowledged at `now`, for the metrics.
    pub(crate) fn record_sync_success(&self, store_id: &str, now: i64) -> Result<()> {
        // Metrics rows only: the queue counts stay as they are.
        let c = lock(&self.writer);
        crate::metrics::record_success(&c, store_id, now)
    }

    /// Records one recovery's latency sample (metrics rows only).
    pub(crate) fn record_recovery(
        &self,
        store_id: &str,
        since: i64,
        drained_at: i64,
        sales: u64,
    ) -> Result<()> {
        let c = lock(&self.writer);
        crate::metrics::record_latency(&c, store_id, since, drained_at, sales)
    }

    /// When a store's queue on this device was last fully acknowledged.
    pub(crate) fn last_sync_success(&self) -> Result<Option<i64>> {
        self.with_reader(crate::metrics::last_success)
    }
}

/// The wall clock now, and the longest park believed (see `outbox::ParkClock`).
fn park_clock(max_park: std::time::Duration) -> outbox::ParkClock {
    outbox::ParkClock {
        now: crate::time::now_ms(),
        max_park_ms: i64::try_from(max_park.as_millis()).unwrap_or(i64::MAX),
    }
}
