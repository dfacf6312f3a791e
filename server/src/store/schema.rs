//! The server database's numbered migrations, applied in order, each in its own transaction.
//! A migration never deletes sales or stock movements.

use rusqlite::Connection;

use crate::error::StoreError;

/// Migration N is `MIGRATIONS[N - 1]`; `PRAGMA user_version` records the last applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_register_seq.sql"),
    include_str!("migrations/003_one_index_less_per_sale.sql"),
    include_str!("migrations/004_journal_and_refunds.sql"),
    include_str!("migrations/005_pairing_codes.sql"),
    include_str!("migrations/006_offline_limits.sql"),
    include_str!("migrations/007_sale_ids_per_store.sql"),
    include_str!("migrations/008_sale_tax_settings.sql"),
];

/// Newest schema version this build knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Applies every migration the database has not seen yet.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest_version() {
        return Err(StoreError::Backend(format!(
            "database schema {current} is newer than this server ({}); refusing to touch it",
            latest_version()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "server database migrated");
    }
    Ok(())
}
