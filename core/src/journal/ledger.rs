//! The device's side of the journal: a record's number and link are claimed inside the
//! record's own transaction and the register's head moves with it; a register's journal is
//! exported for an auditor. It reads and writes only `register_seq`, one `meta` key and the
//! stored records' text; it never changes a record.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Anchor, CanonicalError, JournalLink, SegmentReason, SegmentStart, SeqRange, genesis};
use crate::error::{Error, Result};

/// The `format` of a journal export's header line.
pub const JOURNAL_EXPORT_FORMAT: &str = "tillkit-journal-v1";

/// `meta` key set when this device's store was started fresh or salvaged: a register whose
/// journal has no head then opens its next segment with that reason, not as a new register.
pub(crate) const RESTART_KEY: &str = "journal_restart";

/// Why this device's records may be missing, as the next segment will say.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RestartMarker {
    pub(crate) reason: SegmentReason,
    /// When the store was started fresh or salvaged (Unix ms).
    pub(crate) at: i64,
    pub(crate) note: Option<String>,
}

/// Records in `tx` that the store restarted, for segments opened from now on.
pub(crate) fn mark_restart(tx: &Transaction<'_>, marker: &RestartMarker) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![RESTART_KEY, serde_json::to_string(marker)?],
    )?;
    Ok(())
}

/// A record's place in its register's journal, claimed inside the record's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The record's number (`seq`): the register's counter, bumped.
    pub(crate) seq: u64,
    /// Its link to the register's head, or the opening of a segment.
    pub(crate) link: JournalLink,
}

/// Bumps the register's counter and links to its head. The head is read in the same
/// statement that bumps the counter: one row, one page, as before the journal existed.
pub(crate) fn claim(tx: &Transaction<'_>, store_id: &str, register_id: &str) -> Result<Claim> {
    let (seq, head_seq, head_hash): (i64, Option<i64>, Option<String>) = tx
        .prepare_cached(
            "INSERT INTO register_seq (store_id, register_id, last_seq) VALUES (?1, ?2, 1)
             ON CONFLICT (store_id, register_id) DO UPDATE SET last_seq = last_seq + 1
             RETURNING last_seq, head_seq, head_hash",
        )?
        .query_row(params![store_id, register_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let seq = u64::try_from(seq).map_err(|_| Error::Storage(format!("receipt counter {seq}")))?;
    let link = match (head_seq, head_hash) {
        (Some(prev_seq), Some(prev)) => JournalLink {
            prev_seq: u64::try_from(prev_seq)
                .map_err(|_| Error::Storage(format!("journal head {prev_seq}")))?,
            prev,
            segment: None,
            skipped: None,
        },
        _ => open_segment(tx, store_id, register_id)?,
    };
    Ok(Claim {
        seq,
        link: record_skip(link, seq),
    })
}

/// Records on the link the numbers between the record it follows and `seq`: the counter
/// went past them (the keychain's reservation or the server's highest after a recovery or a
/// fresh start), so they were never issued here.
fn record_skip(mut link: JournalLink, seq: u64) -> JournalLink {
    let before = match &link.segment {
        Some(segment) => segment.after.as_ref().map_or(0, |a| a.seq),
        None => link.prev_seq,
    };
    if seq > before.saturating_add(1) {
        let skipped = SeqRange {
            first: before + 1,
            last: seq - 1,
        };
        tracing::info!(
            first = skipped.first,
            last = skipped.last,
            "receipt numbers skipped, recorded on the next record"
        );
        link.skipped = Some(skipped);
    }
    link
}

/// The link of a register's first chained record on this device: from a fresh genesis
/// value, saying why, and naming the newest record it still holds from before.
fn open_segment(tx: &Transaction<'_>, store_id: &str, register_id: &str) -> Result<JournalLink> {
    let marker: Option<RestartMarker> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([RESTART_KEY], |r| r.get::<_, String>(0))
        .optional()?
        .map(|text| serde_json::from_str(&text))
        .transpose()?;
    // Once per register and device: a scan from the newest row is affordable here.
    let newest: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT seq, record FROM sales WHERE store_id = ?1 AND register_id = ?2
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![store_id, register_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let after = match newest {
        Some((seq, record)) => Some(Anchor {
            seq: u64::try_from(seq).map_err(|_| Error::Storage(format!("record seq {seq}")))?,
            hash: stored_hash(&record)?,
        }),
        None => None,
    };
    let (reason, note) = match (marker, &after) {
        (Some(m), _) => (m.reason, m.note),
        (None, Some(_)) => (SegmentReason::JournalStarted, None),
        (None, None) => (SegmentReason::NewRegister, None),
    };
    let id = Uuid::now_v7();
    tracing::info!(
        store = store_id,
        register = register_id,
        ?reason,
        "journal segment opened"
    );
    Ok(JournalLink {
        prev_seq: 0,
        prev: genesis(store_id, register_id, id),
        segment: Some(SegmentStart {
            id,
            reason,
            after,
            note,
        }),
        skipped: None,
    })
}

/// Makes the record numbered `seq`, hashing to `hash`, the register's head (in the same
/// transaction as the record and its claim).
pub(crate) fn advance(
    tx: &Transaction<'_>,
    store_id: &str,
    register_id: &str,
    seq: u64,
    hash: &str,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE register_seq SET head_seq = ?3, head_hash = ?4
         WHERE store_id = ?1 AND register_id = ?2",
    )?
    .execute(params![store_id, register_id, seq as i64, hash])?;
    Ok(())
}

/// The journal hash of a record as stored (its JSON text).
pub(crate) fn stored_hash(record: &str) -> Result<String> {
    super::text_hash(record.as_bytes()).map_err(|e| Error::Storage(e.to_string()))
}

/// The first line of a journal export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// Always `JOURNAL_EXPORT_FORMAT`.
    pub format: String,
    pub store_id: String,
    pub register_id: String,
    /// Device clock at export (Unix ms).
    pub exported_at: i64,
    /// The register's counter: the highest number it has issued on this device.
    pub last_seq: u64,
    /// The register's newest chained record as the device recorded it when writing it.
    pub head: Option<Anchor>,
    /// Records that follow.
    pub records: u64,
}

/// A register's journal as a device exports it: JSON Lines, the header first, then every
/// record of the register this device holds, one per line, byte for byte as stored and
/// uploaded, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalExport {
    pub header: JournalHeader,
    pub records: Vec<Value>,
}

impl JournalExport {
    /// Reads an export (see `Till::export_journal`).
    pub fn parse(text: &str) -> std::result::Result<JournalExport, CanonicalError> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: JournalHeader = lines
            .next()
            .ok_or_else(|| CanonicalError("the export is empty".into()))
            .and_then(|l| {
                serde_json::from_str(l).map_err(|e| CanonicalError(format!("header: {e}")))
            })?;
        if header.format != JOURNAL_EXPORT_FORMAT {
            return Err(CanonicalError(format!(
                "unknown export format {:?}",
                header.format
            )));
        }
        let records = lines
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| CanonicalError(format!("record line {}: {e}", i + 2)))
            })
            .collect::<std::result::Result<Vec<Value>, _>>()?;
        Ok(JournalExport { header, records })
    }
}

/// Writes the journal export of one register (see `JournalExport`).
pub(crate) fn export(
    conn: &rusqlite::Connection,
    store_id: &str,
    register_id: &str,
) -> Result<String> {
    // One read transaction: the head and the records from the same moment.
    let tx = conn.unchecked_transaction()?;
    let counters: Option<(i64, Option<i64>, Option<String>)> = tx
        .query_row(
            "SELECT last_seq, head_seq, head_hash FROM register_seq
             WHERE store_id = ?1 AND register_id = ?2",
            params![store_id, register_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (last_seq, head) = match counters {
        Some((last, Some(seq), Some(hash))) => (
            last,
            Some(Anchor {
                seq: seq.max(0) as u64,
                hash,
            }),
        ),
        Some((last, _, _)) => (last, None),
        None => (0, None),
    };
    let mut stmt = tx
        .prepare("SELECT record FROM sales WHERE store_id = ?1 AND register_id = ?2 ORDER BY id")?;
    let records: Vec<String> = stmt
        .query_map(params![store_id, register_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    let header = JournalHeader {
        format: JOURNAL_EXPORT_FORMAT.into(),
        store_id: store_id.into(),
        register_id: register_id.into(),
        exported_at: crate::time::now_ms(),
        last_seq: last_seq.max(0) as u64,
        head,
        records: records.len() as u64,
    };
    let mut out = serde_json::to_string(&header)?;
    out.push('\n');
    for r in &records {
        out.push_str(r);
        out.push('\n');
    }
    tx.finish()?;
    Ok(out)
}
