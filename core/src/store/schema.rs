//! Schema migrations: numbered SQL files applied in order, each in one transaction,
//! tracked by `PRAGMA user_version`. No migration may delete or rewrite unsent sales.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Every migration, in order; the number is the `user_version` after it ran.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_sync_state.sql")),
    (3, include_str!("migrations/0003_parked_sales.sql")),
    (4, include_str!("migrations/0004_stock_levels.sql")),
    (5, include_str!("migrations/0005_journal_and_refunds.sql")),
    (6, include_str!("migrations/0006_offline_limits.sql")),
    (7, include_str!("migrations/0007_held_sales.sql")),
];

/// The schema version a fresh database ends at.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// The database's current schema version.
pub fn version(conn: &Connection) -> Result<u32> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings the database to the latest schema.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, latest_version())
}

/// Applies migrations up to `target` (tests use this to build every old schema).
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<()> {
    migrate_with(conn, MIGRATIONS, target)
}

/// Applies `migrations` up to `target`; exposed so tests can inject a failing migration.
pub fn migrate_with(conn: &mut Connection, migrations: &[(u32, &str)], target: u32) -> Result<()> {
    let latest = migrations.last().map_or(0, |(v, _)| *v);
    let current = version(conn)?;
    if current > latest {
        // A newer app wrote this file; touching it could lose what it added.
        return Err(Error::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    for (number, sql) in migrations
        .iter()
        .filter(|(n, _)| *n > current && *n <= target)
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", number)?;
        tx.commit()?;
        tracing::info!(version = number, "schema migrated");
    }
    Ok(())
}
