//! Bad input at the core's API: every case is a typed error, never a panic, and nothing
//! is written (the database is byte-for-byte the same sales, lines and queue).

mod common;

use common::*;
use tillkit_core::catalog::PayloadKind;
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::{Config, Error, Till};

fn cash(amount: &str) -> Payment {
    Payment {
        method: PaymentMethod::Cash,
        amount: d(amount),
        reference: None,
    }
}

fn written(t: &TestTill) -> (i64, i64, i64, i64) {
    tillkit_core::testing::inspect(&t.till, |c| {
        Ok(c.query_row(
            "SELECT (SELECT count(*) FROM sales), (SELECT count(*) FROM register_seq),
                        (SELECT count(*) FROM outbox), (SELECT count(*) FROM stock_movements)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?)
    })
    .unwrap()
}

/// Rings one loaf and pays with `payments`.
fn pay_for_bread(t: &TestTill, payments: &[Payment]) -> Result<(), Error> {
    let mut cart = t.till.new_cart()?;
    t.till.add_product(&mut cart, "p-bread", d("1"))?;
    t.till.complete_sale(&cart, payments).map(drop)
}

type Case = (
    &'static str,
    fn(&TestTill) -> Result<(), Error>,
    fn(&Error) -> bool,
);

#[test]
fn bad_input_gives_a_typed_error_and_writes_nothing() {
    let cases: Vec<Case> = vec![
        (
            "zero quantity",
            |t| {
                t.till
                    .add_product(&mut t.till.new_cart()?, "p-bread", d("0"))
                    .map(drop)
            },
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "negative quantity",
            |t| {
                t.till
                    .add_product(&mut t.till.new_cart()?, "p-bread", d("-2"))
                    .map(drop)
            },
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "absurd quantity",
            |t| {
                t.till
                    .add_product(&mut t.till.new_cart()?, "p-bread", d("1000000000"))
                    .map(drop)
            },
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "quantity with 4 decimals",
            |t| {
                t.till
                    .add_product(&mut t.till.new_cart()?, "p-cheese", d("0.1234"))
                    .map(drop)
            },
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "set quantity to zero",
            |t| {
                let mut c = t.till.new_cart()?;
                let l = t.till.add_product(&mut c, "p-bread", d("1"))?;
                c.set_quantity(l, d("0"))
            },
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "unknown product",
            |t| {
                t.till
                    .add_product(&mut t.till.new_cart()?, "p-nope", d("1"))
                    .map(drop)
            },
            |e| matches!(e, Error::NotFound { .. }),
        ),
        (
            "unknown barcode",
            |t| {
                t.till
                    .add_barcode(&mut t.till.new_cart()?, "0000", d("1"))
                    .map(drop)
            },
            |e| matches!(e, Error::NotFound { .. }),
        ),
        (
            "inactive product",
            |t| {
                t.till
                    .add_product(&mut t.till.new_cart()?, "p-old", d("1"))
                    .map(drop)
            },
            |e| matches!(e, Error::ProductInactive { .. }),
        ),
        (
            "empty cart",
            |t| {
                t.till
                    .complete_sale(&t.till.new_cart()?, &[cash("1")])
                    .map(drop)
            },
            |e| matches!(e, Error::EmptyCart),
        ),
        (
            "underpaid cash",
            |t| {
                let mut c = t.till.new_cart()?;
                t.till.add_product(&mut c, "p-kettle", d("1"))?;
                t.till.complete_sale(&c, &[cash("30")]).map(drop)
            },
            |e| matches!(e, Error::Underpaid { .. }),
        ),
        (
            "no payment",
            |t| {
                let mut c = t.till.new_cart()?;
                t.till.add_product(&mut c, "p-kettle", d("1"))?;
                t.till.complete_sale(&c, &[]).map(drop)
            },
            |e| matches!(e, Error::Underpaid { .. }),
        ),
        (
            "payment with more decimals than the currency",
            |t| pay_for_bread(t, &[cash("3.201")]),
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "payment beyond 10^12",
            |t| pay_for_bread(t, &[cash("1000000000000.01")]),
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "negative payment",
            |t| pay_for_bread(t, &[cash("5"), cash("-2")]),
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "card without reference",
            |t| {
                pay_for_bread(
                    t,
                    &[Payment {
                        method: PaymentMethod::Card,
                        amount: d("3.20"),
                        reference: None,
                    }],
                )
            },
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "card paying more than the total",
            |t| {
                pay_for_bread(
                    t,
                    &[Payment {
                        method: PaymentMethod::Card,
                        amount: d("50"),
                        reference: Some("X".into()),
                    }],
                )
            },
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "gift card offline",
            |t| {
                pay_for_bread(
                    t,
                    &[Payment {
                        method: PaymentMethod::GiftCard,
                        amount: d("3.20"),
                        reference: None,
                    }],
                )
            },
            |e| matches!(e, Error::NeedsConnection { .. }),
        ),
        (
            "total beyond 10^12",
            |t| {
                let mut p = uk_catalog();
                p.kind = PayloadKind::Delta;
                p.cursor = "9".into();
                p.products = vec![p.products[0].clone()];
                p.products[0].price = d("999999999999.99");
                t.till.import_catalog(&p)?;
                let mut c = t.till.new_cart()?;
                t.till.add_product(&mut c, "p-kettle", d("5"))?;
                c.totals().map(drop)
            },
            |e| matches!(e, Error::Tax(_)),
        ),
        (
            "price with more decimals than the currency",
            |t| {
                let mut p = uk_catalog();
                p.products[0].price = d("1.999");
                t.till.import_catalog(&p).map(drop)
            },
            |e| matches!(e, Error::InvalidCatalog(_)),
        ),
        (
            "tax rate below 0",
            |t| {
                let mut p = uk_catalog();
                p.tax.as_mut().unwrap().rates[0].percent = d("-5");
                t.till.import_catalog(&p).map(drop)
            },
            |e| matches!(e, Error::Tax(_) | Error::InvalidCatalog(_)),
        ),
        (
            "tax rate above 100",
            |t| {
                let mut p = uk_catalog();
                p.tax.as_mut().unwrap().rates[1].percent = d("100.5");
                t.till.import_catalog(&p).map(drop)
            },
            |e| matches!(e, Error::Tax(_) | Error::InvalidCatalog(_)),
        ),
        (
            "very long name",
            |t| {
                let mut p = uk_catalog();
                p.products[0].name = "x".repeat(10_000);
                t.till.import_catalog(&p).map(drop)
            },
            |e| matches!(e, Error::InvalidCatalog(_)),
        ),
        (
            "empty session ids",
            |t| t.till.login("", "R1", "a").map(drop),
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
        (
            "control characters in register id",
            |t| t.till.login("uk-01", "R\u{0}1", "a").map(drop),
            |e| matches!(e, Error::InvalidInput { .. }),
        ),
    ];
    for (what, run, expected) in cases {
        let t = uk_till();
        let before = written(&t);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&t)));
        let err = match result {
            Ok(Ok(())) => panic!("{what}: accepted"),
            Ok(Err(e)) => e,
            Err(_) => panic!("{what}: panicked"),
        };
        assert!(expected(&err), "{what}: unexpected error {err:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(written(&t), before, "{what}: something was written");
    }
}

#[test]
fn emoji_and_long_but_allowed_names_round_trip() {
    let t = uk_till();
    let mut p = uk_catalog();
    p.cursor = "2".into();
    p.products[2].name = "Pain 🥖 au levain — «spécial» ".to_string() + &"é".repeat(400);
    t.till.import_catalog(&p).unwrap();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    let sale = t.till.complete_sale(&cart, &[cash("3.20")]).unwrap().record;
    assert!(sale.lines[0].name.contains('🥖'));
    assert_eq!(t.till.search("levain").unwrap().len(), 1);
    let (stored, _) = t
        .till
        .load_sale(&sale.sale_id.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(stored.lines[0].name, sale.lines[0].name);
}

#[test]
fn a_ten_thousand_line_cart_completes_and_the_next_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vault = tillkit_core::store::key::MemoryVault::default();
    let till = Till::open_with_vault(Config::new(dir.path()), &vault).unwrap();
    let mut p = uk_catalog();
    p.products = (0..10_001)
        .map(|i| tillkit_core::catalog::ProductRecord {
            id: format!("p{i}"),
            sku: format!("S{i}"),
            name: format!("Item {i}"),
            price: d("0.99"),
            tax_category: Some("standard".into()),
            barcodes: vec![],
            stock_tracked: true,
            stock: d("1"),
            active: true,
        })
        .collect();
    till.import_catalog(&p).unwrap();
    till.login("uk-01", "R1", "a").unwrap();
    let mut cart = till.new_cart().unwrap();
    for i in 0..10_000 {
        till.add_product(&mut cart, &format!("p{i}"), d("1"))
            .unwrap();
    }
    let err = till.add_product(&mut cart, "p10000", d("1")).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let total = cart.totals().unwrap().total;
    assert_eq!(total, d("9900.00"));
    let sale = till.complete_sale(&cart, &[cash("9900")]).unwrap().record;
    assert_eq!(sale.lines.len(), 10_000);
}

#[test]
fn nothing_works_without_a_session_or_catalogue() {
    let t = open_till();
    assert!(matches!(t.till.new_cart(), Err(Error::NoSession)));
    assert!(matches!(t.till.search("x"), Err(Error::NoSession)));
    t.till.login("nowhere", "R1", "a").unwrap();
    assert!(matches!(t.till.new_cart(), Err(Error::NoCatalog { .. })));
}
