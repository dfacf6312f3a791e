//! Refunds against the real server over loopback, on SQLite and on PostgreSQL: a sale and
//! its refund made offline both reach the server once, the sale first; a retried batch
//! stores nothing twice; and two registers refunding one line beyond what was sold end with
//! the second refund set aside on its device with the server's reason, never dropped.

use std::time::Duration;

use rust_decimal::Decimal;
use tillkit_core::outbox::QueueState;
use tillkit_core::refund::{
    CompletedRefund, RefundItem, RefundLines, RefundRequest, RefundTender, SaleRef,
};
use tillkit_core::sale::SaleRecord;
use tillkit_e2e::fixtures::*;

const DRAIN: Duration = Duration::from_secs(30);

fn refund_line(dev: &Device, sale: &SaleRecord, line_no: u32, qty: &str) -> CompletedRefund {
    dev.till
        .refund(&RefundRequest {
            refund_id: uuid::Uuid::now_v7(),
            sale: SaleRef::SaleId(sale.sale_id.to_string()),
            lines: RefundLines::Items(vec![RefundItem {
                line_no,
                quantity: d(qty),
                restock: true,
            }]),
            tender: RefundTender::Cash,
            reason: Some("returned".into()),
        })
        .expect("the refund completes on the device")
}

fn kettle_movements(server: &Server) -> (u64, Decimal) {
    let audit = server.store().stock_audit(STORE).expect("audit");
    let kettle = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-kettle")
        .expect("kettle audited");
    kettle
        .registers
        .iter()
        .fold((0, Decimal::ZERO), |(n, t), r| {
            (n + r.movements, t + r.total)
        })
}

fn offline_sale_and_refund_reach_the_server_once_in_order(backend: &Backend) {
    let server = Server::start_on(backend);
    let token = server.token(STORE, "R1");
    let mut r1 = Device::online(STORE, "R1", sync_config(&server.url(), &token));
    r1.set_network(false);
    let sale = r1.ring(&[("p-kettle", "2"), ("p-bread", "1")]);
    let refund = refund_line(&r1, &sale, 1, "1").record;
    assert_eq!(r1.engine().status().pending, 2);
    let summary = server.store().summary(STORE).expect("summary");
    assert_eq!((summary.sale_count, summary.refund_count), (0, 0));

    r1.set_network(true);
    r1.wait_drained(DRAIN);

    let summary = server.store().summary(STORE).expect("summary");
    assert_eq!((summary.sale_count, summary.refund_count), (1, 1));
    assert_eq!(summary.total, sale.total);
    assert_eq!(summary.refund_total, refund.total);
    assert_eq!(summary.refund_tax_total, refund.tax_total);
    let stored_sale = server
        .store()
        .stored_sale(STORE, &sale.sale_id.to_string())
        .expect("read")
        .expect("the sale is stored");
    assert_eq!(
        stored_sale.record, sale,
        "byte for byte as the device made it"
    );
    let refunds = server
        .store()
        .refunds_of(STORE, &sale.sale_id.to_string())
        .expect("read");
    assert_eq!(refunds.len(), 1, "stored once");
    assert_eq!(
        refunds[0].record, refund,
        "byte for byte as the device made it"
    );
    assert!(
        refunds[0].received_at >= stored_sale.received_at,
        "the refund arrived after its sale"
    );
    // The kettle went out twice and one came back: two movements, net -1.
    assert_eq!(kettle_movements(&server), (2, d("-1")));
    // The journal verifies with the refund in it.
    let journal = server.store().journal_audit(STORE).expect("journal");
    assert!(journal.intact, "{journal:?}");

    // A retry of both (a lost answer) stores nothing twice.
    let body = serde_json::json!({ "sales": [&sale, &refund] }).to_string();
    let (status, answer) = server.post_batch(STORE, &token, body);
    assert_eq!(status, 200, "{answer}");
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["duplicate", "duplicate"], "{answer}");
    assert_eq!(
        answer["results"][1]["sale_id"],
        refund.refund_id.to_string(),
        "a refund is answered under its refund_id"
    );
    let summary = server.store().summary(STORE).expect("summary");
    assert_eq!((summary.sale_count, summary.refund_count), (1, 1));
    assert_eq!(kettle_movements(&server), (2, d("-1")));
}

#[test]
fn an_offline_sale_and_its_offline_refund_reach_the_server_once_in_order_on_sqlite() {
    offline_sale_and_refund_reach_the_server_once_in_order(&Backend::Sqlite);
}

#[test]
fn an_offline_sale_and_its_offline_refund_reach_the_server_once_in_order_on_postgres() {
    let Some(pg) = Backend::postgres("an_offline_sale_and_its_offline_refund_on_postgres") else {
        return;
    };
    offline_sale_and_refund_reach_the_server_once_in_order(&pg);
}

/// Gives `dev` a copy of `sale` as a sale the server already acknowledged: what a register
/// that looked up another register's receipt holds (the core refunds only sales it holds).
fn hold_synced_copy(dev: &Device, sale: &SaleRecord) {
    let record = serde_json::to_string(sale).expect("json");
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute(
            "INSERT INTO sales (sale_id, store_id, register_id, receipt_no, seq, created_at,
               currency, total, oversold, tax_settings_id, record, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0,
               (SELECT MAX(id) FROM tax_settings), ?9, ?6)",
            rusqlite::params![
                sale.sale_id.to_string(),
                sale.store_id,
                sale.register_id,
                sale.receipt_no,
                sale.seq as i64,
                sale.created_at,
                sale.currency,
                sale.total.to_string(),
                record,
            ],
        )?;
        Ok(())
    })
    .expect("copy the sale");
}

fn two_registers_over_refunding_one_line(backend: &Backend) {
    let server = Server::start_on(backend);
    let mut r1 = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    let r2 = Device::online(
        STORE,
        "R2",
        sync_config(&server.url(), &server.token(STORE, "R2")),
    );
    let sale = r1.ring(&[("p-kettle", "2")]);
    r1.wait_drained(DRAIN);
    hold_synced_copy(&r2, &sale);

    // Both offline; each refunds what it believes is left of the two kettles.
    r1.set_network(false);
    r2.set_network(false);
    let first = refund_line(&r1, &sale, 1, "2").record;
    let second = refund_line(&r2, &sale, 1, "1").record;

    r1.set_network(true);
    r1.wait_drained(DRAIN);
    r2.set_network(true);
    wait_until(DRAIN, "R2's refund to get the server's verdict", || {
        r2.engine().status().attention == 1
    });

    let set_aside = r2.till.attention_sales(10).expect("attention");
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0].sale_id, second.refund_id.to_string());
    assert_eq!(set_aside[0].state, QueueState::Attention);
    let reason = set_aside[0].reason.clone().expect("the server's reason");
    assert!(
        reason.contains("over-refund")
            && reason.contains("1 requested")
            && reason.contains("2 sold")
            && reason.contains("2 already refunded"),
        "{reason}"
    );
    // Kept on the device, byte for byte, for a person to look at.
    assert_eq!(
        r2.till
            .load_refund(&second.refund_id.to_string())
            .expect("read")
            .expect("kept"),
        second
    );
    let refunds = server
        .store()
        .refunds_of(STORE, &sale.sale_id.to_string())
        .expect("read");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].record, first);
    assert_eq!(refunds[0].uploaded_by, "R1");
    // Stock came back once: out 2, in 2.
    assert_eq!(kettle_movements(&server), (2, d("0")));
    assert_eq!(
        server.store().summary(STORE).expect("summary").refund_count,
        1
    );
}

#[test]
fn a_second_registers_over_refund_is_set_aside_with_the_servers_reason_on_sqlite() {
    two_registers_over_refunding_one_line(&Backend::Sqlite);
}

#[test]
fn a_second_registers_over_refund_is_set_aside_with_the_servers_reason_on_postgres() {
    let Some(pg) = Backend::postgres("a_second_registers_over_refund_on_postgres") else {
        return;
    };
    two_registers_over_refunding_one_line(&pg);
}
