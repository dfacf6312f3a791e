//! The one error the apps see, converted from the core's error in one place.
//! It carries only what a cashier-facing app can act on; never keys, tokens or card references.

use tillkit_core::Error;

/// Everything a Tillkit call can fail with. Kotlin sees `TillkitException.<Variant>`,
/// Swift `TillkitError.<variant>`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TillkitError {
    /// The database exists but the keychain holds no key for it; the file was kept.
    #[error("the database key is missing from the keychain; the database file was kept")]
    KeyMissing,
    /// The keychain key does not open this database; the file was kept.
    #[error("the keychain key does not match the database; the database file was kept")]
    KeyMismatch,
    /// A key is stored but this device cannot unwrap it (e.g. moved to a new phone without
    /// its Keystore key); the database was kept and no new key was made.
    #[error(
        "the stored database key cannot be unlocked on this device; the database file was kept: {reason}"
    )]
    KeyUnreadable { reason: String },
    /// The database cannot be opened with its key (damaged, truncated or missing); nothing
    /// was opened and no empty store was made. The damaged files were kept at `kept`.
    /// Show the "database needs recovery" screen: `recoverDatabase` salvages the sales;
    /// `startFreshDatabase` only after a person confirmed it.
    #[error("the database needs recovery: {reason}")]
    NeedsRecovery { reason: String, kept: Vec<String> },
    /// The database was written by a newer version of the app; it was not touched.
    #[error(
        "the database was written by a newer app (schema {found}, this app supports {supported})"
    )]
    NewerSchema { found: u32, supported: u32 },
    /// The database's write-ahead log was deleted while it held committed sales; nothing
    /// was opened and the files were kept for recovery. Do not delete the data directory.
    #[error(
        "the database's write-ahead log is missing; nothing was opened and the files were kept"
    )]
    WalMissing,
    /// Another core (in this process or another) has the database open, or a recovery of it
    /// is running; nothing was opened or changed. Close the other one, then try again.
    #[error("the database is in use by another open core or a recovery; nothing was opened")]
    Busy,
    /// The device is out of storage; nothing was written.
    #[error("the device storage is full; nothing was written")]
    StorageFull,
    /// The input was refused (bad quantity, amount, identifier...); nothing was written.
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// A product, barcode, cart line, sale or discount that does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The product exists but is not for sale.
    #[error("product {product_id} is inactive and cannot be sold")]
    ProductInactive { product_id: String },
    /// A sale needs at least one line.
    #[error("the cart is empty")]
    EmptyCart,
    /// Payments do not cover the amount due (decimal strings).
    #[error("payments of {paid} do not cover {due}")]
    Underpaid { due: String, paid: String },
    /// This cannot be done offline (gift cards, online-only discounts...).
    #[error("{what} needs a connection to the server")]
    NeedsConnection { what: String },
    /// No sale has receipt number `receipt`: this register never printed it, or the store's
    /// server holds no such sale; nothing was written. Ask the cashier to check the number.
    #[error("no sale has receipt number {receipt}")]
    UnknownReceipt { receipt: String },
    /// A refund asks for more of a sale's line than is left to refund; nothing was written.
    /// Quantities are decimal strings: `sold` on the sale, `refunded` by earlier refunds,
    /// so at most `sold - refunded` can still come back.
    #[error(
        "line {line_no}: {requested} asked back, but {sold} were sold and {refunded} already refunded"
    )]
    OverRefund {
        line_no: u32,
        requested: String,
        sold: String,
        refunded: String,
    },
    /// A card refund asks more back to the card than is left of what the sale paid by card;
    /// nothing was written. Amounts are decimal strings: `paid_by_card` on the sale,
    /// `refunded_to_card` by earlier refunds, so at most `paid_by_card - refunded_to_card`
    /// can go back to the card; the rest can go back in cash.
    #[error(
        "a card refund of {requested}: {paid_by_card} was paid by card and {refunded_to_card} already refunded to card"
    )]
    RefundExceedsCard {
        requested: String,
        paid_by_card: String,
        refunded_to_card: String,
    },
    /// The sale would pass the store's offline limit `limit`; nothing was written. Another
    /// tender (often cash) may still be allowed; the limits reset once the queue has drained.
    /// `attempted` and `max` are decimal strings for amounts, whole seconds for time.
    #[error("offline limit {limit:?} reached: {attempted} against a limit of {max}")]
    OfflineLimitReached {
        limit: crate::offline_limits::OfflineLimitKind,
        attempted: String,
        max: String,
    },
    /// This cart's sale was already completed as `receipt_no` and the call asked something
    /// else of it (other payments, or an edit of the cart); nothing was written. Completing
    /// the same cart with the same payments returns that sale; the next customer needs a
    /// new cart.
    #[error("sale {sale_id} was already completed as receipt {receipt_no}: {reason}")]
    SaleAlreadyCompleted {
        sale_id: String,
        receipt_no: String,
        reason: String,
    },
    /// A refund with this `refund_id` was already given as `receipt_no` for another sale,
    /// other lines or another tender; nothing was written. The same request returns that
    /// refund; a new refund needs a new id.
    #[error("refund {refund_id} was already given as receipt {receipt_no}: {reason}")]
    RefundAlreadyGiven {
        refund_id: String,
        receipt_no: String,
        reason: String,
    },
    /// The text given to `verifyJournalExport` is not a journal export (empty, not JSON
    /// Lines, another format, a record line that is not a record); nothing was checked.
    #[error("not a journal export: {reason}")]
    InvalidJournalExport { reason: String },
    /// A catalogue payload was refused whole; the previous catalogue stays.
    #[error("catalogue rejected: {reason}")]
    InvalidCatalog { reason: String },
    /// No catalogue has reached this device for the store yet: wait for sync.
    #[error("no catalogue loaded for store {store_id}")]
    NoCatalog { store_id: String },
    /// The call needs an open session (`login`).
    #[error("no session is open")]
    NoSession,
    /// The keychain could not be read or written.
    #[error("keychain error: {reason}")]
    Keychain { reason: String },
    /// Any other storage failure; nothing was written.
    #[error("storage error: {reason}")]
    Storage { reason: String },
    /// Sync could not start or failed (network, server, token).
    #[error("sync: {reason}")]
    Sync { reason: String },
    /// The server refused the pairing code (unknown, expired or already used): ask the
    /// operator for a new one. No token was stored.
    #[error("pairing refused: {reason}")]
    PairingRefused { reason: String },
    /// `TillkitCore.shutdown()` was called; open a new core to go on.
    #[error("this core was shut down")]
    Closed,
    /// A failure inside the core that is not the app's doing (a caught panic); nothing was
    /// written half. Report it.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl From<Error> for TillkitError {
    fn from(e: Error) -> Self {
        // `Sync` keeps its cause as a source; the app gets the whole chain as one reason.
        if let Error::Sync { .. } = e {
            return TillkitError::Sync { reason: e.chain() };
        }
        match e {
            Error::KeyMissing => TillkitError::KeyMissing,
            Error::KeyMismatch => TillkitError::KeyMismatch,
            Error::KeyUnreadable(reason) => TillkitError::KeyUnreadable { reason },
            Error::Keychain(reason) => TillkitError::Keychain { reason },
            Error::NeedsRecovery { reason, kept } => TillkitError::NeedsRecovery {
                reason,
                kept: kept.iter().map(|p| p.display().to_string()).collect(),
            },
            Error::Damaged(reason) => TillkitError::NeedsRecovery {
                reason,
                kept: Vec::new(),
            },
            Error::NewerSchema { found, supported } => {
                TillkitError::NewerSchema { found, supported }
            }
            Error::WalMissing => TillkitError::WalMissing,
            Error::Busy => TillkitError::Busy,
            Error::StorageFull => TillkitError::StorageFull,
            Error::Storage(reason) => TillkitError::Storage { reason },
            Error::InvalidInput { reason } => TillkitError::InvalidInput { reason },
            Error::NotFound { what } => TillkitError::NotFound { what },
            Error::ProductInactive { product_id } => TillkitError::ProductInactive { product_id },
            Error::EmptyCart => TillkitError::EmptyCart,
            Error::Underpaid { due, paid } => TillkitError::Underpaid {
                due: due.to_string(),
                paid: paid.to_string(),
            },
            Error::NeedsConnection { what } => TillkitError::NeedsConnection { what },
            Error::OfflineLimit {
                limit,
                attempted,
                max,
            } => {
                let text = |m: tillkit_core::offline_limits::Measure| match m {
                    tillkit_core::offline_limits::Measure::Money(d) => d.to_string(),
                    tillkit_core::offline_limits::Measure::Millis(ms) => (ms / 1000).to_string(),
                };
                TillkitError::OfflineLimitReached {
                    limit: limit.into(),
                    attempted: text(attempted),
                    max: text(max),
                }
            }
            Error::UnknownReceipt { receipt } => TillkitError::UnknownReceipt { receipt },
            Error::OverRefund {
                line_no,
                requested,
                sold,
                refunded,
            } => TillkitError::OverRefund {
                line_no,
                requested: requested.to_string(),
                sold: sold.to_string(),
                refunded: refunded.to_string(),
            },
            Error::RefundExceedsCard {
                requested,
                paid_by_card,
                refunded_to_card,
            } => TillkitError::RefundExceedsCard {
                requested: requested.to_string(),
                paid_by_card: paid_by_card.to_string(),
                refunded_to_card: refunded_to_card.to_string(),
            },
            Error::SaleAlreadyCompleted {
                sale_id,
                receipt_no,
                reason,
            } => TillkitError::SaleAlreadyCompleted {
                sale_id,
                receipt_no,
                reason,
            },
            Error::RefundAlreadyGiven {
                refund_id,
                receipt_no,
                reason,
            } => TillkitError::RefundAlreadyGiven {
                refund_id,
                receipt_no,
                reason,
            },
            Error::InvalidCatalog(reason) => TillkitError::InvalidCatalog { reason },
            Error::NoCatalog { store_id } => TillkitError::NoCatalog { store_id },
            Error::NoSession => TillkitError::NoSession,
            Error::PairingRefused { reason } => TillkitError::PairingRefused { reason },
            // Tax refusals come from the cart's own figures (quantities, discounts).
            Error::Tax(e) => TillkitError::InvalidInput {
                reason: e.to_string(),
            },
            Error::Sync { reason, .. } => TillkitError::Sync { reason },
        }
    }
}

impl TillkitError {
    /// Shorthand for an `InvalidInput` error.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        TillkitError::InvalidInput {
            reason: reason.into(),
        }
    }
}
