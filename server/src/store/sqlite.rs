//! The embedded default backend: one SQLite file (WAL, synchronous=FULL, no key) behind a
//! mutex. Each trait call is one transaction; it never writes part of a batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rust_decimal::Decimal;
use tillkit_core::catalog::{CatalogPayload, DiscountRule, PayloadKind, ProductRecord};
use tillkit_core::offline_limits::OfflineLimits;
use tillkit_core::refund::RefundRecord;
use tillkit_core::sale::SaleRecord;
use tillkit_core::tax::TaxSettings;
use tillkit_core::time::now_ms;

use super::{
    JournalRows, RefundedSale, RegisterInfo, SaleKey, ServerStore, StoredRefund, StoredSale,
    UploadContext, UploadRecord, schema,
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

/// How a SQLite backend waits. `SqliteOptions::default()` gives the defaults.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The longest one call waits for the store, in all: for the other requests of this
    /// server using its one connection, then for another process (an admin command, a
    /// backup) holding the file's write lock. Longer is `StoreError::Busy` (503 with
    /// `Retry-After`), never a request held for ever nor a 500. Default 3 s.
    pub lock_wait: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            lock_wait: Duration::from_secs(3),
        }
    }
}

/// The SQLite-file backend. Clones share the one connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // An async mutex so a request waiting for the connection waits on no thread, and gives
    // up after `lock_wait`.
    conn: Arc<tokio::sync::Mutex<Connection>>,
    path: PathBuf,
    lock_wait: Duration,
}

/// The busy answer for a call that waited `wait` for the store.
fn busy(what: &str, wait: Duration) -> StoreError {
    StoreError::Busy {
        message: format!("{what} for more than {} ms", wait.as_millis()),
        retry_after_secs: crate::config::BUSY_RETRY_AFTER_SECS,
    }
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `path` with the default
    /// options. Blocks: from async code use `open_async`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, &SqliteOptions::default())
    }

    /// `open` with non-default options. Blocks: from async code use `open_async_with`.
    pub fn open_with(path: &Path, options: &SqliteOptions) -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open(path)?;
        // Opening and migrating may wait for an admin command's write as long as a request.
        conn.busy_timeout(options.lock_wait)?;
        // WAL lets the admin CLI read while the server writes; FULL makes every commit
        // durable before a batch is answered.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "cannot enable WAL (journal mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                conn: Arc::new(tokio::sync::Mutex::new(conn)),
                path: path.to_path_buf(),
                lock_wait: options.lock_wait,
            }),
        })
    }

    /// `open` on the blocking pool.
    pub async fn open_async(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_async_with(path, &SqliteOptions::default()).await
    }

    /// `open_with` on the blocking pool.
    pub async fn open_async_with(
        path: &Path,
        options: &SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let (path, options) = (path.to_path_buf(), options.clone());
        tokio::task::spawn_blocking(move || SqliteStore::open_with(&path, &options))
            .await
            .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the connection on the blocking pool, inside the caller's span. Waiting
    /// for the connection and then for the file's write lock take at most `lock_wait`
    /// together; past that the call is `Busy` and nothing of it was written.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let wait = self.inner.lock_wait;
        let deadline = Instant::now() + wait;
        // A panic mid-call dropped its transaction, which rolled back, and a tokio mutex is
        // not poisoned: the connection is clean for the next call.
        let mut conn = tokio::time::timeout(wait, self.inner.conn.clone().lock_owned())
            .await
            .map_err(|_| busy("other requests held the store's connection", wait))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            // What is left of the wait is how long SQLite may wait for another process.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            conn.busy_timeout(left)?;
            f(&mut conn).map_err(|e| match e {
                StoreError::Busy { .. } => busy("another process held the file's write lock", wait),
                e => e,
            })
        })
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
    }
}

#[async_trait::async_trait]
impl ServerStore for SqliteStore {
    async fn create_store(&self, store_id: &str, name: &str) -> Result<(), StoreError> {
        let (store_id, name) = (store_id.to_owned(), name.to_owned());
        self.run(move |c| create_store(c, &store_id, &name)).await
    }

    async fn add_register_token(
        &self,
        store_id: &str,
        register_id: &str,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        let (store_id, register_id, token) =
            (store_id.to_owned(), register_id.to_owned(), token.clone());
        self.run(move |c| add_register_token(c, &store_id, &register_id, &token))
            .await
    }

    async fn revoke_token(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let token = token.clone();
        self.run(move |c| revoke_token(c, &token)).await
    }

    async fn revoke_register(&self, store_id: &str, register_id: &str) -> Result<u64, StoreError> {
        let (store_id, register_id) = (store_id.to_owned(), register_id.to_owned());
        self.run(move |c| revoke_register(c, &store_id, &register_id))
            .await
    }

    async fn add_pairing_code(
        &self,
        store_id: &str,
        register_id: &str,
        code: &TokenHash,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let (store_id, register_id, code) =
            (store_id.to_owned(), register_id.to_owned(), code.clone());
        self.run(move |c| add_pairing_code(c, &store_id, &register_id, &code, expires_at))
            .await
    }

    async fn redeem_pairing_code(
        &self,
        code: &TokenHash,
        token: &TokenHash,
        now: i64,
    ) -> Result<Option<Principal>, StoreError> {
        let (code, token) = (code.clone(), token.clone());
        self.run(move |c| redeem_pairing_code(c, &code, &token, now))
            .await
    }

    async fn registers(&self, store_id: &str) -> Result<Vec<RegisterInfo>, StoreError> {
        let store_id = store_id.to_owned();
        self.run(move |c| registers(c, &store_id)).await
    }

    async fn authenticate(&self, token: &TokenHash) -> Result<Option<Principal>, StoreError> {
        let token = token.clone();
        self.run(move |c| authenticate(c, &token)).await
    }

    async fn load_catalog(
        &self,
        store_id: &str,
        catalog: &CatalogFile,
    ) -> Result<String, StoreError> {
        let (store_id, catalog) = (store_id.to_owned(), catalog.clone());
        self.run(move |c| load_catalog(c, &store_id, &catalog))
            .await
    }

    async fn set_offline_limits(
        &self,
        store_id: &str,
        limits: &OfflineLimits,
    ) -> Result<String, StoreError> {
        let (store_id, limits) = (store_id.to_owned(), limits.clone());
        self.run(move |c| set_offline_limits(c, &store_id, &limits))
            .await
    }

    async fn catalog(
        &self,
        store_id: &str,
        since: Option<&str>,
    ) -> Result<CatalogPayload, StoreError> {
        let (store_id, since) = (store_id.to_owned(), since.map(str::to_owned));
        self.run(move |c| catalog(c, &store_id, since.as_deref()))
            .await
    }

    async fn upload_records(
        &self,
        ctx: &UploadContext,
        records: Vec<UploadRecord>,
    ) -> Result<Vec<SaleResult>, StoreError> {
        if records.is_empty() {
            // Nothing to decide, as on PostgreSQL: no transaction.
            return Ok(Vec::new());
        }
        let ctx = ctx.clone();
        self.run(move |c| upload_batch(c, &ctx, records)).await
    }

    async fn refunds_of(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Vec<StoredRefund>, StoreError> {
        let (store_id, sale_id) = (store_id.to_owned(), sale_id.to_owned());
        self.run(move |c| refunds_of(c, &store_id, &sale_id)).await
    }

    async fn stored_sale(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Option<StoredSale>, StoreError> {
        let (store_id, sale_id) = (store_id.to_owned(), sale_id.to_owned());
        self.run(move |c| stored_sale(c, &store_id, &sale_id)).await
    }

    async fn stock_audit(&self, store_id: &str) -> Result<StockAudit, StoreError> {
        let store_id = store_id.to_owned();
        self.run(move |c| stock_audit(c, &store_id)).await
    }

    async fn summary(&self, store_id: &str) -> Result<Summary, StoreError> {
        let store_id = store_id.to_owned();
        self.run(move |c| summary(c, &store_id)).await
    }

    async fn journal_audit(&self, store_id: &str) -> Result<JournalAudit, StoreError> {
        let store_id = store_id.to_owned();
        self.run(move |c| journal_audit(c, &store_id)).await
    }

    async fn last_seq(&self, store_id: &str, register_id: &str) -> Result<u64, StoreError> {
        let (store_id, register_id) = (store_id.to_owned(), register_id.to_owned());
        self.run(move |c| last_seq(c, &store_id, &register_id))
            .await
    }

    async fn sale_lookup(
        &self,
        store_id: &str,
        key: &SaleKey,
    ) -> Result<Vec<SaleLookup>, StoreError> {
        let (store_id, key) = (store_id.to_owned(), key.clone());
        self.run(move |c| sale_lookup(c, &store_id, &key)).await
    }
}

fn dec(s: &str) -> Result<Decimal, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("stored amount {s:?} is not a decimal")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("cannot serialise: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored {what}: {e}")))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// The store's tax settings (if a catalogue was loaded) and catalogue version.
fn store_row(
    conn: &Connection,
    store_id: &str,
) -> Result<(Option<TaxSettings>, i64, String), StoreError> {
    let row: Option<(Option<String>, i64, String)> = conn
        .prepare_cached(
            "SELECT tax_settings, catalog_version, name FROM stores WHERE store_id = ?1",
        )?
        .query_row([store_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (tax, version, name) =
        row.ok_or_else(|| StoreError::StoreNotFound(store_id.to_string()))?;
    let tax = tax.map(|t| parse("tax settings", &t)).transpose()?;
    Ok((tax, version, name))
}

// Each operation below is one transaction on the store's single connection; the trait
// impl runs them on the blocking pool.

fn create_store(conn: &mut Connection, store_id: &str, name: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO stores (store_id, name, created_at) VALUES (?1, ?2, ?3)",
        params![store_id, name, now_ms()],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::StoreExists(store_id.to_string())
        } else {
            e.into()
        }
    })?;
    Ok(())
}

fn add_register_token(
    conn: &mut Connection,
    store_id: &str,
    register_id: &str,
    token: &TokenHash,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    store_row(&tx, store_id)?;
    let now = now_ms();
    tx.execute(
        "INSERT OR IGNORE INTO registers (store_id, register_id, created_at) VALUES (?1, ?2, ?3)",
        params![store_id, register_id, now],
    )?;
    tx.execute(
        "INSERT INTO tokens (token_hash, store_id, register_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![token.as_str(), store_id, register_id, now],
    )?;
    tx.commit()?;
    Ok(())
}

fn add_pairing_code(
    conn: &mut Connection,
    store_id: &str,
    register_id: &str,
    code: &TokenHash,
    expires_at: i64,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    store_row(&tx, store_id)?;
    let now = now_ms();
    tx.execute(
        "INSERT OR IGNORE INTO registers (store_id, register_id, created_at) VALUES (?1, ?2, ?3)",
        params![store_id, register_id, now],
    )?;
    tx.execute(
        "INSERT INTO pairing_codes (code_hash, store_id, register_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![code.as_str(), store_id, register_id, now, expires_at],
    )?;
    tx.commit()?;
    Ok(())
}

fn redeem_pairing_code(
    conn: &mut Connection,
    code: &TokenHash,
    token: &TokenHash,
    now: i64,
) -> Result<Option<Principal>, StoreError> {
    // Immediate: two devices racing with one code serialise here; the second finds it used.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let principal = tx
        .query_row(
            "UPDATE pairing_codes SET used_at = ?2
             WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING store_id, register_id",
            params![code.as_str(), now],
            |r| {
                Ok(Principal {
                    store_id: r.get(0)?,
                    register_id: r.get(1)?,
                })
            },
        )
        .optional()?;
    let Some(principal) = principal else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE tokens SET revoked_at = ?3
         WHERE store_id = ?1 AND register_id = ?2 AND revoked_at IS NULL",
        params![principal.store_id, principal.register_id, now],
    )?;
    tx.execute(
        "INSERT INTO tokens (token_hash, store_id, register_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![token.as_str(), principal.store_id, principal.register_id, now],
    )?;
    tx.commit()?;
    Ok(Some(principal))
}

fn revoke_token(conn: &mut Connection, token: &TokenHash) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
        params![token.as_str(), now_ms()],
    )?;
    Ok(n > 0)
}

fn authenticate(conn: &mut Connection, token: &TokenHash) -> Result<Option<Principal>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT store_id, register_id FROM tokens WHERE token_hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row([token.as_str()], |r| {
            Ok(Principal {
                store_id: r.get(0)?,
                register_id: r.get(1)?,
            })
        })
        .optional()?)
}

fn revoke_register(
    conn: &mut Connection,
    store_id: &str,
    register_id: &str,
) -> Result<u64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    store_row(&tx, store_id)?;
    let n = tx.execute(
        "UPDATE tokens SET revoked_at = ?3
         WHERE store_id = ?1 AND register_id = ?2 AND revoked_at IS NULL",
        params![store_id, register_id, now_ms()],
    )?;
    tx.commit()?;
    Ok(n as u64)
}

fn registers(conn: &mut Connection, store_id: &str) -> Result<Vec<RegisterInfo>, StoreError> {
    let tx = conn.transaction()?;
    store_row(&tx, store_id)?;
    let mut stmt = tx.prepare(
        "SELECT r.register_id, r.created_at,
                COUNT(t.token_hash) FILTER (WHERE t.revoked_at IS NULL),
                COUNT(t.token_hash) FILTER (WHERE t.revoked_at IS NOT NULL),
                MAX(t.created_at)
         FROM registers r LEFT JOIN tokens t
           ON t.store_id = r.store_id AND t.register_id = r.register_id
         WHERE r.store_id = ?1 GROUP BY r.register_id, r.created_at ORDER BY r.register_id",
    )?;
    let rows = stmt.query_map([store_id], |r| {
        Ok(RegisterInfo {
            register_id: r.get(0)?,
            created_at: r.get(1)?,
            live_tokens: r.get::<_, i64>(2)? as u64,
            revoked_tokens: r.get::<_, i64>(3)? as u64,
            last_issued_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn load_catalog(
    conn: &mut Connection,
    store_id: &str,
    catalog: &CatalogFile,
) -> Result<String, StoreError> {
    validate::check_catalog(store_id, catalog)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (_, version, _) = store_row(&tx, store_id)?;
    let new = version + 1;
    let settings = json(&catalog.tax)?;
    // Settings that changed are a new version, kept for the sales decided with them.
    let (current, mut tax_version): (Option<String>, i64) = tx.query_row(
        "SELECT tax_settings, tax_version FROM stores WHERE store_id = ?1",
        [store_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if current.as_deref() != Some(settings.as_str()) {
        tax_version += 1;
        tx.execute(
            "INSERT INTO tax_settings_history (store_id, tax_version, settings, loaded_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![store_id, tax_version, settings, now_ms()],
        )?;
    }
    tx.execute(
        "UPDATE stores SET tax_settings = ?2, catalog_version = ?3, name = COALESCE(?4, name),
           tax_version = ?5
         WHERE store_id = ?1",
        params![store_id, settings, new, catalog.store_name, tax_version],
    )?;
    // Movements up to here happened before this load's stock count.
    let watermark: i64 = tx.query_row(
        "SELECT COALESCE(MAX(id), 0) FROM stock_movements WHERE store_id = ?1",
        [store_id],
        |r| r.get(0),
    )?;

    let mut existing: HashMap<String, (String, bool)> = HashMap::new();
    {
        let mut stmt =
            tx.prepare("SELECT product_id, record, removed FROM products WHERE store_id = ?1")?;
        let rows = stmt.query_map([store_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        for row in rows {
            let (id, v) = row?;
            existing.insert(id, v);
        }
    }
    {
        let mut upsert = tx.prepare(
            "INSERT INTO products (store_id, product_id, record, name, stock_tracked, base_stock_milli,
                                   base_after_movement, changed_version, removed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)
             ON CONFLICT (store_id, product_id) DO UPDATE SET record = excluded.record,
               name = excluded.name, stock_tracked = excluded.stock_tracked,
               base_after_movement = CASE WHEN base_stock_milli = excluded.base_stock_milli
                                          THEN base_after_movement ELSE excluded.base_after_movement END,
               base_stock_milli = excluded.base_stock_milli,
               changed_version = excluded.changed_version, removed = 0",
        )?;
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
            upsert.execute(params![
                store_id,
                p.id,
                record,
                p.name,
                p.stock_tracked,
                milli,
                watermark,
                new
            ])?;
        }
        let mut tombstone = tx.prepare(
            "UPDATE products SET removed = 1, changed_version = ?3 WHERE store_id = ?1 AND product_id = ?2",
        )?;
        for (id, (_, removed)) in existing {
            if !removed {
                tombstone.execute(params![store_id, id, new])?;
            }
        }
    }
    {
        let mut existing: HashMap<String, (String, bool)> = HashMap::new();
        let mut stmt = tx.prepare(
            "SELECT discount_id, definition, removed FROM discounts WHERE store_id = ?1",
        )?;
        let rows = stmt.query_map([store_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        for row in rows {
            let (id, v) = row?;
            existing.insert(id, v);
        }
        let mut upsert = tx.prepare(
            "INSERT INTO discounts (store_id, discount_id, definition, changed_version, removed)
             VALUES (?1, ?2, ?3, ?4, 0)
             ON CONFLICT (store_id, discount_id) DO UPDATE SET definition = excluded.definition,
               changed_version = excluded.changed_version, removed = 0",
        )?;
        for d in &catalog.discounts {
            let definition = json(d)?;
            if existing
                .remove(&d.id)
                .is_some_and(|(old, removed)| old == definition && !removed)
            {
                continue;
            }
            upsert.execute(params![store_id, d.id, definition, new])?;
        }
        let mut tombstone = tx.prepare(
            "UPDATE discounts SET removed = 1, changed_version = ?3 WHERE store_id = ?1 AND discount_id = ?2",
        )?;
        for (id, (_, removed)) in existing {
            if !removed {
                tombstone.execute(params![store_id, id, new])?;
            }
        }
    }
    tx.commit()?;
    tracing::info!(store = %store_id, cursor = new, products = catalog.products.len(), "catalogue loaded");
    Ok(new.to_string())
}

fn set_offline_limits(
    conn: &mut Connection,
    store_id: &str,
    limits: &OfflineLimits,
) -> Result<String, StoreError> {
    let stored = (!limits.is_empty()).then(|| json(limits)).transpose()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (tax, version, _) = store_row(&tx, store_id)?;
    if tax.is_none() {
        return Err(StoreError::NoCatalog(store_id.to_string()));
    }
    let new = version + 1;
    tx.execute(
        "UPDATE stores SET offline_limits = ?2, catalog_version = ?3 WHERE store_id = ?1",
        params![store_id, stored, new],
    )?;
    tx.commit()?;
    Ok(new.to_string())
}

fn catalog(
    conn: &mut Connection,
    store_id: &str,
    since: Option<&str>,
) -> Result<CatalogPayload, StoreError> {
    // One read transaction: products, discounts and cursor from the same moment.
    let tx = conn.transaction()?;
    let (tax, version, name) = store_row(&tx, store_id)?;
    let tax = tax.ok_or_else(|| StoreError::NoCatalog(store_id.to_string()))?;
    let since = since
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|v| (1..=version).contains(v));
    let after = since.unwrap_or(0);

    let mut products = Vec::new();
    let mut removed_product_ids = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT p.product_id, p.record, p.removed, p.base_stock_milli + COALESCE(
                 (SELECT SUM(m.delta_milli) FROM stock_movements m
                  WHERE m.store_id = p.store_id AND m.product_id = p.product_id
                    AND m.id > p.base_after_movement), 0)
             FROM products p WHERE p.store_id = ?1 AND p.changed_version > ?2 ORDER BY p.product_id",
        )?;
        let rows = stmt.query_map(params![store_id, after], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (id, record, removed, stock) = row?;
            if removed {
                if since.is_some() {
                    removed_product_ids.push(id);
                }
                continue;
            }
            let mut p: ProductRecord = parse("product", &record)?;
            p.stock = from_milli(stock);
            products.push(p);
        }
    }
    let mut discounts = Vec::new();
    let mut removed_discount_ids = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT discount_id, definition, removed FROM discounts
             WHERE store_id = ?1 AND changed_version > ?2 ORDER BY discount_id",
        )?;
        let rows = stmt.query_map(params![store_id, after], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?;
        for row in rows {
            let (id, definition, removed) = row?;
            if removed {
                if since.is_some() {
                    removed_discount_ids.push(id);
                }
                continue;
            }
            discounts.push(parse::<DiscountRule>("discount", &definition)?);
        }
    }
    let limits: Option<String> = tx.query_row(
        "SELECT offline_limits FROM stores WHERE store_id = ?1",
        [store_id],
        |r| r.get(0),
    )?;
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

/// A sale or a refund of a batch, split for deciding: sales by their index in `sales`.
// Refunds are rare beside sales; boxing them would save little.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Sale(usize),
    Refund(RefundRecord),
}

fn upload_batch(
    conn: &mut Connection,
    ctx: &UploadContext,
    records: Vec<UploadRecord>,
) -> Result<Vec<SaleResult>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (tax, version, _) = store_row(&tx, &ctx.store_id)?;
    let settings = tax.ok_or_else(|| StoreError::NoCatalog(ctx.store_id.clone()))?;
    // The version of `settings`, stored with every record decided with them.
    let tax_version: i64 = tx
        .prepare_cached("SELECT tax_version FROM stores WHERE store_id = ?1")?
        .query_row([&ctx.store_id], |r| r.get(0))?;
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
    let mut results = Vec::with_capacity(slots.len());
    let mut moved = BTreeSet::new();
    {
        let mut find =
            tx.prepare_cached("SELECT record FROM sales WHERE store_id = ?1 AND sale_id = ?2")?;
        // With the tax settings it was decided with, which its refunds are recomputed with.
        let mut find_sale = tx.prepare_cached(
            "SELECT s.record, t.settings FROM sales s
             LEFT JOIN tax_settings_history t
               ON t.store_id = s.store_id AND t.tax_version = s.tax_version
             WHERE s.store_id = ?1 AND s.sale_id = ?2 AND s.kind = 'sale'",
        )?;
        let mut find_refunds = tx.prepare_cached(
            "SELECT record FROM sales WHERE store_id = ?1 AND refund_of = ?2 AND kind = 'refund'
             ORDER BY rowid",
        )?;
        let mut insert_sale = tx.prepare_cached(
            "INSERT INTO sales (sale_id, store_id, register_id, uploaded_by, receipt_no, created_at,
               received_at, currency, total, tax_total, record, server_totals, tax_difference,
               totals_match, tax_check_error, seq, record_hash, kind, refund_of, tax_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
               ?18, ?19, ?20)",
        )?;
        let mut insert_move = tx.prepare_cached(
            "INSERT INTO stock_movements (store_id, product_id, register_id, sale_id, delta_milli,
               created_at, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        // The checks run on every core; only the id lookups and writes stay in order.
        let mut prepared =
            validate::prepare_batch(&sales, &ctx.store_id, &ctx.uploaded_by, &settings)?
                .into_iter()
                .map(Some)
                .collect::<Vec<_>>();
        for slot in &slots {
            // (id, register, receipt, created_at, currency, total, tax_total, seq, refund_of)
            let (decision, row) = match slot {
                Slot::Sale(i) => {
                    let sale = &sales[*i];
                    let prepared = prepared[*i]
                        .take()
                        .ok_or_else(|| StoreError::Backend("a sale decided twice".into()))?;
                    let id = sale.sale_id.to_string();
                    // Refused sales are never looked up: they learn nothing about stored ids.
                    let existing: Option<String> = match prepared {
                        validate::Prepared::Refused(_) => None,
                        validate::Prepared::Checked { .. } => find
                            .query_row([&ctx.store_id, &id], |r| r.get(0))
                            .optional()?,
                    };
                    let row = Row {
                        id,
                        register_id: &sale.register_id,
                        receipt_no: &sale.receipt_no,
                        created_at: sale.created_at,
                        currency: &sale.currency,
                        total: sale.total,
                        tax_total: sale.tax_total,
                        seq: sale.seq,
                        refund_of: None,
                    };
                    (prepared.resolve(existing.as_deref()), row)
                }
                Slot::Refund(refund) => {
                    let id = refund.refund_id.to_string();
                    let mine =
                        refund.store_id == ctx.store_id && refund.register_id == ctx.uploaded_by;
                    // As for sales: a refund of another store or register looks nothing up.
                    let (existing, sale, earlier) = if mine {
                        let of = refund.refund_of.to_string();
                        let existing: Option<String> = find
                            .query_row([&ctx.store_id, &id], |r| r.get(0))
                            .optional()?;
                        let sale: Option<(SaleRecord, Option<TaxSettings>)> = find_sale
                            .query_row([&ctx.store_id, &of], |r| {
                                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                            })
                            .optional()?
                            .map(|(sale, settings)| -> Result<_, StoreError> {
                                let settings = settings
                                    .map(|t| parse::<TaxSettings>("tax settings", &t))
                                    .transpose()?;
                                Ok((parse("sale", &sale)?, settings))
                            })
                            .transpose()?;
                        let earlier = find_refunds
                            .query_map([&ctx.store_id, &of], |r| r.get::<_, String>(0))?
                            .map(|t| parse::<RefundRecord>("refund", &t?))
                            .collect::<Result<Vec<_>, _>>()?;
                        (existing, sale, earlier)
                    } else {
                        (None, None, Vec::new())
                    };
                    let held = sale.as_ref().map(|(sale, settings)| validate::HeldSale {
                        sale,
                        refunds: &earlier,
                        settings: settings.as_ref(),
                    });
                    let decision = validate::decide_refund(
                        refund,
                        &ctx.store_id,
                        &ctx.uploaded_by,
                        &settings,
                        existing.as_deref(),
                        held,
                    )?;
                    let row = Row {
                        id,
                        register_id: &refund.register_id,
                        receipt_no: &refund.receipt_no,
                        created_at: refund.created_at,
                        currency: &refund.currency,
                        total: refund.total,
                        tax_total: refund.tax_total,
                        seq: refund.seq,
                        refund_of: Some(refund.refund_of.to_string()),
                    };
                    (decision, row)
                }
            };
            if let Decision::Accept(a) = &decision {
                let check = &a.tax_check;
                insert_sale.execute(params![
                    row.id,
                    ctx.store_id,
                    row.register_id,
                    ctx.uploaded_by,
                    row.receipt_no,
                    row.created_at,
                    ctx.received_at,
                    row.currency,
                    row.total.to_string(),
                    row.tax_total.to_string(),
                    a.canonical,
                    check.server_totals.as_ref().map(json).transpose()?,
                    check.tax_difference.map(|d| d.to_string()),
                    check.totals_match,
                    check.error,
                    i64::try_from(row.seq).map_err(|_| StoreError::Invalid(format!(
                        "seq {} out of range",
                        row.seq
                    )))?,
                    a.record_hash,
                    if row.refund_of.is_some() {
                        "refund"
                    } else {
                        "sale"
                    },
                    row.refund_of,
                    tax_version,
                ])?;
                for m in &a.movements {
                    insert_move.execute(params![
                        ctx.store_id,
                        m.product_id,
                        row.register_id,
                        row.id,
                        m.delta_milli,
                        row.created_at,
                        ctx.received_at
                    ])?;
                    moved.insert(m.product_id.clone());
                }
            }
            let id = match slot {
                Slot::Sale(i) => sales[*i].sale_id,
                Slot::Refund(r) => r.refund_id,
            };
            results.push(super::answer(id, &decision));
        }
    }
    if !moved.is_empty() {
        // Devices learn the new stock figures through the next delta.
        let new = version + 1;
        let mut touched = 0;
        let mut bump = tx.prepare_cached(
            "UPDATE products SET changed_version = ?3 WHERE store_id = ?1 AND product_id = ?2 AND removed = 0",
        )?;
        for product in &moved {
            touched += bump.execute(params![ctx.store_id, product, new])?;
        }
        drop(bump);
        if touched > 0 {
            tx.execute(
                "UPDATE stores SET catalog_version = ?2 WHERE store_id = ?1",
                params![ctx.store_id, new],
            )?;
        }
    }
    tx.commit()?;
    Ok(results)
}

/// The columns of one accepted record.
struct Row<'a> {
    id: String,
    register_id: &'a str,
    receipt_no: &'a str,
    created_at: i64,
    currency: &'a str,
    total: Decimal,
    tax_total: Decimal,
    seq: u64,
    refund_of: Option<String>,
}

fn refunds_of(
    conn: &mut Connection,
    store_id: &str,
    sale_id: &str,
) -> Result<Vec<StoredRefund>, StoreError> {
    let tx = conn.transaction()?;
    store_row(&tx, store_id)?;
    let mut stmt = tx.prepare_cached(
        "SELECT record, uploaded_by, received_at, tax_difference, totals_match, tax_check_error
         FROM sales WHERE store_id = ?1 AND refund_of = ?2 AND kind = 'refund' ORDER BY rowid",
    )?;
    let rows = stmt.query_map([store_id, sale_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (record, uploaded_by, received_at, difference, totals_match, error) = row?;
        out.push(StoredRefund {
            record: parse("refund", &record)?,
            uploaded_by,
            received_at,
            tax_difference: difference.map(|d| dec(&d)).transpose()?,
            totals_match,
            tax_check_error: error,
        });
    }
    Ok(out)
}

fn stored_sale(
    conn: &mut Connection,
    store_id: &str,
    sale_id: &str,
) -> Result<Option<StoredSale>, StoreError> {
    type Row = (
        String,
        String,
        i64,
        Option<String>,
        Option<String>,
        bool,
        Option<String>,
    );
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT record, uploaded_by, received_at, server_totals, tax_difference, totals_match,
                    tax_check_error
             FROM sales WHERE store_id = ?1 AND sale_id = ?2 AND kind = 'sale'",
        )?
        .query_row([store_id, sale_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?;
    let Some((record, uploaded_by, received_at, totals, difference, totals_match, error)) = row
    else {
        return Ok(None);
    };
    Ok(Some(StoredSale {
        record: parse("sale", &record)?,
        uploaded_by,
        received_at,
        server_totals: totals.map(|t| parse("server totals", &t)).transpose()?,
        tax_difference: difference.map(|d| dec(&d)).transpose()?,
        totals_match,
        tax_check_error: error,
    }))
}

fn sale_lookup(
    conn: &mut Connection,
    store_id: &str,
    key: &SaleKey,
) -> Result<Vec<SaleLookup>, StoreError> {
    // One snapshot: the sale, its refunds and its settings as of one moment.
    let tx = conn.transaction()?;
    store_row(&tx, store_id)?;
    let columns = "SELECT sale_id, record, tax_version, totals_match FROM sales";
    let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(String, String, Option<i64>, bool)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    let rows = match key {
        SaleKey::SaleId(id) => tx
            .prepare_cached(&format!(
                "{columns} WHERE store_id = ?1 AND sale_id = ?2 AND kind = 'sale'"
            ))?
            .query_map(params![store_id, id.to_string()], read)?
            .collect::<Result<Vec<_>, _>>()?,
        // Through the (store, register, seq) index: no index on receipt numbers.
        SaleKey::Receipt(receipt) => match SaleKey::receipt_parts(receipt) {
            Some((register_id, seq)) => tx
                .prepare_cached(&format!(
                    "{columns} WHERE store_id = ?1 AND register_id = ?2 AND seq = ?3
                       AND receipt_no = ?4 AND kind = 'sale' ORDER BY rowid"
                ))?
                .query_map(params![store_id, register_id, seq, receipt], read)?
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        },
    };
    let mut refunds = tx.prepare_cached(
        "SELECT record FROM sales WHERE store_id = ?1 AND refund_of = ?2 AND kind = 'refund'
         ORDER BY rowid",
    )?;
    let mut settings = tx.prepare_cached(
        "SELECT settings FROM tax_settings_history WHERE store_id = ?1 AND tax_version = ?2",
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for (sale_id, record, tax_version, totals_match) in rows {
        let refunds = refunds
            .query_map(params![store_id, sale_id], |r| r.get::<_, String>(0))?
            .map(|t| parse::<RefundRecord>("refund", &t?))
            .collect::<Result<Vec<_>, _>>()?;
        let tax_settings = match tax_version {
            Some(v) => {
                let text: String = settings
                    .query_row(params![store_id, v], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "sale {sale_id} names tax settings version {v}, which is not kept"
                        ))
                    })?;
                Some(parse("tax settings", &text)?)
            }
            None => None,
        };
        out.push(SaleLookup {
            sale: parse("sale", &record)?,
            refunds,
            tax_settings,
            totals_match,
        });
    }
    Ok(out)
}

fn stock_audit(conn: &mut Connection, store_id: &str) -> Result<StockAudit, StoreError> {
    let tx = conn.transaction()?;
    store_row(&tx, store_id)?;
    struct Start {
        name: Option<String>,
        in_catalog: bool,
        tracked: bool,
        base: i64,
        after: i64,
    }
    let mut starts: BTreeMap<String, Start> = BTreeMap::new();
    {
        let mut stmt = tx.prepare(
            "SELECT product_id, name, removed, stock_tracked, base_stock_milli, base_after_movement
             FROM products WHERE store_id = ?1",
        )?;
        let rows = stmt.query_map([store_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Start {
                    name: Some(r.get(1)?),
                    in_catalog: !r.get::<_, bool>(2)?,
                    tracked: r.get(3)?,
                    base: r.get(4)?,
                    after: r.get(5)?,
                },
            ))
        })?;
        for row in rows {
            let (id, start) = row?;
            starts.insert(id, start);
        }
    }
    struct Move {
        id: i64,
        register_id: String,
        sale_id: String,
        receipt_no: String,
        delta: i64,
        created_at: i64,
        received_at: i64,
    }
    let mut moves: BTreeMap<String, Vec<Move>> = BTreeMap::new();
    {
        let mut stmt = tx.prepare(
            "SELECT m.id, m.product_id, m.register_id, m.sale_id, s.receipt_no, m.delta_milli,
                    m.created_at, m.received_at
             FROM stock_movements m JOIN sales s ON s.store_id = m.store_id AND s.sale_id = m.sale_id
             WHERE m.store_id = ?1 ORDER BY m.id",
        )?;
        let rows = stmt.query_map([store_id], |r| {
            Ok((
                r.get::<_, String>(1)?,
                Move {
                    id: r.get(0)?,
                    register_id: r.get(2)?,
                    sale_id: r.get(3)?,
                    receipt_no: r.get(4)?,
                    delta: r.get(5)?,
                    created_at: r.get(6)?,
                    received_at: r.get(7)?,
                },
            ))
        })?;
        for row in rows {
            let (product, m) = row?;
            moves.entry(product).or_default().push(m);
        }
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
        let mut registers: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
        let mut below_zero = Vec::new();
        let mut below_zero_total = 0u64;
        for m in moves.get(id).into_iter().flatten().filter(|m| m.id > after) {
            running += m.delta;
            let r = registers.entry(&m.register_id).or_default();
            r.0 += 1;
            r.1 += m.delta;
            if m.delta < 0 && running < 0 {
                below_zero_total += 1;
            }
            if m.delta < 0 && running < 0 && below_zero.len() < MAX_AUDIT_ITEMS {
                below_zero.push(BelowZero {
                    sale_id: m
                        .sale_id
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("sale id {:?}", m.sale_id)))?,
                    register_id: m.register_id.clone(),
                    receipt_no: m.receipt_no.clone(),
                    delta: from_milli(m.delta),
                    stock_after: from_milli(running),
                    created_at: m.created_at,
                    received_at: m.received_at,
                });
            }
        }
        products.push(ProductAudit {
            product_id: id.clone(),
            name: start.and_then(|s| s.name.clone()),
            in_catalog: start.is_some_and(|s| s.in_catalog),
            starting_stock: from_milli(base),
            current_stock: from_milli(running),
            registers: registers
                .into_iter()
                .map(|(register_id, (movements, total))| RegisterMovements {
                    register_id: register_id.to_string(),
                    movements,
                    total: from_milli(total),
                })
                .collect(),
            below_zero,
            below_zero_total,
        });
    }
    let (over_refunds, over_refunds_total) = super::over_refunds(&refunds_read(&tx, store_id)?);
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
fn refunds_read(
    tx: &rusqlite::Transaction<'_>,
    store_id: &str,
) -> Result<Vec<RefundedSale>, StoreError> {
    const REFUNDED_TWICE: &str =
        "SELECT refund_of FROM sales WHERE store_id = ?1 AND kind = 'refund'
         GROUP BY refund_of HAVING COUNT(*) > 1";
    let mut refunds: HashMap<String, Vec<(RefundRecord, i64)>> = HashMap::new();
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT refund_of, record, received_at FROM sales
             WHERE store_id = ?1 AND kind = 'refund' AND refund_of IN ({REFUNDED_TWICE})
             ORDER BY received_at, register_id, seq, sale_id"
        ))?;
        let rows = stmt.query_map([store_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (of, record, received_at) = row?;
            refunds
                .entry(of)
                .or_default()
                .push((parse("refund", &record)?, received_at));
        }
    }
    let mut stmt = tx.prepare(&format!(
        "SELECT sale_id, record FROM sales
         WHERE store_id = ?1 AND kind = 'sale' AND sale_id IN ({REFUNDED_TWICE})
         ORDER BY received_at, sale_id"
    ))?;
    let rows = stmt.query_map([store_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (sale_id, record) = row?;
        out.push(RefundedSale {
            sale: parse("sale", &record)?,
            refunds: refunds.remove(&sale_id).unwrap_or_default(),
        });
    }
    Ok(out)
}

fn summary(conn: &mut Connection, store_id: &str) -> Result<Summary, StoreError> {
    let tx = conn.transaction()?;
    let (tax, _, _) = store_row(&tx, store_id)?;
    let mut summary = Summary {
        store_id: store_id.to_string(),
        currency: tax.map(|t| t.currency),
        sale_count: 0,
        total: Decimal::ZERO,
        tax_total: Decimal::ZERO,
        refund_count: 0,
        refund_total: Decimal::ZERO,
        refund_tax_total: Decimal::ZERO,
        sales_with_tax_difference: 0,
        tax_difference_total: Decimal::ZERO,
        refunds_with_difference: 0,
        refund_tax_difference_total: Decimal::ZERO,
    };
    let mut stmt = tx.prepare(
        "SELECT total, tax_total, tax_difference, kind = 'refund', totals_match FROM sales
         WHERE store_id = ?1",
    )?;
    let mut rows = stmt.query([store_id])?;
    // Summed in Rust: SQLite would add the TEXT amounts as floating point.
    while let Some(r) = rows.next()? {
        let total = dec(&r.get::<_, String>(0)?)?;
        let tax_total = dec(&r.get::<_, String>(1)?)?;
        if r.get::<_, bool>(3)? {
            summary.refund_count += 1;
            summary.refund_total += total;
            summary.refund_tax_total += tax_total;
            if !r.get::<_, bool>(4)? {
                summary.refunds_with_difference += 1;
            }
            if let Some(d) = r.get::<_, Option<String>>(2)? {
                summary.refund_tax_difference_total += dec(&d)?;
            }
            continue;
        }
        summary.sale_count += 1;
        summary.total += total;
        summary.tax_total += tax_total;
        match r.get::<_, Option<String>>(2)? {
            Some(d) => {
                let d = dec(&d)?;
                if !d.is_zero() {
                    summary.sales_with_tax_difference += 1;
                    summary.tax_difference_total += d;
                }
            }
            None => summary.sales_with_tax_difference += 1,
        }
    }
    Ok(summary)
}

fn journal_audit(conn: &mut Connection, store_id: &str) -> Result<JournalAudit, StoreError> {
    let tx = conn.transaction()?;
    store_row(&tx, store_id)?;
    let mut rows = JournalRows::default();
    let mut stmt = tx.prepare(
        "SELECT register_id, record, record_hash, sale_id FROM sales WHERE store_id = ?1",
    )?;
    let mut q = stmt.query([store_id])?;
    while let Some(r) = q.next()? {
        let record: String = r.get(1)?;
        let id: String = r.get(3)?;
        rows.add(r.get(0)?, &record, r.get(2)?, &id);
    }
    Ok(rows.finish(store_id))
}

fn last_seq(conn: &mut Connection, store_id: &str, register_id: &str) -> Result<u64, StoreError> {
    let tx = conn.transaction()?;
    store_row(&tx, store_id)?;
    let max: Option<i64> = tx
        .prepare_cached("SELECT MAX(seq) FROM sales WHERE store_id = ?1 AND register_id = ?2")?
        .query_row([store_id, register_id], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::admin;
    use crate::store::conformance;
    use crate::testkit::{d, product, sale, uk_catalog, uk_tax};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_backend_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = AtomicUsize::new(0);
        conformance::conformance_suite(|| async {
            let i = n.fetch_add(1, Ordering::SeqCst);
            SqliteStore::open_async(&dir.path().join(format!("server-{i}.db")))
                .await
                .expect("open")
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_failing_midway_leaves_nothing_and_the_store_keeps_working() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.db");
        let store = SqliteStore::open(&path).expect("open");
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
        // Make the storage itself fail on the third sale's stock movement, after the first
        // two sales and movements were already written inside the transaction.
        let poison = batch[2].sale_id.to_string();
        Connection::open(&path)
            .expect("second connection")
            .execute_batch(&format!(
                "CREATE TRIGGER poison BEFORE INSERT ON stock_movements WHEN NEW.sale_id = '{poison}'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
            ))
            .expect("trigger");
        let ctx = UploadContext {
            store_id: "s".into(),
            uploaded_by: "R1".into(),
            received_at: 1,
        };
        assert!(matches!(
            store.upload_batch(&ctx, batch.clone()).await,
            Err(StoreError::Backend(_))
        ));
        assert_eq!(store.summary("s").await.expect("summary").sale_count, 0);
        assert!(
            store
                .stored_sale("s", &batch[0].sale_id.to_string())
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            store
                .stock_audit("s")
                .await
                .expect("audit")
                .products
                .iter()
                .all(|p| p.registers.is_empty())
        );
        let cursor = store.catalog("s", None).await.expect("catalog").cursor;
        assert_eq!(cursor, "1", "the catalogue version did not move either");

        Connection::open(&path)
            .expect("conn")
            .execute_batch("DROP TRIGGER poison")
            .expect("drop");
        let results = store
            .upload_batch(&ctx, batch.clone())
            .await
            .expect("retry");
        assert!(
            results
                .iter()
                .all(|r| r.status == crate::protocol::SaleStatus::Accepted)
        );
        assert_eq!(store.summary("s").await.expect("summary").sale_count, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_edited_in_the_sqlite_file_is_named_by_the_journal_audit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.db");
        let store = SqliteStore::open(&path).expect("open");
        conformance::an_edited_stored_record_is_named_by_the_journal_audit(&store, |id| {
            let path = path.clone();
            async move {
                Connection::open(&path)
                    .expect("second connection")
                    .execute(
                        "UPDATE sales SET record = replace(record, '\"staff_id\":\"staff-1\"', '\"staff_id\":\"mallory\"')
                         WHERE sale_id = ?1",
                        [id],
                    )
                    .expect("edit");
            }
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_6_file_keeps_every_sale_and_movement_when_sale_ids_become_per_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.db");
        // A file as the previous build left it: schema 6, a sale and its movement.
        let catalog = crate::testkit::uk_catalog();
        let old = crate::testkit::sale(
            &crate::testkit::uk_tax(),
            "s",
            "R1",
            1,
            &[(
                crate::testkit::product(&catalog, "p-kettle"),
                crate::testkit::d("1"),
            )],
        );
        {
            let mut conn = Connection::open(&path).expect("open");
            for sql in &schema::MIGRATIONS[..6] {
                conn.execute_batch(sql).expect("old migration");
            }
            conn.pragma_update(None, "user_version", 6)
                .expect("version");
            let tx = conn.transaction().expect("tx");
            tx.execute(
                "INSERT INTO stores (store_id, name, created_at, tax_settings, catalog_version)
                 VALUES ('s', 'S', 0, ?1, 1)",
                [serde_json::to_string(&catalog.tax).expect("json")],
            )
            .expect("store");
            tx.execute(
                "INSERT INTO sales (sale_id, store_id, register_id, uploaded_by, receipt_no,
                   created_at, received_at, currency, total, tax_total, record, totals_match, seq)
                 VALUES (?1, 's', 'R1', 'R1', 'R1-000001', 1, 2, 'GBP', ?2, ?3, ?4, 1, 1)",
                params![
                    old.sale_id.to_string(),
                    old.total.to_string(),
                    old.tax_total.to_string(),
                    validate::canonical(&old).expect("json")
                ],
            )
            .expect("sale");
            tx.execute(
                "INSERT INTO stock_movements (id, store_id, product_id, register_id, sale_id,
                   delta_milli, created_at, received_at) VALUES (7, 's', 'p-kettle', 'R1', ?1, -1000, 1, 2)",
                [old.sale_id.to_string()],
            )
            .expect("movement");
            tx.commit().expect("commit");
        }
        let store = SqliteStore::open(&path).expect("migrates");
        let kept = store
            .stored_sale("s", &old.sale_id.to_string())
            .await
            .expect("read")
            .expect("the sale is still there");
        assert_eq!(kept.record, old);
        let audit = store.stock_audit("s").await.expect("audit");
        let kettle = audit
            .products
            .iter()
            .find(|p| p.product_id == "p-kettle")
            .expect("kettle");
        assert_eq!(kettle.registers[0].movements, 1);
        // A re-upload is still a duplicate; the old tables are kept as they were.
        let r = store
            .upload_batch(
                &UploadContext {
                    store_id: "s".into(),
                    uploaded_by: "R1".into(),
                    received_at: 3,
                },
                vec![old.clone()],
            )
            .await
            .expect("upload");
        assert_eq!(r[0].status, crate::protocol::SaleStatus::Duplicate);
        let conn = Connection::open(&path).expect("open");
        let count = |t: &str| -> i64 {
            conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(
            [
                count("sales"),
                count("stock_movements"),
                count("sales_v6"),
                count("stock_movements_v6")
            ],
            [1, 1, 1, 1]
        );
        let id: i64 = conn
            .query_row("SELECT id FROM stock_movements", [], |r| r.get(0))
            .expect("id");
        assert_eq!(id, 7, "movement ids are kept");
        let fk: Vec<String> = conn
            .prepare("PRAGMA foreign_key_check")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("check")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(fk.is_empty(), "{fk:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopening_keeps_data_and_does_not_migrate_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.db");
        {
            let store = SqliteStore::open(&path).expect("open");
            admin::create_store(&store, "s", "S").await.expect("store");
        }
        let store = SqliteStore::open(&path).expect("reopen");
        assert!(matches!(
            admin::create_store(&store, "s", "S").await,
            Err(StoreError::StoreExists(_))
        ));
        let conn = Connection::open(&path).expect("conn");
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, schema::latest_version());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgrading_a_version_1_database_keeps_its_sales_and_their_seq() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.db");
        let c = uk_catalog();
        let old = sale(
            &uk_tax(),
            "s",
            "R1",
            17,
            &[(product(&c, "p-kettle"), d("1"))],
        );
        {
            // A database as the first release left it: schema 1 with one stored sale.
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(schema::MIGRATIONS[0]).expect("schema 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO stores (store_id, name, created_at) VALUES ('s', 'S', 1)",
                [],
            )
            .expect("store");
            conn.execute(
                "INSERT INTO sales (sale_id, store_id, register_id, uploaded_by, receipt_no, created_at,
                   received_at, currency, total, tax_total, record, totals_match)
                 VALUES (?1, 's', 'R1', 'R1', ?2, 1, 1, 'GBP', ?3, ?4, ?5, 1)",
                params![
                    old.sale_id.to_string(),
                    old.receipt_no,
                    old.total.to_string(),
                    old.tax_total.to_string(),
                    validate::canonical(&old).expect("json")
                ],
            )
            .expect("sale");
        }
        let store = SqliteStore::open(&path).expect("migrates");
        assert_eq!(store.last_seq("s", "R1").await.expect("last seq"), 17);
        let kept = store
            .stored_sale("s", &old.sale_id.to_string())
            .await
            .expect("read");
        assert_eq!(kept.expect("the sale is kept").record, old);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_and_pairing_codes_are_stored_only_as_digests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.db");
        let store = SqliteStore::open(&path).expect("open");
        admin::create_store(&store, "s", "S").await.expect("store");
        let token = admin::create_register(&store, "s", "R1")
            .await
            .expect("token");
        let (code, _) = admin::pair_register(&store, "s", "R2", std::time::Duration::from_secs(60))
            .await
            .expect("code");
        let (_, paired) = admin::redeem_pairing_code(&store, &code.display())
            .await
            .expect("redeem")
            .expect("paired");
        drop(store);
        let bytes = std::fs::read(&path).expect("db");
        let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
        let shown = code.display();
        let bare = shown.replace('-', "");
        for (what, needle) in [
            ("token", token.expose()),
            ("paired token", paired.expose()),
            ("pairing code", shown.as_str()),
            ("pairing code", bare.as_str()),
        ] {
            for content in [&bytes, &wal] {
                assert!(
                    !content
                        .windows(needle.len())
                        .any(|w| w == needle.as_bytes()),
                    "raw {what} found on disk"
                );
            }
        }
    }
}
