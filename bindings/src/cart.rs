//! `CartHandle`: the cart being rung up, held in memory behind a mutex for the apps. Calls
//! that read the catalogue are async; the rest work on memory and return at once. It
//! parses the app's decimal strings and forwards to the core's cart; nothing is stored here.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tillkit_core::cart::Cart;

use crate::core::TillkitCore;
use crate::error::TillkitError;
use crate::records::{CartLineRecord, TotalsRecord, parse_decimal, parse_discount_value};
use crate::runtime::blocking;

/// A cart of the core that made it. Safe to use from any thread.
#[derive(uniffi::Object)]
pub struct CartHandle {
    core: Arc<TillkitCore>,
    cart: Mutex<Cart>,
}

impl CartHandle {
    pub(crate) fn new(core: Arc<TillkitCore>, cart: Cart) -> Self {
        CartHandle {
            core,
            cart: Mutex::new(cart),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cart> {
        // A poisoned cart is still consistent: core cart operations check before they change.
        self.cart.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the cart, holding its lock.
    pub(crate) fn with_cart<T>(
        &self,
        f: impl FnOnce(&mut Cart) -> Result<T, TillkitError>,
    ) -> Result<T, TillkitError> {
        f(&mut self.lock())
    }
}

#[uniffi::export]
impl CartHandle {
    /// Adds a product by id; `quantity` is a decimal string ("1", "0.375" kg). Returns the
    /// line id (the same product is merged into one line). Reads the catalogue: async.
    pub async fn add_product(
        self: Arc<Self>,
        product_id: String,
        quantity: String,
    ) -> Result<u64, TillkitError> {
        let quantity = parse_decimal("quantity", &quantity)?;
        let till = self.core.till()?;
        blocking(move || self.with_cart(|c| Ok(till.add_product(c, &product_id, quantity)?))).await
    }

    /// Adds a product by barcode; returns the line id. Reads the catalogue: async.
    pub async fn add_barcode(
        self: Arc<Self>,
        code: String,
        quantity: String,
    ) -> Result<u64, TillkitError> {
        let quantity = parse_decimal("quantity", &quantity)?;
        let till = self.core.till()?;
        blocking(move || self.with_cart(|c| Ok(till.add_barcode(c, &code, quantity)?))).await
    }

    /// Sets a line's quantity (decimal string).
    pub fn set_quantity(&self, line_id: u64, quantity: String) -> Result<(), TillkitError> {
        let quantity = parse_decimal("quantity", &quantity)?;
        self.with_cart(|c| Ok(c.set_quantity(line_id, quantity)?))
    }

    /// Removes a line.
    pub fn remove(&self, line_id: u64) -> Result<(), TillkitError> {
        self.with_cart(|c| Ok(c.remove(line_id)?))
    }

    /// Applies a catalogue discount to a line, or to the whole cart when `line_id` is null.
    /// `value` is the cashier's figure for open discounts (decimal string); fixed ones ignore
    /// it. Reads the catalogue: async.
    pub async fn apply_discount(
        self: Arc<Self>,
        discount_id: String,
        line_id: Option<u64>,
        value: Option<String>,
    ) -> Result<(), TillkitError> {
        let value = parse_discount_value(value)?;
        let till = self.core.till()?;
        blocking(move || {
            self.with_cart(|c| Ok(till.apply_discount(c, &discount_id, line_id, value)?))
        })
        .await
    }

    /// Removes the discount of a line, or of the cart when `line_id` is null.
    pub fn clear_discount(&self, line_id: Option<u64>) -> Result<(), TillkitError> {
        self.with_cart(|c| Ok(c.clear_discount(line_id)?))
    }

    /// The id this cart's sale is written with (made with the cart). Completing this cart
    /// again after a call whose answer was lost returns that sale instead of a second one.
    pub fn sale_id(&self) -> String {
        self.lock().sale_id().to_string()
    }

    /// The lines, in the order they were added.
    pub fn lines(&self) -> Vec<CartLineRecord> {
        self.lock().lines().iter().map(Into::into).collect()
    }

    /// Live totals: amounts, discounts, per-line and per-rate tax.
    pub fn totals(&self) -> Result<TotalsRecord, TillkitError> {
        self.with_cart(|c| {
            let totals = c.totals()?;
            Ok(TotalsRecord::new(c.tax_settings(), c.lines(), &totals))
        })
    }
}
