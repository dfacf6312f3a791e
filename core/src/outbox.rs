//! The store-scoped queue of sales the server has not acknowledged yet.
//! A row leaves the queue only when the server acknowledged its sale; logout never clears it,
//! and only the server's verdict on that very sale sets it aside.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Where a queued sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Waiting for upload (retried automatically).
    Pending,
    /// Still pending and retried automatically, but the network path refused it even on
    /// its own (e.g. too large for a proxy): shown to a person too. It never blocks the
    /// sales behind it.
    Parked,
    /// Set aside: the server rejected it; a person must look at it.
    Attention,
}

/// A sale in the queue, with what the cashier or an operator needs to see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedSale {
    pub sale_id: String,
    pub store_id: String,
    pub receipt_no: String,
    pub total: String,
    pub currency: String,
    pub state: QueueState,
    pub enqueued_at: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The server's reason, for sales set aside.
    pub reason: Option<String>,
    /// For parked sales: when it is tried again (Unix ms).
    pub retry_at: Option<i64>,
}

/// Queue counts for one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    /// Sales waiting for upload, parked ones included.
    pub pending: u64,
    /// Of the pending sales, those parked (they also need a person's eye).
    pub parked: u64,
    /// Sales set aside by the server.
    pub attention: u64,
    /// When the oldest pending sale was queued (Unix ms).
    pub oldest_pending_at: Option<i64>,
    /// Bytes of queued payloads.
    pub queued_bytes: u64,
}

/// A queued sale as it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The sale's id (the server's idempotency key).
    pub sale_id: String,
    /// The exact stored record, sent byte for byte.
    pub record: String,
}

/// The server's verdict on one uploaded sale, as the queue applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Stored (accepted now or already): it leaves the queue.
    Synced,
    /// Rejected or in conflict: set aside with the server's reason.
    SetAside(String),
}

/// Which set-aside or parked sales to put back in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryScope<'a> {
    /// Every one of the store.
    All,
    /// These sale ids (of the store).
    Sales(&'a [String]),
}

/// Adds a sale to the queue, inside the transaction that writes the sale.
pub(crate) fn enqueue(
    tx: &Transaction<'_>,
    sale_ref: i64,
    store_id: &str,
    at: i64,
    bytes: usize,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (sale_ref, store_id, enqueued_at, bytes) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![sale_ref, store_id, at, bytes as i64])?;
    Ok(())
}

/// When parked sales are due: `now` (Unix ms, wall clock) and the longest park the engine
/// ever sets. A park ending later than that was set by a clock that has since gone back
/// (a wall clock set right, a dead RTC battery): it counts as due now, so a clock change
/// can never park a sale for longer than one park.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParkClock {
    pub(crate) now: i64,
    pub(crate) max_park_ms: i64,
}

impl ParkClock {
    /// The latest `parked_until` still believed.
    fn latest(self) -> i64 {
        self.now.saturating_add(self.max_park_ms.max(0))
    }
}

/// The next sales of a store to upload, oldest first (a refund only once the server has
/// acknowledged the sale it reverses: it is decided against the sale as the server holds it,
/// so it never goes before it, nor in the same batch; one whose sale is still queued or set
/// aside waits, see `apply_verdicts`; a refund of a held copy, a sale this device fetched
/// from the server and never queued, has nothing to wait for), at most `max_sales` and `max_bytes`
/// of records (but always at least one). Parked sales wait until their time (see
/// `ParkClock`), then go alone, so the one that fails cannot take a batch down with it.
pub(crate) fn next_batch(
    conn: &Connection,
    store_id: &str,
    max_sales: usize,
    max_bytes: usize,
    clock: ParkClock,
) -> Result<Vec<Payload>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.sale_id, s.record, o.parked_until IS NOT NULL
         FROM outbox o JOIN sales s ON s.id = o.sale_ref
         WHERE o.store_id = ?1 AND o.state = 'pending'
           AND (s.refund_of IS NULL OR NOT EXISTS (
                SELECT 1 FROM sales p WHERE p.sale_id = s.refund_of AND p.synced_at IS NULL))
           AND (o.parked_until IS NULL OR o.parked_until <= ?3 OR o.parked_until > ?4)
         ORDER BY o.sale_ref LIMIT ?2",
    )?;
    let limit = i64::try_from(max_sales.max(1)).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![store_id, limit, clock.now, clock.latest()])?;
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let parked: bool = row.get(2)?;
        let record: String = row.get(1)?;
        if !batch.is_empty() && (parked || bytes.saturating_add(record.len()) > max_bytes) {
            break;
        }
        bytes = bytes.saturating_add(record.len() + 1);
        batch.push(Payload {
            sale_id: row.get(0)?,
            record,
        });
        if parked {
            break;
        }
    }
    Ok(batch)
}

/// Applies the server's verdicts in ONE transaction: synced sales are stamped and leave
/// the queue, set-aside sales keep their row with the reason. Ids not queued are ignored.
/// A refund of a sale set aside stays pending (it waits for its sale) and says so in its
/// `last_error`; once its sale is synced it is sent and that note is replaced.
pub(crate) fn apply_verdicts(conn: &mut Connection, verdicts: &[(String, Verdict)]) -> Result<()> {
    let now = crate::time::now_ms();
    let tx = conn.transaction()?;
    {
        let mut stamp =
            tx.prepare_cached("UPDATE sales SET synced_at = ?2 WHERE sale_id = ?1 RETURNING id")?;
        let mut unqueue = tx.prepare_cached("DELETE FROM outbox WHERE sale_ref = ?1")?;
        let mut set_aside = tx.prepare_cached(
            "UPDATE outbox SET state = 'attention', reason = ?2, attempts = attempts + 1,
                    parked_until = NULL
             WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1)",
        )?;
        let mut refunds_wait = tx.prepare_cached(
            "UPDATE outbox SET last_error = 'waits for its sale ' || s.receipt_no
                    || ', which the server set aside: ' || ?2
             FROM sales s
             WHERE s.sale_id = ?1 AND outbox.state = 'pending'
               AND outbox.sale_ref IN (SELECT id FROM sales WHERE refund_of = ?1)",
        )?;
        for (id, verdict) in verdicts {
            match verdict {
                Verdict::Synced => {
                    let sale_ref: Option<i64> =
                        stamp.query_row(params![id, now], |r| r.get(0)).optional()?;
                    if let Some(sale_ref) = sale_ref {
                        unqueue.execute([sale_ref])?;
                    }
                }
                Verdict::SetAside(reason) => {
                    set_aside.execute(params![id, reason])?;
                    refunds_wait.execute(params![id, reason])?;
                }
            }
        }
    }
    // A store whose queue this left with nothing pending is back in step with the server.
    crate::offline_limits::close_drained(&tx)?;
    tx.commit()?;
    Ok(())
}

/// Records a failed attempt on sales that stay queued, in one transaction.
pub(crate) fn record_failure(
    conn: &mut Connection,
    sale_ids: &[String],
    error: &str,
) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2
             WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1)",
        )?;
        for id in sale_ids {
            stmt.execute(params![id, error])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Parks a pending sale until `until` (Unix ms) with the reason the path gave; it stays
/// pending. Returns how many times it has now been parked.
pub(crate) fn park(conn: &Connection, sale_id: &str, error: &str, until: i64) -> Result<u32> {
    let parks: Option<i64> = conn
        .prepare_cached(
            "UPDATE outbox SET parked_until = ?3, parks = parks + 1, attempts = attempts + 1,
                    last_error = ?2
             WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1) AND state = 'pending'
             RETURNING parks",
        )?
        .query_row(params![sale_id, error, until], |r| r.get(0))
        .optional()?;
    Ok(parks.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// How many times a sale has been parked (0 when it is not queued).
pub(crate) fn parks(conn: &Connection, sale_id: &str) -> Result<u32> {
    let parks: Option<i64> = conn
        .prepare_cached(
            "SELECT parks FROM outbox WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1)",
        )?
        .query_row([sale_id], |r| r.get(0))
        .optional()?;
    Ok(parks.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// When each store's earliest parked sale is due again (Unix ms, see `ParkClock`), for the
/// stores that have one parked.
pub(crate) fn next_parked_due(
    conn: &Connection,
    clock: ParkClock,
) -> Result<BTreeMap<String, i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT store_id, MIN(CASE WHEN parked_until > ?2 THEN ?1 ELSE parked_until END)
         FROM outbox WHERE state = 'pending' AND parked_until IS NOT NULL GROUP BY store_id",
    )?;
    let rows = stmt.query_map(params![clock.now, clock.latest()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Puts set-aside sales back in line and makes parked sales due now, of every store on
/// the device (a person asked to retry); returns how many sales that touched.
pub(crate) fn retry(conn: &mut Connection, scope: RetryScope<'_>) -> Result<u64> {
    let tx = conn.transaction()?;
    let mut touched = 0;
    {
        let mut unset = tx.prepare_cached(
            "UPDATE outbox SET state = 'pending', reason = NULL, parked_until = NULL, parks = 0
             WHERE state = 'attention'
               AND (?1 IS NULL OR sale_ref = (SELECT id FROM sales WHERE sale_id = ?1))",
        )?;
        // Still parked (and so still shown), but due at once and sent alone.
        let mut unpark = tx.prepare_cached(
            "UPDATE outbox SET parked_until = 0, parks = 0
             WHERE state = 'pending' AND parked_until IS NOT NULL
               AND (?1 IS NULL OR sale_ref = (SELECT id FROM sales WHERE sale_id = ?1))",
        )?;
        match scope {
            RetryScope::All => {
                let none: Option<&str> = None;
                touched += unset.execute(params![none])?;
                touched += unpark.execute(params![none])?;
            }
            RetryScope::Sales(ids) => {
                for id in ids {
                    touched += unset.execute(params![id])?;
                    touched += unpark.execute(params![id])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(touched as u64)
}

/// Counts of every store that has anything queued on this device.
pub(crate) fn counts_by_store(conn: &Connection) -> Result<BTreeMap<String, QueueCounts>> {
    let mut stmt = conn.prepare_cached(
        "SELECT store_id, COALESCE(SUM(state = 'pending'), 0),
                COALESCE(SUM(state = 'pending' AND parked_until IS NOT NULL), 0),
                COALESCE(SUM(state = 'attention'), 0),
                MIN(CASE WHEN state = 'pending' THEN enqueued_at END), COALESCE(SUM(bytes), 0)
         FROM outbox GROUP BY store_id",
    )?;
    let rows = stmt.query_map([], |r| {
        let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok((
            r.get::<_, String>(0)?,
            QueueCounts {
                pending: n(1)?,
                parked: n(2)?,
                attention: n(3)?,
                oldest_pending_at: r.get(4)?,
                queued_bytes: n(5)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Which queued sales a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Every pending sale, parked ones included.
    Pending,
    /// What needs a person: set-aside and parked sales.
    NeedsAttention,
}

/// The queued sales of a store, oldest first.
pub(crate) fn list(
    conn: &Connection,
    store_id: &str,
    listing: Listing,
    limit: usize,
) -> Result<Vec<QueuedSale>> {
    let filter = match listing {
        Listing::Pending => "o.state = 'pending'",
        Listing::NeedsAttention => {
            "(o.state = 'attention' OR (o.state = 'pending' AND o.parked_until IS NOT NULL))"
        }
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT s.sale_id, s.receipt_no, s.total, s.currency, o.enqueued_at, o.attempts,
                o.last_error, o.reason, o.state, o.parked_until
         FROM outbox o JOIN sales s ON s.id = o.sale_ref
         WHERE o.store_id = ?1 AND {filter} ORDER BY o.sale_ref LIMIT ?2"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![store_id, limit], |r| {
        let parked_until: Option<i64> = r.get(9)?;
        let state = match (r.get::<_, String>(8)?.as_str(), parked_until) {
            ("attention", _) => QueueState::Attention,
            (_, Some(_)) => QueueState::Parked,
            _ => QueueState::Pending,
        };
        Ok(QueuedSale {
            sale_id: r.get(0)?,
            store_id: store_id.to_string(),
            receipt_no: r.get(1)?,
            total: r.get(2)?,
            currency: r.get(3)?,
            state,
            enqueued_at: r.get(4)?,
            attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
            last_error: r.get(6)?,
            reason: r.get(7)?,
            retry_at: parked_until,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The sales a store's server set aside, with reasons, as a JSON array an operator can
/// take elsewhere: `[{"reason", "attempts", "sale": <the exact record uploaded>}]`.
pub(crate) fn export_attention(conn: &Connection, store_id: &str) -> Result<String> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.reason, o.attempts, s.record FROM outbox o JOIN sales s ON s.id = o.sale_ref
         WHERE o.store_id = ?1 AND o.state = 'attention' ORDER BY o.sale_ref",
    )?;
    let rows = stmt.query_map([store_id], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (reason, attempts, record) = row?;
        out.push(serde_json::json!({
            "reason": reason,
            "attempts": attempts,
            "sale": serde_json::from_str::<serde_json::Value>(&record)?,
        }));
    }
    Ok(serde_json::to_string_pretty(&out)?)
}
