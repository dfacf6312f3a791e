//! Fixtures built from the real pieces: a `tillkit-server` on 127.0.0.1 over a SQLite file
//! in a temp dir, its stores and tokens, and devices (a real `Till` plus its `SyncEngine`).
//! Nothing here fakes a server or a device; checks read the server's own store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tillkit_core::sale::{Payment, PaymentMethod, SaleRecord};
use tillkit_core::store::key::{DbKey, KeyVault, MemoryVault};
use tillkit_core::store::receipts::{ReceiptBook, Reservations};
use tillkit_core::sync::{StatusListener, SyncConfig, SyncEngine, SyncStatus};
use tillkit_core::{Config, Till};
pub use tillkit_server::ServerStore;
use tillkit_server::protocol::{JournalAudit, StockAudit, Summary};
use tillkit_server::store::StoredSale;
use tillkit_server::testkit::TestDatabase;
use tillkit_server::{ServerConfig, ServerHandle, StoreError, admin};
use zeroize::Zeroizing;

use crate::proxy::Proxy;
use crate::tls::{TlsTerminator, test_ca};

/// The store most tests sell in.
pub const STORE: &str = "uk-01";
/// A second store, for scoping tests.
pub const OTHER_STORE: &str = "uk-02";

/// A decimal literal; panics on a typo in the test itself.
pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal in a test")
}

/// UK tax settings: VAT-inclusive prices at 20%, 5% and 0%, rounded per line.
pub fn uk_tax() -> serde_json::Value {
    serde_json::json!({
        "currency": "GBP", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
        "rounding_level": "line",
        "rates": [
            {"id": "vat20", "label": "VAT 20%", "percent": "20"},
            {"id": "vat5", "label": "VAT 5%", "percent": "5"},
            {"id": "vat0", "label": "VAT 0%", "percent": "0"}
        ],
        "categories": [
            {"id": "standard", "rate_ids": ["vat20"]},
            {"id": "reduced", "rate_ids": ["vat5"]},
            {"id": "zero", "rate_ids": ["vat0"]}
        ]
    })
}

/// The server's catalogue file for a UK store: three kettles, ten seats, 5.5 kg of cheese
/// (stock-tracked), untracked bread, and a cart discount. `kettle_price` varies per test.
pub fn uk_catalog(kettle_price: &str) -> serde_json::Value {
    serde_json::json!({
        "tax": uk_tax(),
        "products": [
            {"id": "p-kettle", "sku": "KET-001", "name": "Brass Kettle", "price": kettle_price,
             "tax_category": "standard", "barcodes": ["5012345678900"], "stock_tracked": true, "stock": "3"},
            {"id": "p-seat", "sku": "CHS-002", "name": "Child Car Seat", "price": "89.00",
             "tax_category": "reduced", "barcodes": ["5012345678917"], "stock_tracked": true, "stock": "10"},
            {"id": "p-bread", "sku": "BRD-003", "name": "Sourdough Loaf", "price": "3.20",
             "tax_category": "zero", "barcodes": ["5012345678924"]},
            {"id": "p-cheese", "sku": "CHZ-004", "name": "Cheddar by weight", "price": "18.40",
             "tax_category": "zero", "barcodes": ["2100000000001"], "stock_tracked": true, "stock": "5.5"}
        ],
        "discounts": [
            {"id": "staff10", "label": "Staff 10%", "kind": "percent", "scope": "cart", "value": "10",
             "offline_allowed": true}
        ]
    })
}

/// Which storage a test server runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temp dir (the default, and the demo's).
    Sqlite,
    /// A fresh schema on the test PostgreSQL server at this URL.
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when `TILLKIT_TEST_POSTGRES` is set; otherwise prints why `test` is
    /// skipped and gives `None` (or fails, under `TILLKIT_REQUIRE_POSTGRES=1`).
    pub fn postgres(test: &str) -> Option<Backend> {
        tillkit_server::testkit::postgres_url(test).map(Backend::Postgres)
    }
}

/// One test per server backend for the check `$body(&Backend)`: `$sqlite` on SQLite,
/// `$postgres` on the private PostgreSQL (skipped when none is set up, a failure under
/// `TILLKIT_REQUIRE_POSTGRES=1`).
#[macro_export]
macro_rules! on_both_backends {
    ($body:ident => $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            $body(&$crate::fixtures::Backend::Sqlite);
        }

        #[test]
        fn $postgres() {
            let Some(pg) = $crate::fixtures::Backend::postgres(stringify!($postgres)) else {
                return;
            };
            $body(&pg);
        }
    };
}

/// A multi-threaded runtime for a test's servers, proxies and storage calls.
pub fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime"),
    )
}

/// A server database seen from synchronous test code: each call runs on the test's runtime.
/// It holds store `uk-01` with the UK catalogue from the start.
pub struct Db {
    rt: Arc<tokio::runtime::Runtime>,
    store: Arc<dyn ServerStore>,
    location: String,
    // Dropped last: the schema goes once nothing uses it.
    _schema: Option<TestDatabase>,
}

impl Db {
    /// A fresh database on `backend` (a SQLite file goes in `dir`) with store `uk-01`.
    pub fn create(rt: Arc<tokio::runtime::Runtime>, backend: &Backend, dir: &Path) -> Db {
        let (location, schema) = match backend {
            Backend::Sqlite => (dir.join("server.db").to_string_lossy().into_owned(), None),
            Backend::Postgres(server) => {
                let schema = rt.block_on(TestDatabase::create(server));
                (schema.url.clone(), Some(schema))
            }
        };
        let store = rt
            .block_on(tillkit_server::store::open(&location))
            .expect("server database opens");
        let db = Db {
            rt,
            store,
            location,
            _schema: schema,
        };
        db.create_store(STORE, "Camden High St").expect("store");
        db.load_catalog_json(STORE, uk_catalog("34.99"))
            .expect("catalogue");
        db
    }

    /// The file path or URL, as `--data`/`--database` or `store::open` take it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The backend itself, for a server in this process.
    pub fn store(&self) -> Arc<dyn ServerStore> {
        self.store.clone()
    }

    /// Runs `f` on the test's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// See `ServerStore::summary`.
    pub fn summary(&self, store_id: &str) -> Result<Summary, StoreError> {
        self.block_on(self.store.summary(store_id))
    }

    /// See `ServerStore::stock_audit`.
    pub fn stock_audit(&self, store_id: &str) -> Result<StockAudit, StoreError> {
        self.block_on(self.store.stock_audit(store_id))
    }

    /// See `ServerStore::journal_audit`.
    pub fn journal_audit(&self, store_id: &str) -> Result<JournalAudit, StoreError> {
        self.block_on(self.store.journal_audit(store_id))
    }

    /// See `ServerStore::stored_sale`.
    pub fn stored_sale(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Option<StoredSale>, StoreError> {
        self.block_on(self.store.stored_sale(store_id, sale_id))
    }

    /// See `ServerStore::refunds_of`.
    pub fn refunds_of(
        &self,
        store_id: &str,
        sale_id: &str,
    ) -> Result<Vec<tillkit_server::store::StoredRefund>, StoreError> {
        self.block_on(self.store.refunds_of(store_id, sale_id))
    }

    /// See `admin::create_store`.
    pub fn create_store(&self, store_id: &str, name: &str) -> Result<(), StoreError> {
        self.block_on(admin::create_store(&*self.store, store_id, name))
    }

    /// See `admin::load_catalog_json`.
    pub fn load_catalog_json(
        &self,
        store_id: &str,
        catalog: serde_json::Value,
    ) -> Result<String, StoreError> {
        self.block_on(admin::load_catalog_json(&*self.store, store_id, catalog))
    }

    /// See `admin::set_offline_limits`; returns the new catalogue cursor.
    pub fn set_offline_limits(
        &self,
        store_id: &str,
        limits: &tillkit_core::offline_limits::OfflineLimits,
    ) -> Result<String, StoreError> {
        self.block_on(admin::set_offline_limits(&*self.store, store_id, limits))
    }

    /// See `admin::revoke_token`.
    pub fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        self.block_on(admin::revoke_token(&*self.store, token))
    }

    /// See `admin::revoke_register`.
    pub fn revoke_register(&self, store_id: &str, register: &str) -> Result<u64, StoreError> {
        self.block_on(admin::revoke_register(&*self.store, store_id, register))
    }

    /// Issues a token for `register` of `store_id`.
    pub fn token(&self, store_id: &str, register: &str) -> String {
        self.block_on(admin::create_register(&*self.store, store_id, register))
            .expect("register token")
            .expose()
            .to_string()
    }
}

/// A real server on loopback, with its own runtime, over a fresh database (a SQLite file in
/// a temp dir unless the test asks for PostgreSQL). Store `uk-01` has the UK catalogue.
pub struct Server {
    /// Runs the server and any proxies; dropped last.
    pub rt: Arc<tokio::runtime::Runtime>,
    pub dir: tempfile::TempDir,
    handle: Option<ServerHandle>,
    db: Db,
    config: ServerConfig,
}

impl Server {
    /// Starts a server over a SQLite file with store `uk-01` and its catalogue.
    pub fn start() -> Server {
        Server::start_on(&Backend::Sqlite)
    }

    /// Starts a server over a fresh database on `backend`, with store `uk-01`.
    pub fn start_on(backend: &Backend) -> Server {
        Server::start_with(backend, ServerConfig::default())
    }

    /// `start_on` with a non-default configuration (e.g. the server's own TLS).
    pub fn start_with(backend: &Backend, config: ServerConfig) -> Server {
        let rt = runtime();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::create(rt.clone(), backend, dir.path());
        let handle = rt
            .block_on(tillkit_server::spawn_with_store(db.store(), config.clone()))
            .expect("server starts");
        Server {
            rt,
            dir,
            handle: Some(handle),
            db,
            config,
        }
    }

    /// The running server's address.
    pub fn addr(&self) -> SocketAddr {
        self.handle.as_ref().expect("server is running").addr()
    }

    /// `http://127.0.0.1:<port>` (`https://` when it serves TLS).
    pub fn url(&self) -> String {
        self.handle.as_ref().expect("server is running").base_url()
    }

    /// The server's storage, for admin calls and checks.
    pub fn store(&self) -> &Db {
        &self.db
    }

    /// Issues a token for `register` of `store_id`.
    pub fn token(&self, store_id: &str, register: &str) -> String {
        self.db.token(store_id, register)
    }

    /// Starts a fault proxy in front of this server.
    pub fn proxy(&self) -> Proxy {
        Proxy::start(self.rt.handle(), self.addr())
    }

    /// Stops the server (in-flight requests finish first). Its data stays.
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt
                .block_on(h.shutdown())
                .expect("server stops cleanly");
        }
    }

    /// Starts the server again on the same database, opened anew (on a new port).
    pub fn restart(&mut self) {
        self.stop();
        let store = self
            .rt
            .block_on(tillkit_server::store::open(self.db.location()))
            .expect("server database reopens");
        self.db.store = store;
        let handle = self
            .rt
            .block_on(tillkit_server::spawn_with_store(
                self.db.store(),
                self.config.clone(),
            ))
            .expect("server restarts");
        self.handle = Some(handle);
    }

    /// A plain HTTP client (for a test acting as another device or an operator).
    pub fn http(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client")
    }

    /// `POST` a batch body to `store_id` with `token`; returns (status, JSON answer).
    pub fn post_batch(
        &self,
        store_id: &str,
        token: &str,
        body: String,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}/v1/stores/{store_id}/sales/batch", self.url());
        let client = self.http();
        self.rt.block_on(async {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("upload request");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(serde_json::Value::Null))
        })
    }

    /// `GET` a path with `token`; returns the JSON answer (panics unless 200).
    pub fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.url());
        let client = self.http();
        self.rt.block_on(async {
            let resp = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status().as_u16(), 200, "GET {path}");
            resp.json().await.expect("JSON answer")
        })
    }

    /// Checks the promise every sync test ends with: the server holds exactly `sales` for
    /// `store_id`, once each (see `assert_store_holds_exactly`).
    pub fn assert_holds_exactly(&self, store_id: &str, sales: &[SaleRecord]) {
        assert_store_holds_exactly(&self.db, store_id, sales);
    }
}

/// Checks the promise every sync test ends with: `store` holds exactly `sales` for
/// `store_id`, once each, as the devices recorded them, and one stock movement per
/// stock-tracked line (a re-sent sale must not move stock twice).
pub fn assert_store_holds_exactly(store: &Db, store_id: &str, sales: &[SaleRecord]) {
    let summary = store.summary(store_id).expect("summary");
    assert_eq!(
        summary.sale_count,
        sales.len() as u64,
        "sales stored on the server"
    );
    let total: Decimal = sales.iter().map(|s| s.total).sum();
    let tax: Decimal = sales.iter().map(|s| s.tax_total).sum();
    assert_eq!(summary.total, total, "server total vs the devices' sales");
    assert_eq!(
        summary.tax_total, tax,
        "server tax total vs the devices' sales"
    );
    for sale in sales {
        let stored = store
            .stored_sale(store_id, &sale.sale_id.to_string())
            .expect("stored_sale")
            .unwrap_or_else(|| {
                panic!(
                    "sale {} ({}) never reached the server",
                    sale.sale_id, sale.receipt_no
                )
            });
        assert_eq!(
            &stored.record, sale,
            "the server's copy of {} differs",
            sale.receipt_no
        );
        assert_eq!(
            stored.uploaded_by, sale.register_id,
            "uploader of {}",
            sale.receipt_no
        );
    }
    // (product, register) -> (movements, total) as the devices' sales imply.
    let mut expected: BTreeMap<(String, String), (u64, Decimal)> = BTreeMap::new();
    for sale in sales {
        for line in sale.lines.iter().filter(|l| l.stock_tracked) {
            let e = expected
                .entry((line.product_id.clone(), sale.register_id.clone()))
                .or_default();
            e.0 += 1;
            e.1 -= line.quantity;
        }
    }
    let audit = store.stock_audit(store_id).expect("stock audit");
    let mut actual = BTreeMap::new();
    for p in &audit.products {
        for r in &p.registers {
            actual.insert(
                (p.product_id.clone(), r.register_id.clone()),
                (r.movements, r.total),
            );
        }
    }
    assert_eq!(actual, expected, "stock movements on the server");
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A key vault in a file, with a receipt book (the receipt numbers reserved before use) in
/// `<key file>.receipts` beside it, so a parent test and its child processes share a
/// device's key and reservations as they would share the OS keychain (tests only: a real
/// till keeps both in the OS keychain).
pub struct FileVault(pub PathBuf);

impl FileVault {
    /// The highest receipt number reserved for a register (0: none).
    pub fn reserved(&self, store_id: &str, register_id: &str) -> u64 {
        FileBook(self.book_path())
            .load()
            .expect("the receipt book reads")
            .through(store_id, register_id)
    }

    fn book_path(&self) -> PathBuf {
        let mut path = self.0.clone().into_os_string();
        path.push(".receipts");
        PathBuf::from(path)
    }
}

/// A `FileVault`'s receipt book: replaced whole (written aside, synced, renamed over), as a
/// keychain entry is, so a kill never leaves half a book.
struct FileBook(PathBuf);

impl ReceiptBook for FileBook {
    fn load(&self) -> tillkit_core::Result<Reservations> {
        match std::fs::read(&self.0) {
            Ok(bytes) => Reservations::decode(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Reservations::default()),
            Err(e) => Err(tillkit_core::Error::Keychain(e.to_string())),
        }
    }

    fn save(&self, reservations: &Reservations) -> tillkit_core::Result<()> {
        let keychain = |e: std::io::Error| tillkit_core::Error::Keychain(e.to_string());
        let mut aside = self.0.clone().into_os_string();
        aside.push(".new");
        let aside = PathBuf::from(aside);
        {
            let mut file = std::fs::File::create(&aside).map_err(keychain)?;
            std::io::Write::write_all(&mut file, &reservations.encode()?).map_err(keychain)?;
            file.sync_all().map_err(keychain)?;
        }
        std::fs::rename(&aside, &self.0).map_err(keychain)?;
        if let Some(dir) = self.0.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(keychain)?;
        }
        Ok(())
    }
}

impl KeyVault for FileVault {
    fn load(&self) -> tillkit_core::Result<Option<DbKey>> {
        match std::fs::read(&self.0) {
            Ok(bytes) => DbKey::decode(&Zeroizing::new(bytes)).map(Some),
            Err(_) => Ok(None),
        }
    }
    fn save(&self, key: &DbKey) -> tillkit_core::Result<()> {
        std::fs::write(&self.0, key.encode().as_bytes())
            .map_err(|e| tillkit_core::Error::Keychain(e.to_string()))
    }
    fn receipt_book(&self) -> Option<Arc<dyn ReceiptBook>> {
        Some(Arc::new(FileBook(self.book_path())))
    }
}

/// Sync settings for tests: HTTPS, as on a phone, quick retries (20 ms base, 500 ms cap) and
/// the quickest outage probes a register allows (every 0.5 to 1.5 s), so faults recover in
/// about a second. A plain `http://127.0.0.1:<port>` is reached over HTTPS with the test CA
/// (`tls::test_ca`) as the device's only private root, and plain HTTP is not allowed: a
/// fault proxy's URL becomes the proxy's own HTTPS port (`Proxy::https_url`: the faults hit
/// the device's TLS connection), a server's URL a TLS terminator in front of it
/// (`https_front`). An `https://` URL is kept as given. Timeouts stay at their defaults.
/// The outage benchmarks use `SyncConfig::new` as a shop would.
pub fn sync_config(url: &str, token: &str) -> SyncConfig {
    let mut cfg = SyncConfig::new(&https_for(url), token);
    trust_test_cas(&mut cfg);
    cfg.allow_http_loopback = false;
    cfg.backoff_base = Duration::from_millis(20);
    cfg.backoff_cap = Duration::from_millis(500);
    cfg.probe_interval = tillkit_core::sync::MIN_PROBE_INTERVAL;
    cfg
}

/// The HTTPS URL a device uses for `url`: a fault proxy's plain `http://127.0.0.1:<port>`
/// becomes the proxy's own HTTPS port (`Proxy::https_url`), a server's a TLS terminator in
/// front of it (`https_front`); anything else is kept as given.
pub fn https_for(url: &str) -> String {
    match url
        .strip_prefix("http://")
        .and_then(|rest| SocketAddr::from_str(rest.trim_end_matches('/')).ok())
        .filter(|addr| addr.ip().is_loopback())
    {
        Some(plain) => match crate::proxy::https_address_of(plain) {
            Some(proxy) => format!("https://{proxy}"),
            None => https_front(plain),
        },
        None => url.to_string(),
    }
}

/// Names the parent's test CA (PEM) to a child process, whose own `test_ca` differs: a
/// child then reaches the parent's proxies and TLS fronts over HTTPS (see `child_env`).
pub const PARENT_CA_ENV: &str = "TILLKIT_E2E_PARENT_CA";

/// The environment a child process needs to trust this process's test CA.
pub fn child_env() -> (&'static str, String) {
    (
        PARENT_CA_ENV,
        String::from_utf8_lossy(&test_ca().pem()).into_owned(),
    )
}

/// Makes `cfg` trust the test CA of this process, and that of the parent process when this
/// is a child (`PARENT_CA_ENV`), as its only private roots; plain HTTP is not allowed.
pub fn trust_test_cas(cfg: &mut SyncConfig) {
    cfg.root_certificates_pem = vec![test_ca().pem()];
    if let Ok(parent) = std::env::var(PARENT_CA_ENV) {
        cfg.root_certificates_pem.push(parent.into_bytes());
    }
    cfg.allow_http_loopback = false;
}

/// `https://127.0.0.1:<port>` of a TLS terminator in front of the plain-HTTP `upstream` (a
/// test server or fault proxy), presenting a certificate for 127.0.0.1 from `test_ca()`. One
/// per upstream address, started on first use on a runtime of its own and kept for the
/// test process, so it outlives any one test's runtime.
pub fn https_front(upstream: SocketAddr) -> String {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    static FRONTS: OnceLock<Mutex<BTreeMap<SocketAddr, TlsTerminator>>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tls-front")
            .enable_all()
            .build()
            .expect("TLS front runtime")
    });
    let mut fronts = FRONTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    fronts
        .entry(upstream)
        .or_insert_with(|| {
            TlsTerminator::start(runtime.handle(), test_ca().issue(&["127.0.0.1"]), upstream)
        })
        .url("127.0.0.1")
}

/// A device: a real till (its own data dir and key) and, while started, its sync engine.
/// `sales` collects every sale it completed, as `complete_sale` returned it.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub till: Arc<Till>,
    pub engine: Option<SyncEngine>,
    pub sales: Vec<SaleRecord>,
}

impl Device {
    /// Opens a fresh till with an in-memory key and a session for `store_id`/`register`.
    pub fn new(store_id: &str, register: &str) -> Device {
        let dir = device_dir();
        let vault = MemoryVault::default();
        let till = Till::open_with_vault(Config::new(dir.path()), &vault).expect("till opens");
        till.login(store_id, register, "alice").expect("login");
        Device {
            dir,
            till: Arc::new(till),
            engine: None,
            sales: Vec::new(),
        }
    }

    /// A device syncing with `url` using `cfg` (see `sync_config`); waits until its first
    /// round is over (catalogue pulled, empty queue acknowledged), so that a test taking it
    /// offline next knows no round is still under way.
    pub fn online(store_id: &str, register: &str, cfg: SyncConfig) -> Device {
        let mut dev = Device::new(store_id, register);
        dev.start(cfg);
        dev.wait_for_catalog(store_id);
        wait_until(
            Duration::from_secs(20),
            "the first sync round to finish",
            || {
                let s = dev.engine().status();
                s.last_success_at.is_some() && !s.syncing
            },
        );
        dev
    }

    /// Starts (or restarts) the sync engine with `cfg`.
    pub fn start(&mut self, cfg: SyncConfig) {
        self.engine = None;
        self.engine = Some(SyncEngine::start(self.till.clone(), cfg).expect("engine starts"));
    }

    /// The running engine.
    pub fn engine(&self) -> &SyncEngine {
        self.engine.as_ref().expect("the engine is started")
    }

    /// Waits until the till holds a catalogue for `store_id`.
    pub fn wait_for_catalog(&self, store_id: &str) {
        wait_until(
            Duration::from_secs(20),
            "the device to pull its catalogue",
            || {
                self.till
                    .catalog_cursor(store_id)
                    .expect("cursor")
                    .is_some()
            },
        );
    }

    /// The OS says the network is gone (or back).
    pub fn set_network(&self, up: bool) {
        self.engine().set_network_available(up);
    }

    /// Rings one sale of `(product, quantity)` lines, paid exactly in cash, and remembers it.
    pub fn ring(&mut self, items: &[(&str, &str)]) -> SaleRecord {
        let sale = ring(&self.till, items, false);
        self.sales.push(sale.clone());
        sale
    }

    /// Rings `n` varied sales (weighed cheese, tracked seats, untracked bread, some paid
    /// with change); never the kettle, which tests sell explicitly.
    pub fn ring_many(&mut self, n: usize) {
        for i in 0..n {
            let items: &[(&str, &str)] = match i % 4 {
                0 => &[("p-bread", "2")],
                1 => &[("p-cheese", "0.125"), ("p-bread", "1")],
                2 => &[("p-seat", "1")],
                _ => &[("p-seat", "2"), ("p-bread", "3")],
            };
            let sale = ring(&self.till, items, i % 3 == 0);
            self.sales.push(sale);
        }
    }

    /// Waits until the engine has emptied this device's queue (every store).
    pub fn wait_drained(&self, timeout: Duration) {
        assert!(
            self.engine().wait_until_drained(timeout),
            "the queue did not drain in {timeout:?}: {:?}",
            self.engine().status()
        );
    }

    /// Waits until the queue drains for as long as it keeps draining: fails once `stall` goes
    /// by without the pending count falling (a hang), or after `cap` in all. For schedules
    /// where every fault costs a health probe's spacing, so the total time depends on how
    /// many faults a seed draws, but a stranded queue still shows within `stall`.
    pub fn wait_drained_while_progressing(&self, stall: Duration, cap: Duration) {
        let started = Instant::now();
        let mut lowest = self.engine().status().pending;
        let mut fell_at = Instant::now();
        loop {
            if self.engine().wait_until_drained(Duration::from_millis(250)) {
                return;
            }
            let pending = self.engine().status().pending;
            if pending < lowest {
                lowest = pending;
                fell_at = Instant::now();
            }
            assert!(
                fell_at.elapsed() < stall && started.elapsed() < cap,
                "the queue stopped draining ({lowest} pending for {:?}, {:?} in all): {:?}",
                fell_at.elapsed(),
                started.elapsed(),
                self.engine().status()
            );
        }
    }

    /// Pending sale ids of `store_id` on this device (any session), oldest first.
    pub fn pending_ids(&self, store_id: &str) -> Vec<String> {
        pending_ids(&self.till, store_id)
    }
}

/// Opens the till in `data_dir` with the key in the file `key_file` (shared across
/// processes) and a session for `store_id`/`register`.
pub fn open_with_key_file(
    data_dir: &Path,
    key_file: &Path,
    store_id: &str,
    register: &str,
) -> Arc<Till> {
    let till = Till::open_with_vault(Config::new(data_dir), &FileVault(key_file.to_path_buf()))
        .expect("till opens");
    till.login(store_id, register, "alice").expect("login");
    Arc::new(till)
}

/// A temp dir for a device's data: in memory-backed `/dev/shm` where there is one, since
/// these tests are about sync, not fsync (durability has its own tests in core), and
/// thousands of sales ring several times faster without a disk flush each.
pub fn device_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("tillkit-e2e-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("tempdir")
}

/// Rings one sale on `till`; cash exact or (with `change`) the next multiple of 10.
pub fn ring(till: &Till, items: &[(&str, &str)], change: bool) -> SaleRecord {
    let mut cart = till.new_cart().expect("cart");
    for (product, qty) in items {
        till.add_product(&mut cart, product, d(qty))
            .expect("add product");
    }
    let total = cart.totals().expect("totals").total;
    let tendered = if change {
        ((total / d("10")).floor() + Decimal::ONE) * d("10")
    } else {
        total
    };
    till.complete_sale(
        &cart,
        &[Payment {
            method: PaymentMethod::Cash,
            amount: tendered,
            reference: None,
        }],
    )
    .expect("sale completes")
    .record
}

/// Pending sale ids of `store_id` in `till`'s queue, oldest first.
pub fn pending_ids(till: &Till, store_id: &str) -> Vec<String> {
    tillkit_core::testing::pending_ids(till, store_id).expect("queue")
}

/// Polls `done` every 10 ms until it holds; panics naming `what` after `timeout`.
/// The timeout only guards against a hang; it asserts nothing about speed.
pub fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Remembers every status an engine published, for checks after the fact.
#[derive(Default)]
pub struct StatusLog(Mutex<Vec<SyncStatus>>);

impl StatusListener for StatusLog {
    fn on_status(&self, status: SyncStatus) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(status);
    }
}

impl StatusLog {
    /// Every status so far, in order.
    pub fn seen(&self) -> Vec<SyncStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether some status so far had a `last_error` containing `text`.
    pub fn showed_error(&self, text: &str) -> bool {
        self.seen()
            .iter()
            .any(|s| s.last_error.as_deref().is_some_and(|e| e.contains(text)))
    }
}

/// Subscribes a status log to the device's engine: it sees every status from now on.
pub fn watch_status(dev: &Device) -> (Arc<StatusLog>, tillkit_core::sync::Subscription) {
    let log = Arc::new(StatusLog::default());
    let sub = dev.engine().subscribe(log.clone());
    (log, sub)
}

/// Nothing is set aside now, and no status the log saw had a sale set aside: only the
/// server's own verdict sets a sale aside, and these cases have none.
pub fn assert_none_set_aside(dev: &Device, log: &StatusLog) {
    assert!(
        dev.till.attention_sales(10).expect("attention").is_empty(),
        "nothing the server did not reject is set aside"
    );
    assert_no_status_showed_set_aside(log);
}

/// No status `log` saw counted a set-aside sale.
pub fn assert_no_status_showed_set_aside(log: &StatusLog) {
    let aside: Vec<SyncStatus> = log
        .seen()
        .into_iter()
        .filter(|s| s.stores.iter().any(|b| b.set_aside > 0))
        .collect();
    assert!(
        aside.is_empty(),
        "a sale was set aside on the way: {aside:?}"
    );
}

/// Rings a sale far larger than the others: `lines` (product, quantity), ten card
/// payments of 0.01 with long references, and the rest in cash.
pub fn ring_a_large_sale(dev: &mut Device, lines: &[(&str, &str)]) -> SaleRecord {
    let till = &dev.till;
    let mut cart = till.new_cart().expect("cart");
    for (product, qty) in lines {
        till.add_product(&mut cart, product, d(qty)).expect("add");
    }
    let total = cart.totals().expect("totals").total;
    let mut payments: Vec<Payment> = (0..10)
        .map(|i| Payment {
            method: PaymentMethod::Card,
            amount: d("0.01"),
            reference: Some(format!("{i:02}-{}", "T".repeat(120))),
        })
        .collect();
    payments.push(Payment {
        method: PaymentMethod::Cash,
        amount: total - d("0.10"),
        reference: None,
    });
    let sale = till.complete_sale(&cart, &payments).expect("sale").record;
    dev.sales.push(sale.clone());
    sale
}

/// The length of a sale's record as uploaded (its JSON).
pub fn record_len(sale: &SaleRecord) -> usize {
    serde_json::to_string(sale).expect("json").len()
}

/// The longest record of the device's sales other than `big`.
pub fn longest_other_sale(dev: &Device, big: &SaleRecord) -> usize {
    dev.sales
        .iter()
        .filter(|s| s.sale_id != big.sale_id)
        .map(record_len)
        .max()
        .expect("sales")
}

/// A server, a proxy in front of it, and a device that pulled its catalogue through the
/// proxy, went offline and rang `sales` sales. Uploads go `batch_size` sales at a time;
/// `tweak` adjusts the sync settings first.
pub fn offline_device_behind_proxy(
    sales: usize,
    batch_size: usize,
    tweak: impl FnOnce(&mut SyncConfig),
) -> (Server, Proxy, Device) {
    let server = Server::start();
    let proxy = server.proxy();
    let mut cfg = sync_config(&proxy.url(), &server.token(STORE, "R1"));
    cfg.batch_size = batch_size;
    tweak(&mut cfg);
    let mut dev = Device::online(STORE, "R1", cfg);
    dev.set_network(false);
    dev.ring_many(sales);
    (server, proxy, dev)
}
