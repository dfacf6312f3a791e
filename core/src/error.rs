//! The core's one error type, with the detail a cashier-facing app can act on.
//! It never carries key material, tokens or card references in its messages.

use rust_decimal::Decimal;
use std::path::PathBuf;

use crate::offline_limits::{Measure, OfflineLimit};
use crate::tax::TaxError;

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core, each variant actionable by the app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database exists but the keychain holds no key for it; the file is kept.
    #[error("the database key is missing from the keychain; the database file was kept")]
    KeyMissing,
    /// The keychain key does not open this database; the file is kept.
    #[error("the keychain key does not match the database; the database file was kept")]
    KeyMismatch,
    /// The keychain could not be read or written.
    #[error("keychain error: {0}")]
    Keychain(String),
    /// A key is stored but this device cannot unwrap it (its wrapping key is gone, e.g.
    /// app data moved to a new phone without its Keystore key); the database is kept and
    /// no new key is made.
    #[error(
        "the stored database key cannot be unlocked on this device ({0}); the database file was kept"
    )]
    KeyUnreadable(String),
    /// The store cannot be opened with its key (damaged pages, a truncated or missing
    /// file); nothing was opened and no new store was made. The damaged file(s) were kept
    /// under the names in `kept`. Opening answers this until `Till::recover` salvages the
    /// sales or a person confirms `Till::start_fresh`.
    #[error(
        "the database needs recovery ({reason}); kept: {}",
        display_paths(kept)
    )]
    NeedsRecovery { reason: String, kept: Vec<PathBuf> },
    /// A page of the open database failed its check (SQLITE_CORRUPT); the store has been
    /// marked for recovery and opening it again answers `NeedsRecovery`.
    #[error("the database file is damaged: {0}")]
    Damaged(String),
    /// The database was written by a newer app (schema `found`, this app knows up to
    /// `supported`); it was not touched.
    #[error(
        "the database was written by a newer app (schema {found}, this app supports {supported}); it was not touched"
    )]
    NewerSchema { found: u32, supported: u32 },
    /// The database's write-ahead log was deleted while it held committed sales; the
    /// files are kept as they are for recovery.
    #[error(
        "the database's write-ahead log is missing; committed sales would be lost, so nothing was opened"
    )]
    WalMissing,
    /// Another till (in this process or another) has the store open, or a recovery of it is
    /// running: its lock file `tillkit.lock` is held. Nothing was opened or changed; try
    /// again once the other one has closed.
    #[error(
        "the database is in use by another open till or a recovery; nothing was opened or changed"
    )]
    Busy,
    /// The device is out of storage; nothing was written.
    #[error("the device storage is full; nothing was written")]
    StorageFull,
    /// Any other storage failure; nothing was written.
    #[error("storage error: {0}")]
    Storage(String),
    /// The input was refused; nothing was written.
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// A product, barcode, sale or discount that does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The product exists but is not for sale.
    #[error("product {product_id} is inactive and cannot be sold")]
    ProductInactive { product_id: String },
    /// A sale needs at least one line.
    #[error("the cart is empty")]
    EmptyCart,
    /// Payments do not cover the amount due.
    #[error("payments of {paid} do not cover {due}")]
    Underpaid { due: Decimal, paid: Decimal },
    /// This operation cannot be done offline (e.g. gift cards, online-only discounts).
    #[error("{what} needs a connection to the server")]
    NeedsConnection { what: String },
    /// The sale would pass one of the store's offline limits (`limit` names it); nothing was
    /// written. Cash, or another tender, may still be allowed.
    #[error(
        "offline limit reached ({}): {attempted} against a limit of {max}; the sale was not written",
        limit.describe()
    )]
    OfflineLimit {
        limit: OfflineLimit,
        attempted: Measure,
        max: Measure,
    },
    /// No sale has receipt number `receipt`: this register never printed it (checked on the
    /// device, without the network, when the number is this register's own and the device
    /// holds every sale the register rang), or the store's server holds no such sale. The
    /// cashier should check the number on the receipt; nothing was written.
    #[error("no sale has receipt number {receipt}; nothing was written")]
    UnknownReceipt { receipt: String },
    /// A refund asks for more of a line than was sold minus earlier refunds; nothing was
    /// written.
    #[error(
        "line {line_no}: refunding {requested} is more than is left (sold {sold}, refunded {refunded} already); nothing was written"
    )]
    OverRefund {
        line_no: u32,
        requested: Decimal,
        sold: Decimal,
        refunded: Decimal,
    },
    /// A card refund asks more back to the card than the sale paid by card less what earlier
    /// refunds gave back to card; nothing was written. At most `paid_by_card -
    /// refunded_to_card` can go back to the card.
    #[error(
        "a card refund of {requested} is more than the {paid_by_card} paid by card less {refunded_to_card} already refunded to card; nothing was written"
    )]
    RefundExceedsCard {
        requested: Decimal,
        paid_by_card: Decimal,
        refunded_to_card: Decimal,
    },
    /// The cart's sale was already written as `receipt_no` and this call asks something
    /// else of it (other payments, other lines, an edit of its cart); nothing was written.
    /// Completing the same cart with the same payments returns that sale instead.
    #[error(
        "sale {sale_id} was already completed as receipt {receipt_no}: {reason}; nothing was written"
    )]
    SaleAlreadyCompleted {
        sale_id: String,
        receipt_no: String,
        reason: String,
    },
    /// A refund with this `refund_id` was already written as `receipt_no`, for another sale,
    /// other lines or another tender; nothing was written. The same request returns that
    /// refund instead; a different refund needs its own id.
    #[error(
        "refund {refund_id} was already given as receipt {receipt_no}: {reason}; nothing was written"
    )]
    RefundAlreadyGiven {
        refund_id: String,
        receipt_no: String,
        reason: String,
    },
    /// A catalogue payload was refused whole; the previous catalogue stays.
    #[error("catalogue rejected: {0}")]
    InvalidCatalog(String),
    /// No catalogue has been loaded for this store yet.
    #[error("no catalogue loaded for store {store_id}")]
    NoCatalog { store_id: String },
    /// An operation that needs an open session was called without one.
    #[error("no session is open")]
    NoSession,
    /// Tax settings or tax inputs were refused.
    #[error("tax: {0}")]
    Tax(#[from] TaxError),
    /// The server refused the pairing code (unknown, expired or already used): ask the
    /// operator for a new one. Nothing was stored.
    #[error("pairing refused: {reason}")]
    PairingRefused { reason: String },
    /// Sync could not be set up (its runtime or HTTP client); the cause is the source.
    #[error("sync: {reason}")]
    Sync {
        reason: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// Shorthand for an `InvalidInput` error.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            reason: reason.into(),
        }
    }

    /// True for failures of the system (storage, needing the server), as opposed to a
    /// cashier's input being refused; the outage success rate counts only these.
    pub fn is_system_failure(&self) -> bool {
        matches!(
            self,
            Error::StorageFull
                | Error::Storage(_)
                | Error::NeedsConnection { .. }
                | Error::Damaged(_)
                | Error::NeedsRecovery { .. }
        )
    }

    /// A sync set-up failure with its cause.
    pub fn sync(reason: &str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Sync {
            reason: reason.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// The message and every cause, joined (for an app that shows one line).
    pub fn chain(&self) -> String {
        crate::sync::error::chain(self)
    }

    /// Shorthand for a `NotFound` error.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Error::StorageFull,
            Some(ErrorCode::NotADatabase) => Error::KeyMismatch,
            Some(ErrorCode::DatabaseCorrupt) => Error::Damaged(e.to_string()),
            _ => Error::Storage(e.to_string()),
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Storage(format!("stored JSON unreadable: {e}"))
    }
}
