//! A register whose store was damaged or lost, end to end against the real server: after
//! recovery every salvaged unsent sale uploads once, and receipt numbers continue after the
//! highest the register salvaged or the server holds, never from 000001 again.

use std::path::Path;
use std::time::Duration;

use tillkit_core::store::recovery;
use tillkit_core::sync::SyncEngine;
use tillkit_core::{Config, Error, Till};
use tillkit_e2e::fixtures::*;

const DRAIN: Duration = Duration::from_secs(60);
const REGISTER: &str = "R1";

fn open(dir: &Path, vault: &FileVault) -> tillkit_core::Result<Till> {
    Till::open_with_vault(Config::new(dir), vault)
}

fn online(till: &std::sync::Arc<Till>, server: &Server, token: &str) -> SyncEngine {
    let engine =
        SyncEngine::start(till.clone(), sync_config(&server.url(), token)).expect("engine");
    // The catalogue is pulled beside the uploads: wait for both.
    wait_until(
        Duration::from_secs(20),
        "the first round and the catalogue",
        || {
            let s = engine.status();
            s.last_success_at.is_some()
                && !s.syncing
                && till.catalog_cursor(STORE).expect("cursor").is_some()
        },
    );
    engine
}

fn sell(till: &Till, n: usize) -> Vec<tillkit_core::sale::SaleRecord> {
    (0..n)
        .map(|i| ring(till, &[("p-bread", "1"), ("p-seat", "1")], i % 2 == 0))
        .collect()
}

/// Rings `synced` sales online (uploaded), then `offline` more that stay queued; closes.
fn register_with_history(
    server: &Server,
    token: &str,
    dir: &Path,
    vault: &FileVault,
    synced: usize,
    offline: usize,
) -> Vec<tillkit_core::sale::SaleRecord> {
    let till = std::sync::Arc::new(open(dir, vault).expect("opens"));
    till.login(STORE, REGISTER, "alice").expect("login");
    let engine = online(&till, server, token);
    let mut sales = sell(&till, synced);
    assert!(engine.wait_until_drained(DRAIN));
    engine.set_network_available(false);
    sales.extend(sell(&till, offline));
    drop(engine);
    tillkit_core::testing::tamper(&till, |c| {
        Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
    })
    .expect("checkpoint");
    sales
}

fn refused(dir: &Path, vault: &FileVault) {
    for _ in 0..2 {
        let err = open(dir, vault).err().expect("refused");
        assert!(matches!(err, Error::NeedsRecovery { .. }), "{err:?}");
    }
}

#[test]
fn salvaged_unsent_sales_upload_once_and_receipts_continue_after_the_highest_issued() {
    let server = Server::start();
    let token = server.token(STORE, REGISTER);
    let data = device_dir();
    let vault = FileVault(data.path().join("key"));
    let dir = data.path().join("till");
    let sales = register_with_history(&server, &token, &dir, &vault, 20, 40);
    // Damage one leaf of the sales table among the offline sales.
    let leaf: i64 = {
        let till = open(&dir, &vault).expect("opens");
        tillkit_core::testing::inspect(&till, |c| {
            Ok(c.query_row(
                "SELECT max(pageno) FROM dbstat WHERE name = 'sales' AND pagetype = 'leaf'",
                [],
                |r| r.get(0),
            )?)
        })
        .expect("dbstat")
    };
    let path = dir.join("tillkit.db");
    let mut bytes = std::fs::read(&path).expect("read");
    let at = (leaf as usize - 1) * 4096 + 300;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).expect("damage");
    refused(&dir, &vault);

    let report = recovery::recover(&Config::new(&dir), &vault).expect("recovers");
    assert!(
        report.sales_unreadable > 0 && report.sales_recovered > 20,
        "{report:?}"
    );
    let till = std::sync::Arc::new(open(&dir, &vault).expect("opens after recovery"));
    till.login(STORE, REGISTER, "alice").expect("login");
    let engine = online(&till, &server, &token);
    assert!(engine.wait_until_drained(DRAIN), "{:?}", engine.status());
    assert!(
        !till.needs_seq_floor().expect("flag"),
        "the server was asked"
    );

    // The server holds the 20 synced sales and every salvaged offline one, once each.
    let recovered: Vec<_> = sales
        .iter()
        .filter(|s| {
            till.load_sale(&s.sale_id.to_string())
                .expect("load")
                .is_some()
        })
        .cloned()
        .collect();
    assert_eq!(recovered.len() as u64, report.sales_recovered);
    server.assert_holds_exactly(STORE, &recovered);
    // After every number the register may have issued: the salvaged counter (60) or the
    // block its receipt book reserved ahead, whichever is higher (the server's is 20).
    let reserved = vault.reserved(STORE, REGISTER);
    assert!(reserved >= 60, "{reserved}");
    let next = sell(&till, 1).remove(0);
    assert_eq!(
        next.seq,
        reserved + 1,
        "after the highest number ever issued"
    );
    assert!(
        vault.reserved(STORE, REGISTER) >= next.seq,
        "reserved before use"
    );
}

#[test]
fn a_lost_file_continues_after_the_servers_highest_receipt_number() {
    let server = Server::start();
    let token = server.token(STORE, REGISTER);
    let data = device_dir();
    let vault = FileVault(data.path().join("key"));
    let dir = data.path().join("till");
    register_with_history(&server, &token, &dir, &vault, 25, 0);
    std::fs::remove_file(dir.join("tillkit.db")).expect("file lost");
    refused(&dir, &vault);
    let report = recovery::recover(&Config::new(&dir), &vault).expect("recovers");
    assert_eq!(report.sales_recovered, 0);

    let till = std::sync::Arc::new(open(&dir, &vault).expect("opens"));
    till.login(STORE, REGISTER, "alice").expect("login");
    // With the file went the catalogue: the register cannot sell before it reaches the
    // server, and the round that pulls the catalogue asks for the floor first.
    let engine = online(&till, &server, &token);
    wait_until(
        Duration::from_secs(20),
        "the floor and the catalogue",
        || {
            !till.needs_seq_floor().expect("flag")
                && till.catalog_cursor(STORE).expect("cursor").is_some()
        },
    );
    let next = sell(&till, 1).remove(0);
    // The receipt book had reserved 1 to 100 before the file went: any of them may have
    // been issued offline, so the register continues after them and after the server's 25.
    assert_eq!(
        next.seq, 101,
        "continues after the book's reservation and the server's highest, never 000001"
    );
    assert!(engine.wait_until_drained(DRAIN));
}
