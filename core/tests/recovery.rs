//! Storage never strands a sale: a store its key cannot open (damaged pages, a truncated
//! or missing file) keeps refusing with a typed error until recovery salvages every intact
//! sale into a fresh store, still queued; a wrong key keeps refusing; nothing turns into a
//! silently empty store, and receipt numbers never restart.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::cipher::{self, CipherProfile};
use tillkit_core::store::key::{DbKey, KeyVault, MemoryVault};
use tillkit_core::store::receipts::Reserved;
use tillkit_core::store::recovery::{self, RecoveryReport};
use tillkit_core::store::schema;
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
    tillkit_core::testing::inspect(till, |c| {
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

/// The receipt numbers of the rung sales whose rowid is in `lost`, in order.
fn receipts_of(rung: &[(i64, String, String)], lost: &BTreeSet<i64>) -> Vec<String> {
    rung.iter()
        .filter(|(id, _, _)| lost.contains(id))
        .map(|(_, _, record)| {
            let v: serde_json::Value = serde_json::from_str(record).unwrap();
            v["receipt_no"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The keychain's reservation for register R07 (0: none).
fn reserved(vault: &MemoryVault) -> u64 {
    vault
        .receipt_book()
        .unwrap()
        .load()
        .unwrap()
        .through("uk-01", "R07")
}

/// Sets the keychain's reservation for R07 to `through`, lower or higher than the file's
/// counter (a keychain restored from an older backup holds less).
fn set_reserved(vault: &MemoryVault, through: u64) {
    let book = vault.receipt_book().unwrap();
    let mut book_now = book.load().unwrap();
    book_now.registers.retain(|r| r.register_id != "R07");
    book_now.registers.push(Reserved {
        store_id: "uk-01".into(),
        register_id: "R07".into(),
        through,
    });
    book.save(&book_now).unwrap();
}

/// The receipt numbers (`seq`) of `till`'s sales, in order.
fn seqs(till: &Till) -> Vec<u64> {
    stored_sales(till)
        .iter()
        .map(|(_, _, record)| {
            serde_json::from_str::<serde_json::Value>(record).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// Opens the recovered (or freshly started) store, lets the "server" answer `server` as
/// the register's highest, rings two sales and returns the first one's number, checking
/// the journal records every number skipped and stays intact.
fn next_after_floors(dir: &Path, vault: &MemoryVault, server: u64, held_before: u64) -> u64 {
    let till = open(dir, vault).unwrap();
    till.import_catalog(&uk_catalog()).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    assert!(till.needs_seq_floor().unwrap(), "the server is asked");
    till.raise_seq_floor("uk-01", "R07", server).unwrap();
    assert!(!till.needs_seq_floor().unwrap());
    ring(&till, 2);
    let numbers = seqs(&till);
    let next = numbers[numbers.len() - 2];
    assert_eq!(numbers[numbers.len() - 1], next + 1, "then gapless");
    let journal = till.verify_journal().unwrap();
    assert!(journal.intact, "{journal:?}");
    let skips: Vec<(u64, u64)> = journal.skips.iter().map(|s| (s.first, s.last)).collect();
    if next > held_before + 1 {
        assert_eq!(skips, [(held_before + 1, next - 1)], "{journal:?}");
    } else {
        assert!(skips.is_empty(), "{journal:?}");
    }
    next
}

#[test]
fn after_a_salvage_receipts_follow_the_highest_of_the_salvaged_counter_the_keychain_and_the_server()
{
    // The salvaged counter is 20. (reservation, server's highest): each source the
    // highest in turn, ties, and every one lower than another: none lowers another.
    for (keychain, server) in [
        (5, 0),
        (5, 7),
        (20, 20),
        (200, 0),
        (200, 150),
        (200, 900),
        (5, 900),
        (0, 35),
    ] {
        let (dir, vault, _) = marked_by_a_damaged_catalogue(20);
        set_reserved(&vault, keychain);
        let report = recovery::recover(&Config::new(dir.path()), &vault).unwrap();
        assert_eq!(report.sales_recovered, 20);
        let expected = 20.max(keychain).max(server) + 1;
        assert_eq!(
            next_after_floors(dir.path(), &vault, server, 20),
            expected,
            "salvaged 20, keychain {keychain}, server {server}"
        );
        assert!(
            reserved(&vault) > expected,
            "the number was reserved before it was used"
        );
    }
}

#[test]
fn after_a_fresh_start_receipts_follow_the_highest_of_the_keychain_and_the_server() {
    for (keychain, server) in [(100, 0), (100, 40), (100, 250), (0, 12), (7, 7)] {
        let (dir, vault, _) = closed_till_with_sales(30);
        damage_page(&dir.path().join("tillkit.db"), 1);
        refuses_twice(dir.path(), &vault);
        set_reserved(&vault, keychain);
        recovery::start_fresh(&Config::new(dir.path()), &vault).unwrap();
        let expected = keychain.max(server) + 1;
        assert_eq!(
            next_after_floors(dir.path(), &vault, server, 0),
            expected,
            "keychain {keychain}, server {server}"
        );
    }
}

#[test]
fn a_server_floor_below_the_counter_never_lowers_it() {
    let t = uk_till();
    ring(&t.till, 5);
    t.till.raise_seq_floor("uk-01", "R07", 2).unwrap();
    t.till.raise_seq_floor("uk-01", "R07", 0).unwrap();
    ring(&t.till, 1);
    assert_eq!(seqs(&t.till), [1, 2, 3, 4, 5, 6]);
    t.till.raise_seq_floor("uk-01", "R07", 9).unwrap();
    ring(&t.till, 1);
    assert_eq!(seqs(&t.till).last(), Some(&10));
    let journal = t.till.verify_journal().unwrap();
    assert!(journal.intact, "{journal:?}");
    assert_eq!(
        journal
            .skips
            .iter()
            .map(|s| (s.first, s.last))
            .collect::<Vec<_>>(),
        [(7, 9)]
    );
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
    assert!(!report.complete, "pages were lost: {report:?}");
    assert_eq!(
        report.receipts_missing,
        receipts_of(&rung, &lost),
        "every lost sale's receipt number, and only those"
    );
    assert!(
        report.unreadable.iter().any(|u| u.contains("HMAC")),
        "{report:?}"
    );
    assert!(report.kept.contains(&kept[0]));
    // Receipt numbers continue after the highest the register may have issued: the
    // salvaged counter (300) or the keychain's reservation (the block reserved ahead).
    let reserved = reserved(&vault);
    assert!(reserved >= 300, "{reserved}");
    assert_eq!(next_receipt(dir.path(), &vault), reserved + 1);
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
    assert!(!report.complete);
    assert_eq!(
        report.receipts_missing,
        receipts_of(&rung, &lost),
        "the numbers the cut took, though no page said so"
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
    assert!(!report.complete, "nothing could be read: {report:?}");
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
    assert!(!report.complete);
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

// ---- One holder at a time: the store's lock ----

/// A config that answers `Busy` at once instead of waiting for the other holder.
fn no_wait(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.lock_wait = std::time::Duration::ZERO;
    config
}

#[test]
fn a_second_open_or_a_recovery_beside_an_open_till_is_busy_and_the_first_keeps_selling() {
    let (dir, vault, _) = closed_till_with_sales(10);
    let first = open(dir.path(), &vault).unwrap();
    first.login("uk-01", "R07", "alice").unwrap();
    for _ in 0..2 {
        let err = Till::open_with_vault(no_wait(dir.path()), &vault).err();
        assert!(matches!(err, Some(Error::Busy)), "{err:?}");
    }
    let config = no_wait(dir.path());
    assert!(matches!(
        recovery::recover(&config, &vault),
        Err(Error::Busy)
    ));
    assert!(matches!(
        recovery::start_fresh(&config, &vault),
        Err(Error::Busy)
    ));
    ring(&first, 1);
    assert_eq!(first.queue_counts().unwrap().pending, 11);
    drop(first);
    let again = Till::open_with_vault(no_wait(dir.path()), &vault).unwrap();
    again.login("uk-01", "R07", "alice").unwrap();
    assert_eq!(again.queue_counts().unwrap().pending, 11);
}

#[test]
fn two_recoveries_at_once_never_race_one_runs_and_the_other_is_busy_or_finds_it_done() {
    let (dir, vault, rung) = closed_till_with_sales(300);
    let leaves = sales_leaf_pages(dir.path(), &vault);
    damage_page(&dir.path().join("tillkit.db"), leaves[leaves.len() / 2]);
    refuses_twice(dir.path(), &vault);
    let results: Vec<tillkit_core::Result<RecoveryReport>> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| recovery::recover(&no_wait(dir.path()), &vault)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let done: Vec<&RecoveryReport> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(done.len(), 1, "exactly one recovery ran: {results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(err, Error::Busy)
                || matches!(err, Error::InvalidInput { reason } if reason.contains("no recovery is pending")),
            "{err:?}"
        );
    }
    let lost = check_recovered(dir.path(), &vault, &rung, done[0]);
    assert!(!lost.is_empty() && lost.len() < 30, "lost {lost:?}");
}

/// The lock-holding child: opens the store in `LOCK_CHILD_ENV` with the key in the file
/// `LOCK_CHILD_KEY_ENV`, says `open`, and keeps it open until its stdin closes.
const LOCK_CHILD_ENV: &str = "TILLKIT_LOCK_CHILD_DIR";
const LOCK_CHILD_KEY_ENV: &str = "TILLKIT_LOCK_CHILD_KEY";

struct FileVault(PathBuf);

impl KeyVault for FileVault {
    fn load(&self) -> tillkit_core::Result<Option<DbKey>> {
        match std::fs::read(&self.0) {
            Ok(bytes) => DbKey::decode(&bytes).map(Some),
            Err(_) => Ok(None),
        }
    }
    fn save(&self, key: &DbKey) -> tillkit_core::Result<()> {
        std::fs::write(&self.0, key.encode().as_bytes()).map_err(|e| Error::Keychain(e.to_string()))
    }
}

#[test]
fn lock_child_holds_the_store_open_until_its_stdin_closes() {
    use std::io::{BufRead, Write};
    let Ok(dir) = std::env::var(LOCK_CHILD_ENV) else {
        return;
    };
    let key = std::env::var(LOCK_CHILD_KEY_ENV).unwrap();
    let till = Till::open_with_vault(Config::new(dir), &FileVault(key.into()))
        .expect("the child opens the store");
    println!("child:open");
    std::io::stdout().flush().unwrap();
    for _ in std::io::stdin().lock().lines() {}
    drop(till);
}

#[test]
fn a_store_open_in_another_process_cannot_be_opened_recovered_or_started_fresh() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let (dir, vault, _) = closed_till_with_sales(20);
    let data = dir.path();
    let keys = tempfile::tempdir().unwrap();
    let file_vault = FileVault(keys.path().join("key"));
    file_vault.save(&vault.load().unwrap().unwrap()).unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "lock_child_holds_the_store_open_until_its_stdin_closes",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOCK_CHILD_ENV, data)
        .env(LOCK_CHILD_KEY_ENV, &file_vault.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("child:open"))),
        "the child opened the store"
    );
    let config = no_wait(data);
    let err = Till::open_with_vault(config.clone(), &file_vault).err();
    assert!(matches!(err, Some(Error::Busy)), "{err:?}");
    // Waiting for the other holder does not change the answer while it holds on.
    let err = Till::open_with_vault(Config::new(data), &file_vault).err();
    assert!(matches!(err, Some(Error::Busy)), "{err:?}");
    assert!(matches!(
        recovery::recover(&config, &file_vault),
        Err(Error::Busy)
    ));
    assert!(matches!(
        recovery::start_fresh(&config, &file_vault),
        Err(Error::Busy)
    ));
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let till = Till::open_with_vault(config, &file_vault).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    assert_eq!(till.queue_counts().unwrap().pending, 20);
}

// ---- Files from a newer app are never touched ----

/// The pragmas of a SQLCipher profile on `schema`.
fn profile_pragmas(p: &CipherProfile, schema: &str) -> String {
    format!(
        "PRAGMA {schema}.cipher_page_size = {}; PRAGMA {schema}.cipher_hmac_algorithm = {};
         PRAGMA {schema}.cipher_kdf_algorithm = {}; PRAGMA {schema}.kdf_iter = {};
         PRAGMA {schema}.cipher_plaintext_header_size = {};",
        p.page_size, p.hmac, p.kdf, p.kdf_iter, p.plaintext_header
    )
}

fn key_literal(vault: &MemoryVault) -> String {
    let key = vault.load().unwrap().unwrap();
    let encoded = key.encode();
    format!("x'{}'", encoded.split_once(':').unwrap().1)
}

/// A plain connection to a store file with the till's key and the pinned settings.
fn raw(path: &Path, vault: &MemoryVault) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!("PRAGMA key = \"{}\";", key_literal(vault)))
        .unwrap();
    c.execute_batch(&profile_pragmas(&cipher::PINNED, "main"))
        .unwrap();
    c
}

/// Every file of `dir` but the WAL index, by name, with its length and a digest of its
/// bytes (an empty WAL counts as none).
fn snapshot(dir: &Path) -> Vec<(String, usize, u64)> {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<(String, usize, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            let name = e.file_name().to_string_lossy().into_owned();
            (name, bytes.len(), h.finish())
        })
        .filter(|(n, len, _)| !n.ends_with("-shm") && (*len > 0 || !n.ends_with("-wal")))
        .collect();
    files.sort();
    files
}

fn refuses_as_newer(dir: &Path, vault: &MemoryVault) {
    for _ in 0..2 {
        let err = open(dir, vault).err();
        assert!(
            matches!(err, Some(Error::NewerSchema { found: 999, supported }) if supported == schema::latest_version()),
            "{err:?}"
        );
    }
}

#[test]
fn a_newer_apps_file_in_rollback_journal_mode_is_refused_without_changing_a_byte() {
    let (dir, vault, _) = closed_till_with_sales(10);
    let path = dir.path().join("tillkit.db");
    let c = raw(&path, &vault);
    c.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA user_version = 999;")
        .unwrap();
    drop(c);
    let before = snapshot(dir.path());
    refuses_as_newer(dir.path(), &vault);
    assert_eq!(
        snapshot(dir.path()),
        before,
        "no journal-mode switch, no WAL"
    );
}

#[test]
fn a_newer_apps_file_with_other_cipher_settings_is_refused_and_never_converted() {
    let (dir, vault, _) = closed_till_with_sales(10);
    let path = dir.path().join("tillkit.db");
    let other = dir.path().join("other.db");
    let c = raw(&path, &vault);
    c.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS other KEY \"{}\"; {}
         SELECT sqlcipher_export('other'); PRAGMA other.user_version = 999;
         DETACH DATABASE other;",
        other.display(),
        key_literal(&vault),
        profile_pragmas(&cipher::SQLCIPHER4_DEFAULTS, "other"),
    ))
    .unwrap();
    drop(c);
    std::fs::rename(&other, &path).unwrap();
    let before = snapshot(dir.path());
    refuses_as_newer(dir.path(), &vault);
    assert_eq!(
        snapshot(dir.path()),
        before,
        "not converted to the pinned settings"
    );
}

#[test]
fn salvage_refuses_a_kept_file_from_a_newer_app_and_leaves_it_pending_and_unchanged() {
    let (dir, vault, _) = closed_till_with_sales(60);
    let leaves = sales_leaf_pages(dir.path(), &vault);
    damage_page(&dir.path().join("tillkit.db"), leaves[1]);
    let (_, kept) = refuses_twice(dir.path(), &vault);
    // The kept file came from a newer app (a recovery pending when the app was downgraded).
    let c = raw(&kept[0], &vault);
    c.execute_batch("PRAGMA user_version = 999;").unwrap();
    drop(c);
    let before = std::fs::read(&kept[0]).unwrap();
    let config = Config::new(dir.path());
    let err = recovery::recover(&config, &vault).err();
    assert!(
        matches!(err, Some(Error::NewerSchema { found: 999, .. })),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&kept[0]).unwrap(), before);
    assert!(recovery::is_pending(&config).unwrap());
    refuses_twice(dir.path(), &vault);
}

// ---- What the report says: complete or not, and which receipt numbers are missing ----

/// A store of `n` sales whose catalogue page is damaged: it opens (the queue reads), then a
/// product look-up meets the damage and marks it for recovery.
fn marked_by_a_damaged_catalogue(
    n: usize,
) -> (tempfile::TempDir, MemoryVault, Vec<(i64, String, String)>) {
    let (dir, vault, rung) = closed_till_with_sales(n);
    let page: i64 = {
        let till = open(dir.path(), &vault).unwrap();
        tillkit_core::testing::inspect(&till, |c| {
            Ok(c.query_row(
                "SELECT min(pageno) FROM dbstat WHERE name = 'products' AND pagetype = 'leaf'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap()
    };
    damage_page(&dir.path().join("tillkit.db"), page as usize);
    let till = open(dir.path(), &vault).expect("the queue still reads");
    till.login("uk-01", "R07", "alice").unwrap();
    let err = till.product("p-bread").err();
    assert!(matches!(err, Some(Error::NeedsRecovery { .. })), "{err:?}");
    drop(till);
    refuses_twice(dir.path(), &vault);
    (dir, vault, rung)
}

#[test]
fn a_salvage_that_lost_no_sale_says_it_is_complete() {
    let (dir, vault, rung) = marked_by_a_damaged_catalogue(30);
    let report = recovery::recover(&Config::new(dir.path()), &vault).unwrap();
    assert!(report.complete, "{report:?}");
    assert!(report.receipts_missing.is_empty(), "{report:?}");
    assert!(
        report.unreadable.iter().any(|u| u.contains("products")),
        "the catalogue page is reported, but does not make it incomplete: {report:?}"
    );
    let lost = check_recovered(dir.path(), &vault, &rung, &report);
    assert!(lost.is_empty(), "{lost:?}");
}

#[test]
fn a_row_that_repeats_a_salvaged_sale_id_is_not_counted_as_salvaged() {
    let (dir, vault, rung) = marked_by_a_damaged_catalogue(20);
    let config = Config::new(dir.path());
    let kept = recovery::kept_files(&config).unwrap();
    // Damage that gives sale 2 the id of sale 1 (its unique index gone with it).
    let c = raw(&kept[0], &vault);
    c.execute_batch(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = replace(sql, 'NOT NULL UNIQUE', 'NOT NULL')
           WHERE name = 'sales';
         DELETE FROM sqlite_schema WHERE name = 'sqlite_autoindex_sales_1';",
    )
    .unwrap();
    drop(c);
    let c = raw(&kept[0], &vault);
    c.execute_batch(
        "UPDATE sales SET sale_id = (SELECT sale_id FROM sales WHERE id = 1) WHERE id = 2;",
    )
    .unwrap();
    drop(c);
    let report = recovery::recover(&config, &vault).unwrap();
    assert_eq!(report.sales_recovered, 19, "{report:?}");
    assert_eq!(
        report.queued, 19,
        "no queue row without its sale: {report:?}"
    );
    assert_eq!(report.queued_lost, 1, "{report:?}");
    assert!(!report.complete);
    assert_eq!(
        report.receipts_missing,
        receipts_of(&rung, &BTreeSet::from([2]))
    );
    assert!(
        report.unreadable.iter().any(|u| u.contains("repeat")),
        "{report:?}"
    );
    let lost = check_recovered(dir.path(), &vault, &rung, &report);
    assert_eq!(lost, BTreeSet::from([2]));
}

// ---- Kept files: unique names, stale files kept, all of them listed ----

fn is_unique_kept_name(path: &Path, kind: &str) -> bool {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let Some(rest) = name.strip_prefix(&format!("tillkit.db.{kind}-")) else {
        return false;
    };
    let Some((ms, after)) = rest.split_once('-') else {
        return false;
    };
    let (random, suffix) = after.split_at(after.len().min(8));
    !ms.is_empty()
        && ms.chars().all(|c| c.is_ascii_digit())
        && random.len() == 8
        && random.chars().all(|c| c.is_ascii_hexdigit())
        && ["", "-wal", "-shm", "-journal"].contains(&suffix)
}

#[test]
fn a_second_damage_never_overwrites_the_first_kept_file_and_every_kept_or_stale_file_is_listed() {
    let (dir, vault, _) = closed_till_with_sales(30);
    let config = Config::new(dir.path());
    let path = dir.path().join("tillkit.db");
    damage_page(&path, 1);
    let first_bytes = std::fs::read(&path).unwrap();
    let (_, first) = refuses_twice(dir.path(), &vault);
    assert!(is_unique_kept_name(&first[0], "damaged"), "{first:?}");
    // A WAL beside the moved file (one the kept-file renames did not take): it must never be
    // replayed onto the new store, and it is kept too.
    std::fs::write(dir.path().join("tillkit.db-wal"), b"stale wal").unwrap();
    recovery::start_fresh(&config, &vault).unwrap();

    let till = open(dir.path(), &vault).unwrap();
    till.import_catalog(&uk_catalog()).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    ring(&till, 5);
    tillkit_core::testing::tamper(&till, |c| {
        Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
    })
    .unwrap();
    drop(till);
    damage_page(&path, 1);
    let (_, second) = refuses_twice(dir.path(), &vault);
    assert!(is_unique_kept_name(&second[0], "damaged"), "{second:?}");
    assert_ne!(first[0], second[0]);
    assert_eq!(
        std::fs::read(&first[0]).unwrap(),
        first_bytes,
        "the first kept file is untouched"
    );

    let report = recovery::recover(&config, &vault).unwrap();
    let stale: Vec<&PathBuf> = report
        .kept
        .iter()
        .filter(|p| p.to_string_lossy().contains(".stale-"))
        .collect();
    assert_eq!(stale.len(), 1, "{:?}", report.kept);
    assert!(is_unique_kept_name(stale[0], "stale"), "{stale:?}");
    assert_eq!(std::fs::read(stale[0]).unwrap(), b"stale wal");
    for kept in [&first[0], &second[0], stale[0]] {
        assert!(report.kept.contains(kept), "{kept:?} in {:?}", report.kept);
    }
    assert_eq!(recovery::kept_files(&config).unwrap(), report.kept);
    // Even without the recovery record, every kept file in the directory is listed.
    std::fs::remove_file(dir.path().join("tillkit.recovery")).unwrap();
    let listed = recovery::kept_files(&config).unwrap();
    for kept in [&first[0], &second[0], stale[0]] {
        assert!(listed.contains(kept), "{kept:?} in {listed:?}");
    }
}

#[test]
fn a_hot_journal_beside_the_moved_file_is_kept_and_never_replayed_onto_the_recovered_store() {
    // A hot rollback journal of the damaged store left at `tillkit.db-journal` (the
    // kept-file renames take the database, its WAL and index): SQLite would replay its
    // pages, written for the damaged file, onto the recovered store at its first open.
    let (dir, vault, rung) = closed_till_with_sales(40);
    let db = dir.path().join("tillkit.db");
    let journal = dir.path().join("tillkit.db-journal");
    raw_keyed(&db, &vault)
        .execute_batch("PRAGMA journal_mode = DELETE;")
        .unwrap();
    let hot = {
        let c = raw_keyed(&db, &vault);
        c.execute_batch(
            "PRAGMA cache_size = 4; BEGIN IMMEDIATE;
             CREATE TABLE scratch (v BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO scratch SELECT randomblob(900) FROM n;",
        )
        .unwrap();
        let hot = std::fs::read(&journal).unwrap();
        c.execute_batch("ROLLBACK").unwrap();
        hot
    };
    assert!(hot.len() > 4096, "a hot journal was captured");
    let leaves = sales_leaf_pages(dir.path(), &vault);
    damage_page(&db, leaves[leaves.len() / 2]);
    refuses_twice(dir.path(), &vault);
    std::fs::write(&journal, &hot).unwrap();

    let config = Config::new(dir.path());
    let report = recovery::recover(&config, &vault).unwrap();
    assert!(
        !journal.exists(),
        "the journal no longer sits beside the store"
    );
    let stale: Vec<&PathBuf> = report
        .kept
        .iter()
        .filter(|p| p.to_string_lossy().contains(".stale-"))
        .collect();
    assert_eq!(stale.len(), 1, "{:?}", report.kept);
    assert!(is_unique_kept_name(stale[0], "stale"), "{stale:?}");
    assert_eq!(std::fs::read(stale[0]).unwrap(), hot, "kept byte for byte");
    assert_eq!(recovery::kept_files(&config).unwrap(), report.kept);

    let lost = check_recovered(dir.path(), &vault, &rung, &report);
    assert!(lost.len() < rung.len() / 2, "lost {lost:?}");
    let till = open(dir.path(), &vault).unwrap();
    let ok: String = tillkit_core::testing::inspect(&till, |c| {
        Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    })
    .unwrap();
    assert_eq!(ok, "ok", "the recovered store is whole");
}

/// A raw connection to the till's file with its key and the pinned page settings.
fn raw_keyed(path: &Path, vault: &MemoryVault) -> rusqlite::Connection {
    let key = vault.load().unwrap().unwrap();
    let encoded = key.encode();
    let (_, hex) = encoded.split_once(':').unwrap();
    let p = cipher::PINNED;
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "PRAGMA key = \"x'{hex}'\";
         PRAGMA cipher_page_size = {}; PRAGMA cipher_hmac_algorithm = {};
         PRAGMA cipher_kdf_algorithm = {}; PRAGMA cipher_use_hmac = ON;
         PRAGMA cipher_plaintext_header_size = {};",
        p.page_size, p.hmac, p.kdf, p.plaintext_header
    ))
    .unwrap();
    c
}

#[test]
fn a_hot_rollback_journal_left_by_a_kill_is_rolled_back_on_open_never_a_readonly_error() {
    // A key rotation's copy takes the file's place in rollback-journal mode; the open that
    // follows switches it to WAL through a rollback journal. A kill inside such a write
    // leaves a hot `tillkit.db-journal`: the open's read-only first look cannot roll it
    // back (SQLITE_READONLY_ROLLBACK), which once made every later open fail.
    let (dir, vault, sales) = closed_till_with_sales(12);
    let db = dir.path().join("tillkit.db");
    raw_keyed(&db, &vault)
        .execute_batch("PRAGMA journal_mode = DELETE;")
        .unwrap();
    let crashed = tempfile::tempdir().unwrap();
    {
        // A write transaction large enough to spill into the file, caught mid-way: the
        // files as they are now are what a kill would leave.
        let c = raw_keyed(&db, &vault);
        c.execute_batch(
            "PRAGMA cache_size = 4; BEGIN IMMEDIATE;
             CREATE TABLE scratch (v BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO scratch SELECT randomblob(900) FROM n;",
        )
        .unwrap();
        for name in ["tillkit.db", "tillkit.db-journal", "tillkit.keyid"] {
            std::fs::copy(dir.path().join(name), crashed.path().join(name)).unwrap();
        }
        assert!(
            std::fs::metadata(crashed.path().join("tillkit.db-journal"))
                .unwrap()
                .len()
                > 0,
            "a hot journal was left"
        );
        c.execute_batch("ROLLBACK").unwrap();
    }
    let till = Till::open_with_vault(Config::new(crashed.path()), &vault)
        .expect("the store opens after the kill, its journal rolled back");
    assert_eq!(stored_sales(&till), sales, "every sale, byte for byte");
    let (ok, scratch): (String, i64) = tillkit_core::testing::inspect(&till, |c| {
        Ok((
            c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?,
            c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'scratch'",
                [],
                |r| r.get(0),
            )?,
        ))
    })
    .unwrap();
    assert_eq!(
        (ok.as_str(), scratch),
        ("ok", 0),
        "the unfinished write is gone"
    );
}

#[test]
fn a_kept_file_with_a_hot_journal_beside_it_is_salvaged_from_a_rolled_back_copy_and_never_written()
{
    // A crash in the middle of a write that rewrote the sales pages (a key rotation
    // rewrites every page) leaves the file half old, half new, and the hot journal that
    // undoes it. Kept with its journal beside it (as the detection moves them together),
    // the file must be read as the journal makes it, never as it lies on disk.
    let (dir, vault, rung) = closed_till_with_sales(40);
    let db = dir.path().join("tillkit.db");
    raw_keyed(&db, &vault)
        .execute_batch("PRAGMA journal_mode = DELETE;")
        .unwrap();
    let (crashed, hot) = {
        let c = raw_keyed(&db, &vault);
        c.execute_batch(
            "PRAGMA cache_size = 4; BEGIN IMMEDIATE;
             UPDATE sales SET record = 'half written';
             CREATE TABLE scratch (v BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO scratch SELECT randomblob(900) FROM n;",
        )
        .unwrap();
        let files = (
            std::fs::read(&db).unwrap(),
            std::fs::read(dir.path().join("tillkit.db-journal")).unwrap(),
        );
        c.execute_batch("ROLLBACK").unwrap();
        files
    };
    assert!(hot.len() > 4096, "a hot journal was captured");
    let leaves = sales_leaf_pages(dir.path(), &vault);
    damage_page(&db, leaves[leaves.len() / 2]);
    let (_, kept) = refuses_twice(dir.path(), &vault);
    // The kept file as the crash left it, its journal beside it under its kept name.
    std::fs::write(&kept[0], &crashed).unwrap();
    let kept_journal = PathBuf::from(format!("{}-journal", kept[0].display()));
    std::fs::write(&kept_journal, &hot).unwrap();

    let config = Config::new(dir.path());
    let report = recovery::recover(&config, &vault).unwrap();
    let lost = check_recovered(dir.path(), &vault, &rung, &report);
    assert!(lost.is_empty(), "every sale, as committed: lost {lost:?}");
    assert_eq!(report.sales_recovered, rung.len() as u64, "{report:?}");
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        crashed,
        "the kept file is unchanged"
    );
    assert_eq!(
        std::fs::read(&kept_journal).unwrap(),
        hot,
        "its journal too"
    );
    assert!(report.kept.contains(&kept_journal), "{:?}", report.kept);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".salvage-"))
        .collect();
    assert!(leftovers.is_empty(), "no copy left behind: {leftovers:?}");
}
