//! Test support, compiled only with the `test-support` feature (tests enable it; apps never
//! do): raw access to a till's database for tests that inspect or damage it, and faults the
//! sync engine lets tests inject. Nothing here is reachable from an app build.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::error::Result;
use crate::outbox::{self, QueueCounts, Verdict};
use crate::till::Till;

/// Runs `f` on the till's read connection (to check what is stored).
pub fn inspect<T>(till: &Till, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    till.with_reader(f)
}

/// Runs `f` on the till's write connection (to damage or rewrite what is stored); the
/// queue counts are recounted afterwards.
pub fn tamper<T>(till: &Till, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
    till.with_writer(f)
}

/// Pending sale ids of `store_id` (any session), oldest first.
pub fn pending_ids(till: &Till, store_id: &str) -> Result<Vec<String>> {
    till.with_reader(|c| {
        let mut stmt = c.prepare(
            "SELECT s.sale_id FROM outbox o JOIN sales s ON s.id = o.sale_ref
             WHERE o.store_id = ?1 AND o.state = 'pending' ORDER BY o.sale_ref",
        )?;
        let ids = stmt
            .query_map([store_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    })
}

/// The next `n` sale ids of `store_id` the sync engine would upload, oldest first.
pub fn next_batch_ids(till: &Till, store_id: &str, n: usize) -> Result<Vec<String>> {
    let batch = till.next_upload_batch(store_id, n, usize::MAX, std::time::Duration::MAX)?;
    Ok(batch.into_iter().map(|p| p.sale_id).collect())
}

/// Applies verdicts as a server's answer would (one transaction), e.g. to play a server.
pub fn apply_verdicts(till: &Till, verdicts: &[(String, Verdict)]) -> Result<()> {
    till.apply_upload_verdicts(verdicts)
}

/// Every store's queue counts recounted from the tables, bypassing the till's cache.
pub fn recount(till: &Till) -> Result<BTreeMap<String, QueueCounts>> {
    till.with_reader(outbox::counts_by_store)
}

/// Faults for one sync engine, set through `SyncConfig::hooks`.
#[derive(Debug, Clone, Default)]
pub struct SyncHooks {
    /// Send this protocol version instead of `PROTOCOL_VERSION` (plays a newer or older app).
    pub protocol_version: Option<u32>,
    panics: Arc<AtomicU32>,
    rounds: Arc<AtomicU64>,
}

impl SyncHooks {
    /// Makes each of the next `n` batch uploads panic inside the sync task, before it sends.
    pub fn panic_before_uploads(&self, n: u32) {
        self.panics.fetch_add(n, Ordering::SeqCst);
    }

    /// Upload rounds the engine has run so far (shared by every clone of these hooks): a
    /// test counts them to show the engine does not spin.
    pub fn upload_rounds(&self) -> u64 {
        self.rounds.load(Ordering::SeqCst)
    }

    /// Counts one upload round (called by the engine after each).
    pub(crate) fn round_done(&self) {
        self.rounds.fetch_add(1, Ordering::SeqCst);
    }

    /// Panics when a panic is due (called by the engine before each upload).
    pub(crate) fn maybe_panic(&self) {
        let due = self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if due {
            panic!("panic injected into the sync task by a test");
        }
    }
}
