//! The device/server contract as a property: any sale a real till's `complete_sale` accepts,
//! from any catalogue the till accepts, fits one upload request and is accepted by the
//! server's own decoder and validation. Both sides read their limits from `tillkit_core::limits`.

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::MemoryVault;
use tillkit_core::sync::protocol::batch_body;
use tillkit_core::tax::TaxSettings;
use tillkit_core::{Config, Till, limits};
use tillkit_server::ServerConfig;
use tillkit_server::http::{BatchEntry, decode_batch_request};
use tillkit_server::validate::{Decision, decide};

/// Text of 1 to `max` characters from a mix of ASCII, accents, CJK, emoji and symbols that
/// look like markup or SQL; sometimes exactly at the limit.
fn text(max: usize) -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("a"),
        Just("Z"),
        Just("é"),
        Just("咖"),
        Just("🍞"),
        Just("'; --"),
        Just("<b>"),
        Just(" "),
        Just("0"),
    ];
    prop_oneof![
        4 => proptest::collection::vec(pieces, 1..12).prop_map(|p| p.concat()),
        1 => Just(()).prop_map(move |_| "咖".repeat(max)),
    ]
    .prop_map(|s| format!("x{s}"))
    .prop_map(move |s| s.chars().take(max).collect())
}

fn decimal(units: u64, scale: u32) -> Decimal {
    Decimal::from_i128_with_scale(units.into(), scale)
}

/// The parts of one generated case.
#[derive(Debug, Clone)]
struct Case {
    currency: (&'static str, u32, Option<&'static str>),
    inclusive: bool,
    rule: &'static str,
    invoice_level: bool,
    rates: Vec<(u64, bool)>,
    products: Vec<(u64, String, String, usize, bool)>,
    rate_ids: Vec<String>,
    lines: Vec<(usize, u64)>,
    line_discount: Option<(u64, bool)>,
    cart_discount: Option<(u64, bool)>,
    tender: Tender,
}

/// How the customer pays.
#[derive(Debug, Clone)]
enum Tender {
    /// Cash, with this much (in minor units) over what is due.
    Cash(u64),
    /// Card for part of the total (per ten thousand), cash for the rest.
    Split(u64, String),
    /// Several card slips summing to the total.
    Cards(usize, String),
    /// Cash in several notes, each up to the largest amount there is.
    Notes(Vec<u64>),
}

fn currency() -> impl Strategy<Value = (&'static str, u32, Option<&'static str>)> {
    prop_oneof![
        Just(("GBP", 2, None)),
        Just(("JPY", 0, None)),
        Just(("KWD", 3, None)),
        Just(("CHF", 2, Some("0.05"))),
        Just(("CAD", 2, Some("0.05"))),
        Just(("USD", 2, None)),
    ]
}

fn rule() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("half_up"),
        Just("half_even"),
        Just("toward_zero"),
        Just("up")
    ]
}

fn tender() -> impl Strategy<Value = Tender> {
    prop_oneof![
        (0u64..1_000_000).prop_map(Tender::Cash),
        (0u64..=10_000, text(limits::MAX_REFERENCE_CHARS)).prop_map(|(s, r)| Tender::Split(s, r)),
        (
            1usize..=limits::MAX_PAYMENTS_PER_SALE + 1,
            text(limits::MAX_REFERENCE_CHARS)
        )
            .prop_map(|(n, r)| Tender::Cards(n, r)),
        proptest::collection::vec(0u64..=1_000_000_000_000, 1..4).prop_map(Tender::Notes),
    ]
}

prop_compose! {
    fn case()(
        currency in currency(),
        inclusive in any::<bool>(),
        rule in rule(),
        invoice_level in any::<bool>(),
        rates in proptest::collection::vec((0u64..=100_000, any::<bool>()), 1..4),
        products in proptest::collection::vec(
            (
                0u64..5_000_000_000,
                text(limits::MAX_TEXT_CHARS),
                text(limits::MAX_TEXT_CHARS),
                0usize..4,
                any::<bool>(),
            ),
            1..6,
        ),
        rate_ids in proptest::collection::vec(text(limits::MAX_TEXT_CHARS), 4),
        lines in proptest::collection::vec((0usize..6, 1u64..5_000_000), 1..8),
        line_discount in proptest::option::of((0u64..=10_000, any::<bool>())),
        cart_discount in proptest::option::of((0u64..=10_000, any::<bool>())),
        tender in tender(),
    ) -> Case {
        Case { currency, inclusive, rule, invoice_level, rates, products, rate_ids, lines,
               line_discount, cart_discount, tender }
    }
}

impl Case {
    fn tax(&self) -> Value {
        let (code, _, increment) = self.currency;
        let rates: Vec<Value> = self
            .rates
            .iter()
            .enumerate()
            .map(|(i, (percent, compound))| {
                // Unique ids at up to the limit, the index counted in.
                let id: String = self.rate_ids[i]
                    .chars()
                    .take(limits::MAX_TEXT_CHARS - 1)
                    .collect();
                json!({"id": format!("{id}{i}"), "label": self.rate_ids[3],
                       "percent": decimal(*percent, 3).to_string(), "compound": *compound && i > 0})
            })
            .collect();
        let all: Vec<Value> = rates.iter().map(|r| r["id"].clone()).collect();
        json!({
            "currency": code,
            "price_mode": if self.inclusive { "tax_inclusive" } else { "tax_exclusive" },
            "rounding_rule": self.rule,
            "rounding_level": if self.invoice_level { "invoice" } else { "line" },
            "rates": rates,
            "categories": [
                {"id": "all", "rate_ids": all},
                {"id": format!("1 {}", self.rate_ids[0]).chars().take(limits::MAX_TEXT_CHARS).collect::<String>(),
                 "rate_ids": [all[0].clone()]},
                {"id": "exempt", "rate_ids": []}
            ],
            "cash_rounding": increment.map(|inc| json!({"increment": inc, "rule": self.rule}))
        })
    }

    fn catalog(&self, store_id: &str) -> Value {
        let (_, minor, _) = self.currency;
        let tax = self.tax();
        let categories: Vec<Value> = tax["categories"]
            .as_array()
            .map(|c| c.iter().map(|c| c["id"].clone()).collect())
            .unwrap_or_default();
        let products: Vec<Value> = self
            .products
            .iter()
            .enumerate()
            .map(|(i, (price, name, sku, category, tracked))| {
                let mut p = json!({
                    "id": format!("p{i}"), "sku": format!("{i}{sku}").chars().take(limits::MAX_TEXT_CHARS).collect::<String>(),
                    "name": name, "price": decimal(*price, minor).to_string(),
                    "stock_tracked": tracked, "stock": "5.5"
                });
                if let Some(c) = categories.get(*category) {
                    p["tax_category"] = c.clone();
                }
                p
            })
            .collect();
        json!({
            "store_id": store_id, "kind": "snapshot", "cursor": "1", "tax": tax,
            "products": products,
            "discounts": [
                {"id": "line%", "label": "L", "kind": "percent", "scope": "line", "max": "100", "offline_allowed": true},
                {"id": "line$", "label": "L", "kind": "amount", "scope": "line", "max": "1000000000000", "offline_allowed": true},
                {"id": "cart%", "label": "C", "kind": "percent", "scope": "cart", "max": "100", "offline_allowed": true},
                {"id": "cart$", "label": "C", "kind": "amount", "scope": "cart", "max": "1000000000000", "offline_allowed": true}
            ]
        })
    }
}

/// One till for every case; each case sells in a store of its own.
struct Device {
    till: Till,
    _dir: tempfile::TempDir,
}

fn device() -> Device {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tempdir")
    } else {
        tempfile::tempdir().expect("tempdir")
    };
    let till = Till::open_with_vault(Config::new(dir.path()), &MemoryVault::default())
        .expect("till opens");
    Device { till, _dir: dir }
}

/// Rings the case on the till; `None` when the device itself refused it (that is allowed:
/// the property is about what it accepts).
fn ring(
    till: &Till,
    store_id: &str,
    case: &Case,
) -> Option<(tillkit_core::sale::SaleRecord, TaxSettings)> {
    till.import_catalog_json(&case.catalog(store_id).to_string())
        .ok()?;
    till.login(store_id, "R1", "alice").ok()?;
    let (_, minor, _) = case.currency;
    let mut cart = till.new_cart().ok()?;
    for (product, qty) in &case.lines {
        let id = format!("p{}", product % case.products.len());
        let _ = till.add_product(&mut cart, &id, decimal(*qty, 3));
    }
    if let (Some((value, percent)), Some(line)) = (case.line_discount, cart.lines().first()) {
        let (id, v) = if percent {
            ("line%", decimal(value, 2))
        } else {
            ("line$", decimal(value, minor))
        };
        let line = line.line_id;
        let _ = till.apply_discount(&mut cart, id, Some(line), Some(v));
    }
    if let Some((value, percent)) = case.cart_discount {
        let (id, v) = if percent {
            ("cart%", decimal(value, 2))
        } else {
            ("cart$", decimal(value, minor))
        };
        let _ = till.apply_discount(&mut cart, id, None, Some(v));
    }
    let totals = cart.totals().ok()?;
    let settings: TaxSettings = serde_json::from_value(case.tax()).ok()?;
    let cash_due = tillkit_core::tax::cash_due(&settings, totals.total).due;
    let unit = decimal(1, minor);
    let cash = |amount| Payment {
        method: PaymentMethod::Cash,
        amount,
        reference: None,
    };
    let card = |amount, reference: &str| Payment {
        method: PaymentMethod::Card,
        amount,
        reference: Some(reference.to_string()),
    };
    let payments = match &case.tender {
        Tender::Cash(extra) => vec![cash(cash_due + decimal(*extra, minor))],
        Tender::Split(share, reference) => {
            let part = (totals.total * decimal(*share, 4))
                .round_dp(minor)
                .min(totals.total);
            let rest = totals.total - part;
            // The till rounds the cash part; tendering a whole unit more always covers it.
            let mut p = vec![cash(rest + unit)];
            if part > Decimal::ZERO {
                p.insert(0, card(part, reference));
            }
            p
        }
        Tender::Cards(n, reference) => {
            let n_dec = Decimal::from(*n as u64);
            let each = (totals.total / n_dec)
                .round_dp_with_strategy(minor, rust_decimal::RoundingStrategy::ToZero);
            let mut p: Vec<Payment> = (1..*n)
                .map(|_| card(each, reference))
                .filter(|p| p.amount > Decimal::ZERO)
                .collect();
            let rest = totals.total - each * Decimal::from(p.len() as u64);
            if rest > Decimal::ZERO {
                p.push(card(rest, reference));
            }
            p
        }
        Tender::Notes(notes) => {
            let mut p: Vec<Payment> = notes.iter().map(|n| cash(Decimal::from(*n))).collect();
            p.push(cash(cash_due.max(unit)));
            p
        }
    };
    let sale = till.complete_sale(&cart, &payments).ok()?;
    Some((sale.record, settings))
}

/// Checks the server's side for one sale the till completed.
fn server_accepts(
    store_id: &str,
    sale: &tillkit_core::sale::SaleRecord,
    settings: &TaxSettings,
) -> Result<(), TestCaseError> {
    let record = serde_json::to_string(sale).expect("record");
    let body = batch_body(&[&record]);
    let config = ServerConfig::default();
    prop_assert!(
        body.len() <= config.max_body_bytes,
        "one sale must fit a request"
    );
    let decoded = decode_batch_request(body.as_bytes(), &config)
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    let Some(BatchEntry::Sale(decoded)) = decoded.into_iter().next() else {
        return Err(TestCaseError::fail(format!(
            "the server could not read {record}"
        )));
    };
    prop_assert_eq!(&decoded, sale);
    let decision = decide(&decoded, store_id, "R1", settings, None)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    match decision {
        Decision::Accept(a) => {
            prop_assert!(a.tax_check.totals_match, "{:?}", a.tax_check);
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "the server said {other:?} to {record}"
        ))),
    }
}

#[test]
fn any_sale_the_till_completes_is_accepted_by_the_servers_validation() {
    const CASES: u32 = 300;
    let device = device();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let n = std::cell::Cell::new(0u64);
    let completed = std::cell::Cell::new(0u32);
    let result = runner.run(&case(), |case| {
        n.set(n.get() + 1);
        let store_id = format!("store {}", n.get());
        let Some((sale, settings)) = ring(&device.till, &store_id, &case) else {
            return Ok(());
        };
        completed.set(completed.get() + 1);
        server_accepts(&store_id, &sale, &settings)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "contract: {} of {CASES} generated cases became sales",
        completed.get()
    );
    // Most generated cases must become sales, or the property says little.
    assert!(
        completed.get() >= CASES / 2,
        "only {} of {CASES} cases became sales",
        completed.get()
    );
}

#[test]
fn limits_are_the_ones_both_sides_enforce() {
    let config = ServerConfig::default();
    assert_eq!(config.max_body_bytes, limits::MAX_BODY_BYTES);
    assert_eq!(config.max_batch_sales, limits::MAX_BATCH_SALES);
    assert_eq!(
        tillkit_server::config::MAX_TEXT_CHARS,
        limits::MAX_TEXT_CHARS
    );
    assert_eq!(Config::new("/tmp").max_text_len, limits::MAX_TEXT_CHARS);
    assert_eq!(
        Config::new("/tmp").max_cart_lines,
        limits::MAX_LINES_PER_SALE
    );
    assert_eq!(
        Decimal::from_str("1000000000000").ok(),
        Some(limits::MAX_AMOUNT)
    );
}
