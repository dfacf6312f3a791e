//! Offline tax engine: line amounts, discounts, per-rate taxes, totals and cash rounding.
//! It never touches storage, the clock or floating point, and never panics: bad input is a `TaxError`.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::money::{self, MAX_AMOUNT, RoundingRule, decimals, round_money};

/// Quantity limits of the device/server contract, used by the tax engine too.
pub use crate::limits::{MAX_QUANTITY, QUANTITY_DECIMALS};
/// Decimal places allowed in a rate percent; real rates need at most four (9.975, 8.875).
pub const RATE_PERCENT_DECIMALS: u32 = 6;

/// One tax rate, e.g. "GST 5%".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxRate {
    /// Stable identifier referenced by categories.
    pub id: String,
    /// Name printed on receipts.
    pub label: String,
    /// Percent in [0, 100], at most `RATE_PERCENT_DECIMALS` decimals.
    pub percent: Decimal,
    /// Charged on the net plus the taxes of the earlier rates of the same category.
    #[serde(default)]
    pub compound: bool,
}

/// A group of products taxed alike; its rates apply in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxCategory {
    /// Stable identifier referenced by sale lines.
    pub id: String,
    /// Rates applied, in order (matters for compound rates); may be empty (exempt).
    pub rate_ids: Vec<String>,
}

/// Whether shelf prices include tax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceMode {
    /// Tax is added on top of prices (US, Canada).
    TaxExclusive,
    /// Prices are what the customer pays; tax is extracted (EU, UK, AU, JP).
    TaxInclusive,
}

/// Where taxes are rounded to minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingLevel {
    /// Each line's tax per rate is rounded, then summed.
    Line,
    /// Each rate's tax is summed unrounded over the sale and rounded once.
    Invoice,
}

/// Rounding of cash payments to the smallest coin in circulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashRounding {
    /// Smallest coin, e.g. 0.05; a positive multiple of the minor unit.
    pub increment: Decimal,
    /// How a total between two increments is rounded (half up, half even, down or up).
    pub rule: RoundingRule,
}

/// Everything the engine needs to know about a shop's taxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxSettings {
    /// ISO 4217 code; see `money::minor_units` for those supported.
    pub currency: String,
    /// Whether prices include tax.
    pub price_mode: PriceMode,
    /// Rule used at every rounding site (amounts, discounts, taxes).
    pub rounding_rule: RoundingRule,
    /// Whether taxes are rounded per line or per invoice.
    pub rounding_level: RoundingLevel,
    /// All rates; the breakdown follows this order.
    pub rates: Vec<TaxRate>,
    /// All categories.
    pub categories: Vec<TaxCategory>,
    /// Cash rounding; `None` means cash is paid to the minor unit.
    #[serde(default)]
    pub cash_rounding: Option<CashRounding>,
}

/// A discount on a line or on the whole cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Discount {
    /// Percent in [0, 100] of the amount it applies to.
    Percent(Decimal),
    /// Fixed amount in the currency, at most the amount it applies to.
    Amount(Decimal),
}

/// One line of a cart as the engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineInput {
    /// Price of one unit, in the settings' price mode.
    pub unit_price: Decimal,
    /// Units or weight; > 0, at most `MAX_QUANTITY` and `QUANTITY_DECIMALS` decimals.
    pub quantity: Decimal,
    /// Tax category; `None` means untaxed.
    pub category_id: Option<String>,
    /// Discount on this line only.
    pub discount: Option<Discount>,
}

/// Tax of one rate, on a line or summed over the sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxPortion {
    /// The rate's id.
    pub rate_id: String,
    /// The rate's receipt label.
    pub label: String,
    /// The rate's percent.
    pub percent: Decimal,
    /// Net the rate applies to (plus earlier taxes for a compound rate).
    pub taxable_base: Decimal,
    /// Tax of this rate.
    pub tax: Decimal,
}

/// Amounts of one line; every figure is in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineTotals {
    /// Unit price times quantity, rounded.
    pub amount: Decimal,
    /// This line's own discount.
    pub line_discount: Decimal,
    /// This line's share of the cart discount.
    pub cart_discount: Decimal,
    /// Amount after discounts, without tax.
    pub net: Decimal,
    /// Sum of `taxes`.
    pub tax: Decimal,
    /// `net + tax`.
    pub gross: Decimal,
    /// Tax per rate, in the category's order.
    pub taxes: Vec<TaxPortion>,
}

/// Amounts of a whole sale; every figure is in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// One entry per input line, same order.
    pub lines: Vec<LineTotals>,
    /// Sum of line amounts.
    pub subtotal: Decimal,
    /// Sum of line and cart discounts.
    pub discount_total: Decimal,
    /// Sum of line nets.
    pub net_total: Decimal,
    /// Sum of line taxes, and of the breakdown.
    pub tax_total: Decimal,
    /// `net_total + tax_total`: what the customer pays before cash rounding.
    pub total: Decimal,
    /// One portion per rate used, in the order of `TaxSettings::rates`.
    pub breakdown: Vec<TaxPortion>,
}

/// What a customer paying cash hands over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashDue {
    /// Amount to collect in cash.
    pub due: Decimal,
    /// `due - total`; positive when rounded up.
    pub rounding: Decimal,
}

/// Why settings or a cart were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaxError {
    /// The currency has no known minor unit.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// A line names a category the settings do not define.
    #[error("unknown tax category {0:?}")]
    UnknownCategory(String),
    /// A category names a rate the settings do not define.
    #[error("unknown tax rate {0:?}")]
    UnknownRate(String),
    /// A rate's percent is unusable.
    #[error("tax rate {id:?} is invalid: {reason}")]
    InvalidRate {
        /// The rate's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Settings are inconsistent (duplicate ids, bad cash rounding, ...).
    #[error("invalid tax settings: {0}")]
    InvalidSettings(String),
    /// A unit price is negative.
    #[error("invalid price: {0}")]
    InvalidPrice(String),
    /// A quantity is not positive or too large.
    #[error("invalid quantity: {0}")]
    InvalidQuantity(String),
    /// A value has more decimals than allowed.
    #[error("{what} has more than {max} decimal places")]
    TooManyDecimals {
        /// Which value, e.g. "line 2 unit price".
        what: String,
        /// Decimal places allowed.
        max: u32,
    },
    /// A discount is negative, above 100% or larger than what it discounts.
    #[error("invalid discount: {0}")]
    InvalidDiscount(String),
    /// An amount or total exceeds `MAX_AMOUNT`.
    #[error("amount exceeds the maximum of {}", MAX_AMOUNT)]
    AmountTooLarge,
}

/// A rate as applied within one category.
struct RatePlan<'s> {
    /// Position in `TaxSettings::rates`.
    index: usize,
    rate: &'s TaxRate,
    /// percent / 100.
    fraction: Decimal,
    /// Tax of this rate per unit of net, compounding included.
    per_net: Decimal,
}

/// A category with its rates resolved.
struct CategoryPlan<'s> {
    rates: Vec<RatePlan<'s>>,
    /// Gross per unit of net: 1 + sum of `per_net`.
    factor: Decimal,
}

/// Validated settings, ready to compute with.
struct Plan<'s> {
    dp: u32,
    categories: Vec<CategoryPlan<'s>>,
    category_index: HashMap<&'s str, usize>,
}

impl TaxSettings {
    /// Checks the settings; `compute` does the same before every sale.
    pub fn validate(&self) -> Result<(), TaxError> {
        self.plan().map(|_| ())
    }

    /// Decimal places of the currency's minor unit; 0 for an unknown currency, which `validate` refuses.
    pub fn minor_units(&self) -> u32 {
        money::minor_units(&self.currency).unwrap_or(0)
    }

    fn plan(&self) -> Result<Plan<'_>, TaxError> {
        let dp = money::minor_units(&self.currency)
            .ok_or_else(|| TaxError::UnknownCurrency(self.currency.clone()))?;

        let mut rate_index = HashMap::new();
        for (index, rate) in self.rates.iter().enumerate() {
            if rate.id.is_empty() {
                return Err(TaxError::InvalidSettings(
                    "a tax rate has an empty id".into(),
                ));
            }
            if rate_index.insert(rate.id.as_str(), index).is_some() {
                return Err(TaxError::InvalidSettings(format!(
                    "tax rate id {:?} is used twice",
                    rate.id
                )));
            }
            let invalid = |reason: String| TaxError::InvalidRate {
                id: rate.id.clone(),
                reason,
            };
            if rate.percent < Decimal::ZERO || rate.percent > Decimal::ONE_HUNDRED {
                return Err(invalid(format!(
                    "percent {} is not between 0 and 100",
                    rate.percent
                )));
            }
            if decimals(rate.percent) > RATE_PERCENT_DECIMALS {
                return Err(invalid(format!(
                    "percent has more than {RATE_PERCENT_DECIMALS} decimal places"
                )));
            }
        }

        let mut category_index = HashMap::new();
        let mut categories = Vec::with_capacity(self.categories.len());
        for (index, category) in self.categories.iter().enumerate() {
            if category.id.is_empty() {
                return Err(TaxError::InvalidSettings(
                    "a tax category has an empty id".into(),
                ));
            }
            if category_index.insert(category.id.as_str(), index).is_some() {
                return Err(TaxError::InvalidSettings(format!(
                    "tax category id {:?} is used twice",
                    category.id
                )));
            }
            categories.push(self.plan_category(category, &rate_index)?);
        }

        if let Some(cash) = &self.cash_rounding {
            if cash.increment <= Decimal::ZERO || cash.increment > MAX_AMOUNT {
                return Err(TaxError::InvalidSettings(format!(
                    "cash rounding increment {} must be positive and at most {MAX_AMOUNT}",
                    cash.increment
                )));
            }
            if decimals(cash.increment) > dp {
                return Err(TaxError::InvalidSettings(format!(
                    "cash rounding increment {} is not a multiple of the {} minor unit",
                    cash.increment, self.currency
                )));
            }
        }

        Ok(Plan {
            dp,
            categories,
            category_index,
        })
    }

    fn plan_category<'s>(
        &'s self,
        category: &TaxCategory,
        rate_index: &HashMap<&str, usize>,
    ) -> Result<CategoryPlan<'s>, TaxError> {
        let too_large = || {
            TaxError::InvalidSettings(format!(
                "compound rates of category {:?} grow beyond what can be computed",
                category.id
            ))
        };
        let mut seen = HashSet::new();
        let mut rates = Vec::with_capacity(category.rate_ids.len());
        // Tax per unit of net of the rates so far: what a compound rate is also charged on.
        let mut earlier = Decimal::ZERO;
        for rate_id in &category.rate_ids {
            let &index = rate_index
                .get(rate_id.as_str())
                .ok_or_else(|| TaxError::UnknownRate(rate_id.clone()))?;
            if !seen.insert(index) {
                return Err(TaxError::InvalidSettings(format!(
                    "tax category {:?} lists rate {rate_id:?} twice",
                    category.id
                )));
            }
            let rate = &self.rates[index];
            let fraction = rate
                .percent
                .checked_div(Decimal::ONE_HUNDRED)
                .ok_or_else(too_large)?;
            let per_net = if rate.compound {
                Decimal::ONE
                    .checked_add(earlier)
                    .and_then(|base| base.checked_mul(fraction))
                    .ok_or_else(too_large)?
            } else {
                fraction
            };
            earlier = earlier.checked_add(per_net).ok_or_else(too_large)?;
            rates.push(RatePlan {
                index,
                rate,
                fraction,
                per_net,
            });
        }
        let factor = Decimal::ONE.checked_add(earlier).ok_or_else(too_large)?;
        Ok(CategoryPlan { rates, factor })
    }
}

/// A line after validation and discounts, before tax.
struct Priced<'a> {
    input: &'a LineInput,
    /// Index into `Plan::categories`.
    category: Option<usize>,
    amount: Decimal,
    line_discount: Decimal,
    cart_discount: Decimal,
    /// What is left after discounts: the net when tax-exclusive, the gross when tax-inclusive.
    payable: Decimal,
}

/// Computes every line and the totals of a cart.
pub fn compute(
    settings: &TaxSettings,
    lines: &[LineInput],
    cart_discount: Option<&Discount>,
) -> Result<Totals, TaxError> {
    let plan = settings.plan()?;
    let dp = plan.dp;
    let rule = settings.rounding_rule;

    let mut priced = Vec::with_capacity(lines.len());
    let mut subtotal = Decimal::ZERO;
    let mut discountable = Decimal::ZERO;
    for (i, input) in lines.iter().enumerate() {
        let line = price_line(&plan, rule, i + 1, input)?;
        subtotal = checked_total(subtotal.checked_add(line.amount))?;
        discountable = checked_total(discountable.checked_add(line.payable))?;
        priced.push(line);
    }

    let cart_total = match cart_discount {
        None => Decimal::ZERO,
        Some(discount) => discount_value(discount, discountable, dp, rule, "cart")?,
    };
    spread_cart_discount(&mut priced, cart_total, dp)?;

    let line_taxes = match settings.rounding_level {
        RoundingLevel::Line => priced
            .iter()
            .map(|line| line_level_taxes(settings.price_mode, &plan, rule, line))
            .collect::<Result<Vec<_>, _>>()?,
        RoundingLevel::Invoice => invoice_level_taxes(settings, &plan, &priced)?,
    };

    let mut totals = Totals {
        lines: Vec::with_capacity(priced.len()),
        subtotal: in_minor_units(subtotal, dp),
        discount_total: Decimal::ZERO,
        net_total: Decimal::ZERO,
        tax_total: Decimal::ZERO,
        total: Decimal::ZERO,
        breakdown: Vec::new(),
    };
    // Per settings rate: (used by some line, summed base, summed tax).
    let mut per_rate = vec![(false, Decimal::ZERO, Decimal::ZERO); settings.rates.len()];
    for (line, taxes) in priced.iter().zip(line_taxes) {
        let out = line_totals(settings.price_mode, &plan, line, &taxes)?;
        for (portion, rate) in out.taxes.iter().zip(category_rates(&plan, line)) {
            let entry = &mut per_rate[rate.index];
            entry.0 = true;
            entry.1 = checked_total(entry.1.checked_add(portion.taxable_base))?;
            entry.2 = checked_total(entry.2.checked_add(portion.tax))?;
        }
        let discounts = checked_total(out.line_discount.checked_add(out.cart_discount))?;
        totals.discount_total = checked_total(totals.discount_total.checked_add(discounts))?;
        totals.net_total = checked_total(totals.net_total.checked_add(out.net))?;
        totals.tax_total = checked_total(totals.tax_total.checked_add(out.tax))?;
        totals.lines.push(out);
    }
    totals.total = checked_total(totals.net_total.checked_add(totals.tax_total))?;
    totals.discount_total = in_minor_units(totals.discount_total, dp);
    totals.net_total = in_minor_units(totals.net_total, dp);
    totals.tax_total = in_minor_units(totals.tax_total, dp);
    totals.total = in_minor_units(totals.total, dp);
    totals.breakdown = settings
        .rates
        .iter()
        .zip(per_rate)
        .filter(|(_, (used, _, _))| *used)
        .map(|(rate, (_, base, tax))| {
            portion(rate, in_minor_units(base, dp), in_minor_units(tax, dp))
        })
        .collect();
    Ok(totals)
}

/// What a cash payment of `total` comes to after cash rounding; tax is never affected.
pub fn cash_due(settings: &TaxSettings, total: Decimal) -> CashDue {
    let dp = settings.minor_units();
    let unrounded = CashDue {
        due: total,
        rounding: in_minor_units(Decimal::ZERO, dp),
    };
    let Some(cash) = &settings.cash_rounding else {
        return unrounded;
    };
    // Settings or a total that `validate`/`compute` would refuse: collect exactly what is owed.
    if cash.increment <= Decimal::ZERO
        || cash.increment > MAX_AMOUNT
        || decimals(cash.increment) > dp
        || decimals(total) > dp
    {
        return unrounded;
    }
    let due = total
        .checked_div(cash.increment)
        .map(|coins| coins.round_dp_with_strategy(0, cash.rule.strategy()))
        .and_then(|coins| coins.checked_mul(cash.increment));
    let Some(due) = due else {
        return unrounded;
    };
    let Some(rounding) = due.checked_sub(total) else {
        return unrounded;
    };
    CashDue {
        due: in_minor_units(due, dp),
        rounding: in_minor_units(rounding, dp),
    }
}

fn price_line<'a>(
    plan: &Plan<'_>,
    rule: RoundingRule,
    n: usize,
    input: &'a LineInput,
) -> Result<Priced<'a>, TaxError> {
    let dp = plan.dp;
    let price = input.unit_price;
    if price < Decimal::ZERO {
        return Err(TaxError::InvalidPrice(format!(
            "line {n}: unit price {price} is negative"
        )));
    }
    if price > MAX_AMOUNT {
        return Err(TaxError::AmountTooLarge);
    }
    if decimals(price) > dp {
        return Err(TaxError::TooManyDecimals {
            what: format!("line {n} unit price"),
            max: dp,
        });
    }
    let quantity = input.quantity;
    if quantity <= Decimal::ZERO || quantity > MAX_QUANTITY {
        return Err(TaxError::InvalidQuantity(format!(
            "line {n}: quantity {quantity} is not above 0 and at most {MAX_QUANTITY}"
        )));
    }
    if decimals(quantity) > QUANTITY_DECIMALS {
        return Err(TaxError::TooManyDecimals {
            what: format!("line {n} quantity"),
            max: QUANTITY_DECIMALS,
        });
    }
    let category = match &input.category_id {
        None => None,
        Some(id) => Some(
            *plan
                .category_index
                .get(id.as_str())
                .ok_or_else(|| TaxError::UnknownCategory(id.clone()))?,
        ),
    };
    let amount = round_money(checked_total(price.checked_mul(quantity))?, dp, rule);
    let amount = checked_total(Some(amount))?;
    let line_discount = match &input.discount {
        None => Decimal::ZERO,
        Some(discount) => discount_value(discount, amount, dp, rule, &format!("line {n}"))?,
    };
    Ok(Priced {
        input,
        category,
        amount,
        line_discount,
        cart_discount: Decimal::ZERO,
        payable: amount - line_discount,
    })
}

/// The discount's value on `of` (an amount in minor units), checked against it.
fn discount_value(
    discount: &Discount,
    of: Decimal,
    dp: u32,
    rule: RoundingRule,
    whose: &str,
) -> Result<Decimal, TaxError> {
    match *discount {
        Discount::Percent(percent) => {
            if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
                return Err(TaxError::InvalidDiscount(format!(
                    "{whose}: percent {percent} is not between 0 and 100"
                )));
            }
            let value = of
                .checked_mul(percent)
                .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
                .ok_or(TaxError::AmountTooLarge)?;
            // At most 100% of an amount already in minor units, so never more than `of`.
            Ok(round_money(value, dp, rule))
        }
        Discount::Amount(value) => {
            if value < Decimal::ZERO {
                return Err(TaxError::InvalidDiscount(format!(
                    "{whose}: amount {value} is negative"
                )));
            }
            if decimals(value) > dp {
                return Err(TaxError::TooManyDecimals {
                    what: format!("{whose} discount"),
                    max: dp,
                });
            }
            if value > of {
                return Err(TaxError::InvalidDiscount(format!(
                    "{whose}: amount {value} is more than the {of} it discounts"
                )));
            }
            Ok(value)
        }
    }
}

/// Orders lines by content only, so allocations do not depend on where a line sits in the cart.
fn by_content(a: &Priced<'_>, b: &Priced<'_>) -> Ordering {
    fn discount_key(d: &Option<Discount>) -> (u8, Decimal) {
        match d {
            None => (0, Decimal::ZERO),
            Some(Discount::Percent(p)) => (1, *p),
            Some(Discount::Amount(a)) => (2, *a),
        }
    }
    b.payable
        .cmp(&a.payable)
        .then_with(|| b.amount.cmp(&a.amount))
        .then_with(|| b.input.unit_price.cmp(&a.input.unit_price))
        .then_with(|| b.input.quantity.cmp(&a.input.quantity))
        .then_with(|| a.input.category_id.cmp(&b.input.category_id))
        .then_with(|| discount_key(&a.input.discount).cmp(&discount_key(&b.input.discount)))
}

/// Spreads the cart discount pro rata to what each line still costs, by largest remainder.
fn spread_cart_discount(lines: &mut [Priced<'_>], total: Decimal, dp: u32) -> Result<(), TaxError> {
    if total.is_zero() {
        return Ok(());
    }
    // Exact integer arithmetic in minor units: at most 10^15 * 10^15, well inside i128.
    let total_units = to_units(total, dp);
    let weights: Vec<i128> = lines.iter().map(|l| to_units(l.payable, dp)).collect();
    let weight_sum: i128 = weights.iter().sum();
    if weight_sum <= 0 {
        return Ok(());
    }
    let mut shares: Vec<i128> = weights
        .iter()
        .map(|w| total_units * w / weight_sum)
        .collect();
    let remainders: Vec<i128> = weights
        .iter()
        .map(|w| total_units * w % weight_sum)
        .collect();
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| {
        remainders[b]
            .cmp(&remainders[a])
            .then_with(|| by_content(&lines[a], &lines[b]))
    });
    // Floors leave fewer units than lines with a remainder, so one pass hands them all out.
    let missing = total_units - shares.iter().sum::<i128>();
    for &i in order.iter().take(usize::try_from(missing).unwrap_or(0)) {
        shares[i] += 1;
    }
    for (line, share) in lines.iter_mut().zip(shares) {
        line.cart_discount = from_units(share, dp)?;
        line.payable -= line.cart_discount;
    }
    Ok(())
}

/// The rates of a line's category, in order; empty when untaxed.
fn category_rates<'p, 's>(plan: &'p Plan<'s>, line: &Priced<'_>) -> &'p [RatePlan<'s>] {
    match line.category {
        Some(c) => &plan.categories[c].rates,
        None => &[],
    }
}

/// Unrounded tax of each of a line's rates when tax-inclusive: extracted from the gross.
fn extracted_taxes(category: &CategoryPlan<'_>, gross: Decimal) -> Result<Vec<Decimal>, TaxError> {
    let net = gross
        .checked_div(category.factor)
        .ok_or(TaxError::AmountTooLarge)?;
    category
        .rates
        .iter()
        .map(|r| checked_total(net.checked_mul(r.per_net)))
        .collect()
}

/// Taxes of one line with per-line rounding, in the category's rate order.
fn line_level_taxes(
    mode: PriceMode,
    plan: &Plan<'_>,
    rule: RoundingRule,
    line: &Priced<'_>,
) -> Result<Vec<Decimal>, TaxError> {
    let dp = plan.dp;
    let Some(c) = line.category else {
        return Ok(Vec::new());
    };
    let category = &plan.categories[c];
    match mode {
        PriceMode::TaxExclusive => {
            // A compound rate is charged on the taxes as printed, so receipts can be checked by hand.
            let mut earlier = Decimal::ZERO;
            let mut taxes = Vec::with_capacity(category.rates.len());
            for rate in &category.rates {
                let base = if rate.rate.compound {
                    line.payable + earlier
                } else {
                    line.payable
                };
                let tax = round_money(checked_total(base.checked_mul(rate.fraction))?, dp, rule);
                earlier = checked_total(earlier.checked_add(tax))?;
                taxes.push(tax);
            }
            Ok(taxes)
        }
        PriceMode::TaxInclusive => {
            let unrounded = extracted_taxes(category, line.payable)?;
            let mut taxes: Vec<Decimal> = unrounded
                .iter()
                .map(|u| round_money(*u, dp, rule))
                .collect();
            // Only with several very high rates can rounding each up exceed the gross; take the
            // excess back from the rates rounded up most, so the net never goes negative.
            let mut order: Vec<usize> = (0..taxes.len()).collect();
            order.sort_by(|&a, &b| (taxes[b] - unrounded[b]).cmp(&(taxes[a] - unrounded[a])));
            let unit = Decimal::new(1, dp);
            while taxes.iter().sum::<Decimal>() > line.payable {
                let Some(pos) = order.iter().position(|&k| taxes[k] >= unit) else {
                    break;
                };
                let k = order.remove(pos);
                taxes[k] -= unit;
                order.push(k);
            }
            Ok(taxes)
        }
    }
}

/// Taxes of every line with per-invoice rounding: each rate is rounded once over the sale,
/// then handed back to the lines by largest remainder so lines still add up to the totals.
fn invoice_level_taxes(
    settings: &TaxSettings,
    plan: &Plan<'_>,
    lines: &[Priced<'_>],
) -> Result<Vec<Vec<Decimal>>, TaxError> {
    let dp = plan.dp;
    let rule = settings.rounding_rule;
    let inclusive = settings.price_mode == PriceMode::TaxInclusive;

    let unrounded: Vec<Vec<Decimal>> = lines
        .iter()
        .map(|line| match line.category {
            None => Ok(Vec::new()),
            Some(c) if inclusive => extracted_taxes(&plan.categories[c], line.payable),
            Some(c) => plan.categories[c]
                .rates
                .iter()
                .map(|r| checked_total(line.payable.checked_mul(r.per_net)))
                .collect(),
        })
        .collect::<Result<_, _>>()?;

    // Rate totals come from each category's summed amount (exact) rather than from summing
    // the lines' unrounded taxes, whose last digits would depend on line order.
    let mut category_sums = vec![Decimal::ZERO; plan.categories.len()];
    for line in lines {
        if let Some(c) = line.category {
            category_sums[c] = checked_total(category_sums[c].checked_add(line.payable))?;
        }
    }
    let mut rate_totals = vec![Decimal::ZERO; settings.rates.len()];
    for (category, sum) in plan.categories.iter().zip(&category_sums) {
        let taxes = if inclusive {
            extracted_taxes(category, *sum)?
        } else {
            let per_rate = category
                .rates
                .iter()
                .map(|r| checked_total(sum.checked_mul(r.per_net)));
            per_rate.collect::<Result<Vec<_>, _>>()?
        };
        for (rate, tax) in category.rates.iter().zip(taxes) {
            rate_totals[rate.index] = checked_total(rate_totals[rate.index].checked_add(tax))?;
        }
    }

    let floor = |u: &Decimal| u.round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity);
    let mut taxes: Vec<Vec<Decimal>> = unrounded
        .iter()
        .map(|us| us.iter().map(floor).collect())
        .collect();
    // Tax-inclusive lines cannot carry more tax than their gross.
    let mut room: Vec<Option<Decimal>> = lines
        .iter()
        .zip(&taxes)
        .map(|(line, t)| inclusive.then(|| line.payable - t.iter().sum::<Decimal>()))
        .collect();
    let unit = Decimal::new(1, dp);

    for (rate_index, rate_total) in rate_totals.into_iter().enumerate() {
        // (line, position of the rate in the line's category, remainder)
        let mut slots: Vec<(usize, usize, Decimal)> = Vec::new();
        for (l, line) in lines.iter().enumerate() {
            if let Some(k) = category_rates(plan, line)
                .iter()
                .position(|r| r.index == rate_index)
            {
                slots.push((l, k, unrounded[l][k] - taxes[l][k]));
            }
        }
        if slots.is_empty() {
            continue;
        }
        slots.sort_by(|a, b| {
            b.2.cmp(&a.2)
                .then_with(|| by_content(&lines[a.0], &lines[b.0]))
        });
        let floors: Decimal = slots.iter().map(|&(l, k, _)| taxes[l][k]).sum();
        let mut missing = to_units(round_money(rate_total, dp, rule) - floors, dp);
        // Normally one pass hands out fewer units than there are slots; the loops only guard
        // against the last-digit error of inclusive division and against full lines.
        while missing > 0 {
            let before = missing;
            for &(l, k, _) in &slots {
                if missing > 0 && room[l].is_none_or(|r| r >= unit) {
                    taxes[l][k] += unit;
                    room[l] = room[l].map(|r| r - unit);
                    missing -= 1;
                }
            }
            if missing == before {
                break;
            }
        }
        while missing < 0 {
            let before = missing;
            for &(l, k, _) in slots.iter().rev() {
                if missing < 0 && taxes[l][k] >= unit {
                    taxes[l][k] -= unit;
                    room[l] = room[l].map(|r| r + unit);
                    missing += 1;
                }
            }
            if missing == before {
                break;
            }
        }
    }
    Ok(taxes)
}

/// Assembles a line's figures from its rounded taxes.
fn line_totals(
    mode: PriceMode,
    plan: &Plan<'_>,
    line: &Priced<'_>,
    taxes: &[Decimal],
) -> Result<LineTotals, TaxError> {
    let dp = plan.dp;
    let tax: Decimal = taxes.iter().sum();
    let (net, gross) = match mode {
        PriceMode::TaxExclusive => (line.payable, checked_total(line.payable.checked_add(tax))?),
        PriceMode::TaxInclusive => (line.payable - tax, line.payable),
    };
    let mut earlier = Decimal::ZERO;
    let mut portions = Vec::with_capacity(taxes.len());
    for (rate, &rate_tax) in category_rates(plan, line).iter().zip(taxes) {
        let base = if rate.rate.compound {
            net + earlier
        } else {
            net
        };
        portions.push(portion(
            rate.rate,
            in_minor_units(base, dp),
            in_minor_units(rate_tax, dp),
        ));
        earlier += rate_tax;
    }
    Ok(LineTotals {
        amount: in_minor_units(line.amount, dp),
        line_discount: in_minor_units(line.line_discount, dp),
        cart_discount: in_minor_units(line.cart_discount, dp),
        net: in_minor_units(net, dp),
        tax: in_minor_units(tax, dp),
        gross: in_minor_units(gross, dp),
        taxes: portions,
    })
}

fn portion(rate: &TaxRate, taxable_base: Decimal, tax: Decimal) -> TaxPortion {
    TaxPortion {
        rate_id: rate.id.clone(),
        label: rate.label.clone(),
        percent: rate.percent,
        taxable_base,
        tax,
    }
}

/// Refuses an overflowed or over-limit amount.
fn checked_total(value: Option<Decimal>) -> Result<Decimal, TaxError> {
    match value {
        Some(v) if v.abs() <= MAX_AMOUNT => Ok(v),
        _ => Err(TaxError::AmountTooLarge),
    }
}

/// Shows an amount with exactly `dp` decimals (10 -> 10.00) for receipts and JSON.
fn in_minor_units(value: Decimal, dp: u32) -> Decimal {
    // Callers pass values already in minor units, so this only appends zeros and never rounds.
    let mut v = value;
    v.rescale(dp);
    v
}

/// An amount in minor units as an integer count of them (12.34 -> 1234).
fn to_units(value: Decimal, dp: u32) -> i128 {
    in_minor_units(value, dp).mantissa()
}

fn from_units(units: i128, dp: u32) -> Result<Decimal, TaxError> {
    Decimal::try_from_i128_with_scale(units, dp).map_err(|_| TaxError::AmountTooLarge)
}
