//! The server's one configuration struct and the protocol limits, with documented defaults.
//! Code paths read limits from here; they never hard-code them.

use std::sync::Arc;
use std::time::Duration;

use crate::forwarded::Cidr;

/// The device/server contract limits, defined once in the core (`tillkit_core::limits`).
pub use tillkit_core::limits::{MAX_ID_CHARS, MAX_REFERENCE_CHARS, MAX_TEXT_CHARS};

/// Most entries of one list in an audit answer (a product's dips below zero, a register's
/// gaps, forks, breaks...); the answer says how many there were in all.
pub const MAX_AUDIT_ITEMS: usize = 1000;

/// What a busy answer (`503 busy`, a store wait that ran out) asks a device to wait, in
/// seconds, before it retries: long enough for a burst of uploads or an admin command to
/// pass, short enough that a till's queue is not held up.
pub const BUSY_RETRY_AFTER_SECS: u64 = 2;

/// How long a pairing code lives unless the operator says otherwise (`--minutes`).
pub const PAIRING_CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// The longest a pairing code may live: a code is a password sent over a phone call or a
/// screen share, so it must not outlive the day.
pub const MAX_PAIRING_CODE_TTL: Duration = Duration::from_secs(24 * 3600);

/// How the HTTP side of the server behaves. `ServerConfig::default()` gives the defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes. Default 8 MiB; larger is `413 payload_too_large`.
    pub max_body_bytes: usize,
    /// Most sales in one upload batch. Default 500; more is `413 batch_too_large`.
    pub max_batch_sales: usize,
    /// Failed authentications one peer IP may make per window before it gets `429`. Default 20.
    pub auth_failures_per_window: u32,
    /// The window those failures are counted in. Default one minute.
    pub auth_failure_window: Duration,
    /// Peers whose failures are remembered at most; older windows are dropped first. Default 10,000.
    pub auth_tracked_peers: usize,
    /// Proxies (load balancers, TLS terminators) whose `X-Forwarded-For` names the client
    /// that failed authentication. Default none: the header is ignored and failures count
    /// against the connecting address.
    pub trusted_proxies: Vec<Cidr>,
    /// Serve HTTPS with this configuration (see `tls::load_pem`). Default `None`: plain
    /// HTTP, for loopback or behind a TLS-terminating proxy.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The longest a connection may take to deliver a request head (and a TLS handshake),
    /// counted from when it starts waiting for one, so it also ends idle keep-alive
    /// connections. Default 20 s: a client dripping a header (slowloris) is closed then.
    pub header_read_timeout: Duration,
    /// The longest a request body may take to arrive in full, counted from its head, however
    /// steadily it trickles in. Default 60 s (a full 8 MiB body at about 140 kB/s); past it
    /// the request is answered `408 request_timeout` and its connection closed.
    pub body_read_timeout: Duration,
    /// Open connections one client address may hold at once; beyond that its new ones are
    /// closed at once. Trusted proxies (`trusted_proxies`) are exempt: every client behind
    /// them shares their address. Default 256.
    pub max_connections_per_ip: usize,
    /// Open connections at most; beyond that, new clients wait in the listen backlog until
    /// one closes. Default 1,024 (keep it below the process's file descriptor limit).
    pub max_connections: usize,
    /// How long a stopping server lets open connections finish their requests before it
    /// drops them. Default 30 s.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: tillkit_core::limits::MAX_BODY_BYTES,
            max_batch_sales: tillkit_core::limits::MAX_BATCH_SALES,
            auth_failures_per_window: 20,
            auth_failure_window: Duration::from_secs(60),
            auth_tracked_peers: 10_000,
            trusted_proxies: Vec::new(),
            tls: None,
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(60),
            max_connections_per_ip: 256,
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
