//! The storage conformance suite: the promises every `ServerStore` backend must keep, run
//! against a fresh store per test. It only uses the trait, never a backend's internals.

use std::sync::atomic::{AtomicBool, Ordering};

use rust_decimal::Decimal;
use tillkit_core::catalog::PayloadKind;
use tillkit_core::sale::SaleRecord;

use super::{ServerStore, UploadContext, UploadRecord};
use crate::admin;
use crate::error::StoreError;
use crate::protocol::{CatalogFile, SaleStatus};
use crate::testkit::{chained, d, device_refund, product, refund, sale, uk_catalog, uk_tax};
use tillkit_core::journal::{BreakKind, JournalLink, SegmentReason};

/// Runs every check of the suite, each on a store fresh from `make`.
pub async fn conformance_suite<S, F, Fut>(make: F)
where
    S: ServerStore + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    retried_batch_creates_nothing_new(&make().await).await;
    same_id_same_content_is_duplicate_different_content_is_conflict(&make().await).await;
    rejected_sales_are_stored_nowhere(&make().await).await;
    batch_is_all_or_nothing_for_readers(&make().await).await;
    tokens_are_bound_to_one_store_and_revocable(&make().await).await;
    catalogue_snapshot_then_delta_by_cursor(&make().await).await;
    oversell_from_two_registers_shows_in_the_audit(&make().await).await;
    stock_count_in_a_new_catalogue_resets_the_starting_stock(&make().await).await;
    tax_difference_is_recorded_and_the_sale_still_accepted(&make().await).await;
    text_fields_are_stored_verbatim(&make().await).await;
    unknown_store_or_missing_catalogue_fails_whole(&make().await).await;
    last_seq_is_the_registers_highest_stored_seq(&make().await).await;
    register_revocation_stops_every_token_of_that_register_only(&make().await).await;
    a_pairing_code_is_single_use_short_lived_and_replaces_the_registers_tokens(&make().await).await;
    journals_verify_in_any_arrival_order_and_show_gaps_forks_and_breaks(&make().await).await;
    records_from_before_the_journal_are_stored_and_reported_unchained(&make().await).await;
    a_receipt_number_one_register_used_twice_is_flagged_by_the_journal_audit(&make().await).await;
    offline_limits_are_stored_and_travel_in_every_catalogue(&make().await).await;
    the_same_sale_id_in_two_stores_is_two_sales(&make().await).await;
    an_audit_lists_at_most_the_limit_of_dips_and_counts_them_all(&make().await).await;
    refunds_are_deduped_and_an_over_refund_across_registers_is_stored_and_audited(&make().await)
        .await;
    an_audit_lists_at_most_the_limit_of_over_refunded_lines_and_counts_them_all(&make().await)
        .await;
    a_sale_is_looked_up_with_its_refunds_and_the_tax_settings_it_was_decided_with(&make().await)
        .await;
    a_refund_is_recomputed_from_its_sale_and_a_difference_is_recorded_not_refused(&make().await)
        .await;
}

/// The server recomputes a refund as the register does (`refund::refund_figures`): from the
/// sale it holds, with the tax settings the sale was decided with (never a later
/// catalogue's), from the quantity refunded before as the device counted it (its own count
/// when the device sent none), its cash rounding against the store's coin. A refund that
/// agrees records no difference; one whose tax or cash was altered is accepted all the same
/// (the money went back) and the difference is recorded and counted in the summary.
pub async fn a_refund_is_recomputed_from_its_sale_and_a_difference_is_recorded_not_refused(
    store: &dyn ServerStore,
) {
    use tillkit_core::money::RoundingRule;
    use tillkit_core::tax::CashRounding;
    admin::create_store(store, STORE, "Test store")
        .await
        .expect("create store");
    let mut c = uk_catalog();
    c.tax.cash_rounding = Some(CashRounding {
        increment: d("0.05"),
        rule: RoundingRule::HalfUp,
    });
    admin::load_catalog(store, STORE, &c)
        .await
        .expect("load catalogue");
    let decided_with = c.tax.clone();
    // 4 kettles at 34.99: 139.96 with 23.33 VAT, a quarter of which is 5.8325.
    let s = sale(
        &decided_with,
        STORE,
        "R1",
        1,
        &[(product(&c, "p-kettle"), d("4"))],
    );
    upload_ok(store, "R1", vec![s.clone()]).await;
    // A later catalogue rounds up: a quarter's VAT would be 5.84 by it, 5.83 by the sale's.
    let mut later = c.clone();
    later.tax.rounding_rule = RoundingRule::Up;
    admin::load_catalog(store, STORE, &later)
        .await
        .expect("load catalogue");

    let agrees = device_refund(&s, &decided_with, "R1", 2, 1, d("1"), d("0"), d("0"));
    assert_eq!(
        (agrees.tax_total, agrees.amount_paid, agrees.cash_rounding),
        (d("5.83"), d("35.00"), d("0.01"))
    );
    let mut altered_tax =
        device_refund(&s, &decided_with, "R2", 1, 1, d("1"), d("1"), agrees.total);
    altered_tax.lines[0].tax += d("0.01");
    altered_tax.lines[0].net -= d("0.01");
    altered_tax.lines[0].taxes[0].tax += d("0.01");
    altered_tax.lines[0].taxes[0].taxable_base -= d("0.01");
    altered_tax.taxes[0].tax += d("0.01");
    altered_tax.taxes[0].taxable_base -= d("0.01");
    altered_tax.tax_total += d("0.01");
    altered_tax.net_total -= d("0.01");
    let owed = agrees.total + altered_tax.total;
    let mut off_the_coin = device_refund(&s, &decided_with, "R1", 3, 1, d("1"), d("2"), owed);
    off_the_coin.cash_rounding += d("0.02");
    off_the_coin.amount_paid += d("0.02");
    off_the_coin.payments[0].amount += d("0.02");
    // A device that sent no count of what was refunded before: the server counts its own.
    let mut uncounted = device_refund(&s, &decided_with, "R2", 2, 1, d("1"), d("3"), d("0"));
    uncounted.lines[0].refunded_before = None;
    uncounted.cash_rounding = d("0");
    uncounted.amount_paid = uncounted.total;
    uncounted.payments[0].amount = uncounted.total;

    for (register, at, r) in [
        ("R1", 10, &agrees),
        ("R2", 11, &altered_tax),
        ("R1", 12, &off_the_coin),
    ] {
        let answer = store
            .upload_records(
                &ctx(STORE, register, at),
                vec![UploadRecord::Refund(r.clone())],
            )
            .await
            .expect("upload");
        assert_eq!(statuses(&answer), [SaleStatus::Accepted], "{answer:?}");
    }
    // The last one has no coin rounding to check against: a store that pays cash exactly.
    let mut exact = later.clone();
    exact.tax.cash_rounding = None;
    admin::load_catalog(store, STORE, &exact)
        .await
        .expect("load catalogue");
    let answer = store
        .upload_records(
            &ctx(STORE, "R2", 13),
            vec![UploadRecord::Refund(uncounted.clone())],
        )
        .await
        .expect("upload");
    assert_eq!(statuses(&answer), [SaleStatus::Accepted], "{answer:?}");

    let stored = store
        .refunds_of(STORE, &s.sale_id.to_string())
        .await
        .expect("read");
    assert_eq!(stored.len(), 4);
    let check = |r: &tillkit_core::refund::RefundRecord| {
        let stored = stored
            .iter()
            .find(|s| s.record.refund_id == r.refund_id)
            .expect("stored");
        async move {
            (
                stored.totals_match,
                stored.tax_difference,
                stored.tax_check_error.clone(),
            )
        }
    };
    assert_eq!(check(&agrees).await, (true, Some(d("0")), None));
    assert_eq!(check(&uncounted).await, (true, Some(d("0")), None));
    let (matched, difference, error) = check(&altered_tax).await;
    assert!(!matched);
    assert_eq!(difference, Some(d("0.01")));
    let error = error.expect("the difference is named");
    assert!(
        error.contains("line 1 tax 5.85, the server's 5.84"),
        "{error}"
    );
    let (matched, difference, error) = check(&off_the_coin).await;
    assert!(!matched);
    assert_eq!(difference, Some(d("0")), "its tax is the server's");
    assert!(error.expect("named").contains("0.05 coins"));

    let summary = store.summary(STORE).await.expect("summary");
    assert_eq!(summary.refund_count, 4);
    assert_eq!(
        (
            summary.refunds_with_difference,
            summary.refund_tax_difference_total
        ),
        (2, d("0.01"))
    );
    assert_eq!(summary.sales_with_tax_difference, 0);
}

/// A register refunding a sale it did not ring looks it up by receipt number or sale id: the
/// sale as stored, every refund of it from any register in the order stored, and the tax
/// settings the server decided it with (a later catalogue's never change them). Another
/// store's lookup finds nothing; a refund is no sale; a receipt number a register used twice
/// names both sales; an unknown store fails whole.
pub async fn a_sale_is_looked_up_with_its_refunds_and_the_tax_settings_it_was_decided_with(
    store: &dyn ServerStore,
) {
    use super::SaleKey;
    let c = setup(store, STORE).await;
    setup(store, "other").await;
    let s = kettle_sale(&c, "R1", 1, "2");
    upload_ok(store, "R1", vec![s.clone()]).await;
    let lookup = |store_id: &'static str, key: SaleKey| async move {
        store.sale_lookup(store_id, &key).await.expect("lookup")
    };
    let by_receipt = lookup(STORE, SaleKey::Receipt(s.receipt_no.clone())).await;
    assert_eq!(by_receipt.len(), 1);
    assert_eq!(by_receipt[0].sale, s, "as stored");
    assert!(by_receipt[0].refunds.is_empty());
    assert_eq!(by_receipt[0].tax_settings, Some(uk_tax()));
    assert!(by_receipt[0].totals_match);
    assert_eq!(lookup(STORE, SaleKey::SaleId(s.sale_id)).await, by_receipt);

    // Refunds from two registers, in the order stored.
    let a = refund(&s, "R2", 1, 1, d("1"));
    let b = refund(&s, "R1", 2, 1, d("1"));
    for (register, at, r) in [("R2", 10, &a), ("R1", 11, &b)] {
        let r = store
            .upload_records(
                &ctx(STORE, register, at),
                vec![UploadRecord::Refund(r.clone())],
            )
            .await
            .expect("upload");
        assert_eq!(statuses(&r), [SaleStatus::Accepted], "{r:?}");
    }
    // A new catalogue with other rates: the sale keeps the settings it was decided with.
    let mut changed = c.clone();
    changed.tax.rates[0].percent = d("17.5");
    changed.tax.rates[0].label = "VAT 17.5%".into();
    admin::load_catalog(store, STORE, &changed)
        .await
        .expect("load catalogue");
    let found = lookup(STORE, SaleKey::SaleId(s.sale_id)).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].refunds, [a.clone(), b.clone()]);
    assert_eq!(found[0].tax_settings, Some(uk_tax()), "never today's rates");
    let later = sale(
        &changed.tax,
        STORE,
        "R1",
        3,
        &[(product(&changed, "p-bread"), d("1"))],
    );
    upload_ok(store, "R1", vec![later.clone()]).await;
    let found = lookup(STORE, SaleKey::Receipt(later.receipt_no.clone())).await;
    assert_eq!(found[0].tax_settings.as_ref(), Some(&changed.tax));
    // Loading the same settings again makes no new version: both sales keep theirs.
    admin::load_catalog(store, STORE, &changed)
        .await
        .expect("load catalogue");
    assert_eq!(
        lookup(STORE, SaleKey::SaleId(s.sale_id)).await[0].tax_settings,
        Some(uk_tax())
    );

    // Another store's lookup of this store's sale finds nothing, by id or receipt number.
    assert!(lookup("other", SaleKey::SaleId(s.sale_id)).await.is_empty());
    assert!(
        lookup("other", SaleKey::Receipt(s.receipt_no.clone()))
            .await
            .is_empty()
    );
    // A refund is not a sale; a receipt number not in the printed form names nothing.
    assert!(lookup(STORE, SaleKey::SaleId(a.refund_id)).await.is_empty());
    assert!(
        lookup(STORE, SaleKey::Receipt(a.receipt_no.clone()))
            .await
            .is_empty()
    );
    for odd in ["R1-1", "R1-0000001", "R1", "-000001", "R1-00000x"] {
        assert!(
            lookup(STORE, SaleKey::Receipt(odd.into())).await.is_empty(),
            "{odd}"
        );
    }
    // A register that numbered again from 1: its receipt number names both sales.
    let again = kettle_sale(&c, "R1", 1, "1");
    let r = store
        .upload_batch(&ctx(STORE, "R1", 50), vec![again.clone()])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted], "{r:?}");
    let both = lookup(STORE, SaleKey::Receipt(s.receipt_no.clone())).await;
    let ids: Vec<_> = both.iter().map(|l| l.sale.sale_id).collect();
    assert_eq!(ids, [s.sale_id, again.sale_id]);
    assert!(matches!(
        store
            .sale_lookup("nowhere", &SaleKey::SaleId(s.sale_id))
            .await,
        Err(StoreError::StoreNotFound(_))
    ));
}

/// Refunds ride in upload batches: deduped by `refund_id` like sales; decided against the
/// sale the server holds and every refund of it from any register (earlier in the same
/// batch too). One refund line beyond its sale line is rejected; refunds from several
/// registers that together take a line back beyond what was sold are every one stored and
/// counted (the money left each drawer) and the stock audit names the line, its quantities
/// and each refund with its register, in arrival order, scoped to the store. Counted apart
/// in the summary; each refund's restocking moves stock once.
pub async fn refunds_are_deduped_and_an_over_refund_across_registers_is_stored_and_audited(
    store: &dyn ServerStore,
) {
    let c = setup(store, STORE).await;
    setup(store, "other").await;
    let s = sale(
        &uk_tax(),
        STORE,
        "R1",
        1,
        &[
            (product(&c, "p-kettle"), d("2")),
            (product(&c, "p-bread"), d("1")),
        ],
    );
    upload_ok(store, "R1", vec![s.clone()]).await;
    let up = |register: &'static str, at: i64, records: Vec<UploadRecord>| async move {
        store
            .upload_records(&ctx(STORE, register, at), records)
            .await
            .expect("upload")
    };
    let a = refund(&s, "R1", 2, 1, d("1"));
    let r = up("R1", 10, vec![UploadRecord::Refund(a.clone())]).await;
    assert_eq!(statuses(&r), [SaleStatus::Accepted], "{r:?}");
    assert_eq!(r[0].sale_id, a.refund_id, "answered under its refund_id");
    let r = up("R1", 11, vec![UploadRecord::Refund(a.clone())]).await;
    assert_eq!(statuses(&r), [SaleStatus::Duplicate], "{r:?}");
    let mut changed = a.clone();
    changed.staff_id = "mallory".into();
    let r = up("R1", 12, vec![UploadRecord::Refund(changed)]).await;
    assert_eq!(statuses(&r), [SaleStatus::Conflict], "{r:?}");

    // One refund line beyond the sale's line on its own: no till makes it, rejected.
    let too_many = refund(&s, "R2", 1, 1, d("3"));
    let r = up("R2", 15, vec![UploadRecord::Refund(too_many)]).await;
    assert_eq!(statuses(&r), [SaleStatus::Rejected], "{r:?}");
    let why = r[0].reason.clone().expect("reason");
    assert!(
        why.contains("line 1") && why.contains("3 back") && why.contains("the 2 sold"),
        "{why}"
    );

    // Another register takes the last kettle, then one more in the same batch (it was
    // offline when R1 refunded): both stored.
    let b = refund(&s, "R2", 1, 1, d("1"));
    let over = refund(&s, "R2", 2, 1, d("1"));
    let r = up(
        "R2",
        20,
        vec![
            UploadRecord::Refund(b.clone()),
            UploadRecord::Refund(over.clone()),
        ],
    )
    .await;
    assert_eq!(statuses(&r), [SaleStatus::Accepted; 2], "{r:?}");
    // A third register refunds the whole line later: stored too; a retry stores nothing.
    let whole = refund(&s, "R3", 1, 1, d("2"));
    for (at, status) in [(21, SaleStatus::Accepted), (22, SaleStatus::Duplicate)] {
        let r = up("R3", at, vec![UploadRecord::Refund(whole.clone())]).await;
        assert_eq!(statuses(&r), [status], "{r:?}");
    }

    // The same sale id in another store, refunded twice within what it sold: another
    // store's refunds never count against this store's line, nor this store's against it.
    let mut theirs = sale(
        &uk_tax(),
        "other",
        "R1",
        1,
        &[(product(&c, "p-kettle"), d("2"))],
    );
    theirs.sale_id = s.sale_id;
    let r = store
        .upload_records(
            &ctx("other", "R1", 5),
            vec![UploadRecord::Sale(theirs.clone())],
        )
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted], "{r:?}");
    let theirs_refunds = vec![
        UploadRecord::Refund(refund(&theirs, "R1", 2, 1, d("1"))),
        UploadRecord::Refund(refund(&theirs, "R1", 3, 1, d("1"))),
    ];
    let r = store
        .upload_records(&ctx("other", "R1", 25), theirs_refunds)
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted; 2], "{r:?}");

    // A refund of a sale the server does not hold, and one in another register's name.
    let unknown = sale(
        &uk_tax(),
        STORE,
        "R1",
        9,
        &[(product(&c, "p-seat"), d("1"))],
    );
    let orphan = refund(&unknown, "R1", 10, 1, d("1"));
    let forged = refund(&s, "R1", 11, 2, d("1"));
    let r = up(
        "R2",
        30,
        vec![
            UploadRecord::Refund(orphan.clone()),
            UploadRecord::Refund(forged),
        ],
    )
    .await;
    assert_eq!(statuses(&r), [SaleStatus::Rejected; 2], "{r:?}");
    let r = up("R1", 31, vec![UploadRecord::Refund(orphan)]).await;
    assert_eq!(statuses(&r), [SaleStatus::Rejected], "{r:?}");
    assert!(
        r[0].reason
            .as_deref()
            .unwrap_or_default()
            .contains("does not hold"),
        "{r:?}"
    );

    // A sale and its refund in one batch: the refund sees the sale stored before it.
    let s2 = sale(
        &uk_tax(),
        STORE,
        "R1",
        12,
        &[(product(&c, "p-seat"), d("2"))],
    );
    let c2 = refund(&s2, "R1", 13, 1, d("2"));
    let r = up(
        "R1",
        40,
        vec![
            UploadRecord::Sale(s2.clone()),
            UploadRecord::Refund(c2.clone()),
        ],
    )
    .await;
    assert_eq!(statuses(&r), [SaleStatus::Accepted; 2], "{r:?}");
    // Another register refunds one more seat than is left of them.
    let extra = refund(&s2, "R2", 3, 1, d("1"));
    let r = up("R2", 41, vec![UploadRecord::Refund(extra.clone())]).await;
    assert_eq!(statuses(&r), [SaleStatus::Accepted], "{r:?}");

    let refunds = store
        .refunds_of(STORE, &s.sale_id.to_string())
        .await
        .expect("refunds");
    let records: Vec<_> = refunds.iter().map(|r| r.record.clone()).collect();
    assert_eq!(
        records,
        [a.clone(), b.clone(), over.clone(), whole.clone()],
        "stored once each, in order"
    );
    let by: Vec<_> = refunds.iter().map(|r| r.uploaded_by.as_str()).collect();
    assert_eq!(by, ["R1", "R2", "R2", "R3"]);
    assert!(
        store
            .stored_sale(STORE, &a.refund_id.to_string())
            .await
            .expect("read")
            .is_none(),
        "a refund is not a sale"
    );
    // Every refund counts: the books show all the money that went back.
    let summary = store.summary(STORE).await.expect("summary");
    let all = [&a, &b, &over, &whole, &c2, &extra];
    assert_eq!((summary.sale_count, summary.refund_count), (2, 6));
    assert_eq!(summary.total, s.total + s2.total);
    assert_eq!(
        summary.refund_total,
        all.iter().map(|r| r.total).sum::<Decimal>()
    );
    assert_eq!(
        summary.refund_tax_total,
        all.iter().map(|r| r.tax_total).sum::<Decimal>()
    );
    assert_eq!(summary.sales_with_tax_difference, 0);
    let audit = store.stock_audit(STORE).await.expect("audit");
    let stock = |id: &str| {
        audit
            .products
            .iter()
            .find(|p| p.product_id == id)
            .expect("audited")
            .current_stock
    };
    // Every refund's restocking counts once: three kettles, two out, five back; ten
    // seats, two out, three back.
    assert_eq!(stock("p-kettle"), d("6"));
    assert_eq!(stock("p-seat"), d("11"));

    // The audit names both over-refunded lines, the sales in the order they arrived, each
    // refund with its register in the order it arrived; the bread line, never refunded,
    // and the other store's refunds are not in it.
    let seen: Vec<_> = audit
        .over_refunds
        .iter()
        .map(|o| {
            (
                o.sale_id,
                o.receipt_no.as_str(),
                o.register_id.as_str(),
                o.line_no,
                o.product_id.as_str(),
                o.sold,
                o.refunded,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                s.sale_id,
                s.receipt_no.as_str(),
                "R1",
                1,
                "p-kettle",
                d("2"),
                d("5")
            ),
            (
                s2.sale_id,
                s2.receipt_no.as_str(),
                "R1",
                1,
                "p-seat",
                d("2"),
                d("3")
            ),
        ],
        "{audit:?}"
    );
    assert_eq!(audit.over_refunds_total, 2);
    let kettle = &audit.over_refunds[0];
    let parts: Vec<_> = kettle
        .refunds
        .iter()
        .map(|r| (r.refund_id, r.register_id.as_str(), r.quantity, r.gross))
        .collect();
    assert_eq!(
        parts,
        [
            (a.refund_id, "R1", d("1"), a.total),
            (b.refund_id, "R2", d("1"), b.total),
            (over.refund_id, "R2", d("1"), over.total),
            (whole.refund_id, "R3", d("2"), whole.total),
        ]
    );
    assert_eq!(kettle.refunds[3].receipt_no, whole.receipt_no);
    assert_eq!(kettle.refunds[3].received_at, 21);
    assert_eq!(
        (kettle.sold_gross, kettle.refunded_gross),
        (
            s.lines[0].gross,
            a.total + b.total + over.total + whole.total
        )
    );
    assert_eq!(
        (kettle.sold_tax, kettle.refunded_tax),
        (
            s.lines[0].tax,
            a.tax_total + b.tax_total + over.tax_total + whole.tax_total
        )
    );
    let seats: Vec<_> = audit.over_refunds[1]
        .refunds
        .iter()
        .map(|r| (r.refund_id, r.register_id.as_str()))
        .collect();
    assert_eq!(seats, [(c2.refund_id, "R1"), (extra.refund_id, "R2")]);
    assert_eq!(
        store.stock_audit(STORE).await.expect("audit"),
        audit,
        "the same answer every time"
    );
    let other = store.stock_audit("other").await.expect("audit");
    assert!(other.over_refunds.is_empty(), "{other:?}");
    assert_eq!(other.over_refunds_total, 0);
}

/// Many lines over-refunded: the audit lists the first up to the limit and counts them all.
async fn an_audit_lists_at_most_the_limit_of_over_refunded_lines_and_counts_them_all(
    store: &dyn ServerStore,
) {
    use crate::config::MAX_AUDIT_ITEMS;
    let c = setup(store, STORE).await;
    let bread = product(&c, "p-bread");
    let lines = vec![(bread, d("1")); 100];
    let sales = MAX_AUDIT_ITEMS / 100 + 2;
    let batch: Vec<_> = (1..=sales as u64)
        .map(|n| sale(&uk_tax(), STORE, "R1", n, &lines))
        .collect();
    upload_ok(store, "R1", batch.clone()).await;
    // Two registers each refund every line of every sale in full.
    for (i, register) in ["R2", "R3"].into_iter().enumerate() {
        let refunds: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(n, s)| UploadRecord::Refund(whole_refund(s, register, n as u64 + 1)))
            .collect();
        let r = store
            .upload_records(&ctx(STORE, register, 10 + i as i64), refunds)
            .await
            .expect("upload");
        assert_eq!(statuses(&r), vec![SaleStatus::Accepted; sales], "{r:?}");
    }
    let audit = store.stock_audit(STORE).await.expect("audit");
    assert_eq!(audit.over_refunds_total, (sales * 100) as u64);
    assert_eq!(audit.over_refunds.len(), MAX_AUDIT_ITEMS);
    let first = &audit.over_refunds[0];
    assert_eq!(
        (first.sale_id, first.line_no, first.sold, first.refunded),
        (batch[0].sale_id, 1, d("1"), d("2")),
        "the first sale's first line first"
    );
    let last = &audit.over_refunds[MAX_AUDIT_ITEMS - 1];
    assert_eq!(
        (last.sale_id, last.line_no),
        (batch[MAX_AUDIT_ITEMS / 100 - 1].sale_id, 100)
    );
}

/// A refund of every line of `s` in full, by `register`.
fn whole_refund(s: &SaleRecord, register: &str, seq: u64) -> tillkit_core::refund::RefundRecord {
    let mut r = refund(s, register, seq, 1, s.lines[0].quantity);
    for l in s.lines.iter().skip(1) {
        let one = refund(s, register, seq, l.line_no, l.quantity);
        r.lines.extend(one.lines);
        r.net_total += one.net_total;
        r.tax_total += one.tax_total;
        r.total += one.total;
        r.amount_paid += one.amount_paid;
        r.payments[0].amount += one.payments[0].amount;
        for p in one.taxes {
            match r.taxes.iter_mut().find(|q| q.rate_id == p.rate_id) {
                Some(q) => {
                    q.taxable_base += p.taxable_base;
                    q.tax += p.tax;
                }
                None => r.taxes.push(p),
            }
        }
    }
    r
}

/// A product oversold over and over: the audit lists the first dips below zero up to the
/// limit and counts every one, so one answer stays bounded however long the story.
async fn an_audit_lists_at_most_the_limit_of_dips_and_counts_them_all(store: &dyn ServerStore) {
    use crate::config::MAX_AUDIT_ITEMS;
    let c = setup(store, STORE).await;
    let kettle = product(&c, "p-kettle");
    let lines = [(kettle, d("1")); 5];
    // 3 in stock; 5 kettles a sale.
    let sales = MAX_AUDIT_ITEMS / 5 + 10;
    let mut seq = 0;
    while seq < sales as u64 {
        let batch: Vec<_> = (seq + 1..=(seq + 200).min(sales as u64))
            .map(|n| sale(&uk_tax(), STORE, "R1", n, &lines))
            .collect();
        seq += batch.len() as u64;
        let r = store
            .upload_batch(&ctx(STORE, "R1", seq as i64), batch)
            .await
            .expect("upload");
        assert!(r.iter().all(|r| r.status == SaleStatus::Accepted), "{r:?}");
    }
    let audit = store.stock_audit(STORE).await.expect("audit");
    let k = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-kettle")
        .expect("kettle");
    let dips = (sales * 5 - 3) as u64;
    assert_eq!(k.below_zero_total, dips);
    assert_eq!(k.below_zero.len(), MAX_AUDIT_ITEMS);
    assert_eq!(
        k.below_zero[0].stock_after,
        d("-1"),
        "the first dips are listed"
    );
    assert_eq!(k.current_stock, d("3") - d(&(sales * 5).to_string()));
}

/// Sale ids are unique per store, not across the chain (every key starts with the store):
/// another store's sale with the same id is a sale of its own, and neither learns of the other.
async fn the_same_sale_id_in_two_stores_is_two_sales(store: &dyn ServerStore) {
    let c = setup(store, STORE).await;
    setup(store, "other").await;
    let mine = kettle_sale(&c, "R1", 1, "1");
    let mut theirs = sale(
        &uk_tax(),
        "other",
        "R1",
        1,
        &[(product(&c, "p-seat"), d("2"))],
    );
    theirs.sale_id = mine.sale_id;
    let id = mine.sale_id.to_string();
    let r = store
        .upload_batch(&ctx(STORE, "R1", 1), vec![mine.clone()])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted]);
    let r = store
        .upload_batch(&ctx("other", "R1", 2), vec![theirs.clone()])
        .await
        .expect("upload");
    assert_eq!(
        statuses(&r),
        [SaleStatus::Accepted],
        "another store's sale with the same id is no conflict: {r:?}"
    );
    let r = store
        .upload_batch(&ctx("other", "R1", 3), vec![theirs.clone()])
        .await
        .expect("upload");
    assert_eq!(
        statuses(&r),
        [SaleStatus::Duplicate],
        "and is deduplicated in its store"
    );
    for (s, product_id) in [(STORE, "p-kettle"), ("other", "p-seat")] {
        let stored = store
            .stored_sale(s, &id)
            .await
            .expect("read")
            .expect("stored")
            .record;
        assert_eq!(stored.lines[0].product_id, product_id, "{s}");
    }
    for (s, product_id, delta) in [(STORE, "p-kettle", "-1"), ("other", "p-seat", "-2")] {
        assert_eq!(store.summary(s).await.expect("summary").sale_count, 1);
        let audit = store.stock_audit(s).await.expect("audit");
        let moved: Vec<_> = audit
            .products
            .iter()
            .filter(|p| !p.registers.is_empty())
            .map(|p| (p.product_id.as_str(), p.registers[0].total))
            .collect();
        assert_eq!(moved, [(product_id, d(delta))], "{s}");
    }
}

const STORE: &str = "uk-01";

fn ctx(store_id: &str, register: &str, received_at: i64) -> UploadContext {
    UploadContext {
        store_id: store_id.into(),
        uploaded_by: register.into(),
        received_at,
    }
}

/// A store with the sample catalogue; returns the catalogue.
async fn setup(store: &dyn ServerStore, store_id: &str) -> CatalogFile {
    admin::create_store(store, store_id, "Test store")
        .await
        .expect("create store");
    let catalog = uk_catalog();
    admin::load_catalog(store, store_id, &catalog)
        .await
        .expect("load catalogue");
    catalog
}

fn statuses(results: &[crate::protocol::SaleResult]) -> Vec<SaleStatus> {
    results.iter().map(|r| r.status).collect()
}

fn kettle_sale(c: &CatalogFile, register: &str, seq: u64, qty: &str) -> SaleRecord {
    sale(
        &uk_tax(),
        STORE,
        register,
        seq,
        &[(product(c, "p-kettle"), d(qty))],
    )
}

/// A batch retried after a lost response is answered `duplicate` and stores nothing new.
pub async fn retried_batch_creates_nothing_new(store: &dyn ServerStore) {
    let c = setup(store, STORE).await;
    let batch: Vec<SaleRecord> = (1..=3)
        .map(|i| {
            sale(
                &uk_tax(),
                STORE,
                "R1",
                i,
                &[
                    (product(&c, "p-seat"), d("1")),
                    (product(&c, "p-bread"), d("2")),
                ],
            )
        })
        .collect();
    let first = store
        .upload_batch(&ctx(STORE, "R1", 1_000), batch.clone())
        .await
        .expect("upload");
    assert_eq!(statuses(&first), vec![SaleStatus::Accepted; 3]);
    let summary = store.summary(STORE).await.expect("summary");
    let audit = store.stock_audit(STORE).await.expect("audit");
    let cursor = store.catalog(STORE, None).await.expect("catalog").cursor;

    let again = store
        .upload_batch(&ctx(STORE, "R1", 2_000), batch.clone())
        .await
        .expect("retry");
    assert_eq!(statuses(&again), vec![SaleStatus::Duplicate; 3]);
    for (r, s) in again.iter().zip(&batch) {
        assert_eq!(r.sale_id, s.sale_id, "results are in request order");
    }
    assert_eq!(store.summary(STORE).await.expect("summary"), summary);
    assert_eq!(store.stock_audit(STORE).await.expect("audit"), audit);
    assert_eq!(
        store.catalog(STORE, None).await.expect("catalog").cursor,
        cursor
    );
    assert_eq!(summary.sale_count, 3);
    let seat = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-seat")
        .expect("seat audited");
    assert_eq!(seat.current_stock, d("7"));
    assert!(
        audit.products.iter().all(|p| p.product_id != "p-bread"),
        "untracked lines move no stock"
    );
    let stored = store
        .stored_sale(STORE, &batch[0].sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.received_at, 1_000, "the first receive time is kept");
}

/// Same id and content is `duplicate`; same id with other content is `conflict` and the
/// stored sale stays as it was.
pub async fn same_id_same_content_is_duplicate_different_content_is_conflict(
    store: &dyn ServerStore,
) {
    let c = setup(store, STORE).await;
    let original = kettle_sale(&c, "R1", 1, "1");
    let mut changed = kettle_sale(&c, "R1", 1, "2");
    changed.sale_id = original.sale_id;
    let r = store
        .upload_batch(&ctx(STORE, "R1", 1), vec![original.clone()])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted]);
    let r = store
        .upload_batch(
            &ctx(STORE, "R1", 2),
            vec![original.clone(), changed.clone()],
        )
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Duplicate, SaleStatus::Conflict]);
    assert!(r[1].reason.is_some(), "a conflict says why");
    let stored = store
        .stored_sale(STORE, &original.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.record, original);
    assert_eq!(store.summary(STORE).await.expect("summary").sale_count, 1);
    let kettle = store
        .stock_audit(STORE)
        .await
        .expect("audit")
        .products
        .into_iter()
        .find(|p| p.product_id == "p-kettle");
    assert_eq!(
        kettle.expect("kettle").current_stock,
        d("2"),
        "the conflicting sale moved no stock"
    );

    // Within one batch too: the second copy of an id is judged against the first.
    let twin = kettle_sale(&c, "R1", 2, "1");
    let mut twin_changed = twin.clone();
    twin_changed.receipt_no = "R1-other".into();
    let r = store
        .upload_batch(
            &ctx(STORE, "R1", 3),
            vec![twin.clone(), twin.clone(), twin_changed],
        )
        .await
        .expect("upload");
    assert_eq!(
        statuses(&r),
        [
            SaleStatus::Accepted,
            SaleStatus::Duplicate,
            SaleStatus::Conflict
        ]
    );
}

/// Every kind of invalid sale is rejected with a reason, and nothing of it is stored.
pub async fn rejected_sales_are_stored_nowhere(store: &dyn ServerStore) {
    let c = setup(store, STORE).await;
    let good = || kettle_sale(&c, "R1", 1, "1");
    type Tamper = Box<dyn Fn(&mut SaleRecord)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "belongs to store",
            Box::new(|s| s.store_id = "other-store".into()),
        ),
        ("currency", Box::new(|s| s.currency = "EUR".into())),
        ("no lines", Box::new(|s| s.lines.clear())),
        (
            "quantity",
            Box::new(|s| s.lines[0].quantity = Decimal::ZERO),
        ),
        ("quantity", Box::new(|s| s.lines[0].quantity = d("-1"))),
        (
            "negative",
            Box::new(|s| s.lines[0].unit_price = d("-34.99")),
        ),
        (
            "maximum",
            Box::new(|s| s.tendered = d("1000000000000.01") + Decimal::ONE),
        ),
        (
            "decimals",
            Box::new(|s| s.lines[0].unit_price = d("34.991")),
        ),
        ("sum of line grosses", Box::new(|s| s.total += Decimal::ONE)),
        ("sum of line taxes", Box::new(|s| s.tax_total += d("0.01"))),
        ("breakdown", Box::new(|s| s.taxes[0].tax += d("0.01"))),
        ("amount_due", Box::new(|s| s.amount_due += d("0.01"))),
        (
            "does not cover",
            Box::new(|s| {
                s.payments[0].amount -= d("0.01");
                s.tendered -= d("0.01");
            }),
        ),
        (
            "change_due",
            Box::new(|s| {
                s.payments[0].amount += d("5");
                s.tendered += d("5");
            }),
        ),
        ("gross", Box::new(|s| s.lines[0].gross += d("0.01"))),
        (
            "belongs to register",
            Box::new(|s| s.register_id = String::new()),
        ),
        (
            "not supported",
            Box::new(|s| s.payments[0].method = tillkit_core::sale::PaymentMethod::GiftCard),
        ),
    ];
    let mut batch = Vec::new();
    for (_, tamper) in &cases {
        let mut s = good();
        tamper(&mut s);
        batch.push(s);
    }
    let results = store
        .upload_batch(&ctx(STORE, "R1", 1), batch.clone())
        .await
        .expect("upload");
    for ((why, _), r) in cases.iter().zip(&results) {
        assert_eq!(r.status, SaleStatus::Rejected, "{why}: {r:?}");
        let reason = r.reason.as_deref().unwrap_or_default();
        assert!(reason.contains(why), "expected {why:?} in {reason:?}");
        assert!(
            store
                .stored_sale(STORE, &r.sale_id.to_string())
                .await
                .expect("read")
                .is_none(),
            "{why}"
        );
    }
    assert_eq!(store.summary(STORE).await.expect("summary").sale_count, 0);
    let audit = store.stock_audit(STORE).await.expect("audit");
    assert!(
        audit.products.iter().all(|p| p.registers.is_empty()),
        "no movement from rejected sales"
    );
    // The untampered sale still goes through afterwards.
    let ok = store
        .upload_batch(&ctx(STORE, "R1", 2), vec![good()])
        .await
        .expect("upload");
    assert_eq!(statuses(&ok), [SaleStatus::Accepted]);
}

/// A reader sees a batch whole or not at all, however batches and reads interleave.
pub async fn batch_is_all_or_nothing_for_readers(store: &dyn ServerStore) {
    const BATCHES: u64 = 10;
    const SIZE: u64 = 40;
    let c = setup(store, STORE).await;
    let done = AtomicBool::new(false);
    let writer = async {
        for b in 0..BATCHES {
            let batch: Vec<SaleRecord> = (0..SIZE)
                .map(|i| {
                    sale(
                        &uk_tax(),
                        STORE,
                        "R1",
                        b * SIZE + i + 1,
                        &[(product(&c, "p-seat"), d("1"))],
                    )
                })
                .collect();
            let r = store
                .upload_batch(&ctx(STORE, "R1", b as i64), batch)
                .await
                .expect("upload");
            assert!(r.iter().all(|r| r.status == SaleStatus::Accepted));
        }
        done.store(true, Ordering::SeqCst);
    };
    // Both sides wait on the backend, so joined on one task they still interleave.
    let reader = async {
        let mut reads = 0;
        while !done.load(Ordering::SeqCst) || reads == 0 {
            let n = store.summary(STORE).await.expect("summary").sale_count;
            assert_eq!(n % SIZE, 0, "a reader saw part of a batch ({n} sales)");
            let audit = store.stock_audit(STORE).await.expect("audit");
            if let Some(seat) = audit.products.iter().find(|p| p.product_id == "p-seat") {
                let moved: u64 = seat.registers.iter().map(|r| r.movements).sum();
                assert_eq!(moved % SIZE, 0, "a reader saw part of a batch's movements");
            }
            reads += 1;
        }
    };
    tokio::join!(writer, reader);
    assert_eq!(
        store.summary(STORE).await.expect("summary").sale_count,
        BATCHES * SIZE
    );
}

/// A token authenticates only its own register and store, and stops at once when revoked.
pub async fn tokens_are_bound_to_one_store_and_revocable(store: &dyn ServerStore) {
    setup(store, "s-a").await;
    setup(store, "s-b").await;
    let a = admin::create_register(store, "s-a", "R1")
        .await
        .expect("register");
    let b = admin::create_register(store, "s-b", "R1")
        .await
        .expect("register");
    let a2 = admin::create_register(store, "s-a", "R1")
        .await
        .expect("second token for the same register");
    let who = |t: &crate::auth::Token| {
        let hash = t.hash();
        async move { store.authenticate(&hash).await.expect("authenticate") }
    };
    assert_eq!(
        who(&a).await.map(|p| (p.store_id, p.register_id)),
        Some(("s-a".into(), "R1".into()))
    );
    assert_eq!(who(&b).await.map(|p| p.store_id), Some("s-b".into()));
    let stranger = crate::auth::Token::generate().expect("token");
    assert_eq!(who(&stranger).await, None);

    assert!(
        admin::revoke_token(store, a.expose())
            .await
            .expect("revoke")
    );
    assert_eq!(who(&a).await, None);
    assert!(
        who(&a2).await.is_some(),
        "revoking one token leaves the register's others"
    );
    assert!(
        !admin::revoke_token(store, a.expose())
            .await
            .expect("revoke again")
    );
    assert!(
        !admin::revoke_token(store, "not a token")
            .await
            .expect("garbage")
    );
    assert!(matches!(
        admin::create_register(store, "no-such-store", "R1").await,
        Err(StoreError::StoreNotFound(_))
    ));
    assert!(matches!(
        admin::create_store(store, "s-a", "again").await,
        Err(StoreError::StoreExists(_))
    ));
}

/// No cursor or an unknown one gives a snapshot; a known cursor gives what changed since.
pub async fn catalogue_snapshot_then_delta_by_cursor(store: &dyn ServerStore) {
    let c = setup(store, STORE).await;
    let snap = store.catalog(STORE, None).await.expect("snapshot");
    assert_eq!(snap.kind, PayloadKind::Snapshot);
    assert_eq!(snap.store_name.as_deref(), Some("Camden High St"));
    assert_eq!(snap.tax.as_ref(), Some(&c.tax));
    assert_eq!(snap.products.len(), 3);
    assert_eq!(snap.discounts.len(), 1);
    let c1 = snap.cursor.clone();

    let none = store.catalog(STORE, Some(&c1)).await.expect("delta");
    assert_eq!(none.kind, PayloadKind::Delta);
    assert!(none.products.is_empty() && none.removed_product_ids.is_empty());
    assert_eq!(none.cursor, c1);

    let mut next = c.clone();
    next.products.retain(|p| p.id != "p-seat");
    next.products
        .iter_mut()
        .filter(|p| p.id == "p-bread")
        .for_each(|p| p.price = d("3.50"));
    let mut mug = product(&c, "p-bread").clone();
    mug.id = "p-mug".into();
    mug.sku = "MUG-9".into();
    mug.name = "Mug".into();
    next.products.push(mug);
    next.discounts.clear();
    let c2 = admin::load_catalog(store, STORE, &next)
        .await
        .expect("reload");
    assert_ne!(c2, c1);

    let delta = store.catalog(STORE, Some(&c1)).await.expect("delta");
    assert_eq!(delta.kind, PayloadKind::Delta);
    assert_eq!(delta.cursor, c2);
    let ids: Vec<&str> = delta.products.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p-bread", "p-mug"], "only changed and new products");
    assert_eq!(delta.products[0].price, d("3.50"));
    assert_eq!(delta.removed_product_ids, ["p-seat"]);
    assert_eq!(delta.removed_discount_ids, ["staff10"]);
    assert!(delta.tax.is_some(), "tax settings travel in every delta");

    for unknown in ["", "garbage", "0", "-1", "99999"] {
        let p = store.catalog(STORE, Some(unknown)).await.expect("catalog");
        assert_eq!(p.kind, PayloadKind::Snapshot, "cursor {unknown:?}");
        assert!(p.removed_product_ids.is_empty());
        assert_eq!(p.products.len(), 3);
    }

    // A sale moves stock: the next delta carries the kettle's new figure.
    let s = kettle_sale(&c, "R1", 1, "1");
    store
        .upload_batch(&ctx(STORE, "R1", 1), vec![s])
        .await
        .expect("upload");
    let delta = store.catalog(STORE, Some(&c2)).await.expect("delta");
    assert_eq!(delta.kind, PayloadKind::Delta);
    assert_eq!(delta.products.len(), 1);
    assert_eq!(
        (delta.products[0].id.as_str(), delta.products[0].stock),
        ("p-kettle", d("2"))
    );
}

/// Two registers sold the last kettles offline at the same time: the audit shows both
/// registers' movements and the sale that took stock below zero.
pub async fn oversell_from_two_registers_shows_in_the_audit(store: &dyn ServerStore) {
    let c = setup(store, STORE).await;
    let r1 = kettle_sale(&c, "R1", 1, "2");
    let mut r2 = kettle_sale(&c, "R2", 1, "2");
    // R2's clock is hours behind, yet its sale arrived last: the server's order counts.
    r2.created_at = r1.created_at - 3 * 3_600_000;
    let a = store
        .upload_batch(&ctx(STORE, "R1", 10_000), vec![r1.clone()])
        .await
        .expect("R1 upload");
    let b = store
        .upload_batch(&ctx(STORE, "R2", 20_000), vec![r2.clone()])
        .await
        .expect("R2 upload");
    assert_eq!(statuses(&a), [SaleStatus::Accepted]);
    assert_eq!(
        statuses(&b),
        [SaleStatus::Accepted],
        "an oversell is still the customer's sale"
    );

    let audit = store.stock_audit(STORE).await.expect("audit");
    let kettle = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-kettle")
        .expect("kettle");
    assert_eq!(kettle.name.as_deref(), Some("Brass Kettle"));
    assert!(kettle.in_catalog);
    assert_eq!(kettle.starting_stock, d("3"));
    assert_eq!(kettle.current_stock, d("-1"));
    let regs: Vec<(&str, u64, Decimal)> = kettle
        .registers
        .iter()
        .map(|r| (r.register_id.as_str(), r.movements, r.total))
        .collect();
    assert_eq!(regs, [("R1", 1, d("-2")), ("R2", 1, d("-2"))]);
    assert_eq!(kettle.below_zero.len(), 1);
    let dip = &kettle.below_zero[0];
    assert_eq!((dip.sale_id, dip.register_id.as_str()), (r2.sale_id, "R2"));
    assert_eq!((dip.delta, dip.stock_after), (d("-2"), d("-1")));
    assert_eq!((dip.received_at, dip.created_at), (20_000, r2.created_at));
    assert_eq!(dip.receipt_no, r2.receipt_no);

    let seat = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-seat")
        .expect("tracked products all listed");
    assert!(seat.below_zero.is_empty() && seat.registers.is_empty());
    assert_eq!(seat.current_stock, d("10"));
}

/// A new stock figure in a catalogue load is a stock count: earlier movements stop counting.
pub async fn stock_count_in_a_new_catalogue_resets_the_starting_stock(store: &dyn ServerStore) {
    async fn kettle(s: &dyn ServerStore) -> crate::protocol::ProductAudit {
        s.stock_audit(STORE)
            .await
            .expect("audit")
            .products
            .into_iter()
            .find(|p| p.product_id == "p-kettle")
            .expect("kettle")
    }
    let c = setup(store, STORE).await;
    store
        .upload_batch(&ctx(STORE, "R1", 1), vec![kettle_sale(&c, "R1", 1, "1")])
        .await
        .expect("upload");
    // Reloading the same figures changes nothing.
    admin::load_catalog(store, STORE, &c).await.expect("reload");
    assert_eq!(kettle(store).await.current_stock, d("2"));
    let mut counted = c.clone();
    counted
        .products
        .iter_mut()
        .filter(|p| p.id == "p-kettle")
        .for_each(|p| p.stock = d("12"));
    admin::load_catalog(store, STORE, &counted)
        .await
        .expect("stock count");
    let k = kettle(store).await;
    assert_eq!((k.starting_stock, k.current_stock), (d("12"), d("12")));
    store
        .upload_batch(&ctx(STORE, "R1", 2), vec![kettle_sale(&c, "R1", 2, "1")])
        .await
        .expect("upload");
    assert_eq!(kettle(store).await.current_stock, d("11"));
    let snap = store.catalog(STORE, None).await.expect("snapshot");
    let k = snap
        .products
        .iter()
        .find(|p| p.id == "p-kettle")
        .expect("kettle");
    assert_eq!(k.stock, d("11"), "devices are sent the current stock");
}

/// The server recomputes tax with the store's settings; a difference is recorded next to
/// the sale, which is still accepted as the customer's receipt.
pub async fn tax_difference_is_recorded_and_the_sale_still_accepted(store: &dyn ServerStore) {
    admin::create_store(store, STORE, "Test store")
        .await
        .expect("create");
    let mut server_side = uk_catalog();
    server_side
        .tax
        .rates
        .iter_mut()
        .filter(|r| r.id == "vat20")
        .for_each(|r| r.percent = d("17.5"));
    admin::load_catalog(store, STORE, &server_side)
        .await
        .expect("load");
    let device = uk_catalog();
    let s = sale(
        &uk_tax(),
        STORE,
        "R1",
        1,
        &[(product(&device, "p-kettle"), d("1"))],
    );
    let same = sale(
        &uk_tax(),
        STORE,
        "R1",
        2,
        &[(product(&device, "p-bread"), d("1"))],
    );
    let r = store
        .upload_batch(&ctx(STORE, "R1", 1), vec![s.clone(), same.clone()])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted, SaleStatus::Accepted]);

    let stored = store
        .stored_sale(STORE, &s.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.record, s, "the receipt stays as recorded");
    let server = stored.server_totals.expect("recomputed");
    // 34.99 incl. 20% VAT = 5.83 tax; incl. 17.5% = 5.21.
    assert_eq!((s.tax_total, server.tax_total), (d("5.83"), d("5.21")));
    assert_eq!(stored.tax_difference, Some(d("0.62")));
    assert!(!stored.totals_match);
    let zero_rated = store
        .stored_sale(STORE, &same.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(zero_rated.tax_difference, Some(Decimal::ZERO));
    assert!(zero_rated.totals_match);
    let summary = store.summary(STORE).await.expect("summary");
    assert_eq!(
        (
            summary.sales_with_tax_difference,
            summary.tax_difference_total
        ),
        (1, d("0.62"))
    );
    assert_eq!(summary.total, s.total + same.total);
}

/// Text that looks like SQL or markup is data: stored and returned byte for byte.
pub async fn text_fields_are_stored_verbatim(store: &dyn ServerStore) {
    let c = setup(store, STORE).await;
    let mut s = kettle_sale(&c, "R1", 1, "1");
    s.staff_id = "'; DROP TABLE sales; --".into();
    s.receipt_no = "R1-1' OR '1'='1".into();
    s.lines[0].name = "Robert'); DELETE FROM stock_movements; -- <script>\u{0}".into();
    s.lines[0].sku = "\"quoted\" \\ back\\slash ünïcødé 🧾".into();
    let r = store
        .upload_batch(&ctx(STORE, "R1", 1), vec![s.clone()])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted]);
    let stored = store
        .stored_sale(STORE, &s.sale_id.to_string())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.record, s);
    assert_eq!(store.summary(STORE).await.expect("summary").sale_count, 1);
    let kettle = store
        .stock_audit(STORE)
        .await
        .expect("audit")
        .products
        .into_iter()
        .find(|p| p.product_id == "p-kettle");
    assert_eq!(kettle.expect("kettle").current_stock, d("2"));
}

/// Uploads to a store that does not exist or has no catalogue fail whole, storing nothing.
pub async fn unknown_store_or_missing_catalogue_fails_whole(store: &dyn ServerStore) {
    let c = uk_catalog();
    let s = sale(
        &uk_tax(),
        "bare",
        "R1",
        1,
        &[(product(&c, "p-kettle"), d("1"))],
    );
    assert!(matches!(
        store
            .upload_batch(&ctx("bare", "R1", 1), vec![s.clone()])
            .await,
        Err(StoreError::StoreNotFound(_))
    ));
    admin::create_store(store, "bare", "No catalogue yet")
        .await
        .expect("create");
    assert!(matches!(
        store
            .upload_batch(&ctx("bare", "R1", 1), vec![s.clone()])
            .await,
        Err(StoreError::NoCatalog(_))
    ));
    assert!(matches!(
        store.catalog("bare", None).await,
        Err(StoreError::NoCatalog(_))
    ));
    assert!(
        store
            .stored_sale(STORE, &s.sale_id.to_string())
            .await
            .expect("read")
            .is_none()
    );
    let summary = store.summary("bare").await.expect("summary");
    assert_eq!((summary.sale_count, summary.currency), (0, None));
    assert!(matches!(
        store.summary("nope").await,
        Err(StoreError::StoreNotFound(_))
    ));
    assert!(matches!(
        store.stock_audit("nope").await,
        Err(StoreError::StoreNotFound(_))
    ));

    let mut bad = uk_catalog();
    bad.products[0].tax_category = Some("no-such-category".into());
    assert!(matches!(
        admin::load_catalog(store, "bare", &bad).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(
        matches!(
            store.catalog("bare", None).await,
            Err(StoreError::NoCatalog(_))
        ),
        "a refused load changes nothing"
    );
}

/// A register's last seq is the highest `seq` among its stored sales, whatever order they
/// arrived in; rejected and conflicting uploads, other registers and other stores do not
/// count.
pub async fn last_seq_is_the_registers_highest_stored_seq(store: &dyn ServerStore) {
    let c = setup(store, STORE).await;
    setup(store, "uk-02").await;
    assert_eq!(
        store.last_seq(STORE, "R1").await.expect("last seq"),
        0,
        "none yet"
    );
    // Seq 5 arrives before 2 (a device re-sending an older batch later).
    let five = kettle_sale(&c, "R1", 5, "1");
    let two = kettle_sale(&c, "R1", 2, "1");
    let r = store
        .upload_batch(&ctx(STORE, "R1", 1), vec![five.clone(), two])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted; 2]);
    let mut rejected = kettle_sale(&c, "R1", 9, "1");
    rejected.total += Decimal::ONE;
    let mut conflicting = kettle_sale(&c, "R1", 8, "1");
    conflicting.sale_id = five.sale_id;
    let other_register = kettle_sale(&c, "R2", 7, "1");
    let mut other_store = kettle_sale(&c, "R1", 6, "1");
    other_store.store_id = "uk-02".into();
    let r = store
        .upload_batch(&ctx(STORE, "R1", 2), vec![rejected, conflicting])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Rejected, SaleStatus::Conflict]);
    let r = store
        .upload_batch(&ctx(STORE, "R2", 2), vec![other_register])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted]);
    let r = store
        .upload_batch(&ctx("uk-02", "R1", 3), vec![other_store])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Accepted]);
    assert_eq!(store.last_seq(STORE, "R1").await.expect("last seq"), 5);
    assert_eq!(store.last_seq(STORE, "R2").await.expect("last seq"), 7);
    assert_eq!(store.last_seq("uk-02", "R1").await.expect("last seq"), 6);
    assert_eq!(store.last_seq(STORE, "R9").await.expect("last seq"), 0);
    assert!(matches!(
        store.last_seq("nope", "R1").await,
        Err(StoreError::StoreNotFound(_))
    ));
}

/// Revoking a register stops every token it holds (the old device and any copy of its
/// token) and no other register's; a new token for it works, and the listing shows both.
pub async fn register_revocation_stops_every_token_of_that_register_only(store: &dyn ServerStore) {
    setup(store, STORE).await;
    setup(store, "uk-02").await;
    let old = admin::create_register(store, STORE, "R1")
        .await
        .expect("token");
    let copy = admin::create_register(store, STORE, "R1")
        .await
        .expect("token");
    let other = admin::create_register(store, STORE, "R2")
        .await
        .expect("token");
    let elsewhere = admin::create_register(store, "uk-02", "R1")
        .await
        .expect("token");
    let live = |t: crate::auth::Token| async move {
        store
            .authenticate(&t.hash())
            .await
            .expect("authenticate")
            .is_some()
    };
    assert_eq!(
        admin::revoke_register(store, STORE, "R1")
            .await
            .expect("revoke"),
        2
    );
    assert!(!live(old.clone()).await && !live(copy).await);
    assert!(live(other).await, "another register keeps working");
    assert!(
        live(elsewhere).await,
        "the same register id in another store keeps working"
    );
    assert_eq!(
        admin::revoke_register(store, STORE, "R1")
            .await
            .expect("again"),
        0
    );
    let replacement = admin::create_register(store, STORE, "R1")
        .await
        .expect("token");
    assert!(
        live(replacement).await,
        "the replaced device's new token works"
    );
    assert!(!live(old).await, "the old one stays revoked");

    let registers = admin::registers(store, STORE).await.expect("list");
    let states: Vec<(&str, u64, u64)> = registers
        .iter()
        .map(|r| (r.register_id.as_str(), r.live_tokens, r.revoked_tokens))
        .collect();
    assert_eq!(states, [("R1", 1, 2), ("R2", 1, 0)]);
    assert!(
        registers
            .iter()
            .all(|r| r.last_issued_at >= Some(r.created_at))
    );
    assert!(matches!(
        admin::revoke_register(store, "nope", "R1").await,
        Err(StoreError::StoreNotFound(_))
    ));
    assert!(matches!(
        admin::registers(store, "nope").await,
        Err(StoreError::StoreNotFound(_))
    ));
}

/// A pairing code works once, before it expires, for the register it was made for; it
/// revokes the register's earlier tokens and no other register's; only its digest is kept.
pub async fn a_pairing_code_is_single_use_short_lived_and_replaces_the_registers_tokens(
    store: &dyn ServerStore,
) {
    use std::time::Duration;
    setup(store, STORE).await;
    setup(store, "uk-02").await;
    let ten_minutes = Duration::from_secs(600);
    let old = admin::create_register(store, STORE, "R1")
        .await
        .expect("token");
    let neighbour = admin::create_register(store, STORE, "R2")
        .await
        .expect("token");
    let live = |t: crate::auth::Token| async move {
        store.authenticate(&t.hash()).await.expect("authenticate")
    };
    let (code, expires_at) = admin::pair_register(store, STORE, "R1", ten_minutes)
        .await
        .expect("code");
    assert!(expires_at > tillkit_core::time::now_ms());

    // Typed the way a person would: lower case, spaces for dashes.
    let typed = code.display().to_lowercase().replace('-', " ");
    let (who, token) = admin::redeem_pairing_code(store, &typed)
        .await
        .expect("redeem")
        .expect("a live code pairs");
    assert_eq!(
        (who.store_id.as_str(), who.register_id.as_str()),
        (STORE, "R1")
    );
    assert_eq!(
        live(token.clone()).await,
        Some(who.clone()),
        "the new token works"
    );
    assert_eq!(
        live(old).await,
        None,
        "the register's earlier token is revoked"
    );
    assert!(
        live(neighbour).await.is_some(),
        "another register keeps its token"
    );
    assert!(
        admin::redeem_pairing_code(store, &code.display())
            .await
            .expect("again")
            .is_none(),
        "a used code is refused"
    );
    assert!(
        live(token).await.is_some(),
        "a refused reuse revokes nothing"
    );

    // A code for a new register registers it; an expired code is refused and changes nothing.
    let (late, _) = admin::pair_register(store, STORE, "R9", ten_minutes)
        .await
        .expect("code");
    assert_eq!(
        store
            .redeem_pairing_code(
                &late.hash(),
                &crate::auth::Token::generate().expect("token").hash(),
                tillkit_core::time::now_ms() + 11 * 60 * 1000,
            )
            .await
            .expect("redeem late"),
        None,
        "an expired code is refused"
    );
    let (r9, _) = admin::redeem_pairing_code(store, &late.display())
        .await
        .expect("redeem in time")
        .expect("still live before it expires");
    assert_eq!(r9.register_id, "R9");
    let states: Vec<(String, u64, u64)> = admin::registers(store, STORE)
        .await
        .expect("list")
        .into_iter()
        .map(|r| (r.register_id, r.live_tokens, r.revoked_tokens))
        .collect();
    assert_eq!(
        states,
        [
            ("R1".into(), 1, 1),
            ("R2".into(), 1, 0),
            ("R9".into(), 1, 0)
        ]
    );

    for bad in ["", "not a code", "AAAA-AAAA-AAAA"] {
        assert!(
            admin::redeem_pairing_code(store, bad)
                .await
                .expect("garbage")
                .is_none(),
            "{bad:?}"
        );
    }
    assert!(matches!(
        admin::pair_register(store, "no-such-store", "R1", ten_minutes).await,
        Err(StoreError::StoreNotFound(_))
    ));
    for ttl in [Duration::ZERO, Duration::from_secs(25 * 3600)] {
        assert!(matches!(
            admin::pair_register(store, STORE, "R1", ttl).await,
            Err(StoreError::Invalid(_))
        ));
    }
}

fn bread_sale(c: &CatalogFile, register: &str, seq: u64) -> SaleRecord {
    sale(
        &uk_tax(),
        STORE,
        register,
        seq,
        &[(product(c, "p-bread"), d("1"))],
    )
}

async fn register_journal(
    store: &dyn ServerStore,
    register: &str,
) -> tillkit_core::journal::RegisterReport {
    let audit = store.journal_audit(STORE).await.expect("journal audit");
    assert!(audit.unreadable.is_empty(), "{audit:?}");
    audit
        .registers
        .into_iter()
        .find(|r| r.register_id == register)
        .expect("the register is audited")
}

async fn upload_ok(store: &dyn ServerStore, register: &str, sales: Vec<SaleRecord>) {
    let n = sales.len();
    let r = store
        .upload_batch(&ctx(STORE, register, 1), sales)
        .await
        .expect("upload");
    assert_eq!(statuses(&r), vec![SaleStatus::Accepted; n], "{r:?}");
}

/// The server verifies each register's chain from what it holds, whatever order the
/// records came in: a number not yet received is a gap, two records claiming one
/// predecessor are a fork, a link that matches no stored record is a break.
pub async fn journals_verify_in_any_arrival_order_and_show_gaps_forks_and_breaks(
    store: &dyn ServerStore,
) {
    let c = setup(store, STORE).await;
    let r1 = chained((1..=6).map(|i| bread_sale(&c, "R1", i)).collect());
    upload_ok(store, "R1", vec![r1[4].clone(), r1[5].clone()]).await;
    let j = register_journal(store, "R1").await;
    assert_eq!(
        j.gaps.iter().map(|g| (g.first, g.last)).collect::<Vec<_>>(),
        [(1, 4)]
    );
    assert!(j.breaks.is_empty() && !j.intact, "{j:?}");
    upload_ok(store, "R1", vec![r1[1].clone(), r1[0].clone()]).await;
    upload_ok(store, "R1", vec![r1[3].clone()]).await;
    let j = register_journal(store, "R1").await;
    assert_eq!(
        j.gaps.iter().map(|g| (g.first, g.last)).collect::<Vec<_>>(),
        [(3, 3)],
        "the one number never received"
    );
    upload_ok(store, "R1", vec![r1[2].clone()]).await;
    let j = register_journal(store, "R1").await;
    assert!(j.intact, "{j:?}");
    assert_eq!(j.records, 6);
    assert_eq!(j.head.as_ref().map(|h| h.seq), Some(6));
    assert_eq!(j.segments.len(), 1);
    assert_eq!(j.segments[0].reason, SegmentReason::NewRegister);
    assert!(!j.segments[0].restart);

    // A record slipped in beside number 4, claiming number 3 as its predecessor.
    let mut forged = bread_sale(&c, "R1", 7);
    forged.journal = r1[3].journal.clone();
    upload_ok(store, "R1", vec![forged]).await;
    let j = register_journal(store, "R1").await;
    assert_eq!(j.forks.len(), 1, "{j:?}");
    assert_eq!(
        j.forks[0].records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [4, 7]
    );

    // A record whose link matches no record the server holds under that number.
    let mut broken = bread_sale(&c, "R1", 8);
    broken.journal = Some(JournalLink {
        prev_seq: 6,
        prev: "0".repeat(64),
        segment: None,
        skipped: None,
    });
    upload_ok(store, "R1", vec![broken]).await;
    let j = register_journal(store, "R1").await;
    assert_eq!(j.breaks.len(), 1, "{j:?}");
    let b = &j.breaks[0];
    assert_eq!((b.kind, b.record.seq), (BreakKind::LinkMismatch, 8));
    assert_eq!(b.predecessor.as_ref().map(|p| p.seq), Some(6));
    assert!(!j.intact);

    // A link that does not point back is refused with the sale, like any malformed field.
    let mut forward = bread_sale(&c, "R1", 9);
    forward.journal = Some(JournalLink {
        prev_seq: 9,
        prev: "0".repeat(64),
        segment: None,
        skipped: None,
    });
    let r = store
        .upload_batch(&ctx(STORE, "R1", 1), vec![forward])
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Rejected]);
    assert!(
        r[0].reason
            .as_deref()
            .is_some_and(|m| m.contains("journal"))
    );
}

/// Sales queued by devices from before the journal carry no link: they are stored as ever
/// and reported as the register's unchained numbers, not as breaks.
pub async fn records_from_before_the_journal_are_stored_and_reported_unchained(
    store: &dyn ServerStore,
) {
    let c = setup(store, STORE).await;
    let old: Vec<SaleRecord> = (1..=3).map(|i| bread_sale(&c, "R2", i)).collect();
    upload_ok(store, "R2", old).await;
    let j = register_journal(store, "R2").await;
    assert!(j.intact, "{j:?}");
    assert_eq!(
        j.unchained
            .iter()
            .map(|g| (g.first, g.last))
            .collect::<Vec<_>>(),
        [(1, 3)]
    );
    assert!(j.segments.is_empty() && j.head.is_none());
    let new = chained((4..=5).map(|i| bread_sale(&c, "R2", i)).collect());
    upload_ok(store, "R2", new).await;
    let j = register_journal(store, "R2").await;
    assert!(j.intact, "{j:?}");
    assert_eq!(j.segments.len(), 1);
    assert_eq!(j.head.as_ref().map(|h| h.seq), Some(5));
}

/// A stored record changed in the server's database after it arrived is named by the
/// journal audit, both as changed and at the record that follows it. `edit` changes the
/// stored text of the sale with the given id, behind the store's back.
pub async fn an_edited_stored_record_is_named_by_the_journal_audit<E, Fut>(
    store: &dyn ServerStore,
    edit: E,
) where
    E: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let c = setup(store, STORE).await;
    let r1 = chained((1..=4).map(|i| bread_sale(&c, "R1", i)).collect());
    upload_ok(store, "R1", r1.clone()).await;
    assert!(register_journal(store, "R1").await.intact);
    edit(r1[1].sale_id.to_string()).await;
    let j = register_journal(store, "R1").await;
    assert!(!j.intact);
    let named: Vec<(BreakKind, u64)> = j.breaks.iter().map(|b| (b.kind, b.record.seq)).collect();
    assert!(named.contains(&(BreakKind::Altered, 2)), "{j:?}");
    assert!(named.contains(&(BreakKind::LinkMismatch, 3)), "{j:?}");
    let at3 = j
        .breaks
        .iter()
        .find(|b| b.record.seq == 3)
        .expect("break at 3");
    assert_eq!(
        at3.predecessor.as_ref().map(|p| p.record_id.clone()),
        Some(r1[1].sale_id.to_string())
    );
}

/// Offline limits set by an admin are served with every catalogue (snapshot and delta) from
/// a new cursor on; clearing them serves an empty set; a store without a catalogue, an
/// unknown store and a negative limit are refused, changing nothing.
pub async fn offline_limits_are_stored_and_travel_in_every_catalogue(store: &dyn ServerStore) {
    use tillkit_core::offline_limits::{OfflineLimits, TenderLimits};
    admin::create_store(store, "empty", "No catalogue")
        .await
        .expect("create store");
    let limits = OfflineLimits {
        card: TenderLimits {
            max_offline_secs: Some(86_400),
            max_sale: Some(d("200.00")),
            max_total: Some(d("2000.00")),
        },
        cash: TenderLimits {
            max_offline_secs: None,
            max_sale: None,
            max_total: Some(d("5000.01")),
        },
    };
    let err = admin::set_offline_limits(store, "empty", &limits)
        .await
        .expect_err("no catalogue yet");
    assert!(matches!(err, StoreError::NoCatalog(_)), "{err:?}");
    let err = admin::set_offline_limits(store, "nowhere", &limits)
        .await
        .expect_err("unknown store");
    assert!(matches!(err, StoreError::StoreNotFound(_)), "{err:?}");

    setup(store, STORE).await;
    let before = store.catalog(STORE, None).await.expect("snapshot");
    assert_eq!(
        before.offline_limits,
        Some(OfflineLimits::default()),
        "a store without limits says so explicitly"
    );
    let cursor = admin::set_offline_limits(store, STORE, &limits)
        .await
        .expect("set limits");
    assert_ne!(cursor, before.cursor, "devices see a new cursor");
    let snap = store.catalog(STORE, None).await.expect("snapshot");
    assert_eq!(snap.offline_limits.as_ref(), Some(&limits));
    assert_eq!(snap.cursor, cursor);
    let delta = store
        .catalog(STORE, Some(&before.cursor))
        .await
        .expect("delta");
    assert_eq!(delta.kind, PayloadKind::Delta);
    assert_eq!(delta.offline_limits.as_ref(), Some(&limits));
    assert!(delta.products.is_empty(), "limits change no product");

    let mut negative = limits.clone();
    negative.card.max_sale = Some(d("-1"));
    let err = admin::set_offline_limits(store, STORE, &negative)
        .await
        .expect_err("negative");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(
        store
            .catalog(STORE, None)
            .await
            .expect("snapshot")
            .offline_limits,
        Some(limits)
    );
    // A catalogue reload keeps them.
    admin::load_catalog(store, STORE, &uk_catalog())
        .await
        .expect("reload");
    assert!(
        !store
            .catalog(STORE, None)
            .await
            .expect("snapshot")
            .offline_limits
            .expect("present")
            .is_empty()
    );
    admin::set_offline_limits(store, STORE, &OfflineLimits::default())
        .await
        .expect("clear");
    let cleared = store.catalog(STORE, None).await.expect("snapshot");
    assert_eq!(cleared.offline_limits, Some(OfflineLimits::default()));
}

/// A register that numbered two different sales alike (a store that started again from 1)
/// is flagged: the number is listed for that register and its journal is not intact. The
/// same number from another register, or a retried upload of the same sale, is not.
pub async fn a_receipt_number_one_register_used_twice_is_flagged_by_the_journal_audit(
    store: &dyn ServerStore,
) {
    let c = setup(store, STORE).await;
    let first = chained((1..=3).map(|i| bread_sale(&c, "R1", i)).collect());
    upload_ok(store, "R1", first.clone()).await;
    upload_ok(store, "R2", chained(vec![bread_sale(&c, "R2", 2)])).await;
    // A retry of the same sales is a duplicate, not a reuse.
    let r = store
        .upload_batch(&ctx(STORE, "R1", 9), first[..2].to_vec())
        .await
        .expect("upload");
    assert_eq!(statuses(&r), [SaleStatus::Duplicate; 2]);
    let j = register_journal(store, "R1").await;
    assert!(j.reused_numbers.is_empty() && j.intact, "{j:?}");
    // The register lost its store and started again at 1: numbers 1 and 2 are reused.
    let again = chained((1..=2).map(|i| bread_sale(&c, "R1", i)).collect());
    upload_ok(store, "R1", again).await;
    let j = register_journal(store, "R1").await;
    assert_eq!(j.reused_numbers, [1, 2], "{j:?}");
    assert!(!j.intact);
    assert_eq!(j.records, 5);
    let r2 = register_journal(store, "R2").await;
    assert!(r2.reused_numbers.is_empty(), "{r2:?}");
    let audit = store.journal_audit(STORE).await.expect("audit");
    assert!(!audit.intact);
}
