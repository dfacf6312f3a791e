//! The background upload call: sync now and wait (async), within a time limit, for the
//! queue to drain. It forwards to the sync engine and reads its status; it decides nothing about sync.

use std::time::{Duration, Instant};

use tillkit_core::sync::SyncStatus;

use crate::core::TillkitCore;
use crate::error::TillkitError;
use crate::records::SyncStatusRecord;
use crate::runtime::{blocking, cancellable};

/// How often the wait looks at the status; small against any time limit a worker has.
const POLL: Duration = Duration::from_millis(20);

/// How a background drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DrainOutcome {
    /// Nothing is left to upload.
    Drained,
    /// Sales are left that no upload can move without a person: a store without a token
    /// or with a refused one, parked sales, or no protocol in common with the server.
    NeedsAttention,
    /// The time limit passed with sales still uploadable (offline, slow, the server busy).
    TimedOut,
}

/// What `drain_now` found: the outcome and the status at the end.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DrainReport {
    pub outcome: DrainOutcome,
    pub status: SyncStatusRecord,
}

/// Sales that an upload could still move now.
fn uploadable(status: &SyncStatus) -> u64 {
    if status.protocol_mismatch.is_some() {
        return 0;
    }
    let stuck: u64 = status
        .stores
        .iter()
        .map(|s| {
            if s.blocked.is_some() {
                s.pending
            } else {
                s.parked
            }
        })
        .sum();
    status.pending.saturating_sub(stuck)
}

#[uniffi::export]
impl TillkitCore {
    /// For background work with a time limit (Android WorkManager, iOS BGTaskScheduler):
    /// starts a sync round now and waits until nothing uploadable is left or `timeout_ms`
    /// passes, then says which. It holds no thread while it waits; cancelling the call
    /// (the worker stopped by the OS) ends the wait at once, and sync goes on as usual.
    pub async fn drain_now(&self, timeout_ms: u64) -> Result<DrainReport, TillkitError> {
        let running = self.running()?;
        cancellable(async move {
            running.engine.sync_now();
            let start = Instant::now();
            let limit = Duration::from_millis(timeout_ms);
            loop {
                let r = running.clone();
                let status = blocking(move || Ok(r.engine.status())).await?;
                let outcome = if status.syncing {
                    None
                } else if status.pending == 0 {
                    Some(DrainOutcome::Drained)
                } else if uploadable(&status) == 0 {
                    Some(DrainOutcome::NeedsAttention)
                } else {
                    None
                };
                let outcome = match outcome {
                    Some(o) => o,
                    None if start.elapsed() >= limit => DrainOutcome::TimedOut,
                    None => {
                        tokio::time::sleep(POLL).await;
                        continue;
                    }
                };
                return Ok(DrainReport {
                    outcome,
                    status: status.into(),
                });
            }
        })
        .await
    }
}
