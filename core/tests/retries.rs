//! A retry never writes a second record: a cart carries its sale's id from its creation, so
//! completing it again returns the sale already written; a refund carries the id its
//! caller made once, so giving it again returns the refund already given. Asked for
//! something else under the same id, both answer a typed error and write nothing.

mod common;

use common::*;
use tillkit_core::refund::{
    CompletedRefund, RefundItem, RefundLines, RefundRequest, RefundTender, SaleRef,
};
use tillkit_core::sale::{Payment, PaymentMethod, SaleRecord};
use tillkit_core::{Error, Till};
use uuid::Uuid;

fn cash(amount: &str) -> Payment {
    Payment {
        method: PaymentMethod::Cash,
        amount: d(amount),
        reference: None,
    }
}

fn count(till: &Till, sql: &str) -> i64 {
    tillkit_core::testing::inspect(till, |c| Ok(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

/// Everything a record writes: sales and refunds, queue rows, stock movements, the
/// register's last receipt number, and the kettle's stock.
fn written(till: &Till) -> (i64, i64, i64, i64, rust_decimal::Decimal) {
    (
        count(till, "SELECT count(*) FROM sales"),
        count(till, "SELECT count(*) FROM outbox"),
        count(till, "SELECT count(*) FROM stock_movements"),
        count(
            till,
            "SELECT coalesce(max(last_seq), 0) FROM register_seq WHERE register_id = 'R07'",
        ),
        till.product("p-kettle").unwrap().stock,
    )
}

#[test]
fn completing_the_same_cart_again_returns_its_sale_and_writes_nothing() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("1")).unwrap();
    t.till.add_product(&mut cart, "p-bread", d("2")).unwrap();
    // The same cart as another handle saw it before the sale was written (the flag of
    // `cart` is not on it): the store itself knows the sale.
    let earlier_copy = cart.clone();
    let first = t.till.complete_sale(&cart, &[cash("50")]).unwrap();
    assert!(!first.already_written);
    assert_eq!(
        first.record.sale_id,
        cart.sale_id(),
        "the sale has its cart's id"
    );
    assert_eq!(cart.completed_receipt(), Some("R07-000001"));
    let after_first = written(&t.till);
    assert_eq!(after_first, (1, 1, 1, 1, d("2")));
    assert_eq!(t.till.queue_counts().unwrap().pending, 1);

    for again in [&cart, &earlier_copy] {
        let retry = t.till.complete_sale(again, &[cash("50")]).unwrap();
        assert!(retry.already_written);
        assert_eq!(
            retry.record, first.record,
            "the same id, receipt number and figures"
        );
        assert_eq!(retry.stored_bytes, first.stored_bytes);
        assert_eq!(written(&t.till), after_first, "nothing more was written");
        assert_eq!(t.till.queue_counts().unwrap().pending, 1);
    }

    // No receipt number was taken by the retries, and the journal holds one record.
    let mut next = t.till.new_cart().unwrap();
    assert_ne!(next.sale_id(), cart.sale_id());
    t.till.add_product(&mut next, "p-bread", d("1")).unwrap();
    let next = t.till.complete_sale(&next, &[cash("3.20")]).unwrap();
    assert_eq!(next.record.receipt_no, "R07-000002");
    let journal = t.till.verify_journal().unwrap();
    assert!(journal.intact, "{journal:?}");
    assert_eq!(journal.records, 2);

    // After a restart the cart's retry still finds its sale (the store decides, not memory).
    let cart = earlier_copy;
    let t = t.reopen();
    t.till.login("uk-01", "R07", "bob").unwrap();
    let retry = t.till.complete_sale(&cart, &[cash("50")]).unwrap();
    assert!(retry.already_written);
    assert_eq!(retry.record, first.record);
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), 2);
    assert_eq!(t.till.queue_counts().unwrap().pending, 2);
}

#[test]
fn the_same_cart_with_other_payments_or_lines_is_a_typed_error_and_writes_nothing() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("1")).unwrap();
    let mut edited_copy = cart.clone();
    let sale = t.till.complete_sale(&cart, &[cash("40")]).unwrap().record;
    let before = written(&t.till);

    let names_the_sale = |e: Error| match e {
        Error::SaleAlreadyCompleted {
            sale_id,
            receipt_no,
            reason,
        } => {
            assert_eq!(sale_id, sale.sale_id.to_string());
            assert_eq!(receipt_no, sale.receipt_no);
            reason
        }
        other => panic!("expected SaleAlreadyCompleted, got {other:?}"),
    };
    let reason = names_the_sale(t.till.complete_sale(&cart, &[cash("50")]).unwrap_err());
    assert!(reason.contains("other payments"), "{reason}");
    let card = Payment {
        method: PaymentMethod::Card,
        amount: d("34.99"),
        reference: Some("AUTH-9".into()),
    };
    names_the_sale(t.till.complete_sale(&cart, &[card]).unwrap_err());
    // A copy edited before the sale was written is refused when completed: its lines differ.
    t.till
        .add_product(&mut edited_copy, "p-bread", d("1"))
        .unwrap();
    let reason = names_the_sale(
        t.till
            .complete_sale(&edited_copy, &[cash("40")])
            .unwrap_err(),
    );
    assert!(reason.contains("other lines"), "{reason}");
    assert_eq!(written(&t.till), before, "nothing was written");
    assert_eq!(t.till.queue_counts().unwrap().pending, 1);
}

#[test]
fn a_completed_cart_refuses_every_edit() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    let line = t.till.add_product(&mut cart, "p-kettle", d("1")).unwrap();
    let sale = t.till.complete_sale(&cart, &[cash("40")]).unwrap().record;
    let lines = cart.lines().to_vec();

    let refused = |r: Result<(), Error>, what: &str| match r {
        Err(Error::SaleAlreadyCompleted { receipt_no, .. }) => {
            assert_eq!(receipt_no, sale.receipt_no, "{what}")
        }
        other => panic!("{what}: expected SaleAlreadyCompleted, got {other:?}"),
    };
    refused(
        t.till.add_product(&mut cart, "p-bread", d("1")).map(|_| ()),
        "add",
    );
    refused(
        t.till
            .add_barcode(&mut cart, "5012345678924", d("1"))
            .map(|_| ()),
        "add by barcode",
    );
    refused(cart.set_quantity(line, d("2")), "set quantity");
    refused(
        t.till.apply_discount(&mut cart, "staff10", None, None),
        "discount",
    );
    refused(cart.clear_discount(None), "clear discount");
    refused(cart.remove(line), "remove");
    assert_eq!(cart.lines(), lines.as_slice(), "the cart is as it was sold");
    assert_eq!(written(&t.till).0, 1);
}

#[test]
fn a_refused_completion_leaves_the_cart_open_and_its_retry_writes_one_sale() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("1")).unwrap();
    assert!(matches!(
        t.till.complete_sale(&cart, &[cash("10")]),
        Err(Error::Underpaid { .. })
    ));
    assert_eq!(written(&t.till), (0, 0, 0, 0, d("3")));
    // Nothing was written: the cart can still change and be paid another way.
    t.till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    let sale = t.till.complete_sale(&cart, &[cash("40")]).unwrap();
    assert!(!sale.already_written);
    assert_eq!(sale.record.receipt_no, "R07-000001");
    assert_eq!(written(&t.till), (1, 1, 1, 1, d("2")));
}

fn sell_kettles(till: &Till) -> SaleRecord {
    let mut cart = till.new_cart().unwrap();
    till.add_product(&mut cart, "p-kettle", d("2")).unwrap();
    till.add_product(&mut cart, "p-bread", d("1")).unwrap();
    let total = cart.totals().unwrap().total;
    till.complete_sale(
        &cart,
        &[Payment {
            method: PaymentMethod::Card,
            amount: total,
            reference: Some("AUTH-1".into()),
        }],
    )
    .unwrap()
    .record
}

fn one_kettle(refund_id: Uuid, sale: &SaleRecord, tender: RefundTender) -> RefundRequest {
    RefundRequest {
        refund_id,
        sale: SaleRef::Receipt(sale.receipt_no.clone()),
        lines: RefundLines::Items(vec![RefundItem {
            line_no: 1,
            quantity: d("1"),
            restock: true,
        }]),
        tender,
        reason: Some("faulty".into()),
    }
}

fn given(r: Result<CompletedRefund, Error>) -> CompletedRefund {
    r.unwrap_or_else(|e| panic!("refund refused: {e:?}"))
}

#[test]
fn a_refund_retried_with_its_id_is_given_once() {
    let t = uk_till();
    let sale = sell_kettles(&t.till);
    let id = Uuid::now_v7();
    let first = given(t.till.refund(&one_kettle(id, &sale, RefundTender::Cash)));
    assert!(!first.already_written);
    assert_eq!(first.record.refund_id, id, "the refund has the caller's id");
    let after_first = written(&t.till);
    assert_eq!(after_first, (2, 2, 2, 2, d("2")));

    // The screen re-sends: by receipt, then by sale id; a changed reason is the same refund.
    let mut again = one_kettle(id, &sale, RefundTender::Cash);
    for request in [
        again.clone(),
        RefundRequest {
            sale: SaleRef::SaleId(sale.sale_id.to_string()),
            reason: None,
            ..again.clone()
        },
    ] {
        let retry = given(t.till.refund(&request));
        assert!(retry.already_written);
        assert_eq!(retry.record, first.record, "the same receipt and figures");
        assert_eq!(retry.stored_bytes, first.stored_bytes);
        assert_eq!(written(&t.till), after_first, "nothing more was written");
    }
    let (_, left) = t
        .till
        .refundable(&SaleRef::Receipt(sale.receipt_no.clone()))
        .unwrap();
    assert_eq!(left[0].left, d("1"), "one kettle came back, once");

    // The refund after it takes the next number: the retries took none.
    again.refund_id = Uuid::now_v7();
    let second = given(t.till.refund(&again));
    assert_eq!(second.record.seq, first.record.seq + 1);
    assert!(t.till.verify_journal().unwrap().intact);
}

#[test]
fn everything_left_retried_with_its_id_is_the_same_refund() {
    let t = uk_till();
    let sale = sell_kettles(&t.till);
    given(
        t.till
            .refund(&one_kettle(Uuid::now_v7(), &sale, RefundTender::Cash)),
    );
    let id = Uuid::now_v7();
    let everything = RefundRequest {
        refund_id: id,
        sale: SaleRef::SaleId(sale.sale_id.to_string()),
        lines: RefundLines::Everything { restock: true },
        tender: RefundTender::Card {
            reference: "AUTH-R2".into(),
        },
        reason: None,
    };
    let rest = given(t.till.refund(&everything));
    let before = written(&t.till);
    let retry = given(t.till.refund(&everything));
    assert!(retry.already_written);
    assert_eq!(retry.record, rest.record);
    assert_eq!(written(&t.till), before);
    // Not restocked this time: not what was given.
    let err = t
        .till
        .refund(&RefundRequest {
            lines: RefundLines::Everything { restock: false },
            ..everything
        })
        .unwrap_err();
    assert!(matches!(err, Error::RefundAlreadyGiven { .. }), "{err:?}");
    assert_eq!(written(&t.till), before);
}

#[test]
fn a_refund_id_reused_for_something_else_is_a_typed_error_and_writes_nothing() {
    let t = uk_till();
    let sale = sell_kettles(&t.till);
    let other_sale = sell_kettles(&t.till);
    let id = Uuid::now_v7();
    let first = given(t.till.refund(&one_kettle(id, &sale, RefundTender::Cash)));
    let before = written(&t.till);

    let card = RefundTender::Card {
        reference: "AUTH-R1".into(),
    };
    let two_kettles = RefundRequest {
        lines: RefundLines::Items(vec![RefundItem {
            line_no: 1,
            quantity: d("2"),
            restock: true,
        }]),
        ..one_kettle(id, &sale, RefundTender::Cash)
    };
    let not_restocked = RefundRequest {
        lines: RefundLines::Items(vec![RefundItem {
            line_no: 1,
            quantity: d("1"),
            restock: false,
        }]),
        ..one_kettle(id, &sale, RefundTender::Cash)
    };
    let cases = [
        ("another tender", one_kettle(id, &sale, card)),
        (
            "another sale",
            one_kettle(id, &other_sale, RefundTender::Cash),
        ),
        ("another quantity", two_kettles),
        ("not restocked", not_restocked),
    ];
    for (what, request) in cases {
        match t.till.refund(&request) {
            Err(Error::RefundAlreadyGiven {
                refund_id,
                receipt_no,
                ..
            }) => {
                assert_eq!(refund_id, id.to_string(), "{what}");
                assert_eq!(receipt_no, first.record.receipt_no, "{what}");
            }
            other => panic!("{what}: expected RefundAlreadyGiven, got {other:?}"),
        }
        assert_eq!(written(&t.till), before, "{what}: nothing was written");
    }

    // A sale's id is not a refund's; the nil UUID is no id.
    let err = t
        .till
        .refund(&one_kettle(sale.sale_id, &other_sale, RefundTender::Cash))
        .unwrap_err();
    assert!(matches!(err, Error::RefundAlreadyGiven { .. }), "{err:?}");
    let err = t
        .till
        .refund(&one_kettle(Uuid::nil(), &sale, RefundTender::Cash))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(written(&t.till), before);
}
