//! Pulling the session store's catalogue: download by cursor, then import off the async
//! threads. It runs beside uploads, never before them, and never touches the queue.

use std::sync::Arc;

use super::engine::Shared;
use super::error::{Request, SyncError};

/// Downloads and applies the store's catalogue. `Ok(Some(reason))`: the server's catalogue
/// was refused by the device's checks, and the previous one stays (selling goes on).
pub(super) async fn pull(
    shared: Arc<Shared>,
    store_id: String,
) -> Result<Option<String>, SyncError> {
    let Some(token) = shared.cfg.credentials.token(&store_id) else {
        return Ok(Some(format!(
            "no register token for store {store_id:?}: the catalogue cannot be downloaded"
        )));
    };
    let since = shared.till.catalog_cursor(&store_id)?;
    let payload = shared
        .client
        .catalog(&store_id, &token, since.as_deref())
        .await?;
    shared.server_answered();
    if payload.store_id != store_id {
        return Err(SyncError::Inconsistent {
            request: Request::Catalog,
            what: format!("it sent the catalogue of store {:?}", payload.store_id),
        });
    }
    // A big snapshot takes a while to import: not on the threads that serve uploads.
    let till = shared.till.clone();
    let imported = tokio::task::spawn_blocking(move || till.import_catalog(&payload))
        .await
        .map_err(|e| {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic())
            } else {
                SyncError::Inconsistent {
                    request: Request::Catalog,
                    what: "the import was cancelled".into(),
                }
            }
        })?;
    match imported {
        Ok(summary) => {
            tracing::info!(products = summary.products, cursor = %summary.cursor, "catalogue applied");
            Ok(None)
        }
        Err(e) if e.is_system_failure() => Err(SyncError::Local(e)),
        Err(e) => {
            tracing::warn!(error = %e, "catalogue from server refused");
            Ok(Some(format!("catalogue refused: {e}")))
        }
    }
}
