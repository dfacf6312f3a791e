//! App updates against the real server: every committed fixture database (made by an
//! earlier schema version's own code, or with SQLCipher 4's default settings) opens with
//! today's code, and every sale it held queued uploads exactly once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tillkit_core::sync::SyncEngine;
use tillkit_core::{Config, Till};
use tillkit_e2e::fixtures::*;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures")
}

#[test]
fn queued_sales_of_every_old_file_upload_once_after_the_update() {
    let server = Server::start();
    let token = server.token(STORE, "R1");
    let mut uploaded = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("tillkit.db").exists())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for fixture in names {
        let data = device_dir();
        for file in ["tillkit.db", "tillkit.keyid", "key.txt"] {
            std::fs::copy(fixture.join(file), data.path().join(file)).expect("copy");
        }
        let vault = FileVault(data.path().join("key.txt"));
        let till = Arc::new(
            Till::open_with_vault(Config::new(data.path()), &vault).expect("old file opens"),
        );
        till.login(STORE, "R1", "alice").expect("login");
        let queued = pending_ids(&till, STORE);
        assert_eq!(queued.len(), 12, "{fixture:?}");
        let records: Vec<_> = queued
            .iter()
            .map(|id| till.load_sale(id).expect("load").expect("sale").0)
            .collect();
        let engine =
            SyncEngine::start(till.clone(), sync_config(&server.url(), &token)).expect("engine");
        assert!(
            engine.wait_until_drained(Duration::from_secs(60)),
            "{fixture:?}: {:?}",
            engine.status()
        );
        uploaded.extend(records);
        server.assert_holds_exactly(STORE, &uploaded);
    }
}
