//! Sale capture cost: a 5-line sale (tax, stock, outbox, encryption, synchronous=FULL)
//! against a bare one-row INSERT + COMMIT into unencrypted SQLite with the same
//! durability, interleaved sample by sample on the same disk.
//! Run: cargo bench -p tillkit-core --bench sale_capture

mod common;

use std::time::{Duration, Instant};

use common::*;
use rusqlite::Connection;

fn main() {
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let dir = bench_dir("sale-capture");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let till = open(&dir);
    till.import_catalog(&big_catalog(1_000)).unwrap();
    till.login("bench", "R01", "bench").unwrap();

    let bare = Connection::open(dir.join("bare.db")).unwrap();
    bare.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
    )
    .unwrap();
    let mut insert = bare.prepare("INSERT INTO t (v) VALUES (?1)").unwrap();
    // The same one-row commit through SQLCipher with the till's pinned page settings (a
    // fixed benchmark key): what encrypting one page adds to a durable commit.
    let sealed = Connection::open(dir.join("bare-sqlcipher.db")).unwrap();
    sealed
        .execute_batch(&format!(
            "PRAGMA key = \"x'{}'\"; {}
             PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
            "5a".repeat(32),
            {
                let p = tillkit_core::store::cipher::PINNED;
                format!(
                    "PRAGMA cipher_page_size = {}; PRAGMA cipher_hmac_algorithm = {};
                     PRAGMA cipher_kdf_algorithm = {}; PRAGMA cipher_use_hmac = ON;
                     PRAGMA cipher_plaintext_header_size = {};",
                    p.page_size, p.hmac, p.kdf, p.plaintext_header
                )
            }
        ))
        .unwrap();
    let mut sealed_insert = sealed.prepare("INSERT INTO t (v) VALUES (?1)").unwrap();

    // Warm up both paths (statement caches, WAL files created).
    for i in 0..50 {
        ring_five_lines(&till, i, 1_000);
        bare.execute_batch("BEGIN").unwrap();
        insert.execute(["warm"]).unwrap();
        bare.execute_batch("COMMIT").unwrap();
        sealed.execute_batch("BEGIN").unwrap();
        sealed_insert.execute(["warm"]).unwrap();
        sealed.execute_batch("COMMIT").unwrap();
    }

    // Pages each commit writes: WAL frames appended by 100 commits after a checkpoint.
    let wal_pages = |path: &std::path::Path| {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        len.saturating_sub(32) as f64 / (4096.0 + 24.0)
    };
    tillkit_core::testing::tamper(&till, |c| {
        Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)
    })
    .unwrap();
    bare.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    for i in 0..100 {
        ring_five_lines(&till, 10_000 + i, 1_000);
        bare.execute_batch("BEGIN").unwrap();
        insert.execute(["pages"]).unwrap();
        bare.execute_batch("COMMIT").unwrap();
    }
    let sale_pages = wal_pages(&dir.join("data/tillkit.db-wal")) / 100.0;
    let bare_pages = wal_pages(&dir.join("bare.db-wal")) / 100.0;
    let by_table = pages_by_table(&till, &dir.join("data/tillkit.db-wal"), 100);

    // Page-cache traffic per sale on each of the till's connections (SQLite's own
    // counters): a miss is a page read from the WAL or the file (a pread), so misses on
    // the writer would mean its cache does not survive from one sale to the next.
    let cache = CacheCounters::reset(&till);
    for i in 0..100 {
        let (cart, payments) = five_line_cart(&till, 30_000 + i, 1_000);
        till.complete_sale(&cart, &payments).unwrap();
    }
    let cache = cache.since(&till, 100);

    let (cart, payments) = five_line_cart(&till, 20_000, 1_000);
    let sample = till.complete_sale(&cart, &payments).unwrap();
    if std::env::var_os("SHOW_RECORD").is_some() {
        println!("{}", serde_json::to_string_pretty(&sample.record).unwrap());
    }

    let mut sale = Vec::with_capacity(samples);
    let mut base = Vec::with_capacity(samples);
    let mut sealed_base = Vec::with_capacity(samples);
    for i in 0..samples {
        // The cart is built while the cashier scans; completing it is what is measured.
        let (cart, payments) = five_line_cart(&till, i + 50, 1_000);
        let t = Instant::now();
        till.complete_sale(&cart, &payments).unwrap();
        sale.push(t.elapsed());

        let t = Instant::now();
        bare.execute_batch("BEGIN").unwrap();
        insert
            .execute(["a sale-sized row would be bigger, this is the floor"])
            .unwrap();
        bare.execute_batch("COMMIT").unwrap();
        base.push(t.elapsed());

        let t = Instant::now();
        sealed.execute_batch("BEGIN").unwrap();
        sealed_insert
            .execute(["a sale-sized row would be bigger, this is the floor"])
            .unwrap();
        sealed.execute_batch("COMMIT").unwrap();
        sealed_base.push(t.elapsed());
    }
    sale.sort();
    base.sort();
    sealed_base.sort();
    let show = |name: &str, v: &[Duration]| {
        println!(
            "{name:<32} p50 {:>7.3} ms   p99 {:>7.3} ms",
            ms(pct(v, 50.0)),
            ms(pct(v, 99.0))
        );
    };
    println!(
        "samples: {samples} each, interleaved, same disk ({})",
        dir.display()
    );
    show("complete_sale (5 lines, SQLCipher)", &sale);
    show("bare INSERT + COMMIT (plain)", &base);
    show("bare INSERT + COMMIT (SQLCipher)", &sealed_base);
    println!(
        "pages written per commit: sale {sale_pages:.1} ({by_table}), bare insert {bare_pages:.1}"
    );
    println!(
        "page cache per sale: complete_sale (writer) {:.1} hits, {:.1} misses, {:.1} pages written; \
         building the cart (reader) {:.1} misses",
        cache.writer_hit, cache.writer_miss, cache.writer_write, cache.reader_miss
    );
    println!("stored record: {} bytes for 5 lines", sample.stored_bytes);
    println!(
        "p99 ratio: {:.2}",
        pct(&sale, 99.0).as_secs_f64() / pct(&base, 99.0).as_secs_f64()
    );
    println!(
        "p50 ratio against the SQLCipher bare commit: {:.2}",
        pct(&sale, 50.0).as_secs_f64() / pct(&sealed_base, 50.0).as_secs_f64()
    );
    println!(
        "sale_capture_p50_ratio: {:.2}",
        pct(&sale, 50.0).as_secs_f64() / pct(&base, 50.0).as_secs_f64()
    );
}

/// Which b-tree each WAL frame belongs to, per sale: frame headers (plaintext) carry the
/// page number, `dbstat` names the page's table or index.
fn pages_by_table(till: &tillkit_core::Till, wal: &std::path::Path, sales: usize) -> String {
    let bytes = std::fs::read(wal).unwrap_or_default();
    let names: std::collections::HashMap<u32, String> = tillkit_core::testing::inspect(till, |c| {
        let mut stmt = c.prepare("SELECT pageno, name FROM dbstat")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })
    .unwrap();
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut at = 32;
    while at + 24 <= bytes.len() {
        let page = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        *counts
            .entry(names.get(&page).cloned().unwrap_or_else(|| "new".into()))
            .or_default() += 1;
        at += 24 + 4096;
    }
    counts
        .iter()
        .map(|(name, n)| format!("{name} {:.1}", *n as f64 / sales as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLite's page-cache counters of the till's two connections (`sqlite3_db_status`).
#[derive(Default)]
struct CacheCounters {
    writer_hit: f64,
    writer_miss: f64,
    writer_write: f64,
    reader_miss: f64,
}

impl CacheCounters {
    fn status(c: &rusqlite::Connection, op: std::ffi::c_int, reset: bool) -> f64 {
        let (mut cur, mut high) = (0, 0);
        // SAFETY: the handle is the live connection `c` borrows; the call only reads
        // counters of that connection.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(c.handle(), op, &mut cur, &mut high, reset as _)
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        f64::from(cur)
    }

    fn take(till: &tillkit_core::Till, reset: bool) -> CacheCounters {
        use rusqlite::ffi::{
            SQLITE_DBSTATUS_CACHE_HIT, SQLITE_DBSTATUS_CACHE_MISS, SQLITE_DBSTATUS_CACHE_WRITE,
        };
        let (writer_hit, writer_miss, writer_write) = tillkit_core::testing::tamper(till, |c| {
            Ok((
                Self::status(c, SQLITE_DBSTATUS_CACHE_HIT, reset),
                Self::status(c, SQLITE_DBSTATUS_CACHE_MISS, reset),
                Self::status(c, SQLITE_DBSTATUS_CACHE_WRITE, reset),
            ))
        })
        .unwrap();
        let reader_miss = tillkit_core::testing::inspect(till, |c| {
            Ok(Self::status(c, SQLITE_DBSTATUS_CACHE_MISS, reset))
        })
        .unwrap();
        CacheCounters {
            writer_hit,
            writer_miss,
            writer_write,
            reader_miss,
        }
    }

    fn reset(till: &tillkit_core::Till) -> CacheCounters {
        Self::take(till, true)
    }

    /// Counts since `reset`, per sale.
    fn since(&self, till: &tillkit_core::Till, sales: usize) -> CacheCounters {
        let now = Self::take(till, true);
        let per = |v: f64| v / sales as f64;
        CacheCounters {
            writer_hit: per(now.writer_hit),
            writer_miss: per(now.writer_miss),
            writer_write: per(now.writer_write),
            reader_miss: per(now.reader_miss),
        }
    }
}
