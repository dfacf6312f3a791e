//! Files from other builds: released migrations never change, none deletes, drops, renames
//! or rewrites sales, the queue or stock movements; real old files (committed fixtures made
//! by their own build, see fixtures/generate.sh) open with today's code keeping every queued
//! sale; a file with other SQLCipher settings is converted, never taken for damage; a file
//! from a newer app is refused and left byte for byte as it was.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tillkit_core::journal::SegmentReason;
use tillkit_core::store::cipher;
use tillkit_core::store::key::{DbKey, KeyVault, MemoryVault};
use tillkit_core::store::schema;
use tillkit_core::{Config, Error, Till};
use zeroize::Zeroizing;

/// FNV-1a (64-bit) of every released migration, in order. A released migration is never
/// edited: a new schema change is a new migration, whose checksum is added here when it
/// lands on main.
const RELEASED: &[(u32, u64)] = &[
    (1, 0xe1a5_7f5f_f012_7e0f),
    (2, 0xee62_1217_f5e2_fadd),
    (3, 0x640a_c4dd_c1ae_3d02),
    (4, 0x9653_938b_1584_56ab),
    (5, 0xb526_298b_bd9a_78ed),
];

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn released_migrations_are_never_changed() {
    for (number, sum) in RELEASED {
        let (_, sql) = schema::MIGRATIONS
            .iter()
            .find(|(n, _)| n == number)
            .unwrap_or_else(|| panic!("released migration {number} is gone"));
        assert_eq!(
            fnv1a(sql.as_bytes()),
            *sum,
            "released migration {number} was edited: add a new migration instead"
        );
    }
    let unreleased = schema::MIGRATIONS.len() - RELEASED.len();
    assert!(
        unreleased <= 1,
        "record the checksum of each migration once it is released"
    );
}

// ------------------------------------------------------------------ the no-delete check

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A keyword or identifier, lowercased (SQLite names are case-insensitive, quoted or not).
    Name(String),
    Punct(char),
    /// A string literal or number: never a name.
    Literal,
}

/// SQLite's lexical rules, as far as names go: `-- ...` and `/* ... */` comments, 'strings',
/// "double", `backtick` and [bracket] quoted names.
fn tokens(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let until = |i: &mut usize, close: char| {
        let start = *i;
        while *i < chars.len() {
            if chars[*i] == close {
                // A doubled closing quote is the quote itself.
                if close != ']' && chars.get(*i + 1) == Some(&close) {
                    *i += 2;
                    continue;
                }
                break;
            }
            *i += 1;
        }
        let text: String = chars[start..(*i).min(chars.len())].iter().collect();
        *i += 1;
        text
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            i += 1;
            until(&mut i, '\'');
            out.push(Tok::Literal);
        } else if c == '"' || c == '`' || c == '[' {
            let close = if c == '[' { ']' } else { c };
            i += 1;
            out.push(Tok::Name(until(&mut i, close).to_lowercase()));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                out.push(Tok::Literal);
            } else {
                out.push(Tok::Name(word.to_lowercase()));
            }
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// Tables whose rows are sales or describe them: never deleted, dropped, renamed or
/// rewritten by a migration.
const PROTECTED: &[&str] = &["sales", "outbox", "stock_movements"];

/// Every statement of `sql` that deletes, drops, renames or rewrites a protected table.
fn forbidden(sql: &str) -> Vec<String> {
    let t = tokens(sql);
    let name = |i: usize| -> Option<(String, usize)> {
        // `schema.table` or `table`; returns the table and the index after it.
        match (t.get(i), t.get(i + 1), t.get(i + 2)) {
            (Some(Tok::Name(_)), Some(Tok::Punct('.')), Some(Tok::Name(table))) => {
                Some((table.clone(), i + 3))
            }
            (Some(Tok::Name(table)), _, _) => Some((table.clone(), i + 1)),
            _ => None,
        }
    };
    let word = |i: usize, w: &str| matches!(t.get(i), Some(Tok::Name(n)) if n == w);
    let mut found = Vec::new();
    for i in 0..t.len() {
        let hit = if word(i, "delete") && word(i + 1, "from") {
            name(i + 2).map(|(n, _)| (n, "DELETE FROM"))
        } else if word(i, "drop") && word(i + 1, "table") {
            let at = if word(i + 2, "if") && word(i + 3, "exists") {
                i + 4
            } else {
                i + 2
            };
            name(at).map(|(n, _)| (n, "DROP TABLE"))
        } else if word(i, "alter") && word(i + 1, "table") {
            name(i + 2)
                .filter(|(_, after)| word(*after, "rename") || word(*after, "drop"))
                .map(|(n, _)| (n, "ALTER TABLE .. RENAME/DROP"))
        } else if word(i, "update") {
            let at = if word(i + 1, "or") { i + 3 } else { i + 1 };
            name(at).map(|(n, _)| (n, "UPDATE"))
        } else if word(i, "replace") && word(i + 1, "into") {
            // REPLACE (and INSERT OR REPLACE) deletes the row it replaces.
            name(i + 2).map(|(n, _)| (n, "REPLACE INTO"))
        } else {
            None
        };
        if let Some((table, what)) = hit.filter(|(n, _)| PROTECTED.contains(&n.as_str())) {
            found.push(format!("{what} {table}"));
        }
    }
    found
}

#[test]
fn no_migration_deletes_drops_renames_or_rewrites_sales_queue_or_movements() {
    for (n, sql) in schema::MIGRATIONS {
        assert_eq!(forbidden(sql), Vec::<String>::new(), "migration {n}");
    }
}

#[test]
fn the_no_delete_check_sees_every_spelling_and_ignores_comments_and_strings() {
    for bad in [
        "DELETE FROM sales;",
        "dElEtE\n  fRoM \"SALES\" WHERE 1",
        "delete from main.[outbox]",
        "DELETE FROM `Stock_Movements`",
        "WITH x AS (SELECT 1) DELETE FROM \"main\".\"outbox\"",
        "drop table if exists outbox",
        "DROP TABLE main.sales",
        "ALTER TABLE sales RENAME TO sales_old",
        "alter table \"outbox\" rename column state to s",
        "ALTER TABLE stock_movements DROP COLUMN delta_milli",
        "UPDATE sales SET record = '{}'",
        "update or replace [outbox] set state = 'pending'",
        "REPLACE INTO sales (id) VALUES (1)",
        "INSERT OR REPLACE INTO outbox (sale_ref) VALUES (1)",
        "CREATE TRIGGER t AFTER INSERT ON products BEGIN DELETE FROM sales; END;",
    ] {
        assert_eq!(forbidden(bad).len(), 1, "not caught: {bad}");
    }
    for fine in [
        "-- DELETE FROM sales\nCREATE TABLE x (a)",
        "/* DROP TABLE outbox */ SELECT 1",
        "INSERT INTO meta VALUES ('note', 'DELETE FROM sales')",
        "ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER",
        "DELETE FROM sales_archive_view",
        "UPDATE products SET stock_milli = 0",
        "DROP TABLE sync_latency",
        "INSERT INTO sales SELECT * FROM x",
    ] {
        assert_eq!(
            forbidden(fine),
            Vec::<String>::new(),
            "flagged wrongly: {fine}"
        );
    }
}

// ------------------------------------------------------------------ real old files

/// A committed fixture copied into a temp dir, with the vault holding its test key.
struct Fixture {
    dir: tempfile::TempDir,
    vault: MemoryVault,
    queued: Vec<String>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Fixture {
    let from = fixtures_dir().join(name);
    let dir = tempfile::tempdir().unwrap();
    for file in ["tillkit.db", "tillkit.keyid"] {
        std::fs::copy(from.join(file), dir.path().join(file)).unwrap();
    }
    let vault = MemoryVault::default();
    let key = std::fs::read(from.join("key.txt")).unwrap();
    vault
        .save(&DbKey::decode(&Zeroizing::new(key)).unwrap())
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from.join("sales.json")).unwrap()).unwrap();
    let queued = manifest["queued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sale_id"].as_str().unwrap().to_string())
        .collect();
    Fixture { dir, vault, queued }
}

/// The fixture databases committed beside this test: one per earlier schema version and
/// one written with SQLCipher 4's default settings.
fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("tillkit.db").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn there_is_a_fixture_for_every_earlier_schema_version() {
    let names = fixture_names();
    for version in 1..schema::latest_version() {
        assert!(
            names.contains(&format!("v{version}")),
            "no fixture made by schema {version}'s code (run core/tests/fixtures/generate.sh)"
        );
    }
}

#[test]
fn every_old_file_opens_with_todays_code_keeping_every_queued_sale() {
    for name in fixture_names() {
        let f = fixture(&name);
        let till = Till::open_with_vault(Config::new(f.dir.path()), &f.vault)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        till.login("uk-01", "R1", "alice").unwrap();
        let pending: Vec<String> = till
            .pending_sales(10_000)
            .unwrap()
            .into_iter()
            .map(|s| s.sale_id)
            .collect();
        assert_eq!(pending, f.queued, "{name}: every queued sale, in order");
        for id in &f.queued {
            let (record, settings) = till.load_sale(id).unwrap().unwrap();
            assert!(
                record.totals_match(&record.recompute(&settings).unwrap()),
                "{name}: sale {id} intact"
            );
        }
        tillkit_core::testing::inspect(&till, |c| {
            assert_eq!(schema::version(c)?, schema::latest_version(), "{name}");
            let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            assert_eq!(ok, "ok", "{name}");
            Ok(())
        })
        .unwrap();
        // Selling goes on after the highest number the old build issued.
        let mut cart = till.new_cart().unwrap();
        till.add_product(&mut cart, "p-bread", d("1")).unwrap();
        let total = cart.totals().unwrap().total;
        let sale = till
            .complete_sale(
                &cart,
                &[tillkit_core::sale::Payment {
                    method: tillkit_core::sale::PaymentMethod::Cash,
                    amount: total,
                    reference: None,
                }],
            )
            .unwrap();
        assert_eq!(sale.record.seq, f.queued.len() as u64 + 1, "{name}");
        let link = sale.record.journal.as_ref().unwrap();
        let chained_before = till
            .load_sale(&f.queued[0])
            .unwrap()
            .is_some_and(|(r, _)| r.journal.is_some());
        if chained_before {
            // Made after the journal existed: the chain goes on with no new segment.
            assert!(link.segment.is_none(), "{name}: {link:?}");
            let journal = till.verify_journal().unwrap();
            assert!(journal.intact, "{name}: {journal:?}");
            assert!(journal.unchained.is_empty(), "{name}");
            continue;
        }
        // The journal starts here, naming the newest record made before it.
        let segment = link.segment.as_ref().unwrap();
        assert_eq!(segment.reason, SegmentReason::JournalStarted, "{name}");
        let after = segment.after.as_ref().unwrap();
        assert_eq!(after.seq, f.queued.len() as u64, "{name}");
        let journal = till.verify_journal().unwrap();
        assert!(journal.intact, "{name}: {journal:?}");
        assert_eq!(journal.segments[0].after_verified, Some(true), "{name}");
        assert_eq!(journal.unchained.len(), 1, "{name}");
        assert_eq!(journal.unchained[0].last, f.queued.len() as u64, "{name}");
    }
}

#[test]
fn a_file_with_sqlcipher4_default_settings_is_converted_never_taken_for_damage() {
    let f = fixture("sqlcipher4-defaults");
    let path = f.dir.path().join("tillkit.db");
    let key = f.vault.load().unwrap().unwrap();
    assert!(
        cipher::detect(&path, &key) == Some(cipher::SQLCIPHER4_DEFAULTS),
        "the fixture is written with SQLCipher 4's defaults"
    );
    let till = Till::open_with_vault(Config::new(f.dir.path()), &f.vault).unwrap();
    till.login("uk-01", "R1", "alice").unwrap();
    assert_eq!(
        till.queue_counts().unwrap().pending as usize,
        f.queued.len()
    );
    let recorded: String = tillkit_core::testing::inspect(&till, |c| {
        Ok(c.query_row(
            "SELECT value FROM meta WHERE key = 'cipher_settings'",
            [],
            |r| r.get(0),
        )?)
    })
    .unwrap();
    assert_eq!(
        recorded,
        cipher::PINNED.describe(),
        "the settings are recorded"
    );
    drop(till);
    assert!(
        cipher::detect(&path, &key).is_none(),
        "the file is now in the pinned settings"
    );
    assert!(
        !f.dir.path().join("tillkit.recovery").exists(),
        "never taken for damage"
    );
    let names: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("damaged") || n.contains("convert")),
        "{names:?}"
    );
}

#[test]
fn a_file_from_a_newer_app_answers_newer_schema_and_is_byte_for_byte_unchanged() {
    let t = uk_till();
    tillkit_core::testing::tamper(&t.till, |c| {
        c.pragma_update(None, "user_version", 999)?;
        Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
    })
    .unwrap();
    drop(t.till);
    let dir = t.dir.path();
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_string_lossy().ends_with("-shm"))
            .map(|e| {
                let bytes = std::fs::read(e.path()).unwrap();
                (e.file_name().to_string_lossy().into_owned(), bytes)
            })
            // An empty WAL holds nothing; SQLite may leave one behind after a read.
            .filter(|(n, b)| !(n.ends_with("-wal") && b.is_empty()))
            .collect();
        files.sort();
        files
    };
    let before = snapshot(dir);
    for _ in 0..2 {
        let err = Till::open_with_vault(Config::new(dir), &t.vault)
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::NewerSchema { found: 999, supported } if supported == schema::latest_version()),
            "{err:?}"
        );
    }
    assert_eq!(snapshot(dir), before, "every file byte for byte as it was");
}
