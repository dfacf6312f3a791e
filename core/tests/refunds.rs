//! Refunds offline: whole and partial, never more than was sold, tax given back exactly from
//! the sale's own figures, stock back unless not restockable, their own receipt numbers in
//! the journal, queued after their sale, and nothing half-written when a write fails.

mod common;

use common::*;
use rust_decimal::Decimal;
use tillkit_core::outbox::Verdict;
use tillkit_core::refund::{RefundItem, RefundLines, RefundRequest, RefundTender, SaleRef};
use tillkit_core::sale::{Payment, PaymentMethod, SaleRecord};
use tillkit_core::store::key::KeyVault;
use tillkit_core::{Error, Till};

fn sell(till: &Till, items: &[(&str, &str)], card: bool) -> SaleRecord {
    let mut cart = till.new_cart().unwrap();
    for (product, qty) in items {
        till.add_product(&mut cart, product, d(qty)).unwrap();
    }
    let total = cart.totals().unwrap().total;
    let payment = if card {
        Payment {
            method: PaymentMethod::Card,
            amount: total,
            reference: Some("T-1".into()),
        }
    } else {
        Payment {
            method: PaymentMethod::Cash,
            amount: total + d("5"),
            reference: None,
        }
    };
    till.complete_sale(&cart, &[payment]).unwrap().record
}

fn by_id(sale: &SaleRecord) -> SaleRef {
    SaleRef::SaleId(sale.sale_id.to_string())
}

fn items(sale: &SaleRecord, lines: &[(u32, &str, bool)], tender: RefundTender) -> RefundRequest {
    RefundRequest {
        refund_id: uuid::Uuid::now_v7(),
        sale: by_id(sale),
        lines: RefundLines::Items(
            lines
                .iter()
                .map(|(line_no, q, restock)| RefundItem {
                    line_no: *line_no,
                    quantity: d(q),
                    restock: *restock,
                })
                .collect(),
        ),
        tender,
        reason: None,
    }
}

fn stock(till: &Till, product: &str) -> Decimal {
    till.product(product).unwrap().stock
}

fn count(till: &Till, sql: &str) -> i64 {
    tillkit_core::testing::inspect(till, |c| Ok(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

fn card() -> RefundTender {
    RefundTender::Card {
        reference: "T-R1".into(),
    }
}

#[test]
fn a_whole_refund_gives_back_every_figure_of_the_sale_and_restocks() {
    let t = uk_till();
    let sale = sell(
        &t.till,
        &[("p-kettle", "2"), ("p-seat", "1"), ("p-bread", "3")],
        true,
    );
    assert_eq!(stock(&t.till, "p-kettle"), d("1"));
    let refund = t
        .till
        .refund(&RefundRequest {
            refund_id: uuid::Uuid::now_v7(),
            sale: SaleRef::Receipt(sale.receipt_no.clone()),
            lines: RefundLines::Everything { restock: true },
            tender: card(),
            reason: Some("changed mind".into()),
        })
        .unwrap()
        .record;
    assert_eq!(refund.refund_of, sale.sale_id);
    assert_eq!(refund.total, sale.total);
    assert_eq!(refund.tax_total, sale.tax_total);
    assert_eq!(refund.net_total, sale.net_total);
    assert_eq!(refund.taxes, sale.taxes);
    assert_eq!(refund.amount_paid, sale.total);
    assert_eq!(refund.payments[0].method, PaymentMethod::Card);
    assert_eq!(stock(&t.till, "p-kettle"), d("3"));
    assert_eq!(stock(&t.till, "p-seat"), d("10"));
    let (_, left) = t.till.refundable(&by_id(&sale)).unwrap();
    assert!(left.iter().all(|l| l.left.is_zero()), "{left:?}");
    // Stored as it was returned, and the sale itself is unchanged.
    assert_eq!(
        t.till
            .load_refund(&refund.refund_id.to_string())
            .unwrap()
            .unwrap(),
        refund
    );
    assert_eq!(
        t.till
            .load_sale(&sale.sale_id.to_string())
            .unwrap()
            .unwrap()
            .0,
        sale
    );
    // Nothing is left: another whole refund is an over-refund.
    let err = t
        .till
        .refund(&RefundRequest {
            refund_id: uuid::Uuid::now_v7(),
            sale: by_id(&sale),
            lines: RefundLines::Everything { restock: true },
            tender: card(),
            reason: None,
        })
        .unwrap_err();
    assert!(matches!(err, Error::OverRefund { .. }), "{err:?}");
}

#[test]
fn partial_refunds_up_to_the_sold_quantity_then_over_refund_names_the_line() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-bread", "1"), ("p-kettle", "3")], false);
    for n in 1..=3 {
        let r = t
            .till
            .refund(&items(&sale, &[(2, "1", true)], RefundTender::Cash))
            .unwrap()
            .record;
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.lines[0].line_no, 2);
        let (_, left) = t.till.refundable(&by_id(&sale)).unwrap();
        assert_eq!(left[1].refunded, Decimal::from(n));
        assert_eq!(left[1].left, Decimal::from(3 - n));
        assert_eq!(left[0].left, d("1"));
    }
    let err = t
        .till
        .refund(&items(&sale, &[(2, "1", true)], RefundTender::Cash))
        .unwrap_err();
    match err {
        Error::OverRefund {
            line_no,
            requested,
            sold,
            refunded,
        } => {
            assert_eq!(
                (line_no, requested, sold, refunded),
                (2, d("1"), d("3"), d("3"))
            );
        }
        other => panic!("{other:?}"),
    }
    // More than is left in one go is refused too, and writes nothing.
    let before = count(&t.till, "SELECT count(*) FROM sales");
    let err = t
        .till
        .refund(&items(&sale, &[(1, "1.5", false)], RefundTender::Cash))
        .unwrap_err();
    assert!(
        matches!(err, Error::OverRefund { line_no: 1, .. }),
        "{err:?}"
    );
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), before);
}

#[test]
fn tax_refunded_in_pieces_sums_exactly_to_the_sales_per_rate_breakdown() {
    let t = uk_till();
    // A cart discount spread over lines of two rates and a weighed line: odd cents.
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("3")).unwrap();
    t.till.add_product(&mut cart, "p-seat", d("7")).unwrap();
    t.till
        .add_product(&mut cart, "p-cheese", d("0.777"))
        .unwrap();
    t.till
        .apply_discount(&mut cart, "staff10", None, None)
        .unwrap();
    let total = cart.totals().unwrap().total;
    let sale = t
        .till
        .complete_sale(
            &cart,
            &[Payment {
                method: PaymentMethod::Card,
                amount: total,
                reference: Some("T-9".into()),
            }],
        )
        .unwrap()
        .record;
    let pieces: &[&[(u32, &str, bool)]] = &[
        &[(1, "1", true), (2, "2", true)],
        &[(2, "3", false), (3, "0.1", true)],
        &[(1, "1", true), (3, "0.333", true)],
        &[(1, "1", true), (2, "2", true), (3, "0.344", false)],
    ];
    let mut refunds = Vec::new();
    for piece in pieces {
        refunds.push(t.till.refund(&items(&sale, piece, card())).unwrap().record);
    }
    let sum = |f: &dyn Fn(&tillkit_core::refund::RefundRecord) -> Decimal| {
        refunds.iter().map(f).sum::<Decimal>()
    };
    assert_eq!(sum(&|r| r.total), sale.total);
    assert_eq!(sum(&|r| r.tax_total), sale.tax_total);
    assert_eq!(sum(&|r| r.net_total), sale.net_total);
    for portion in &sale.taxes {
        let tax: Decimal = refunds
            .iter()
            .flat_map(|r| &r.taxes)
            .filter(|p| p.rate_id == portion.rate_id)
            .map(|p| p.tax)
            .sum();
        let base: Decimal = refunds
            .iter()
            .flat_map(|r| &r.taxes)
            .filter(|p| p.rate_id == portion.rate_id)
            .map(|p| p.taxable_base)
            .sum();
        assert_eq!(tax, portion.tax, "{}", portion.rate_id);
        assert_eq!(base, portion.taxable_base, "{}", portion.rate_id);
    }
    for (line, sold) in sale.lines.iter().enumerate() {
        let gross: Decimal = refunds
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|l| l.line_no as usize == line + 1)
            .map(|l| l.gross)
            .sum();
        assert_eq!(gross, sold.gross, "line {}", line + 1);
    }
    // Every figure is in minor units, as the jurisdiction rounds.
    for r in &refunds {
        for l in &r.lines {
            assert_eq!(l.gross.round_dp(2), l.gross);
            assert_eq!(l.tax.round_dp(2), l.tax);
            assert_eq!(l.net + l.tax, l.gross);
        }
        assert_eq!(r.taxes.iter().map(|p| p.tax).sum::<Decimal>(), r.tax_total);
    }
    // The card got back exactly what it paid, and no more can go to it.
    assert_eq!(sum(&|r| r.amount_paid), sale.total);
}

#[test]
fn tax_is_given_back_at_the_sales_rates_not_todays() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-kettle", "1")], true);
    // The store's VAT changes after the sale.
    let mut catalog = uk_catalog();
    catalog.cursor = "2".into();
    catalog.tax.as_mut().unwrap().rates[0].percent = d("25");
    t.till.import_catalog(&catalog).unwrap();
    let r = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap()
        .record;
    assert_eq!(r.tax_total, sale.tax_total);
    assert_eq!(r.taxes, sale.taxes);
    assert_eq!(r.taxes[0].percent, d("20"));
}

#[test]
fn restocked_lines_go_back_to_stock_and_others_do_not() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-kettle", "2"), ("p-cheese", "1.5")], true);
    assert_eq!(stock(&t.till, "p-kettle"), d("1"));
    assert_eq!(stock(&t.till, "p-cheese"), d("4"));
    let r = t
        .till
        .refund(&items(&sale, &[(1, "1", false), (2, "0.5", true)], card()))
        .unwrap()
        .record;
    assert!(!r.lines[0].restock);
    assert!(r.lines[1].restock);
    assert_eq!(
        stock(&t.till, "p-kettle"),
        d("1"),
        "a damaged kettle stays out"
    );
    assert_eq!(stock(&t.till, "p-cheese"), d("4.5"));
    let movements = count(
        &t.till,
        "SELECT count(*) FROM stock_movements m JOIN sales s ON s.id = m.sale_ref
         WHERE s.refund_of IS NOT NULL AND m.product_id = 'p-cheese' AND m.delta_milli = 500",
    );
    assert_eq!(movements, 1);
    assert_eq!(
        count(
            &t.till,
            "SELECT count(*) FROM stock_movements m JOIN sales s ON s.id = m.sale_ref
             WHERE s.refund_of IS NOT NULL AND m.product_id = 'p-kettle'"
        ),
        0
    );
    // An untracked product is never restocked, whatever was asked.
    let sale = sell(&t.till, &[("p-bread", "1")], true);
    let r = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap()
        .record;
    assert!(!r.lines[0].restock);
}

#[test]
fn refunds_take_the_next_receipt_number_and_the_journal_verifies_with_them() {
    let t = uk_till();
    let first = sell(&t.till, &[("p-bread", "2")], false);
    let r = t
        .till
        .refund(&items(&first, &[(1, "1", false)], RefundTender::Cash))
        .unwrap()
        .record;
    let next = sell(&t.till, &[("p-bread", "1")], false);
    assert_eq!(first.seq + 1, r.seq);
    assert_eq!(r.receipt_no, "R07-000002");
    assert_eq!(r.refund_of_receipt, first.receipt_no);
    assert_eq!(next.seq, r.seq + 1);
    let link = r.journal.as_ref().unwrap();
    assert_eq!(link.prev_seq, first.seq);
    assert_eq!(next.journal.as_ref().unwrap().prev_seq, r.seq);
    let report = t.till.verify_journal().unwrap();
    assert!(report.intact, "{report:?}");
    assert_eq!(report.records, 3);
    assert!(
        t.till
            .export_journal()
            .unwrap()
            .contains("\"kind\":\"refund\"")
    );
    // Refunding by the refund's own receipt number is refused: a refund is not a sale.
    let err = t
        .till
        .refund(&RefundRequest {
            refund_id: uuid::Uuid::now_v7(),
            sale: SaleRef::Receipt(r.receipt_no.clone()),
            lines: RefundLines::Everything { restock: false },
            tender: RefundTender::Cash,
            reason: None,
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

#[test]
fn a_queued_unsent_sale_can_be_refunded_and_the_refund_queues_after_it() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-seat", "1")], true);
    assert_eq!(t.till.queue_counts().unwrap().pending, 1);
    let r = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap()
        .record;
    let pending = tillkit_core::testing::pending_ids(&t.till, "uk-01").unwrap();
    assert_eq!(
        pending,
        vec![sale.sale_id.to_string(), r.refund_id.to_string()]
    );
    let counts = t.till.queue_counts().unwrap();
    assert_eq!(counts.pending, 2);
    // A refund goes only once the server acknowledged its sale: never before it, nor in
    // the same batch (the server decides it against the sale as it holds it).
    assert_eq!(
        tillkit_core::testing::next_batch_ids(&t.till, "uk-01", 10).unwrap(),
        vec![sale.sale_id.to_string()]
    );
    tillkit_core::testing::apply_verdicts(&t.till, &[(sale.sale_id.to_string(), Verdict::Synced)])
        .unwrap();
    assert_eq!(
        tillkit_core::testing::next_batch_ids(&t.till, "uk-01", 10).unwrap(),
        vec![r.refund_id.to_string()]
    );
    let listed = t.till.pending_sales(10).unwrap();
    assert_eq!(listed[0].receipt_no, r.receipt_no);
    assert_eq!(listed[0].total, format!("-{}", r.total));
    // It survives a reopen like any sale.
    let t = t.reopen();
    t.till.login("uk-01", "R07", "alice").unwrap();
    assert_eq!(
        t.till
            .load_refund(&r.refund_id.to_string())
            .unwrap()
            .unwrap(),
        r
    );
}

#[test]
fn a_refund_of_a_sale_the_server_set_aside_waits_and_says_why_until_the_sale_is_synced() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-seat", "2")], true);
    let other = sell(&t.till, &[("p-seat", "1")], true);
    let r = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap()
        .record;
    let (sale_id, refund_id) = (sale.sale_id.to_string(), r.refund_id.to_string());
    tillkit_core::testing::apply_verdicts(
        &t.till,
        &[
            (
                sale_id.clone(),
                Verdict::SetAside("tendered does not cover".into()),
            ),
            (other.sale_id.to_string(), Verdict::Synced),
        ],
    )
    .unwrap();
    // Not sent, not set aside, not dropped: pending, with the reason it waits.
    assert!(
        tillkit_core::testing::next_batch_ids(&t.till, "uk-01", 10)
            .unwrap()
            .is_empty()
    );
    let counts = t.till.queue_counts().unwrap();
    assert_eq!((counts.pending, counts.attention), (1, 1));
    let waiting = t.till.pending_sales(10).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].sale_id, refund_id);
    let why = waiting[0].last_error.clone().expect("a reason to wait");
    assert!(
        why.contains(&sale.receipt_no) && why.contains("tendered does not cover"),
        "{why}"
    );
    // A person retries the sale; once the server takes it the refund follows.
    t.till
        .retry_attention_sales(Some(std::slice::from_ref(&sale_id)))
        .unwrap();
    assert_eq!(
        tillkit_core::testing::next_batch_ids(&t.till, "uk-01", 10).unwrap(),
        vec![sale_id.clone()]
    );
    tillkit_core::testing::apply_verdicts(&t.till, &[(sale_id, Verdict::Synced)]).unwrap();
    assert_eq!(
        tillkit_core::testing::next_batch_ids(&t.till, "uk-01", 10).unwrap(),
        vec![refund_id.clone()]
    );
    tillkit_core::testing::apply_verdicts(&t.till, &[(refund_id, Verdict::Synced)]).unwrap();
    assert_eq!(t.till.queue_counts().unwrap().pending, 0);
}

#[test]
fn cash_refunds_use_the_stores_cash_rounding() {
    let t = open_till();
    t.till.import_catalog(&ch_catalog()).unwrap();
    t.till.login("ch-01", "R1", "urs").unwrap();
    let sale = sell(&t.till, &[("p-choc", "1")], true);
    let r = t
        .till
        .refund(&items(&sale, &[(1, "1", false)], RefundTender::Cash))
        .unwrap()
        .record;
    assert_eq!(r.total, d("3.92"));
    assert_eq!(r.amount_paid, d("3.90"));
    assert_eq!(r.cash_rounding, d("-0.02"));
    assert_eq!(r.payments[0].amount, d("3.90"));
    assert_eq!(r.payments[0].method, PaymentMethod::Cash);
}

#[test]
fn a_fault_in_the_middle_of_the_refunds_transaction_leaves_nothing_half_written() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-kettle", "2")], true);
    let snapshot = |till: &Till| {
        (
            count(till, "SELECT count(*) FROM sales"),
            count(till, "SELECT count(*) FROM stock_movements"),
            count(till, "SELECT count(*) FROM outbox"),
            count(till, "SELECT max(last_seq) FROM register_seq"),
            count(till, "SELECT max(head_seq) FROM register_seq"),
            stock(till, "p-kettle"),
        )
    };
    let before = snapshot(&t.till);
    // The queue row is the last write of a refund: fail it, after the record, the journal
    // head and the stock movement were written in the same transaction.
    tillkit_core::testing::tamper(&t.till, |c| {
        c.execute_batch(
            "CREATE TEMP TRIGGER fail_queue BEFORE INSERT ON outbox
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
        )?;
        Ok(())
    })
    .unwrap();
    let err = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
    assert_eq!(snapshot(&t.till), before);
    let (_, left) = t.till.refundable(&by_id(&sale)).unwrap();
    assert_eq!(left[0].left, d("2"));
    tillkit_core::testing::tamper(&t.till, |c| {
        c.execute_batch("DROP TRIGGER fail_queue;")?;
        Ok(())
    })
    .unwrap();
    // The register goes on gapless and its journal holds.
    let r = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap()
        .record;
    assert_eq!(r.seq, sale.seq + 1);
    assert!(t.till.verify_journal().unwrap().intact);
    assert_eq!(stock(&t.till, "p-kettle"), d("2"));
}

#[test]
fn disk_full_during_a_refund_is_a_typed_error_and_nothing_is_written() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-bread", "100")], false);
    let pages = count(&t.till, "PRAGMA page_count") as u64;
    drop(t.till);
    let mut cfg = tillkit_core::Config::new(t.dir.path());
    cfg.max_page_count = Some(pages + 2);
    let till = Till::open_with_vault(cfg, &t.vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    let mut done = 0;
    let err = loop {
        match till.refund(&items(&sale, &[(1, "1", false)], RefundTender::Cash)) {
            Ok(_) => done += 1,
            Err(e) => break e,
        }
        assert!(done < 100, "the page limit never hit");
    };
    assert!(matches!(err, Error::StorageFull), "{err:?}");
    assert_eq!(
        count(
            &till,
            "SELECT count(*) FROM sales WHERE refund_of IS NOT NULL"
        ),
        done
    );
    assert_eq!(count(&till, "SELECT count(*) FROM outbox"), done + 1);
    assert_eq!(
        count(&till, "SELECT max(last_seq) FROM register_seq"),
        done + 1
    );
    let (_, left) = till.refundable(&by_id(&sale)).unwrap();
    assert_eq!(left[0].refunded, Decimal::from(done));
}

#[test]
fn bad_refund_requests_are_typed_errors_and_write_nothing() {
    let t = uk_till();
    let cash_sale = sell(&t.till, &[("p-kettle", "1"), ("p-bread", "1")], false);
    let before = count(&t.till, "SELECT count(*) FROM sales");
    let invalid = |req: RefundRequest| {
        let err = t.till.refund(&req).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    };
    invalid(items(&cash_sale, &[(3, "1", true)], RefundTender::Cash));
    invalid(items(&cash_sale, &[(1, "0", true)], RefundTender::Cash));
    invalid(items(&cash_sale, &[(1, "-1", true)], RefundTender::Cash));
    invalid(items(
        &cash_sale,
        &[(1, "0.0001", true)],
        RefundTender::Cash,
    ));
    invalid(items(
        &cash_sale,
        &[(1, "1", true), (1, "1", true)],
        RefundTender::Cash,
    ));
    invalid(items(&cash_sale, &[], RefundTender::Cash));
    // A cash sale is not refunded to a card (nothing was paid by card); a card refund needs
    // the terminal's reference.
    let err = t
        .till
        .refund(&items(&cash_sale, &[(1, "1", true)], card()))
        .unwrap_err();
    assert!(
        matches!(err, Error::RefundExceedsCard { paid_by_card, .. } if paid_by_card.is_zero()),
        "{err:?}"
    );
    invalid(items(
        &cash_sale,
        &[(1, "1", true)],
        RefundTender::Card {
            reference: " ".into(),
        },
    ));
    let mut long = items(&cash_sale, &[(1, "1", true)], RefundTender::Cash);
    long.reason = Some("x".repeat(10_000));
    invalid(long);
    invalid(RefundRequest {
        refund_id: uuid::Uuid::now_v7(),
        sale: SaleRef::SaleId("not-a-uuid".into()),
        lines: RefundLines::Everything { restock: true },
        tender: RefundTender::Cash,
        reason: None,
    });
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), before);
    // A sale this device does not hold needs the server.
    for sale in [
        SaleRef::Receipt("R99-000001".into()),
        SaleRef::SaleId(uuid::Uuid::now_v7().to_string()),
    ] {
        let err = t
            .till
            .refund(&RefundRequest {
                refund_id: uuid::Uuid::now_v7(),
                sale: sale.clone(),
                lines: RefundLines::Everything { restock: true },
                tender: RefundTender::Cash,
                reason: None,
            })
            .unwrap_err();
        assert!(matches!(err, Error::NeedsConnection { .. }), "{err:?}");
        assert!(matches!(
            t.till.refundable(&sale).unwrap_err(),
            Error::NeedsConnection { .. }
        ));
    }
    // No session: nothing to refund with.
    t.till.logout();
    let err = t
        .till
        .refund(&items(&cash_sale, &[(1, "1", true)], RefundTender::Cash))
        .unwrap_err();
    assert!(matches!(err, Error::NoSession), "{err:?}");
}

fn refund_everything(receipt: &str) -> RefundRequest {
    RefundRequest {
        refund_id: uuid::Uuid::now_v7(),
        sale: SaleRef::Receipt(receipt.into()),
        lines: RefundLines::Everything { restock: true },
        tender: RefundTender::Cash,
        reason: None,
    }
}

/// The server's answer to the register's first contact: it holds none of R07's numbers.
fn server_holds_none(till: &Till) {
    till.raise_seq_floor("uk-01", "R07", 0).unwrap();
}

#[test]
fn an_own_receipt_number_this_register_never_printed_is_an_unknown_receipt_offline() {
    let t = uk_till();
    server_holds_none(&t.till);
    let sale = sell(&t.till, &[("p-bread", "1")], false);
    assert_eq!(sale.receipt_no, "R07-000001");
    let before = count(&t.till, "SELECT count(*) FROM sales");
    for receipt in ["R07-000050", " R07-000002 "] {
        let err = t.till.refund(&refund_everything(receipt)).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownReceipt { receipt: r } if r == receipt.trim()),
            "{err:?}"
        );
        assert!(!err.is_system_failure());
        assert!(matches!(
            t.till
                .refundable(&SaleRef::Receipt(receipt.into()))
                .unwrap_err(),
            Error::UnknownReceipt { .. }
        ));
    }
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), before);
    assert_eq!(count(&t.till, "SELECT count(*) FROM outbox"), 1);
    // Another register's number, or one not in this register's format, still needs the
    // server.
    for receipt in ["R08-000001", "R07-1", "R070-000001"] {
        let err = t.till.refund(&refund_everything(receipt)).unwrap_err();
        assert!(
            matches!(err, Error::NeedsConnection { .. }),
            "{receipt}: {err:?}"
        );
    }
    // The register's own sale is still found by its number, as typed with spaces around it,
    // and refunded.
    let (found, _) = t
        .till
        .refundable(&SaleRef::Receipt(" R07-000001 ".into()))
        .unwrap();
    assert_eq!(found.sale_id, sale.sale_id);
    t.till.refund(&refund_everything("R07-000001")).unwrap();
}

#[test]
fn a_register_that_may_have_numbered_elsewhere_asks_the_server_for_an_own_number() {
    // A new store (a register paired to a new device) whose first contact has not told it
    // the server's highest: the register may have rung numbers on its earlier device.
    let t = uk_till();
    assert!(t.till.needs_seq_floor().unwrap());
    for _ in 0..2 {
        sell(&t.till, &[("p-bread", "1")], false);
    }
    for receipt in ["R07-000003", "R07-000050"] {
        let err = t.till.refund(&refund_everything(receipt)).unwrap_err();
        assert!(
            matches!(err, Error::NeedsConnection { .. }),
            "{receipt}: {err:?}"
        );
    }
    // The server's highest is 40: numbers 3 to 40 were rung on the earlier device, and this
    // one holds 1, 2 and 41 only.
    t.till.raise_seq_floor("uk-01", "R07", 40).unwrap();
    assert_eq!(
        sell(&t.till, &[("p-bread", "1")], false).receipt_no,
        "R07-000041"
    );
    for receipt in ["R07-000020", "R07-000042"] {
        let err = t.till.refund(&refund_everything(receipt)).unwrap_err();
        assert!(
            matches!(err, Error::NeedsConnection { .. }),
            "{receipt}: {err:?}"
        );
    }
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), 3);
}

#[test]
fn after_a_salvage_that_kept_every_sale_an_own_number_not_held_asks_the_server() {
    let t = uk_till();
    for _ in 0..3 {
        sell(&t.till, &[("p-bread", "1")], false);
    }
    tillkit_core::testing::tamper(&t.till, |c| {
        Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
    })
    .unwrap();
    // A catalogue page goes bad: the store asks for recovery, and every sale is salvaged.
    let page: i64 = count(
        &t.till,
        "SELECT min(pageno) FROM dbstat WHERE name = 'products' AND pagetype = 'leaf'",
    );
    let TestTill { dir, vault, till } = t;
    drop(till);
    flip_bytes(
        &dir.path().join("tillkit.db"),
        (page as usize - 1) * 4096 + 200,
        64,
        0xa5,
    );
    // The keychain reserved no number past the three rung: the salvaged counter goes on
    // gapless.
    let book = vault.receipt_book().unwrap();
    let mut reserved = book.load().unwrap();
    for r in &mut reserved.registers {
        r.through = 3;
    }
    book.save(&reserved).unwrap();
    let config = tillkit_core::Config::new(dir.path());
    let till = Till::open_with_vault(config.clone(), &vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    assert!(matches!(
        till.product("p-bread").err(),
        Some(Error::NeedsRecovery { .. })
    ));
    drop(till);
    let report = tillkit_core::store::recovery::recover(&config, &vault).unwrap();
    assert_eq!(report.sales_recovered, 3, "{report:?}");
    let till = Till::open_with_vault(config, &vault).unwrap();
    till.import_catalog(&uk_catalog()).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    server_holds_none(&till);
    assert_eq!(
        sell(&till, &[("p-bread", "1")], false).receipt_no,
        "R07-000004"
    );
    // Numbers 1 to 4, every one held, but a salvage may have lost records: only the server
    // can say whether R07-000005 exists.
    let err = till.refund(&refund_everything("R07-000005")).unwrap_err();
    assert!(matches!(err, Error::NeedsConnection { .. }), "{err:?}");
}

#[test]
fn after_a_fresh_start_an_own_receipt_number_not_held_asks_the_server() {
    let t = uk_till();
    for _ in 0..3 {
        sell(&t.till, &[("p-bread", "1")], false);
    }
    let TestTill { dir, vault, till } = t;
    drop(till);
    flip_bytes(&dir.path().join("tillkit.db"), 0, 4096, 0x5a);
    let config = tillkit_core::Config::new(dir.path());
    assert!(matches!(
        Till::open_with_vault(config.clone(), &vault).err(),
        Some(Error::NeedsRecovery { .. })
    ));
    tillkit_core::store::recovery::start_fresh(&config, &vault).unwrap();
    let till = Till::open_with_vault(config, &vault).unwrap();
    till.import_catalog(&uk_catalog()).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    let after = sell(&till, &[("p-bread", "1")], false);
    assert_ne!(after.receipt_no, "R07-000001");
    // R07-000002 was printed before the fresh start and is gone from this device: only the
    // server can say whether it exists.
    for receipt in ["R07-000002", "R07-099999"] {
        let err = till.refund(&refund_everything(receipt)).unwrap_err();
        assert!(
            matches!(err, Error::NeedsConnection { .. }),
            "{receipt}: {err:?}"
        );
    }
}

#[test]
fn a_card_refund_beyond_what_the_card_paid_is_a_typed_error_with_the_amounts() {
    let t = uk_till();
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-kettle", d("2")).unwrap();
    let total = cart.totals().unwrap().total;
    let sale = t
        .till
        .complete_sale(
            &cart,
            &[
                Payment {
                    method: PaymentMethod::Card,
                    amount: d("40.00"),
                    reference: Some("T-5".into()),
                },
                Payment {
                    method: PaymentMethod::Cash,
                    amount: total - d("40.00"),
                    reference: None,
                },
            ],
        )
        .unwrap()
        .record;
    let first = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap()
        .record;
    let before = count(&t.till, "SELECT count(*) FROM sales");
    let err = t
        .till
        .refund(&items(&sale, &[(1, "1", true)], card()))
        .unwrap_err();
    match &err {
        Error::RefundExceedsCard {
            requested,
            paid_by_card,
            refunded_to_card,
        } => {
            assert_eq!(*requested, sale.total - first.total);
            assert_eq!(*paid_by_card, d("40.00"));
            assert_eq!(*refunded_to_card, first.amount_paid);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_system_failure());
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), before);
    // The rest goes back in cash.
    t.till
        .refund(&items(&sale, &[(1, "1", true)], RefundTender::Cash))
        .unwrap();
}

#[test]
fn a_retried_refund_by_a_receipt_number_with_blanks_returns_the_refund_already_given() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-kettle", "1")], false);
    let request = RefundRequest {
        refund_id: uuid::Uuid::now_v7(),
        // As typed or scanned, with blanks around it: looked up without them.
        sale: SaleRef::Receipt(format!("  {} ", sale.receipt_no)),
        lines: RefundLines::Everything { restock: true },
        tender: RefundTender::Cash,
        reason: None,
    };
    let first = t.till.refund(&request).unwrap();
    assert!(!first.already_written);
    assert_eq!(first.record.refund_of_receipt, sale.receipt_no);
    let rows = count(&t.till, "SELECT count(*) FROM sales");
    // The retry (the same request, the same id) is that refund, not a refusal.
    let again = t.till.refund(&request).unwrap();
    assert!(again.already_written);
    assert_eq!(again.record, first.record);
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), rows);
}

#[test]
fn refunding_everything_of_a_stored_sale_with_no_lines_is_a_typed_error() {
    let t = uk_till();
    let sale = sell(&t.till, &[("p-bread", "1")], false);
    // A record with no lines (the device never writes one; a damaged or foreign record may
    // read so): the refund says so instead of panicking.
    tillkit_core::testing::tamper(&t.till, |c| {
        c.execute(
            "UPDATE sales SET record = json_set(record, '$.lines', json('[]')) WHERE sale_id = ?1",
            [sale.sale_id.to_string()],
        )?;
        Ok(())
    })
    .unwrap();
    let before = count(&t.till, "SELECT count(*) FROM sales");
    let err = t
        .till
        .refund(&RefundRequest {
            refund_id: uuid::Uuid::now_v7(),
            sale: by_id(&sale),
            lines: RefundLines::Everything { restock: true },
            tender: RefundTender::Cash,
            reason: None,
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { reason } if reason.contains("no lines")),
        "{err:?}"
    );
    assert_eq!(count(&t.till, "SELECT count(*) FROM sales"), before);
}

/// The Swiss store (cash rounding to 0.05, half up) with a product of 0.03: three of them
/// make 0.09, paid 0.10 in cash, and one of them alone rounds up to 0.05.
fn ch_till_with_small_change() -> TestTill {
    let t = open_till();
    let mut catalog = serde_json::to_value(ch_catalog()).unwrap();
    catalog["products"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": "p-sweet", "sku": "CH-2", "name": "Bonbon", "price": "0.03",
            "tax_category": "normal"
        }));
    t.till
        .import_catalog(&serde_json::from_value(catalog).unwrap())
        .unwrap();
    t.till.login("ch-01", "R1", "urs").unwrap();
    t
}

#[test]
fn cash_refunds_in_pieces_never_pay_out_more_than_one_whole_refund() {
    let t = ch_till_with_small_change();
    let sale = sell(&t.till, &[("p-sweet", "3")], false);
    assert_eq!(sale.total, d("0.09"));
    assert_eq!(sale.amount_due, d("0.10"));
    let cash = |r: &tillkit_core::refund::RefundRecord| -> Decimal {
        assert!(r.payments.iter().all(|p| p.method == PaymentMethod::Cash));
        let paid: Decimal = r.payments.iter().map(|p| p.amount).sum();
        assert_eq!(paid, r.amount_paid);
        assert_eq!(r.amount_paid, r.total + r.cash_rounding);
        // A multiple of the increment, rounded by less than one increment.
        assert!((r.amount_paid / d("0.05")).fract().is_zero(), "{r:?}");
        assert!(r.cash_rounding.abs() < d("0.05"), "{r:?}");
        r.amount_paid
    };
    let mut paid_out = Vec::new();
    let mut owed = Decimal::ZERO;
    for _ in 0..3 {
        let r = t
            .till
            .refund(&items(&sale, &[(1, "1", false)], RefundTender::Cash))
            .unwrap()
            .record;
        owed += r.total;
        paid_out.push(cash(&r));
    }
    // Each piece owes 0.03; rounding each on its own would pay 0.05 three times (0.15 for a
    // sale paid 0.10).
    assert_eq!(owed, sale.total);
    assert_eq!(paid_out, [d("0.05"), d("0.00"), d("0.05")]);
    let total_paid_out: Decimal = paid_out.iter().sum();
    assert!(total_paid_out <= sale.amount_due);

    // The same sale refunded whole at once pays exactly what the pieces paid together.
    let other = sell(&t.till, &[("p-sweet", "3")], false);
    let whole = t
        .till
        .refund(&items(&other, &[(1, "3", false)], RefundTender::Cash))
        .unwrap()
        .record;
    assert_eq!(cash(&whole), total_paid_out);
    assert_eq!(whole.amount_paid, d("0.10"));
}
