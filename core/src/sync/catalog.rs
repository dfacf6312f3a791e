//! Pulling the session store's catalogue: download by cursor, then import off the async
//! threads. It runs beside uploads, never before them, and never touches the queue.

use std::sync::Arc;

use super::engine::Shared;
use super::error::{Request, SyncError};
use crate::catalog::CatalogJson;

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
    let (answer, body) = shared
        .client
        .catalog(&store_id, &token, since.as_deref())
        .await?;
    shared.server_answered();
    let unreadable = |answer, e| SyncError::BadResponse {
        answer,
        source: Some(e),
    };
    // The body is held once and its products go into the store one at a time as they are
    // decoded: a 100,000-product snapshot is never a list in memory. A big snapshot takes a
    // while to import: not on the threads that serve uploads.
    let till = shared.till.clone();
    let applied = tokio::task::spawn_blocking(move || {
        let payload = CatalogJson::parse(&body).map_err(|e| unreadable(answer.clone(), e))?;
        if payload.head().store_id != store_id {
            return Err(SyncError::Inconsistent {
                request: Request::Catalog,
                what: format!(
                    "it sent the catalogue of store {:?}",
                    payload.head().store_id
                ),
            });
        }
        match till.import_catalog_streamed(&payload) {
            Ok(read) => read.map(Ok).map_err(|e| unreadable(answer, e)),
            Err(e) => Ok(Err(e)),
        }
    })
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
    let imported = applied?;
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
