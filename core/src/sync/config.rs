//! How sync is set up: the server, the register's credentials per store, timeouts and retry
//! timing, with documented defaults. It holds tokens but never prints or logs them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::limits;

/// Where the sync engine gets the register's bearer token for a store. The token belongs to
/// the register, not to a cashier's session: the engine asks for it whether or not anybody
/// is logged in. An implementation may read the OS keychain (one entry per store).
pub trait Credentials: Send + Sync {
    /// The register's token for `store_id`, or `None` when this device holds none for it.
    fn token(&self, store_id: &str) -> Option<Zeroizing<String>>;
}

/// One register token offered for every store: the server knows which store it is bound to
/// and refuses it (403) for any other, which the engine then reports for that store.
pub struct RegisterToken(Zeroizing<String>);

impl RegisterToken {
    /// Wraps a token.
    pub fn new(token: &str) -> Self {
        RegisterToken(Zeroizing::new(token.to_string()))
    }
}

impl Credentials for RegisterToken {
    fn token(&self, _store_id: &str) -> Option<Zeroizing<String>> {
        Some(self.0.clone())
    }
}

/// A token per store, held in memory (a device paired with several stores).
#[derive(Default)]
pub struct StoreTokens(BTreeMap<String, Zeroizing<String>>);

impl StoreTokens {
    /// No tokens yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the token of `store_id`.
    pub fn with(mut self, store_id: &str, token: &str) -> Self {
        self.0
            .insert(store_id.to_string(), Zeroizing::new(token.to_string()));
        self
    }
}

impl Credentials for StoreTokens {
    fn token(&self, store_id: &str) -> Option<Zeroizing<String>> {
        self.0.get(store_id).cloned()
    }
}

/// The shortest `probe_interval` used (probes then go out 0.5 to 1.5 s apart): however many
/// registers lose the server, each asks its health at most twice a second.
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The longest `probe_interval` used, and the longest a probe's `Retry-After` holds probing
/// back: the server's return is noticed within about a minute and a half, whatever the
/// settings or the answer said.
pub const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(60);

/// The shortest `periodic_interval` used: a mistaken zero must not spin the engine.
pub const MIN_PERIODIC_INTERVAL: Duration = Duration::from_millis(100);

/// The largest `backoff_cap` used (and so the longest `Retry-After` honoured and the longest
/// park): no setting can stop a register's uploads for more than ten minutes.
pub const MAX_BACKOFF_CAP: Duration = Duration::from_secs(600);

/// The shortest `backoff_base` used: a zero base (or cap) would retry a failure at once,
/// forever.
pub const MIN_BACKOFF: Duration = Duration::from_millis(1);

/// The shortest `catalog_interval` used: never zero, so a pull is never restarted in the
/// same instant it ended.
pub const MIN_CATALOG_INTERVAL: Duration = Duration::from_millis(1);

/// The shortest `request_timeout` and `connect_timeout` used: a zero timeout fails every
/// request before it is sent, which would look like an outage that never ends.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// The longest `request_timeout` and `connect_timeout` used (a day): no deadline overflows.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How sync talks to the server. `SyncConfig::new(url, token)` gives the defaults.
#[derive(Clone)]
pub struct SyncConfig {
    /// Base URL of the sync server, e.g. `https://sync.example.com/`.
    pub server_url: String,
    /// The register's bearer tokens, per store.
    pub credentials: Arc<dyn Credentials>,
    /// Most sales per upload request. Default 200; at least 1 and at most
    /// `limits::MAX_BATCH_SALES` are ever sent. An upload that times out, or two in a row
    /// cut in flight (reset, answer cut short), halve it (down to 1); two full batches in a
    /// row acknowledged within a quarter of `request_timeout` double it again (up to this
    /// value).
    pub batch_size: usize,
    /// Whole-request timeout. Default 10 s; `MIN_TIMEOUT` to `MAX_TIMEOUT`.
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout. Default 5 s; `MIN_TIMEOUT` to `MAX_TIMEOUT`.
    pub connect_timeout: Duration,
    /// First retry delay ceiling. Default 250 ms; `MIN_BACKOFF` to `MAX_BACKOFF_CAP`.
    pub backoff_base: Duration,
    /// Largest retry delay, also the longest `Retry-After` honoured and the longest a sale
    /// is parked. Default 60 s; from `backoff_base` to `MAX_BACKOFF_CAP` (10 min).
    pub backoff_cap: Duration,
    /// While the server does not answer (connection refused or reset, no answer in time),
    /// the engine stops retrying uploads and sends one `GET /v1/health` about this often
    /// instead: each wait is drawn uniformly from half to one and a half times it, so
    /// registers that lost the server together do not probe together. At most one probe is
    /// out at a time; each waits for its answer at most this long (or `request_timeout`, if
    /// shorter). The first answer starts the upload at once. A probe's `Retry-After` holds
    /// probing back at most `backoff_cap` and never beyond `MAX_PROBE_INTERVAL`. Default 5 s;
    /// `MIN_PROBE_INTERVAL` (1 s) to `MAX_PROBE_INTERVAL` (60 s).
    pub probe_interval: Duration,
    /// How often to sync while online even without a trigger. Default 30 s; at least
    /// `MIN_PERIODIC_INTERVAL`.
    pub periodic_interval: Duration,
    /// How often to pull the catalogue while online. Default 5 min; at least
    /// `MIN_CATALOG_INTERVAL`.
    pub catalog_interval: Duration,
    /// Allow plain HTTP to loopback addresses (development and tests). Default false.
    pub allow_http_loopback: bool,
    /// PEM root certificates trusted in addition to the bundled Mozilla roots (private
    /// deployments, tests). Each entry holds one or more certificates.
    pub root_certificates_pem: Vec<Vec<u8>>,
    /// SPKI SHA-256 pins (`sha256/<base64>`, see `tls::certificate_pin`): when not empty,
    /// the server's verified chain must hold one of these keys. Default: none.
    pub pinned_spki_sha256: Vec<String>,
    /// Faults the tests inject into the engine (feature `test-support` only).
    #[cfg(feature = "test-support")]
    pub hooks: crate::testing::SyncHooks,
}

impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("server_url", &self.server_url)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl SyncConfig {
    /// Defaults for a server and one register token (see `RegisterToken`).
    pub fn new(server_url: &str, token: &str) -> Self {
        Self::with_credentials(server_url, Arc::new(RegisterToken::new(token)))
    }

    /// Defaults for a server and the register's tokens per store.
    pub fn with_credentials(server_url: &str, credentials: Arc<dyn Credentials>) -> Self {
        SyncConfig {
            server_url: if server_url.ends_with('/') {
                server_url.to_string()
            } else {
                format!("{server_url}/")
            },
            credentials,
            batch_size: 200,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(60),
            probe_interval: Duration::from_secs(5),
            periodic_interval: Duration::from_secs(30),
            catalog_interval: Duration::from_secs(300),
            allow_http_loopback: false,
            root_certificates_pem: Vec::new(),
            pinned_spki_sha256: Vec::new(),
            #[cfg(feature = "test-support")]
            hooks: Default::default(),
        }
    }

    /// The settings the engine runs with: every value brought within the bounds its field
    /// documents, so that no zero, inverted or absurd value can spin the engine, flood the
    /// server, stop uploads for good or fail every request. Out-of-range values are clamped,
    /// never refused: a register must keep selling and syncing whatever its settings say.
    /// The only place values are bounded.
    pub(crate) fn clamped(mut self) -> Self {
        self.batch_size = self.batch_size.clamp(1, limits::MAX_BATCH_SALES);
        self.request_timeout = self.request_timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT);
        self.connect_timeout = self.connect_timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT);
        self.backoff_base = self.backoff_base.clamp(MIN_BACKOFF, MAX_BACKOFF_CAP);
        self.backoff_cap = self.backoff_cap.clamp(self.backoff_base, MAX_BACKOFF_CAP);
        self.probe_interval = self
            .probe_interval
            .clamp(MIN_PROBE_INTERVAL, MAX_PROBE_INTERVAL);
        self.periodic_interval = self.periodic_interval.max(MIN_PERIODIC_INTERVAL);
        self.catalog_interval = self.catalog_interval.max(MIN_CATALOG_INTERVAL);
        self
    }

    /// The longest a sale is ever parked: a park ending later was set by a clock that has
    /// since gone back, and is due at once.
    pub(crate) fn max_park(&self) -> Duration {
        self.backoff_cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_inverted_and_absurd_values_are_brought_within_their_documented_bounds() {
        let mut zero = SyncConfig::new("https://sync.example.com", "t");
        zero.batch_size = 0;
        zero.request_timeout = Duration::ZERO;
        zero.connect_timeout = Duration::ZERO;
        zero.backoff_base = Duration::ZERO;
        zero.backoff_cap = Duration::ZERO;
        zero.probe_interval = Duration::ZERO;
        zero.periodic_interval = Duration::ZERO;
        zero.catalog_interval = Duration::ZERO;
        let c = zero.clamped();
        assert_eq!(c.batch_size, 1);
        assert_eq!(
            (c.request_timeout, c.connect_timeout),
            (MIN_TIMEOUT, MIN_TIMEOUT)
        );
        assert_eq!((c.backoff_base, c.backoff_cap), (MIN_BACKOFF, MIN_BACKOFF));
        assert_eq!(c.probe_interval, MIN_PROBE_INTERVAL);
        assert_eq!(c.periodic_interval, MIN_PERIODIC_INTERVAL);
        assert_eq!(c.catalog_interval, MIN_CATALOG_INTERVAL);

        let mut inverted = SyncConfig::new("https://sync.example.com", "t");
        inverted.backoff_base = Duration::from_secs(5);
        inverted.backoff_cap = Duration::from_secs(1);
        let c = inverted.clamped();
        assert_eq!(
            (c.backoff_base, c.backoff_cap),
            (Duration::from_secs(5), Duration::from_secs(5))
        );

        let mut huge = SyncConfig::new("https://sync.example.com", "t");
        huge.batch_size = usize::MAX;
        huge.request_timeout = Duration::MAX;
        huge.connect_timeout = Duration::MAX;
        huge.backoff_base = Duration::MAX;
        huge.backoff_cap = Duration::MAX;
        huge.probe_interval = Duration::MAX;
        huge.periodic_interval = Duration::MAX;
        huge.catalog_interval = Duration::MAX;
        let c = huge.clamped();
        assert_eq!(c.batch_size, limits::MAX_BATCH_SALES);
        assert_eq!(
            (c.request_timeout, c.connect_timeout),
            (MAX_TIMEOUT, MAX_TIMEOUT)
        );
        assert_eq!(
            (c.backoff_base, c.backoff_cap),
            (MAX_BACKOFF_CAP, MAX_BACKOFF_CAP)
        );
        assert_eq!(c.probe_interval, MAX_PROBE_INTERVAL);
        // A probe interval just under the floor, a cap just over its bound.
        let mut near = SyncConfig::new("https://sync.example.com", "t");
        near.probe_interval = Duration::from_millis(999);
        near.backoff_cap = MAX_BACKOFF_CAP + Duration::from_nanos(1);
        let c = near.clamped();
        assert_eq!(
            (c.probe_interval, c.backoff_cap),
            (MIN_PROBE_INTERVAL, MAX_BACKOFF_CAP)
        );

        // The defaults are within bounds already.
        let d = SyncConfig::new("https://sync.example.com", "t");
        let c = d.clone().clamped();
        assert_eq!(
            (
                c.batch_size,
                c.request_timeout,
                c.backoff_base,
                c.backoff_cap,
                c.probe_interval,
                c.periodic_interval
            ),
            (
                d.batch_size,
                d.request_timeout,
                d.backoff_base,
                d.backoff_cap,
                d.probe_interval,
                d.periodic_interval
            )
        );
    }
}
