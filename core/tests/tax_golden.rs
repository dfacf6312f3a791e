//! Golden receipts for the tax engine: every figure in the snapshots was checked by hand.
//! The snapshots are the product's promise to shops; never accept a changed one unchecked.

use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::Decimal;
use tillkit_core::money::{MAX_AMOUNT, RoundingRule};
use tillkit_core::tax::{
    CashRounding, Discount, LineInput, PriceMode, RoundingLevel, TaxCategory, TaxError, TaxRate,
    TaxSettings, Totals, cash_due, compute,
};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test literal")
}

fn rate(id: &str, label: &str, percent: &str) -> TaxRate {
    TaxRate {
        id: id.into(),
        label: label.into(),
        percent: d(percent),
        compound: false,
    }
}

fn compound(id: &str, label: &str, percent: &str) -> TaxRate {
    TaxRate {
        compound: true,
        ..rate(id, label, percent)
    }
}

fn category(id: &str, rate_ids: &[&str]) -> TaxCategory {
    TaxCategory {
        id: id.into(),
        rate_ids: rate_ids.iter().map(|r| r.to_string()).collect(),
    }
}

fn settings(
    currency: &str,
    price_mode: PriceMode,
    rounding_rule: RoundingRule,
    rounding_level: RoundingLevel,
    rates: Vec<TaxRate>,
    categories: Vec<TaxCategory>,
) -> TaxSettings {
    TaxSettings {
        currency: currency.into(),
        price_mode,
        rounding_rule,
        rounding_level,
        rates,
        categories,
        cash_rounding: None,
    }
}

/// A named line: the name only appears on the rendered receipt.
struct Item {
    name: &'static str,
    line: LineInput,
}

fn item(name: &'static str, unit_price: &str, quantity: &str, category: Option<&str>) -> Item {
    Item {
        name,
        line: LineInput {
            unit_price: d(unit_price),
            quantity: d(quantity),
            category_id: category.map(str::to_string),
            discount: None,
        },
    }
}

fn with_discount(mut item: Item, discount: Discount) -> Item {
    item.line.discount = Some(discount);
    item
}

fn lines(items: &[Item]) -> Vec<LineInput> {
    items.iter().map(|i| i.line.clone()).collect()
}

/// Renders a plain-text receipt with every figure the engine produced.
fn receipt(settings: &TaxSettings, items: &[Item], cart: Option<&Discount>) -> String {
    let totals = compute(settings, &lines(items), cart).expect("valid sale");
    render(settings, items, cart, &totals)
}

fn render(settings: &TaxSettings, items: &[Item], cart: Option<&Discount>, t: &Totals) -> String {
    let mut out = String::new();
    let w = &mut out;
    writeln!(
        w,
        "{} {:?} {:?} rounding={:?}",
        settings.currency, settings.price_mode, settings.rounding_level, settings.rounding_rule
    )
    .ok();
    for (item, line) in items.iter().zip(&t.lines) {
        let cat = item.line.category_id.as_deref().unwrap_or("-");
        writeln!(
            w,
            "{} x {} @ {} [{}]",
            item.line.quantity, item.name, item.line.unit_price, cat
        )
        .ok();
        if let Some(disc) = &item.line.discount {
            writeln!(w, "    line discount {disc:?}").ok();
        }
        writeln!(
            w,
            "    amount {}  line-disc {}  cart-disc {}  net {}  tax {}  gross {}",
            line.amount, line.line_discount, line.cart_discount, line.net, line.tax, line.gross
        )
        .ok();
        for p in &line.taxes {
            writeln!(
                w,
                "      {} {}% on {} = {}",
                p.label, p.percent, p.taxable_base, p.tax
            )
            .ok();
        }
    }
    if let Some(disc) = cart {
        writeln!(w, "cart discount {disc:?}").ok();
    }
    writeln!(w, "subtotal {}", t.subtotal).ok();
    writeln!(w, "discounts {}", t.discount_total).ok();
    writeln!(w, "net {}", t.net_total).ok();
    for p in &t.breakdown {
        writeln!(
            w,
            "  {} {}% on {} = {}",
            p.label, p.percent, p.taxable_base, p.tax
        )
        .ok();
    }
    writeln!(w, "tax {}", t.tax_total).ok();
    writeln!(w, "total {}", t.total).ok();
    if settings.cash_rounding.is_some() {
        let cash = cash_due(settings, t.total);
        writeln!(w, "cash due {} (rounding {})", cash.due, cash.rounding).ok();
    }
    out
}

/// Checks the invariants every receipt must keep, whatever the snapshot says.
fn assert_consistent(t: &Totals) {
    for line in &t.lines {
        assert_eq!(line.net + line.tax, line.gross);
        assert_eq!(line.taxes.iter().map(|p| p.tax).sum::<Decimal>(), line.tax);
    }
    assert_eq!(t.net_total + t.tax_total, t.total);
    assert_eq!(
        t.breakdown.iter().map(|p| p.tax).sum::<Decimal>(),
        t.tax_total
    );
    assert_eq!(
        t.subtotal - t.discount_total,
        t.lines
            .iter()
            .map(|l| l.amount - l.line_discount - l.cart_discount)
            .sum::<Decimal>()
    );
}

fn us_settings() -> TaxSettings {
    settings(
        "USD",
        PriceMode::TaxExclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![
            rate("state", "State", "6.25"),
            rate("county", "County", "1"),
            rate("city", "City", "1.5"),
        ],
        vec![
            category("general", &["state", "county", "city"]),
            category("food", &[]),
        ],
    )
}

#[test]
fn us_sales_tax_stacks_state_county_and_city_and_exempts_food() {
    let s = us_settings();
    let items = [
        item("T-shirt", "12.99", "2", Some("general")),
        item("Bread", "3.49", "1", Some("food")),
        item("Mug", "7.50", "1", Some("general")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    // Hand-checked: 25.98 -> 1.62 + 0.26 + 0.39; 7.50 -> 0.47 + 0.08 (0.075 half up) + 0.11.
    assert_eq!(t.tax_total, d("2.93"));
    assert_eq!(t.total, d("39.90"));
    assert!(t.lines[1].taxes.is_empty());
    insta::assert_snapshot!(render(&s, &items, None, &t));
}

#[test]
fn uk_vat_inclusive_receipt_with_standard_reduced_and_zero_rates() {
    let s = settings(
        "GBP",
        PriceMode::TaxInclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![
            rate("vat20", "VAT", "20"),
            rate("vat5", "VAT", "5"),
            rate("vat0", "VAT", "0"),
        ],
        vec![
            category("standard", &["vat20"]),
            category("reduced", &["vat5"]),
            category("zero", &["vat0"]),
        ],
    );
    let items = [
        item("Headphones", "49.99", "1", Some("standard")),
        item("Child car seat", "89.00", "1", Some("reduced")),
        item("Bread", "1.45", "2", Some("zero")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    // Inclusive prices: the customer pays exactly the shelf prices.
    assert_eq!(t.total, d("141.89"));
    assert_eq!(t.tax_total, d("12.57"));
    insta::assert_snapshot!(render(&s, &items, None, &t));
}

fn canada_cash() -> Option<CashRounding> {
    Some(CashRounding {
        increment: d("0.05"),
        rule: RoundingRule::HalfUp,
    })
}

#[test]
fn canada_bc_gst_and_pst_are_added_on_top() {
    let mut s = settings(
        "CAD",
        PriceMode::TaxExclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![rate("gst", "GST", "5"), rate("pst_bc", "PST", "7")],
        vec![
            category("general", &["gst", "pst_bc"]),
            category("prepared_food", &["gst"]),
        ],
    );
    s.cash_rounding = canada_cash();
    let items = [
        item("Jacket", "79.99", "1", Some("general")),
        item("Sandwich", "6.49", "1", Some("prepared_food")),
        item("Batteries", "4.29", "3", Some("general")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    assert_eq!(t.total, d("110.81"));
    assert_eq!(cash_due(&s, t.total).due, d("110.80"));
    insta::assert_snapshot!(receipt(&s, &items, None));
}

fn quebec(qst_compound: bool) -> TaxSettings {
    let qst = if qst_compound {
        compound("qst", "QST", "9.975")
    } else {
        rate("qst", "QST", "9.975")
    };
    settings(
        "CAD",
        PriceMode::TaxExclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![rate("gst", "GST", "5"), qst],
        vec![category("general", &["gst", "qst"])],
    )
}

#[test]
fn compound_qst_is_charged_on_price_plus_gst() {
    let items = [
        item("Laptop", "999.99", "1", Some("general")),
        item("Book", "24.95", "1", Some("general")),
    ];
    let compound = compute(&quebec(true), &lines(&items), None).unwrap();
    let simple = compute(&quebec(false), &lines(&items), None).unwrap();
    assert_consistent(&compound);
    assert_consistent(&simple);
    // QST on (999.99 + 50.00) = 104.74 and on (24.95 + 1.25) = 2.61, versus 99.75 and 2.49.
    assert_eq!(compound.breakdown[1].tax, d("107.35"));
    assert_eq!(simple.breakdown[1].tax, d("102.24"));
    assert_eq!(compound.total - simple.total, d("5.11"));
    // GST itself is unaffected by QST compounding.
    assert_eq!(compound.breakdown[0], simple.breakdown[0]);
    let text = format!(
        "--- compound ---\n{}--- not compound ---\n{}",
        render(&quebec(true), &items, None, &compound),
        render(&quebec(false), &items, None, &simple)
    );
    insta::assert_snapshot!(text);
}

#[test]
fn compound_rate_is_extracted_from_inclusive_prices() {
    let mut s = quebec(true);
    s.price_mode = PriceMode::TaxInclusive;
    let items = [item("Laptop", "1154.73", "1", Some("general"))];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    // The exclusive laptop above: 999.99 + 50.00 + 104.74 = 1154.73; extraction gives it back.
    assert_eq!(t.lines[0].net, d("999.99"));
    assert_eq!(t.lines[0].taxes[0].tax, d("50.00"));
    assert_eq!(t.lines[0].taxes[1].tax, d("104.74"));
    assert_eq!(t.lines[0].taxes[1].taxable_base, d("1049.99"));
}

#[test]
fn japan_reduced_and_standard_rates_rounded_once_per_invoice_in_yen() {
    let s = settings(
        "JPY",
        PriceMode::TaxInclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Invoice,
        vec![
            rate("std10", "消費税", "10"),
            rate("red8", "消費税(軽減)", "8"),
        ],
        vec![
            category("standard", &["std10"]),
            category("food", &["red8"]),
        ],
    );
    let items = [
        item("Onigiri", "150", "3", Some("food")),
        item("Green tea", "128", "2", Some("food")),
        item("Umbrella", "1100", "1", Some("standard")),
        item("Bento", "598", "1", Some("food")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    // 8% on 1304 yen of food: 96.59 -> 97; lines rounded alone would give 33 + 19 + 44 = 96.
    assert_eq!(t.breakdown[1].tax, d("97"));
    assert_eq!(t.breakdown[0].tax, d("100"));
    assert_eq!(t.total, d("2404"));
    insta::assert_snapshot!(render(&s, &items, None, &t));
}

#[test]
fn japan_consumption_tax_truncates_fractions_of_a_yen() {
    let s = settings(
        "JPY",
        PriceMode::TaxExclusive,
        RoundingRule::TowardZero,
        RoundingLevel::Invoice,
        vec![
            rate("std10", "消費税", "10"),
            rate("red8", "消費税(軽減)", "8"),
        ],
        vec![
            category("standard", &["std10"]),
            category("food", &["red8"]),
        ],
    );
    let items = [
        item("Ballpoint pen", "99", "1", Some("standard")),
        item("Rice ball", "130", "1", Some("food")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    // 10% of 99 yen is 9.9: truncated to 9 (half up would charge 10). 8% of 130 is 10.4 -> 10.
    assert_eq!(t.breakdown[0].tax, d("9"));
    assert_eq!(t.breakdown[1].tax, d("10"));
    assert_eq!(t.total, d("248"));
    let half_up = compute(
        &TaxSettings {
            rounding_rule: RoundingRule::HalfUp,
            ..s.clone()
        },
        &lines(&items),
        None,
    )
    .unwrap();
    assert_eq!(half_up.breakdown[0].tax, d("10"));
    insta::assert_snapshot!(render(&s, &items, None, &t));
}

#[test]
fn us_receipt_rounding_any_fraction_of_a_cent_up() {
    let s = TaxSettings {
        rounding_rule: RoundingRule::Up,
        ..us_settings()
    };
    let items = [
        item("T-shirt", "12.99", "2", Some("general")),
        item("Bread", "3.49", "1", Some("food")),
        item("Mug", "7.50", "1", Some("general")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    // Hand-checked: 25.98 -> 1.62375 up 1.63, 0.2598 up 0.26, 0.3897 up 0.39;
    // 7.50 -> 0.46875 up 0.47, 0.075 up 0.08, 0.1125 up 0.12. Half up gives 2.93 / 39.90.
    assert_eq!(t.lines[0].taxes[0].tax, d("1.63"));
    assert_eq!(t.lines[2].taxes[2].tax, d("0.12"));
    assert_eq!(t.tax_total, d("2.95"));
    assert_eq!(t.total, d("39.92"));
    insta::assert_snapshot!(render(&s, &items, None, &t));
}

#[test]
fn cash_can_be_rounded_down_or_up_to_the_coin() {
    let with_rule = |rule| TaxSettings {
        cash_rounding: Some(CashRounding {
            increment: d("0.05"),
            rule,
        }),
        ..quebec(false)
    };
    let down = with_rule(RoundingRule::TowardZero);
    let up = with_rule(RoundingRule::Up);
    for (total, down_due, up_due) in [
        ("10.00", "10.00", "10.00"),
        ("10.01", "10.00", "10.05"),
        ("10.04", "10.00", "10.05"),
        ("10.05", "10.05", "10.05"),
        ("10.06", "10.05", "10.10"),
        ("10.09", "10.05", "10.10"),
    ] {
        let total = d(total);
        let (a, b) = (cash_due(&down, total), cash_due(&up, total));
        assert_eq!(a.due, d(down_due), "down: cash due on {total}");
        assert_eq!(b.due, d(up_due), "up: cash due on {total}");
        assert_eq!(a.due, total + a.rounding);
        assert_eq!(b.due, total + b.rounding);
    }
}

#[test]
fn yen_prices_with_decimals_are_refused() {
    let s = settings(
        "JPY",
        PriceMode::TaxInclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![],
        vec![],
    );
    let items = [item("Gum", "100.5", "1", None)];
    assert_eq!(
        compute(&s, &lines(&items), None),
        Err(TaxError::TooManyDecimals {
            what: "line 1 unit price".into(),
            max: 0
        })
    );
}

fn swiss() -> TaxSettings {
    let mut s = settings(
        "CHF",
        PriceMode::TaxInclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![rate("mwst81", "MWST", "8.1"), rate("mwst26", "MWST", "2.6")],
        vec![
            category("standard", &["mwst81"]),
            category("food", &["mwst26"]),
        ],
    );
    s.cash_rounding = Some(CashRounding {
        increment: d("0.05"),
        rule: RoundingRule::HalfUp,
    });
    s
}

#[test]
fn swiss_cash_is_rounded_to_five_rappen_and_tax_is_not() {
    let s = swiss();
    let items = [
        item("Chocolate", "3.95", "2", Some("food")),
        item("Pocket knife", "42.90", "1", Some("standard")),
        item("Gruyère (kg)", "38.50", "0.412", Some("food")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    let cash = cash_due(&s, t.total);
    assert_eq!(
        (t.total, cash.due, cash.rounding),
        (d("66.66"), d("66.65"), d("-0.01"))
    );
    assert_eq!(t.tax_total, d("3.81"));
    for (total, due) in [
        ("10.02", "10.00"),
        ("10.03", "10.05"),
        ("10.07", "10.05"),
        ("10.08", "10.10"),
    ] {
        assert_eq!(cash_due(&s, d(total)).due, d(due), "cash due on {total}");
    }
    insta::assert_snapshot!(receipt(&s, &items, None));
}

#[test]
fn canada_cash_rounding_follows_the_penny_rule() {
    let s = TaxSettings {
        cash_rounding: canada_cash(),
        ..quebec(false)
    };
    let mut table = String::new();
    for cents in 0..=10 {
        let total = Decimal::new(1000 + cents, 2);
        let cash = cash_due(&s, total);
        assert_eq!(cash.due, total + cash.rounding);
        writeln!(table, "{total} -> {} ({})", cash.due, cash.rounding).ok();
    }
    // x.x1, x.x2 down to x.x0; x.x3, x.x4 up to x.x5; x.x6, x.x7 down to x.x5; x.x8, x.x9 up.
    let expected = [
        "10.00", "10.00", "10.00", "10.05", "10.05", "10.05", "10.05", "10.05", "10.10", "10.10",
        "10.10",
    ];
    for (cents, due) in expected.iter().enumerate() {
        let total = Decimal::new(1000 + cents as i64, 2);
        assert_eq!(cash_due(&s, total).due, d(due), "cash due on {total}");
    }
    // Card payments are not rounded: settings without cash rounding leave the total alone.
    let card = cash_due(&quebec(false), d("10.01"));
    assert_eq!((card.due, card.rounding), (d("10.01"), d("0")));
    insta::assert_snapshot!(table);
}

fn cafe(level: RoundingLevel) -> TaxSettings {
    settings(
        "USD",
        PriceMode::TaxExclusive,
        RoundingRule::HalfUp,
        level,
        vec![rate("sales", "Sales tax", "5")],
        vec![category("general", &["sales"])],
    )
}

#[test]
fn line_and_invoice_rounding_differ_by_exactly_one_cent() {
    let items = [
        item("Coffee", "1.50", "1", Some("general")),
        item("Coffee", "1.50", "1", Some("general")),
        item("Muffin", "2.30", "1", Some("general")),
    ];
    let per_line = compute(&cafe(RoundingLevel::Line), &lines(&items), None).unwrap();
    let per_invoice = compute(&cafe(RoundingLevel::Invoice), &lines(&items), None).unwrap();
    assert_consistent(&per_line);
    assert_consistent(&per_invoice);
    // Per line: 0.075 -> 0.08 twice and 0.115 -> 0.12. Per invoice: 5% of 5.30 = 0.265 -> 0.27.
    assert_eq!(per_line.tax_total, d("0.28"));
    assert_eq!(per_invoice.tax_total, d("0.27"));
    assert_eq!(per_line.total - per_invoice.total, d("0.01"));
    let text = format!(
        "--- per line ---\n{}--- per invoice ---\n{}",
        render(&cafe(RoundingLevel::Line), &items, None, &per_line),
        render(&cafe(RoundingLevel::Invoice), &items, None, &per_invoice)
    );
    insta::assert_snapshot!(text);
}

#[test]
fn cart_discount_is_spread_pro_rata_over_weighed_and_discounted_lines() {
    let s = settings(
        "EUR",
        PriceMode::TaxInclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![rate("de19", "MwSt", "19"), rate("de7", "MwSt", "7")],
        vec![category("standard", &["de19"]), category("food", &["de7"])],
    );
    let items = [
        item("Comté (kg)", "23.90", "0.375", Some("food")),
        with_discount(
            item("Wine", "12.99", "2", Some("standard")),
            Discount::Amount(d("3.00")),
        ),
        item("Apples (kg)", "2.49", "1.234", Some("food")),
        with_discount(
            item("Olive oil", "9.49", "1", Some("food")),
            Discount::Percent(d("15")),
        ),
    ];
    let cart = Discount::Percent(d("10"));
    let t = compute(&s, &lines(&items), Some(&cart)).unwrap();
    assert_consistent(&t);
    // 10% of 43.08 = 4.308 -> 4.31, shared 0.89 / 2.30 / 0.31 / 0.81 by largest remainder.
    let shares: Vec<Decimal> = t.lines.iter().map(|l| l.cart_discount).collect();
    assert_eq!(shares, [d("0.89"), d("2.30"), d("0.31"), d("0.81")]);
    assert_eq!(t.lines[0].amount, d("8.96"));
    assert_eq!(t.total, d("38.77"));
    insta::assert_snapshot!(render(&s, &items, Some(&cart), &t));
}

#[test]
fn cart_discount_amount_shares_add_up_exactly() {
    let s = cafe(RoundingLevel::Line);
    let items = [
        item("A", "1.00", "1", Some("general")),
        item("B", "1.00", "1", Some("general")),
        item("C", "1.00", "1", Some("general")),
    ];
    let t = compute(&s, &lines(&items), Some(&Discount::Amount(d("1.00")))).unwrap();
    let shares: Vec<Decimal> = t.lines.iter().map(|l| l.cart_discount).collect();
    assert_eq!(shares.iter().sum::<Decimal>(), d("1.00"));
    let mut sorted = shares.clone();
    sorted.sort();
    assert_eq!(sorted, [d("0.33"), d("0.33"), d("0.34")]);
}

#[test]
fn kuwaiti_dinar_uses_three_decimals_and_half_even() {
    let s = settings(
        "KWD",
        PriceMode::TaxExclusive,
        RoundingRule::HalfEven,
        RoundingLevel::Line,
        vec![rate("vat5", "VAT", "5")],
        vec![category("standard", &["vat5"])],
    );
    let items = [
        item("Perfume", "12.345", "1", Some("standard")),
        item("Dates (kg)", "4.250", "0.750", Some("standard")),
        item("Water", "0.250", "1", Some("standard")),
    ];
    let t = compute(&s, &lines(&items), None).unwrap();
    assert_consistent(&t);
    // 3.1875 -> 3.188 and 0.0125 -> 0.012: both midpoints go to the even digit.
    assert_eq!(t.lines[1].amount, d("3.188"));
    assert_eq!(t.lines[2].tax, d("0.012"));
    assert_eq!(t.total, d("16.571"));
    insta::assert_snapshot!(render(&s, &items, None, &t));
}

#[test]
fn outputs_always_show_the_minor_unit() {
    let s = cafe(RoundingLevel::Line);
    let t = compute(&s, &lines(&[item("Tea", "2", "1", Some("general"))]), None).unwrap();
    assert_eq!(t.total.to_string(), "2.10");
    assert_eq!(t.lines[0].amount.to_string(), "2.00");
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["total"], "2.10");
}

#[test]
fn settings_and_discounts_round_trip_through_json() {
    let json = r#"{
        "currency": "CAD", "price_mode": "tax_exclusive", "rounding_rule": "half_even",
        "rounding_level": "invoice",
        "rates": [{"id": "gst", "label": "GST", "percent": "5"},
                  {"id": "qst", "label": "QST", "percent": "9.975", "compound": true}],
        "categories": [{"id": "general", "rate_ids": ["gst", "qst"]}]
    }"#;
    let s: TaxSettings = serde_json::from_str(json).unwrap();
    assert!(!s.rates[0].compound);
    assert!(s.rates[1].compound);
    assert_eq!(s.cash_rounding, None);
    assert_eq!(s.validate(), Ok(()));
    let disc = serde_json::to_string(&Discount::Percent(d("12.5"))).unwrap();
    assert_eq!(disc, r#"{"kind":"percent","value":"12.5"}"#);
    let back: Discount = serde_json::from_str(r#"{"kind":"amount","value":"3.00"}"#).unwrap();
    assert_eq!(back, Discount::Amount(d("3.00")));
}

#[test]
fn extreme_rates_never_make_a_net_negative() {
    // Three 100% rates: 0.02 gross holds 0.005 of each tax, and rounding all three up to 0.01
    // would exceed the gross. The excess is taken back so the net stays at zero or above.
    let mut s = settings(
        "USD",
        PriceMode::TaxInclusive,
        RoundingRule::HalfUp,
        RoundingLevel::Line,
        vec![
            rate("x", "X", "100"),
            rate("y", "Y", "100"),
            rate("z", "Z", "100"),
        ],
        vec![category("all", &["x", "y", "z"])],
    );
    let t = compute(&s, &[item("Tiny", "0.02", "1", Some("all")).line], None).unwrap();
    assert_consistent(&t);
    assert_eq!((t.lines[0].net, t.lines[0].tax), (d("0.00"), d("0.02")));

    // Per invoice, two 100% rates over three 0.01 lines: each rate's total is 0.01, and both
    // must not land on the same line (it would carry 0.02 tax on a 0.01 gross).
    s.rates.pop();
    s.categories = vec![category("all", &["x", "y"])];
    s.rounding_level = RoundingLevel::Invoice;
    let tiny = item("Tiny", "0.01", "1", Some("all")).line;
    let t = compute(&s, &[tiny.clone(), tiny.clone(), tiny], None).unwrap();
    assert_consistent(&t);
    assert_eq!((t.net_total, t.tax_total), (d("0.01"), d("0.02")));
    assert!(
        t.lines
            .iter()
            .all(|l| l.net >= Decimal::ZERO && l.tax <= d("0.01"))
    );
}

// ---- every refusal ----

fn line(price: &str, qty: &str) -> LineInput {
    item("x", price, qty, Some("general")).line
}

fn err(s: &TaxSettings, lines: &[LineInput], cart: Option<&Discount>) -> TaxError {
    compute(s, lines, cart).expect_err("should be refused")
}

#[test]
fn unknown_currency_is_refused() {
    let s = TaxSettings {
        currency: "XYZ".into(),
        ..us_settings()
    };
    assert_eq!(s.validate(), Err(TaxError::UnknownCurrency("XYZ".into())));
    assert_eq!(err(&s, &[], None), TaxError::UnknownCurrency("XYZ".into()));
    assert_eq!(
        TaxError::UnknownCurrency("XYZ".into()).to_string(),
        r#"unknown currency "XYZ""#
    );
}

#[test]
fn unknown_category_on_a_line_is_refused() {
    let mut l = line("1.00", "1");
    l.category_id = Some("nope".into());
    assert_eq!(
        err(&us_settings(), &[l], None),
        TaxError::UnknownCategory("nope".into())
    );
}

#[test]
fn category_with_unknown_rate_is_refused() {
    let mut s = us_settings();
    s.categories.push(category("bad", &["state", "vat"]));
    assert_eq!(s.validate(), Err(TaxError::UnknownRate("vat".into())));
    assert_eq!(err(&s, &[], None), TaxError::UnknownRate("vat".into()));
}

#[test]
fn rate_percent_outside_0_to_100_or_too_precise_is_refused() {
    for (percent, reason) in [
        ("-1", "percent -1 is not between 0 and 100"),
        ("100.01", "percent 100.01 is not between 0 and 100"),
        ("5.0000001", "percent has more than 6 decimal places"),
    ] {
        let mut s = us_settings();
        s.rates[1].percent = d(percent);
        assert_eq!(
            s.validate(),
            Err(TaxError::InvalidRate {
                id: "county".into(),
                reason: reason.into()
            })
        );
    }
    let mut s = us_settings();
    s.rates[1].percent = d("100");
    s.rates[0].percent = d("0");
    assert_eq!(s.validate(), Ok(()));
}

#[test]
fn inconsistent_settings_are_refused() {
    let cases: Vec<(TaxSettings, &str)> = vec![
        (
            {
                let mut s = us_settings();
                s.rates.push(rate("state", "Again", "1"));
                s
            },
            "tax rate id \"state\" is used twice",
        ),
        (
            {
                let mut s = us_settings();
                s.rates.push(rate("", "Nameless", "1"));
                s
            },
            "a tax rate has an empty id",
        ),
        (
            {
                let mut s = us_settings();
                s.categories.push(category("food", &[]));
                s
            },
            "tax category id \"food\" is used twice",
        ),
        (
            {
                let mut s = us_settings();
                s.categories.push(category("", &[]));
                s
            },
            "a tax category has an empty id",
        ),
        (
            {
                let mut s = us_settings();
                s.categories
                    .push(category("twice", &["city", "state", "city"]));
                s
            },
            "tax category \"twice\" lists rate \"city\" twice",
        ),
        (
            {
                let mut s = us_settings();
                s.cash_rounding = Some(CashRounding {
                    increment: d("0"),
                    rule: RoundingRule::HalfUp,
                });
                s
            },
            "cash rounding increment 0 must be positive and at most 1000000000000",
        ),
        (
            {
                let mut s = us_settings();
                s.cash_rounding = Some(CashRounding {
                    increment: d("0.005"),
                    rule: RoundingRule::HalfUp,
                });
                s
            },
            "cash rounding increment 0.005 is not a multiple of the USD minor unit",
        ),
    ];
    for (s, message) in cases {
        assert_eq!(s.validate(), Err(TaxError::InvalidSettings(message.into())));
        assert_eq!(
            err(&s, &[line("1.00", "1")], None),
            TaxError::InvalidSettings(message.into())
        );
    }
}

#[test]
fn negative_price_is_refused() {
    assert_eq!(
        err(&us_settings(), &[line("-0.01", "1")], None),
        TaxError::InvalidPrice("line 1: unit price -0.01 is negative".into())
    );
}

#[test]
fn quantity_must_be_positive_and_at_most_100000() {
    for qty in ["0", "-1", "100000.001"] {
        match err(
            &us_settings(),
            &[line("1.00", "1"), line("1.00", qty)],
            None,
        ) {
            TaxError::InvalidQuantity(msg) => assert!(msg.starts_with("line 2: quantity"), "{msg}"),
            other => panic!("expected InvalidQuantity for {qty}, got {other:?}"),
        }
    }
    assert!(compute(&us_settings(), &[line("1.00", "100000")], None).is_ok());
}

#[test]
fn too_many_decimals_are_refused_everywhere() {
    let s = us_settings();
    let tmd = |what: &str, max| TaxError::TooManyDecimals {
        what: what.into(),
        max,
    };
    assert_eq!(
        err(&s, &[line("1.001", "1")], None),
        tmd("line 1 unit price", 2)
    );
    assert_eq!(
        err(&s, &[line("1.00", "0.0005")], None),
        tmd("line 1 quantity", 3)
    );
    let mut l = line("1.00", "1");
    l.discount = Some(Discount::Amount(d("0.005")));
    assert_eq!(err(&s, &[l], None), tmd("line 1 discount", 2));
    let cart = Discount::Amount(d("0.001"));
    assert_eq!(
        err(&s, &[line("1.00", "1")], Some(&cart)),
        tmd("cart discount", 2)
    );
    // Trailing zeros are not decimals.
    assert!(compute(&s, &[line("1.000", "1.5000")], None).is_ok());
    assert_eq!(
        tmd("line 1 unit price", 2).to_string(),
        "line 1 unit price has more than 2 decimal places"
    );
}

#[test]
fn invalid_discounts_are_refused() {
    let s = us_settings();
    let with = |disc| {
        let mut l = line("5.00", "1");
        l.discount = Some(disc);
        l
    };
    let invalid = |e: TaxError| matches!(e, TaxError::InvalidDiscount(_));
    assert!(invalid(err(
        &s,
        &[with(Discount::Percent(d("100.5")))],
        None
    )));
    assert!(invalid(err(&s, &[with(Discount::Percent(d("-1")))], None)));
    assert!(invalid(err(
        &s,
        &[with(Discount::Amount(d("-0.01")))],
        None
    )));
    assert_eq!(
        err(&s, &[with(Discount::Amount(d("5.01")))], None),
        TaxError::InvalidDiscount("line 1: amount 5.01 is more than the 5.00 it discounts".into())
    );
    // The cart discount may take what the line discounts left, not more.
    let lines = [with(Discount::Amount(d("1.00")))];
    assert!(invalid(err(&s, &lines, Some(&Discount::Amount(d("4.01"))))));
    assert!(invalid(err(&s, &lines, Some(&Discount::Percent(d("101"))))));
    let free = compute(&s, &lines, Some(&Discount::Amount(d("4.00")))).unwrap();
    assert_eq!((free.total, free.tax_total), (d("0.00"), d("0.00")));
    let all = compute(
        &s,
        &[with(Discount::Percent(d("100")))],
        Some(&Discount::Percent(d("100"))),
    );
    assert_eq!(all.unwrap().total, d("0.00"));
}

#[test]
fn amounts_beyond_the_maximum_are_refused() {
    let s = us_settings();
    let max = MAX_AMOUNT.to_string();
    let above = (MAX_AMOUNT + d("0.01")).to_string();
    assert_eq!(
        err(&s, &[line(&above, "1")], None),
        TaxError::AmountTooLarge
    );
    assert_eq!(err(&s, &[line(&max, "2")], None), TaxError::AmountTooLarge);
    assert_eq!(
        err(
            &s,
            &[line("600000000000", "1"), line("600000000000", "1")],
            None
        ),
        TaxError::AmountTooLarge
    );
    // Within the maximum before tax, beyond it after 8.75% tax.
    assert_eq!(
        err(&s, &[line("999999999999", "1")], None),
        TaxError::AmountTooLarge
    );
    let mut untaxed = line(&max, "1");
    untaxed.category_id = None;
    assert_eq!(compute(&s, &[untaxed], None).unwrap().total, MAX_AMOUNT);
    assert!(
        TaxError::AmountTooLarge
            .to_string()
            .contains("1000000000000")
    );
}
