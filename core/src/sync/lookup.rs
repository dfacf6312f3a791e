//! Refunding a sale this device does not hold: the till answers `NeedsConnection`, and
//! online the engine asks the server for the sale (`Client::sale_lookup`, with the same TLS,
//! pinning, timeouts and error typing as uploads), keeps it as a held copy
//! (`Till::hold_fetched_sale`: never queued, never in this register's journal, never
//! uploaded) and refunds it as a local sale. The till stays synchronous and knows nothing of
//! the network; this is the only place the two meet for a refund.

use super::engine::Shared;
use super::error::SyncError;
use super::protocol::UNKNOWN_SALE;
use crate::error::{Error, Result};
use crate::refund::SaleRef;

/// Fetches `sale` from the server and keeps it as a held copy. `what` is the till's
/// `NeedsConnection` text. Offline, no token for the store, or no answer from the server
/// (unreachable, timed out, a gateway's page, busy): `NeedsConnection`, saying why. A receipt
/// number the store does not hold: `UnknownReceipt`; a sale id it does not hold: `NotFound`.
/// Any other refusal: `Error::Sync` with the cause.
pub(super) async fn fetch(shared: &Shared, sale: &SaleRef, what: String) -> Result<()> {
    let session = shared.till.session()?;
    let Some(token) = shared.cfg.credentials.token(&session.store_id) else {
        return Err(Error::NeedsConnection {
            what: format!(
                "{what} (this register has no token for store {})",
                session.store_id
            ),
        });
    };
    let lookup = match shared
        .client
        .sale_lookup(&session.store_id, &token, sale)
        .await
    {
        Ok(lookup) => lookup,
        Err(e) => return Err(typed(e, sale, what)),
    };
    shared.till.hold_fetched_sale(&lookup)
}

/// The till's error for a failed lookup.
fn typed(e: SyncError, sale: &SaleRef, what: String) -> Error {
    tracing::warn!(error = %e.chain(), "sale lookup failed");
    if e.is_unanswered() || matches!(e, SyncError::Busy { .. }) {
        return Error::NeedsConnection {
            what: format!("{what} (the server did not answer: {e})"),
        };
    }
    if let SyncError::Refused { answer } = &e
        && answer.status == 404
        && answer
            .typed
            .as_deref()
            .is_some_and(|t| t.starts_with(UNKNOWN_SALE))
    {
        return match sale {
            SaleRef::Receipt(r) => Error::UnknownReceipt {
                receipt: r.trim().to_string(),
            },
            SaleRef::SaleId(id) => {
                Error::not_found(format!("sale {id} (the store's server holds no such sale)"))
            }
        };
    }
    Error::sync("the sale lookup failed", e)
}
