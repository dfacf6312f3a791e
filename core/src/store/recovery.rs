//! Recovery of a store its own key cannot open: the durable "needs recovery" state, salvage
//! of every readable sale into a fresh store, and the explicit fresh start. It never deletes
//! or changes a kept file and never starts fresh over unsent sales unless asked to.
//!
//! Salvage reads the kept file through SQLCipher, row by row. SQLCipher checks each page's
//! HMAC when it is read; after one failure the connection keeps answering the error
//! ("deferred error condition"), so a failed read drops the connection and the next read
//! opens a new one. Each row is fetched by rowid (`WHERE rowid = ?`), so a damaged page
//! costs only the rows on it (or, for an interior page, the rows under it); the range of
//! rowids to try comes from the table, every index on it, the tables that refer to it
//! and probes past the highest one found. `writable_schema` lets SQLite read a truncated
//! file up to its end instead of refusing it whole. (`sqlite_dbpage`, which would allow
//! reading leaf pages around a damaged interior page, is not compiled into
//! libsqlite3-sys's bundled SQLCipher.)

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use serde::{Deserialize, Serialize};

use super::cipher::{CipherProfile, PINNED, other_profiles};
use super::key::{DbKey, KeyVault};
use super::{
    DB_FILE, KEY_ID_FILE, StoreLock, check_not_newer, open_keyed, schema, unique_tag, write_durably,
};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::journal::{SegmentReason, ledger};

/// Plaintext sidecar holding the recovery state: file names, reasons and counts, no data.
pub const RECOVERY_FILE: &str = "tillkit.recovery";
/// Where a recovery builds the fresh store before it takes the database's place (a unique
/// tag follows, new for every run).
const SALVAGE_PREFIX: &str = "tillkit.db.salvage-";
/// Names of the files a recovery keeps: damaged database files, and stale `-wal`/`-shm`/
/// `-journal` files that were set aside so they are never replayed onto a recovered store.
const KEPT_PREFIXES: [&str; 2] = ["tillkit.db.damaged-", "tillkit.db.stale-"];
/// `meta` key set in a recovered or fresh store until the server has told the register
/// the highest receipt number it holds.
pub(crate) const SEQ_FLOOR_KEY: &str = "seq_floor_check";
/// Most detail lines a report carries (a badly damaged file can fail on every page).
const MAX_DETAILS: usize = 50;
/// Most missing receipt numbers a report lists (the count of the rest is in `unreadable`).
const MAX_MISSING_RECEIPTS: usize = 1000;

/// What a recovery salvaged and what it could not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// True when salvage was complete: the kept file was there and readable, and every sale,
    /// queue row and receipt number it knew of is in the new store (products, stock and
    /// discounts come back with the next catalogue and do not count).
    pub complete: bool,
    /// Receipt numbers known to have been issued that no salvaged record carries, per
    /// register in order (at most 1,000; `unreadable` counts the rest). Known: every number
    /// from the register's first record in the kept file (1, or where a fresh start or an
    /// earlier recovery restarted its journal) to its newest one (its journal head, or its
    /// counter in files older than the journal). When the restarting record itself was
    /// lost, numbers before it are listed too: this errs on the side of listing.
    pub receipts_missing: Vec<String>,
    /// Sales copied into the fresh store (sent and unsent).
    pub sales_recovered: u64,
    /// Of those, sales queued for upload (the server dedupes any it already has).
    pub queued: u64,
    /// Rows of the sales table that could not be read.
    pub sales_unreadable: u64,
    /// Ids of sales known (from an index) to exist but whose record could not be read.
    pub lost_sale_ids: Vec<String>,
    /// Queue rows whose sale could not be read.
    pub queued_lost: u64,
    /// Highest receipt sequence salvaged per (store, register).
    pub highest_seq: Vec<(String, String, u64)>,
    /// What could not be read, in words (pages, tables, files).
    pub unreadable: Vec<String>,
    /// Every file ever kept by a recovery in this data directory.
    pub kept: Vec<PathBuf>,
}

#[derive(Serialize, Deserialize, Default)]
struct State {
    pending: Option<Pending>,
    #[serde(default)]
    history: Vec<Resolved>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Pending {
    reason: String,
    at: i64,
    /// Renames (from, to) of file names inside the data directory; `to` is kept.
    moves: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct Resolved {
    reason: String,
    at: i64,
    kept: Vec<String>,
    outcome: String,
}

fn load(dir: &Path) -> Result<State> {
    match fs::read(dir.join(RECOVERY_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::Storage(format!("the recovery record is unreadable: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Error::Storage(format!(
            "cannot read the recovery record: {e}"
        ))),
    }
}

fn save(dir: &Path, state: &State) -> Result<()> {
    write_durably(&dir.join(RECOVERY_FILE), &serde_json::to_vec_pretty(state)?)
}

/// Every kept file: those the recovery record names (resolved, then pending), then any
/// other damaged or stale file in the directory (a record lost or from an older build).
fn kept_of(dir: &Path, state: &State) -> Vec<PathBuf> {
    let pending = state
        .pending
        .iter()
        .flat_map(|p| p.moves.iter().map(|(_, to)| to));
    let resolved = state.history.iter().flat_map(|r| r.kept.iter());
    let mut kept: Vec<String> = resolved.chain(pending).cloned().collect();
    let mut found: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        // Not a WAL index (or an empty WAL) SQLite makes beside a kept file it reads: those
        // hold nothing of the store.
        .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            KEPT_PREFIXES.iter().any(|p| n.starts_with(p))
                && !n.ends_with("-shm")
                && !kept.contains(n)
        })
        .collect();
    found.sort();
    kept.extend(found);
    kept.into_iter().map(|name| dir.join(name)).collect()
}

fn needs_recovery(dir: &Path, pending: &Pending) -> Error {
    Error::NeedsRecovery {
        reason: pending.reason.clone(),
        kept: pending.moves.iter().map(|(_, to)| dir.join(to)).collect(),
    }
}

/// Does the renames a detection recorded; a crash may have stopped it half-way.
fn finish_moves(dir: &Path, pending: &Pending) -> Result<()> {
    for (from, to) in &pending.moves {
        let (from, to) = (dir.join(from), dir.join(to));
        // `to` exists: this rename was done before a crash (names are unique).
        if from.exists() && !to.exists() {
            fs::rename(&from, &to)
                .map_err(|e| Error::Storage(format!("cannot keep the damaged file aside: {e}")))?;
        }
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Answers `NeedsRecovery` while a recovery is pending (first finishing the renames).
pub(crate) fn check_pending(dir: &Path) -> Result<()> {
    let state = load(dir)?;
    match &state.pending {
        Some(pending) => {
            finish_moves(dir, pending)?;
            Err(needs_recovery(dir, pending))
        }
        None => Ok(()),
    }
}

/// Records durably that the store needs recovery and returns the error to answer. The
/// database files are renamed now (`move_now`, at open) or by the next open (while the
/// running store still has them open). The record is written before any rename, so a
/// crash in between still leaves a store that refuses to open.
pub(crate) fn mark(dir: &Path, reason: &str, move_now: bool) -> Result<Error> {
    let mut state = load(dir)?;
    if let Some(pending) = &state.pending {
        return Ok(needs_recovery(dir, pending));
    }
    // Unique names: a second damage (even in the same millisecond, or after the clock
    // was set back) never lands on an earlier kept file.
    let tag = unique_tag()?;
    // A hot rollback journal goes with its file: the kept file is only whole with it (a
    // write it was in the middle of is undone by it), and it must never sit beside the
    // store that recovery puts in the database's place.
    let moves = ["", "-wal", "-shm", "-journal"]
        .iter()
        .filter(|suffix| dir.join(format!("{DB_FILE}{suffix}")).exists())
        .map(|suffix| {
            (
                format!("{DB_FILE}{suffix}"),
                format!("{DB_FILE}.damaged-{tag}{suffix}"),
            )
        })
        .collect();
    let pending = Pending {
        reason: reason.to_string(),
        at: crate::time::now_ms(),
        moves,
    };
    state.pending = Some(pending.clone());
    save(dir, &state)?;
    tracing::error!(reason, "the database needs recovery; its files are kept");
    if move_now {
        finish_moves(dir, &pending)?;
    }
    Ok(needs_recovery(dir, &pending))
}

/// Whether a recovery is pending in `config.data_dir`.
pub fn is_pending(config: &Config) -> Result<bool> {
    Ok(load(&config.data_dir)?.pending.is_some())
}

/// Every file a recovery kept in `config.data_dir` (pending and resolved), for the app to
/// show or an operator to collect. Nothing here deletes them.
pub fn kept_files(config: &Config) -> Result<Vec<PathBuf>> {
    Ok(kept_of(&config.data_dir, &load(&config.data_dir)?))
}

/// Salvages every sale and queue row still readable from the kept file(s) into a fresh
/// store that takes the database's place, still queued (uploads resume as usual; the
/// server dedupes). Receipt numbers continue after the highest of the one salvaged and the
/// keychain's reservation, and the register asks the server for its highest on first
/// contact; the numbers skipped are recorded on the register's next record.
pub fn recover(config: &Config, vault: &dyn KeyVault) -> Result<RecoveryReport> {
    let dir = &config.data_dir;
    let _lock = lock_for_recovery(config)?;
    let mut state = load(dir)?;
    let Some(pending) = state.pending.clone() else {
        return Err(Error::invalid("no recovery is pending"));
    };
    finish_moves(dir, &pending)?;
    let key = key_for_fresh_store(vault, &pending)?;
    let mut keys = vec![key];
    keys.extend(vault.load_next()?);

    let mut report = RecoveryReport::default();
    let salvage_path = salvage_path(dir)?;
    let kept_dbs: Vec<PathBuf> = pending
        .moves
        .iter()
        .filter(|(from, _)| from == DB_FILE)
        .map(|(_, to)| dir.join(to))
        .collect();
    // What is read of each kept file: the file itself, or, when a hot rollback journal
    // sits beside it, a copy with that journal rolled back (the kept files are never
    // written).
    let mut readable = Vec::with_capacity(kept_dbs.len());
    for (i, kept) in kept_dbs.iter().enumerate() {
        let scratch = PathBuf::from(format!("{}.rollback-{i}", salvage_path.display()));
        readable.push(rolled_back_copy(kept, &scratch, &keys)?.unwrap_or_else(|| kept.clone()));
    }
    let readable: Vec<(&PathBuf, PathBuf)> = kept_dbs.iter().zip(readable).collect();
    for (_, path) in &readable {
        refuse_newer(path, &keys)?;
    }
    // Each failure below clears it.
    report.complete = !kept_dbs.is_empty();
    if kept_dbs.is_empty() {
        report
            .unreadable
            .push("the database file was missing: there was nothing to read".into());
    }
    let built = build_fresh(config, &salvage_path, &keys[0], |tx| {
        for (kept, path) in &readable {
            salvage_file(path, kept, &keys, tx, &mut report)?;
        }
        finish_salvage(tx, &mut report)
    })?;
    for (kept, path) in &readable {
        if path != *kept {
            remove_with_journal(path);
        }
    }
    let stale = install(dir, &salvage_path, &built, &keys[0])?;
    state.pending = None;
    state.history.push(Resolved {
        reason: pending.reason.clone(),
        at: pending.at,
        kept: pending
            .moves
            .iter()
            .map(|(_, to)| to.clone())
            .chain(stale)
            .collect(),
        outcome: format!(
            "recovered {} sales ({} queued); {} unreadable",
            report.sales_recovered, report.queued, report.sales_unreadable
        ),
    });
    save(dir, &state)?;
    report.kept = kept_of(dir, &state);
    tracing::warn!(
        recovered = report.sales_recovered,
        queued = report.queued,
        unreadable = report.sales_unreadable,
        "database recovered"
    );
    Ok(report)
}

/// Starts a new empty store without salvaging anything: only after a person confirmed it.
/// The kept files stay where they are and stay listed by [`kept_files`]; receipt numbers
/// continue after the highest the server holds for the register.
pub fn start_fresh(config: &Config, vault: &dyn KeyVault) -> Result<()> {
    let dir = &config.data_dir;
    let _lock = lock_for_recovery(config)?;
    let mut state = load(dir)?;
    let Some(pending) = state.pending.clone() else {
        return Err(Error::invalid("no recovery is pending"));
    };
    finish_moves(dir, &pending)?;
    let key = key_for_fresh_store(vault, &pending)?;
    let salvage_path = salvage_path(dir)?;
    let built = build_fresh(config, &salvage_path, &key, |tx| {
        mark_seq_floor(tx)?;
        // The journal starts again, saying so: never as if this were a new register.
        ledger::mark_restart(
            tx,
            &ledger::RestartMarker {
                reason: SegmentReason::FreshStart,
                at: crate::time::now_ms(),
                note: Some(format!("started fresh without salvage: {}", pending.reason)),
            },
        )
    })?;
    let stale = install(dir, &salvage_path, &built, &key)?;
    state.pending = None;
    state.history.push(Resolved {
        reason: pending.reason.clone(),
        at: pending.at,
        kept: pending
            .moves
            .iter()
            .map(|(_, to)| to.clone())
            .chain(stale)
            .collect(),
        outcome: "started fresh without salvage, as confirmed".into(),
    });
    save(dir, &state)?;
    tracing::warn!("database started fresh without salvage");
    Ok(())
}

/// The store's lock for a recovery or a fresh start: no till may open the files while they
/// are read, built and swapped, and no second recovery may run beside this one.
fn lock_for_recovery(config: &Config) -> Result<StoreLock> {
    if !config.data_dir.is_dir() {
        return Err(Error::invalid("no recovery is pending"));
    }
    StoreLock::acquire(config)
}

/// `NewerSchema` for a kept file a newer app wrote: salvaging it into this build's schema
/// would drop what the newer app added, and the newer app would then find an older store.
/// A file whose first page cannot be read is left to salvage (which reports it).
fn refuse_newer(path: &Path, keys: &[DbKey]) -> Result<()> {
    match Source::open(path, keys) {
        Ok(mut src) => match src.read(|c| Ok(check_not_newer(c))) {
            Some(result) => result,
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

/// A new, unique place to build this run's fresh store. Stores an earlier run built but
/// never installed (it crashed) are removed first: copies made from the kept files, which
/// stay; never a kept file, never the database. Called under the store's lock.
fn salvage_path(dir: &Path) -> Result<PathBuf> {
    for entry in fs::read_dir(dir).map_err(|e| Error::Storage(e.to_string()))? {
        let name = entry
            .map_err(|e| Error::Storage(e.to_string()))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.starts_with(SALVAGE_PREFIX) {
            let _ = fs::remove_file(dir.join(name));
        }
    }
    Ok(dir.join(format!("{SALVAGE_PREFIX}{}", unique_tag()?)))
}

/// What identifies the file a recovery built, so that install moves that file and no
/// other into the database's place.
#[derive(Debug, PartialEq, Eq)]
struct Built {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Built {
    fn of(path: &Path) -> Result<Built> {
        let m = fs::metadata(path)
            .map_err(|e| Error::Storage(format!("the recovered store is missing: {e}")))?;
        Ok(Built {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            inode: {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino())
            },
        })
    }
}

/// Makes a migrated store at `path` (a new name) and fills it in one transaction.
fn build_fresh(
    config: &Config,
    path: &Path,
    key: &DbKey,
    fill: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<()>,
) -> Result<Built> {
    let built = build_into(config, path, key, fill);
    if built.is_err() {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    built
}

fn build_into(
    config: &Config,
    path: &Path,
    key: &DbKey,
    fill: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<()>,
) -> Result<Built> {
    let mut fresh = open_keyed(path, key, config)?;
    schema::migrate(&mut fresh)?;
    // Salvaged rows keep their ids; one whose parent could not be read stays anyway.
    fresh.execute_batch("PRAGMA foreign_keys = OFF;")?;
    let tx = fresh.transaction()?;
    fill(&tx)?;
    tx.commit()?;
    fresh.execute_batch("PRAGMA foreign_keys = ON; PRAGMA wal_checkpoint(TRUNCATE);")?;
    fresh.close().map_err(|(_, e)| Error::from(e))?;
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::Storage(format!("cannot sync the recovered store: {e}")))?;
    Built::of(path)
}

/// Puts the fresh store in the database's place and records its key id; returns the names
/// of the stale files it set aside (kept, and listed like the damaged ones). It refuses
/// unless the file at `fresh` is the one this run `built`.
fn install(dir: &Path, fresh: &Path, built: &Built, key: &DbKey) -> Result<Vec<String>> {
    let db = dir.join(DB_FILE);
    if Built::of(fresh)? != *built {
        return Err(Error::Storage(
            "the recovered store is not the file this recovery built; nothing was replaced".into(),
        ));
    }
    let tag = unique_tag()?;
    let mut stale_kept = Vec::new();
    for suffix in ["-wal", "-shm", "-journal"] {
        if Path::new(&format!("{}{suffix}", fresh.display())).exists() {
            return Err(Error::Storage(
                "the recovered store is still in use; nothing was replaced".into(),
            ));
        }
        // Only a file a kept-file rename already skipped could be here; SQLite must not
        // replay it onto the fresh store (a WAL, or a hot rollback journal, whose pages
        // belong to the damaged file).
        let stale = PathBuf::from(format!("{}{suffix}", db.display()));
        if stale.exists() {
            let name = format!("{DB_FILE}.stale-{tag}{suffix}");
            fs::rename(&stale, dir.join(&name)).map_err(|e| Error::Storage(e.to_string()))?;
            tracing::warn!(file = %name, "a stale file was set aside and kept");
            stale_kept.push(name);
        }
    }
    fs::rename(fresh, &db)
        .map_err(|e| Error::Storage(format!("cannot install the recovered store: {e}")))?;
    if let Ok(d) = fs::File::open(dir) {
        d.sync_all().map_err(|e| Error::Storage(e.to_string()))?;
    }
    write_durably(&dir.join(KEY_ID_FILE), key.id.as_bytes())?;
    Ok(stale_kept)
}

/// The key a fresh store is made with: the vault's; a new one (saved first) only when
/// the vault has none and no database file was kept, so no kept file is orphaned.
fn key_for_fresh_store(vault: &dyn KeyVault, pending: &Pending) -> Result<DbKey> {
    if let Some(key) = vault.load()? {
        return Ok(key);
    }
    if pending.moves.iter().any(|(from, _)| from == DB_FILE) {
        return Err(Error::KeyMissing);
    }
    let key = DbKey::generate()?;
    vault.save(&key)?;
    tracing::warn!("no key and no kept database: the fresh store gets a new key");
    Ok(key)
}

fn mark_seq_floor(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, '1')",
        [SEQ_FLOOR_KEY],
    )?;
    Ok(())
}

/// Puts each register's journal head on its newest salvaged record when the kept head is
/// gone or older: the chain goes on from what survived, so a record lost after it shows as
/// a fork or a gap on the server rather than as a silent new start. A head kept from the
/// damaged file stays when it is at least as new (its record may be lost but was chained).
fn restore_journal_heads(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let registers: Vec<(String, String, Option<i64>)> = {
        let mut stmt = tx.prepare("SELECT store_id, register_id, head_seq FROM register_seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut newest = tx.prepare(
        "SELECT seq, record FROM sales WHERE store_id = ?1 AND register_id = ?2
         ORDER BY id DESC LIMIT 1",
    )?;
    let mut update = tx.prepare(
        "UPDATE register_seq SET head_seq = ?3, head_hash = ?4 WHERE store_id = ?1 AND register_id = ?2",
    )?;
    for (store, register, head_seq) in registers {
        let found: Option<(i64, String)> = newest
            .query_row(params![store, register], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((seq, record)) = found else { continue };
        if head_seq.is_some_and(|h| h >= seq) {
            continue;
        }
        // A salvaged record whose text no longer parses cannot be linked to: the register
        // then opens a segment saying it was recovered.
        match ledger::stored_hash(&record) {
            Ok(hash) => {
                update.execute(params![store, register, seq, hash])?;
            }
            Err(e) => tracing::warn!(register, error = %e, "newest salvaged record unreadable"),
        }
    }
    Ok(())
}

/// A kept database read through SQLCipher, reconnecting after every failed read.
struct Source<'a> {
    path: &'a Path,
    key: &'a DbKey,
    profile: CipherProfile,
    conn: Option<Connection>,
}

impl<'a> Source<'a> {
    /// The first of `keys` and cipher profiles that opens the file's first page, or what
    /// went wrong with the pinned profile.
    fn open(path: &'a Path, keys: &'a [DbKey]) -> std::result::Result<Self, String> {
        let mut first = None;
        for key in keys {
            for profile in std::iter::once(PINNED).chain(other_profiles()) {
                let mut source = Source {
                    path,
                    key,
                    profile,
                    conn: None,
                };
                match source.connect() {
                    Ok(()) => return Ok(source),
                    Err(e) => {
                        first.get_or_insert(e.to_string());
                    }
                }
            }
        }
        Err(first.unwrap_or_default())
    }

    fn connect(&mut self) -> rusqlite::Result<()> {
        // Read-only: the kept file and its WAL are never written (no checkpoint on close).
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(self.path, flags)?;
        conn.execute_batch(&self.key.pragma())?;
        conn.execute_batch(&self.profile.pragmas("main"))?;
        // Read a truncated file up to its end instead of refusing it whole.
        conn.execute_batch("PRAGMA writable_schema = ON;")?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })?;
        self.conn = Some(conn);
        Ok(())
    }

    /// Runs one read; a failure drops the connection so the next read starts clean.
    fn read<T>(&mut self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        if self.conn.is_none() && self.connect().is_err() {
            return None;
        }
        let result = self.conn.as_ref().map(f)?;
        match result {
            Ok(v) => Some(v),
            Err(_) => {
                self.conn = None;
                None
            }
        }
    }

    fn max(&mut self, sql: &str) -> Option<i64> {
        self.read(|c| c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0)))
            .flatten()
    }

    fn columns(&mut self, table: &str) -> Vec<String> {
        self.read(|c| table_columns(c, table)).unwrap_or_default()
    }

    fn indexes(&mut self, table: &str) -> Vec<String> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT name FROM pragma_index_list(?1)")?;
            let rows = stmt.query_map([table], |r| r.get(0))?;
            rows.collect()
        })
        .unwrap_or_default()
    }

    /// The highest rowid of `table` any path still reaches: the table, each of its
    /// indexes, `hints` (other tables' references), then probes past it. Also whether a
    /// probe past it failed (rows beyond may exist that no path reaches).
    fn upper_rowid(&mut self, table: &str, hints: &[String]) -> (i64, bool) {
        let mut best = self
            .max(&format!("SELECT max(rowid) FROM {table}"))
            .unwrap_or(0);
        for index in self.indexes(table) {
            let sql = format!("SELECT max(rowid) FROM {table} INDEXED BY \"{index}\"");
            best = best.max(self.max(&sql).unwrap_or(0));
        }
        for hint in hints {
            best = best.max(self.max(hint).unwrap_or(0));
        }
        let probe = format!("SELECT rowid FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT 1");
        let mut step = 0u32;
        let mut blind = false;
        while step < 24 {
            let from = best + (1i64 << step) - 1;
            match self.read(|c| {
                c.query_row(&probe, [from], |r| r.get::<_, i64>(0))
                    .optional()
            }) {
                Some(Some(rowid)) => {
                    best = rowid;
                    step = 0;
                }
                Some(None) => break,
                None => {
                    blind = true;
                    step += 1;
                }
            }
        }
        (best, blind && step >= 24)
    }
}

fn table_columns(c: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let rows = stmt.query_map([table], |r| r.get(0))?;
    rows.collect()
}

/// The rowid tables salvage copies, parents first, with the SQL of other tables'
/// references to their rowids (a reference outlives a damaged rightmost page).
const ROWID_TABLES: &[(&str, &[&str])] = &[
    ("tax_settings", &["SELECT max(tax_settings_id) FROM sales"]),
    ("stores", &[]),
    ("products", &[]),
    (
        "sales",
        &[
            "SELECT max(sale_ref) FROM outbox",
            "SELECT max(sale_ref) FROM stock_movements",
        ],
    ),
    ("outbox", &[]),
    ("stock_movements", &[]),
];

/// Small key-ordered tables without rowids, read in one scan as far as it gets.
const SCANNED_TABLES: &[&str] = &["discounts", "register_seq", "meta", "stock_levels"];

/// A copy of `kept` at `scratch` with the hot rollback journal beside `kept` rolled back
/// into it, when there is such a journal; `None` when there is none (or it is empty). The
/// journal undoes the write a crash interrupted (a key rotation rewrites every page): read
/// without it, the file mixes pages of the old and the new state. The kept file and its
/// journal are only read. A journal that no key rolls back leaves the copy as it was, to be
/// salvaged as far as it reads.
fn rolled_back_copy(kept: &Path, scratch: &Path, keys: &[DbKey]) -> Result<Option<PathBuf>> {
    let journal = journal_of(kept);
    if fs::metadata(&journal).map_or(true, |m| m.len() == 0) {
        return Ok(None);
    }
    remove_with_journal(scratch);
    let copy = |from: &Path, to: &Path| {
        fs::copy(from, to).map_err(|e| {
            Error::Storage(format!(
                "cannot copy {} to roll back its journal: {e}",
                display_name(from)
            ))
        })
    };
    copy(kept, scratch)?;
    copy(&journal, &journal_of(scratch))?;
    for key in keys {
        for profile in std::iter::once(PINNED).chain(other_profiles()) {
            // Its first read rolls the journal back (then may fail on a damaged page).
            let read_write = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            drop(super::cipher::open_reading(
                scratch, key, &profile, read_write,
            ));
            if !journal_of(scratch).exists() {
                tracing::warn!(
                    file = %display_name(kept),
                    "a kept file's hot journal was rolled back into a copy for salvage"
                );
                return Ok(Some(scratch.to_path_buf()));
            }
        }
    }
    tracing::warn!(
        file = %display_name(kept),
        "a kept file's journal could not be rolled back; the file is salvaged as it is"
    );
    // Without it the copy reads as it is on disk (the kept journal stays kept).
    let _ = fs::remove_file(journal_of(scratch));
    Ok(Some(scratch.to_path_buf()))
}

fn journal_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-journal", path.display()))
}

/// Removes a copy made for salvage and its journal (never a kept file).
fn remove_with_journal(path: &Path) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(journal_of(path));
}

fn salvage_file(
    path: &Path,
    shown: &Path,
    keys: &[DbKey],
    tx: &rusqlite::Transaction<'_>,
    report: &mut RecoveryReport,
) -> Result<()> {
    let mut src = match Source::open(path, keys) {
        Ok(src) => src,
        Err(e) => {
            report.complete = false;
            report.unreadable.push(format!(
                "{}: its first page (the schema) cannot be read: {e}",
                display_name(shown)
            ));
            return Ok(());
        }
    };
    if let Some(pages) = src.read(|c| {
        let mut stmt = c.prepare("PRAGMA cipher_integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    }) {
        let n = pages.len();
        report
            .unreadable
            .extend(pages.into_iter().take(MAX_DETAILS / 2));
        if n > MAX_DETAILS / 2 {
            report
                .unreadable
                .push(format!("... and {} more pages", n - MAX_DETAILS / 2));
        }
    }
    let mut copied: HashMap<&str, HashSet<i64>> = HashMap::new();
    for (table, hints) in ROWID_TABLES {
        let hints: Vec<String> = hints.iter().map(|h| h.to_string()).collect();
        // Queue rows and movements only of sales that were salvaged.
        let parent = match *table {
            "outbox" | "stock_movements" => copied.get("sales"),
            _ => None,
        };
        let Copied {
            rows,
            failed,
            blind,
            repeated,
        } = copy_rowid_table(&mut src, tx, table, &hints, parent)?;
        if repeated > 0 {
            report.unreadable.push(format!(
                "{table}: {repeated} rows not copied: they repeat a row already salvaged"
            ));
        }
        if matches!(*table, "sales" | "outbox") && repeated > 0 {
            report.complete = false;
        }
        if !failed.is_empty() {
            report
                .unreadable
                .push(format!("{table}: {} rows could not be read", failed.len()));
        }
        if blind {
            report.unreadable.push(format!(
                "{table}: rows past the highest readable one cannot be reached"
            ));
        }
        if matches!(*table, "sales" | "outbox") && (blind || !failed.is_empty()) {
            report.complete = false;
        }
        if *table == "sales" {
            report.sales_unreadable = failed.len() as u64;
            report.lost_sale_ids = lost_sale_ids(&mut src, &failed);
        }
        copied.insert(table, rows);
    }
    report.queued_lost = queued_lost(&mut src, copied.get("sales"));
    for table in SCANNED_TABLES {
        if !copy_scanned_table(&mut src, tx, table)? {
            report
                .unreadable
                .push(format!("{table}: could not be read to its end"));
            // The receipt counters: without them, numbers issued after the newest
            // salvaged sale cannot be told.
            if *table == "register_seq" {
                report.complete = false;
            }
        }
    }
    Ok(())
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What copying one rowid table did.
#[derive(Default)]
struct Copied {
    /// Rowids really inserted into the fresh store.
    rows: HashSet<i64>,
    /// Rowids whose row could not be read.
    failed: Vec<i64>,
    /// Rows past the highest readable one may exist that no path reaches.
    blind: bool,
    /// Rows read but not inserted: a unique key (a sale id) already salvaged.
    repeated: u64,
}

/// Copies each readable row of `table` by rowid, counting what each insert really did
/// (`changes()`): a row is salvaged only if it went in. With `parent`, only rows whose
/// first column (`sale_ref`) is in it are copied.
fn copy_rowid_table(
    src: &mut Source<'_>,
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    hints: &[String],
    parent: Option<&HashSet<i64>>,
) -> Result<Copied> {
    let columns = shared_columns(src, tx, table)?;
    let mut out = Copied::default();
    if columns.is_empty() {
        return Ok(out);
    }
    let list = columns.join(", ");
    let select = format!("SELECT {list} FROM {table} WHERE rowid = ?1");
    let marks = vec!["?"; columns.len()].join(", ");
    let insert = format!("INSERT OR IGNORE INTO {table} ({list}) VALUES ({marks})");
    let parent_col = columns.iter().position(|c| c == "sale_ref");
    let (upper, blind) = src.upper_rowid(table, hints);
    if blind {
        tracing::warn!(
            table,
            upper,
            "rows past the highest readable one cannot be reached"
        );
    }
    let mut stmt = tx.prepare(&insert)?;
    for rowid in 1..=upper {
        let row = src.read(|c| {
            c.prepare_cached(&select)?
                .query_row([rowid], |r| {
                    (0..columns.len())
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .optional()
        });
        match row {
            Some(Some(values)) => {
                let keep = match (parent, parent_col) {
                    (Some(parents), Some(i)) => {
                        matches!(values[i], Value::Integer(r) if parents.contains(&r))
                    }
                    _ => true,
                };
                if keep {
                    // INSERT OR IGNORE: 0 when a unique key repeats a row already copied.
                    if stmt.execute(params_from_iter(values.iter()))? == 1 {
                        out.rows.insert(rowid);
                    } else {
                        out.repeated += 1;
                    }
                }
            }
            Some(None) => {}
            None => out.failed.push(rowid),
        }
    }
    out.blind = blind;
    Ok(out)
}

/// Columns `table` has in both the kept file and the fresh schema (an older kept file
/// lacks later columns; their defaults fill in).
fn shared_columns(
    src: &mut Source<'_>,
    tx: &rusqlite::Transaction<'_>,
    table: &str,
) -> Result<Vec<String>> {
    let fresh: HashSet<String> = table_columns(tx, table)?.into_iter().collect();
    Ok(src
        .columns(table)
        .into_iter()
        .filter(|c| fresh.contains(c))
        .collect())
}

/// Copies a small table in one scan; false when the scan stopped at a damaged page.
fn copy_scanned_table(
    src: &mut Source<'_>,
    tx: &rusqlite::Transaction<'_>,
    table: &str,
) -> Result<bool> {
    let columns = shared_columns(src, tx, table)?;
    if columns.is_empty() {
        return Ok(true);
    }
    let list = columns.join(", ");
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let complete = src
        .read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {list} FROM {table}"))?;
            let mut q = stmt.query([])?;
            // Keep what was read before a failure.
            loop {
                match q.next() {
                    Ok(Some(r)) => rows.push(
                        (0..columns.len())
                            .map(|i| r.get::<_, Value>(i))
                            .collect::<rusqlite::Result<_>>()?,
                    ),
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        })
        .is_some();
    let marks = vec!["?"; columns.len()].join(", ");
    let mut stmt = tx.prepare(&format!(
        "INSERT OR IGNORE INTO {table} ({list}) VALUES ({marks})"
    ))?;
    for row in &rows {
        stmt.execute(params_from_iter(row.iter()))?;
    }
    Ok(complete)
}

/// Sale ids of unreadable sales rows, from the sale-id index (a separate b-tree).
fn lost_sale_ids(src: &mut Source<'_>, failed: &[i64]) -> Vec<String> {
    if failed.is_empty() {
        return Vec::new();
    }
    let mut ids: BTreeMap<i64, String> = BTreeMap::new();
    let wanted: HashSet<i64> = failed.iter().copied().collect();
    for index in src.indexes("sales") {
        src.read(|c| {
            let sql = format!("SELECT rowid, sale_id FROM sales INDEXED BY \"{index}\"");
            let mut stmt = c.prepare(&sql)?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let rowid: i64 = r.get(0)?;
                if wanted.contains(&rowid)
                    && let Ok(id) = r.get::<_, String>(1)
                {
                    ids.insert(rowid, id);
                }
            }
            Ok(())
        });
    }
    ids.into_values().take(MAX_DETAILS).collect()
}

/// Queue rows of the kept file whose sale did not make it into the fresh store.
fn queued_lost(src: &mut Source<'_>, salvaged: Option<&HashSet<i64>>) -> u64 {
    let refs = src
        .read(|c| {
            let mut stmt = c.prepare("SELECT sale_ref FROM outbox")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default();
    refs.iter()
        .filter(|r| salvaged.is_none_or(|s| !s.contains(r)))
        .count() as u64
}

/// Queues every salvaged unsent sale, rebuilds what is derived, and counts.
fn finish_salvage(tx: &rusqlite::Transaction<'_>, report: &mut RecoveryReport) -> Result<()> {
    // The keychain's floor is applied to every counter at the next open (`Receipts::open`).
    tx.execute_batch(
        // The next catalogue pull is a whole snapshot: some products may be missing.
        "UPDATE stores SET catalog_cursor = NULL;
         INSERT INTO outbox (sale_ref, store_id, enqueued_at, bytes)
           SELECT id, store_id, created_at, length(CAST(record AS BLOB)) FROM sales
           WHERE synced_at IS NULL AND id NOT IN (SELECT sale_ref FROM outbox);
         INSERT INTO register_seq (store_id, register_id, last_seq)
           SELECT store_id, register_id, max(seq) FROM sales WHERE true
           GROUP BY store_id, register_id
           ON CONFLICT (store_id, register_id) DO UPDATE
           SET last_seq = max(last_seq, excluded.last_seq);",
    )?;
    {
        let mut products = tx.prepare("SELECT store_id, product_id, barcodes FROM products")?;
        let mut insert = tx.prepare(
            "INSERT OR IGNORE INTO barcodes (store_id, barcode, product_id) VALUES (?1, ?2, ?3)",
        )?;
        let rows = products.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (store, product, codes) = row?;
            for code in codes.split_whitespace() {
                insert.execute(params![store, code, product])?;
            }
        }
    }
    mark_seq_floor(tx)?;
    // Before the heads move to the newest salvaged records: the kept heads say how far
    // each register's numbers went.
    missing_receipts(tx, report)?;
    restore_journal_heads(tx)?;
    ledger::mark_restart(
        tx,
        &ledger::RestartMarker {
            reason: SegmentReason::Recovered,
            at: crate::time::now_ms(),
            note: Some(
                "salvaged after damage; the chain could not go on from a surviving record".into(),
            ),
        },
    )?;
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0));
    report.sales_recovered = count("SELECT count(*) FROM sales")? as u64;
    report.queued = count("SELECT count(*) FROM outbox")? as u64;
    if !report.receipts_missing.is_empty() || report.queued_lost > 0 {
        report.complete = false;
    }
    let mut stmt =
        tx.prepare("SELECT store_id, register_id, last_seq FROM register_seq ORDER BY 1, 2")?;
    report.highest_seq = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

/// Receipt numbers issued (see [`RecoveryReport::receipts_missing`]) that no salvaged record
/// carries: lost sales, even where no page said so (a file cut short ends without an error).
fn missing_receipts(tx: &rusqlite::Transaction<'_>, report: &mut RecoveryReport) -> Result<()> {
    // The newest number of each register: its journal head (a counter the server's floor
    // raised went past numbers this device never issued), else its counter.
    let registers: Vec<(String, String, i64)> = {
        let mut stmt = tx.prepare(
            "SELECT store_id, register_id, coalesce(head_seq, last_seq) FROM register_seq
             ORDER BY store_id, register_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut salvaged =
        tx.prepare("SELECT seq FROM sales WHERE store_id = ?1 AND register_id = ?2 ORDER BY seq")?;
    // Numbers before a restarted journal were never in this file.
    let mut restarted = tx.prepare(
        "SELECT min(seq) FROM sales WHERE store_id = ?1 AND register_id = ?2
         AND json_extract(record, '$.journal.segment.reason') IN ('fresh_start', 'recovered')",
    )?;
    let mut more = 0usize;
    for (store, register, newest) in registers {
        let seqs: HashSet<i64> = salvaged
            .query_map(params![store, register], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let first: i64 = restarted
            .query_row(params![store, register], |r| r.get::<_, Option<i64>>(0))?
            .unwrap_or(1);
        let newest = newest.max(seqs.iter().copied().max().unwrap_or(0));
        let lost: Vec<i64> = (first.max(1)..=newest)
            .filter(|n| !seqs.contains(n))
            .collect();
        if lost.is_empty() {
            continue;
        }
        let highest = seqs.iter().copied().max().unwrap_or(0);
        report.unreadable.push(format!(
            "register {register}: {} receipt numbers issued have no salvaged sale \
             (highest salvaged {highest})",
            lost.len()
        ));
        for n in lost {
            if report.receipts_missing.len() < MAX_MISSING_RECEIPTS {
                report
                    .receipts_missing
                    .push(crate::sale::receipt_no(&register, n as u64));
            } else {
                more += 1;
            }
        }
    }
    if more > 0 {
        report
            .unreadable
            .push(format!("... and {more} more missing receipt numbers"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_refuses_a_file_that_is_not_the_one_this_recovery_built() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path());
        let key = DbKey::generate().unwrap();
        let ours = salvage_path(dir.path()).unwrap();
        let built = build_fresh(&config, &ours, &key, |_| Ok(())).unwrap();
        // Another file took its name (a stale store, another run's): never installed.
        let other = dir.path().join("other.db");
        build_fresh(&config, &other, &key, mark_seq_floor).unwrap();
        fs::rename(&other, &ours).unwrap();
        let err = install(dir.path(), &ours, &built, &key).unwrap_err();
        assert!(err.to_string().contains("not the file"), "{err}");
        assert!(!dir.path().join(DB_FILE).exists(), "nothing was replaced");
        // The file it built goes in.
        let built = build_fresh(&config, &ours, &key, |_| Ok(())).unwrap();
        assert!(install(dir.path(), &ours, &built, &key).unwrap().is_empty());
        assert!(dir.path().join(DB_FILE).exists());
    }

    #[test]
    fn a_new_salvage_place_removes_only_earlier_unfinished_salvage_stores() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(format!("{SALVAGE_PREFIX}1-00000000"));
        let kept = dir.path().join("tillkit.db.damaged-1-00000000");
        fs::write(&stale, b"x").unwrap();
        fs::write(&kept, b"y").unwrap();
        let fresh = salvage_path(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(kept.exists(), "a kept file is never removed");
        assert_ne!(fresh, stale);
    }
}
