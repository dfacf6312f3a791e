//! Sync: a supervised background task on the core's own runtime that uploads every store's
//! queue in batches, pulls the catalogue, probes the server through outages, and publishes
//! status. UI-thread calls never wait on the network; the queue is only shortened by the
//! server's answers for its sales.

pub mod backoff;
mod catalog;
pub mod client;
mod config;
mod engine;
pub mod error;
mod lookup;
mod pairing;
mod probe;
pub mod protocol;
mod status;
pub mod tls;
mod tokens;
mod upload;

pub use config::{
    Credentials, MAX_BACKOFF_CAP, MAX_PROBE_INTERVAL, MAX_TIMEOUT, MIN_BACKOFF,
    MIN_CATALOG_INTERVAL, MIN_PERIODIC_INTERVAL, MIN_PROBE_INTERVAL, MIN_TIMEOUT, RegisterToken,
    StoreTokens, SyncConfig,
};
pub use engine::SyncEngine;
pub use error::SyncError;
pub use pairing::{PAIRING_LINK, Paired, ScannedPairing, pair, pairing_link, read_pairing_scan};
pub use status::{
    Connectivity, ProtocolMismatch, StatusListener, StatusWatch, StoreBacklog, StoreBlock,
    Subscription, SyncStatus,
};
pub use tokens::KeychainTokens;
