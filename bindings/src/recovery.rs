//! Recovery of a register whose database answered `NeedsRecovery`: salvage, the explicit
//! fresh start, and the kept files. It converts and forwards; the core decides everything.

use tillkit_core::Till;
use tillkit_core::store::recovery::{self, RecoveryReport};

use crate::core::CoreConfig;
use crate::error::TillkitError;
use crate::runtime::blocking;

/// What a recovery salvaged and what it could not read.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecoveryReportRecord {
    /// Whether salvage was complete: every sale, queue row and receipt number the kept file
    /// knew of is in the new store. When false, check `receiptsMissing` against paper.
    pub complete: bool,
    /// Sales copied into the fresh store.
    pub sales_recovered: u64,
    /// Of those, sales queued for upload (the server dedupes any it already has).
    pub queued: u64,
    /// Sales records that could not be read.
    pub sales_unreadable: u64,
    /// Queued sales whose record could not be read (lost unless the server has them).
    pub queued_lost: u64,
    /// Ids of lost sales, where an index still named them.
    pub lost_sale_ids: Vec<String>,
    /// Receipt numbers known to have been issued that could not be recovered, in order.
    pub receipts_missing: Vec<String>,
    /// What could not be read, in words.
    pub unreadable: Vec<String>,
    /// Every file a recovery kept in the data directory; none is ever deleted.
    pub kept_files: Vec<String>,
}

impl From<RecoveryReport> for RecoveryReportRecord {
    fn from(r: RecoveryReport) -> Self {
        RecoveryReportRecord {
            complete: r.complete,
            sales_recovered: r.sales_recovered,
            queued: r.queued,
            sales_unreadable: r.sales_unreadable,
            queued_lost: r.queued_lost,
            lost_sale_ids: r.lost_sale_ids,
            receipts_missing: r.receipts_missing,
            unreadable: r.unreadable,
            kept_files: r.kept.iter().map(|p| p.display().to_string()).collect(),
        }
    }
}

/// Salvages every readable sale of a database that answered `NeedsRecovery` into a fresh
/// store, still queued; then `TillkitCore.open` works again. Call it with no core open.
#[uniffi::export]
pub async fn recover_database(config: CoreConfig) -> Result<RecoveryReportRecord, TillkitError> {
    blocking(move || Ok(Till::recover(&config.core_config())?.into())).await
}

/// Starts an empty store in place of one that answered `NeedsRecovery`, salvaging
/// nothing. Only after a person confirmed it: unsent sales in the kept file will not
/// upload. The kept files stay (see `keptDatabaseFiles`).
#[uniffi::export]
pub async fn start_fresh_database(config: CoreConfig) -> Result<(), TillkitError> {
    blocking(move || Ok(Till::start_fresh(&config.core_config())?)).await
}

/// Every damaged file a recovery kept in the data directory, for support to collect.
#[uniffi::export]
pub async fn kept_database_files(config: CoreConfig) -> Result<Vec<String>, TillkitError> {
    blocking(move || {
        Ok(recovery::kept_files(&config.core_config())?
            .iter()
            .map(|p| p.display().to_string())
            .collect())
    })
    .await
}

/// Resets the keychain's receipt book (its `.receipts` entry) when that entry keeps the
/// register from working: only after a person confirmed it. The next open skips every
/// receipt counter ahead (see `TillkitCore.receiptBookNote`) and the server is asked for
/// its highest. Call it with no core open (`Busy` while one is).
#[uniffi::export]
pub async fn reset_receipt_book(config: CoreConfig) -> Result<(), TillkitError> {
    blocking(move || Ok(Till::reset_receipt_book(&config.core_config())?)).await
}
