//! The store-scoped queue of sales the server has not acknowledged yet.
//! A row leaves the queue only when the server acknowledged its sale; logout never clears it.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Where a queued sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Waiting for upload (retried automatically).
    Pending,
    /// Set aside: the server rejected it; a person must look at it.
    Attention,
}

/// A sale in the queue, with what the cashier or an operator needs to see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedSale {
    pub sale_id: String,
    pub receipt_no: String,
    pub total: String,
    pub currency: String,
    pub state: QueueState,
    pub enqueued_at: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The server's reason, for sales set aside.
    pub reason: Option<String>,
}

/// Queue counts for one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    pub pending: u64,
    pub attention: u64,
    /// When the oldest pending sale was queued (Unix ms).
    pub oldest_pending_at: Option<i64>,
    /// Bytes of queued payloads.
    pub queued_bytes: u64,
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

/// The oldest pending sales of a store, as (sale id, exact payload to send).
pub fn next_batch(
    conn: &Connection,
    store_id: &str,
    limit: usize,
) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.sale_id, s.record FROM outbox o JOIN sales s ON s.id = o.sale_ref
         WHERE o.store_id = ?1 AND o.state = 'pending' ORDER BY o.sale_ref LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![store_id, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Removes acknowledged sales from the queue and stamps them synced, in one transaction.
pub fn mark_synced(conn: &mut Connection, sale_ids: &[String]) -> Result<()> {
    let now = crate::time::now_ms();
    let tx = conn.transaction()?;
    {
        let mut stamp =
            tx.prepare_cached("UPDATE sales SET synced_at = ?2 WHERE sale_id = ?1 RETURNING id")?;
        let mut drop = tx.prepare_cached("DELETE FROM outbox WHERE sale_ref = ?1")?;
        for id in sale_ids {
            let sale_ref: Option<i64> =
                stamp.query_row(params![id, now], |r| r.get(0)).optional()?;
            if let Some(sale_ref) = sale_ref {
                drop.execute([sale_ref])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Sets a sale aside with the server's reason; the rest of the queue carries on.
pub fn set_aside(conn: &Connection, sale_id: &str, reason: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'attention', reason = ?2, attempts = attempts + 1
         WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1)",
    )?
    .execute(params![sale_id, reason])?;
    Ok(())
}

/// Puts a set-aside sale back in line (after someone fixed the cause).
pub fn retry(conn: &Connection, sale_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', reason = NULL
             WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1) AND state = 'attention'",
        )?
        .execute([sale_id])?
        > 0)
}

/// Records a failed attempt on sales that stay queued.
pub fn record_failure(conn: &mut Connection, sale_ids: &[String], error: &str) -> Result<()> {
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

/// Pending and set-aside counts for a store.
pub fn counts(conn: &Connection, store_id: &str) -> Result<QueueCounts> {
    let row = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(o.state = 'pending'), 0), COALESCE(SUM(o.state = 'attention'), 0),
                    MIN(CASE WHEN o.state = 'pending' THEN o.enqueued_at END), COALESCE(SUM(o.bytes), 0)
             FROM outbox o WHERE o.store_id = ?1",
        )?
        .query_row([store_id], |r| {
            Ok(QueueCounts {
                pending: r.get::<_, i64>(0)? as u64,
                attention: r.get::<_, i64>(1)? as u64,
                oldest_pending_at: r.get(2)?,
                queued_bytes: r.get::<_, i64>(3)? as u64,
            })
        })?;
    Ok(row)
}

/// The queued sales of a store in one state, oldest first.
pub fn list(
    conn: &Connection,
    store_id: &str,
    state: QueueState,
    limit: usize,
) -> Result<Vec<QueuedSale>> {
    let state_name = match state {
        QueueState::Pending => "pending",
        QueueState::Attention => "attention",
    };
    let mut stmt = conn.prepare_cached(
        "SELECT s.sale_id, s.receipt_no, s.total, s.currency, o.enqueued_at, o.attempts, o.last_error, o.reason
         FROM outbox o JOIN sales s ON s.id = o.sale_ref
         WHERE o.store_id = ?1 AND o.state = ?2 ORDER BY o.sale_ref LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![store_id, state_name, limit as i64], |r| {
        Ok(QueuedSale {
            sale_id: r.get(0)?,
            receipt_no: r.get(1)?,
            total: r.get(2)?,
            currency: r.get(3)?,
            state,
            enqueued_at: r.get(4)?,
            attempts: r.get::<_, i64>(5)? as u32,
            last_error: r.get(6)?,
            reason: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The sales a store's server set aside, with reasons, as a JSON array an operator can
/// take elsewhere: `[{"reason", "attempts", "sale": <the exact record uploaded>}]`.
pub fn export_attention(conn: &Connection, store_id: &str) -> Result<String> {
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
