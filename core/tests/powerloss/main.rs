//! Power loss, tested the way SQLite tests it: a VFS under SQLCipher (vfs.rs) records every
//! write and sync and, at a seeded random operation, cuts the power; the files are put
//! back to what a disk would hold (a random subset of the unsynced writes, the last page
//! possibly torn) and the store is reopened from that. Across sale capture, a catalogue
//! import, a migration of a real schema-1 file, the conversion of a file written with
//! SQLCipher 4's defaults (and its migration), a key rotation and a recovery salvaging a
//! truncated file: every sale whose `complete_sale` returned (or that the salvage holds) is
//! there and intact, no sale is partial, `integrity_check` is ok and the queue holds
//! exactly the unsent sales.
//!
//! `TILLKIT_POWER_CUTS=1000` runs the long series (default 100); `TILLKIT_POWER_SEED=<n>`
//! reruns one seed, as printed by a failure.

#[path = "../common/mod.rs"]
mod common;
mod vfs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use tillkit_core::catalog::CatalogPayload;
use tillkit_core::sale::{Payment, PaymentMethod, SaleRecord};
use tillkit_core::store::key::{DbKey, KeyVault, MemoryVault};
use tillkit_core::store::{cipher, recovery, schema};
use tillkit_core::{Config, Error, Till};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    SaleCapture,
    CatalogueImport,
    Migration,
    KeyRotation,
    /// Opening a file written with SQLCipher 4's defaults: converted, then migrated.
    Conversion,
    /// Salvaging a truncated file into a fresh store, then selling.
    Recovery,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario::SaleCapture,
    Scenario::CatalogueImport,
    Scenario::Migration,
    Scenario::KeyRotation,
    Scenario::Conversion,
    Scenario::Recovery,
];

/// A data directory to copy for each run, with its key and the sales it already holds.
struct Template {
    dir: PathBuf,
    key: Zeroizing<String>,
    register: &'static str,
    sales: Vec<SaleRecord>,
}

fn scratch() -> tempfile::TempDir {
    // In memory where possible: a thousand runs of fsyncs cost nothing there, and the
    // disk model is the VFS's, not the machine's.
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("tillkit-power-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn vault_with(key: &str) -> MemoryVault {
    let vault = MemoryVault::default();
    vault
        .save(&DbKey::decode(&Zeroizing::new(key.as_bytes().to_vec())).unwrap())
        .unwrap();
    vault
}

fn ring(till: &Till, i: usize) -> tillkit_core::Result<SaleRecord> {
    let mut cart = till.new_cart()?;
    till.add_product(&mut cart, "p-bread", d("1"))?;
    if i.is_multiple_of(2) {
        till.add_product(&mut cart, "p-seat", d("1"))?;
    }
    let total = cart.totals()?.total;
    Ok(till
        .complete_sale(
            &cart,
            &[Payment {
                method: PaymentMethod::Cash,
                amount: total,
                reference: None,
            }],
        )?
        .record)
}

/// The e2e catalogue's products (the v1 fixture sells them), under the UK tax settings.
fn catalogue(cursor: &str, extra: usize) -> CatalogPayload {
    let mut products = vec![
        serde_json::json!({"id": "p-seat", "sku": "CHS-002", "name": "Child Car Seat",
            "price": "89.00", "tax_category": "reduced", "stock_tracked": true, "stock": "10"}),
        serde_json::json!({"id": "p-bread", "sku": "BRD-003", "name": "Sourdough Loaf",
            "price": "3.20", "tax_category": "zero"}),
    ];
    for i in 0..extra {
        products.push(
            serde_json::json!({"id": format!("p-{i}"), "sku": format!("SKU-{i}"),
            "name": format!("Product number {i}"), "price": "1.00", "tax_category": "standard",
            "stock_tracked": true, "stock": "5"}),
        );
    }
    let mut payload = serde_json::to_value(uk_catalog()).unwrap();
    payload["cursor"] = cursor.into();
    payload["products"] = products.into();
    payload["discounts"] = serde_json::json!([]);
    serde_json::from_value(payload).unwrap()
}

/// A committed fixture (a real file made by earlier code) as a template.
fn fixture_template(name: &str) -> Template {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dir = scratch().keep();
    for f in ["tillkit.db", "tillkit.keyid"] {
        std::fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    let key = Zeroizing::new(std::fs::read_to_string(from.join("key.txt")).unwrap());
    let probe = scratch();
    copy_dir(&dir, probe.path());
    let till = Till::open_with_vault(Config::new(probe.path()), &vault_with(&key)).unwrap();
    let sales = all_sales(&till);
    Template {
        dir,
        key,
        register: "R1",
        sales,
    }
}

/// 120 sales, the file then cut to 75 % and refused once (so a recovery is pending and the
/// file kept aside); `sales` are what a recovery without a cut salvages from it.
fn damaged_template() -> Template {
    let dir = scratch().keep();
    let vault = MemoryVault::default();
    let till = Till::open_with_vault(Config::new(&dir), &vault).unwrap();
    till.import_catalog(&catalogue("1", 3)).unwrap();
    till.login("uk-01", "R07", "alice").unwrap();
    for i in 0..120 {
        ring(&till, i).unwrap();
    }
    tillkit_core::testing::tamper(&till, |c| {
        Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
    })
    .unwrap();
    drop(till);
    let db = dir.join("tillkit.db");
    let len = std::fs::metadata(&db).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(len * 3 / 4 / 4096 * 4096).unwrap();
    drop(file);
    let refused = Till::open_with_vault(Config::new(&dir), &vault).err();
    assert!(
        matches!(refused, Some(Error::NeedsRecovery { .. })),
        "{refused:?}"
    );
    let key = vault.load().unwrap().unwrap().encode();
    let probe = scratch();
    copy_dir(&dir, probe.path());
    let again = vault_with(&key);
    recovery::recover(&Config::new(probe.path()), &again).unwrap();
    let till = Till::open_with_vault(Config::new(probe.path()), &again).unwrap();
    let sales = all_sales(&till);
    assert!(
        !sales.is_empty() && sales.len() < 120,
        "{} salvaged",
        sales.len()
    );
    Template {
        dir,
        key,
        register: "R07",
        sales,
    }
}

fn template(scenario: Scenario) -> &'static Template {
    static PLAIN: OnceLock<Template> = OnceLock::new();
    static OLD: OnceLock<Template> = OnceLock::new();
    static OTHER_SETTINGS: OnceLock<Template> = OnceLock::new();
    static DAMAGED: OnceLock<Template> = OnceLock::new();
    match scenario {
        // A real schema-1 file, made by that version's code.
        Scenario::Migration => return OLD.get_or_init(|| fixture_template("v1")),
        Scenario::Conversion => {
            return OTHER_SETTINGS.get_or_init(|| fixture_template("sqlcipher4-defaults"));
        }
        Scenario::Recovery => return DAMAGED.get_or_init(damaged_template),
        _ => {}
    }
    PLAIN.get_or_init(|| {
        let dir = scratch().keep();
        let vault = MemoryVault::default();
        let till = Till::open_with_vault(Config::new(&dir), &vault).unwrap();
        till.import_catalog(&catalogue("1", 3)).unwrap();
        till.login("uk-01", "R07", "alice").unwrap();
        let sales = (0..3).map(|i| ring(&till, i).unwrap()).collect();
        drop(till);
        Template {
            dir,
            key: vault.load().unwrap().unwrap().encode(),
            register: "R07",
            sales,
        }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn all_sales(till: &Till) -> Vec<SaleRecord> {
    tillkit_core::testing::inspect(till, |c| {
        let mut stmt = c.prepare("SELECT record FROM sales ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    })
    .unwrap()
}

/// The work a cut can interrupt; returns the sales whose `complete_sale` returned. Stops
/// at the first error (the power is gone).
fn workload(
    scenario: Scenario,
    dir: &Path,
    vault: &MemoryVault,
    register: &str,
) -> Vec<SaleRecord> {
    let mut done = Vec::new();
    if scenario == Scenario::Recovery && recovery::recover(&Config::new(dir), vault).is_err() {
        return done;
    }
    let Ok(till) = Till::open_with_vault(Config::new(dir), vault) else {
        return done;
    };
    if till.login("uk-01", register, "alice").is_err() {
        return done;
    }
    let mut sell = |till: &Till, n: usize| -> bool {
        for i in 0..n {
            match ring(till, i) {
                Ok(sale) => done.push(sale),
                Err(_) => return false,
            }
        }
        true
    };
    // Whether the work got to its end does not matter: what returned is what must survive.
    let _finished = match scenario {
        Scenario::SaleCapture => (0..3).all(|_| {
            sell(&till, 4)
                && tillkit_core::testing::tamper(&till, |c| {
                    Ok(c.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")?)
                })
                .is_ok()
        }),
        Scenario::CatalogueImport => {
            sell(&till, 2) && till.import_catalog(&catalogue("2", 300)).is_ok() && sell(&till, 2)
        }
        // Opening converted and migrated it; the sales after it are rung on the new schema.
        Scenario::Migration | Scenario::Conversion => sell(&till, 3),
        Scenario::Recovery => sell(&till, 2),
        Scenario::KeyRotation => sell(&till, 2) && till.rotate_key(vault).is_ok() && sell(&till, 2),
    };
    done
}

/// What the reopened store must show after the cut.
fn verify(
    scenario: Scenario,
    dir: &Path,
    vault: &MemoryVault,
    t: &Template,
    confirmed: &[SaleRecord],
) -> Result<(), String> {
    let config = Config::new(dir);
    let till = match Till::open_with_vault(config.clone(), vault) {
        // The cut came before the recovery finished: it is still pending, and runs again.
        Err(Error::NeedsRecovery { .. }) if scenario == Scenario::Recovery => {
            recovery::recover(&config, vault).map_err(|e| format!("recovery again: {e:?}"))?;
            Till::open_with_vault(config, vault).map_err(|e| format!("reopen: {e:?}"))?
        }
        other => other.map_err(|e| format!("reopen: {e:?}"))?,
    };
    till.login("uk-01", t.register, "alice")
        .map_err(|e| e.to_string())?;
    let check = |sql: &str| -> Result<i64, String> {
        tillkit_core::testing::inspect(&till, |c| Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))?))
            .map_err(|e| format!("{sql}: {e}"))
    };
    let ok: String = tillkit_core::testing::inspect(&till, |c| {
        Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    })
    .map_err(|e| e.to_string())?;
    if ok != "ok" {
        return Err(format!("integrity_check: {ok}"));
    }
    let stored = all_sales(&till);
    let stored_ids: BTreeSet<String> = stored.iter().map(|s| s.sale_id.to_string()).collect();
    for sale in t.sales.iter().chain(confirmed) {
        let id = sale.sale_id.to_string();
        let Some((record, settings)) = till.load_sale(&id).map_err(|e| e.to_string())? else {
            return Err(format!("completed sale {} is gone", sale.receipt_no));
        };
        if record != *sale {
            return Err(format!("sale {} changed", sale.receipt_no));
        }
        let totals = record.recompute(&settings).map_err(|e| e.to_string())?;
        if !record.totals_match(&totals) {
            return Err(format!("sale {} totals do not recompute", sale.receipt_no));
        }
    }
    // At most the one sale in flight at the cut may be there without having returned.
    let known: BTreeSet<String> = t
        .sales
        .iter()
        .chain(confirmed)
        .map(|s| s.sale_id.to_string())
        .collect();
    if stored_ids.difference(&known).count() > 1 {
        return Err("sales that never completed appeared".into());
    }
    // Receipt numbers gapless (after a salvage: rising, never reused), every sale whole:
    // its queue row and one movement per tracked line.
    let seqs: Vec<u64> = stored.iter().map(|s| s.seq).collect();
    if scenario == Scenario::Recovery {
        if seqs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("receipt numbers reused or out of order: {seqs:?}"));
        }
    } else if seqs != (1..=stored.len() as u64).collect::<Vec<_>>() {
        return Err(format!("receipt numbers not gapless: {seqs:?}"));
    }
    let tracked: usize = stored
        .iter()
        .flat_map(|s| &s.lines)
        .filter(|l| l.stock_tracked)
        .count();
    // A salvage keeps the movements it could read; the truncation took some.
    if scenario != Scenario::Recovery
        && check("SELECT count(*) FROM stock_movements")? as usize != tracked
    {
        return Err("stock movements do not match the sales' tracked lines".into());
    }
    if check("SELECT count(*) FROM stock_movements WHERE sale_ref NOT IN (SELECT id FROM sales)")?
        != 0
    {
        return Err("a movement without its sale".into());
    }
    // Nothing was synced: the queue is exactly every sale.
    if check(
        "SELECT count(*) FROM sales s LEFT JOIN outbox o ON o.sale_ref = s.id
         WHERE (s.synced_at IS NULL) <> (o.sale_ref IS NOT NULL)",
    )? != 0
        || check("SELECT count(*) FROM outbox WHERE sale_ref NOT IN (SELECT id FROM sales)")? != 0
    {
        return Err("the queue is not exactly the unsent sales".into());
    }
    if till.queue_counts().map_err(|e| e.to_string())?.pending as usize != stored.len() {
        return Err("queue count differs from the sales".into());
    }
    match scenario {
        Scenario::CatalogueImport => {
            let cursor = till.catalog_cursor("uk-01").map_err(|e| e.to_string())?;
            let products = check("SELECT count(*) FROM products")?;
            let whole = matches!(
                (cursor.as_deref(), products),
                (Some("1"), 5) | (Some("2"), 302)
            );
            if !whole {
                return Err(format!(
                    "half a catalogue: cursor {cursor:?}, {products} products"
                ));
            }
        }
        Scenario::Migration | Scenario::Conversion => {
            let version = tillkit_core::testing::inspect(&till, schema::version)
                .map_err(|e| e.to_string())?;
            if version != schema::latest_version() {
                return Err(format!("schema {version} after reopening"));
            }
            let settings: String = tillkit_core::testing::inspect(&till, |c| {
                Ok(c.query_row(
                    "SELECT value FROM meta WHERE key = 'cipher_settings'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .map_err(|e| e.to_string())?;
            if settings != cipher::PINNED.describe() {
                return Err(format!("cipher settings {settings} after reopening"));
            }
        }
        Scenario::Recovery => {
            // The kept file is never written, whatever the cut interrupted.
            for entry in std::fs::read_dir(&t.dir).map_err(|e| e.to_string())? {
                let entry = entry.map_err(|e| e.to_string())?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.contains("damaged") {
                    let kept =
                        std::fs::read(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
                    if kept != std::fs::read(entry.path()).map_err(|e| e.to_string())? {
                        return Err(format!("the kept file {name} changed"));
                    }
                }
            }
        }
        Scenario::SaleCapture | Scenario::KeyRotation => {}
    }
    Ok(())
}

/// Operations each scenario's workload performs without a cut (measured once).
fn ops_of(scenario: Scenario) -> u64 {
    static OPS: OnceLock<Vec<u64>> = OnceLock::new();
    let all = OPS.get_or_init(|| {
        SCENARIOS
            .iter()
            .map(|s| {
                let t = template(*s);
                let run = scratch();
                copy_dir(&t.dir, run.path());
                vfs::arm(None);
                workload(*s, run.path(), &vault_with(&t.key), t.register);
                let n = vfs::ops();
                vfs::reboot(run.path());
                n
            })
            .collect()
    });
    all[SCENARIOS.iter().position(|s| *s == scenario).unwrap()]
}

/// One seeded power cut: the scenario, where the power goes and what the disk keeps all
/// come from the seed.
fn run_seed(seed: u64) -> Result<(Scenario, u64), String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let scenario = SCENARIOS[(seed % SCENARIOS.len() as u64) as usize];
    let t = template(scenario);
    let total = ops_of(scenario);
    let cut = vfs::Cut {
        at: 1 + rng.below(total),
        keep: match rng.below(4) {
            0 => vfs::Keep::Nothing,
            1 => vfs::Keep::Everything,
            _ => vfs::Keep::RandomSubset(rng.next()),
        },
        torn_sectors: (rng.below(2) == 0).then(|| rng.below(8) as usize),
    };
    let run = scratch();
    copy_dir(&t.dir, run.path());
    let vault = vault_with(&t.key);
    vfs::arm(Some(cut));
    let confirmed = workload(scenario, run.path(), &vault, t.register);
    let cut_happened = vfs::is_dead();
    vfs::reboot(run.path());
    verify(scenario, run.path(), &vault, t, &confirmed).map_err(|e| {
        format!("seed {seed} ({scenario:?}, {cut:?}, cut happened: {cut_happened}): {e}")
    })?;
    Ok((scenario, cut.at))
}

fn cuts() -> u64 {
    std::env::var("TILLKIT_POWER_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
}

/// The VFS's state is the process's: tests in this binary take turns.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The harness can fail: without `fsync`, committed rows do not survive its power cut;
/// with `synchronous = FULL` they do.
#[test]
fn the_power_cut_loses_what_was_never_synced_and_keeps_what_was() {
    let _turn = one_at_a_time();
    vfs::install();
    for (sync, survive) in [("OFF", false), ("FULL", true)] {
        let dir = scratch();
        let path = dir.path().join("plain.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE t (v INTEGER); PRAGMA wal_checkpoint(TRUNCATE);
             PRAGMA synchronous = {sync};"
        ))
        .unwrap();
        vfs::arm(None);
        for i in 0..5 {
            c.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        // The power goes at the very next write or sync.
        let next = vfs::ops() + 1;
        vfs::arm(Some(vfs::Cut {
            at: 1,
            keep: vfs::Keep::Nothing,
            torn_sectors: None,
        }));
        let _ = c.execute("INSERT INTO t VALUES (99)", []);
        assert!(vfs::is_dead() && next > 1);
        drop(c);
        vfs::reboot(dir.path());
        let c = rusqlite::Connection::open(&path).unwrap();
        let rows: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            rows == 5,
            survive,
            "synchronous={sync}: {rows} rows after the cut"
        );
    }
}

/// The disk model itself: unsynced writes land as a random subset (not only none, all or a
/// prefix), the same seed gives the same disk, and a torn last write keeps the old bytes
/// of its page past the sectors that landed.
#[test]
fn a_cut_keeps_a_random_subset_of_unsynced_writes_and_tears_the_last_page() {
    let durable = vec![0u8; 16 * 512];
    let pending: Vec<vfs::Op> = (0..16u8)
        .map(|i| vfs::Op::Write(u64::from(i) * 512, vec![i + 1; 512]))
        .collect();
    let landed = |keep, torn| -> Vec<bool> {
        let image = vfs::disk_after(&durable, &pending, keep, torn, 7);
        (0..16).map(|i| image[i * 512] != 0).collect()
    };
    assert_eq!(landed(vfs::Keep::Nothing, None), [false; 16]);
    assert_eq!(landed(vfs::Keep::Everything, None), [true; 16]);
    let mut patterns = BTreeSet::new();
    let mut not_a_prefix = 0;
    for seed in 1..=20 {
        let l = landed(vfs::Keep::RandomSubset(seed), None);
        assert_eq!(
            l,
            landed(vfs::Keep::RandomSubset(seed), None),
            "a seed replays"
        );
        not_a_prefix += usize::from(l.windows(2).any(|w| !w[0] && w[1]));
        patterns.insert(l);
    }
    assert!(
        not_a_prefix >= 15,
        "{not_a_prefix} of 20 subsets were not a prefix"
    );
    assert!(
        patterns.len() >= 15,
        "{} distinct subsets of 20",
        patterns.len()
    );
    // A 4 KiB page whose write was torn after 3 sectors: new bytes, then the old ones.
    let page = vec![0xaa; 4096];
    let torn = vfs::disk_after(
        &page,
        &[vfs::Op::Write(0, vec![0x55; 4096])],
        vfs::Keep::Nothing,
        Some(3),
        0,
    );
    assert!(torn[..1536].iter().all(|b| *b == 0x55));
    assert!(torn[1536..].iter().all(|b| *b == 0xaa));
}

#[test]
fn every_completed_sale_survives_a_power_cut_at_any_write_or_sync() {
    let _turn = one_at_a_time();
    vfs::install();
    let seeds: Vec<u64> = match std::env::var("TILLKIT_POWER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (1..=cuts()).collect(),
    };
    let mut failures = Vec::new();
    let mut points: BTreeSet<(u8, u64)> = BTreeSet::new();
    for seed in &seeds {
        match run_seed(*seed) {
            Ok((scenario, at)) => {
                points.insert((scenario as u8, at));
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cuts failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
    if seeds.len() > 1 {
        // The seeds spread the cut over every scenario's writes, not one spot.
        for s in SCENARIOS {
            assert!(ops_of(s) > 10, "{s:?} does I/O through the VFS");
        }
        // Distinct points: at least half of the seeds, or of all the points there are.
        let possible: u64 = SCENARIOS.iter().map(|s| ops_of(*s)).sum();
        let wanted = (seeds.len() as u64).min(possible) / 2;
        assert!(
            points.len() as u64 > wanted,
            "{} distinct cut points of {possible}",
            points.len()
        );
    }
    let ops: Vec<String> = SCENARIOS
        .iter()
        .map(|s| format!("{s:?} {}", ops_of(*s)))
        .collect();
    eprintln!(
        "{} power cuts at {} distinct points, every one recovered (operations per scenario: {}; {} sales salvaged from the truncated file)",
        seeds.len(),
        points.len(),
        ops.join(", "),
        template(Scenario::Recovery).sales.len()
    );
    // The templates live as long as the process; their directories need not.
    for s in SCENARIOS {
        let _ = std::fs::remove_dir_all(&template(s).dir);
    }
}
