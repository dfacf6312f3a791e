//! The device keeps the contract's limits itself: a sale that would not fit one upload, or
//! whose payments add up beyond the largest amount, or with too many payments, is refused
//! with a typed error and nothing is written (the property test against the server's
//! validation is `server/tests/contract.rs`).

mod common;

use common::*;
use tillkit_core::Error;
use tillkit_core::limits;
use tillkit_core::sale::{Payment, PaymentMethod};

fn cash(amount: &str) -> Payment {
    Payment {
        method: PaymentMethod::Cash,
        amount: d(amount),
        reference: None,
    }
}

/// (sales, queued) on the till.
fn written(t: &TestTill) -> (i64, u64) {
    let sales = tillkit_core::testing::inspect(&t.till, |c| {
        Ok(c.query_row("SELECT count(*) FROM sales", [], |r| r.get(0))?)
    })
    .unwrap();
    (sales, t.till.queue_counts().unwrap().pending)
}

#[test]
fn a_sale_too_large_for_one_upload_is_refused_and_nothing_is_written() {
    let t = open_till();
    // 2,000 products whose id, SKU and name are 500 three-byte characters each: a line
    // takes about 4.7 KB, so a cart of all of them is over the 8 MiB an upload may carry.
    let long = |i: usize, c: char| {
        let tag = format!("{i:04}");
        tag.clone() + &c.to_string().repeat(limits::MAX_TEXT_CHARS - tag.len())
    };
    let mut catalog = serde_json::to_value(uk_catalog()).unwrap();
    catalog["products"] = (0..2_000)
        .map(|i| {
            serde_json::json!({"id": long(i, '咖'), "sku": long(i, '啡'), "name": long(i, '茶'),
                               "price": "1.00", "tax_category": "zero"})
        })
        .collect();
    t.till.import_catalog_json(&catalog.to_string()).unwrap();
    t.till.login("uk-01", "R07", "alice").unwrap();
    let mut cart = t.till.new_cart().unwrap();
    for i in 0..2_000 {
        t.till
            .add_product(&mut cart, &long(i, '咖'), d("1"))
            .unwrap();
    }
    let err = t
        .till
        .complete_sale(&cart, &[cash("2000")])
        .expect_err("a sale over the upload limit is refused");
    assert!(
        matches!(&err, Error::InvalidInput { reason } if reason.contains("fit one upload")),
        "{err:?}"
    );
    assert_eq!(written(&t), (0, 0), "nothing was written");
    // Half of it fits: the same till sells it.
    let mut half = t.till.new_cart().unwrap();
    for i in 0..700 {
        t.till
            .add_product(&mut half, &long(i, '咖'), d("1"))
            .unwrap();
    }
    let sale = t.till.complete_sale(&half, &[cash("700")]).unwrap();
    assert!(sale.stored_bytes as usize <= limits::MAX_SALE_BYTES);
}

#[test]
fn payments_beyond_the_largest_amount_or_too_many_are_refused_and_nothing_is_written() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    let max = limits::MAX_AMOUNT.to_string();
    for payments in [
        vec![cash(&max), cash("1")],
        vec![cash("0.01"); limits::MAX_PAYMENTS_PER_SALE + 1],
    ] {
        let err = t.till.complete_sale(&cart, &payments).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    assert_eq!(written(&t), (0, 0));
    // At the limits, it is a sale: one note of the largest amount, or 100 coins.
    t.till.complete_sale(&cart, &[cash(&max)]).unwrap();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    let coins = vec![cash("0.04"); limits::MAX_PAYMENTS_PER_SALE];
    t.till.complete_sale(&cart, &coins).unwrap();
    assert_eq!(written(&t), (2, 2));
}

#[test]
fn a_catalogue_whose_tax_ids_would_not_fit_a_sale_is_refused_whole() {
    let t = open_till();
    let rate =
        |id: String, label: String| serde_json::json!({"id": id, "label": label, "percent": "1"});
    let cases = [
        ("rates", rate("r".repeat(501), "long id".into())),
        ("rates", rate(" ".into(), "blank id".into())),
        ("rates", rate("ok".into(), "l".repeat(501))),
        (
            "categories",
            serde_json::json!({"id": "c".repeat(501), "rate_ids": []}),
        ),
    ];
    for (list, extra) in cases {
        let mut catalog = serde_json::to_value(uk_catalog()).unwrap();
        catalog["tax"][list].as_array_mut().unwrap().push(extra);
        let err = t
            .till
            .import_catalog_json(&catalog.to_string())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCatalog(_)), "{err:?}");
    }
    assert!(t.till.catalog_cursor("uk-01").unwrap().is_none());
}
