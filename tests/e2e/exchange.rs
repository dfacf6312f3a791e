//! An exchange offline: the customer brings back a kettle and takes two child seats instead. Tillkit
//! makes it a return plus a new sale, both on the device with the network down, and both
//! reach the server once, in the order they were made, on SQLite and on PostgreSQL.

use std::time::Duration;

use rust_decimal::Decimal;
use tillkit_core::refund::{RefundItem, RefundLines, RefundRequest, RefundTender, SaleRef};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::on_both_backends;

const DRAIN: Duration = Duration::from_secs(30);

fn an_exchange_made_offline_reaches_the_server_once_in_order(backend: &Backend) {
    let server = Server::start_on(backend);
    let token = server.token(STORE, "R1");
    let mut r1 = Device::online(STORE, "R1", sync_config(&server.url(), &token));
    let first = r1.ring(&[("p-kettle", "1"), ("p-bread", "1")]);
    r1.wait_drained(DRAIN);

    // The network drops; the customer comes back with the kettle.
    r1.set_network(false);
    let returned = r1
        .till
        .refund(&RefundRequest {
            refund_id: uuid::Uuid::now_v7(),
            sale: SaleRef::Receipt(first.receipt_no.clone()),
            lines: RefundLines::Items(vec![RefundItem {
                line_no: 1,
                quantity: d("1"),
                restock: true,
            }]),
            tender: RefundTender::Cash,
            reason: Some("exchanged for seats".into()),
        })
        .expect("the return completes offline")
        .record;
    let taken = r1.ring(&[("p-seat", "2")]);
    assert_eq!(r1.engine().status().pending, 2);

    // One sequence on the register: the sale, the return, the new sale, chained in that order.
    assert_eq!(
        (first.seq + 1, first.seq + 2),
        (returned.seq, taken.seq),
        "the return and the new sale take the next numbers"
    );
    assert_eq!(returned.refund_of, first.sale_id);
    let prev_seq = |j: &Option<tillkit_core::journal::JournalLink>| {
        j.as_ref().expect("every record is chained").prev_seq
    };
    assert_eq!(prev_seq(&returned.journal), first.seq);
    assert_eq!(prev_seq(&taken.journal), returned.seq);

    r1.set_network(true);
    r1.wait_drained(DRAIN);

    let store = server.store();
    let summary = store.summary(STORE).expect("summary");
    assert_eq!((summary.sale_count, summary.refund_count), (2, 1));
    assert_eq!(summary.total, first.total + taken.total);
    assert_eq!(summary.refund_total, returned.total);
    let net: Decimal = summary.total - summary.refund_total;
    assert_eq!(
        net,
        first.total - returned.total + taken.total,
        "the store's takings are the first sale less the return plus the new sale"
    );
    let refunds = store
        .refunds_of(STORE, &first.sale_id.to_string())
        .expect("read");
    assert_eq!(
        refunds.len(),
        1,
        "the return is stored once, linked to its sale"
    );
    assert_eq!(refunds[0].record, returned);
    let new_sale = store
        .stored_sale(STORE, &taken.sale_id.to_string())
        .expect("read")
        .expect("the new sale is stored");
    assert!(
        new_sale.received_at >= refunds[0].received_at,
        "the new sale arrived after the return"
    );

    // Stock: the kettle went out and came back; two seats went out (bread is not tracked).
    let audit = store.stock_audit(STORE).expect("audit");
    let net_of = |product: &str| -> Decimal {
        audit
            .products
            .iter()
            .filter(|p| p.product_id == product)
            .flat_map(|p| p.registers.iter())
            .map(|r| r.total)
            .sum()
    };
    assert_eq!(net_of("p-kettle"), Decimal::ZERO);
    assert_eq!(net_of("p-seat"), d("-2"));

    let journal = store.journal_audit(STORE).expect("journal");
    assert!(journal.intact, "{journal:?}");
    assert_eq!(journal.registers[0].records, 3);
}

on_both_backends!(an_exchange_made_offline_reaches_the_server_once_in_order => an_exchange_made_offline_reaches_the_server_once_in_order_on_sqlite, an_exchange_made_offline_reaches_the_server_once_in_order_on_postgres);
