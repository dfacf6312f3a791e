//! Promises of catalogue and sale capture: atomic imports, search, live totals, one
//! transaction per sale, gapless receipts, oversell flagged, store-scoped queue.

mod common;

use common::*;
use tillkit_core::Error;
use tillkit_core::catalog::{CatalogJson, CatalogPayload, PayloadKind, ProductRecord};
use tillkit_core::outbox::Verdict;
use tillkit_core::sale::{Payment, PaymentMethod};

fn cash(amount: &str) -> Payment {
    Payment {
        method: PaymentMethod::Cash,
        amount: d(amount),
        reference: None,
    }
}

fn card(amount: rust_decimal::Decimal, reference: &str) -> Payment {
    Payment {
        method: PaymentMethod::Card,
        amount,
        reference: Some(reference.into()),
    }
}

fn count(t: &TestTill, sql: &str) -> i64 {
    tillkit_core::testing::inspect(&t.till, |c| Ok(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

#[test]
fn search_finds_words_prefixes_sku_and_barcode_but_not_inactive() {
    let t = uk_till();
    let names = |q: &str| {
        t.till
            .search(q)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(names("kettle"), ["p-kettle"]);
    assert_eq!(names("ket"), ["p-kettle"], "prefix of a word");
    assert_eq!(
        names("zanz bra"),
        ["p-kettle"],
        "prefixes of several words in any order"
    );
    assert_eq!(names("KET-001"), ["p-kettle"], "SKU");
    assert_eq!(names("5012345678917"), ["p-seat"], "barcode");
    assert_eq!(names("cheddar"), ["p-cheese"]);
    assert!(names("mug").is_empty(), "inactive products are not offered");
    assert!(
        names("\"*)(").is_empty(),
        "FTS syntax in the input is harmless"
    );
    assert!(names("").is_empty());
    let err = t
        .till
        .add_product(&mut t.till.new_cart().unwrap(), "p-old", d("1"))
        .unwrap_err();
    assert!(matches!(err, Error::ProductInactive { .. }), "{err:?}");
}

#[test]
fn a_bad_catalogue_is_refused_whole_and_the_previous_one_stays() {
    let t = uk_till();
    let mut bad_cases: Vec<(&str, CatalogPayload)> = Vec::new();
    let mut dup_barcode = uk_catalog();
    dup_barcode.products[1].barcodes = dup_barcode.products[0].barcodes.clone();
    bad_cases.push(("duplicate barcode", dup_barcode));
    let mut unknown_cat = uk_catalog();
    unknown_cat.products[0].tax_category = Some("luxury".into());
    bad_cases.push(("unknown tax category", unknown_cat));
    let mut negative = uk_catalog();
    negative.products[2].price = d("-1.00");
    bad_cases.push(("negative price", negative));
    let mut too_precise = uk_catalog();
    too_precise.products[2].price = d("1.005");
    bad_cases.push(("more decimals than the currency", too_precise));
    let mut no_tax = uk_catalog();
    no_tax.tax = None;
    bad_cases.push(("snapshot without tax settings", no_tax));
    let mut bad_rate = uk_catalog();
    bad_rate.tax.as_mut().unwrap().rates[0].percent = d("120");
    bad_cases.push(("tax rate above 100", bad_rate));
    // A delta whose new barcode collides with a product it does not touch.
    let mut delta = uk_catalog();
    delta.kind = PayloadKind::Delta;
    delta.cursor = "2".into();
    delta.products = vec![ProductRecord {
        id: "p-new".into(),
        sku: "NEW-1".into(),
        barcodes: vec!["5012345678900".into()],
        ..uk_catalog().products[2].clone()
    }];
    bad_cases.push(("delta barcode colliding with an existing product", delta));

    // A product that is not one, late in the list (after others were written), as JSON.
    let mut malformed = serde_json::to_value(uk_catalog()).unwrap();
    malformed["products"][3]["price"] = "a lot".into();
    let malformed = malformed.to_string();

    let as_json: Vec<(&str, String)> = bad_cases
        .iter()
        .map(|(what, p)| (*what, serde_json::to_string(p).unwrap()))
        .chain([("a malformed product", malformed)])
        .collect();
    for (what, payload) in &bad_cases {
        let err = t.till.import_catalog(payload).unwrap_err();
        assert_refused(&t, what, err);
    }
    // The same, read as JSON one product at a time.
    for (what, json) in &as_json {
        let err = t.till.import_catalog_json(json).unwrap_err();
        assert_refused(&t, what, err);
    }
    let err = t.till.import_catalog_json("{\"store_id\": 5}").unwrap_err();
    assert!(matches!(err, Error::InvalidCatalog(_)), "{err:?}");
}

fn assert_refused(t: &TestTill, what: &str, err: Error) {
    {
        assert!(
            matches!(err, Error::InvalidCatalog(_) | Error::Tax(_)),
            "{what}: {err:?}"
        );
        assert_eq!(
            t.till.search("kettle").unwrap().len(),
            1,
            "{what}: previous catalogue must stay"
        );
        assert_eq!(
            t.till.catalog_cursor("uk-01").unwrap().as_deref(),
            Some("1"),
            "{what}"
        );
        assert_eq!(
            count(t, "SELECT count(*) FROM products WHERE store_id = 'uk-01'"),
            5,
            "{what}"
        );
    }
}

#[test]
fn a_catalogue_read_as_json_one_product_at_a_time_imports_as_the_decoded_one() {
    let mut payload = uk_catalog();
    payload.removed_product_ids = vec!["p-gone".into()];
    payload.removed_discount_ids = vec!["d-gone".into()];
    let full = serde_json::to_value(&payload).unwrap();
    // Every field but the products is in the head; the products are left in the JSON.
    let json = full.to_string();
    let read = CatalogJson::parse(json.as_bytes()).unwrap();
    let mut head = payload.clone();
    head.products.clear();
    assert_eq!(read.head(), &head);
    assert!(!payload.discounts.is_empty() && payload.tax.is_some());

    // Whatever order the fields come in (here the products before the tax settings, and an
    // unknown field between them), the same catalogue is applied.
    let mut reordered = String::from("{\"products\":");
    reordered.push_str(&full["products"].to_string());
    reordered.push_str(",\"from_a_newer_server\":[1,{\"products\":2}]");
    for (key, value) in full.as_object().unwrap() {
        if key != "products" {
            reordered.push_str(&format!(",{}:{value}", serde_json::to_string(key).unwrap()));
        }
    }
    reordered.push('}');
    let listing = |t: &TestTill| {
        let ids = ["p-seat", "p-cheese", "p-kettle", "p-bread", "p-old"];
        ids.map(|id| t.till.product(id).unwrap())
    };
    let decoded = open_till();
    decoded.till.import_catalog(&payload).unwrap();
    decoded.till.login("uk-01", "R07", "alice").unwrap();
    for json in [json, reordered] {
        let t = open_till();
        let summary = t.till.import_catalog_json(&json).unwrap();
        t.till.login("uk-01", "R07", "alice").unwrap();
        assert_eq!(summary.products, 5);
        assert_eq!(listing(&t), listing(&decoded));
        assert_eq!(t.till.search("kettle").unwrap().len(), 1);
    }

    // Two product lists in one payload are not a payload.
    let twice = format!("{{\"products\":[],{}", &full.to_string()[1..]);
    let err = open_till().till.import_catalog_json(&twice).unwrap_err();
    assert!(matches!(err, Error::InvalidCatalog(_)), "{err:?}");
}

#[test]
fn a_delta_updates_adds_and_removes_products_and_keeps_local_stock_movements() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-seat", d("2")).unwrap();
    t.till.complete_sale(&cart, &[cash("178.00")]).unwrap();
    assert_eq!(t.till.product("p-seat").unwrap().stock, d("8"));

    let mut delta = uk_catalog();
    delta.kind = PayloadKind::Delta;
    delta.cursor = "2".into();
    delta.tax = None;
    let mut seat = uk_catalog().products[1].clone();
    seat.price = d("79.00");
    seat.stock = d("20"); // the server has not seen the local sale yet
    let fresh = ProductRecord {
        id: "p-tea".into(),
        sku: "TEA-9".into(),
        name: "Assam Tea".into(),
        barcodes: vec![],
        ..seat.clone()
    };
    delta.products = vec![seat, fresh];
    delta.removed_product_ids = vec!["p-bread".into()];
    t.till.import_catalog(&delta).unwrap();

    let seat = t.till.product("p-seat").unwrap();
    assert_eq!(seat.price, d("79.00"));
    assert_eq!(
        seat.stock,
        d("18"),
        "unsynced local movements are re-applied on top of the server's stock"
    );
    assert_eq!(t.till.search("assam").unwrap().len(), 1);
    assert!(t.till.search("sourdough").unwrap().is_empty());
    assert_eq!(
        t.till.catalog_cursor("uk-01").unwrap().as_deref(),
        Some("2")
    );
}

#[test]
fn an_open_cart_keeps_the_prices_it_showed() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("1")).unwrap();
    let mut update = uk_catalog();
    update.cursor = "2".into();
    update.products[0].price = d("99.99");
    t.till.import_catalog(&update).unwrap();
    assert_eq!(cart.totals().unwrap().total, d("34.99"));
    let sale = t.till.complete_sale(&cart, &[cash("34.99")]).unwrap();
    assert_eq!(sale.record.lines[0].unit_price, d("34.99"));
}

#[test]
fn completing_a_sale_writes_everything_in_one_transaction() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till
        .add_barcode(&mut cart, "5012345678900", d("1"))
        .unwrap();
    t.till.add_product(&mut cart, "p-seat", d("1")).unwrap();
    t.till
        .add_product(&mut cart, "p-cheese", d("0.375"))
        .unwrap();
    let totals = cart.totals().unwrap();
    // 34.99 + 89.00 + 18.40 * 0.375 (= 6.90)
    assert_eq!(totals.total, d("130.89"));
    let sale = t
        .till
        .complete_sale(&cart, &[card(d("100.00"), "AUTH-1"), cash("40")])
        .unwrap();
    let r = &sale.record;
    assert_eq!(r.receipt_no, "R07-000001");
    assert_eq!(r.change_due, d("9.11"));
    assert_eq!(r.sale_id.get_version_num(), 7);
    assert_eq!(
        r.taxes.iter().map(|t| t.tax).sum::<rust_decimal::Decimal>(),
        r.tax_total
    );
    assert_eq!(count(&t, "SELECT count(*) FROM sales"), 1);
    assert_eq!(count(&t, "SELECT count(*) FROM stock_movements"), 3);
    assert_eq!(count(&t, "SELECT count(*) FROM outbox"), 1);
    assert_eq!(r.lines.len(), 3);
    assert_eq!(r.payments.len(), 2);
    assert_eq!(
        r.lines[0].name, "Brass Kettle Zanzibar",
        "the line keeps the name as sold"
    );
    assert_eq!(t.till.product("p-cheese").unwrap().stock, d("5.125"));
    let (stored, settings) = t.till.load_sale(&r.sale_id.to_string()).unwrap().unwrap();
    assert_eq!(&stored, r);
    assert!(stored.totals_match(&stored.recompute(&settings).unwrap()));
}

#[test]
fn receipt_numbers_are_gapless_even_after_a_refused_sale() {
    let t = uk_till();
    let mut receipts = Vec::new();
    for i in 0..5 {
        let mut cart = t.till.new_cart().unwrap();
        t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
        if i == 2 {
            assert!(matches!(
                t.till.complete_sale(&cart, &[cash("1.00")]),
                Err(Error::Underpaid { .. })
            ));
        }
        receipts.push(
            t.till
                .complete_sale(&cart, &[cash("3.20")])
                .unwrap()
                .record
                .receipt_no,
        );
    }
    assert_eq!(
        receipts,
        [
            "R07-000001",
            "R07-000002",
            "R07-000003",
            "R07-000004",
            "R07-000005"
        ]
    );
}

#[test]
fn overselling_is_allowed_and_flagged() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("2")).unwrap();
    assert!(
        !t.till
            .complete_sale(&cart, &[cash("69.98")])
            .unwrap()
            .record
            .oversold
    );
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("2")).unwrap();
    let sale = t.till.complete_sale(&cart, &[cash("69.98")]).unwrap();
    assert!(sale.record.oversold);
    assert_eq!(t.till.product("p-kettle").unwrap().stock, d("-1"));
}

#[test]
fn swiss_cash_is_rounded_to_five_rappen_but_card_is_not() {
    let t = open_till();
    t.till.import_catalog(&ch_catalog()).unwrap();
    t.till.login("ch-01", "K1", "urs").unwrap();
    // One chocolate bar per sale, each its own cart (a cart is one sale).
    let choc = || {
        let mut cart = t.till.new_cart().unwrap();
        t.till.add_product(&mut cart, "p-choc", d("1")).unwrap();
        cart
    };
    let sale = t.till.complete_sale(&choc(), &[cash("5")]).unwrap().record;
    assert_eq!(
        (
            sale.total,
            sale.cash_rounding,
            sale.amount_due,
            sale.change_due
        ),
        (d("3.92"), d("-0.02"), d("3.90"), d("1.10"))
    );
    let sale = t
        .till
        .complete_sale(&choc(), &[card(d("3.92"), "T-1")])
        .unwrap()
        .record;
    assert_eq!(
        (sale.cash_rounding, sale.amount_due, sale.change_due),
        (d("0"), d("3.92"), d("0"))
    );
    assert_eq!(
        sale.tax_total,
        t.till
            .complete_sale(&choc(), &[cash("3.90")])
            .unwrap()
            .record
            .tax_total,
        "cash rounding never changes tax"
    );
}

#[test]
fn the_queue_is_scoped_to_the_store_and_survives_logout_and_restart() {
    let t = uk_till();
    t.till.import_catalog(&ch_catalog()).unwrap();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    t.till.complete_sale(&cart, &[cash("3.20")]).unwrap();
    t.till.logout();
    assert!(matches!(t.till.queue_counts(), Err(Error::NoSession)));
    t.till.login("ch-01", "K1", "urs").unwrap();
    assert_eq!(
        t.till.queue_counts().unwrap().pending,
        0,
        "store B does not see store A's queue"
    );
    assert!(t.till.pending_sales(10).unwrap().is_empty());
    assert!(
        matches!(
            t.till.complete_sale(&cart, &[cash("3.20")]),
            Err(Error::InvalidInput { .. })
        ),
        "a cart of store A cannot be sold in store B"
    );
    let t = t.reopen();
    t.till.login("uk-01", "R07", "bob").unwrap();
    let pending = t.till.pending_sales(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].receipt_no, "R07-000001");
}

#[test]
fn discounts_follow_the_catalogue_rules() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    let line = t.till.add_product(&mut cart, "p-kettle", d("1")).unwrap();
    t.till.add_product(&mut cart, "p-seat", d("1")).unwrap();
    let err = t
        .till
        .apply_discount(&mut cart, "manager", Some(line), Some(d("5")))
        .unwrap_err();
    assert!(matches!(err, Error::NeedsConnection { .. }), "{err:?}");
    let err = t
        .till
        .apply_discount(&mut cart, "damaged", Some(line), Some(d("60")))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { .. }),
        "above the limit: {err:?}"
    );
    t.till
        .apply_discount(&mut cart, "damaged", Some(line), Some(d("50")))
        .unwrap();
    t.till
        .apply_discount(&mut cart, "staff10", None, None)
        .unwrap();
    let totals = cart.totals().unwrap();
    // Kettle 34.99 - 17.50 (50%, half-up) = 17.49; cart 10% of 106.49 = 10.65 spread pro rata.
    assert_eq!(totals.discount_total, d("28.15"));
    assert_eq!(totals.total, d("95.84"));
    let sale = t.till.complete_sale(&cart, &[cash("100")]).unwrap().record;
    assert_eq!(sale.total, d("95.84"));
    assert!(matches!(
        t.till.apply_discount(&mut cart, "nope", None, None),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn server_backed_tenders_are_refused_offline() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    for method in [
        PaymentMethod::GiftCard,
        PaymentMethod::StoreCredit,
        PaymentMethod::Loyalty,
    ] {
        let err = t
            .till
            .complete_sale(
                &cart,
                &[Payment {
                    method,
                    amount: d("3.20"),
                    reference: None,
                }],
            )
            .unwrap_err();
        assert!(matches!(err, Error::NeedsConnection { .. }), "{err:?}");
    }
    assert_eq!(count(&t, "SELECT count(*) FROM sales"), 0);
}

/// Sets a sale aside as a server's `rejected` answer would.
fn set_aside(t: &TestTill, sale_id: &str, reason: &str) {
    tillkit_core::testing::apply_verdicts(
        &t.till,
        &[(sale_id.to_string(), Verdict::SetAside(reason.into()))],
    )
    .unwrap();
}

#[test]
fn a_set_aside_sale_is_listed_with_its_reason_and_exportable() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    let bad = t.till.complete_sale(&cart, &[cash("3.20")]).unwrap().record;
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    let good = t.till.complete_sale(&cart, &[cash("5")]).unwrap().record;
    set_aside(
        &t,
        &bad.sale_id.to_string(),
        "rejected: totals do not add up",
    );
    let attention = t.till.attention_sales(10).unwrap();
    assert_eq!(attention.len(), 1);
    assert_eq!(
        attention[0].reason.as_deref(),
        Some("rejected: totals do not add up")
    );
    assert_eq!(
        t.till.pending_sales(10).unwrap()[0].sale_id,
        good.sale_id.to_string(),
        "the rest of the queue goes on"
    );
    let exported: serde_json::Value =
        serde_json::from_str(&t.till.export_attention_sales().unwrap()).unwrap();
    assert_eq!(exported[0]["reason"], "rejected: totals do not add up");
    assert_eq!(exported[0]["sale"]["receipt_no"], bad.receipt_no.as_str());
    assert_eq!(exported[0]["sale"]["total"], "3.20");
    // Set aside, not lost: the sale itself is still stored whole.
    assert!(
        t.till
            .load_sale(&bad.sale_id.to_string())
            .unwrap()
            .is_some()
    );
}

#[test]
fn queue_counts_stay_exact_through_sales_acks_and_set_asides() {
    let t = uk_till();
    let recount = |t: &TestTill| {
        tillkit_core::testing::recount(&t.till)
            .unwrap()
            .remove("uk-01")
            .unwrap_or_default()
    };
    let sell = |t: &TestTill| {
        let mut cart = t.till.new_cart().unwrap();
        t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
        t.till.complete_sale(&cart, &[cash("3.20")]).unwrap().record
    };
    assert_eq!(t.till.queue_counts().unwrap(), recount(&t));
    let first = sell(&t);
    let second = sell(&t);
    sell(&t);
    let counts = t.till.queue_counts().unwrap();
    assert_eq!(counts, recount(&t));
    assert_eq!(
        (counts.pending, counts.oldest_pending_at),
        (3, Some(first.created_at))
    );
    tillkit_core::testing::apply_verdicts(&t.till, &[(first.sale_id.to_string(), Verdict::Synced)])
        .unwrap();
    assert_eq!(t.till.queue_counts().unwrap(), recount(&t));
    assert_eq!(t.till.queue_counts().unwrap().pending, 2);
    set_aside(&t, &second.sale_id.to_string(), "no");
    sell(&t);
    let counts = t.till.queue_counts().unwrap();
    assert_eq!(counts, recount(&t));
    assert_eq!((counts.pending, counts.attention), (2, 1));
}

#[test]
fn the_verdicts_of_one_upload_are_applied_in_one_transaction_or_not_at_all() {
    let t = uk_till();
    let sell = |t: &TestTill| {
        let mut cart = t.till.new_cart().unwrap();
        t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
        t.till.complete_sale(&cart, &[cash("3.20")]).unwrap().record
    };
    let sales: Vec<_> = (0..3).map(|_| sell(&t)).collect();
    let verdicts: Vec<(String, Verdict)> = vec![
        (sales[0].sale_id.to_string(), Verdict::Synced),
        (
            sales[1].sale_id.to_string(),
            Verdict::SetAside("rejected: no".into()),
        ),
        (sales[2].sale_id.to_string(), Verdict::Synced),
    ];
    let snapshot = |t: &TestTill| {
        (
            count(t, "SELECT count(*) FROM outbox"),
            count(t, "SELECT count(*) FROM outbox WHERE state = 'attention'"),
            count(t, "SELECT count(*) FROM sales WHERE synced_at IS NOT NULL"),
        )
    };
    assert_eq!(snapshot(&t), (3, 0, 0));
    // The last sale's removal from the queue fails, after the first was stamped and
    // unqueued and the second set aside in the same transaction.
    let last = sales[2].sale_id.to_string();
    tillkit_core::testing::tamper(&t.till, |c| {
        c.execute_batch(&format!(
            "CREATE TEMP TRIGGER fail_unqueue BEFORE DELETE ON outbox
             WHEN OLD.sale_ref = (SELECT id FROM sales WHERE sale_id = '{last}')
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
        ))?;
        Ok(())
    })
    .unwrap();
    let err = tillkit_core::testing::apply_verdicts(&t.till, &verdicts).unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
    assert_eq!(snapshot(&t), (3, 0, 0), "nothing of the upload was applied");
    assert_eq!(t.till.queue_counts().unwrap().pending, 3);
    tillkit_core::testing::tamper(&t.till, |c| {
        c.execute_batch("DROP TRIGGER fail_unqueue;")?;
        Ok(())
    })
    .unwrap();
    // Applied again (the server answers the retry the same), all of it holds.
    tillkit_core::testing::apply_verdicts(&t.till, &verdicts).unwrap();
    assert_eq!(snapshot(&t), (1, 1, 2));
    let counts = t.till.queue_counts().unwrap();
    assert_eq!((counts.pending, counts.attention), (0, 1));
}
