//! The encrypted on-device database: opening with the keychain key, pragmas, migrations.
//! It never deletes a database file: a wrong key is an error, a damaged file is moved aside.

pub mod key;
pub mod schema;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::config::Config;
use crate::error::{Error, Result};
use key::{DbKey, KeyVault};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "tillkit.db";
/// Plaintext sidecar naming the id (not the value) of the key that encrypts the database.
pub const KEY_ID_FILE: &str = "tillkit.keyid";

/// An open, keyed, migrated database: one writer connection and one reader.
pub struct Db {
    /// Path of the database file.
    pub path: PathBuf,
    /// The connection every write goes through.
    pub writer: Connection,
    /// A second connection for reads that must not wait behind writes (WAL readers).
    pub reader: Connection,
}

impl Db {
    /// Opens (or creates) the database in `config.data_dir` with the key from `vault`.
    pub fn open(config: &Config, vault: &dyn KeyVault) -> Result<Db> {
        fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::Storage(format!("cannot create data directory: {e}")))?;
        let path = config.data_dir.join(DB_FILE);
        let id_path = config.data_dir.join(KEY_ID_FILE);
        let exists = fs::metadata(&path).map(|m| m.len() > 0).unwrap_or(false);
        let recorded_id = fs::read_to_string(&id_path).ok().map(|s| s.trim().to_string());

        let key = match vault.load()? {
            Some(key) => key,
            // Making a new key here would orphan the existing file for good.
            None if exists => return Err(Error::KeyMissing),
            None => {
                let key = DbKey::generate()?;
                vault.save(&key)?;
                key
            }
        };
        if exists {
            if let Some(recorded) = &recorded_id {
                if *recorded != key.id {
                    return Err(Error::KeyMismatch);
                }
            }
        }

        let mut writer = match open_keyed(&path, &key, config) {
            Ok(conn) => conn,
            // The key is the one this file was made with, so the file itself is damaged.
            Err(Error::KeyMismatch) if exists && recorded_id.as_deref() == Some(key.id.as_str()) => {
                return Err(Error::Corrupt {
                    moved_to: move_aside(&path)?,
                });
            }
            Err(e) => return Err(e),
        };
        if recorded_id.as_deref() != Some(key.id.as_str()) {
            write_durably(&id_path, key.id.as_bytes())?;
        }
        schema::migrate(&mut writer)?;
        let reader = open_keyed(&path, &key, config)?;
        Ok(Db {
            path,
            writer,
            reader,
        })
    }
}

/// Opens one connection, keys it, proves the key works and sets the durability pragmas.
fn open_keyed(path: &Path, key: &DbKey, config: &Config) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute_batch(&key.pragma())?;
    // SHA-256 has hardware support on current phones (ARMv8 crypto extensions) and
    // x86 (SHA-NI); SHA-512, SQLCipher 4's default, does not. Page HMACs are on the
    // sale's commit path, so this is most of the encryption cost of a sale.
    conn.execute_batch("PRAGMA cipher_hmac_algorithm = HMAC_SHA256;")?;
    // The first read decrypts page 1: a wrong key fails here with SQLITE_NOTADB.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    // Apple's fsync does not reach the platter; F_FULLFSYNC does.
    #[cfg(target_vendor = "apple")]
    conn.execute_batch("PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON;")?;
    if let Some(pages) = config.max_page_count {
        conn.pragma_update(None, "max_page_count", pages as i64)?;
    }
    Ok(conn)
}

/// Renames the database and its WAL/SHM files with a timestamp suffix; returns the new path.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = crate::time::now_ms();
    let target = path.with_extension(format!("db.corrupt-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", target.display()));
            fs::rename(&from, &to)
                .map_err(|e| Error::Storage(format!("cannot move damaged database aside: {e}")))?;
        }
    }
    tracing::warn!(moved_to = %target.display(), "damaged database moved aside");
    Ok(target)
}

/// Writes a small file so that it survives a power cut (write, fsync, rename, fsync dir).
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Storage(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}
