//! Property tests of the tax engine over random carts, settings and garbage input.
//! They state the promises no golden receipt can cover: exact sums, order independence, no panics.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use rust_decimal::Decimal;
use tillkit_core::money::{RoundingRule, decimals, round_money};
use tillkit_core::tax::{
    CashRounding, Discount, LineInput, PriceMode, RoundingLevel, TaxCategory, TaxRate, TaxSettings,
    Totals, cash_due, compute,
};

fn config() -> ProptestConfig {
    // 256 keeps the suite fast on small CI machines; PROPTEST_CASES=100000 for a deep run.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    // No regression files: the test directory holds only reviewed sources and snapshots.
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const CURRENCIES: &[&str] = &["USD", "EUR", "CHF", "JPY", "KWD"];
const REAL_PERCENTS: &[&str] = &[
    "0", "2.6", "5", "6.25", "7", "8", "8.1", "8.875", "9.975", "10", "20", "25",
];

fn minor_units(currency: &str) -> u32 {
    tillkit_core::money::minor_units(currency).expect("test currency")
}

fn rule() -> impl Strategy<Value = RoundingRule> {
    prop_oneof![
        Just(RoundingRule::HalfUp),
        Just(RoundingRule::HalfEven),
        Just(RoundingRule::TowardZero),
        Just(RoundingRule::Up),
    ]
}

fn percent() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        3 => select(REAL_PERCENTS).prop_map(|p| p.parse::<Decimal>().expect("literal")),
        1 => (0i64..=100_000).prop_map(|milli| Decimal::new(milli, 3)),
    ]
}

/// Valid settings: 1-4 rates (some compound) in 1-3 categories of ordered, distinct rates.
fn settings() -> impl Strategy<Value = TaxSettings> {
    let modes = prop_oneof![Just(PriceMode::TaxExclusive), Just(PriceMode::TaxInclusive)];
    let levels = prop_oneof![Just(RoundingLevel::Line), Just(RoundingLevel::Invoice)];
    let rates = prop::collection::vec((percent(), any::<bool>()), 1..=4);
    (
        select(CURRENCIES),
        modes,
        rule(),
        levels,
        rates,
        select(&[0i64, 1, 5, 10, 25][..]),
        rule(),
    )
        .prop_flat_map(
            |(currency, price_mode, rounding_rule, rounding_level, rates, coin, cash_rule)| {
                let n = rates.len();
                let ordered = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
                let category = (ordered, 0..=n).prop_map(|(order, k)| order[..k].to_vec());
                prop::collection::vec(category, 1..=3).prop_map(move |cats| {
                    let dp = minor_units(currency);
                    TaxSettings {
                        currency: currency.to_string(),
                        price_mode,
                        rounding_rule,
                        rounding_level,
                        rates: rates
                            .iter()
                            .enumerate()
                            .map(|(i, &(percent, compound))| TaxRate {
                                id: format!("r{i}"),
                                label: format!("Rate {i}"),
                                percent,
                                compound,
                            })
                            .collect(),
                        categories: cats
                            .iter()
                            .enumerate()
                            .map(|(c, ids)| TaxCategory {
                                id: format!("c{c}"),
                                rate_ids: ids.iter().map(|i| format!("r{i}")).collect(),
                            })
                            .collect(),
                        cash_rounding: (coin > 0).then(|| CashRounding {
                            increment: Decimal::new(coin, dp),
                            rule: cash_rule,
                        }),
                    }
                })
            },
        )
}

/// A valid line for `settings`; an amount discount is capped at the line amount.
fn line(settings: &TaxSettings) -> impl Strategy<Value = LineInput> + use<> {
    let dp = settings.minor_units();
    let rule = settings.rounding_rule;
    let categories = settings.categories.len();
    let quantity = prop_oneof![
        (1i64..=12).prop_map(Decimal::from),
        (1i64..=25_000).prop_map(|g| Decimal::new(g, 3)),
    ];
    let category = prop_oneof![1 => Just(None), 4 => (0..categories).prop_map(Some)];
    (0i64..=500_000, quantity, category, 0u8..4, 0i64..=1_000_000).prop_map(
        move |(price, quantity, category, kind, param)| {
            let unit_price = Decimal::new(price, dp);
            let amount = round_money(unit_price * quantity, dp, rule);
            let discount = match kind {
                1 => Some(Discount::Percent(Decimal::new(param % 10_001, 2))),
                2 => Some(Discount::Amount(Decimal::new(param, dp).min(amount))),
                _ => None,
            };
            LineInput {
                unit_price,
                quantity,
                category_id: category.map(|c| format!("c{c}")),
                discount,
            }
        },
    )
}

/// How the cart discount is chosen once line discounts are known.
#[derive(Debug, Clone)]
enum CartDiscount {
    None,
    Percent(Decimal),
    /// Per mille of what the line discounts left.
    PerMille(i64),
}

#[derive(Debug, Clone)]
struct Cart {
    settings: TaxSettings,
    lines: Vec<LineInput>,
    cart: CartDiscount,
    /// A permutation of the lines.
    order: Vec<usize>,
}

fn cart() -> impl Strategy<Value = Cart> {
    let cart_discount = prop_oneof![
        2 => Just(CartDiscount::None),
        1 => (0i64..=10_000).prop_map(|p| CartDiscount::Percent(Decimal::new(p, 2))),
        1 => (0i64..=1000).prop_map(CartDiscount::PerMille),
    ];
    (settings(), cart_discount).prop_flat_map(|(settings, cart)| {
        let lines = prop::collection::vec(line(&settings), 0..=8);
        (Just(settings), lines, Just(cart)).prop_flat_map(|(settings, lines, cart)| {
            let order = Just((0..lines.len()).collect::<Vec<_>>()).prop_shuffle();
            (Just(settings), Just(lines), Just(cart), order).prop_map(
                |(settings, lines, cart, order)| Cart {
                    settings,
                    lines,
                    cart,
                    order,
                },
            )
        })
    })
}

/// The cart discount for `cart`, needing the line discounts computed first.
fn cart_discount(cart: &Cart) -> Option<Discount> {
    match cart.cart {
        CartDiscount::None => None,
        CartDiscount::Percent(p) => Some(Discount::Percent(p)),
        CartDiscount::PerMille(m) => {
            let plain = compute(&cart.settings, &cart.lines, None).expect("valid cart");
            let left = plain.subtotal - plain.discount_total;
            let dp = cart.settings.minor_units();
            let value = (left * Decimal::new(m, 3))
                .round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::ToZero);
            Some(Discount::Amount(value))
        }
    }
}

/// Every promise a computed sale keeps, whatever its input.
fn check_totals(
    settings: &TaxSettings,
    lines: &[LineInput],
    t: &Totals,
) -> Result<(), TestCaseError> {
    let dp = settings.minor_units();
    let zero = Decimal::ZERO;
    let in_minor = |d: Decimal| decimals(d) <= dp;
    prop_assert_eq!(t.lines.len(), lines.len());
    let mut line_taxes = BTreeMap::<String, (Decimal, Decimal)>::new();
    for (input, line) in lines.iter().zip(&t.lines) {
        for v in [
            line.amount,
            line.line_discount,
            line.cart_discount,
            line.net,
            line.tax,
            line.gross,
        ] {
            prop_assert!(v >= zero, "negative figure {} in {:?}", v, line);
            prop_assert!(in_minor(v), "{} has more than {} decimals", v, dp);
        }
        prop_assert_eq!(line.net + line.tax, line.gross);
        prop_assert_eq!(line.taxes.iter().map(|p| p.tax).sum::<Decimal>(), line.tax);
        let payable = line.amount - line.line_discount - line.cart_discount;
        match settings.price_mode {
            PriceMode::TaxInclusive => prop_assert_eq!(line.gross, payable),
            PriceMode::TaxExclusive => prop_assert_eq!(line.net, payable),
        }
        let rate_count = input
            .category_id
            .as_ref()
            .and_then(|id| settings.categories.iter().find(|c| &c.id == id))
            .map_or(0, |c| c.rate_ids.len());
        prop_assert_eq!(line.taxes.len(), rate_count);
        for p in &line.taxes {
            prop_assert!(p.tax >= zero && p.taxable_base >= zero);
            prop_assert!(in_minor(p.tax) && in_minor(p.taxable_base));
            let entry = line_taxes.entry(p.rate_id.clone()).or_default();
            entry.0 += p.taxable_base;
            entry.1 += p.tax;
        }
    }
    for v in [
        t.subtotal,
        t.discount_total,
        t.net_total,
        t.tax_total,
        t.total,
    ] {
        prop_assert!(v >= zero && in_minor(v), "bad total {}", v);
    }
    prop_assert_eq!(
        t.subtotal,
        t.lines.iter().map(|l| l.amount).sum::<Decimal>()
    );
    prop_assert_eq!(
        t.discount_total,
        t.lines
            .iter()
            .map(|l| l.line_discount + l.cart_discount)
            .sum::<Decimal>()
    );
    prop_assert_eq!(t.net_total, t.lines.iter().map(|l| l.net).sum::<Decimal>());
    prop_assert_eq!(t.tax_total, t.lines.iter().map(|l| l.tax).sum::<Decimal>());
    prop_assert_eq!(t.total, t.net_total + t.tax_total);
    prop_assert_eq!(
        t.breakdown.iter().map(|p| p.tax).sum::<Decimal>(),
        t.tax_total
    );
    if settings.price_mode == PriceMode::TaxInclusive {
        prop_assert_eq!(t.total, t.subtotal - t.discount_total);
    }
    // The breakdown is the lines' portions summed, one entry per rate used, in settings order.
    let order: Vec<&str> = settings.rates.iter().map(|r| r.id.as_str()).collect();
    let positions: Vec<usize> = t
        .breakdown
        .iter()
        .map(|p| {
            order
                .iter()
                .position(|id| *id == p.rate_id)
                .unwrap_or(usize::MAX)
        })
        .collect();
    prop_assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "breakdown out of order"
    );
    prop_assert_eq!(t.breakdown.len(), line_taxes.len());
    for p in &t.breakdown {
        prop_assert_eq!(line_taxes.get(&p.rate_id), Some(&(p.taxable_base, p.tax)));
    }
    Ok(())
}

/// Totals with the lines left out, for comparing carts in different orders.
fn sale_totals(t: &Totals) -> Totals {
    Totals {
        lines: Vec::new(),
        ..t.clone()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_carts_add_up_exactly(cart in cart()) {
        let discount = cart_discount(&cart);
        let t = compute(&cart.settings, &cart.lines, discount.as_ref()).expect("valid cart");
        check_totals(&cart.settings, &cart.lines, &t)?;

        if let Some(Discount::Amount(value)) = &discount {
            prop_assert_eq!(t.lines.iter().map(|l| l.cart_discount).sum::<Decimal>(), *value);
        }

        let dp = cart.settings.minor_units();
        let rule = cart.settings.rounding_rule;
        for rate in cart.settings.rates.iter().filter(|r| !r.compound) {
            let pct = rate.percent / Decimal::ONE_HUNDRED;
            let exclusive = cart.settings.price_mode == PriceMode::TaxExclusive;
            // With tax added on top, a simple rate's tax is its base times its percent, rounded
            // per line or once per sale.
            if exclusive && cart.settings.rounding_level == RoundingLevel::Line {
                for p in t.lines.iter().flat_map(|l| &l.taxes).filter(|p| p.rate_id == rate.id) {
                    prop_assert_eq!(p.tax, round_money(p.taxable_base * pct, dp, rule));
                }
            }
            if exclusive
                && cart.settings.rounding_level == RoundingLevel::Invoice
                && let Some(p) = t.breakdown.iter().find(|p| p.rate_id == rate.id)
            {
                prop_assert_eq!(p.tax, round_money(p.taxable_base * pct, dp, rule));
            }
        }

        let cash = cash_due(&cart.settings, t.total);
        prop_assert_eq!(cash.due, t.total + cash.rounding);
        if let Some(coin) = &cart.settings.cash_rounding {
            prop_assert!((cash.due / coin.increment).fract().is_zero());
            match coin.rule {
                // Nearest coin: never more than half a coin either way.
                RoundingRule::HalfUp | RoundingRule::HalfEven => {
                    prop_assert!(cash.rounding.abs() * Decimal::TWO <= coin.increment);
                }
                // Directed: less than one coin, and only in the rule's direction.
                RoundingRule::TowardZero => {
                    prop_assert!(cash.rounding <= Decimal::ZERO && -cash.rounding < coin.increment);
                }
                RoundingRule::Up => {
                    prop_assert!(cash.rounding >= Decimal::ZERO && cash.rounding < coin.increment);
                }
            }
        } else {
            prop_assert!(cash.rounding.is_zero());
        }
    }

    #[test]
    fn line_order_changes_nothing(cart in cart()) {
        let discount = cart_discount(&cart);
        let shuffled: Vec<LineInput> = cart.order.iter().map(|&i| cart.lines[i].clone()).collect();
        let a = compute(&cart.settings, &cart.lines, discount.as_ref()).expect("valid cart");
        let b = compute(&cart.settings, &shuffled, discount.as_ref()).expect("valid cart");
        prop_assert_eq!(sale_totals(&a), sale_totals(&b));
        // Each line gets the same figures wherever it sits (identical lines may swap).
        let mut pairs_a: Vec<String> =
            cart.lines.iter().zip(&a.lines).map(|p| format!("{p:?}")).collect();
        let mut pairs_b: Vec<String> =
            shuffled.iter().zip(&b.lines).map(|p| format!("{p:?}")).collect();
        pairs_a.sort();
        pairs_b.sort();
        prop_assert_eq!(pairs_a, pairs_b);
    }
}

// ---- garbage in: refusals, never panics ----

fn any_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale)),
        (-1000i64..200_000, 0u32..=4).prop_map(|(n, scale)| Decimal::new(n, scale)),
        (0i64..=1_000_000_000_000_000, 0u32..=3).prop_map(|(n, scale)| Decimal::new(n, scale)),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(Decimal::ZERO),
        Just(Decimal::ONE_HUNDRED),
    ]
}

const IDS: &[&str] = &["a", "b", "c", ""];

fn any_discount() -> impl Strategy<Value = Option<Discount>> {
    prop_oneof![
        Just(None),
        any_decimal().prop_map(|d| Some(Discount::Percent(d))),
        any_decimal().prop_map(|d| Some(Discount::Amount(d))),
    ]
}

fn any_settings() -> impl Strategy<Value = TaxSettings> {
    let rate =
        (select(IDS), any_decimal(), any::<bool>()).prop_map(|(id, percent, compound)| TaxRate {
            id: id.into(),
            label: id.into(),
            percent,
            compound,
        });
    let category =
        (select(IDS), prop::collection::vec(select(IDS), 0..4)).prop_map(|(id, ids)| TaxCategory {
            id: id.into(),
            rate_ids: ids.iter().map(|s| s.to_string()).collect(),
        });
    // Long chains of compound 100% rates overflow any fixed-precision factor.
    let tower = (60usize..=120, any::<bool>()).prop_map(|(n, all_compound)| {
        let rates: Vec<TaxRate> = (0..n)
            .map(|i| TaxRate {
                id: format!("t{i}"),
                label: format!("t{i}"),
                percent: Decimal::ONE_HUNDRED,
                compound: all_compound || i % 2 == 0,
            })
            .collect();
        let category = TaxCategory {
            id: "a".into(),
            rate_ids: rates.iter().map(|r| r.id.clone()).collect(),
        };
        (rates, vec![category])
    });
    let tables = prop_oneof![
        4 => (prop::collection::vec(rate, 0..5), prop::collection::vec(category, 0..4)),
        1 => tower,
    ];
    let cash = prop_oneof![
        Just(None),
        (any_decimal(), rule())
            .prop_map(|(increment, rule)| Some(CashRounding { increment, rule }))
    ];
    let modes = prop_oneof![Just(PriceMode::TaxExclusive), Just(PriceMode::TaxInclusive)];
    let levels = prop_oneof![Just(RoundingLevel::Line), Just(RoundingLevel::Invoice)];
    (
        select(&["USD", "JPY", "KWD", "XYZ", ""][..]),
        modes,
        rule(),
        levels,
        tables,
        cash,
    )
        .prop_map(
            |(
                currency,
                price_mode,
                rounding_rule,
                rounding_level,
                (rates, categories),
                cash_rounding,
            )| {
                TaxSettings {
                    currency: currency.into(),
                    price_mode,
                    rounding_rule,
                    rounding_level,
                    rates,
                    categories,
                    cash_rounding,
                }
            },
        )
}

fn any_line() -> impl Strategy<Value = LineInput> {
    (
        any_decimal(),
        any_decimal(),
        prop::option::of(select(IDS)),
        any_discount(),
    )
        .prop_map(|(unit_price, quantity, category, discount)| LineInput {
            unit_price,
            quantity,
            category_id: category.map(str::to_string),
            discount,
        })
}

/// Mostly well-formed settings with garbage lines, or garbage everywhere.
fn any_sale() -> impl Strategy<Value = (TaxSettings, Vec<LineInput>, Option<Discount>)> {
    let settings = prop_oneof![settings(), any_settings()];
    (
        settings,
        prop::collection::vec(any_line(), 0..6),
        any_discount(),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn garbage_is_refused_never_panics((settings, lines, cart) in any_sale(), total in any_decimal()) {
        let _ = settings.validate();
        if let Ok(t) = compute(&settings, &lines, cart.as_ref()) {
            check_totals(&settings, &lines, &t)?;
        }
        let cash = cash_due(&settings, total);
        prop_assert_eq!(cash.due.checked_sub(cash.rounding), Some(total));
    }

    #[test]
    fn valid_settings_with_some_garbage_lines_never_panic(
        (settings, lines, cart) in settings().prop_flat_map(|settings| {
            let line = prop_oneof![3 => line(&settings), 1 => any_line()];
            (Just(settings), prop::collection::vec(line, 1..6), any_discount())
        })
    ) {
        if let Ok(t) = compute(&settings, &lines, cart.as_ref()) {
            check_totals(&settings, &lines, &t)?;
        }
    }
}
