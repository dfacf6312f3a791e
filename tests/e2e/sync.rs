//! Sync against the real server over loopback: registers that sold offline catch up
//! exactly once, a batch's sales are judged one by one, queues stay in their store, the
//! status pill tells the truth, and catalogue changes arrive by delta.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tillkit_core::outbox;
use tillkit_core::sync::{Connectivity, StatusListener, SyncStatus};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::Exchange;

const DRAIN: Duration = Duration::from_secs(30);

#[test]
fn offline_registers_overselling_one_product_sync_every_sale_exactly_once() {
    let server = Server::start();
    let mut r1 = Device::online(STORE, "R1", sync_config(&server.url(), &server.token(STORE, "R1")));
    let mut r2 = Device::online(STORE, "R2", sync_config(&server.url(), &server.token(STORE, "R2")));
    r1.set_network(false);
    r2.set_network(false);

    // Three kettles in stock; each register sees three and sells two (four in all).
    r1.ring(&[("p-kettle", "1"), ("p-bread", "2")]);
    r2.ring(&[("p-kettle", "2")]);
    r1.ring(&[("p-cheese", "0.375")]);
    r1.ring(&[("p-kettle", "1"), ("p-seat", "1")]);
    r2.ring(&[("p-bread", "1"), ("p-cheese", "1.25")]);
    r1.ring_many(12);
    r2.ring_many(9);
    for dev in [&r1, &r2] {
        assert_eq!(dev.engine().status().pending, dev.sales.len() as u64);
        assert_eq!(dev.engine().status().connectivity, Connectivity::Offline);
    }
    assert_eq!(server.store().summary(STORE).expect("summary").sale_count, 0, "nothing left the devices offline");

    r1.set_network(true);
    r2.set_network(true);
    r1.wait_drained(DRAIN);
    r2.wait_drained(DRAIN);

    let all: Vec<_> = r1.sales.iter().chain(&r2.sales).cloned().collect();
    server.assert_holds_exactly(STORE, &all);

    // The oversell shows in the audit: both registers' movements, stock below zero.
    let audit = server.store().stock_audit(STORE).expect("audit");
    let kettle = audit.products.iter().find(|p| p.product_id == "p-kettle").expect("kettle audited");
    let kettles_sold = |regs: &str| {
        all.iter()
            .filter(|s| s.register_id == regs)
            .flat_map(|s| &s.lines)
            .filter(|l| l.product_id == "p-kettle")
            .map(|l| l.quantity)
            .sum::<rust_decimal::Decimal>()
    };
    let sold = kettles_sold("R1") + kettles_sold("R2");
    assert!(sold > d("3"), "the test must oversell (sold {sold})");
    assert_eq!(kettle.starting_stock, d("3"));
    assert_eq!(kettle.current_stock, d("3") - sold);
    let registers: Vec<_> = kettle.registers.iter().map(|r| (r.register_id.as_str(), r.total)).collect();
    assert_eq!(registers, [("R1", -kettles_sold("R1")), ("R2", -kettles_sold("R2"))]);
    let last = kettle.below_zero.last().expect("the oversell is listed below zero");
    assert_eq!(last.stock_after, kettle.current_stock);
    for dip in &kettle.below_zero {
        assert!(all.iter().any(|s| s.sale_id == dip.sale_id && s.register_id == dip.register_id));
    }
}
