//! Draining one store's queue: batches sized to what the path carries, the server's verdicts
//! applied in one transaction each, 413 split down to one sale, which is then parked.
//! Only the server's answer for a sale sets that sale aside; nothing else removes one.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::backoff::ceiling;
use super::engine::Shared;
use super::error::{Request, SyncError};
use super::protocol::{self, BatchResponse, SaleStatus};
use crate::limits;
use crate::outbox::Verdict;

/// A full batch acknowledged within `request_timeout / QUICK_BATCH_FRACTION` shows the link
/// carries twice as much in time: a batch size halved by a timeout doubles again.
const QUICK_BATCH_FRACTION: u32 = 4;

/// How much one upload request carries; learnt from the path during a drain.
#[derive(Debug, Clone)]
pub(super) struct Sizing {
    /// Sales per request now.
    batch: usize,
    /// The configured (largest) batch size.
    full: usize,
    /// Largest request body to send: below any body the path answered 413.
    body_limit: usize,
}

impl Sizing {
    /// A fresh sizing with the configured batch size and the server's body limit.
    pub(super) fn new(full: usize) -> Self {
        Sizing {
            batch: full,
            full,
            body_limit: limits::MAX_BODY_BYTES,
        }
    }
}

/// Uploads `store_id`'s pending sales oldest first until none is left to send now, and
/// returns the moment it found none left (a sale rung after it is the next drain's).
///
/// A batch that times out halves the batch size (the link could not carry it in time); a
/// full batch that goes through quickly doubles it again (up to the configured size). A
/// 413 halves the body size for the rest of the drain; one sale refused alone is parked:
/// it stays pending, is retried after a backoff, and the sales behind it go on.
pub(super) async fn drain(
    shared: &Shared,
    store_id: &str,
    token: &str,
    size: &mut Sizing,
) -> Result<std::time::Instant, SyncError> {
    loop {
        let room = size.body_limit.saturating_sub(protocol::BATCH_OVERHEAD);
        let batch =
            shared
                .till
                .next_upload_batch(store_id, size.batch, room, shared.cfg.max_park())?;
        if batch.is_empty() {
            return Ok(std::time::Instant::now());
        }
        #[cfg(feature = "test-support")]
        shared.cfg.hooks.maybe_panic();
        shared.set_syncing(true);
        shared.refresh_status();
        let ids: Vec<String> = batch.iter().map(|p| p.sale_id.clone()).collect();
        let payloads: Vec<&str> = batch.iter().map(|p| p.record.as_str()).collect();
        let body = protocol::batch_body(&payloads);
        let body_len = body.len();
        let span = tracing::info_span!("upload_batch", store = store_id, sales = ids.len());
        let sent_at = Instant::now();
        let result = shared
            .client
            .upload(store_id, token, body)
            .instrument(span)
            .await;
        shared.set_syncing(false);
        match result {
            Ok(response) => {
                shared.server_answered();
                apply(shared, &ids, &response)?;
                let full = ids.len() >= size.batch;
                let quick = sent_at.elapsed() < shared.cfg.request_timeout / QUICK_BATCH_FRACTION;
                if full && quick {
                    size.batch = size.batch.saturating_mul(2).min(size.full);
                }
            }
            Err(e) if e.is_too_large() && ids.len() > 1 => {
                // Something on the path takes less than this: send at most half as much.
                tracing::warn!(
                    bytes = body_len,
                    sales = ids.len(),
                    "batch too large for the path; splitting"
                );
                size.body_limit = (body_len / 2).max(1);
                size.batch = (ids.len() / 2).max(1);
            }
            Err(e) if e.is_too_large() => park(shared, &ids[0], &e)?,
            Err(e) => {
                if e.is_unanswered() {
                    shared.failed_request(sent_at.into_std());
                }
                if let Err(local) = shared.till.record_upload_failure(&ids, &e.chain()) {
                    tracing::warn!(error = %local, "failed attempt not recorded");
                }
                if matches!(e, SyncError::Timeout(_)) {
                    // Resending the same batch would time out the same way on a slow link.
                    size.batch = (ids.len() / 2).max(1);
                }
                return Err(e);
            }
        }
    }
}

/// Parks the one sale the path refuses even alone, until a backoff of its own has passed.
fn park(shared: &Shared, sale_id: &str, e: &SyncError) -> Result<(), SyncError> {
    let parks = shared.till.sale_parks(sale_id)?;
    let cfg = &shared.cfg;
    let wait = ceiling(cfg.backoff_base, cfg.backoff_cap, parks);
    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    let until = crate::time::now_ms().saturating_add(wait_ms.max(1));
    let why = format!(
        "{}; it stays queued and is retried alone in {}",
        e.chain(),
        seconds(wait)
    );
    let parks = shared.till.park_sale(sale_id, &why, until)?;
    tracing::warn!(sale = sale_id, parks, "sale too large for the path; parked");
    shared.refresh_status();
    Ok(())
}

fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// Applies one well-formed answer: each sale answered is synced or set aside, all in one
/// transaction. An answer that leaves sales out is an error; those sales stay queued.
fn apply(shared: &Shared, ids: &[String], response: &BatchResponse) -> Result<(), SyncError> {
    let sent: HashSet<&str> = ids.iter().map(String::as_str).collect();
    // Distinct sales answered: a response naming one sale twice and another not at all
    // must not pass for complete.
    let mut answered = HashSet::with_capacity(ids.len());
    let mut verdicts = Vec::with_capacity(ids.len());
    let mut unknown = 0usize;
    for r in &response.results {
        if r.status == SaleStatus::Unknown {
            // Not a verdict this app can act on: the sale stays queued.
            unknown += 1;
            continue;
        }
        if !sent.contains(r.sale_id.as_str()) || !answered.insert(r.sale_id.as_str()) {
            continue;
        }
        let verdict = match r.status {
            SaleStatus::Accepted | SaleStatus::Duplicate => Verdict::Synced,
            SaleStatus::Rejected => Verdict::SetAside(
                r.reason
                    .clone()
                    .unwrap_or_else(|| "rejected by the server".into()),
            ),
            SaleStatus::Conflict => Verdict::SetAside(format!(
                "conflict: {}",
                r.reason
                    .as_deref()
                    .unwrap_or("the server holds a different sale with this id")
            )),
            SaleStatus::Unknown => continue,
        };
        verdicts.push((r.sale_id.clone(), verdict));
    }
    shared.till.apply_upload_verdicts(&verdicts)?;
    if !verdicts.is_empty() {
        // Progress, so the backoff may start again from its base; an answer that named
        // none of the sales (a middlebox's canned `{"results": []}`) is no progress.
        shared.acknowledged();
    }
    let synced = verdicts
        .iter()
        .filter(|(_, v)| *v == Verdict::Synced)
        .count();
    tracing::info!(sent = ids.len(), synced, "batch acknowledged");
    shared.refresh_status();
    if unknown > 0 {
        return Err(SyncError::Inconsistent {
            request: Request::Upload,
            what: format!(
                "it gave {unknown} sale(s) a verdict this app does not know (update the app); they stay queued"
            ),
        });
    }
    if answered.len() < ids.len() {
        return Err(SyncError::Inconsistent {
            request: Request::Upload,
            what: format!("it answered for {} of {} sales", answered.len(), ids.len()),
        });
    }
    Ok(())
}
