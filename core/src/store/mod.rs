//! The encrypted on-device database: opening with the keychain key, pragmas, migrations.
//! It never deletes a database file: a wrong key is an error, a damaged file is kept for recovery.

pub mod cipher;
pub mod key;
#[cfg(target_os = "ios")]
mod key_class;
pub mod receipts;
pub mod recovery;
pub mod schema;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::error::{Error, Result};
use key::{DbKey, KeyVault};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "tillkit.db";
/// Plaintext sidecar naming the id (not the value) of the key that encrypts the database.
pub const KEY_ID_FILE: &str = "tillkit.keyid";

/// Lock file held while a till has the store open or a recovery runs; never deleted
/// (removing it while held would let a second opener lock a new file of the same name).
pub const LOCK_FILE: &str = "tillkit.lock";

/// An open, keyed, migrated database: one writer connection and one reader.
pub struct Db {
    /// Path of the database file.
    pub path: PathBuf,
    /// The connection every write goes through.
    pub writer: Connection,
    /// A second connection for reads that must not wait behind writes (WAL readers).
    pub reader: Connection,
    /// The store's lock, held as long as this (declared last: released after the
    /// connections have closed).
    pub lock: StoreLock,
}

/// The store's exclusive lock on `tillkit.lock`: one holder at a time, across processes
/// and within one (each acquisition opens the file anew, and the OS lock belongs to that
/// open file). Clones share it; it is released when the last clone drops, or by the OS when
/// the process dies, so a crash never leaves a store locked.
#[derive(Clone)]
pub struct StoreLock(#[allow(dead_code)] Arc<fs::File>);

/// Pause between tries while another holder lets go of the lock.
const LOCK_RETRY: Duration = Duration::from_millis(20);

impl StoreLock {
    /// Takes the lock of the store in `config.data_dir` (which must exist), waiting up to
    /// `config.lock_wait` for another holder to let go; then `Busy`.
    pub fn acquire(config: &Config) -> Result<StoreLock> {
        let path = config.data_dir.join(LOCK_FILE);
        let io = |e: std::io::Error| Error::Storage(format!("cannot lock {}: {e}", path.display()));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A lock wait too long for the clock waits without end (no overflow, no panic).
        let deadline = Instant::now().checked_add(config.lock_wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock(Arc::new(file))),
                Err(fs::TryLockError::WouldBlock)
                    if deadline.is_none_or(|d| Instant::now() < d) =>
                {
                    std::thread::sleep(LOCK_RETRY)
                }
                Err(fs::TryLockError::WouldBlock) => return Err(Error::Busy),
                Err(fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }
}

/// File name of the copy a cipher-settings conversion writes before it replaces the database.
const CONVERT_FILE: &str = "tillkit.db.convert";

/// File name of the copy a key rotation writes before it replaces the database.
const REKEY_FILE: &str = "tillkit.db.rekey";

impl Db {
    /// Opens (or creates) the database in `config.data_dir` with the key from `vault`.
    ///
    /// Finishes a key rotation a crash interrupted: if the staged key is the one that
    /// opens the file, it becomes the key. A store that its own key cannot open (damaged,
    /// truncated, missing beside its key-id sidecar) is kept and answers
    /// [`Error::NeedsRecovery`] from now on, until [`recovery::recover`] or
    /// [`recovery::start_fresh`] has run: it never turns into an empty store by itself.
    pub fn open(config: &Config, vault: &dyn KeyVault) -> Result<Db> {
        fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::Storage(format!("cannot create data directory: {e}")))?;
        // Before anything is read or changed: a second opener, or a recovery running now,
        // would race this one over the same files.
        let lock = StoreLock::acquire(config)?;
        Db::open_locked(config, vault, lock)
    }

    /// [`Db::open`] by the holder of the store's `lock`.
    pub(crate) fn open_locked(
        config: &Config,
        vault: &dyn KeyVault,
        lock: StoreLock,
    ) -> Result<Db> {
        recovery::check_pending(&config.data_dir)?;
        match Db::open_unchecked(config, vault, lock) {
            Err(Error::Damaged(detail)) => Err(recovery::mark(&config.data_dir, &detail, true)?),
            other => other,
        }
    }

    fn open_unchecked(config: &Config, vault: &dyn KeyVault, lock: StoreLock) -> Result<Db> {
        let path = config.data_dir.join(DB_FILE);
        let id_path = config.data_dir.join(KEY_ID_FILE);
        // A rotation that crashed before its rename left only this copy: the database
        // itself was never touched, so the copy is garbage.
        let _ = fs::remove_file(config.data_dir.join(REKEY_FILE));
        let _ = fs::remove_file(config.data_dir.join(CONVERT_FILE));
        let exists = fs::metadata(&path).map(|m| m.len() > 0).unwrap_or(false);
        check_wal_present(&path)?;
        let sidecar = KeyIdSidecar::read(&id_path);
        let recorded_id = sidecar.as_ref().map(|s| s.id.clone());

        if !exists && sidecar.as_ref().is_some_and(|s| s.established) {
            // The sidecar says a store was made here and used: its file is gone. Making a
            // new one would restart receipt numbers over sales that may never have left.
            return Err(Error::Damaged(
                "the database file is missing beside its key-id sidecar".into(),
            ));
        }
        let primary = vault.load()?;
        let staged = vault.load_next()?;
        if !exists && receipts::was_established(vault.receipt_book().as_ref()) {
            // The keychain says so even where the sidecar went with the file (a reinstall
            // that kept the keychain): the same lost store.
            return Err(Error::Damaged(
                "the database file is missing; the keychain says a store was established here"
                    .into(),
            ));
        }
        let key = match (primary, exists) {
            (Some(key), _) => key,
            // Making a new key here would orphan the existing file for good.
            (None, true) => return Err(Error::KeyMissing),
            (None, false) => {
                let key = DbKey::generate()?;
                vault.save(&key)?;
                key
            }
        };
        if !exists {
            vault.clear_next()?;
            let writer = open_new(&path, &id_path, &key, config)?;
            let db = Db::finish(path, writer, &key, config, lock)?;
            // A new store may be paired to a register that numbered elsewhere: the first
            // contact asks the server for its highest (see `Till::needs_seq_floor`).
            db.writer.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, '1')",
                [recovery::SEQ_FLOOR_KEY],
            )?;
            // Only now can sales be written: from here a missing file means a lost store.
            write_durably(&id_path, key.id.as_bytes())?;
            return Ok(db);
        }
        // Try the key the sidecar names first; a staged key may be the one that works.
        let mut candidates: Vec<(DbKey, bool)> = vec![(key, false)];
        if let Some(next) = staged {
            candidates.push((next, true));
        }
        candidates.sort_by_key(|(k, _)| recorded_id.as_deref() != Some(k.id.as_str()));
        if let Some(recorded) = &recorded_id
            && !candidates.iter().any(|(k, _)| k.id == *recorded)
        {
            return Err(Error::KeyMismatch);
        }
        for (key, is_staged) in &candidates {
            // Read-only first: a file from a newer app must not change by a byte (no switch
            // of journal mode, no checkpoint of its WAL on close, no cipher conversion).
            let profile = match cipher::open_with(&path, key, &cipher::PINNED) {
                Ok(conn) => {
                    check_not_newer(&conn)?;
                    None
                }
                // Another build may have written it with other cipher settings: that is
                // not damage.
                Err(Error::KeyMismatch) => match cipher::detect(&path, key) {
                    Some(profile) => {
                        check_not_newer(&cipher::open_with(&path, key, &profile)?)?;
                        Some(profile)
                    }
                    None => continue,
                },
                Err(e) => return Err(e),
            };
            if let Some(profile) = profile {
                // Convert it to the pinned settings, then open it as usual.
                cipher::convert(&path, &config.data_dir.join(CONVERT_FILE), key, &profile)?;
            }
            let writer = open_keyed(&path, key, config)?;
            if *is_staged {
                // The rotation got as far as replacing the file: finish it.
                vault.save(key)?;
                tracing::info!("key rotation completed on open");
            }
            let db = Db::finish(path, writer, key, config, lock)?;
            if sidecar
                .as_ref()
                .is_none_or(|s| s.id != key.id || !s.established)
            {
                write_durably(&id_path, key.id.as_bytes())?;
            }
            vault.clear_next()?;
            return Ok(db);
        }
        // The key the file was made with does not open it: the file itself is damaged.
        if recorded_id.is_some() {
            return Err(Error::Damaged(
                "the key the file was made with does not open its first page".into(),
            ));
        }
        Err(Error::KeyMismatch)
    }

    fn finish(
        path: PathBuf,
        mut writer: Connection,
        key: &DbKey,
        config: &Config,
        lock: StoreLock,
    ) -> Result<Db> {
        schema::migrate(&mut writer)?;
        cipher::record(&writer)?;
        check_queue_readable(&writer)?;
        let reader = open_keyed(&path, key, config)?;
        Ok(Db {
            path,
            writer,
            reader,
            lock,
        })
    }

    /// Re-encrypts the database with a new key, crash-safely. The caller holds every
    /// connection to the file and passes them in; they are closed and reopened.
    ///
    /// Order: stage the new key; copy the database encrypted with it; close (which
    /// checkpoints and removes the WAL); rename the copy over the file; record the new
    /// key id; promote the staged key. `open` finishes whatever a crash interrupted.
    pub fn rotate_key(self, config: &Config, vault: &dyn KeyVault) -> Result<Db> {
        let Db {
            path,
            writer,
            reader,
            lock,
        } = self;
        let new_key = DbKey::generate()?;
        vault.save_next(&new_key)?;
        let copy = config.data_dir.join(REKEY_FILE);
        let _ = fs::remove_file(&copy);
        let version = schema::version(&writer)?;
        let attach = Zeroizing::new(format!(
            "ATTACH DATABASE '{}' AS rekeyed KEY \"{}\";
             {}
             SELECT sqlcipher_export('rekeyed');
             PRAGMA rekeyed.user_version = {version};
             DETACH DATABASE rekeyed;",
            copy.display().to_string().replace('\'', "''"),
            new_key.sql_literal().as_str(),
            cipher::PINNED.pragmas("rekeyed"),
        ));
        writer.execute_batch(&attach)?;
        drop(reader);
        replace_with_copy(writer, &path, &copy, "key not rotated")?;
        write_durably(&config.data_dir.join(KEY_ID_FILE), new_key.id.as_bytes())?;
        vault.save(&new_key)?;
        vault.clear_next()?;
        tracing::info!("database key rotated");
        let writer = open_keyed(&path, &new_key, config)?;
        Db::finish(path, writer, &new_key, config, lock)
    }
}

/// Puts the exported `copy` in the place of the database at `path`, crash-safely: the copy
/// is synced, `source` (the last connection to `path`) checkpoints its WAL away and closes,
/// then the copy is renamed over the file and the directory synced. If a WAL is left (the
/// file is still in use) nothing is replaced: replaying it onto the copy would corrupt it.
pub(crate) fn replace_with_copy(
    source: Connection,
    path: &Path,
    copy: &Path,
    refused: &str,
) -> Result<()> {
    fs::File::open(copy)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::Storage(format!("cannot sync {}: {e}", copy.display())))?;
    source.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    source.close().map_err(|(_, e)| Error::from(e))?;
    if Path::new(&format!("{}-wal", path.display())).exists() {
        let _ = fs::remove_file(copy);
        return Err(Error::Storage(format!(
            "the database is still in use; {refused}"
        )));
    }
    fs::rename(copy, path)
        .map_err(|e| Error::Storage(format!("cannot replace the database: {e}")))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::Storage(e.to_string()))?;
    }
    Ok(())
}

/// A new database: record the key id first, so that a crash right after creating the
/// file never leaves a database whose key cannot be told from a wrong one. The sidecar
/// says "creating" until the store is ready: a crash before that leaves no sale behind,
/// so a missing file then is not a lost store.
fn open_new(path: &Path, id_path: &Path, key: &DbKey, config: &Config) -> Result<Connection> {
    write_durably(id_path, format!("{}\n{CREATING}\n", key.id).as_bytes())?;
    open_keyed(path, key, config)
}

/// Second line of the key-id sidecar while a new store is being made.
const CREATING: &str = "creating";

/// What the key-id sidecar says: the key's id, and whether the store was ever ready.
struct KeyIdSidecar {
    id: String,
    established: bool,
}

impl KeyIdSidecar {
    fn read(path: &Path) -> Option<KeyIdSidecar> {
        let text = fs::read_to_string(path).ok()?;
        let mut lines = text.lines().map(str::trim);
        let id = lines.next().filter(|id| !id.is_empty())?.to_string();
        Some(KeyIdSidecar {
            id,
            established: lines.next() != Some(CREATING),
        })
    }
}

/// `NewerSchema` when a newer app wrote the file `conn` has open (read-only): this build
/// must not touch it, let alone migrate it.
pub(crate) fn check_not_newer(conn: &Connection) -> Result<()> {
    let found = schema::version(conn)?;
    let supported = schema::latest_version();
    if found > supported {
        return Err(Error::NewerSchema { found, supported });
    }
    Ok(())
}

/// Reads every queued sale and the receipt counters: the pages a register cannot work
/// without. A damaged one fails here (`Error::Damaged`) instead of in the middle of a
/// drain. The cost grows with the queue, not with the sales history or the catalogue.
fn check_queue_readable(conn: &Connection) -> Result<()> {
    conn.query_row(
        "SELECT count(*), COALESCE(sum(length(CAST(s.record AS BLOB))), 0)
         FROM outbox o JOIN sales s ON s.id = o.sale_ref",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )?;
    conn.query_row(
        "SELECT count(*), max(last_seq) FROM register_seq",
        [],
        |r| r.get::<_, i64>(0),
    )?;
    Ok(())
}

/// Refuses to open a database whose WAL was deleted while it held committed sales.
///
/// After a crash the WAL index (`-shm`) survives with the number of committed frames in
/// its header. If that number is not zero and the WAL is gone, opening would silently
/// return the database as it was before those commits, so we stop with a typed error and
/// leave every file as it is.
fn check_wal_present(path: &Path) -> Result<()> {
    let shm = PathBuf::from(format!("{}-shm", path.display()));
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    if wal.exists() {
        return Ok(());
    }
    let Ok(bytes) = fs::read(&shm) else {
        return Ok(());
    };
    // WAL-index header: u32 mxFrame at byte 16, native byte order; two copies of the
    // header (at 0 and 48) agree when it is valid.
    let frames = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    match (frames(16), frames(48 + 16)) {
        (Some(a), Some(b)) if a == b && a > 0 => Err(Error::WalMissing),
        _ => Ok(()),
    }
}

/// Opens one connection, keys it, proves the key works and sets the durability pragmas.
pub(crate) fn open_keyed(path: &Path, key: &DbKey, config: &Config) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute_batch(&key.pragma())?;
    conn.execute_batch(&cipher::PINNED.pragmas("main"))?;
    // Before any read: the other connection of this till may hold a lock for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // The first read decrypts page 1: a wrong key fails here with SQLITE_NOTADB.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = ON;",
    )?;
    apple_full_fsync(&conn)?;
    if let Some(pages) = config.max_page_count {
        conn.pragma_update(None, "max_page_count", pages as i64)?;
    }
    Ok(conn)
}

/// Apple's fsync does not reach the platter; F_FULLFSYNC does. Every connection that may
/// write the store (the till's, and the one that rolls back a hot journal) sets it.
pub(crate) fn apple_full_fsync(conn: &Connection) -> rusqlite::Result<()> {
    #[cfg(target_vendor = "apple")]
    conn.execute_batch("PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON;")?;
    #[cfg(not(target_vendor = "apple"))]
    let _ = conn;
    Ok(())
}

/// Writes a small file so that it survives a power cut (write, fsync, rename, fsync dir).
///
/// The temporary file is `<name>.<unique>.tmp`, new for every write: two writes (of two
/// sidecars, or from two threads) never share one, so neither can rename the other's
/// bytes into place. A crash leaves at most a stray `.tmp`, never a half-written file.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Storage(format!("cannot write {}: {e}", path.display()));
    let name = path
        .file_name()
        .ok_or_else(|| Error::Storage(format!("cannot write {}: no file name", path.display())))?;
    let tmp = path.with_file_name(format!("{}.{}.tmp", name.to_string_lossy(), unique_tag()?));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io)
}

/// A tag no other file name of this data directory has: the time (Unix ms, so names sort
/// in order) and 32 random bits (two in one millisecond, or a clock set back, still differ).
pub(crate) fn unique_tag() -> Result<String> {
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).map_err(|e| Error::Storage(format!("no randomness: {e}")))?;
    Ok(format!(
        "{}-{:08x}",
        crate::time::now_ms(),
        u32::from_be_bytes(random)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_writes_of_two_files_at_once_never_swap_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let files = ["tillkit.keyid", "tillkit.recovery"];
        std::thread::scope(|s| {
            for name in files {
                let path = dir.path().join(name);
                s.spawn(move || {
                    for i in 0..300 {
                        let text = format!("{name} {i}");
                        write_durably(&path, text.as_bytes()).unwrap();
                        let read = fs::read_to_string(&path).unwrap();
                        assert!(read.starts_with(name), "{name} holds {read:?}");
                    }
                });
            }
        });
        for name in files {
            let read = fs::read_to_string(dir.path().join(name)).unwrap();
            assert_eq!(read, format!("{name} 299"));
        }
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    #[test]
    fn unique_tags_differ_within_one_millisecond() {
        let tags: std::collections::HashSet<String> =
            (0..1000).map(|_| unique_tag().unwrap()).collect();
        assert_eq!(tags.len(), 1000);
    }
}
