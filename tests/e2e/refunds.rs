//! Refunds against the real server over loopback, on SQLite and on PostgreSQL: a sale and
//! its refund made offline both reach the server once, the sale first; a retried batch
//! stores nothing twice; two registers refunding one line beyond what was sold offline are
//! both stored (the money left both drawers) and named in the stock audit's over-refunds; a
//! register refunds a sale another register rang by fetching it from the server online
//! (offline, or the server unreachable, it is `NeedsConnection`), scoped to its store; a
//! receipt number no sale has is `UnknownReceipt`, and nothing is written.

use std::time::Duration;

use rust_decimal::Decimal;
use tillkit_core::Error;
use tillkit_core::refund::{
    CompletedRefund, RefundItem, RefundLines, RefundRequest, RefundTender, SaleRef,
};
use tillkit_core::sale::SaleRecord;
use tillkit_e2e::fixtures::*;
use tillkit_e2e::on_both_backends;

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

/// Every stored refund's figures are the server's recomputation from its sale, and the
/// summary counts no refund apart.
fn assert_refunds_agree_with_the_server(
    refunds: &[tillkit_server::store::StoredRefund],
    summary: &tillkit_server::protocol::Summary,
) {
    let differ: Vec<_> = refunds
        .iter()
        .filter(|r| !r.totals_match)
        .map(|r| &r.tax_check_error)
        .collect();
    assert!(differ.is_empty(), "{differ:?}");
    assert_eq!(
        (
            summary.refunds_with_difference,
            summary.refund_tax_difference_total
        ),
        (0, d("0"))
    );
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

on_both_backends!(offline_sale_and_refund_reach_the_server_once_in_order => an_offline_sale_and_its_offline_refund_reach_the_server_once_in_order_on_sqlite, an_offline_sale_and_its_offline_refund_reach_the_server_once_in_order_on_postgres);

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
    // R2 looks the sale up online (the server's copy, held, never queued).
    let (held, left) = r2
        .engine()
        .refundable(&SaleRef::Receipt(sale.receipt_no.clone()))
        .expect("fetched from the server");
    assert_eq!(held, sale);
    assert_eq!(left[0].left, d("2"));

    // Both offline; each refunds what it believes is left of the two kettles.
    r1.set_network(false);
    r2.set_network(false);
    let first = refund_line(&r1, &sale, 1, "2").record;
    let second = refund_line(&r2, &sale, 1, "1").record;

    r1.set_network(true);
    r1.wait_drained(DRAIN);
    r2.set_network(true);
    r2.wait_drained(DRAIN);

    // The money left both drawers: the server stores both refunds and reports the line.
    assert_eq!(r2.engine().status().attention, 0, "nothing is set aside");
    let refunds = server
        .store()
        .refunds_of(STORE, &sale.sale_id.to_string())
        .expect("read");
    let mut stored: Vec<_> = refunds.iter().map(|r| r.record.clone()).collect();
    stored.sort_by_key(|r| r.register_id.clone());
    assert_eq!(
        stored,
        [first.clone(), second.clone()],
        "both, byte for byte"
    );
    // Stock: out 2, back 2 from R1 and 1 from R2.
    assert_eq!(kettle_movements(&server), (3, d("1")));
    let summary = server.store().summary(STORE).expect("summary");
    assert_eq!(summary.refund_count, 2);
    // Each register's figures are the server's recomputation from what it counted before.
    assert_refunds_agree_with_the_server(&refunds, &summary);
    let audit = server.store().stock_audit(STORE).expect("audit");
    assert_eq!(audit.over_refunds.len(), 1, "{audit:?}");
    let over = &audit.over_refunds[0];
    assert_eq!((over.sale_id, over.line_no), (sale.sale_id, 1));
    assert_eq!((over.sold, over.refunded), (d("2"), d("3")));
    let registers: Vec<&str> = over
        .refunds
        .iter()
        .map(|r| r.register_id.as_str())
        .collect();
    assert_eq!(registers, ["R1", "R2"], "{over:?}");
    let ids: Vec<_> = over.refunds.iter().map(|r| r.refund_id).collect();
    assert_eq!(ids, [first.refund_id, second.refund_id]);
}

on_both_backends!(two_registers_over_refunding_one_line => two_registers_over_refunding_one_line_offline_are_both_stored_and_audited_on_sqlite, two_registers_over_refunding_one_line_offline_are_both_stored_and_audited_on_postgres);

fn request(sale: SaleRef, line_no: u32, qty: &str) -> RefundRequest {
    RefundRequest {
        refund_id: uuid::Uuid::now_v7(),
        sale,
        lines: RefundLines::Items(vec![RefundItem {
            line_no,
            quantity: d(qty),
            restock: true,
        }]),
        tender: RefundTender::Cash,
        reason: Some("returned".into()),
    }
}

/// The UK catalogue with VAT at 17.5% instead of 20%: "today's rates" a refund must not use.
fn catalogue_with_new_rates() -> serde_json::Value {
    let mut c = uk_catalog("34.99");
    c["tax"]["rates"][0]["percent"] = "17.5".into();
    c["tax"]["rates"][0]["label"] = "VAT 17.5%".into();
    c
}

fn refund_of_a_sale_rung_on_another_register(backend: &Backend) {
    let server = Server::start_on(backend);
    let mut r1 = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    let sale = r1.ring(&[("p-kettle", "2"), ("p-bread", "1")]);
    // R1 itself takes the bread back first: R2 must count it.
    let bread = refund_line(&r1, &sale, 2, "1").record;
    r1.wait_drained(DRAIN);
    // The store's rates change before R2 refunds: the refund reverses the sale's own.
    server
        .store()
        .load_catalog_json(STORE, catalogue_with_new_rates())
        .expect("catalogue");
    let r2 = Device::online(
        STORE,
        "R2",
        sync_config(&server.url(), &server.token(STORE, "R2")),
    );

    // R2 never held the sale; online, by its receipt number, it refunds one kettle.
    let by_receipt = SaleRef::Receipt(sale.receipt_no.clone());
    let first = r2
        .engine()
        .refund(&request(by_receipt.clone(), 1, "1"))
        .expect("refunded after fetching the sale")
        .record;
    assert_eq!(first.refund_of, sale.sale_id);
    assert_eq!(first.refund_of_receipt, sale.receipt_no);
    assert_eq!(first.register_id, "R2");
    assert_eq!(
        (first.seq, first.receipt_no.as_str()),
        (1, "R2-000001"),
        "its own number in R2's sequence: the held sale took none"
    );
    assert_eq!(
        first.lines[0].taxes[0].percent,
        d("20"),
        "the sale's rate, not today's 17.5%"
    );
    // What is left counts R1's bread and R2's own kettle; the bread cannot go twice.
    let (_, left) = r2.engine().refundable(&by_receipt).expect("held");
    let left: Vec<_> = left
        .iter()
        .map(|l| (l.line_no, l.refunded, l.left))
        .collect();
    assert_eq!(left, [(1, d("1"), d("1")), (2, d("1"), d("0"))]);
    match r2.engine().refund(&request(by_receipt.clone(), 2, "1")) {
        Err(Error::OverRefund {
            line_no: 2,
            refunded,
            ..
        }) => assert_eq!(refunded, d("1")),
        other => panic!("R1's refund of the bread counts on R2: {other:?}"),
    }
    // The last kettle, by sale id this time (the held copy answers, offline too).
    r2.set_network(false);
    let second = r2
        .engine()
        .refund(&request(SaleRef::SaleId(sale.sale_id.to_string()), 1, "1"))
        .expect("the held copy is refunded offline")
        .record;
    assert_eq!(second.seq, 2);
    // Refunds in pieces add up exactly to the sale's line.
    let line = &sale.lines[0];
    assert_eq!(first.lines[0].gross + second.lines[0].gross, line.gross);
    assert_eq!(first.lines[0].tax + second.lines[0].tax, line.tax);
    // Only R2's refunds are queued: the held sale is never queued nor uploaded by R2. The
    // first, given online, may have gone up already; the second, given offline, waits.
    let queued = pending_ids(&r2.till, STORE);
    let ours = [first.refund_id.to_string(), second.refund_id.to_string()];
    assert!(
        queued.ends_with(&ours[1..]) && queued.iter().all(|id| ours.contains(id)),
        "{queued:?}"
    );
    r2.set_network(true);
    r2.wait_drained(DRAIN);

    let stored = server
        .store()
        .stored_sale(STORE, &sale.sale_id.to_string())
        .expect("read")
        .expect("stored");
    assert_eq!(
        stored.uploaded_by, "R1",
        "uploaded once, by the register that rang it"
    );
    let refunds = server
        .store()
        .refunds_of(STORE, &sale.sale_id.to_string())
        .expect("read");
    let records: Vec<_> = refunds.iter().map(|r| &r.record).collect();
    assert_eq!(
        records,
        [&bread, &first, &second],
        "each once, linked to the sale"
    );
    assert_eq!(refunds[1].uploaded_by, "R2");
    let summary = server.store().summary(STORE).expect("summary");
    assert_eq!((summary.sale_count, summary.refund_count), (1, 3));
    assert_eq!(summary.total, sale.total);
    assert_eq!(
        summary.refund_total,
        bread.total + first.total + second.total
    );
    assert_eq!(summary.refund_total, sale.total, "the whole sale came back");
    assert_eq!(
        summary.refund_tax_total,
        bread.tax_total + first.tax_total + second.tax_total
    );
    // The server reworks each refund from the sale with the rates it was sold at, as R2 did
    // after the new catalogue: every figure agrees.
    assert_refunds_agree_with_the_server(&refunds, &summary);
    // Out 2, back 1 and 1.
    assert_eq!(kettle_movements(&server), (3, d("0")));
    // R2's journal holds its two refunds only, chained from its genesis; the store's intact.
    let journal = server.store().journal_audit(STORE).expect("journal");
    assert!(journal.intact, "{journal:?}");
    let r2_journal = journal
        .registers
        .iter()
        .find(|r| r.register_id == "R2")
        .expect("R2's journal");
    assert_eq!(r2_journal.records, 2, "{r2_journal:?}");
    let local = r2.till.verify_journal().expect("R2's own journal verifies");
    assert_eq!(
        local.records, 2,
        "the held sale is no record of R2's journal"
    );
    assert!(
        local.breaks.is_empty() && local.gaps.is_empty(),
        "{local:?}"
    );
}

on_both_backends!(refund_of_a_sale_rung_on_another_register => a_register_refunds_a_sale_another_register_rang_by_fetching_it_on_sqlite, a_register_refunds_a_sale_another_register_rang_by_fetching_it_on_postgres);

fn no_connection_no_refund_of_a_sale_not_held(backend: &Backend) {
    let mut server = Server::start_on(backend);
    let mut r1 = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    let sale = r1.ring(&[("p-kettle", "1")]);
    r1.wait_drained(DRAIN);
    let r2 = Device::online(
        STORE,
        "R2",
        sync_config(&server.url(), &server.token(STORE, "R2")),
    );
    let by_receipt = SaleRef::Receipt(sale.receipt_no.clone());

    // Offline: typed, nothing written.
    r2.set_network(false);
    match r2.engine().refund(&request(by_receipt.clone(), 1, "1")) {
        Err(Error::NeedsConnection { what }) => {
            assert!(
                what.contains(&sale.receipt_no) && what.contains("offline"),
                "{what}"
            )
        }
        other => panic!("offline: {other:?}"),
    }
    // The network is up but the server is gone: typed too.
    r2.set_network(true);
    let unknown = SaleRef::Receipt("R1-000099".into());
    match r2.engine().refund(&request(unknown, 1, "1")) {
        Err(Error::UnknownReceipt { receipt }) => assert_eq!(receipt, "R1-000099"),
        other => panic!("a receipt the server does not hold: {other:?}"),
    }
    server.stop();
    match r2.engine().refundable(&by_receipt) {
        Err(Error::NeedsConnection { what }) => {
            assert!(what.contains("did not answer"), "{what}")
        }
        other => panic!("server unreachable: {other:?}"),
    }
    assert!(
        pending_ids(&r2.till, STORE).is_empty(),
        "nothing was written"
    );
    assert!(matches!(
        r2.till.refundable(&by_receipt),
        Err(Error::NeedsConnection { .. })
    ));
}

on_both_backends!(no_connection_no_refund_of_a_sale_not_held => without_a_connection_a_sale_not_held_is_needs_connection_on_sqlite, without_a_connection_a_sale_not_held_is_needs_connection_on_postgres);

/// `GET` `path` with `token`: (status, JSON answer).
fn get(server: &Server, path: &str, token: &str) -> (u16, serde_json::Value) {
    let url = format!("{}{path}", server.url());
    let client = server.http();
    server.rt.block_on(async {
        let resp = client
            .get(url)
            .bearer_auth(token)
            .header("tillkit-protocol", "2")
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    })
}

fn lookups_are_scoped_to_the_tokens_store(backend: &Backend) {
    let server = Server::start_on(backend);
    server
        .store()
        .create_store(OTHER_STORE, "Islington")
        .expect("store");
    server
        .store()
        .load_catalog_json(OTHER_STORE, uk_catalog("30.00"))
        .expect("catalogue");
    let mut r1 = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    let sale = r1.ring(&[("p-kettle", "1")]);
    r1.wait_drained(DRAIN);
    let mine = server.token(STORE, "R2");
    let theirs = server.token(OTHER_STORE, "R1");
    let by_id = format!("/v1/stores/{STORE}/sales/lookup?sale_id={}", sale.sale_id);

    let (status, body) = get(&server, &by_id, &mine);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sale"]["sale_id"], sale.sale_id.to_string());
    assert!(body["refunds"].as_array().expect("refunds").is_empty());
    assert_eq!(body["tax_settings"]["currency"], "GBP");
    let (status, body) = get(
        &server,
        &format!(
            "/v1/stores/{STORE}/sales/lookup?receipt_no={}",
            sale.receipt_no
        ),
        &mine,
    );
    assert_eq!(
        (status, body["sale"]["sale_id"].as_str()),
        (200, Some(sale.sale_id.to_string().as_str()))
    );
    // Store B's token never sees store A's sale: refused on A's path, unknown on its own.
    let (status, body) = get(&server, &by_id, &theirs);
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, body) = get(
        &server,
        &format!(
            "/v1/stores/{OTHER_STORE}/sales/lookup?sale_id={}",
            sale.sale_id
        ),
        &theirs,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_sale")),
        "{body}"
    );
    // No token, a wrong one; malformed queries.
    assert_eq!(get(&server, &by_id, "nope").0, 401);
    for bad in [
        format!("/v1/stores/{STORE}/sales/lookup"),
        format!("/v1/stores/{STORE}/sales/lookup?sale_id=not-a-uuid"),
        format!(
            "/v1/stores/{STORE}/sales/lookup?sale_id={}&receipt_no={}",
            sale.sale_id, sale.receipt_no
        ),
    ] {
        let (status, body) = get(&server, &bad, &mine);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
    // A device of store B asking for A's receipt number: store B's server holds no such
    // sale.
    let b = Device::online(OTHER_STORE, "R1", sync_config(&server.url(), &theirs));
    match b
        .engine()
        .refund(&request(SaleRef::Receipt(sale.receipt_no.clone()), 1, "1"))
    {
        Err(Error::UnknownReceipt { receipt }) => assert_eq!(receipt, sale.receipt_no),
        other => panic!("another store's sale: {other:?}"),
    }
}

on_both_backends!(lookups_are_scoped_to_the_tokens_store => a_sale_lookup_is_scoped_to_the_tokens_store_on_sqlite, a_sale_lookup_is_scoped_to_the_tokens_store_on_postgres);

fn held_copies(dev: &Device) -> i64 {
    tillkit_core::testing::inspect(&dev.till, |c| {
        Ok(c.query_row("SELECT count(*) FROM held_sales", [], |r| r.get(0))?)
    })
    .expect("held copies counted")
}

fn unknown_receipt_online(backend: &Backend) {
    let mut server = Server::start_on(backend);
    let mut r1 = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    let sold_r1 = r1.ring(&[("p-kettle", "1")]);
    r1.wait_drained(DRAIN);
    let mut r2 = Device::online(
        STORE,
        "R2",
        sync_config(&server.url(), &server.token(STORE, "R2")),
    );
    let sold_r2 = r2.ring(&[("p-bread", "1")]);
    r2.wait_drained(DRAIN);
    assert!(
        !r2.till.needs_seq_floor().expect("floor check"),
        "the server told R2 its highest number"
    );

    // Another register's number the server does not hold (the device must ask it), and one
    // of R2's own it never printed (the device holds every one of its numbers and knows).
    for receipt in ["R1-000099", "R2-000050"] {
        let by_receipt = SaleRef::Receipt(receipt.into());
        match r2.engine().refund(&request(by_receipt.clone(), 1, "1")) {
            Err(Error::UnknownReceipt { receipt: r }) => assert_eq!(r, receipt),
            other => panic!("{receipt}: {other:?}"),
        }
        match r2.engine().refundable(&by_receipt) {
            Err(Error::UnknownReceipt { receipt: r }) => assert_eq!(r, receipt),
            other => panic!("{receipt}: {other:?}"),
        }
    }
    // Nothing was written, on the device or on the server.
    assert!(r2.pending_ids(STORE).is_empty(), "nothing queued");
    assert_eq!(held_copies(&r2), 0, "nothing held");
    assert_eq!(r2.till.verify_journal().expect("journal").records, 1);
    server.assert_holds_exactly(STORE, &[sold_r1.clone(), sold_r2.clone()]);
    for sale in [&sold_r1, &sold_r2] {
        assert!(
            server
                .store()
                .refunds_of(STORE, &sale.sale_id.to_string())
                .expect("refunds")
                .is_empty()
        );
    }
    // The server's was the answer for R1's number: without it, only NeedsConnection. R2's
    // own number needs no server.
    server.stop();
    match r2
        .engine()
        .refund(&request(SaleRef::Receipt("R1-000099".into()), 1, "1"))
    {
        Err(Error::NeedsConnection { what }) => {
            assert!(what.contains("did not answer"), "{what}")
        }
        other => panic!("server unreachable: {other:?}"),
    }
    assert!(matches!(
        r2.engine()
            .refund(&request(SaleRef::Receipt("R2-000050".into()), 1, "1")),
        Err(Error::UnknownReceipt { .. })
    ));
    assert!(r2.pending_ids(STORE).is_empty(), "nothing queued");
}

on_both_backends!(unknown_receipt_online => online_a_receipt_number_no_sale_has_is_an_unknown_receipt_and_writes_nothing_on_sqlite, online_a_receipt_number_no_sale_has_is_an_unknown_receipt_and_writes_nothing_on_postgres);
