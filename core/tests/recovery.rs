//! Storage never strands a sale: a store its key cannot open (damaged pages, a truncated
//! or missing file) keeps refusing with a typed error until recovery salvages every intact
//! sale into a fresh store, still queued; a wrong key keeps refusing; nothing turns into a
//! silently empty store, and receipt numbers never restart.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::{DbKey, KeyVault, MemoryVault};
use tillkit_core::store::recovery::{self, RecoveryReport};
use tillkit_core::{Config, Error, Till};

const PAGE: usize = 4096;

/// Rings `n` sales of one to three lines; returns (rowid, sale id, record JSON) of each.
fn ring(till: &Till, n: usize) -> Vec<(i64, String, String)> {
    let products = ["p-kettle", "p-seat", "p-bread"];
    for i in 0..n {
        let mut cart = till.new_cart().unwrap();
        for p in products.iter().take(1 + i % 3) {
            till.add_product(&mut cart, p, d("1")).unwrap();
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
        .unwrap();
    }
    stored_sales(till)
}

fn stored_sales(till: &Till) -> Vec<(i64, String, String)> {
    tillkit_core::testing::inspect(&till, |c| {
        let mut stmt = c.prepare("SELECT id, sale_id, record FROM sales ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
    .unwrap()
}

/// A UK till with `n` sales rung, checkpointed into the main file, and closed.
fn closed_till_with_sales(
    n: usize,
) -> (tempfile::TempDir, MemoryVault, Vec<(i64, String, String)>) {
    let t = uk_till();
    let sales = ring(&t.till, n);
    tillkit_core::testing::tamper(&t.till, |c| {
        Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
    })
    .unwrap();
    // Leaf pages of the sales table, to damage the pages that hold sales.
    let TestTill { dir, vault, till } = t;
    drop(till);
    (dir, vault, sales)
}

fn sales_leaf_pages(dir: &Path, vault: &MemoryVault) -> Vec<usize> {
    let till = Till::open_with_vault(Config::new(dir), vault).unwrap();
    tillkit_core::testing::inspect(&till, |c| {
        let mut stmt = c.prepare(
            "SELECT pageno FROM dbstat WHERE name = 'sales' AND pagetype = 'leaf' ORDER BY pageno",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        Ok(rows
            .map(|r| r.map(|p| p as usize))
            .collect::<rusqlite::Result<Vec<_>>>()?)
    })
    .unwrap()
}

fn damage_page(path: &Path, page: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = (page - 1) * PAGE + 200;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0xa5;
    }
    std::fs::write(path, bytes).unwrap();
}

fn open(dir: &Path, vault: &MemoryVault) -> tillkit_core::Result<Till> {
    Till::open_with_vault(Config::new(dir), vault)
}

/// Opens twice (an app that restarts): both answer NeedsRecovery naming the same kept files.
fn refuses_twice(dir: &Path, vault: &MemoryVault) -> (String, Vec<PathBuf>) {
    let first = open(dir, vault)
        .err()
        .expect("a damaged store must not open");
    let Error::NeedsRecovery { reason, kept } = first else {
        panic!("expected NeedsRecovery, got {first:?}")
    };
    let again = open(dir, vault)
        .err()
        .expect("still refused after a restart");
    let Error::NeedsRecovery {
        kept: kept_again, ..
    } = again
    else {
        panic!("expected NeedsRecovery again, got {again:?}")
    };
    assert_eq!(kept, kept_again, "the same kept files are named every time");
    assert!(
        !dir.join("tillkit.db").exists(),
        "no new store was made in the damaged one's place"
    );
    (reason, kept)
}

/// Every recovered sale is byte for byte what was rung, and queued; returns the rowids lost.
fn check_recovered(
    dir: &Path,
    vault: &MemoryVault,
    rung: &[(i64, String, String)],
    report: &RecoveryReport,
) -> BTreeSet<i64> {
    let till = open(dir, vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    let recovered: BTreeMap<i64, (String, String)> = stored_sales(&till)
        .into_iter()
        .map(|(id, sale, rec)| (id, (sale, rec)))
        .collect();
    for (id, sale, record) in rung {
        if let Some((s, r)) = recovered.get(id) {
            assert_eq!((s, r), (sale, record), "sale {id} recovered intact");
        }
    }
    assert_eq!(report.sales_recovered as usize, recovered.len());
    assert_eq!(
        till.queue_counts().unwrap().pending as usize,
        recovered.len(),
        "every recovered unsent sale is queued for upload"
    );
    let lost: BTreeSet<i64> = rung
        .iter()
        .map(|(id, _, _)| *id)
        .filter(|id| !recovered.contains_key(id))
        .collect();
    let lost_ids: BTreeSet<&String> = rung
        .iter()
        .filter(|(id, _, _)| lost.contains(id))
        .map(|(_, s, _)| s)
        .collect();
    let reported: BTreeSet<&String> = report.lost_sale_ids.iter().collect();
    assert!(
        reported.is_subset(&lost_ids),
        "only sales really lost are reported lost"
    );
    assert!(
        till.needs_seq_floor().unwrap(),
        "the server is asked for its floor"
    );
    lost
}

fn next_receipt(dir: &Path, vault: &MemoryVault) -> u64 {
    let till = open(dir, vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    let sales = ring(&till, 1);
    let (_, sale_id, _) = sales.last().unwrap();
    till.load_sale(sale_id).unwrap().unwrap().0.seq
}

#[test]
fn damaged_pages_holding_sales_are_refused_then_every_intact_sale_is_recovered_and_queued() {
    let (dir, vault, rung) = closed_till_with_sales(300);
    let leaves = sales_leaf_pages(dir.path(), &vault);
    assert!(leaves.len() > 10, "the sales should span many pages");
    let path = dir.path().join("tillkit.db");
    let damaged = [
        leaves[2],
        leaves[leaves.len() / 2],
        leaves[leaves.len() - 3],
    ];
    for page in damaged {
        damage_page(&path, page);
    }
    let tampered = std::fs::read(&path).unwrap();
    let (_, kept) = refuses_twice(dir.path(), &vault);
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        tampered,
        "kept byte for byte"
    );

    let report = recovery::recover(&Config::new(dir.path()), &vault).unwrap();
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        tampered,
        "salvage never writes the kept file"
    );
    let lost = check_recovered(dir.path(), &vault, &rung, &report);
    // A leaf holds a contiguous run of rowids: the lost ones are at most three runs, each
    // no longer than a page holds. Anything else would be an intact sale left behind.
    let runs = lost
        .iter()
        .zip(lost.iter().skip(1))
        .filter(|(a, b)| **b != **a + 1)
        .count()
        + usize::from(!lost.is_empty());
    assert!(!lost.is_empty() && runs <= damaged.len(), "lost {lost:?}");
    let per_page = rung.len() / leaves.len() + 2;
    assert!(lost.len() <= damaged.len() * per_page * 2, "lost {lost:?}");
    assert_eq!(report.sales_unreadable as usize, lost.len());
    assert!(
        report.unreadable.iter().any(|u| u.contains("HMAC")),
        "{report:?}"
    );
    assert!(report.kept.contains(&kept[0]));
    // Receipt numbers continue after the highest ever issued.
    assert_eq!(next_receipt(dir.path(), &vault), 301);
}

#[test]
fn a_truncated_file_is_refused_then_the_sales_before_the_cut_are_recovered() {
    let (dir, vault, rung) = closed_till_with_sales(300);
    let path = dir.path().join("tillkit.db");
    let good = std::fs::read(&path).unwrap();
    let cut = (good.len() * 6 / 10) / PAGE * PAGE;
    std::fs::write(&path, &good[..cut]).unwrap();
    let (_, kept) = refuses_twice(dir.path(), &vault);
    assert_eq!(
        std::fs::read(&kept[0]).unwrap().len(),
        cut,
        "kept as it was"
    );

    let report = recovery::recover(&Config::new(dir.path()), &vault).unwrap();
    let lost = check_recovered(dir.path(), &vault, &rung, &report);
    assert!(report.sales_recovered > 100, "{report:?}");
    assert!(!lost.is_empty(), "the cut took some sales");
    let says = format!(
        "{} receipt numbers issued have no salvaged sale",
        lost.len()
    );
    assert!(
        report.unreadable.iter().any(|u| u.contains(&says)),
        "the report says what the cut took: {report:?}"
    );
    // What was lost is what lay past the cut: the highest rowids, never a gap below.
    let first_lost = *lost.iter().next().unwrap();
    assert!(lost.iter().copied().eq(first_lost..=300), "lost {lost:?}");
    assert!(next_receipt(dir.path(), &vault) > rung.len() as u64 - lost.len() as u64);
}

#[test]
fn a_missing_file_beside_its_key_sidecar_is_refused_and_receipts_continue_after_the_server() {
    let (dir, vault, _) = closed_till_with_sales(40);
    std::fs::remove_file(dir.path().join("tillkit.db")).unwrap();
    let (reason, _) = refuses_twice(dir.path(), &vault);
    assert!(reason.contains("missing"), "{reason}");

    let report = recovery::recover(&Config::new(dir.path()), &vault).unwrap();
    assert_eq!(report.sales_recovered, 0);
    assert!(report.unreadable.iter().any(|u| u.contains("missing")));
    let till = open(dir.path(), &vault).unwrap();
    assert!(till.needs_seq_floor().unwrap());
    // What the server tells the register on first contact (its last-seq endpoint).
    till.raise_seq_floor("uk-01", "R07", 40).unwrap();
    assert!(!till.needs_seq_floor().unwrap());
    till.import_catalog(&uk_catalog()).unwrap();
    drop(till);
    // The vault reserved numbers 1 to 100 in the keychain before the file went: any of
    // them may have been issued offline, so the register continues after them.
    assert_eq!(next_receipt(dir.path(), &vault), 101, "never 000001 again");
}

#[test]
fn a_wrong_key_keeps_refusing_with_a_typed_error_and_touches_nothing() {
    let (dir, vault, _) = closed_till_with_sales(20);
    let path = dir.path().join("tillkit.db");
    let before = std::fs::read(&path).unwrap();
    let other = MemoryVault::default();
    other.save(&DbKey::generate().unwrap()).unwrap();
    for _ in 0..2 {
        let err = open(dir.path(), &other).err().unwrap();
        assert!(matches!(err, Error::KeyMismatch), "{err:?}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let config = Config::new(dir.path());
    assert!(
        !recovery::is_pending(&config).unwrap(),
        "a wrong key is not damage"
    );
    assert!(
        recovery::recover(&config, &other).is_err(),
        "nothing to recover"
    );
    let till = open(dir.path(), &vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    assert_eq!(till.queue_counts().unwrap().pending, 20);
}

#[test]
fn starting_fresh_is_explicit_and_keeps_the_damaged_file_listed() {
    let (dir, vault, _) = closed_till_with_sales(30);
    let path = dir.path().join("tillkit.db");
    damage_page(&path, 1);
    let tampered = std::fs::read(&path).unwrap();
    let (_, kept) = refuses_twice(dir.path(), &vault);
    let config = Config::new(dir.path());
    recovery::start_fresh(&config, &vault).unwrap();
    let till = open(dir.path(), &vault).unwrap();
    assert!(till.needs_seq_floor().unwrap());
    assert_eq!(recovery::kept_files(&config).unwrap(), kept);
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        tampered,
        "the kept file is untouched"
    );
    assert!(
        recovery::start_fresh(&config, &vault).is_err(),
        "nothing pending any more"
    );
}

#[test]
fn a_damaged_first_page_recovers_nothing_silently_and_says_so() {
    let (dir, vault, _) = closed_till_with_sales(30);
    damage_page(&dir.path().join("tillkit.db"), 1);
    refuses_twice(dir.path(), &vault);
    let report = recovery::recover(&Config::new(dir.path()), &vault).unwrap();
    assert_eq!(report.sales_recovered, 0);
    assert!(
        report.unreadable.iter().any(|u| u.contains("first page")),
        "{report:?}"
    );
    assert_eq!(report.kept.len(), 1);
}

/// The link of the newest sale of `till`'s register.
fn newest_link(till: &Till) -> tillkit_core::journal::JournalLink {
    let (_, sale_id, _) = stored_sales(till).pop().unwrap();
    till.load_sale(&sale_id)
        .unwrap()
        .unwrap()
        .0
        .journal
        .unwrap()
}

/// A store of 300 sales whose newest leaf of sales is damaged, then salvaged; `forget_head`
/// first clears the journal head (as a file written before the journal would lack it).
fn salvaged_without_the_newest_sales(
    forget_head: bool,
) -> (tempfile::TempDir, MemoryVault, Vec<(i64, String, String)>) {
    let (dir, vault, rung) = closed_till_with_sales(300);
    if forget_head {
        let till = open(dir.path(), &vault).unwrap();
        tillkit_core::testing::tamper(&till, |c| {
            c.execute_batch(
                "UPDATE register_seq SET head_seq = NULL, head_hash = NULL;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )?;
            Ok(())
        })
        .unwrap();
    }
    let leaves = sales_leaf_pages(dir.path(), &vault);
    damage_page(&dir.path().join("tillkit.db"), leaves[leaves.len() - 1]);
    refuses_twice(dir.path(), &vault);
    let report = recovery::recover(&Config::new(dir.path()), &vault).unwrap();
    let lost = check_recovered(dir.path(), &vault, &rung, &report);
    assert!(
        lost.contains(&300),
        "the newest sale is among the lost: {lost:?}"
    );
    (dir, vault, rung)
}

fn journal_hash(record: &str) -> String {
    let sale: tillkit_core::sale::SaleRecord = serde_json::from_str(record).unwrap();
    tillkit_core::journal::record_hash(&sale).unwrap()
}

#[test]
fn a_salvaged_store_goes_on_with_its_journal_from_the_head_it_kept() {
    let (dir, vault, rung) = salvaged_without_the_newest_sales(false);
    let till = open(dir.path(), &vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    ring(&till, 1);
    let link = newest_link(&till);
    // The head survived on its own page: the chain goes on after the true newest sale,
    // lost here but perhaps uploaded; the server sees no restart.
    assert!(
        link.segment.is_none(),
        "the chain is not restarted: {link:?}"
    );
    assert_eq!(link.prev_seq, 300);
    assert_eq!(link.prev, journal_hash(&rung[299].2));
    let journal = till.verify_journal().unwrap();
    assert_eq!(journal.segments.len(), 1, "{journal:?}");
    assert!(journal.breaks.is_empty(), "{journal:?}");
    assert!(
        journal.gaps.iter().any(|g| g.last == 300),
        "what this device lost is a gap in its own journal: {journal:?}"
    );
}

#[test]
fn a_salvaged_store_without_a_head_goes_on_from_its_newest_surviving_record() {
    let (dir, vault, _) = salvaged_without_the_newest_sales(true);
    let till = open(dir.path(), &vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    let survivors = stored_sales(&till);
    let (_, _, newest) = survivors.last().unwrap();
    let newest_seq: tillkit_core::sale::SaleRecord = serde_json::from_str(newest).unwrap();
    ring(&till, 1);
    let link = newest_link(&till);
    assert!(link.segment.is_none(), "not a silent new start: {link:?}");
    assert_eq!(link.prev_seq, newest_seq.seq);
    assert_eq!(link.prev, journal_hash(newest));
    assert!(till.verify_journal().unwrap().breaks.is_empty());
}

#[test]
fn a_fresh_start_opens_a_journal_segment_the_auditor_sees_as_a_restart() {
    let (dir, vault, _) = closed_till_with_sales(30);
    damage_page(&dir.path().join("tillkit.db"), 1);
    let (reason, _) = refuses_twice(dir.path(), &vault);
    recovery::start_fresh(&Config::new(dir.path()), &vault).unwrap();
    let till = open(dir.path(), &vault).unwrap();
    till.import_catalog(&uk_catalog()).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    ring(&till, 2);
    let journal = till.verify_journal().unwrap();
    assert_eq!(journal.segments.len(), 1, "{journal:?}");
    let segment = &journal.segments[0];
    assert_eq!(
        segment.reason,
        tillkit_core::journal::SegmentReason::FreshStart
    );
    assert!(segment.restart, "a fresh start is never a new register");
    assert!(
        segment.note.as_deref().is_some_and(|n| n.contains(&reason)),
        "{segment:?}"
    );
}
