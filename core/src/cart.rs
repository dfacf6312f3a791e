//! The cart being rung up: lines with the price and tax snapshot the cashier saw, live
//! totals, and the id its sale will have. It only lives in memory; nothing is written until
//! the sale completes, and once it is, the cart no longer changes.

use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{DiscountKind, DiscountRule, DiscountScope, Product};
use crate::error::{Error, Result};
use crate::money;
use crate::tax::{self, Discount, LineInput, TaxSettings, Totals};

/// A discount as applied to a line or the cart, remembered with its rule id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedDiscount {
    pub discount_id: String,
    pub label: String,
    pub discount: Discount,
}

/// One line of the cart, holding the product as it was when added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    /// Stable id of the line within its cart.
    pub line_id: u64,
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub unit_price: Decimal,
    pub tax_category: Option<String>,
    pub stock_tracked: bool,
    pub quantity: Decimal,
    pub discount: Option<AppliedDiscount>,
}

/// A cart for one store, with the tax settings it was opened with and the id of its sale.
#[derive(Debug, Clone, PartialEq)]
pub struct Cart {
    /// The id its sale is written with, made with the cart: completing the same cart again
    /// (a retry after a call whose answer was lost) finds that sale instead of writing
    /// another.
    pub(crate) sale_id: Uuid,
    /// The receipt number of its sale, once this cart saw it written; edits are refused.
    written: OnceLock<String>,
    pub(crate) store_id: String,
    pub(crate) tax: TaxSettings,
    /// Row id of `tax` in the store's settings history; sales point at it.
    pub(crate) tax_settings_id: i64,
    pub(crate) lines: Vec<CartLine>,
    pub(crate) cart_discount: Option<AppliedDiscount>,
    max_lines: usize,
    next_line_id: u64,
}

/// Checks a quantity: positive, at most 3 decimals (weighed goods), not absurd.
pub fn check_quantity(q: Decimal) -> Result<()> {
    if q <= Decimal::ZERO {
        return Err(Error::invalid(format!("quantity {q} must be positive")));
    }
    if money::decimals(q) > 3 {
        return Err(Error::invalid(format!(
            "quantity {q} has more than 3 decimals"
        )));
    }
    if q > tax::MAX_QUANTITY {
        return Err(Error::invalid(format!(
            "quantity {q} is above {}",
            tax::MAX_QUANTITY
        )));
    }
    Ok(())
}

impl Cart {
    pub(crate) fn new(
        store_id: &str,
        (tax_settings_id, tax): (i64, TaxSettings),
        max_lines: usize,
    ) -> Self {
        Cart {
            sale_id: Uuid::now_v7(),
            written: OnceLock::new(),
            store_id: store_id.into(),
            tax,
            tax_settings_id,
            lines: Vec::new(),
            cart_discount: None,
            max_lines,
            next_line_id: 1,
        }
    }

    /// The id its sale is (or will be) written with.
    pub fn sale_id(&self) -> Uuid {
        self.sale_id
    }

    /// The receipt number of its sale once this cart saw it completed.
    pub fn completed_receipt(&self) -> Option<&str> {
        self.written.get().map(String::as_str)
    }

    /// Remembers that the sale was written as `receipt_no` (from then on edits are refused).
    pub(crate) fn mark_written(&self, receipt_no: &str) {
        let _ = self.written.set(receipt_no.to_string());
    }

    /// Refuses an edit once the sale is written: the receipt was printed with these lines.
    fn check_open(&self) -> Result<()> {
        match self.written.get() {
            Some(receipt_no) => Err(Error::SaleAlreadyCompleted {
                sale_id: self.sale_id.to_string(),
                receipt_no: receipt_no.clone(),
                reason: "its cart cannot change any more; start a new cart".into(),
            }),
            None => Ok(()),
        }
    }

    /// The store this cart sells for.
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// The tax settings this cart's totals use (fixed when the cart was opened).
    pub fn tax_settings(&self) -> &TaxSettings {
        &self.tax
    }

    /// The lines, in the order they were added.
    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    /// The cart-wide discount, if any.
    pub fn cart_discount(&self) -> Option<&AppliedDiscount> {
        self.cart_discount.as_ref()
    }

    /// Adds a product; the same product without a line discount is merged into one line.
    pub fn add(&mut self, product: &Product, quantity: Decimal) -> Result<u64> {
        self.check_open()?;
        if !product.active {
            return Err(Error::ProductInactive {
                product_id: product.id.clone(),
            });
        }
        check_quantity(quantity)?;
        if let Some(line) = self.lines.iter_mut().find(|l| {
            l.product_id == product.id && l.discount.is_none() && l.unit_price == product.price
        }) {
            let merged = line.quantity + quantity;
            check_quantity(merged)?;
            line.quantity = merged;
            return Ok(line.line_id);
        }
        if self.lines.len() >= self.max_lines {
            return Err(Error::invalid(format!(
                "a cart holds at most {} lines",
                self.max_lines
            )));
        }
        let line_id = self.next_line_id;
        self.next_line_id += 1;
        self.lines.push(CartLine {
            line_id,
            product_id: product.id.clone(),
            sku: product.sku.clone(),
            name: product.name.clone(),
            unit_price: product.price,
            tax_category: product.tax_category.clone(),
            stock_tracked: product.stock_tracked,
            quantity,
            discount: None,
        });
        Ok(line_id)
    }

    fn line_mut(&mut self, line_id: u64) -> Result<&mut CartLine> {
        self.lines
            .iter_mut()
            .find(|l| l.line_id == line_id)
            .ok_or_else(|| Error::not_found(format!("cart line {line_id}")))
    }

    /// Sets a line's quantity.
    pub fn set_quantity(&mut self, line_id: u64, quantity: Decimal) -> Result<()> {
        self.check_open()?;
        check_quantity(quantity)?;
        self.line_mut(line_id)?.quantity = quantity;
        Ok(())
    }

    /// Removes a line.
    pub fn remove(&mut self, line_id: u64) -> Result<()> {
        self.check_open()?;
        let before = self.lines.len();
        self.lines.retain(|l| l.line_id != line_id);
        if self.lines.len() == before {
            return Err(Error::not_found(format!("cart line {line_id}")));
        }
        Ok(())
    }

    /// Applies a catalogue discount to a line (`line_id`) or the cart (`None`).
    /// `value` is the cashier's figure for open discounts; fixed ones ignore it.
    pub fn apply_discount(
        &mut self,
        rule: &DiscountRule,
        line_id: Option<u64>,
        value: Option<Decimal>,
    ) -> Result<()> {
        self.check_open()?;
        if !rule.offline_allowed {
            return Err(Error::NeedsConnection {
                what: format!("discount {:?}", rule.label),
            });
        }
        let value = match (rule.value, value) {
            (Some(fixed), _) => fixed,
            (None, Some(v)) => v,
            (None, None) => {
                return Err(Error::invalid(format!(
                    "discount {:?} needs a value",
                    rule.label
                )));
            }
        };
        if value < Decimal::ZERO || rule.max.is_some_and(|max| value > max) {
            return Err(Error::invalid(format!(
                "discount {:?} value {value} is outside its limit",
                rule.label
            )));
        }
        let discount = match rule.kind {
            DiscountKind::Percent => Discount::Percent(value),
            DiscountKind::Amount => Discount::Amount(value),
        };
        let applied = AppliedDiscount {
            discount_id: rule.id.clone(),
            label: rule.label.clone(),
            discount,
        };
        match (rule.scope, line_id) {
            (DiscountScope::Line, Some(id)) => {
                let previous = self.line_mut(id)?.discount.replace(applied);
                // Refuse a discount the tax engine cannot apply (e.g. more than the line).
                if let Err(e) = self.totals() {
                    self.line_mut(id)?.discount = previous;
                    return Err(e);
                }
            }
            (DiscountScope::Cart, None) => {
                let previous = self.cart_discount.replace(applied);
                if let Err(e) = self.totals() {
                    self.cart_discount = previous;
                    return Err(e);
                }
            }
            (DiscountScope::Line, None) => {
                return Err(Error::invalid("a line discount needs a line"));
            }
            (DiscountScope::Cart, Some(_)) => {
                return Err(Error::invalid("a cart discount applies to no line"));
            }
        }
        Ok(())
    }

    /// Removes the discount of a line (`Some`) or of the cart (`None`).
    pub fn clear_discount(&mut self, line_id: Option<u64>) -> Result<()> {
        self.check_open()?;
        match line_id {
            Some(id) => self.line_mut(id)?.discount = None,
            None => self.cart_discount = None,
        }
        Ok(())
    }

    /// The tax engine's inputs for this cart, in line order.
    pub(crate) fn tax_inputs(&self) -> Vec<LineInput> {
        self.lines
            .iter()
            .map(|l| LineInput {
                unit_price: l.unit_price,
                quantity: l.quantity,
                category_id: l.tax_category.clone(),
                discount: l.discount.as_ref().map(|d| d.discount.clone()),
            })
            .collect()
    }

    /// Live totals: amounts, discounts, per-line and per-rate tax.
    pub fn totals(&self) -> Result<Totals> {
        Ok(tax::compute(
            &self.tax,
            &self.tax_inputs(),
            self.cart_discount.as_ref().map(|d| &d.discount),
        )?)
    }
}
