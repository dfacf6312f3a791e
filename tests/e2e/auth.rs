//! Authorisation through the whole stack: a revoked register token stops a device at once
//! without losing a sale, and a token of one store can neither read nor write another
//! store's sales, whichever route it tries; the device's queue is never touched by a refusal.

use std::time::Duration;

use tillkit_core::sale::SaleRecord;
use tillkit_e2e::fixtures::*;

const DRAIN: Duration = Duration::from_secs(30);

/// `GET path` with `token`: the status only.
fn get_status(server: &Server, path: &str, token: &str) -> u16 {
    let client = server.http();
    let url = format!("{}{path}", server.url());
    server.rt.block_on(async {
        client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    })
}

/// A batch body carrying `sales` as the devices recorded them.
fn batch(sales: &[SaleRecord]) -> String {
    serde_json::json!({ "sales": sales }).to_string()
}

#[test]
fn a_revoked_token_stops_uploads_at_once_and_every_sale_stays_queued() {
    let server = Server::start();
    let proxy = server.proxy();
    let token = server.token(STORE, "R1");
    let mut dev = Device::online(STORE, "R1", sync_config(&proxy.url(), &token));
    dev.ring_many(5);
    dev.wait_drained(DRAIN);
    server.assert_holds_exactly(STORE, &dev.sales);
    let before_revocation = dev.sales.clone();

    assert!(server.store().revoke_token(&token).expect("revoke"));
    dev.ring_many(7);
    wait_until(DRAIN, "the revoked token to be refused", || {
        dev.engine().status().auth_failed
    });
    let status = dev.engine().status();
    assert_eq!((status.pending, status.attention), (7, 1), "{status:?}");
    let refused = proxy
        .uploads()
        .into_iter()
        .filter(|e| e.status == Some(401))
        .count();
    assert!(refused > 0, "the server refused the revoked token with 401");

    // Selling goes on; asking to sync again is refused again and loses nothing.
    dev.ring_many(3);
    dev.engine().sync_now();
    wait_until(DRAIN, "a second refusal", || {
        proxy
            .uploads()
            .iter()
            .filter(|e| e.status == Some(401))
            .count()
            > refused
    });
    wait_until(DRAIN, "the refusal to show", || {
        dev.engine().status().auth_failed
    });
    let queued: Vec<String> = dev.sales[5..]
        .iter()
        .map(|s| s.sale_id.to_string())
        .collect();
    assert_eq!(dev.pending_ids(STORE), queued, "every later sale, in order");
    server.assert_holds_exactly(STORE, &before_revocation);

    // A new token for the register: everything queued goes up, once.
    dev.start(sync_config(&proxy.url(), &server.token(STORE, "R1")));
    dev.wait_drained(DRAIN);
    assert!(!dev.engine().status().auth_failed);
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn one_stores_token_can_neither_read_nor_write_another_stores_sales() {
    let server = Server::start();
    server
        .store()
        .create_store(OTHER_STORE, "Islington")
        .expect("store");
    server
        .store()
        .load_catalog_json(OTHER_STORE, uk_catalog("29.99"))
        .expect("catalogue");
    let token_a = server.token(STORE, "R1");
    let token_b = server.token(OTHER_STORE, "R1");

    // Store B's register sells and syncs three sales, then two more offline.
    let mut dev_b = Device::online(OTHER_STORE, "R1", sync_config(&server.url(), &token_b));
    dev_b.ring_many(3);
    dev_b.wait_drained(DRAIN);
    let synced_b = dev_b.sales.clone();
    dev_b.set_network(false);
    dev_b.ring_many(2);
    let queued_b = dev_b.sales[3..].to_vec();
    server.assert_holds_exactly(OTHER_STORE, &synced_b);

    // Reading B with A's token: refused on every route.
    for route in ["catalog", "stock-audit", "summary"] {
        assert_eq!(
            get_status(
                &server,
                &format!("/v1/stores/{OTHER_STORE}/{route}"),
                &token_a
            ),
            403,
            "GET {route} of store B with store A's token"
        );
    }
    // Writing to B with A's token: refused before the body is looked at.
    let (status, _) = server.post_batch(OTHER_STORE, &token_a, batch(&queued_b));
    assert_eq!(status, 403, "upload to store B with store A's token");
    // B's sales through A's own route: each rejected as another store's, never reported
    // as already stored (which would tell A that they exist), and nothing stored.
    let (status, answer) = server.post_batch(STORE, &token_a, batch(&dev_b.sales));
    assert_eq!(status, 200);
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["rejected"; 5]);
    server.assert_holds_exactly(STORE, &[]);
    server.assert_holds_exactly(OTHER_STORE, &synced_b);

    // The device of store B given A's token: refused with 403, its queue untouched.
    let before: Vec<String> = dev_b.pending_ids(OTHER_STORE);
    let proxy = server.proxy();
    dev_b.start(sync_config(&proxy.url(), &token_a));
    wait_until(DRAIN, "the token to be refused", || {
        dev_b.engine().status().auth_failed
    });
    assert!(
        proxy
            .exchanges()
            .iter()
            .any(|e| e.status == Some(403) && e.path.contains(OTHER_STORE)),
        "the server answered 403"
    );
    assert!(proxy.uploads().iter().all(|e| e.status == Some(403)));
    assert_eq!(
        dev_b.pending_ids(OTHER_STORE),
        before,
        "the queue is untouched"
    );
    for sale in &queued_b {
        let (stored, _) = dev_b
            .till
            .load_sale(&sale.sale_id.to_string())
            .expect("load")
            .expect("still on the device");
        assert_eq!(&stored, sale);
    }

    // With its own token the device catches up; store A never saw a sale.
    dev_b.start(sync_config(&proxy.url(), &token_b));
    dev_b.wait_drained(DRAIN);
    server.assert_holds_exactly(OTHER_STORE, &dev_b.sales);
    server.assert_holds_exactly(STORE, &[]);
}

#[test]
fn a_replaced_devices_old_token_stops_working_and_its_replacement_syncs_once() {
    let server = Server::start();
    let old_token = server.token(STORE, "R1");
    let mut old = Device::online(STORE, "R1", sync_config(&server.url(), &old_token));
    old.ring_many(5);
    old.wait_drained(DRAIN);

    // The register's device is replaced: every token it had is revoked, a new one issued.
    assert_eq!(
        server.store().revoke_register(STORE, "R1").expect("revoke"),
        1
    );
    let new_token = server.token(STORE, "R1");
    old.ring_many(3);
    wait_until(DRAIN, "the old device's token to be refused", || {
        old.engine().status().auth_failed
    });
    assert_eq!(
        old.engine().status().pending,
        3,
        "the old device keeps its sales"
    );

    let mut new = Device::online(STORE, "R1", sync_config(&server.url(), &new_token));
    new.ring_many(4);
    new.wait_drained(DRAIN);
    let mut on_server = old.sales[..5].to_vec();
    on_server.extend(new.sales.clone());
    server.assert_holds_exactly(STORE, &on_server);
}
