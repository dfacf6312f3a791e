//! The one configuration struct of the core, with its documented defaults.
//! Code paths read limits from here; they never hard-code them.

use std::path::PathBuf;
use std::time::Duration;

/// How a device's core is set up. `Config::new(data_dir)` gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory holding the encrypted database (`tillkit.db`) and its sidecar files.
    pub data_dir: PathBuf,
    /// Keychain service name the database key is stored under. Default `app.tillkit`.
    pub keychain_service: String,
    /// Keychain account of the database key; one per data directory. Default `database-key`.
    pub keychain_account: String,
    /// Most lines one cart may hold. Default and ceiling `limits::MAX_LINES_PER_SALE` (10,000).
    pub max_cart_lines: usize,
    /// Most search results returned. Default 50.
    pub search_limit: usize,
    /// Longest accepted product name or free-text field, in characters. Default and ceiling
    /// `limits::MAX_TEXT_CHARS` (500): the server takes nothing longer.
    pub max_text_len: usize,
    /// `PRAGMA max_page_count` (pages of 4 KiB) to bound the database; `None` = unbounded.
    pub max_page_count: Option<u64>,
    /// Share of an offline limit (percent, 1 to 100) used from which the status warns that
    /// it is near. Default 80.
    pub offline_warn_percent: u8,
    /// How long opening the store, or a recovery, waits for the store's lock while another
    /// holder lets go of it (an app instance that is closing), before answering `Busy`.
    /// Default 2 s.
    pub lock_wait: Duration,
    /// Receipt numbers reserved in the keychain by one write (see `store::receipts`); the
    /// next block is reserved when half of one is used. Default 100.
    pub receipt_block: u64,
}

impl Config {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            keychain_service: "app.tillkit".into(),
            keychain_account: "database-key".into(),
            max_cart_lines: crate::limits::MAX_LINES_PER_SALE,
            search_limit: 50,
            max_text_len: crate::limits::MAX_TEXT_CHARS,
            max_page_count: None,
            offline_warn_percent: 80,
            lock_wait: Duration::from_secs(2),
            receipt_block: 100,
        }
    }
}
