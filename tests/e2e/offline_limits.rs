//! Offline limits end to end: an admin sets them on the real server (SQLite or PostgreSQL),
//! a syncing register pulls them with its catalogue, enforces them to the cent during an
//! outage (card refused, cash still selling), warns in its published status, and starts a
//! fresh window once its queue has drained to the server.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tillkit_core::Error;
use tillkit_core::Till;
use tillkit_core::offline_limits::{OfflineLimit, OfflineLimits, TenderLimits};
use tillkit_core::sale::{Payment, PaymentMethod, SaleRecord};
use tillkit_e2e::fixtures::*;
use tillkit_e2e::proxy::Fault;

const WAIT: Duration = Duration::from_secs(20);

/// Sells one child seat (89.00): `card` by card, the rest in cash.
fn sell_seat(till: &Till, card: &str) -> Result<SaleRecord, Error> {
    let mut cart = till.new_cart()?;
    till.add_product(&mut cart, "p-seat", d("1"))?;
    let card = d(card);
    let mut payments = Vec::new();
    if card > Decimal::ZERO {
        payments.push(Payment {
            method: PaymentMethod::Card,
            amount: card,
            reference: Some("TERM-42".into()),
        });
    }
    if card < d("89.00") {
        payments.push(Payment {
            method: PaymentMethod::Cash,
            amount: d("89.00") - card,
            reference: None,
        });
    }
    Ok(till.complete_sale(&cart, &payments)?.record)
}

fn refused_by(result: Result<SaleRecord, Error>) -> OfflineLimit {
    match result {
        Err(Error::OfflineLimit { limit, .. }) => limit,
        other => panic!("expected an offline limit refusal, got {other:?}"),
    }
}

fn limits_set_by_an_admin_are_pulled_and_enforced(backend: &Backend) {
    let server = Server::start_on(backend);
    let mut cfg = sync_config(&server.url(), &server.token(STORE, "R1"));
    cfg.catalog_interval = Duration::from_millis(100);
    let mut dev = Device::online(STORE, "R1", cfg);
    assert!(dev.till.offline_status().expect("status").limits.is_empty());

    // Set while the register is online: it arrives with the next catalogue delta.
    let limits = OfflineLimits {
        card: TenderLimits {
            max_offline_secs: Some(3600),
            max_sale: Some(d("80.00")),
            max_total: Some(d("100.00")),
        },
        cash: TenderLimits::default(),
    };
    server
        .store()
        .set_offline_limits(STORE, &limits)
        .expect("admin sets the limits");
    wait_until(WAIT, "the register to pull the limits", || {
        dev.till.offline_status().expect("status").limits == limits
    });
    let log = Arc::new(StatusLog::default());
    let _subscription = dev.engine().subscribe(log.clone());

    // Online, the limits do not apply: a card sale beyond the offline limit goes through.
    dev.sales
        .push(sell_seat(&dev.till, "89.00").expect("online card sale"));
    dev.wait_drained(WAIT);
    assert!(dev.till.offline_status().expect("status").window.is_none());

    dev.set_network(false);
    assert_eq!(
        refused_by(sell_seat(&dev.till, "80.01")),
        OfflineLimit::CardSale
    );
    dev.sales
        .push(sell_seat(&dev.till, "80.00").expect("exactly the largest card sale"));
    // 80.00 of 100.00: near (80 %), and the published status says which limit and how close.
    wait_until(WAIT, "the status to warn of the card total", || {
        dev.engine().status().offline.is_some_and(|o| {
            o.warnings
                .iter()
                .any(|w| w.limit == OfflineLimit::CardTotal && w.percent == 80 && !w.reached)
        })
    });
    assert_eq!(
        refused_by(sell_seat(&dev.till, "20.01")),
        OfflineLimit::CardTotal
    );
    dev.sales
        .push(sell_seat(&dev.till, "20.00").expect("exactly the total"));
    assert_eq!(
        refused_by(sell_seat(&dev.till, "0.01")),
        OfflineLimit::CardTotal
    );
    dev.sales
        .push(sell_seat(&dev.till, "0").expect("cash still sells"));
    let status = dev.engine().status();
    let offline = status.offline.expect("offline status");
    assert_eq!(offline.card_headroom, Some(Decimal::ZERO));
    assert_eq!(offline.window.as_ref().map(|w| w.sales), Some(3));
    assert!(offline.warnings[0].reached);
    // Listeners are called on the engine's threads: they hear it a moment later.
    wait_until(WAIT, "listeners to hear the limit reached", || {
        log.seen().iter().any(|s| {
            s.offline
                .as_ref()
                .is_some_and(|o| o.warnings.iter().any(|w| w.reached))
        })
    });

    // Back online: the queue drains and the window closes; the server holds every sale once.
    dev.set_network(true);
    dev.wait_drained(WAIT);
    wait_until(WAIT, "the window to close", || {
        dev.engine()
            .status()
            .offline
            .is_some_and(|o| o.window.is_none() && o.warnings.is_empty())
    });
    server.assert_holds_exactly(STORE, &dev.sales);

    // The next outage starts a fresh window.
    dev.set_network(false);
    dev.sales
        .push(sell_seat(&dev.till, "80.00").expect("a fresh window"));
    let window = dev
        .till
        .offline_status()
        .expect("status")
        .window
        .expect("open");
    assert_eq!((window.card_total, window.sales), (d("80.00"), 1));
    dev.set_network(true);
    dev.wait_drained(WAIT);
    server.assert_holds_exactly(STORE, &dev.sales);
}

#[test]
fn limits_set_by_an_admin_are_pulled_enforced_offline_and_reset_by_a_drain() {
    limits_set_by_an_admin_are_pulled_and_enforced(&Backend::Sqlite);
}

#[test]
fn limits_set_by_an_admin_are_pulled_enforced_offline_and_reset_by_a_drain_on_postgres() {
    let Some(pg) = Backend::postgres(
        "limits_set_by_an_admin_are_pulled_enforced_offline_and_reset_by_a_drain_on_postgres",
    ) else {
        return;
    };
    limits_set_by_an_admin_are_pulled_and_enforced(&pg);
}

/// A partial drain (the server takes one sale, then answers 500 for a while) leaves the
/// window open with its totals; the rest of the drain closes it.
#[test]
fn a_partial_drain_keeps_the_window_and_the_full_drain_closes_it() {
    let server = Server::start();
    let limits = OfflineLimits {
        card: TenderLimits {
            max_offline_secs: None,
            max_sale: None,
            max_total: Some(d("100.00")),
        },
        cash: TenderLimits::default(),
    };
    server
        .store()
        .set_offline_limits(STORE, &limits)
        .expect("limits");
    let proxy = server.proxy();
    let mut cfg = sync_config(&proxy.url(), &server.token(STORE, "R1"));
    cfg.batch_size = 1;
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.set_network(false);
    for card in ["40.00", "40.00", "20.00"] {
        dev.sales
            .push(sell_seat(&dev.till, card).expect("offline card sale"));
    }
    let mut faults = vec![Fault::Forward];
    faults.extend(std::iter::repeat_n(
        Fault::Answer {
            status: 500,
            retry_after: None,
        },
        12,
    ));
    proxy.on_uploads(faults);
    let first = dev.sales[0].sale_id.to_string();
    dev.set_network(true);
    wait_until(WAIT, "the first sale to be acknowledged", || {
        !dev.pending_ids(STORE).contains(&first)
    });
    assert_eq!(dev.pending_ids(STORE).len(), 2, "the rest met the 500s");
    let window = dev
        .till
        .offline_status()
        .expect("status")
        .window
        .expect("a partial drain leaves the window open");
    assert_eq!(window.card_total, d("100.00"), "and its totals");
    assert_eq!(
        refused_by(sell_seat(&dev.till, "0.01")),
        OfflineLimit::CardTotal
    );
    dev.wait_drained(WAIT);
    wait_until(WAIT, "the window to close", || {
        dev.till.offline_status().expect("status").window.is_none()
    });
    server.assert_holds_exactly(STORE, &dev.sales);
}
