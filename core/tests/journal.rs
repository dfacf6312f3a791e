//! The journal on the device: every record links to the one before it in the same commit,
//! from a genesis value; the export is what was stored, byte for byte; a record edited,
//! removed or slipped in afterwards is named by the verification.

mod common;

use common::*;
use tillkit_core::Till;
use tillkit_core::journal::{
    self, BreakKind, JournalExport, JournalLink, RegisterReport, SegmentReason,
};
use tillkit_core::sale::{Payment, PaymentMethod, SaleRecord};
use tillkit_core::testing::{inspect, tamper};

fn sell(till: &Till, n: usize) -> Vec<SaleRecord> {
    (0..n)
        .map(|i| {
            let mut cart = till.new_cart().unwrap();
            till.add_product(&mut cart, "p-bread", d("1")).unwrap();
            if i % 2 == 0 {
                till.add_product(&mut cart, "p-seat", d("1")).unwrap();
            }
            let total = cart.totals().unwrap().total;
            till.complete_sale(
                &cart,
                &[Payment {
                    method: PaymentMethod::Cash,
                    amount: total,
                    reference: None,
                }],
            )
            .unwrap()
            .record
        })
        .collect()
}

fn link(r: &SaleRecord) -> &JournalLink {
    r.journal.as_ref().expect("every new record is chained")
}

fn report(till: &Till) -> RegisterReport {
    till.verify_journal().unwrap()
}

#[test]
fn every_record_links_to_the_one_before_it_from_the_registers_genesis() {
    let t = uk_till();
    let sales = sell(&t.till, 4);
    let first = link(&sales[0]);
    let segment = first
        .segment
        .as_ref()
        .expect("the first record opens a segment");
    assert_eq!(segment.reason, SegmentReason::NewRegister);
    assert_eq!(first.prev_seq, 0);
    assert_eq!(first.prev, journal::genesis("uk-01", "R07", segment.id));
    for pair in sales.windows(2) {
        let l = link(&pair[1]);
        assert!(l.segment.is_none());
        assert_eq!(l.prev_seq, pair[0].seq);
        assert_eq!(l.prev, journal::record_hash(&pair[0]).unwrap());
    }
    let r = report(&t.till);
    assert!(r.intact, "{r:?}");
    assert_eq!(r.records, 4);
    assert_eq!(r.segments.len(), 1);
    assert!(!r.segments[0].restart);
    assert_eq!(r.head.as_ref().map(|h| h.seq), Some(4));
    assert_eq!(
        r.head.unwrap().hash,
        journal::record_hash(&sales[3]).unwrap(),
        "the head is the newest record's hash"
    );
}

#[test]
fn the_export_holds_every_record_byte_for_byte_as_stored_and_uploaded() {
    let t = uk_till();
    sell(&t.till, 3);
    let export = t.till.export_journal().unwrap();
    let stored: Vec<String> = inspect(&t.till, |c| {
        let mut stmt = c.prepare("SELECT record FROM sales ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })
    .unwrap();
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 4, "a header and one line per record");
    assert_eq!(
        &lines[1..],
        stored.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let parsed = JournalExport::parse(&export).unwrap();
    assert_eq!(parsed.header.register_id, "R07");
    assert_eq!(parsed.header.last_seq, 3);
    assert_eq!(parsed.header.records, 3);
    assert!(journal::verify_export(&parsed).unwrap().intact);
}

#[test]
fn an_edited_stored_record_is_named_by_the_verification() {
    let t = uk_till();
    let sales = sell(&t.till, 5);
    // Someone lowers the total of the third sale in the database.
    let victim = &sales[2];
    tamper(&t.till, |c| {
        let n = c.execute(
            "UPDATE sales SET record = replace(record, ?2, ?3) WHERE sale_id = ?1",
            rusqlite::params![
                victim.sale_id.to_string(),
                format!("\"total\":\"{}\"", victim.total),
                "\"total\":\"1.00\""
            ],
        )?;
        assert_eq!(n, 1);
        Ok(())
    })
    .unwrap();
    let r = report(&t.till);
    assert!(!r.intact);
    assert_eq!(r.breaks.len(), 1, "{r:?}");
    let b = &r.breaks[0];
    assert_eq!(b.kind, BreakKind::LinkMismatch);
    assert_eq!(b.record.seq, 4, "it shows at the next record");
    let named = b.predecessor.as_ref().expect("the changed record is named");
    assert_eq!(named.seq, 3);
    assert_eq!(named.record_id, victim.sale_id.to_string());
    assert_eq!(named.receipt_no, victim.receipt_no);
}

#[test]
fn an_edit_of_the_newest_record_is_caught_by_the_registers_recorded_head() {
    let t = uk_till();
    let sales = sell(&t.till, 3);
    let newest = &sales[2];
    tamper(&t.till, |c| {
        c.execute(
            "UPDATE sales SET record = replace(record, '\"staff_id\":\"alice\"', '\"staff_id\":\"mallory\"')
             WHERE sale_id = ?1",
            [newest.sale_id.to_string()],
        )?;
        Ok(())
    })
    .unwrap();
    let r = report(&t.till);
    assert_eq!(r.breaks.len(), 1, "{r:?}");
    assert_eq!(r.breaks[0].kind, BreakKind::Altered);
    assert_eq!(r.breaks[0].record.seq, 3);
    assert_eq!(r.named_records().len(), 1);
}

#[test]
fn a_record_removed_from_the_middle_shows_as_a_gap() {
    let t = uk_till();
    let sales = sell(&t.till, 5);
    tamper(&t.till, |c| {
        let id = sales[1].sale_id.to_string();
        c.execute_batch("PRAGMA foreign_keys = OFF")?;
        c.execute(
            "DELETE FROM outbox WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1)",
            [&id],
        )?;
        c.execute(
            "DELETE FROM stock_movements WHERE sale_ref = (SELECT id FROM sales WHERE sale_id = ?1)",
            [&id],
        )?;
        c.execute("DELETE FROM sales WHERE sale_id = ?1", [&id])?;
        Ok(())
    })
    .unwrap();
    let r = report(&t.till);
    assert!(!r.intact);
    assert_eq!(r.gaps.len(), 1);
    assert_eq!((r.gaps[0].first, r.gaps[0].last), (2, 2));
    assert!(r.breaks.is_empty(), "nothing else is wrong: {r:?}");
}

#[test]
fn a_record_slipped_in_with_a_copied_link_shows_as_a_fork() {
    let t = uk_till();
    let sales = sell(&t.till, 3);
    tamper(&t.till, |c| {
        // A second "sale 2" claiming sale 1 as its predecessor, as if rung alongside it.
        let mut forged = sales[1].clone();
        forged.sale_id = uuid::Uuid::now_v7();
        forged.receipt_no = "R07-000099".into();
        forged.seq = 99;
        let record = serde_json::to_string(&forged).unwrap();
        c.execute(
            "INSERT INTO sales (sale_id, store_id, register_id, receipt_no, seq, created_at, currency,
               total, oversold, tax_settings_id, record)
             SELECT ?1, store_id, register_id, ?2, 99, created_at, currency, total, oversold,
               tax_settings_id, ?3 FROM sales WHERE sale_id = ?4",
            rusqlite::params![
                forged.sale_id.to_string(),
                forged.receipt_no,
                record,
                sales[1].sale_id.to_string()
            ],
        )?;
        Ok(())
    })
    .unwrap();
    let r = report(&t.till);
    assert_eq!(r.forks.len(), 1, "{r:?}");
    assert_eq!(r.forks[0].prev_seq, 1);
    let claimants: Vec<u64> = r.forks[0].records.iter().map(|x| x.seq).collect();
    assert_eq!(claimants, [2, 99]);
    assert!(!r.intact);
}

#[test]
fn registers_of_one_device_keep_journals_of_their_own() {
    let t = uk_till();
    sell(&t.till, 2);
    t.till.login("uk-01", "R08", "bob").unwrap();
    let other = sell(&t.till, 1);
    let l = link(&other[0]);
    assert_eq!(other[0].seq, 1, "R08 numbers from 1");
    assert_eq!(
        l.segment.as_ref().map(|s| s.reason),
        Some(SegmentReason::NewRegister)
    );
    let r = report(&t.till);
    assert_eq!((r.register_id.as_str(), r.records), ("R08", 1));
    assert!(r.intact);
    t.till.login("uk-01", "R07", "alice").unwrap();
    let back = sell(&t.till, 1);
    assert_eq!(link(&back[0]).prev_seq, 2, "R07 goes on from its own head");
    assert!(report(&t.till).intact);
}
