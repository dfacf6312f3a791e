//! The contract between a register and its server: every limit a sale or a request must
//! keep, defined once here and read by both the device and the server. Values only; no checks.

use rust_decimal::Decimal;

/// Longest store, register or staff id, in characters.
pub const MAX_ID_CHARS: usize = 64;

/// Longest free-text field (product id, SKU, name, tax category, rate id and label,
/// receipt number, catalogue cursor), in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// Longest card terminal reference, in characters.
pub const MAX_REFERENCE_CHARS: usize = 128;

/// Largest quantity on one line (100000).
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);

/// Decimal places allowed in a quantity: grams of goods sold by the kilogram.
pub const QUANTITY_DECIMALS: u32 = 3;

/// Largest amount anywhere in a sale (price, line amount, total, each payment, tendered,
/// change): 10^12.
// 10^12 = 0xE8_D4A5_1000, split into the low and middle 32-bit words of the mantissa.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// Most lines one sale may have.
pub const MAX_LINES_PER_SALE: usize = 10_000;

/// Most payments one sale may have.
pub const MAX_PAYMENTS_PER_SALE: usize = 100;

/// Largest upload request body the server accepts, in bytes (8 MiB).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Most sales in one upload request.
pub const MAX_BATCH_SALES: usize = 500;

/// Longest reason the server gives for a sale it rejects or finds in conflict, in
/// characters (longer ones are cut).
pub const MAX_REASON_CHARS: usize = 1000;

/// Largest batch answer a device reads, in bytes: one result per sale of the largest batch,
/// each with the longest reason (4 bytes a character) and room for its id and status.
pub const MAX_BATCH_RESPONSE_BYTES: usize = 64 + MAX_BATCH_SALES * (MAX_REASON_CHARS * 4 + 256);

/// Largest stored sale record, in bytes: one sale alone always fits in a request the
/// server accepts (`MAX_BODY_BYTES` less the batch wrapper).
pub const MAX_SALE_BYTES: usize = MAX_BODY_BYTES - crate::sync::protocol::BATCH_OVERHEAD;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_and_quantity_ceilings_are_the_documented_figures() {
        assert_eq!(MAX_AMOUNT.to_string(), "1000000000000");
        assert_eq!(MAX_QUANTITY.to_string(), "100000");
    }
}
