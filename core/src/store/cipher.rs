//! SQLCipher settings: the pinned profile every Tillkit database is written with, the
//! profiles other builds may have used, and the conversion of such a file into the pinned
//! one. It never takes a file with other settings for a damaged one, and never loses a row.

use std::fs;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use super::key::DbKey;
use crate::error::Result;

/// One way of laying out and authenticating SQLCipher pages. A file can only be read with
/// the profile it was written with; none of these is stored in the (encrypted) file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherProfile {
    /// `cipher_page_size`.
    pub page_size: u32,
    /// `cipher_hmac_algorithm`.
    pub hmac: &'static str,
    /// `cipher_kdf_algorithm`: with a raw key it still derives the HMAC key.
    pub kdf: &'static str,
    /// `kdf_iter`: unused with a raw key, pinned so a passphrase never slips in unnoticed.
    pub kdf_iter: u32,
    /// `cipher_plaintext_header_size` (0: the salt is in the first 16 bytes).
    pub plaintext_header: u32,
}

/// The settings every Tillkit database is written with.
///
/// SHA-256 has hardware support on current phones (ARMv8 crypto extensions) and x86
/// (SHA-NI); SHA-512, SQLCipher 4's default, does not. Page HMACs are on the sale's commit
/// path, so this is most of the encryption cost of a sale. Everything else is SQLCipher
/// 4's default, written out so that a future default cannot change it.
pub const PINNED: CipherProfile = CipherProfile {
    page_size: 4096,
    hmac: "HMAC_SHA256",
    kdf: "PBKDF2_HMAC_SHA512",
    kdf_iter: 256_000,
    plaintext_header: 0,
};

/// SQLCipher 4's defaults (what the first Tillkit builds wrote).
pub const SQLCIPHER4_DEFAULTS: CipherProfile = CipherProfile {
    hmac: "HMAC_SHA512",
    ..PINNED
};

/// SQLCipher 3's defaults.
pub const SQLCIPHER3_DEFAULTS: CipherProfile = CipherProfile {
    page_size: 1024,
    hmac: "HMAC_SHA1",
    kdf: "PBKDF2_HMAC_SHA1",
    kdf_iter: 64_000,
    plaintext_header: 0,
};

/// `meta` key holding the profile the file is written with.
pub(crate) const META_KEY: &str = "cipher_settings";

impl CipherProfile {
    /// The pragmas that set this profile on `schema` (`main` or an attached name).
    pub(crate) fn pragmas(&self, schema: &str) -> String {
        format!(
            "PRAGMA {schema}.cipher_page_size = {};
             PRAGMA {schema}.cipher_hmac_algorithm = {};
             PRAGMA {schema}.cipher_kdf_algorithm = {};
             PRAGMA {schema}.kdf_iter = {};
             PRAGMA {schema}.cipher_use_hmac = ON;
             PRAGMA {schema}.cipher_plaintext_header_size = {};",
            self.page_size, self.hmac, self.kdf, self.kdf_iter, self.plaintext_header
        )
    }

    /// How the profile is recorded in the database's `meta` table.
    pub fn describe(&self) -> String {
        format!(
            "page_size={} hmac={} kdf={} kdf_iter={} plaintext_header={}",
            self.page_size, self.hmac, self.kdf, self.kdf_iter, self.plaintext_header
        )
    }
}

/// Every profile but the pinned one that a file from another build may have: SQLCipher
/// 4's and 3's defaults first, then each page size with each HMAC and KDF algorithm. With
/// a raw key each try costs one page-1 decryption.
pub fn other_profiles() -> Vec<CipherProfile> {
    let mut out = vec![SQLCIPHER4_DEFAULTS, SQLCIPHER3_DEFAULTS];
    for page_size in [4096, 1024, 8192, 16384, 2048, 32768, 65536] {
        for hmac in ["HMAC_SHA512", "HMAC_SHA256", "HMAC_SHA1"] {
            for kdf in [
                "PBKDF2_HMAC_SHA512",
                "PBKDF2_HMAC_SHA256",
                "PBKDF2_HMAC_SHA1",
            ] {
                let p = CipherProfile {
                    page_size,
                    hmac,
                    kdf,
                    ..PINNED
                };
                if p != PINNED && !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Opens `path` read-only with `profile` and proves page 1 decrypts.
pub(crate) fn open_with(path: &Path, key: &DbKey, profile: &CipherProfile) -> Result<Connection> {
    let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    match open_reading(path, key, profile, read_only) {
        // A kill inside a write in rollback-journal mode (the open after a key rotation
        // or a conversion switches the new file to WAL that way) left a hot journal, which
        // a read-only connection cannot roll back. Rolling it back restores the file as it
        // was last committed, as any opener would; then look again, read-only.
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK =>
        {
            let read_write = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            drop(open_reading(path, key, profile, read_write)?);
            tracing::warn!("a hot rollback journal left by a crash was rolled back");
            Ok(open_reading(path, key, profile, read_only)?)
        }
        other => Ok(other?),
    }
}

/// A connection with `key` and `profile` that has read the schema (the first read decrypts
/// page 1, and rolls back a hot journal if the connection may write).
pub(super) fn open_reading(
    path: &Path,
    key: &DbKey,
    profile: &CipherProfile,
    flags: OpenFlags,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute_batch(&key.pragma())?;
    conn.execute_batch(&profile.pragmas("main"))?;
    if flags.contains(OpenFlags::SQLITE_OPEN_READ_WRITE) {
        // This read may roll back a hot journal: its writes need Apple's full sync too.
        super::apple_full_fsync(&conn)?;
    }
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(conn)
}

/// The profile other than the pinned one that opens `path` with `key`, if any (None also
/// when the pinned one is what the file uses, or nothing opens it).
pub fn detect(path: &Path, key: &DbKey) -> Option<CipherProfile> {
    other_profiles()
        .into_iter()
        .find(|p| open_with(path, key, p).is_ok())
}

/// Rewrites the database at `path`, written with `from`, into the pinned profile with
/// the same key, crash-safely: the converted copy is written beside it, synced, and
/// renamed over it only once the source is closed with its WAL checkpointed away. A crash
/// before the rename leaves the source as it was (the copy is removed on the next open).
pub(crate) fn convert(path: &Path, copy: &Path, key: &DbKey, from: &CipherProfile) -> Result<()> {
    let _ = fs::remove_file(copy);
    {
        // Read-write so that its WAL can be checkpointed into it before the rename; CREATE
        // is what lets ATTACH make the copy.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let source = Connection::open_with_flags(path, flags)?;
        source.execute_batch(&key.pragma())?;
        source.execute_batch(&from.pragmas("main"))?;
        let version: u32 = source.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let export = Zeroizing::new(format!(
            "ATTACH DATABASE '{}' AS converted KEY \"{}\";
             {}
             SELECT sqlcipher_export('converted');
             PRAGMA converted.user_version = {version};
             DETACH DATABASE converted;",
            copy.display().to_string().replace('\'', "''"),
            key.sql_literal().as_str(),
            PINNED.pragmas("converted"),
        ));
        source.execute_batch(&export)?;
        super::replace_with_copy(source, path, copy, "its cipher settings were not converted")?;
    }
    tracing::warn!(from = %from.describe(), "database converted to the pinned cipher settings");
    Ok(())
}

/// Records the pinned profile in `meta` unless it is already there (no write then).
pub(crate) fn record(conn: &Connection) -> Result<()> {
    let described = PINNED.describe();
    let stored: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [META_KEY], |r| {
            r.get(0)
        })
        .ok();
    if stored.as_deref() != Some(described.as_str()) {
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            [META_KEY, &described],
        )?;
    }
    Ok(())
}
