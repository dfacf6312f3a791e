//! The PostgreSQL backend for several server instances on one database: a connection pool,
//! numbered migrations under an advisory lock, and one transaction per trait call, retried
//! on serialization failures. It never writes part of a batch and never stores a sale twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use rust_decimal::Decimal;
use tillkit_core::catalog::{CatalogPayload, DiscountRule, PayloadKind, ProductRecord};
use tillkit_core::offline_limits::OfflineLimits;
use tillkit_core::refund::RefundRecord;
use tillkit_core::sale::SaleRecord;
use tillkit_core::tax::TaxSettings;
use tillkit_core::time::now_ms;
use tokio_postgres::IsolationLevel;
use tokio_postgres::error::SqlState;

use super::pg_tls::PgUrl;
use super::{
    JournalRows, RefundedSale, RegisterInfo, SaleKey, ServerStore, StoredRefund, StoredSale,
    UploadContext, UploadRecord,
};
use crate::auth::{Principal, TokenHash};
use crate::config::MAX_AUDIT_ITEMS;
use crate::error::StoreError;
use crate::protocol::{
    BelowZero, CatalogFile, JournalAudit, ProductAudit, RegisterMovements, SaleResult, StockAudit,
    Summary,
};
use crate::validate::{self, Decision, from_milli, to_milli};
use tillkit_core::sync::protocol::SaleLookup;

/// Migration N is `MIGRATIONS[N - 1]`; the table `tillkit_schema` records the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("pg_migrations/001_initial.sql"),
    include_str!("pg_migrations/002_no_foreign_keys_on_the_upload_path.sql"),
    include_str!("pg_migrations/003_journal_and_refunds.sql"),
    include_str!("pg_migrations/004_pairing_codes.sql"),
    include_str!("pg_migrations/005_offline_limits.sql"),
    include_str!("pg_migrations/006_sale_tax_settings.sql"),
];

/// The advisory lock key every instance takes to migrate ("tillkit" in ASCII), so
/// instances starting together apply each migration once.
const MIGRATION_LOCK: i64 = 0x0074_696c_6c6b_6974;

/// How long opening a new database connection may take.
const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// Attempts of one operation when PostgreSQL reports a serialization failure or deadlock.
const MAX_ATTEMPTS: u32 = 8;
/// How often a starting instance asks for the migration lock again, and how often it says
/// it is still waiting.
const MIGRATION_POLL: Duration = Duration::from_millis(200);
const MIGRATION_LOG_EVERY: Duration = Duration::from_secs(10);
/// Idle time before TCP keepalives probe a database connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
use crate::config::BUSY_RETRY_AFTER_SECS;

/// How a PostgreSQL backend is sized and how long it waits. `PgOptions::default()` gives
/// the defaults.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections for everything but authentication. Default 16. Uploads to one store
    /// take turns (see `lock_wait`) and hold at most one of them per instance, so one busy
    /// store never takes the pool from the others.
    pub pool_size: usize,
    /// Connections of their own for authenticating requests, so signing in never waits
    /// behind uploads. Default 4.
    pub auth_pool_size: usize,
    /// How long a write to a store waits for its turn: for the other writers of that store
    /// in this instance, then on the store's row lock (other instances), each. Longer is
    /// `StoreError::Busy` (503 with `Retry-After`); the device retries. Default 3 s.
    pub lock_wait: Duration,
    /// How long a request waits for a free connection of its pool when every one is in
    /// use. Longer is `StoreError::Busy` (503 with `Retry-After`), never a 500. Default 3 s.
    pub pool_wait: Duration,
    /// How long an instance starting waits for another one's migration before it gives up
    /// with an error naming the lock (it logs while it waits). Default 5 minutes.
    pub migration_wait: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            auth_pool_size: 4,
            lock_wait: Duration::from_secs(3),
            pool_wait: Duration::from_secs(3),
            migration_wait: Duration::from_secs(300),
        }
    }
}

/// One async mutex per store: the writers of a store in this instance take turns here,
/// holding no connection while they wait. Only stores that exist reach it (tokens are bound
/// to a store), so the map stays as small as the chain.
#[derive(Default)]
struct StoreTurns(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl StoreTurns {
    /// The store's turn, or `Busy` after `wait`.
    async fn take(
        &self,
        store_id: &str,
        wait: Duration,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, StoreError> {
        let turn = {
            // A poisoned map still holds valid mutexes.
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(store_id.to_string()).or_default().clone()
        };
        tokio::time::timeout(wait, turn.lock_owned())
            .await
            .map_err(|_| StoreError::Busy {
                message: format!(
                    "store {store_id:?}: other uploads of it held it for more than {} ms",
                    wait.as_millis()
                ),
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            })
    }
}

/// The PostgreSQL backend. Clones share the pools.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    auth_pool: Pool,
    turns: Arc<StoreTurns>,
    lock_wait: Duration,
}

impl std::fmt::Debug for PgStore {
    // The connection settings may hold a password: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// Why one attempt of an operation failed: worth another attempt, or final.
enum Failure {
    Retry(String),
    Fail(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            // `lock_timeout`: another instance held the store's row lock too long.
            Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => Failure::Fail(StoreError::Busy {
                message: format!("waited too long for a lock: {}", pg_error(&e)),
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            }),
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                Failure::Retry(e.to_string())
            }
            _ => Failure::Fail(pg_error(&e)),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Fail(e)
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        if let deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) = e {
            // Every connection stayed in use for the whole `pool_wait`: busy, not broken.
            return Failure::Fail(StoreError::Busy {
                message: "every database connection of the pool stayed in use".into(),
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            });
        }
        // The causes say why (a refused certificate, a wrong password): keep them all.
        let mut message = format!("no database connection: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Failure::Fail(StoreError::Backend(message))
    }
}

/// A driver error as a store error: the database's own message when it sent one.
fn pg_error(e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!("postgres {}: {}", db.code().code(), db.message())),
        None => StoreError::Backend(format!("postgres: {e}")),
    }
}

/// Runs `attempt` until it succeeds, fails for good, or keeps hitting serialization
/// failures `MAX_ATTEMPTS` times. Each attempt is a whole transaction, so a retry starts clean.
async fn retrying<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(Failure::Fail(e)) => return Err(e),
            Err(Failure::Retry(why)) if n < MAX_ATTEMPTS => {
                tracing::info!(operation = what, attempt = n, reason = %why, "retrying after a concurrent transaction");
                tokio::time::sleep(Duration::from_millis(5 << n.min(6))).await;
                n += 1;
            }
            Err(Failure::Retry(why)) => {
                return Err(StoreError::Backend(format!(
                    "{what}: gave up after {n} attempts: {why}"
                )));
            }
        }
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("cannot serialise: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored {what}: {e}")))
}

fn dec(s: &str) -> Result<Decimal, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("stored amount {s:?} is not a decimal")))
}

/// The store's tax settings (if a catalogue was loaded), catalogue version and name;
/// `lock` takes the row lock that serialises writers of one store.
async fn store_row(
    tx: &Transaction<'_>,
    store_id: &str,
    lock: bool,
) -> Result<(Option<TaxSettings>, i64, String), Failure> {
    let sql = if lock {
        "SELECT tax_settings, catalog_version, name FROM stores WHERE store_id = $1 FOR NO KEY UPDATE"
    } else {
        "SELECT tax_settings, catalog_version, name FROM stores WHERE store_id = $1"
    };
    let stmt = tx.prepare_cached(sql).await?;
    let row = tx
        .query_opt(&stmt, &[&store_id])
        .await?
        .ok_or_else(|| StoreError::StoreNotFound(store_id.to_string()))?;
    let tax: Option<String> = row.get(0);
    let tax = tax.map(|t| parse("tax settings", &t)).transpose()?;
    Ok((tax, row.get(1), row.get(2)))
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`) with
    /// the default options and applies the migrations it has not seen yet.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        PgStore::connect_with(url, &PgOptions::default()).await
    }

    /// `connect` with non-default options.
    pub async fn connect_with(url: &str, options: &PgOptions) -> Result<PgStore, StoreError> {
        let url = PgUrl::parse(url)?;
        let tls = url.connector()?;
        let mut config: tokio_postgres::Config = url
            .url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
        config.ssl_mode(url.ssl_mode());
        // A connection whose peer vanished (a failover, a cut cable) is noticed and dropped.
        config.keepalives(true).keepalives_idle(KEEPALIVE_IDLE);
        // Every lock wait ends: a store's row lock held by another instance answers busy
        // rather than holding this connection (and the device's request) indefinitely.
        let server_options = format!(
            "{} -c lock_timeout={}",
            config.get_options().unwrap_or(""),
            options.lock_wait.as_millis().max(1)
        );
        config.options(server_options.trim());
        let pool = |size: usize| {
            let manager = Manager::from_config(
                config.clone(),
                tls.clone(),
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size.max(1))
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(options.pool_wait))
                .create_timeout(Some(CONNECT_WAIT))
                .build()
                .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))
        };
        let store = PgStore {
            pool: pool(options.pool_size)?,
            auth_pool: pool(options.auth_pool_size)?,
            turns: Arc::default(),
            lock_wait: options.lock_wait,
        };
        store.migrate(options.migration_wait).await?;
        Ok(store)
    }

    /// Applies every migration the database has not seen, all in one transaction holding
    /// the migration lock: an instance starting at the same time waits, then finds them done.
    async fn migrate(&self, wait: Duration) -> Result<(), StoreError> {
        retrying("migrate", || async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            // A migration may wait for the serving instances' transactions to let go of a
            // table: as long as it may wait for the migration lock, not the short wait of
            // serving.
            tx.batch_execute(&format!(
                "SET LOCAL lock_timeout = {}",
                wait.as_millis().max(1)
            ))
            .await?;
            wait_for_migration_lock(&tx, wait).await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS tillkit_schema (
                     version    INTEGER PRIMARY KEY,
                     applied_at BIGINT NOT NULL
                 )",
            )
            .await?;
            let current: i32 = tx
                .query_one("SELECT COALESCE(MAX(version), 0) FROM tillkit_schema", &[])
                .await?
                .get(0);
            let latest = MIGRATIONS.len() as i32;
            if current > latest {
                return Err(Failure::Fail(StoreError::Backend(format!(
                    "database schema {current} is newer than this server ({latest}); refusing to touch it"
                ))));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                let version = i as i32 + 1;
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO tillkit_schema (version, applied_at) VALUES ($1, $2)",
                    &[&version, &now_ms()],
                )
                .await?;
                tracing::info!(version, "server database migrated");
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The batch's checks, done before the transaction (on the blocking pool, every core)
    /// with the store's tax settings as they are now; `None` when the store has none yet.
    async fn prepare(
        &self,
        ctx: &UploadContext,
        sales: &Arc<Vec<SaleRecord>>,
    ) -> Result<Option<(TaxSettings, Vec<validate::Prepared>)>, Failure> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT tax_settings FROM stores WHERE store_id = $1")
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&ctx.store_id]).await? else {
            return Ok(None);
        };
        drop(client);
        let Some(tax) = row.get::<_, Option<&str>>(0) else {
            return Ok(None);
        };
        let settings: TaxSettings = parse("tax settings", tax)?;
        let prepared = prepare_off_thread(sales, ctx, &settings).await?;
        Ok(Some((settings, prepared)))
    }

    async fn try_upload(
        &self,
        ctx: &UploadContext,
        sales: &Arc<Vec<SaleRecord>>,
        slots: &[Slot],
        prepared: &Option<(TaxSettings, Vec<validate::Prepared>)>,
    ) -> Result<Vec<SaleResult>, Failure> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Uploads to one store take turns here, as on SQLite; other stores are not held up.
        let (tax, version, _) = store_row(&tx, &ctx.store_id, true).await?;
        let settings = tax.ok_or_else(|| StoreError::NoCatalog(ctx.store_id.clone()))?;
        // The version of `settings`, stored with every record decided with them.
        let stmt = tx
            .prepare_cached("SELECT tax_version FROM stores WHERE store_id = $1")
            .await?;
        let tax_version: i64 = tx.query_one(&stmt, &[&ctx.store_id]).await?.get(0);
        let ids: Vec<String> = slots
            .iter()
            .map(|slot| match slot {
                Slot::Sale(i) => sales[*i].sale_id.to_string(),
                Slot::Refund(r) => r.refund_id.to_string(),
            })
            .collect();
        let find = tx
            .prepare_cached(
                "SELECT sale_id, record FROM sales WHERE store_id = $1 AND sale_id = ANY($2)",
            )
            .await?;
        let mut stored: HashMap<String, String> = tx
            .query(&find, &[&ctx.store_id, &ids])
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        // The sales the batch's refunds reverse, and their refunds so far, as stored.
        let refunded: Vec<String> = slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Refund(r) => Some(r.refund_of.to_string()),
                Slot::Sale(_) => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Each sale with the tax settings it was decided with, which its refunds are
        // recomputed with.
        let mut held_sales: HashMap<String, (SaleRecord, Option<TaxSettings>)> = HashMap::new();
        let mut held_refunds: HashMap<String, Vec<RefundRecord>> = HashMap::new();
        if !refunded.is_empty() {
            let stmt = tx
                .prepare_cached(
                    "SELECT s.sale_id, s.record, s.kind, s.refund_of, t.settings FROM sales s
                     LEFT JOIN tax_settings_history t
                       ON s.kind = 'sale' AND t.store_id = s.store_id
                      AND t.tax_version = s.tax_version
                     WHERE s.store_id = $1
                       AND ((s.kind = 'sale' AND s.sale_id = ANY($2)) OR s.refund_of = ANY($2))",
                )
                .await?;
            for r in tx.query(&stmt, &[&ctx.store_id, &refunded]).await? {
                let (id, record, kind, of, settings): (
                    String,
                    &str,
                    &str,
                    Option<String>,
                    Option<&str>,
                ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
                match (kind, of) {
                    ("refund", Some(of)) => held_refunds
                        .entry(of)
                        .or_default()
                        .push(parse("refund", record)?),
                    _ => {
                        let settings = settings
                            .map(|t| parse::<TaxSettings>("tax settings", t))
                            .transpose()?;
                        held_sales.insert(id, (parse("sale", record)?, settings));
                    }
                }
            }
        }

        let prepared = match prepared {
            Some((seen, p)) if *seen == settings => p.clone(),
            // The catalogue (and its tax settings) changed since: check again, under the lock.
            _ => prepare_off_thread(sales, ctx, &settings).await?,
        };
        let mut prepared: Vec<Option<validate::Prepared>> =
            prepared.into_iter().map(Some).collect();
        let mut new = NewRows::default();
        let mut results = Vec::with_capacity(slots.len());
        for (slot, id) in slots.iter().zip(ids) {
            match slot {
                Slot::Sale(i) => {
                    let sale = &sales[*i];
                    let prepared = prepared[*i]
                        .take()
                        .ok_or_else(|| StoreError::Backend("a sale decided twice".into()))?;
                    let existing = match prepared {
                        validate::Prepared::Refused(_) => None,
                        validate::Prepared::Checked { .. } => stored.get(&id).map(String::as_str),
                    };
                    let decision = prepared.resolve(existing);
                    results.push(super::answer(sale.sale_id, &decision));
                    if let Decision::Accept(a) = decision {
                        new.push(RowRef::sale(sale), &id, &a)?;
                        if refunded.binary_search(&id).is_ok() {
                            // A refund later in this batch reverses it.
                            held_sales.insert(id.clone(), (sale.clone(), Some(settings.clone())));
                        }
                        // A second copy of this id later in the batch is judged against this one.
                        stored.insert(id, a.canonical);
                    }
                }
                Slot::Refund(refund) => {
                    let mine =
                        refund.store_id == ctx.store_id && refund.register_id == ctx.uploaded_by;
                    let of = refund.refund_of.to_string();
                    let empty = Vec::new();
                    let held = held_sales
                        .get(&of)
                        .filter(|_| mine)
                        .map(|(sale, sale_settings)| validate::HeldSale {
                            sale,
                            refunds: held_refunds.get(&of).unwrap_or(&empty),
                            settings: sale_settings.as_ref(),
                        });
                    let existing = stored.get(&id).map(String::as_str).filter(|_| mine);
                    let decision = validate::decide_refund(
                        refund,
                        &ctx.store_id,
                        &ctx.uploaded_by,
                        &settings,
                        existing,
                        held,
                    )?;
                    results.push(super::answer(refund.refund_id, &decision));
                    if let Decision::Accept(a) = decision {
                        new.push(RowRef::refund(refund), &id, &a)?;
                        held_refunds.entry(of).or_default().push(refund.clone());
                        stored.insert(id, a.canonical);
                    }
                }
            }
        }
        if !new.sale_id.is_empty() {
            new.insert(&tx, ctx, version, tax_version).await?;
        }
        tx.commit().await?;
        Ok(results)
    }
}

/// A record of a batch, split for deciding: sales by their index in the batch's sales.
// Refunds are rare beside sales; boxing them would save little.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Sale(usize),
    Refund(RefundRecord),
}

/// The columns of one accepted record, sale or refund.
struct RowRef<'a> {
    register_id: &'a str,
    receipt_no: &'a str,
    seq: u64,
    created_at: i64,
    currency: &'a str,
    total: Decimal,
    tax_total: Decimal,
    refund_of: Option<String>,
}

impl<'a> RowRef<'a> {
    fn sale(s: &'a SaleRecord) -> Self {
        RowRef {
            register_id: &s.register_id,
            receipt_no: &s.receipt_no,
            seq: s.seq,
            created_at: s.created_at,
            currency: &s.currency,
            total: s.total,
            tax_total: s.tax_total,
            refund_of: None,
        }
    }

    fn refund(r: &'a RefundRecord) -> Self {
        RowRef {
            register_id: &r.register_id,
            receipt_no: &r.receipt_no,
            seq: r.seq,
            created_at: r.created_at,
            currency: &r.currency,
            total: r.total,
            tax_total: r.tax_total,
            refund_of: Some(r.refund_of.to_string()),
        }
    }
}

/// Takes the migration lock for `tx`, logging while another instance holds it, and gives up
/// after `wait` with an error that names the lock.
async fn wait_for_migration_lock(tx: &Transaction<'_>, wait: Duration) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let mut next_log = Duration::ZERO;
    loop {
        let taken: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?
            .get(0);
        let waited = started.elapsed();
        if taken {
            if waited > MIGRATION_POLL {
                tracing::info!(
                    waited_ms = waited.as_millis() as u64,
                    "migration lock taken"
                );
            }
            return Ok(());
        }
        if waited >= wait {
            return Err(Failure::Fail(StoreError::Backend(format!(
                "another instance has held the migration lock (advisory lock {MIGRATION_LOCK}) \
                 for more than {} s; is one stuck mid-migration? (see pg_locks where \
                 locktype = 'advisory', and pg_stat_activity)",
                wait.as_secs_f64()
            ))));
        }
        if waited >= next_log {
            tracing::warn!(
                waited_secs = waited.as_secs(),
                gives_up_after_secs = wait.as_secs(),
                "waiting for another instance to finish migrating the database"
            );
            next_log += MIGRATION_LOG_EVERY;
        }
        tokio::time::sleep(MIGRATION_POLL).await;
    }
}

/// `validate::prepare_batch` on the blocking pool, so the async threads keep serving.
async fn prepare_off_thread(
    sales: &Arc<Vec<SaleRecord>>,
    ctx: &UploadContext,
    settings: &TaxSettings,
) -> Result<Vec<validate::Prepared>, Failure> {
    let (sales, store, register, settings) = (
        sales.clone(),
        ctx.store_id.clone(),
        ctx.uploaded_by.clone(),
        settings.clone(),
    );
    let span = tracing::Span::current();
    let prepared = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        validate::prepare_batch(&sales, &store, &register, &settings)
    })
    .await
    .map_err(|e| StoreError::Backend(format!("sale checks failed: {e}")))??;
    Ok(prepared)
}

/// The accepted sales of a batch and their stock movements, as columns for one `INSERT`
/// each (UNNEST of arrays): a batch costs a handful of round trips, whatever its size.
#[derive(Default)]
struct NewRows {
    sale_id: Vec<String>,
    register_id: Vec<String>,
    receipt_no: Vec<String>,
    seq: Vec<i64>,
    created_at: Vec<i64>,
    currency: Vec<String>,
    total: Vec<String>,
    tax_total: Vec<String>,
    record: Vec<String>,
    server_totals: Vec<Option<String>>,
    tax_difference: Vec<Option<String>>,
    totals_match: Vec<bool>,
    tax_check_error: Vec<Option<String>>,
    record_hash: Vec<String>,
    kind: Vec<&'static str>,
    refund_of: Vec<Option<String>>,
    m_product: Vec<String>,
    m_register: Vec<String>,
    m_sale: Vec<String>,
    m_delta: Vec<i64>,
    m_created_at: Vec<i64>,
}

impl NewRows {
    fn push(
        &mut self,
        row: RowRef<'_>,
        id: &str,
        a: &validate::Accepted,
    ) -> Result<(), StoreError> {
        let check = &a.tax_check;
        self.sale_id.push(id.to_string());
        self.register_id.push(row.register_id.to_string());
        self.receipt_no.push(row.receipt_no.to_string());
        self.seq.push(
            i64::try_from(row.seq)
                .map_err(|_| StoreError::Invalid(format!("seq {} out of range", row.seq)))?,
        );
        self.created_at.push(row.created_at);
        self.currency.push(row.currency.to_string());
        self.total.push(row.total.to_string());
        self.tax_total.push(row.tax_total.to_string());
        self.record.push(a.canonical.clone());
        self.server_totals
            .push(check.server_totals.as_ref().map(json).transpose()?);
        self.tax_difference
            .push(check.tax_difference.map(|d| d.to_string()));
        self.totals_match.push(check.totals_match);
        self.tax_check_error.push(check.error.clone());
        self.record_hash.push(a.record_hash.clone());
        self.kind.push(if row.refund_of.is_some() {
            "refund"
        } else {
            "sale"
        });
        self.refund_of.push(row.refund_of);
        for m in &a.movements {
            self.m_product.push(m.product_id.clone());
            self.m_register.push(row.register_id.to_string());
            self.m_sale.push(id.to_string());
            self.m_delta.push(m.delta_milli);
            self.m_created_at.push(row.created_at);
        }
        Ok(())
    }

    /// Writes the sales, their movements and the catalogue version bump; the store's row
    /// lock is held.
    async fn insert(
        &self,
        tx: &Transaction<'_>,
        ctx: &UploadContext,
        version: i64,
        tax_version: i64,
    ) -> Result<(), Failure> {
        let insert_sales = tx
            .prepare_cached(
                "INSERT INTO sales (store_id, sale_id, register_id, uploaded_by, receipt_no, seq,
                   created_at, received_at, currency, total, tax_total, record, server_totals,
                   tax_difference, totals_match, tax_check_error, record_hash, kind, refund_of,
                   tax_version)
                 SELECT $1, u.sale_id, u.register_id, $2, u.receipt_no, u.seq, u.created_at, $3,
                   u.currency, u.total, u.tax_total, u.record, u.server_totals, u.tax_difference,
                   u.totals_match, u.tax_check_error, u.record_hash, u.kind, u.refund_of,
                   $20::int8
                 FROM UNNEST($4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::text[],
                   $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bool[],
                   $16::text[], $17::text[], $18::text[], $19::text[])
                   AS u(sale_id, register_id, receipt_no, seq, created_at, currency, total,
                        tax_total, record, server_totals, tax_difference, totals_match,
                        tax_check_error, record_hash, kind, refund_of)
                 ON CONFLICT (store_id, sale_id) DO NOTHING",
            )
            .await?;
        let written = tx
            .execute(
                &insert_sales,
                &[
                    &ctx.store_id,
                    &ctx.uploaded_by,
                    &ctx.received_at,
                    &self.sale_id,
                    &self.register_id,
                    &self.receipt_no,
                    &self.seq,
                    &self.created_at,
                    &self.currency,
                    &self.total,
                    &self.tax_total,
                    &self.record,
                    &self.server_totals,
                    &self.tax_difference,
                    &self.totals_match,
                    &self.tax_check_error,
                    &self.record_hash,
                    &self.kind,
                    &self.refund_of,
                    &tax_version,
                ],
            )
            .await?;
        if written != self.sale_id.len() as u64 {
            // Another transaction stored one of these ids after we looked (only possible
            // if something bypassed the store lock): decide the whole batch again.
            return Err(Failure::Retry(format!(
                "{} of {} sales were stored concurrently",
                self.sale_id.len() as u64 - written,
                self.sale_id.len()
            )));
        }
        if self.m_product.is_empty() {
            return Ok(());
        }
        let insert_moves = tx
            .prepare_cached(
                "INSERT INTO stock_movements (store_id, product_id, register_id, sale_id, delta_milli,
                   created_at, received_at)
                 SELECT $1, u.product_id, u.register_id, u.sale_id, u.delta_milli, u.created_at, $2
                 FROM UNNEST($3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[])
                   WITH ORDINALITY AS u(product_id, register_id, sale_id, delta_milli, created_at, n)
                 ORDER BY u.n",
            )
            .await?;
        tx.execute(
            &insert_moves,
            &[
                &ctx.store_id,
                &ctx.received_at,
                &self.m_product,
                &self.m_register,
                &self.m_sale,
                &self.m_delta,
                &self.m_created_at,
            ],
        )
        .await?;
        // Devices learn the new stock figures through the next delta.
        let moved: Vec<&String> = self
            .m_product
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let new = version + 1;
        let bump = tx
            .prepare_cached(
                "UPDATE products SET changed_version = $3
                 WHERE store_id = $1 AND product_id = ANY($2) AND NOT removed",
            )
            .await?;
        if tx.execute(&bump, &[&ctx.store_id, &moved, &new]).await? > 0 {
            let stmt = tx
                .prepare_cached("UPDATE stores SET catalog_version = $2 WHERE store_id = $1")
                .await?;
            tx.execute(&stmt, &[&ctx.store_id, &new]).await?;
        }
        Ok(())
    }
}

async fn catalog_read(
    tx: &Transaction<'_>,
    store_id: &str,
    since: Option<&str>,
) -> Result<CatalogPayload, Failure> {
    let (tax, version, name) = store_row(tx, store_id, false).await?;
    let tax = tax.ok_or_else(|| StoreError::NoCatalog(store_id.to_string()))?;
    let since = since
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|v| (1..=version).contains(v));
    let after = since.unwrap_or(0);
    let products_sql = tx
        .prepare_cached(
            "SELECT p.product_id, p.record, p.removed, (p.base_stock_milli + COALESCE(
                 (SELECT SUM(m.delta_milli) FROM stock_movements m
                  WHERE m.store_id = p.store_id AND m.product_id = p.product_id
                    AND m.id > p.base_after_movement), 0))::BIGINT
             FROM products p WHERE p.store_id = $1 AND p.changed_version > $2 ORDER BY p.product_id",
        )
        .await?;
    let mut products = Vec::new();
    let mut removed_product_ids = Vec::new();
    for r in tx.query(&products_sql, &[&store_id, &after]).await? {
        let id: String = r.get(0);
        if r.get::<_, bool>(2) {
            if since.is_some() {
                removed_product_ids.push(id);
            }
            continue;
        }
        let mut p: ProductRecord = parse("product", r.get(1))?;
        p.stock = from_milli(r.get(3));
        products.push(p);
    }
    let discounts_sql = tx
        .prepare_cached(
            "SELECT discount_id, definition, removed FROM discounts
             WHERE store_id = $1 AND changed_version > $2 ORDER BY discount_id",
        )
        .await?;
    let mut discounts = Vec::new();
    let mut removed_discount_ids = Vec::new();
    for r in tx.query(&discounts_sql, &[&store_id, &after]).await? {
        if r.get::<_, bool>(2) {
            if since.is_some() {
                removed_discount_ids.push(r.get(0));
            }
            continue;
        }
        discounts.push(parse::<DiscountRule>("discount", r.get(1))?);
    }
    let limits: Option<String> = tx
        .query_one(
            "SELECT offline_limits FROM stores WHERE store_id = $1",
            &[&store_id],
        )
        .await?
        .get(0);
    let offline_limits = match limits {
        Some(l) => parse::<OfflineLimits>("offline limits", &l)?,
        None => OfflineLimits::default(),
    };
    Ok(CatalogPayload {
        offline_limits: Some(offline_limits),
        store_id: store_id.to_string(),
        store_name: Some(name),
        kind: if since.is_some() {
            PayloadKind::Delta
        } else {
            PayloadKind::Snapshot
        },
        cursor: version.to_string(),
        tax: Some(tax),
        products,
        removed_product_ids,
        discounts,
        removed_discount_ids,
    })
}

async fn stored_sale_read(
    tx: &Transaction<'_>,
    store_id: &str,
    sale_id: &str,
) -> Result<Option<StoredSale>, Failure> {
    let stmt = tx
        .prepare_cached(
            "SELECT record, uploaded_by, received_at, server_totals, tax_difference, totals_match,
                    tax_check_error
             FROM sales WHERE store_id = $1 AND sale_id = $2 AND kind = 'sale'",
        )
        .await?;
    let Some(r) = tx.query_opt(&stmt, &[&store_id, &sale_id]).await? else {
        return Ok(None);
    };
    Ok(Some(StoredSale {
        record: parse("sale", r.get(0))?,
        uploaded_by: r.get(1),
        received_at: r.get(2),
        server_totals: r
            .get::<_, Option<&str>>(3)
            .map(|t| parse("server totals", t))
            .transpose()?,
        tax_difference: r.get::<_, Option<&str>>(4).map(dec).transpose()?,
        totals_match: r.get(5),
        tax_check_error: r.get(6),
    }))
}

async fn refunds_of_read(
    tx: &Transaction<'_>,
    store_id: &str,
    sale_id: &str,
) -> Result<Vec<StoredRefund>, Failure> {
    store_row(tx, store_id, false).await?;
    let stmt = tx
        .prepare_cached(
            "SELECT record, uploaded_by, received_at, tax_difference, totals_match,
                    tax_check_error
             FROM sales WHERE store_id = $1 AND refund_of = $2 AND kind = 'refund'
             ORDER BY received_at, seq",
        )
        .await?;
    let mut out = Vec::new();
    for r in tx.query(&stmt, &[&store_id, &sale_id]).await? {
        out.push(StoredRefund {
            record: parse("refund", r.get(0))?,
            uploaded_by: r.get(1),
            received_at: r.get(2),
            tax_difference: r.get::<_, Option<&str>>(3).map(dec).transpose()?,
            totals_match: r.get(4),
            tax_check_error: r.get(5),
        });
    }
    Ok(out)
}

async fn sale_lookup_read(
    tx: &Transaction<'_>,
    store_id: &str,
    key: &SaleKey,
) -> Result<Vec<SaleLookup>, Failure> {
    store_row(tx, store_id, false).await?;
    let rows = match key {
        SaleKey::SaleId(id) => {
            let stmt = tx
                .prepare_cached(
                    "SELECT sale_id, record, tax_version, totals_match FROM sales
                     WHERE store_id = $1 AND sale_id = $2 AND kind = 'sale'",
                )
                .await?;
            tx.query(&stmt, &[&store_id, &id.to_string()]).await?
        }
        // Through the (store, register, seq) index: no index on receipt numbers.
        SaleKey::Receipt(receipt) => match SaleKey::receipt_parts(receipt) {
            Some((register_id, seq)) => {
                let stmt = tx
                    .prepare_cached(
                        "SELECT sale_id, record, tax_version, totals_match FROM sales
                         WHERE store_id = $1 AND register_id = $2 AND seq = $3
                           AND receipt_no = $4 AND kind = 'sale'
                         ORDER BY received_at, sale_id",
                    )
                    .await?;
                tx.query(&stmt, &[&store_id, &register_id, &seq, receipt])
                    .await?
            }
            None => Vec::new(),
        },
    };
    let refunds = tx
        .prepare_cached(
            "SELECT record FROM sales WHERE store_id = $1 AND refund_of = $2 AND kind = 'refund'
             ORDER BY received_at, seq",
        )
        .await?;
    let settings = tx
        .prepare_cached(
            "SELECT settings FROM tax_settings_history WHERE store_id = $1 AND tax_version = $2",
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let sale_id: &str = r.get(0);
        let tax_version: Option<i64> = r.get(2);
        let mut stored = Vec::new();
        for row in tx.query(&refunds, &[&store_id, &sale_id]).await? {
            stored.push(parse::<RefundRecord>("refund", row.get(0))?);
        }
        let tax_settings = match tax_version {
            Some(v) => {
                let row = tx
                    .query_opt(&settings, &[&store_id, &v])
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "sale {sale_id} names tax settings version {v}, which is not kept"
                        ))
                    })?;
                Some(parse("tax settings", row.get(0))?)
            }
            None => None,
        };
        out.push(SaleLookup {
            sale: parse("sale", r.get(1))?,
            refunds: stored,
            tax_settings,
            totals_match: r.get(3),
        });
    }
    Ok(out)
}

async fn audit_read(tx: &Transaction<'_>, store_id: &str) -> Result<StockAudit, Failure> {
    store_row(tx, store_id, false).await?;
    struct Start {
        name: String,
        in_catalog: bool,
        tracked: bool,
        base: i64,
        after: i64,
    }
    let starts_sql = tx
        .prepare_cached(
            "SELECT product_id, name, removed, stock_tracked, base_stock_milli, base_after_movement
             FROM products WHERE store_id = $1",
        )
        .await?;
    let starts: BTreeMap<String, Start> = tx
        .query(&starts_sql, &[&store_id])
        .await?
        .into_iter()
        .map(|r| {
            (
                r.get(0),
                Start {
                    name: r.get(1),
                    in_catalog: !r.get::<_, bool>(2),
                    tracked: r.get(3),
                    base: r.get(4),
                    after: r.get(5),
                },
            )
        })
        .collect();
    let moves_sql = tx
        .prepare_cached(
            "SELECT m.id, m.product_id, m.register_id, m.sale_id, s.receipt_no, m.delta_milli,
                    m.created_at, m.received_at
             FROM stock_movements m JOIN sales s ON s.store_id = m.store_id AND s.sale_id = m.sale_id
             WHERE m.store_id = $1 ORDER BY m.id",
        )
        .await?;
    let mut moves: BTreeMap<String, Vec<tokio_postgres::Row>> = BTreeMap::new();
    for r in tx.query(&moves_sql, &[&store_id]).await? {
        moves.entry(r.get(1)).or_default().push(r);
    }
    let ids: BTreeSet<&String> = starts
        .iter()
        .filter(|(_, s)| s.in_catalog && s.tracked)
        .map(|(id, _)| id)
        .chain(moves.keys())
        .collect();
    let mut products = Vec::new();
    for id in ids {
        let start = starts.get(id);
        let (base, after) = start.map_or((0, 0), |s| (s.base, s.after));
        let mut running = base;
        let mut registers: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        let mut below_zero = Vec::new();
        let mut below_zero_total = 0u64;
        for m in moves.get(id).into_iter().flatten() {
            if m.get::<_, i64>(0) <= after {
                continue;
            }
            let delta: i64 = m.get(5);
            let register_id: String = m.get(2);
            running += delta;
            let r = registers.entry(register_id.clone()).or_default();
            r.0 += 1;
            r.1 += delta;
            if delta < 0 && running < 0 {
                below_zero_total += 1;
            }
            if delta < 0 && running < 0 && below_zero.len() < MAX_AUDIT_ITEMS {
                let sale_id: &str = m.get(3);
                below_zero.push(BelowZero {
                    sale_id: sale_id
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("sale id {sale_id:?}")))?,
                    register_id,
                    receipt_no: m.get(4),
                    delta: from_milli(delta),
                    stock_after: from_milli(running),
                    created_at: m.get(6),
                    received_at: m.get(7),
                });
            }
        }
        products.push(ProductAudit {
            product_id: id.clone(),
            name: start.map(|s| s.name.clone()),
            in_catalog: start.is_some_and(|s| s.in_catalog),
            starting_stock: from_milli(base),
            current_stock: from_milli(running),
            registers: registers
                .into_iter()
                .map(|(register_id, (movements, total))| RegisterMovements {
                    register_id,
                    movements,
                    total: from_milli(total),
                })
                .collect(),
            below_zero,
            below_zero_total,
        });
    }
    let (over_refunds, over_refunds_total) =
        super::over_refunds(&refunds_read(tx, store_id).await?);
    Ok(StockAudit {
        store_id: store_id.to_string(),
        products,
        over_refunds,
        over_refunds_total,
    })
}

/// The store's sales refunded more than once (one refund alone never takes back more than
/// its sale: `validate::decide_refund`), in the order they arrived, each with its refunds in
/// the order they arrived.
async fn refunds_read(tx: &Transaction<'_>, store_id: &str) -> Result<Vec<RefundedSale>, Failure> {
    const REFUNDED_TWICE: &str =
        "SELECT refund_of FROM sales WHERE store_id = $1 AND kind = 'refund'
         GROUP BY refund_of HAVING COUNT(*) > 1";
    let refunds_sql = tx
        .prepare_cached(&format!(
            "SELECT refund_of, record, received_at FROM sales
             WHERE store_id = $1 AND kind = 'refund' AND refund_of IN ({REFUNDED_TWICE})
             ORDER BY received_at, register_id, seq, sale_id"
        ))
        .await?;
    let mut refunds: HashMap<String, Vec<(RefundRecord, i64)>> = HashMap::new();
    for r in tx.query(&refunds_sql, &[&store_id]).await? {
        refunds
            .entry(r.get(0))
            .or_default()
            .push((parse("refund", r.get(1))?, r.get(2)));
    }
    let sales_sql = tx
        .prepare_cached(&format!(
            "SELECT sale_id, record FROM sales
             WHERE store_id = $1 AND kind = 'sale' AND sale_id IN ({REFUNDED_TWICE})
             ORDER BY received_at, sale_id"
        ))
        .await?;
    let mut out = Vec::new();
    for r in tx.query(&sales_sql, &[&store_id]).await? {
        let sale_id: &str = r.get(0);
        out.push(RefundedSale {
            sale: parse("sale", r.get(1))?,
            refunds: refunds.remove(sale_id).unwrap_or_default(),
        });
    }
    Ok(out)
}

async fn summary_read(tx: &Transaction<'_>, store_id: &str) -> Result<Summary, Failure> {
    let (tax, _, _) = store_row(tx, store_id, false).await?;
    // Summed as NUMERIC in the database: exact, and no row leaves it.
    let stmt = tx
        .prepare_cached(
            "SELECT COUNT(*) FILTER (WHERE kind = 'sale'),
                    COALESCE(SUM(total::numeric) FILTER (WHERE kind = 'sale'), 0)::text,
                    COALESCE(SUM(tax_total::numeric) FILTER (WHERE kind = 'sale'), 0)::text,
                    COUNT(*) FILTER (WHERE kind = 'sale'
                      AND (tax_difference IS NULL OR tax_difference::numeric <> 0)),
                    COALESCE(SUM(tax_difference::numeric) FILTER (WHERE kind = 'sale'), 0)::text,
                    COUNT(*) FILTER (WHERE kind = 'refund'),
                    COALESCE(SUM(total::numeric) FILTER (WHERE kind = 'refund'), 0)::text,
                    COALESCE(SUM(tax_total::numeric) FILTER (WHERE kind = 'refund'), 0)::text,
                    COUNT(*) FILTER (WHERE kind = 'refund' AND NOT totals_match),
                    COALESCE(SUM(tax_difference::numeric) FILTER (WHERE kind = 'refund'), 0)::text
             FROM sales WHERE store_id = $1",
        )
        .await?;
    let r = tx.query_one(&stmt, &[&store_id]).await?;
    Ok(Summary {
        store_id: store_id.to_string(),
        currency: tax.map(|t| t.currency),
        sale_count: r.get::<_, i64>(0) as u64,
        total: dec(r.get(1))?,
        tax_total: dec(r.get(2))?,
        refund_count: r.get::<_, i64>(5) as u64,
        refund_total: dec(r.get(6))?,
        refund_tax_total: dec(r.get(7))?,
        sales_with_tax_difference: r.get::<_, i64>(3) as u64,
        tax_difference_total: dec(r.get(4))?,
        refunds_with_difference: r.get::<_, i64>(8) as u64,
        refund_tax_difference_total: dec(r.get(9))?,
    })
}

async fn journal_read(tx: &Transaction<'_>, store_id: &str) -> Result<JournalAudit, Failure> {
    store_row(tx, store_id, false).await?;
    let stmt = tx
        .prepare_cached(
            "SELECT register_id, record, record_hash, sale_id FROM sales WHERE store_id = $1",
        )
        .await?;
    let mut rows = JournalRows::default();
    for r in tx.query(&stmt, &[&store_id]).await? {
        rows.add(r.get(0), r.get(1), r.get(2), r.get(3));
    }
    Ok(rows.finish(store_id))
}

async fn last_seq_read(
    tx: &Transaction<'_>,
    store_id: &str,
    register_id: &str,
) -> Result<u64, Failure> {
    store_row(tx, store_id, false).await?;
    let stmt = tx
        .prepare_cached("SELECT MAX(seq) FROM sales WHERE store_id = $1 AND register_id = $2")
        .await?;
    let max: Option<i64> = tx
        .query_one(&stmt, &[&store_id, &register_id])
        .await?
        .get(0);
    Ok(max.map_or(0, |m| m.max(0) as u64))
}

async fn registers_read(
    tx: &Transaction<'_>,
    store_id: &str,
) -> Result<Vec<RegisterInfo>, Failure> {
    store_row(tx, store_id, false).await?;
    let stmt = tx
        .prepare_cached(
            "SELECT r.register_id, r.created_at,
                    COUNT(t.token_hash) FILTER (WHERE t.revoked_at IS NULL),
                    COUNT(t.token_hash) FILTER (WHERE t.revoked_at IS NOT NULL),
                    MAX(t.created_at)
             FROM registers r LEFT JOIN tokens t
               ON t.store_id = r.store_id AND t.register_id = r.register_id
             WHERE r.store_id = $1 GROUP BY r.register_id, r.created_at ORDER BY r.register_id",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&store_id])
        .await?
        .into_iter()
        .map(|r| RegisterInfo {
            register_id: r.get(0),
            created_at: r.get(1),
            live_tokens: r.get::<_, i64>(2) as u64,
            revoked_tokens: r.get::<_, i64>(3) as u64,
            last_issued_at: r.get(4),
        })
        .collect())
}

/// One read-only transaction on one snapshot (every query in it sees the same moment),
/// retried like any other.
macro_rules! read {
    ($self:ident, $what:literal, |$tx:ident| $body:expr) => {
        retrying($what, || async {
            let mut client = $self.pool.get().await?;
            let $tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let v = $body;
            $tx.commit().await?;
            Ok(v)
        })
        .await
    };
}

/// One write transaction (read committed) for the admin operations.
macro_rules! write_tx {
    ($self:ident, $what:literal, |$tx:ident| $body:block) => {
        retrying($what, || async {
            let mut client = $self.pool.get().await?;
            let $tx = client.transaction().await?;
            let v = $body;
            $tx.commit().await?;
            Ok(v)
        })
        .await
    };
}

#[async_trait::async_trait]
impl ServerStore for PgStore {
    async fn create_store(&self, store_id: &str, name: &str) -> Result<(), StoreError> {
        write_tx!(self, "create_store", |tx| {
            tx.execute(
                "INSERT INTO stores (store_id, name, created_at) VALUES ($1, $2, $3)",
                &[&store_id, &name, &now_ms()],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    Failure::Fail(StoreError::StoreExists(store_id.to_string()))
                } else {
                    e.into()
                }
            })?;
        })
    }

    async fn add_register_token(
        &self,
        store_id: &str,
        register_id: &str,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        write_tx!(self, "add_register_token", |tx| {
            store_row(&tx, store_id, false).await?;
            let now = now_ms();
            tx.execute(
                "INSERT INTO registers (store_id, register_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (store_id, register_id) DO NOTHING",
                &[&store_id, &register_id, &now],
            )
            .await?;
            tx.execute(
                "INSERT INTO tokens (store_id, token_hash, register_id, created_at) VALUES ($1, $2, $3, $4)",
                &[&store_id, &token.as_str(), &register_id, &now],
            )
            .await?;
        })
    }

    async fn revoke_token(&self, token: &TokenHash) -> Result<bool, StoreError> {
        write_tx!(self, "revoke_token", |tx| {
            tx.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
                &[&token.as_str(), &now_ms()],
            )
            .await?
                > 0
        })
    }

    async fn revoke_register(&self, store_id: &str, register_id: &str) -> Result<u64, StoreError> {
        write_tx!(self, "revoke_register", |tx| {
            store_row(&tx, store_id, false).await?;
            tx.execute(
                "UPDATE tokens SET revoked_at = $3
                 WHERE store_id = $1 AND register_id = $2 AND revoked_at IS NULL",
                &[&store_id, &register_id, &now_ms()],
            )
            .await?
        })
    }

    async fn add_pairing_code(
        &self,
        store_id: &str,
        register_id: &str,
        code: &TokenHash,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        write_tx!(self, "add_pairing_code", |tx| {
            store_row(&tx, store_id, false).await?;
            let now = now_ms();
            tx.execute(
                "INSERT INTO registers (store_id, register_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (store_id, register_id) DO NOTHING",
                &[&store_id, &register_id, &now],
            )
            .await?;
            tx.execute(
                "INSERT INTO pairing_codes (store_id, code_hash, register_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&store_id, &code.as_str(), &register_id, &now, &expires_at],
            )
            .await?;
        })
    }

    async fn redeem_pairing_code(
        &self,
        code: &TokenHash,
        token: &TokenHash,
        now: i64,
    ) -> Result<Option<Principal>, StoreError> {
        write_tx!(self, "redeem_pairing_code", |tx| {
            // Read committed: a second device racing with the same code waits on the row
            // lock, re-reads `used_at` once the first commits, and updates nothing.
            let row = tx
                .query_opt(
                    "UPDATE pairing_codes SET used_at = $2
                     WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
                     RETURNING store_id, register_id",
                    &[&code.as_str(), &now],
                )
                .await?;
            match row {
                None => None,
                Some(r) => {
                    let principal = Principal {
                        store_id: r.get(0),
                        register_id: r.get(1),
                    };
                    tx.execute(
                        "UPDATE tokens SET revoked_at = $3
                         WHERE store_id = $1 AND register_id = $2 AND revoked_at IS NULL",
                        &[&principal.store_id, &principal.register_id, &now],
                    )
                    .await?;
                    tx.execute(
                        "INSERT INTO tokens (store_id, token_hash, register_id, created_at)
                         VALUES ($1, $2, $3, $4)",
                        &[
                            &principal.store_id,
                            &token.as_str(),
                            &principal.register_id,
                            &now,
                        ],
                    )
                    .await?;
                    Some(principal)
                }
            }
        })
    }

    async fn registers(&self, store_id: &str) -> Result<Vec<RegisterInfo>, StoreError> {
        read!(self, "registers", |tx| registers_read(&tx, store_id)
            .await?)
    }

    async fn authenticate(&self, token: &TokenHash) -> Result<Option<Principal>, StoreError> {
        // One statement: no snapshot transaction needed.
        retrying("authenticate", || async {
            let client = self.auth_pool.get().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT store_id, register_id FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .await?;
            Ok(client
                .query_opt(&stmt, &[&token.as_str()])
                .await?
                .map(|r| Principal {
                    store_id: r.get(0),
                    register_id: r.get(1),
                }))
        })
        .await
    }

    async fn load_catalog(
        &self,
        store_id: &str,
        catalog: &CatalogFile,
    ) -> Result<String, StoreError> {
        validate::check_catalog(store_id, catalog)?;
        let _turn = self.turns.take(store_id, self.lock_wait).await?;
        let new = write_tx!(self, "load_catalog", |tx| {
            let (_, version, _) = store_row(&tx, store_id, true).await?;
            let new = version + 1;
            let settings = json(&catalog.tax)?;
            // Settings that changed are a new version, kept for the sales decided with them.
            let row = tx
                .query_one(
                    "SELECT tax_settings, tax_version FROM stores WHERE store_id = $1",
                    &[&store_id],
                )
                .await?;
            let current: Option<&str> = row.get(0);
            let mut tax_version: i64 = row.get(1);
            if current != Some(settings.as_str()) {
                tax_version += 1;
                tx.execute(
                    "INSERT INTO tax_settings_history (store_id, tax_version, settings, loaded_at)
                     VALUES ($1, $2, $3, $4)",
                    &[&store_id, &tax_version, &settings, &now_ms()],
                )
                .await?;
            }
            tx.execute(
                "UPDATE stores SET tax_settings = $2, catalog_version = $3, name = COALESCE($4, name),
                   tax_version = $5
                 WHERE store_id = $1",
                &[&store_id, &settings, &new, &catalog.store_name, &tax_version],
            )
            .await?;
            // Movements up to here happened before this load's stock count (uploads to this
            // store wait on the row lock we hold).
            let watermark: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(id), 0) FROM stock_movements WHERE store_id = $1",
                    &[&store_id],
                )
                .await?
                .get(0);
            let mut existing: HashMap<String, (String, bool)> = tx
                .query(
                    "SELECT product_id, record, removed FROM products WHERE store_id = $1",
                    &[&store_id],
                )
                .await?
                .into_iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect();
            let upsert = tx
                .prepare(
                    "INSERT INTO products (store_id, product_id, record, name, stock_tracked, base_stock_milli,
                                           base_after_movement, changed_version, removed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE)
                     ON CONFLICT (store_id, product_id) DO UPDATE SET record = excluded.record,
                       name = excluded.name, stock_tracked = excluded.stock_tracked,
                       base_after_movement = CASE WHEN products.base_stock_milli = excluded.base_stock_milli
                                                  THEN products.base_after_movement
                                                  ELSE excluded.base_after_movement END,
                       base_stock_milli = excluded.base_stock_milli,
                       changed_version = excluded.changed_version, removed = FALSE",
                )
                .await?;
            for p in &catalog.products {
                let record = json(p)?;
                if existing
                    .remove(&p.id)
                    .is_some_and(|(old, removed)| old == record && !removed)
                {
                    continue;
                }
                let milli = to_milli(p.stock).ok_or_else(|| {
                    StoreError::Invalid(format!("product {:?}: stock out of range", p.id))
                })?;
                tx.execute(
                    &upsert,
                    &[
                        &store_id,
                        &p.id,
                        &record,
                        &p.name,
                        &p.stock_tracked,
                        &milli,
                        &watermark,
                        &new,
                    ],
                )
                .await?;
            }
            let gone: Vec<String> = existing
                .into_iter()
                .filter(|(_, (_, r))| !r)
                .map(|(id, _)| id)
                .collect();
            tx.execute(
                "UPDATE products SET removed = TRUE, changed_version = $3 WHERE store_id = $1 AND product_id = ANY($2)",
                &[&store_id, &gone, &new],
            )
            .await?;

            let mut existing: HashMap<String, (String, bool)> = tx
                .query(
                    "SELECT discount_id, definition, removed FROM discounts WHERE store_id = $1",
                    &[&store_id],
                )
                .await?
                .into_iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect();
            let upsert = tx
                .prepare(
                    "INSERT INTO discounts (store_id, discount_id, definition, changed_version, removed)
                     VALUES ($1, $2, $3, $4, FALSE)
                     ON CONFLICT (store_id, discount_id) DO UPDATE SET definition = excluded.definition,
                       changed_version = excluded.changed_version, removed = FALSE",
                )
                .await?;
            for d in &catalog.discounts {
                let definition = json(d)?;
                if existing
                    .remove(&d.id)
                    .is_some_and(|(old, removed)| old == definition && !removed)
                {
                    continue;
                }
                tx.execute(&upsert, &[&store_id, &d.id, &definition, &new])
                    .await?;
            }
            let gone: Vec<String> = existing
                .into_iter()
                .filter(|(_, (_, r))| !r)
                .map(|(id, _)| id)
                .collect();
            tx.execute(
                "UPDATE discounts SET removed = TRUE, changed_version = $3 WHERE store_id = $1 AND discount_id = ANY($2)",
                &[&store_id, &gone, &new],
            )
            .await?;
            new
        })?;
        tracing::info!(store = %store_id, cursor = new, products = catalog.products.len(), "catalogue loaded");
        Ok(new.to_string())
    }

    async fn set_offline_limits(
        &self,
        store_id: &str,
        limits: &OfflineLimits,
    ) -> Result<String, StoreError> {
        let stored = (!limits.is_empty()).then(|| json(limits)).transpose()?;
        let _turn = self.turns.take(store_id, self.lock_wait).await?;
        let new = write_tx!(self, "set_offline_limits", |tx| {
            let (tax, version, _) = store_row(&tx, store_id, true).await?;
            if tax.is_none() {
                return Err(Failure::Fail(StoreError::NoCatalog(store_id.to_string())));
            }
            let new = version + 1;
            tx.execute(
                "UPDATE stores SET offline_limits = $2, catalog_version = $3 WHERE store_id = $1",
                &[&store_id, &stored, &new],
            )
            .await?;
            new
        })?;
        Ok(new.to_string())
    }

    async fn catalog(
        &self,
        store_id: &str,
        since: Option<&str>,
    ) -> Result<CatalogPayload, StoreError> {
        read!(self, "catalog", |tx| catalog_read(&tx, store_id, since)
            .await?)
    }

    async fn upload_records(
        &self,
        ctx: &UploadContext,
        records: Vec<UploadRecord>,
    ) -> Result<Vec<SaleResult>, StoreError> {
        if records.is_empty() {
            // Nothing to decide: no connection, no turn.
            return Ok(Vec::new());
        }
        let mut sales = Vec::with_capacity(records.len());
        let slots: Vec<Slot> = records
            .into_iter()
            .map(|r| match r {
                UploadRecord::Sale(s) => {
                    sales.push(s);
                    Slot::Sale(sales.len() - 1)
                }
                UploadRecord::Refund(r) => Slot::Refund(r),
            })
            .collect();
        let sales = Arc::new(sales);
        // Checked once, outside the store's lock; re-checked only if the settings moved.
        let prepared = retrying("upload_batch", || self.prepare(ctx, &sales)).await?;
        // The store's turn in this instance before a connection: waiting writers hold none.
        let _turn = self.turns.take(&ctx.store_id, self.lock_wait).await?;
        retrying("upload_batch", || {
            self.try_upload(ctx, &sales, &slots, &prepared)
        })
        .await
    }

    async fn refunds_of(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Vec<StoredRefund>, StoreError> {
        read!(self, "refunds_of", |tx| refunds_of_read(
            &tx, store_id, sale_id
        )
        .await?)
    }

    async fn stored_sale(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Option<StoredSale>, StoreError> {
        read!(self, "stored_sale", |tx| stored_sale_read(
            &tx, store_id, sale_id
        )
        .await?)
    }

    async fn stock_audit(&self, store_id: &str) -> Result<StockAudit, StoreError> {
        read!(self, "stock_audit", |tx| audit_read(&tx, store_id).await?)
    }

    async fn sale_lookup(
        &self,
        store_id: &str,
        key: &SaleKey,
    ) -> Result<Vec<SaleLookup>, StoreError> {
        read!(self, "sale_lookup", |tx| sale_lookup_read(
            &tx, store_id, key
        )
        .await?)
    }

    async fn summary(&self, store_id: &str) -> Result<Summary, StoreError> {
        read!(self, "summary", |tx| summary_read(&tx, store_id).await?)
    }

    async fn journal_audit(&self, store_id: &str) -> Result<JournalAudit, StoreError> {
        read!(self, "journal_audit", |tx| journal_read(&tx, store_id)
            .await?)
    }

    async fn last_seq(&self, store_id: &str, register_id: &str) -> Result<u64, StoreError> {
        read!(self, "last_seq", |tx| last_seq_read(
            &tx,
            store_id,
            register_id
        )
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin;
    use crate::protocol::SaleStatus;
    use crate::store::conformance;
    use crate::testkit::{TestDatabase, postgres_url};
    use tokio_postgres::NoTls;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_backend_passes_the_conformance_suite() {
        let Some(server) = postgres_url("postgres_backend_passes_the_conformance_suite") else {
            return;
        };
        let dbs = std::sync::Mutex::new(Vec::new());
        conformance::conformance_suite(|| async {
            let db = TestDatabase::create(&server).await;
            let store = PgStore::connect(&db.url).await.expect("connect");
            dbs.lock().expect("list").push(db);
            store
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_edited_in_the_postgres_database_is_named_by_the_journal_audit() {
        let Some(server) = postgres_url("a_record_edited_in_the_postgres_database") else {
            return;
        };
        let db = TestDatabase::create(&server).await;
        let store = PgStore::connect(&db.url).await.expect("connect");
        let url = db.url.clone();
        conformance::an_edited_stored_record_is_named_by_the_journal_audit(&store, |id| async move {
            let (client, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
            tokio::spawn(conn);
            client
                .execute(
                    "UPDATE sales SET record = replace(record, '\"staff_id\":\"staff-1\"', '\"staff_id\":\"mallory\"')
                     WHERE sale_id = $1",
                    &[&id],
                )
                .await
                .expect("edit");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_starting_together_migrate_once_and_agree() {
        let Some(server) = postgres_url("instances_starting_together_migrate_once_and_agree")
        else {
            return;
        };
        let db = TestDatabase::create(&server).await;
        let starts = (0..4).map(|_| {
            let url = db.url.clone();
            async move { PgStore::connect(&url).await }
        });
        let stores: Vec<PgStore> = futures_join_all(starts).await;
        let (client, conn) = tokio_postgres::connect(&db.url, NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let versions: Vec<i32> = client
            .query("SELECT version FROM tillkit_schema ORDER BY version", &[])
            .await
            .expect("schema table")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, (1..=MIGRATIONS.len() as i32).collect::<Vec<_>>());
        admin::create_store(&stores[0], "s", "S")
            .await
            .expect("store");
        assert!(matches!(
            admin::create_store(&stores[3], "s", "S").await,
            Err(StoreError::StoreExists(_))
        ));
        // A schema newer than this build is left alone.
        client
            .execute("INSERT INTO tillkit_schema VALUES (999, 0)", &[])
            .await
            .expect("future version");
        match PgStore::connect(&db.url).await {
            Err(StoreError::Backend(m)) => assert!(m.contains("newer"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sale_stored_by_another_transaction_mid_batch_makes_the_batch_retry_and_count_it_once()
     {
        let Some(server) = postgres_url("a_sale_stored_by_another_transaction_mid_batch") else {
            return;
        };
        use crate::testkit::{d, product, sale, uk_catalog, uk_tax};
        let db = TestDatabase::create(&server).await;
        let store = PgStore::connect(&db.url).await.expect("connect");
        admin::create_store(&store, "s", "S").await.expect("store");
        let c = uk_catalog();
        admin::load_catalog(&store, "s", &c)
            .await
            .expect("catalogue");
        let batch: Vec<SaleRecord> = (1..=3)
            .map(|i| {
                sale(
                    &uk_tax(),
                    "s",
                    "R1",
                    i,
                    &[(product(&c, "p-kettle"), d("1"))],
                )
            })
            .collect();
        // Another writer (one that ignores the store lock) inserts the second sale and holds
        // its transaction open while the batch is decided.
        let (mut raw, conn) = tokio_postgres::connect(&db.url, NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let other = raw.transaction().await.expect("tx");
        let canonical = validate::canonical(&batch[1]).expect("json");
        other
            .execute(
                "INSERT INTO sales (store_id, sale_id, register_id, uploaded_by, receipt_no, seq,
                   created_at, received_at, currency, total, tax_total, record, totals_match)
                 VALUES ('s', $1, 'R1', 'R1', 'x', 2, 0, 0, 'GBP', $2, $3, $4, TRUE)",
                &[
                    &batch[1].sale_id.to_string(),
                    &batch[1].total.to_string(),
                    &batch[1].tax_total.to_string(),
                    &canonical,
                ],
            )
            .await
            .expect("insert behind the store's back");
        let upload = {
            let store = store.clone();
            let batch = batch.clone();
            tokio::spawn(async move {
                let ctx = UploadContext {
                    store_id: "s".into(),
                    uploaded_by: "R1".into(),
                    received_at: 1,
                };
                store.upload_batch(&ctx, batch).await
            })
        };
        // Wait until the batch's INSERT is blocked on that row, then let the other commit.
        let watcher = PgStore::connect(&db.url).await.expect("connect");
        let client = watcher.pool.get().await.expect("client");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let waiting: i64 = client
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                       AND query LIKE 'INSERT INTO sales%'",
                    &[],
                )
                .await
                .expect("activity")
                .get(0);
            if waiting > 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the batch never reached the row"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        other.commit().await.expect("commit");
        let results = upload
            .await
            .expect("task")
            .expect("the batch succeeds on a retry");
        let statuses: Vec<SaleStatus> = results.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                SaleStatus::Accepted,
                SaleStatus::Duplicate,
                SaleStatus::Accepted
            ],
            "the retry sees the sale the other transaction stored"
        );
        let summary = store.summary("s").await.expect("summary");
        assert_eq!(summary.sale_count, 3, "stored once each");
        let kettle = store.stock_audit("s").await.expect("audit").products;
        let moved: u64 = kettle
            .iter()
            .flat_map(|p| &p.registers)
            .map(|r| r.movements)
            .sum();
        assert_eq!(
            moved, 2,
            "the retried batch's first attempt left no movement behind"
        );
    }

    /// Whether the pool's connections are encrypted, as the server sees them.
    async fn encrypted(store: &PgStore) -> bool {
        let client = store.pool.get().await.expect("client");
        client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sslmode_encrypts_the_connection_and_verify_full_refuses_a_server_it_cannot_vouch_for()
    {
        let test = "sslmode_encrypts_the_connection_and_verify_full_refuses";
        let (Some(server), Some(ca)) = (postgres_url(test), crate::testkit::postgres_ca(test))
        else {
            return;
        };
        let db = TestDatabase::create(&server).await;
        let with = |params: &str| format!("{}&{params}", db.url);
        let plain = PgStore::connect(&db.url).await.expect("plain");
        assert!(!encrypted(&plain).await, "no sslmode: plain TCP, as before");
        let full = PgStore::connect(&with(&format!("sslmode=verify-full&sslrootcert={ca}")))
            .await
            .expect("verify-full against the test CA");
        assert!(encrypted(&full).await);
        admin::create_store(&full, "s", "S")
            .await
            .expect("works over TLS");
        for mode in [
            "sslmode=require",
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        ] {
            let store = PgStore::connect(&with(mode)).await.expect(mode);
            assert!(encrypted(&store).await, "{mode}");
        }
        // Roots that do not vouch for the server's certificate: no connection, and why.
        let dir = tempfile::tempdir().expect("tempdir");
        let other = dir.path().join("other-ca.pem");
        let stranger =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
        std::fs::write(&other, stranger.cert.pem()).expect("write");
        let refused = PgStore::connect(&with(&format!(
            "sslmode=verify-full&sslrootcert={}",
            other.display()
        )))
        .await;
        match refused {
            Err(StoreError::Backend(m)) => {
                assert!(m.to_lowercase().contains("certificate"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match PgStore::connect(&with("sslmode=verify-full&sslrootcert=/nonexistent.pem")).await {
            Err(StoreError::Invalid(m)) => assert!(m.contains("sslrootcert"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_behind_a_stuck_migration_gives_up_with_an_error_naming_the_lock() {
        let Some(server) = postgres_url("an_instance_behind_a_stuck_migration_gives_up") else {
            return;
        };
        let db = TestDatabase::create(&server).await;
        PgStore::connect(&db.url).await.expect("migrated");
        // Another instance stuck holding the lock (it is database-wide: held only briefly).
        let (stuck, conn) = tokio_postgres::connect(&db.url, NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        stuck
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .expect("lock");
        let options = PgOptions {
            migration_wait: Duration::from_millis(500),
            ..PgOptions::default()
        };
        let waited = tokio::time::timeout(
            Duration::from_secs(60),
            PgStore::connect_with(&db.url, &options),
        )
        .await
        .expect("gives up instead of waiting for ever");
        stuck
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .expect("unlock");
        match waited {
            Err(StoreError::Backend(m)) => assert!(m.contains("migration lock"), "{m}"),
            other => panic!("{other:?}"),
        }
        PgStore::connect_with(&db.url, &options)
            .await
            .expect("starts once the lock is free");
    }

    /// Every `connect` of `starts`, run at the same time.
    async fn futures_join_all(
        starts: impl Iterator<Item = impl Future<Output = Result<PgStore, StoreError>> + Send + 'static>,
    ) -> Vec<PgStore> {
        let tasks: Vec<_> = starts.map(tokio::spawn).collect();
        let mut stores = Vec::new();
        for t in tasks {
            stores.push(t.await.expect("task").expect("connect"));
        }
        stores
    }
}
