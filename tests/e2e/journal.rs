//! The journal end to end: registers selling offline upload chains the server verifies
//! whatever order they arrive in; a sale deleted or edited on a device before upload, and
//! a device that lost its database, are named in the server's journal audit.

use std::path::Path;
use std::time::Duration;

use tillkit_core::journal::{BreakKind, JournalExport, RegisterReport, SegmentReason};
use tillkit_core::store::recovery;
use tillkit_core::sync::SyncEngine;
use tillkit_core::{Config, Till};
use tillkit_e2e::fixtures::*;

const DRAIN: Duration = Duration::from_secs(60);

fn server_journal(server: &Server, register: &str) -> RegisterReport {
    let audit = server.store().journal_audit(STORE).expect("journal audit");
    audit
        .registers
        .into_iter()
        .find(|r| r.register_id == register)
        .expect("the register has a journal on the server")
}

#[test]
fn journals_of_registers_selling_offline_verify_on_the_server_as_on_the_devices() {
    let server = Server::start();
    let mut devices: Vec<Device> = ["R1", "R2"]
        .iter()
        .map(|r| {
            Device::online(
                STORE,
                r,
                sync_config(&server.url(), &server.token(STORE, r)),
            )
        })
        .collect();
    for dev in &mut devices {
        dev.ring_many(3);
        dev.wait_drained(DRAIN);
        dev.set_network(false);
        dev.ring_many(25);
    }
    for dev in &devices {
        dev.set_network(true);
    }
    for dev in &devices {
        dev.wait_drained(DRAIN);
    }
    let audit = server.store().journal_audit(STORE).expect("journal audit");
    assert!(audit.intact, "{audit:?}");
    for dev in &devices {
        let register = &dev.till.session().expect("session").register_id;
        let on_server = server_journal(&server, register);
        assert_eq!(on_server.records, 28);
        assert_eq!(on_server.segments.len(), 1);
        let export =
            JournalExport::parse(&dev.till.export_journal().expect("export")).expect("parses");
        let on_device = tillkit_core::journal::verify_export(&export).expect("verifies");
        assert!(on_device.intact, "{on_device:?}");
        assert_eq!(
            on_device.head, on_server.head,
            "both ends agree on the head"
        );
        assert_eq!(export.header.head, on_server.head);
    }
}

#[test]
fn a_sale_deleted_on_the_device_before_upload_is_a_gap_in_the_servers_journal() {
    let server = Server::start();
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    dev.set_network(false);
    dev.ring_many(6);
    let deleted = dev.sales[2].sale_id.to_string();
    tillkit_core::testing::tamper(&dev.till, |c| {
        c.execute_batch("PRAGMA foreign_keys = OFF")?;
        let id = "(SELECT id FROM sales WHERE sale_id = ?1)";
        c.execute(
            &format!("DELETE FROM outbox WHERE sale_ref = {id}"),
            [&deleted],
        )?;
        c.execute(
            &format!("DELETE FROM stock_movements WHERE sale_ref = {id}"),
            [&deleted],
        )?;
        c.execute("DELETE FROM sales WHERE sale_id = ?1", [&deleted])?;
        Ok(())
    })
    .expect("delete");
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    let j = server_journal(&server, "R1");
    assert!(!j.intact);
    assert_eq!(
        j.gaps.iter().map(|g| (g.first, g.last)).collect::<Vec<_>>(),
        [(3, 3)],
        "the deleted sale's number: {j:?}"
    );
}

#[test]
fn a_sale_edited_on_the_device_before_upload_is_named_in_the_servers_journal() {
    let server = Server::start();
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    dev.set_network(false);
    dev.ring_many(5);
    let edited = dev.sales[1].clone();
    tillkit_core::testing::tamper(&dev.till, |c| {
        let n = c.execute(
            "UPDATE sales SET record = replace(record, '\"staff_id\":\"alice\"', '\"staff_id\":\"mallory\"')
             WHERE sale_id = ?1",
            [edited.sale_id.to_string()],
        )?;
        assert_eq!(n, 1);
        Ok(())
    })
    .expect("edit");
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    let j = server_journal(&server, "R1");
    assert_eq!(j.breaks.len(), 1, "{j:?}");
    let b = &j.breaks[0];
    assert_eq!((b.kind, b.record.seq), (BreakKind::LinkMismatch, 3));
    assert_eq!(
        b.predecessor.as_ref().map(|p| p.record_id.clone()),
        Some(edited.sale_id.to_string()),
        "the edited sale is named"
    );
}

fn open(dir: &Path, vault: &FileVault) -> Till {
    Till::open_with_vault(Config::new(dir), vault).expect("opens")
}

#[test]
fn a_register_that_lost_its_database_shows_as_a_journal_restart_on_the_server() {
    let server = Server::start();
    let token = server.token(STORE, "R1");
    let data = device_dir();
    let vault = FileVault(data.path().join("key"));
    let dir = data.path().join("till");
    {
        let till = std::sync::Arc::new(open(&dir, &vault));
        till.login(STORE, "R1", "alice").expect("login");
        let engine =
            SyncEngine::start(till.clone(), sync_config(&server.url(), &token)).expect("engine");
        wait_until(Duration::from_secs(20), "the catalogue", || {
            till.catalog_cursor(STORE).expect("cursor").is_some()
        });
        for i in 0..10 {
            ring(&till, &[("p-bread", "1")], i % 2 == 0);
        }
        assert!(engine.wait_until_drained(DRAIN));
    }
    std::fs::remove_file(dir.join("tillkit.db")).expect("the file is lost");
    assert!(Till::open_with_vault(Config::new(&dir), &vault).is_err());
    recovery::recover(&Config::new(&dir), &vault).expect("recovers nothing, says so");
    let till = std::sync::Arc::new(open(&dir, &vault));
    till.login(STORE, "R1", "alice").expect("login");
    let engine =
        SyncEngine::start(till.clone(), sync_config(&server.url(), &token)).expect("engine");
    wait_until(
        Duration::from_secs(20),
        "the floor and the catalogue",
        || {
            !till.needs_seq_floor().expect("flag")
                && till.catalog_cursor(STORE).expect("cursor").is_some()
        },
    );
    // The keychain's receipt book (the vault's, shared like the OS keychain) had reserved a
    // block ahead of the 10 sales: any of those numbers may have been issued, so the
    // register continues after the reservation, not after the server's 10.
    let reserved = vault.reserved(STORE, "R1");
    assert!(reserved >= 10, "{reserved}");
    let next = ring(&till, &[("p-bread", "1")], false);
    assert_eq!(next.seq, reserved + 1);
    assert!(engine.wait_until_drained(DRAIN));

    let j = server_journal(&server, "R1");
    assert_eq!(j.segments.len(), 2, "{j:?}");
    let restart = &j.segments[1];
    assert_eq!(restart.start.seq, reserved + 1);
    assert_eq!(restart.reason, SegmentReason::Recovered);
    assert!(
        restart.restart,
        "the auditor sees the journal started again"
    );
    assert!(j.gaps.is_empty() && j.breaks.is_empty() && j.forks.is_empty());
}

#[test]
fn a_recorded_receipt_number_skip_is_a_skip_on_the_server_as_on_the_device() {
    let server = Server::start();
    let mut dev = Device::online(
        STORE,
        "R1",
        sync_config(&server.url(), &server.token(STORE, "R1")),
    );
    dev.ring_many(3);
    dev.wait_drained(DRAIN);
    // As after a recovery or a fresh start: the register goes on after a higher number
    // (here the server's), and its next record says which numbers it skipped.
    dev.till
        .raise_seq_floor(STORE, "R1", 10)
        .expect("the floor is raised");
    dev.set_network(false);
    dev.ring_many(2);
    dev.set_network(true);
    dev.wait_drained(DRAIN);
    let on_server = server_journal(&server, "R1");
    let export = JournalExport::parse(&dev.till.export_journal().expect("export")).expect("parses");
    let on_device = tillkit_core::journal::verify_export(&export).expect("verifies");
    let numbers: Vec<u64> = export
        .records
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(numbers, [1, 2, 3, 11, 12]);
    for (side, j) in [("server", &on_server), ("device", &on_device)] {
        assert!(j.intact, "{side}: {j:?}");
        assert_eq!(
            j.skips
                .iter()
                .map(|g| (g.first, g.last))
                .collect::<Vec<_>>(),
            [(4, 10)],
            "{side}: {j:?}"
        );
        assert!(j.gaps.is_empty() && j.breaks.is_empty(), "{side}: {j:?}");
    }
    assert_eq!(
        (
            &on_server.gaps,
            &on_server.skips,
            &on_server.breaks,
            &on_server.head
        ),
        (
            &on_device.gaps,
            &on_device.skips,
            &on_device.breaks,
            &on_device.head
        ),
        "both ends judge the same records alike"
    );
}
