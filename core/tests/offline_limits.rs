//! The store's offline limits on the device: exact to the cent, a card sale refused while cash
//! still sells, nothing written by a refusal, the window kept across a restart and a clock
//! set back, closed only by a full drain.

mod common;

use common::*;
use rust_decimal::Decimal;
use tillkit_core::Error;
use tillkit_core::catalog::{CatalogPayload, PayloadKind};
use tillkit_core::offline_limits::{Measure, OfflineLimit, OfflineLimits, TenderLimits};
use tillkit_core::outbox::Verdict;
use tillkit_core::sale::{CompletedSale, Payment, PaymentMethod};
use tillkit_core::testing;

const HOUR_MS: i64 = 3_600_000;

fn card_limits(max_offline_secs: Option<u64>, max_sale: &str, max_total: &str) -> OfflineLimits {
    OfflineLimits {
        card: TenderLimits {
            max_offline_secs,
            max_sale: Some(d(max_sale)),
            max_total: Some(d(max_total)),
        },
        cash: TenderLimits::default(),
    }
}

fn catalog_with(limits: Option<OfflineLimits>, kind: PayloadKind, cursor: &str) -> CatalogPayload {
    let mut c = uk_catalog();
    c.kind = kind;
    c.cursor = cursor.into();
    c.offline_limits = limits;
    c
}

/// A UK till with `limits`, out of contact with the server.
fn offline_till(limits: OfflineLimits) -> TestTill {
    let t = open_till();
    t.till
        .import_catalog(&catalog_with(Some(limits), PayloadKind::Snapshot, "1"))
        .unwrap();
    t.till.login("uk-01", "R07", "alice").unwrap();
    t.till.set_offline(true);
    t
}

/// Sells one child seat (89.00): `card` by card, the rest in cash.
fn sell_seat(t: &TestTill, card: &str) -> Result<CompletedSale, Error> {
    let mut cart = t.till.new_cart().unwrap();
    t.till.add_product(&mut cart, "p-seat", d("1")).unwrap();
    let card = d(card);
    let mut payments = Vec::new();
    if card > Decimal::ZERO {
        payments.push(Payment {
            method: PaymentMethod::Card,
            amount: card,
            reference: Some("T-1".into()),
        });
    }
    if card < d("89.00") {
        payments.push(Payment {
            method: PaymentMethod::Cash,
            amount: d("89.00") - card,
            reference: None,
        });
    }
    t.till.complete_sale(&cart, &payments)
}

fn refused(result: Result<CompletedSale, Error>) -> (OfflineLimit, Measure, Measure) {
    match result {
        Err(Error::OfflineLimit {
            limit,
            attempted,
            max,
        }) => (limit, attempted, max),
        other => panic!("expected an offline limit refusal, got {other:?}"),
    }
}

fn count(t: &TestTill, table: &str) -> i64 {
    testing::inspect(&t.till, |c| {
        Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    })
    .unwrap()
}

/// Moves the window's checkpoint `ms` into the past on both clocks: as if that long passed.
fn let_time_pass(t: &TestTill, ms: i64) {
    testing::tamper(&t.till, |c| {
        c.execute(
            "UPDATE offline_window SET wall_at = wall_at - ?1, boot_at = boot_at - ?1",
            [ms],
        )?;
        Ok(())
    })
    .unwrap();
}

fn ack(t: &TestTill, sales: &[&CompletedSale]) {
    let verdicts: Vec<(String, Verdict)> = sales
        .iter()
        .map(|s| (s.record.sale_id.to_string(), Verdict::Synced))
        .collect();
    testing::apply_verdicts(&t.till, &verdicts).unwrap();
}

#[test]
fn card_limits_hold_exactly_to_the_cent() {
    let t = offline_till(card_limits(None, "50.00", "100.00"));
    // One card sale: 50.00 is the limit, 50.01 is beyond it.
    let (limit, attempted, max) = refused(sell_seat(&t, "50.01"));
    assert_eq!(limit, OfflineLimit::CardSale);
    assert_eq!(attempted, Measure::Money(d("50.01")));
    assert_eq!(max, Measure::Money(d("50.00")));
    sell_seat(&t, "50.00").expect("exactly the largest card sale");
    sell_seat(&t, "49.99").expect("under both limits");
    // 99.99 of 100.00 used: one cent more is exactly the total, two are beyond it.
    let (limit, attempted, _) = refused(sell_seat(&t, "0.02"));
    assert_eq!(limit, OfflineLimit::CardTotal);
    assert_eq!(attempted, Measure::Money(d("100.01")));
    sell_seat(&t, "0.01").expect("exactly the total");
    let (limit, _, max) = refused(sell_seat(&t, "0.01"));
    assert_eq!(
        (limit, max),
        (OfflineLimit::CardTotal, Measure::Money(d("100.00")))
    );
    // Cash has no limits here: it still sells.
    sell_seat(&t, "0").expect("cash while card is refused");
    let status = t.till.offline_status().unwrap();
    let window = status.window.expect("a window is open");
    assert_eq!(window.card_total, d("100.00"));
    assert_eq!(window.sales, 4);
    assert_eq!(status.card_headroom, Some(Decimal::ZERO));
    assert_eq!(status.cash_headroom, None);
}

#[test]
fn a_refused_sale_writes_nothing_and_the_receipt_numbers_stay_gapless() {
    let t = offline_till(card_limits(None, "10.00", "1000.00"));
    let first = sell_seat(&t, "10.00").unwrap();
    let tables = [
        "sales",
        "outbox",
        "stock_movements",
        "offline_window",
        "sale_attempts",
    ];
    let before: Vec<i64> = tables.iter().map(|n| count(&t, n)).collect();
    let window_before = t.till.offline_status().unwrap().window.unwrap();
    let err = sell_seat(&t, "10.01").expect_err("beyond the card sale limit");
    assert!(
        err.to_string().contains("card amount of one offline sale"),
        "{err}"
    );
    let after: Vec<i64> = tables.iter().map(|n| count(&t, n)).collect();
    assert_eq!(before, after, "a refusal wrote something ({tables:?})");
    let window_after = t.till.offline_status().unwrap().window.unwrap();
    assert_eq!(window_before.card_total, window_after.card_total);
    assert_eq!(window_before.sales, window_after.sales);
    assert_eq!(t.till.product("p-seat").unwrap().stock, d("9"));
    let next = sell_seat(&t, "0").unwrap();
    assert_eq!(next.record.seq, first.record.seq + 1);
}

#[test]
fn past_the_offline_time_a_card_sale_is_refused_while_cash_still_sells() {
    let limits = OfflineLimits {
        card: TenderLimits {
            max_offline_secs: Some(3600),
            ..TenderLimits::default()
        },
        cash: TenderLimits {
            max_offline_secs: None,
            max_sale: Some(d("500.00")),
            max_total: None,
        },
    };
    let t = offline_till(limits);
    sell_seat(&t, "20.00").expect("the window opens");
    // A minute short of the hour: still allowed (and warned of: past 80 %).
    let_time_pass(&t, HOUR_MS - 60_000);
    let status = t.till.offline_status().unwrap();
    let warning = &status.warnings[0];
    assert_eq!(warning.limit, OfflineLimit::CardOfflineTime);
    assert!(!warning.reached && warning.percent >= 98, "{warning:?}");
    sell_seat(&t, "20.00").expect("card within the hour");
    let_time_pass(&t, 60_000);
    let (limit, attempted, max) = refused(sell_seat(&t, "20.00"));
    assert_eq!(limit, OfflineLimit::CardOfflineTime);
    assert_eq!(max, Measure::Millis(3_600_000));
    assert!(matches!(attempted, Measure::Millis(ms) if ms >= 3_600_000));
    let sale = sell_seat(&t, "0").expect("cash has no time limit");
    assert_eq!(sale.record.payments[0].method, PaymentMethod::Cash);
    let status = t.till.offline_status().unwrap();
    assert!(status.warnings[0].reached);
    assert_eq!(status.card_headroom, Some(Decimal::ZERO));
    assert_eq!(status.cash_headroom, Some(d("500.00")));
}

#[test]
fn sales_in_contact_with_the_server_open_no_window_and_meet_no_limit() {
    let t = offline_till(card_limits(Some(0), "1.00", "1.00"));
    t.till.set_offline(false);
    sell_seat(&t, "89.00").expect("online: no offline limit");
    assert!(t.till.offline_status().unwrap().window.is_none());
    assert_eq!(count(&t, "offline_window"), 0);
    // Out of contact, a zero offline time refuses card at once; cash has no limits.
    t.till.set_offline(true);
    let (limit, _, _) = refused(sell_seat(&t, "1.00"));
    assert_eq!(limit, OfflineLimit::CardOfflineTime);
    sell_seat(&t, "0").unwrap();
}

#[test]
fn the_window_survives_a_restart_and_keeps_counting() {
    let t = offline_till(card_limits(Some(7200), "60.00", "100.00"));
    sell_seat(&t, "60.00").unwrap();
    let_time_pass(&t, HOUR_MS);
    let t = t.reopen();
    t.till.login("uk-01", "R07", "alice").unwrap();
    // A fresh till is not told it is offline (no engine here): the open window alone makes
    // its sales offline sales.
    let status = t.till.offline_status().unwrap();
    let window = status.window.expect("the window outlived the restart");
    assert_eq!(window.card_total, d("60.00"));
    assert!(window.offline_ms >= HOUR_MS as u64, "{}", window.offline_ms);
    let (limit, attempted, _) = refused(sell_seat(&t, "40.01"));
    assert_eq!(limit, OfflineLimit::CardTotal);
    assert_eq!(attempted, Measure::Money(d("100.01")));
    sell_seat(&t, "40.00").expect("exactly the rest of the total");
}

#[test]
fn a_clock_set_back_does_not_lengthen_the_window() {
    let t = offline_till(card_limits(Some(3600), "100.00", "1000.00"));
    sell_seat(&t, "10.00").unwrap();
    // An hour really passed (the boot clock says so), but the wall clock was set back five
    // hours since the checkpoint: the window is an hour old, not less.
    testing::tamper(&t.till, |c| {
        c.execute(
            "UPDATE offline_window SET wall_at = wall_at + 4 * ?1, boot_at = boot_at - ?1",
            [HOUR_MS],
        )?;
        Ok(())
    })
    .unwrap();
    let (limit, attempted, _) = refused(sell_seat(&t, "10.00"));
    assert_eq!(limit, OfflineLimit::CardOfflineTime);
    assert!(matches!(attempted, Measure::Millis(ms) if ms >= 3_600_000));
}

#[test]
fn after_a_device_restart_the_wall_clock_counts_the_time_away() {
    let t = offline_till(card_limits(Some(3600), "100.00", "1000.00"));
    sell_seat(&t, "10.00").unwrap();
    // The device rebooted (its boot clock is now below the checkpoint's) two hours later.
    testing::tamper(&t.till, |c| {
        c.execute(
            "UPDATE offline_window SET wall_at = wall_at - 2 * ?1, boot_at = boot_at + 100 * ?1",
            [HOUR_MS],
        )?;
        Ok(())
    })
    .unwrap();
    let t = t.reopen();
    t.till.login("uk-01", "R07", "alice").unwrap();
    let (limit, _, _) = refused(sell_seat(&t, "10.00"));
    assert_eq!(limit, OfflineLimit::CardOfflineTime);
}

#[test]
fn only_a_full_drain_closes_the_window() {
    let t = offline_till(card_limits(None, "50.00", "100.00"));
    let a = sell_seat(&t, "50.00").unwrap();
    let b = sell_seat(&t, "30.00").unwrap();
    let c = sell_seat(&t, "20.00").unwrap();
    refused(sell_seat(&t, "0.01"));
    // The server takes two of the three: the window and its totals stay.
    t.till.set_offline(false);
    ack(&t, &[&a, &b]);
    let window = t.till.offline_status().unwrap().window.expect("still open");
    assert_eq!(window.card_total, d("100.00"));
    let (limit, _, _) = refused(sell_seat(&t, "0.01"));
    assert_eq!(limit, OfflineLimit::CardTotal);
    // The last one set aside by the server is acknowledged too: the queue has drained.
    testing::apply_verdicts(
        &t.till,
        &[(
            c.record.sale_id.to_string(),
            Verdict::SetAside("rejected: test".into()),
        )],
    )
    .unwrap();
    let status = t.till.offline_status().unwrap();
    assert!(status.window.is_none(), "{status:?}");
    assert!(status.warnings.is_empty());
    assert_eq!(status.card_headroom, Some(d("50.00")));
    // Offline again, a new window starts from nothing.
    t.till.set_offline(true);
    sell_seat(&t, "50.00").expect("a fresh window");
    let window = t.till.offline_status().unwrap().window.unwrap();
    assert_eq!((window.card_total, window.sales), (d("50.00"), 1));
}

#[test]
fn the_status_warns_as_a_total_comes_near() {
    let t = offline_till(card_limits(None, "100.00", "100.00"));
    sell_seat(&t, "79.99").unwrap();
    assert!(t.till.offline_status().unwrap().warnings.is_empty());
    sell_seat(&t, "0.01").unwrap();
    let status = t.till.offline_status().unwrap();
    assert_eq!(status.warnings.len(), 1);
    let w = &status.warnings[0];
    assert_eq!(w.limit, OfflineLimit::CardTotal);
    assert_eq!((w.percent, w.reached), (80, false));
    assert_eq!(w.used, Measure::Money(d("80.00")));
    assert_eq!(status.card_headroom, Some(d("20.00")));
    sell_seat(&t, "20.00").unwrap();
    let w = &t.till.offline_status().unwrap().warnings[0];
    assert_eq!((w.percent, w.reached), (100, true));
}

#[test]
fn limits_come_with_the_catalogue_and_an_older_servers_catalogue_has_none() {
    let t = open_till();
    t.till.login("uk-01", "R07", "alice").unwrap();
    let limits = card_limits(Some(60), "5.00", "10.00");
    t.till
        .import_catalog(&catalog_with(
            Some(limits.clone()),
            PayloadKind::Snapshot,
            "1",
        ))
        .unwrap();
    assert_eq!(t.till.offline_status().unwrap().limits, limits);
    // A delta without them keeps them; one with them replaces them.
    t.till
        .import_catalog(&catalog_with(None, PayloadKind::Delta, "2"))
        .unwrap();
    assert_eq!(t.till.offline_status().unwrap().limits, limits);
    t.till
        .import_catalog(&catalog_with(
            Some(OfflineLimits::default()),
            PayloadKind::Delta,
            "3",
        ))
        .unwrap();
    assert!(t.till.offline_status().unwrap().limits.is_empty());
    t.till
        .import_catalog(&catalog_with(Some(limits), PayloadKind::Delta, "4"))
        .unwrap();
    // An older server's snapshot says nothing of limits: there are none.
    let json = serde_json::to_string(&catalog_with(None, PayloadKind::Snapshot, "5")).unwrap();
    assert!(!json.contains("offline_limits"));
    t.till.import_catalog_json(&json).unwrap();
    assert!(t.till.offline_status().unwrap().limits.is_empty());
    // Fields a newer server adds are ignored.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["offline_limits"] = serde_json::json!({
        "card": {"max_sale": "7.00", "max_refund": "1.00"}, "voucher": {"max_sale": "1"}
    });
    t.till.import_catalog_json(&v.to_string()).unwrap();
    assert_eq!(
        t.till.offline_status().unwrap().limits.card.max_sale,
        Some(d("7.00"))
    );
}

#[test]
fn a_catalogue_with_limits_that_mean_nothing_is_refused_whole() {
    let t = open_till();
    t.till
        .import_catalog(&catalog_with(
            Some(card_limits(None, "5.00", "10.00")),
            PayloadKind::Snapshot,
            "1",
        ))
        .unwrap();
    t.till.login("uk-01", "R07", "alice").unwrap();
    let mut bad = catalog_with(
        Some(card_limits(None, "-0.01", "10.00")),
        PayloadKind::Snapshot,
        "2",
    );
    bad.products.truncate(1);
    let err = t.till.import_catalog(&bad).expect_err("negative limit");
    assert!(matches!(err, Error::InvalidCatalog(_)), "{err:?}");
    assert_eq!(
        t.till.catalog_cursor("uk-01").unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(
        t.till.offline_status().unwrap().limits.card.max_sale,
        Some(d("5.00"))
    );
}

#[test]
fn cash_limits_warn_then_refuse_and_leave_card_untouched() {
    let t = offline_till(OfflineLimits {
        card: TenderLimits {
            max_offline_secs: None,
            max_sale: Some(d("1000.00")),
            max_total: Some(d("2000.00")),
        },
        cash: TenderLimits {
            max_offline_secs: None,
            max_sale: Some(d("89.00")),
            max_total: Some(d("150.00")),
        },
    });
    sell_seat(&t, "0.00").expect("89.00 in cash is within both cash limits");
    assert!(t.till.offline_status().unwrap().warnings.is_empty());

    // 31.00 more in cash brings the cash total to 120.00: 80% of its limit.
    sell_seat(&t, "58.00").unwrap();
    let status = t.till.offline_status().unwrap();
    assert_eq!(status.warnings.len(), 1, "{:?}", status.warnings);
    let w = &status.warnings[0];
    assert_eq!(w.limit, OfflineLimit::CashTotal);
    assert_eq!((w.percent, w.reached), (80, false));
    assert_eq!(w.used, Measure::Money(d("120.00")));
    assert_eq!(status.cash_headroom, Some(d("30.00")));
    assert_eq!(status.card_headroom, Some(d("1000.00")));

    // Another 89.00 in cash would make 209.00: refused, naming the cash total.
    let sales = count(&t, "sales");
    let (limit, attempted, max) = refused(sell_seat(&t, "0.00"));
    assert_eq!(limit, OfflineLimit::CashTotal);
    assert_eq!(attempted, Measure::Money(d("209.00")));
    assert_eq!(max, Measure::Money(d("150.00")));
    assert_eq!(count(&t, "sales"), sales, "a refused sale writes nothing");

    // The card has its own limits: the same seat by card still sells.
    sell_seat(&t, "89.00").expect("card is not limited by the cash total");
    let window = t.till.offline_status().unwrap().window.unwrap();
    assert_eq!(
        (window.card_total, window.cash_total),
        (d("147.00"), d("120.00"))
    );
}

#[test]
fn one_cash_sale_above_its_limit_is_refused_to_the_cent() {
    let t = offline_till(OfflineLimits {
        card: TenderLimits::default(),
        cash: TenderLimits {
            max_offline_secs: None,
            max_sale: Some(d("50.00")),
            max_total: None,
        },
    });
    sell_seat(&t, "39.00").expect("exactly 50.00 in cash");
    let (limit, attempted, max) = refused(sell_seat(&t, "38.99"));
    assert_eq!(limit, OfflineLimit::CashSale);
    assert_eq!(attempted, Measure::Money(d("50.01")));
    assert_eq!(max, Measure::Money(d("50.00")));
    sell_seat(&t, "89.00").expect("a card without limits sells any amount");
}
