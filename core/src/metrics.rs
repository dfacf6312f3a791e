//! The figures operators ask for: sale success rate during outages, sync latency after an
//! outage, and device storage. Reads and small appends only; never touches sales.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// Operator metrics for one store on this device.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Sale attempts made while offline.
    pub offline_attempts: u64,
    /// Of those, sales that completed.
    pub offline_completed: u64,
    /// `offline_completed / offline_attempts`, if there were any.
    pub offline_success_rate: Option<f64>,
    /// Recoveries measured: outage over (as far as the device can tell) to queue empty.
    /// See docs/ARCHITECTURE.md, "Outages and sync latency", for exactly what is measured.
    pub latency_samples: u64,
    /// Stored samples that end before they start (written by an older version from the
    /// wall clock across a clock step back): left out of the figures, not counted as 0.
    pub latency_dropped: u64,
    /// Median recovery time in milliseconds.
    pub sync_latency_p50_ms: Option<u64>,
    /// 95th percentile recovery time in milliseconds.
    pub sync_latency_p95_ms: Option<u64>,
    /// The latest recovery measured.
    pub last_recovery: Option<LatencySample>,
    /// Bytes of the database file plus its WAL.
    pub database_bytes: u64,
    /// Bytes of queued sale payloads.
    pub queued_bytes: u64,
    /// Free bytes on the data directory's volume.
    pub free_bytes: Option<u64>,
}

/// One recovery from an outage, as the device measured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySample {
    /// When counting started (Unix ms): the network coming back, or, for an outage the
    /// device found itself, the sending of its last request that got no answer.
    pub since: i64,
    /// When the queue was empty (Unix ms).
    pub drained_at: i64,
    /// Sales waiting when the server answered again.
    pub sales: u64,
}

impl LatencySample {
    /// `drained_at - since`, in milliseconds (samples are measured on a monotonic clock,
    /// so never negative; an impossible stored one is never shown as the last recovery).
    pub fn millis(&self) -> u64 {
        u64::try_from(self.drained_at.saturating_sub(self.since)).unwrap_or(0)
    }
}

/// Records the outcome of a sale attempt made while offline.
pub(crate) fn record_attempt(c: &Connection, store_id: &str, completed: bool) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO sale_attempts (store_id, at, offline, completed) VALUES (?1, ?2, 1, ?3)",
    )?
    .execute(params![store_id, crate::time::now_ms(), completed])?;
    Ok(())
}

/// Marks the store's queue as fully acknowledged now.
pub(crate) fn record_success(c: &Connection, store_id: &str, now: i64) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO sync_state (store_id, last_success_at) VALUES (?1, ?2)
         ON CONFLICT (store_id) DO UPDATE SET last_success_at = excluded.last_success_at",
    )?
    .execute(params![store_id, now])?;
    Ok(())
}

/// When any store's queue on this device was last fully acknowledged.
pub(crate) fn last_success(c: &Connection) -> Result<Option<i64>> {
    Ok(
        c.prepare_cached("SELECT MAX(last_success_at) FROM sync_state")?
            .query_row([], |r| r.get(0))?,
    )
}

/// Records one recovery: counted from `up_at`, queue empty at `drained_at`.
pub(crate) fn record_latency(
    c: &Connection,
    store_id: &str,
    up_at: i64,
    drained_at: i64,
    sales: u64,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO sync_latency (store_id, network_up, drained_at, sales) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![store_id, up_at, drained_at, sales as i64])?;
    Ok(())
}

fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest-rank percentile.
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Free space on the volume holding `path`.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and st a valid out-pointer.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Computes the metrics for `store_id`.
pub fn collect(c: &Connection, store_id: &str, db_path: &std::path::Path) -> Result<Metrics> {
    let (attempts, completed): (i64, i64) = c.query_row(
        "SELECT count(*), COALESCE(sum(completed), 0) FROM sale_attempts WHERE store_id = ?1 AND offline = 1",
        [store_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let last_recovery = c
        .prepare_cached(
            "SELECT network_up, drained_at, sales FROM sync_latency
             WHERE store_id = ?1 AND drained_at >= network_up ORDER BY id DESC LIMIT 1",
        )?
        .query_row([store_id], |r| {
            Ok(LatencySample {
                since: r.get(0)?,
                drained_at: r.get(1)?,
                sales: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })
        .optional()?;
    let mut stmt =
        c.prepare_cached("SELECT drained_at - network_up FROM sync_latency WHERE store_id = ?1")?;
    let all: Vec<i64> = stmt
        .query_map([store_id], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut latencies: Vec<u64> = all
        .iter()
        .filter_map(|ms| u64::try_from(*ms).ok())
        .collect();
    let latency_dropped = (all.len() - latencies.len()) as u64;
    latencies.sort_unstable();
    let queued_bytes: i64 = c.query_row(
        "SELECT COALESCE(sum(bytes), 0) FROM outbox WHERE store_id = ?1",
        [store_id],
        |r| r.get(0),
    )?;
    let file_len = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", db_path.display()))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    Ok(Metrics {
        offline_attempts: attempts as u64,
        offline_completed: completed as u64,
        offline_success_rate: (attempts > 0).then(|| completed as f64 / attempts as f64),
        latency_samples: latencies.len() as u64,
        latency_dropped,
        sync_latency_p50_ms: percentile(&latencies, 50),
        sync_latency_p95_ms: percentile(&latencies, 95),
        last_recovery,
        database_bytes: file_len("") + file_len("-wal"),
        queued_bytes: queued_bytes as u64,
        free_bytes: db_path.parent().and_then(free_bytes),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(super::percentile(&v, 50), Some(10));
        assert_eq!(super::percentile(&v, 95), Some(19));
        assert_eq!(super::percentile(&[7], 95), Some(7));
        assert_eq!(super::percentile(&[], 50), None);
    }
}
