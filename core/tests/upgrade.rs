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

/// FNV-1a (64-bit) of every released migration, in order: every migration on main is
/// released (apps in the field may have run it), so each one is listed here, with no grace
/// for a migration "not yet released". A released migration is never edited: a schema
/// change is a new migration, whose checksum is added here in the same commit.
const RELEASED: &[(u32, u64)] = &[
    (1, 0xe1a5_7f5f_f012_7e0f),
    (2, 0xee62_1217_f5e2_fadd),
    (3, 0x640a_c4dd_c1ae_3d02),
    (4, 0x9653_938b_1584_56ab),
    (5, 0xb526_298b_bd9a_78ed),
    (6, 0x9b58_0b1f_9649_43fe),
    (7, 0x0dae_98d1_aa56_0763),
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
}

#[test]
fn every_migration_is_listed_as_released_with_its_checksum() {
    let numbers: Vec<u32> = schema::MIGRATIONS.iter().map(|(n, _)| *n).collect();
    let released: Vec<u32> = RELEASED.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        released, numbers,
        "RELEASED must list every migration, in order (add the new one's checksum)"
    );
    assert_eq!(
        numbers,
        (1..=numbers.len() as u32).collect::<Vec<_>>(),
        "migrations are numbered 1, 2, 3, ... with no gap"
    );
    // A migration file left out of MIGRATIONS would be neither run nor checked.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(
        files,
        schema::MIGRATIONS.len(),
        "every file in {dir:?} is a migration"
    );
}

// ------------------------------------------------------------------ the no-delete check
//
// The migrations are tokenised with SQLite's lexical rules, split into statements (a
// trigger's body kept whole), and each statement is parsed far enough to know what it
// writes: its verb (after any WITH clause), its target (schema and name), its conflict
// resolution. The check fails closed: a statement of a shape it does not know, or one it
// cannot follow to its target, is refused like a forbidden one.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word: a keyword or a name, lowercased (SQLite folds ASCII case only).
    Word(String),
    /// A quoted name ("x", `x` or [x]), lowercased: a name, never a keyword.
    Quoted(String),
    /// A 'string': a value, but SQLite takes it for a name where a name is expected
    /// (`DELETE FROM 'sales'` deletes from sales), so it is one there.
    Str(String),
    Punct(char),
    /// A blob or a number: never a name.
    Literal,
}

impl Tok {
    fn is(&self, keyword: &str) -> bool {
        matches!(self, Tok::Word(w) if w == keyword)
    }

    fn name(&self) -> Option<&str> {
        match self {
            Tok::Word(n) | Tok::Quoted(n) | Tok::Str(n) => Some(n),
            _ => None,
        }
    }
}

/// SQLite's lexical rules as far as names and keywords go: `-- ...` and `/* ... */`
/// comments, 'strings' (with '' inside), x'blobs', numbers, "double", `backtick` and
/// [bracket] quoted names.
fn tokens(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // Reads up to the closing quote (a doubled one is the quote itself) and past it.
    let quoted = |i: &mut usize, close: char| {
        let start = *i;
        while *i < chars.len() {
            if chars[*i] == close {
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
        text.replace(&format!("{close}{close}"), &close.to_string())
            .to_ascii_lowercase()
    };
    // SQLite takes every character above ASCII as part of a name.
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii();
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, 'x' | 'X') && chars.get(i + 1) == Some(&'\'') {
            i += 2;
            quoted(&mut i, '\'');
            out.push(Tok::Literal);
        } else if c == '\'' {
            i += 1;
            out.push(Tok::Str(quoted(&mut i, '\'')));
        } else if c == '"' || c == '`' || c == '[' {
            let close = if c == '[' { ']' } else { c };
            i += 1;
            out.push(Tok::Quoted(quoted(&mut i, close)));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // 12, 1.5e3, .5, 0x1F: one literal.
            i += 1;
            while i < chars.len() && (word_char(chars[i]) || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Literal);
        } else if word_char(c) {
            let start = i;
            while i < chars.len() && word_char(chars[i]) {
                i += 1;
            }
            out.push(Tok::Word(
                chars[start..i]
                    .iter()
                    .collect::<String>()
                    .to_ascii_lowercase(),
            ));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// One statement; a trigger's body statements stay inside it.
#[derive(Debug)]
struct Stmt {
    toks: Vec<Tok>,
}

/// Splits tokens into statements at `;`, except inside a trigger's `BEGIN ... END` (where
/// `CASE ... END` may nest).
fn statements(toks: &[Tok]) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut current: Vec<Tok> = Vec::new();
    let mut in_body = false;
    let mut cases = 0u32;
    for t in toks {
        if !in_body && *t == Tok::Punct(';') {
            if !current.is_empty() {
                out.push(Stmt {
                    toks: std::mem::take(&mut current),
                });
            }
            continue;
        }
        current.push(t.clone());
        if is_trigger(&current) {
            if !in_body && t.is("begin") {
                in_body = true;
            } else if in_body && t.is("case") {
                cases += 1;
            } else if in_body && t.is("end") {
                if cases == 0 {
                    in_body = false;
                } else {
                    cases -= 1;
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(Stmt { toks: current });
    }
    out
}

/// `CREATE [TEMP|TEMPORARY] TRIGGER ...`
fn is_trigger(t: &[Tok]) -> bool {
    let at = if t.get(1).is_some_and(is_temp) { 2 } else { 1 };
    t.first().is_some_and(|w| w.is("create")) && t.get(at).is_some_and(|w| w.is("trigger"))
}

fn is_temp(t: &Tok) -> bool {
    t.is("temp") || t.is("temporary")
}

/// Tables whose rows are sales, the queue, stock movements, the receipt counters, the tax
/// settings sales point at, or the store's own bookkeeping (cipher settings, the pending
/// receipt-number checks, journal restarts): no migration deletes, drops, renames, updates,
/// replaces or upserts over their rows, nor shadows them.
const PROTECTED: &[&str] = &[
    "sales",
    "outbox",
    "stock_movements",
    "register_seq",
    "tax_settings",
    "meta",
];

/// SQLite's own tables (`sqlite_master`, `sqlite_schema`, `sqlite_sequence`, ...): writing
/// one rewrites the schema or the counters behind every table.
fn schema_table(name: &str) -> bool {
    name.starts_with("sqlite_")
}

/// The only pragmas a migration may run: none of them changes the file, its key, its
/// journal or the schema's bookkeeping (`rekey`, `schema_version`, `writable_schema`,
/// `journal_mode`, `user_version`, ... are refused, as is any pragma not named here).
const HARMLESS_PRAGMAS: &[&str] = &[
    "foreign_keys",
    "defer_foreign_keys",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// A verdict on one statement: `Err` says what is refused (forbidden, or not understood).
type Verdict = Result<(), String>;

/// A name and the schema it is in (`None`: unqualified).
struct Target {
    schema: Option<String>,
    name: String,
    /// The index after it.
    after: usize,
}

/// `[schema.]name` at `i`, or why there is none.
fn qualified(t: &[Tok], i: usize) -> Result<Target, String> {
    let first = t
        .get(i)
        .and_then(Tok::name)
        .ok_or_else(|| format!("no name where one is expected: {:?}", t.get(i)))?;
    if t.get(i + 1) != Some(&Tok::Punct('.')) {
        return Ok(Target {
            schema: None,
            name: first.to_string(),
            after: i + 1,
        });
    }
    let second = t
        .get(i + 2)
        .and_then(Tok::name)
        .ok_or_else(|| format!("no name after `{first}.`"))?;
    Ok(Target {
        schema: Some(first.to_string()),
        name: second.to_string(),
        after: i + 3,
    })
}

/// Indexes of the tokens outside every parenthesis.
fn top_level(t: &[Tok]) -> Vec<usize> {
    let mut depth = 0i32;
    let mut out = Vec::new();
    for (i, tok) in t.iter().enumerate() {
        match tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ if depth == 0 => out.push(i),
            _ => {}
        }
    }
    out
}

/// What is wrong with one statement, if anything.
fn check(stmt: &Stmt) -> Verdict {
    check_tokens(&stmt.toks, false)
}

fn check_tokens(t: &[Tok], in_trigger: bool) -> Verdict {
    // A name in the temp schema shadows the main one of that name (and a temp object lives
    // on the app's connection after the migration): a migration makes or names none.
    if let Some(w) = t.windows(2).find(|w| {
        w[0].name().is_some_and(|n| n == "temp" || n == "temporary") && w[1] == Tok::Punct('.')
    }) {
        return Err(format!("a name in the temp schema: {:?}", w[0]));
    }
    if is_trigger(t) {
        return check_trigger(t, in_trigger);
    }
    let top = top_level(t);
    // A WITH clause's tables are in parentheses: the verb is the first top-level one.
    let verb = if t.first().is_some_and(|w| w.is("with")) {
        *top.iter()
            .skip(1)
            .find(|&&i| {
                ["select", "insert", "replace", "update", "delete"]
                    .iter()
                    .any(|v| t[i].is(v))
            })
            .ok_or("WITH without a statement the check knows")?
    } else {
        0
    };
    let word = |i: usize, w: &str| t.get(i).is_some_and(|x| x.is(w));
    let guarded = |name: &str| PROTECTED.contains(&name) || schema_table(name);
    let first = t.get(verb).ok_or("an empty statement")?;
    match first {
        v if v.is("select") || v.is("values") => Ok(()),
        v if v.is("delete") => {
            if !word(verb + 1, "from") {
                return Err("DELETE without FROM".into());
            }
            let table = qualified(t, verb + 2)?;
            if in_trigger || guarded(&table.name) {
                return Err(format!("DELETE FROM {}", table.name));
            }
            Ok(())
        }
        v if v.is("update") => {
            let at = if word(verb + 1, "or") {
                verb + 3
            } else {
                verb + 1
            };
            let table = qualified(t, at)?;
            if guarded(&table.name) {
                return Err(format!("UPDATE {}", table.name));
            }
            Ok(())
        }
        v if v.is("insert") || v.is("replace") => {
            let mut replace = v.is("replace");
            let mut at = verb + 1;
            if word(at, "or") {
                replace |= word(at + 1, "replace");
                at += 2;
            }
            if !word(at, "into") {
                return Err("INSERT without INTO".into());
            }
            let table = qualified(t, at + 1)?.name;
            if schema_table(&table) {
                return Err(format!("INSERT INTO {table}"));
            }
            if !PROTECTED.contains(&table.as_str()) {
                return Ok(());
            }
            // REPLACE deletes the row it replaces; DO UPDATE rewrites it.
            let upsert = top
                .windows(2)
                .any(|w| t[w[0]].is("do") && t[w[1]].is("update"));
            if replace {
                Err(format!("REPLACE INTO {table}"))
            } else if upsert {
                Err(format!("INSERT INTO {table} .. ON CONFLICT DO UPDATE"))
            } else {
                Ok(())
            }
        }
        _ if in_trigger => Err(format!(
            "a trigger statement the check does not know: {t:?}"
        )),
        v if v.is("create") => check_create(t),
        v if v.is("drop") => {
            let kind = t.get(1).ok_or("DROP of nothing")?;
            if !["table", "view", "index", "trigger"]
                .iter()
                .any(|k| kind.is(k))
            {
                return Err(format!("DROP of a kind the check does not know: {kind:?}"));
            }
            let at = if word(2, "if") && word(3, "exists") {
                4
            } else {
                2
            };
            let target = qualified(t, at)?;
            if target.after != t.len() {
                return Err(format!("DROP with more after its name: {t:?}"));
            }
            if kind.is("table") && guarded(&target.name) {
                return Err(format!("DROP TABLE {}", target.name));
            }
            Ok(())
        }
        v if v.is("alter") => {
            if !word(1, "table") {
                return Err("ALTER of something not a table".into());
            }
            let table = qualified(t, 2)?;
            let at = table.after;
            if word(at, "add") {
                return Ok(());
            }
            if word(at, "rename") || word(at, "drop") {
                if guarded(&table.name) {
                    return Err(format!("ALTER TABLE {} RENAME/DROP", table.name));
                }
                // A table renamed to a protected name would stand in for it.
                if word(at + 1, "to") && guarded(&qualified(t, at + 2)?.name) {
                    return Err(format!(
                        "ALTER TABLE {} RENAME TO a protected name",
                        table.name
                    ));
                }
                return Ok(());
            }
            Err(format!(
                "ALTER TABLE {} of a form the check does not know",
                table.name
            ))
        }
        v if v.is("pragma") => {
            let pragma = qualified(t, 1)?;
            if pragma.schema.is_some() && pragma.schema.as_deref() != Some("main") {
                return Err(format!("PRAGMA on schema {:?}", pragma.schema));
            }
            if HARMLESS_PRAGMAS.contains(&pragma.name.as_str()) {
                Ok(())
            } else {
                Err(format!("PRAGMA {}", pragma.name))
            }
        }
        other => Err(format!("a statement the check does not know: {other:?} ..")),
    }
}

/// `CREATE [TEMP] [UNIQUE|VIRTUAL] TABLE|INDEX|VIEW ...` (triggers are checked on their own):
/// nothing temporary (it shadows the main object of its name), nothing in another schema.
fn check_create(t: &[Tok]) -> Verdict {
    let word = |i: usize, w: &str| t.get(i).is_some_and(|x| x.is(w));
    if t.get(1).is_some_and(is_temp) {
        return Err("CREATE TEMP: a temporary object shadows the main one of its name".into());
    }
    let mut at = 1;
    if word(at, "unique") || word(at, "virtual") {
        at += 1;
    }
    if !["table", "index", "view"].iter().any(|k| word(at, k)) {
        return Err(format!(
            "CREATE of a kind the check does not know: {:?}",
            t.get(at)
        ));
    }
    at += 1;
    if word(at, "if") && word(at + 1, "not") && word(at + 2, "exists") {
        at += 3;
    }
    let target = qualified(t, at)?;
    match target.schema.as_deref() {
        None | Some("main") => Ok(()),
        Some(other) => Err(format!("CREATE in schema {other}: {}", target.name)),
    }
}

/// A trigger runs on every later write, long after its migration: one that deletes
/// anything, writes a protected table, or drops a protected table's new rows with
/// `RAISE(IGNORE)` is refused, as is a temporary one (it lives on the app's connection)
/// and one whose shape the check cannot follow.
fn check_trigger(t: &[Tok], nested: bool) -> Verdict {
    if nested {
        return Err("a trigger inside a trigger".into());
    }
    if t.get(1).is_some_and(is_temp) {
        return Err("CREATE TEMP TRIGGER: it lives on the app's connection".into());
    }
    let begin = t
        .iter()
        .position(|x| x.is("begin"))
        .ok_or("a trigger without BEGIN")?;
    if !t.last().is_some_and(|x| x.is("end")) {
        return Err("a trigger that does not end with END".into());
    }
    let header = &t[..begin];
    let on = header
        .iter()
        .position(|x| x.is("on"))
        .ok_or("a trigger without ON")?;
    let target = qualified(header, on + 1)?;
    let table = &target.name;
    let body = &t[begin + 1..t.len() - 1];
    for stmt in statements(body) {
        check_tokens(&stmt.toks, true).map_err(|what| format!("trigger on {table}: {what}"))?;
    }
    let ignores = body.windows(4).any(|w| {
        w[0].is("raise") && w[1] == Tok::Punct('(') && w[2].is("ignore") && w[3] == Tok::Punct(')')
    });
    if ignores && PROTECTED.contains(&table.as_str()) {
        return Err(format!("trigger on {table}: RAISE(IGNORE) drops its rows"));
    }
    Ok(())
}

/// Every statement of `sql` the check refuses: one that deletes, drops, renames, rewrites or
/// shadows a protected table, rewrites the schema, changes the file's key, journal or
/// schema bookkeeping, creates a trigger that deletes, or that it cannot follow. One finding
/// per statement.
fn forbidden(sql: &str) -> Vec<String> {
    statements(&tokens(sql))
        .iter()
        .filter_map(|s| check(s).err())
        .collect()
}

#[test]
fn no_migration_deletes_drops_renames_or_rewrites_sales_queue_or_movements() {
    for (n, sql) in schema::MIGRATIONS {
        // The check fails closed: a clean answer means it followed every statement.
        assert_eq!(forbidden(sql), Vec::<String>::new(), "migration {n}");
        assert!(
            !statements(&tokens(sql)).is_empty(),
            "migration {n} is empty"
        );
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
        "UPDATE OR IGNORE \"main\".\"sales\" SET total = '0'",
        "REPLACE INTO sales (id) VALUES (1)",
        "INSERT OR REPLACE INTO outbox (sale_ref) VALUES (1)",
        "replace into stock_movements select * from x",
        // Upserts that overwrite a queued sale or its queue row.
        "INSERT INTO sales (id, sale_id) VALUES (1, 'x') ON CONFLICT (sale_id) DO UPDATE SET record = excluded.record",
        "insert into outbox select * from x where true on conflict do update set state = 'attention'",
        "INSERT INTO outbox (sale_ref) VALUES (1) ON CONFLICT (sale_ref) DO NOTHING ON CONFLICT DO UPDATE SET attempts = 0",
        // The receipt counters: lowering one reuses receipt numbers.
        "UPDATE register_seq SET last_seq = 0",
        "DELETE FROM register_seq WHERE register_id = 'R1'",
        "INSERT OR REPLACE INTO register_seq VALUES ('s', 'R1', 0)",
        "INSERT INTO register_seq VALUES ('s', 'R1', 0) ON CONFLICT DO UPDATE SET last_seq = 0",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n + 1 FROM r) UPDATE [register_seq] SET last_seq = 1",
        "DROP TABLE register_seq",
        // Rewriting the schema itself.
        "PRAGMA writable_schema = ON",
        "pragma main.WRITABLE_SCHEMA=1",
        "PRAGMA writable_schema('RESET')",
        "UPDATE sqlite_master SET sql = 'CREATE TABLE sales (x)' WHERE name = 'sales'",
        "DELETE FROM main.sqlite_schema WHERE name = 'outbox'",
        "INSERT INTO \"sqlite_master\" VALUES ('table', 'x', 'x', 0, '')",
        "update sqlite_temp_master set sql = ''",
        // Triggers: they run on every later write.
        "CREATE TRIGGER t AFTER INSERT ON products BEGIN DELETE FROM sales; END;",
        "CREATE TRIGGER tidy AFTER UPDATE ON stores BEGIN DELETE FROM barcodes WHERE store_id = new.store_id; END",
        "CREATE TEMP TRIGGER IF NOT EXISTS skip BEFORE INSERT ON outbox BEGIN SELECT RAISE(IGNORE); END",
        "create trigger t after insert on products begin update sales set synced_at = 1; end",
        "CREATE TRIGGER t AFTER INSERT ON meta BEGIN SELECT CASE WHEN 1 THEN 2 END; SELECT 1; REPLACE INTO outbox SELECT * FROM x; END",
        "CREATE TRIGGER t BEFORE INSERT ON \"sales\" WHEN new.total = '0' BEGIN SELECT raise ( ignore ); END",
        // A 'string' where a name is expected is that name.
        "DELETE FROM 'sales'",
        "update 'main'.'outbox' set state = 'pending'",
        "DROP TABLE IF EXISTS 'Stock_Movements'",
        "ALTER TABLE 'register_seq' RENAME TO r",
        // The tax settings sales point at, and the store's own bookkeeping.
        "UPDATE tax_settings SET settings = '{}'",
        "DELETE FROM main.\"tax_settings\"",
        "INSERT OR REPLACE INTO [tax_settings] (id, store_id, settings) VALUES (1, 's', '{}')",
        "DELETE FROM meta WHERE key = 'seq_floor_check'",
        "UPDATE `META` SET value = 'keychain'",
        "INSERT INTO meta VALUES ('cipher_settings', 'x') ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        "DROP TABLE meta",
        "CREATE TRIGGER t AFTER INSERT ON sales BEGIN UPDATE tax_settings SET settings = '{}'; END",
        // The temp schema: a temporary table, view or trigger shadows or outlives.
        "CREATE TEMP TABLE sales (id INTEGER PRIMARY KEY, record TEXT)",
        "create temporary view outbox as select * from main.outbox where 0",
        "CREATE VIEW temp.stock_movements AS SELECT * FROM main.stock_movements WHERE 0",
        "CREATE TABLE \"temp\".\"meta\" (key TEXT, value TEXT)",
        "CREATE TEMP TRIGGER keep AFTER INSERT ON products BEGIN SELECT 1; END",
        "CREATE TRIGGER temp.t AFTER INSERT ON products BEGIN SELECT 1; END",
        "INSERT INTO temp.sales SELECT * FROM main.sales",
        "CREATE INDEX temp.sales_by_total ON sales (total)",
        // The file's key, journal and schema bookkeeping.
        "PRAGMA rekey = 'x''00'''",
        "PRAGMA key = 'passphrase'",
        "pragma SCHEMA_VERSION = 99",
        "PRAGMA main.journal_mode = DELETE",
        "PRAGMA journal_mode=OFF",
        "PRAGMA user_version = 7",
        "PRAGMA cipher_compatibility = 3",
        "PRAGMA temp.foreign_keys = OFF",
        "DELETE FROM sqlite_sequence",
        // What the check cannot follow is refused, never passed.
        "DELETE FROM",
        "DELETE sales",
        "UPDATE",
        "INSERT sales VALUES (1)",
        "ATTACH DATABASE 'other.db' AS aux",
        "DETACH aux",
        "VACUUM",
        "VACUUM INTO 'copy.db'",
        "COMMIT",
        "BEGIN",
        "SAVEPOINT s",
        "REINDEX",
        "ANALYZE",
        "DROP TABLE",
        "DROP TABLE sales_old, sales",
        "DROP SOMETHING sales",
        "ALTER TABLE products SET x",
        "CREATE TRIGGER t AFTER INSERT ON products BEGIN SELECT 1;",
        "CREATE TRIGGER t AFTER INSERT ON products BEGIN PRAGMA writable_schema = 1; END",
        "CREATE TRIGGER t AFTER INSERT BEGIN SELECT 1; END",
        "CREATE SOMETHING sales",
        "CREATE VIEW aux.sales AS SELECT 1",
        "\u{212a}",
        "( DELETE FROM sales )",
    ] {
        assert_eq!(forbidden(bad).len(), 1, "not caught (once): {bad}");
    }
    for fine in [
        "-- DELETE FROM sales\nCREATE TABLE x (a)",
        "/* DROP TABLE outbox */ SELECT 1",
        "INSERT INTO meta VALUES ('note', 'DELETE FROM sales')",
        "SELECT 'PRAGMA writable_schema = 1', x'00'",
        "ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER",
        "ALTER TABLE register_seq ADD COLUMN head_seq INTEGER",
        "DELETE FROM sales_archive_view",
        "UPDATE products SET stock_milli = 0",
        "DROP TABLE sync_latency",
        "INSERT INTO sales SELECT * FROM x",
        "INSERT OR IGNORE INTO outbox (sale_ref) SELECT id FROM sales",
        "INSERT INTO register_seq (store_id, register_id, last_seq) VALUES ('s', 'R1', 1) ON CONFLICT DO NOTHING",
        "INSERT INTO stock_levels VALUES ('s', 'p', 0) ON CONFLICT DO UPDATE SET stock_milli = 0",
        "CREATE TABLE \"delete\" (\"update\" TEXT, [drop] TEXT)",
        "SELECT * FROM sales s JOIN outbox o ON o.sale_ref = s.id",
        "CREATE INDEX sales_by_day ON sales (created_at)",
        "PRAGMA foreign_keys = ON",
        // The FTS5 delete command is an INSERT into the index, not a DELETE.
        "CREATE TRIGGER products_ad AFTER DELETE ON products BEGIN INSERT INTO product_fts (product_fts, rowid) VALUES ('delete', old.id); END",
        "CREATE TRIGGER t AFTER INSERT ON sales BEGIN INSERT INTO audit VALUES (CASE new.total WHEN '0' THEN 'zero' ELSE 'sale' END); END",
        "INSERT INTO tax_settings (store_id, settings) VALUES ('s', '{}')",
        "INSERT OR IGNORE INTO 'meta' VALUES ('note', 'x')",
        "ALTER TABLE tax_settings ADD COLUMN label TEXT",
        "ALTER TABLE sync_state DROP COLUMN last_error",
        "ALTER TABLE sync_latency RENAME TO sync_latency_old",
        "CREATE TABLE main.\"notes\" (x)",
        "CREATE UNIQUE INDEX IF NOT EXISTS main.sales_sale_id ON sales (sale_id)",
        "CREATE VIRTUAL TABLE notes_fts USING fts5(body)",
        "DROP INDEX IF EXISTS sales_by_day",
        "DROP VIEW sales_archive_view",
        "DROP TRIGGER main.products_ai",
        "pragma foreign_key_check",
        "PRAGMA main.integrity_check",
        "VALUES (1)",
        "WITH x AS (SELECT 1) INSERT INTO notes SELECT * FROM x",
        "SELECT 'temp' || '.' || 'x'",
        "CREATE TABLE \"sales\u{212a}\" (x)",
    ] {
        assert_eq!(
            forbidden(fine),
            Vec::<String>::new(),
            "flagged wrongly: {fine}"
        );
    }
}

#[test]
fn the_no_delete_check_catches_every_bad_example_migration() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 19, "{files:?}");
    for file in files {
        let sql = std::fs::read_to_string(&file).unwrap();
        // Each example says how many of its statements must be refused.
        let expected: usize = sql
            .lines()
            .find_map(|l| l.strip_prefix("-- refused: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{file:?} has no `-- refused: N` line"));
        assert!(
            expected > 0,
            "{file:?}: a bad example refuses at least one statement"
        );
        let found = forbidden(&sql);
        assert_eq!(found.len(), expected, "{file:?}: {found:?}");
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
        opens_keeping_every_queued_sale(&name);
    }
}

#[test]
fn a_schema_1_file_opens_keeping_every_queued_sale() {
    opens_keeping_every_queued_sale("v1");
}

#[test]
fn a_schema_2_file_opens_keeping_every_queued_sale() {
    opens_keeping_every_queued_sale("v2");
}

#[test]
fn a_schema_3_file_opens_keeping_every_queued_sale() {
    opens_keeping_every_queued_sale("v3");
}

#[test]
fn a_schema_4_file_opens_keeping_every_queued_sale() {
    opens_keeping_every_queued_sale("v4");
}

#[test]
fn a_schema_5_file_opens_keeping_every_queued_sale() {
    opens_keeping_every_queued_sale("v5");
}

#[test]
fn a_schema_6_file_opens_keeping_every_queued_sale() {
    opens_keeping_every_queued_sale("v6");
}

/// Opens the fixture `name` with today's code: every queued sale there, in order and
/// intact, the schema the latest, `integrity_check` ok, and the next sale numbered after
/// the highest the old build issued, its journal going on (or starting, naming it).
fn opens_keeping_every_queued_sale(name: &str) {
    let f = fixture(name);
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
        return;
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
