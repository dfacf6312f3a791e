//! Receipt numbers that outlive the database file: blocks of numbers reserved in the
//! keychain before they are used, the floor every new store takes from them, and the
//! keychain's mark that a store was established here. It never lowers a reservation.
//!
//! The keychain keeps its entries when the database goes: after a recovery, a fresh start
//! or a reinstall that kept the keychain (iOS keeps it when the app is deleted), a new store
//! continues after every number the register ever reserved, so it never reuses one it
//! issued, even offline, before the server could tell it its highest.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the keychain holds for one data directory, as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservations {
    /// A store was made and used with this keychain entry: a data directory without its
    /// database is then a lost store, not a new device.
    #[serde(default)]
    pub established: bool,
    /// The highest number reserved, per register.
    #[serde(default)]
    pub registers: Vec<Reserved>,
    /// A person reset the book ([`reset_book`]): the next open treats what it held as
    /// unknown (every counter skips ahead, the server is asked), then clears this.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

/// The numbers one register may issue without another keychain write: up to `through`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserved {
    pub store_id: String,
    pub register_id: String,
    pub through: u64,
}

impl Reservations {
    /// The highest number reserved for a register (0: none).
    pub fn through(&self, store_id: &str, register_id: &str) -> u64 {
        self.registers
            .iter()
            .find(|r| r.store_id == store_id && r.register_id == register_id)
            .map_or(0, |r| r.through)
    }

    /// Raises a register's reservation to `through` (never lowers it).
    fn raise(&mut self, store_id: &str, register_id: &str, through: u64) {
        match self
            .registers
            .iter_mut()
            .find(|r| r.store_id == store_id && r.register_id == register_id)
        {
            Some(r) => r.through = r.through.max(through),
            None => self.registers.push(Reserved {
                store_id: store_id.into(),
                register_id: register_id.into(),
                through,
            }),
        }
    }

    /// The keychain's form.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Reads the keychain's form.
    pub fn decode(bytes: &[u8]) -> Result<Reservations> {
        let reservations: Reservations = serde_json::from_slice(bytes).map_err(|e| {
            Error::Keychain(format!(
                "the stored receipt reservations are malformed: {e}"
            ))
        })?;
        reservations.check()?;
        Ok(reservations)
    }

    /// Refuses a reservation no counter can hold (beyond `i64::MAX`).
    fn check(&self) -> Result<()> {
        match self.registers.iter().find(|r| r.through > MAX_SEQ) {
            Some(r) => Err(Error::Keychain(format!(
                "the stored receipt reservation {} is out of range",
                r.through
            ))),
            None => Ok(()),
        }
    }
}

/// Where the reservations live: beside the database key, in the same keychain.
pub trait ReceiptBook: Send + Sync {
    /// What is stored (the default when nothing is).
    fn load(&self) -> Result<Reservations>;
    /// Replaces what is stored; returns only once it is kept.
    fn save(&self, reservations: &Reservations) -> Result<()>;
}

/// A book held in memory (for tests and tools; it lives as long as its vault).
#[derive(Default)]
pub struct MemoryBook(Mutex<Reservations>);

impl ReceiptBook for MemoryBook {
    fn load(&self) -> Result<Reservations> {
        Ok(self
            .0
            .lock()
            .map_err(|_| Error::Keychain("receipt book poisoned".into()))?
            .clone())
    }

    fn save(&self, reservations: &Reservations) -> Result<()> {
        *self
            .0
            .lock()
            .map_err(|_| Error::Keychain("receipt book poisoned".into()))? = reservations.clone();
        Ok(())
    }
}

/// The highest receipt number a counter can hold.
const MAX_SEQ: u64 = i64::MAX as u64;

/// The largest block reserved at once (a larger `Config::receipt_block` is clamped).
pub const MAX_BLOCK: u64 = 1_000_000;

/// Whether the book says a store was established in this data directory. A book that
/// cannot be read says nothing (logged): it never keeps the register shut by itself.
pub(crate) fn was_established(book: Option<&Arc<dyn ReceiptBook>>) -> bool {
    match book.map(|b| b.load()) {
        Some(Ok(r)) => r.established,
        Some(Err(e)) => {
            tracing::error!(error = %e, "the keychain's receipt reservations are unreadable");
            false
        }
        None => false,
    }
}

/// Replaces the vault's receipt book with an empty one marked reset: only after a person
/// confirmed it (the book is unreadable, or the keychain entry is to be started again).
/// The next open treats the old reservations as unknown: every register's counter skips
/// two blocks ahead and the server is asked for its highest on first contact.
pub fn reset_book(vault: &dyn crate::store::key::KeyVault) -> Result<()> {
    let Some(book) = vault.receipt_book() else {
        return Ok(());
    };
    book.save(&Reservations {
        established: false,
        registers: Vec::new(),
        reset: true,
    })?;
    tracing::warn!("receipt book reset, as confirmed");
    Ok(())
}

/// `meta` value of the recovery's server check once the keychain floor was applied to the
/// new store (the check stays pending until the server answered).
const FLOOR_APPLIED: &str = "keychain";

/// `meta` key an earlier build's salvage set to the registers whose counter it read from
/// the kept file (they then went on without the keychain's floor); cleared at the next open.
pub(crate) const SALVAGED_COUNTERS_KEY: &str = "receipt_counters_salvaged";

/// A till's receipt numbers against its book: the book's content cached, the block size.
pub(crate) struct Receipts {
    book: Arc<dyn ReceiptBook>,
    cached: Mutex<Reservations>,
    block: u64,
    /// The `established` mark (or a reset's clearing) is not kept yet: the next sale
    /// writes the book again.
    unsaved: std::sync::atomic::AtomicBool,
    /// Why the book was treated as unknown at open, for the app to show.
    note: Option<String>,
}

impl Receipts {
    /// Reads the book, gives a store that a recovery or a fresh start just made its floor
    /// (once: every register continues after the highest of its salvaged counter and its
    /// reservation; the server's floor, asked later, only raises it further), and
    /// marks the store established. A store that was here all along keeps its own counters,
    /// so its numbers stay gapless; a new store cannot be made over an established one
    /// without a recovery (`Db::open` refuses).
    pub(crate) fn open(
        book: Arc<dyn ReceiptBook>,
        block: u64,
        conn: &mut Connection,
        seq_floor_key: &str,
    ) -> Result<Receipts> {
        let block = block.clamp(2, MAX_BLOCK);
        let (mut reservations, note) = match book.load() {
            Ok(r) if r.reset => (
                Reservations::default(),
                Some("the receipt book was reset: numbers skipped ahead".to_string()),
            ),
            Ok(r) => (r, None),
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "the keychain's receipt reservations are unreadable: numbers skip ahead \
                     and the server is asked for its highest"
                );
                (
                    Reservations::default(),
                    Some(format!(
                        "receipt book unreadable, numbers skipped ahead: {e}"
                    )),
                )
            }
        };
        let tx = conn.transaction()?;
        if note.is_some() {
            // What was reserved is unknown: every counter skips two blocks, and the
            // server's check is pending (the keychain's floor is not applied again).
            let skip = i64::try_from(block.saturating_mul(2)).unwrap_or(i64::MAX);
            let raised = tx.execute(
                "UPDATE register_seq SET last_seq = CASE WHEN last_seq > ?1 - ?2
                 THEN ?1 ELSE last_seq + ?2 END",
                params![i64::MAX, skip],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![seq_floor_key, FLOOR_APPLIED],
            )?;
            tracing::warn!(registers = raised, skip, "receipt counters skipped ahead");
        }
        let check: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [seq_floor_key],
                |r| r.get(0),
            )
            .optional()?;
        if check.as_deref().is_some_and(|v| v != FLOOR_APPLIED) {
            // Every register takes the highest of its counter (salvaged, or raised already)
            // and its reservation: a kept file's counter can be older than numbers issued
            // (a file restored, a WAL lost), and the reservation covers every one of them.
            // The numbers skipped are recorded on the register's next record.
            for r in &reservations.registers {
                let floor = i64::try_from(r.through.min(MAX_SEQ)).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO register_seq (store_id, register_id, last_seq) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store_id, register_id) DO UPDATE
                     SET last_seq = max(last_seq, excluded.last_seq)",
                    params![r.store_id, r.register_id, floor],
                )?;
                tracing::info!(
                    store = %r.store_id,
                    register = %r.register_id,
                    through = r.through,
                    "receipt numbers continue after the keychain's reservation"
                );
            }
            tx.execute("DELETE FROM meta WHERE key = ?1", [SALVAGED_COUNTERS_KEY])?;
            // The server's check stays pending; the keychain's floor is not applied twice.
            tx.execute(
                "UPDATE meta SET value = ?2 WHERE key = ?1",
                params![seq_floor_key, FLOOR_APPLIED],
            )?;
        }
        tx.commit()?;
        let mut unsaved = false;
        if !reservations.established || note.is_some() {
            reservations.established = true;
            // Never blocks the open: the register works on its own counters, and the next
            // sale writes the mark again (its number is reserved in the same write).
            if let Err(e) = book.save(&reservations) {
                tracing::warn!(error = %e, "the keychain's established mark is not kept yet; retried at the next sale");
                unsaved = true;
            }
        }
        Ok(Receipts {
            book,
            cached: Mutex::new(reservations),
            block,
            unsaved: std::sync::atomic::AtomicBool::new(unsaved),
            note,
        })
    }

    /// Why the book was treated as unknown at this open (`None`: it was read).
    pub(crate) fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Makes sure the register's next number is reserved in the keychain before a record
    /// takes it (the caller holds the writer, so the counter cannot move meanwhile). The
    /// next block is reserved once half of the current one is used; should that keychain
    /// write fail, selling goes on while reserved numbers remain, and only a record that
    /// would take an unreserved number is refused with the write's typed `Keychain` error
    /// (nothing is written): numbers are never taken unreserved, so never reused.
    pub(crate) fn reserve_next(
        &self,
        conn: &Connection,
        store_id: &str,
        register_id: &str,
    ) -> Result<()> {
        let last: i64 = conn
            .prepare_cached(
                "SELECT last_seq FROM register_seq WHERE store_id = ?1 AND register_id = ?2",
            )?
            .query_row(params![store_id, register_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let next = u64::try_from(last).unwrap_or(0).saturating_add(1);
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let through = cached.through(store_id, register_id);
        let unsaved = self.unsaved.load(std::sync::atomic::Ordering::SeqCst);
        if through >= next.saturating_add(self.block / 2).min(MAX_SEQ) && !unsaved {
            return Ok(());
        }
        let mut wanted = cached.clone();
        let upto = next.saturating_add(self.block - 1).min(MAX_SEQ);
        wanted.raise(store_id, register_id, upto);
        match self.book.save(&wanted) {
            Ok(()) => {
                *cached = wanted;
                self.unsaved
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            Err(e) if through >= next => {
                tracing::warn!(error = %e, left = through + 1 - next, "receipt numbers not reserved yet; retried at the next sale");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
