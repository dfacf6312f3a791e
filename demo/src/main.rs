//! The Tillkit demo: a sync server and two registers of one store sell through a network
//! outage and then a server outage, and sync by themselves after each. It runs everything for
//! real on loopback. Usage: tillkit-demo [--data-dir DIR] [--sales N]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tillkit_core::offline_limits::{OfflineLimits, TenderLimits};
use tillkit_core::sale::{Payment, PaymentMethod};
use tillkit_core::store::key::{DbKey, KeyVault, Keychain};
use tillkit_core::sync::{Connectivity, StatusListener, SyncConfig, SyncEngine, SyncStatus};
use tillkit_core::{Config, Error, Till};
use tillkit_server::{ServerStore, admin};

const STORE: &str = "corner-shop";
const CATALOG: &str = include_str!("catalog.json");
/// How long the server stays down in step 5; each register sells a sale a second meanwhile.
const SERVER_DOWN: Duration = Duration::from_secs(6);

struct Args {
    data_dir: Option<PathBuf>,
    sales: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data_dir: None,
        sales: 25,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data-dir" => {
                args.data_dir = Some(it.next().ok_or("--data-dir needs a directory")?.into())
            }
            "--sales" => {
                let n = it.next().ok_or("--sales needs a number")?;
                args.sales = n
                    .parse()
                    .map_err(|_| format!("--sales: {n:?} is not a number"))?;
                if args.sales == 0 || args.sales > 100_000 {
                    return Err("--sales must be between 1 and 100000".into());
                }
            }
            "-h" | "--help" => {
                println!(
                    "tillkit-demo [--data-dir DIR] [--sales N]\n  --data-dir DIR  keep all files in DIR (default: a temporary directory)\n  --sales N       sales per register during the outage (default 25)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// The demo keeps each register's database key in the OS keychain. Where the machine has
/// no usable keychain (e.g. a container without kernel keyrings), it keeps the key in a
/// file next to the data instead and says so: fine for a demo, never for a till.
enum DemoVault {
    Os(Keychain),
    File(PathBuf),
}

impl KeyVault for DemoVault {
    fn load(&self) -> tillkit_core::Result<Option<DbKey>> {
        match self {
            DemoVault::Os(k) => k.load(),
            DemoVault::File(p) => match std::fs::read(p) {
                Ok(b) => DbKey::decode(&b).map(Some),
                Err(_) => Ok(None),
            },
        }
    }
    fn save(&self, key: &DbKey) -> tillkit_core::Result<()> {
        match self {
            DemoVault::Os(k) => k.save(key),
            DemoVault::File(p) => std::fs::write(p, key.encode().as_bytes())
                .map_err(|e| Error::Keychain(e.to_string())),
        }
    }
}

fn vault_for(dir: &Path, register: &str) -> DemoVault {
    let account = format!("demo-{}-{register}", std::process::id());
    let os = Keychain::new("app.tillkit.demo", &account);
    if let Ok(k) = os {
        let probe = DbKey::generate().and_then(|key| k.save(&key).and_then(|_| k.load()));
        if matches!(probe, Ok(Some(_))) {
            return DemoVault::Os(k);
        }
    }
    println!(
        "  (no usable OS keychain here: {register}'s key is kept in a file in the data directory)"
    );
    DemoVault::File(dir.join(format!("{register}.key")))
}

/// Prints progress as the status changes (called on a core thread).
struct Progress {
    name: &'static str,
    last: Mutex<Option<u64>>,
}

impl StatusListener for Progress {
    fn on_status(&self, s: SyncStatus) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if *last != Some(s.pending) {
            *last = Some(s.pending);
            println!(
                "  {} {} | pending {:>4}{}",
                self.name,
                pill(&s),
                s.pending,
                if s.syncing { " | syncing" } else { "" }
            );
        }
    }
}

fn pill(s: &SyncStatus) -> &'static str {
    match s.connectivity {
        Connectivity::Online => "[ONLINE  green]",
        Connectivity::Offline => "[OFFLINE amber]",
    }
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

struct Register {
    name: &'static str,
    till: Arc<Till>,
    engine: SyncEngine,
    /// Card payments an offline limit refused (the cashier took cash instead).
    card_refused: std::sync::atomic::AtomicU64,
}

/// The store's offline limits the demo's admin sets: card only; cash has none.
fn demo_limits() -> OfflineLimits {
    OfflineLimits {
        card: TenderLimits {
            max_offline_secs: Some(24 * 3600),
            max_sale: Some(d("100.00")),
            max_total: Some(d("250.00")),
        },
        cash: TenderLimits::default(),
    }
}

/// One line for a register's offline limits: the window's card total and the most pressing
/// warning (which limit, how close).
fn limits_line(till: &Till) -> Result<String, Error> {
    let s = till.offline_status()?;
    let Some(w) = &s.window else {
        return Ok("no offline window open".into());
    };
    let warning = match s.warnings.first() {
        Some(x) => format!(
            " | WARNING {} {}% ({} of {}){}",
            x.limit,
            x.percent,
            x.used,
            x.max,
            if x.reached {
                ": REACHED, cash only"
            } else {
                ""
            }
        ),
        None => " | no limit near".into(),
    };
    Ok(format!(
        "offline window: {} sales, card £{} of £{}{warning}",
        w.sales,
        w.card_total,
        s.limits.card.max_total.unwrap_or_default()
    ))
}

/// Rings `n` sales on a register (printing a few when `show`); every third sale includes
/// the limited mug so the two registers together sell more mugs than the store has.
fn ring_sales(r: &Register, n: usize, seed: usize, show: bool) -> Result<Decimal, Error> {
    let mut takings = Decimal::ZERO;
    let baskets: [&[(&str, &str)]; 5] = [
        &[("flat-white", "1"), ("croissant", "2")],
        &[("coffee", "1"), ("tote", "1")],
        &[("bread", "1"), ("cheese", "0.350")],
        &[("seat", "1")],
        &[("flat-white", "2"), ("bread", "1"), ("croissant", "1")],
    ];
    for i in 0..n {
        let mut cart = r.till.new_cart()?;
        for (product, qty) in baskets[(i + seed) % baskets.len()] {
            r.till.add_product(&mut cart, product, d(qty))?;
        }
        if i % 3 == 0 {
            r.till.add_barcode(&mut cart, "5060000000017", d("1"))?;
        }
        if i % 7 == 3 {
            r.till.apply_discount(&mut cart, "staff10", None, None)?;
        }
        let total = cart.totals()?.total;
        let payments = if i % 2 == 0 {
            vec![Payment {
                method: PaymentMethod::Card,
                amount: total,
                reference: Some(format!("TERM-{}-{i}", r.name)),
            }]
        } else {
            // Cash, rounded up to the next pound: change is given.
            vec![Payment {
                method: PaymentMethod::Cash,
                amount: total.ceil(),
                reference: None,
            }]
        };
        let sale = match r.till.complete_sale(&cart, &payments) {
            // An offline limit refused the card (nothing was written): the customer pays cash.
            Err(e @ Error::OfflineLimit { .. }) => {
                let refused = r
                    .card_refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if show && refused == 0 {
                    println!("  {} card refused: {e}; the customer pays cash", r.name);
                }
                let cash = [Payment {
                    method: PaymentMethod::Cash,
                    amount: total.ceil(),
                    reference: None,
                }];
                r.till.complete_sale(&cart, &cash)?
            }
            other => other?,
        };
        takings += sale.record.total;
        if !show {
            continue;
        }
        if i < 2 || i + 1 == n {
            let rec = &sale.record;
            println!(
                "  {} sold {} | {} lines | total £{} (VAT £{}){}{}",
                r.name,
                rec.receipt_no,
                rec.lines.len(),
                rec.total,
                rec.tax_total,
                if rec.change_due > Decimal::ZERO {
                    format!(" | change £{}", rec.change_due)
                } else {
                    String::new()
                },
                if rec.oversold { " | OVERSOLD" } else { "" },
            );
        } else if i == 2 {
            println!("  {} ...", r.name);
        }
    }
    Ok(takings)
}

fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TILLKIT_LOG")
                .unwrap_or_else(|_| "off".into()),
        )
        .try_init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tillkit-demo: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("tillkit-demo failed: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let _temp;
    let root = match args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            dir
        }
        None => {
            _temp = tempfile::tempdir()?;
            _temp.path().to_path_buf()
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    println!(
        "== 1. Sync server on loopback, embedded store at {}",
        root.join("server.db").display()
    );
    let server = rt.block_on(tillkit_server::spawn_local(&root.join("server.db")))?;
    let store = server.store();
    let catalog: serde_json::Value = serde_json::from_str(CATALOG)?;
    if rt
        .block_on(admin::create_store(
            store.as_ref(),
            STORE,
            "Tillkit Corner Shop",
        ))
        .is_err()
    {
        println!("  (store exists from an earlier run: reusing it)");
    }
    rt.block_on(admin::load_catalog_json(store.as_ref(), STORE, catalog))?;
    let cursor = rt.block_on(admin::set_offline_limits(
        store.as_ref(),
        STORE,
        &demo_limits(),
    ))?;
    println!(
        "  offline limits set by the admin (catalogue cursor {cursor}): card at most £100.00 a \
         sale and £250.00 in all while offline, for 24 h; cash unlimited"
    );
    println!(
        "  listening on {}; catalogue: 8 products, UK VAT 20/5/0%",
        server.base_url()
    );

    println!("\n== 2. Two registers, each with its own encrypted database and keychain key");
    let mut registers = Vec::new();
    for name in ["R01", "R02"] {
        let token = rt.block_on(admin::create_register(store.as_ref(), STORE, name))?;
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        let vault = vault_for(&root, name);
        let till = Arc::new(Till::open_with_vault(Config::new(&dir), &vault)?);
        till.login(STORE, name, "demo-cashier")?;
        let mut cfg = SyncConfig::new(&server.base_url(), token.expose());
        cfg.allow_http_loopback = true;
        cfg.backoff_base = Duration::from_millis(100);
        cfg.backoff_cap = Duration::from_secs(2);
        let engine = SyncEngine::start(till.clone(), cfg)?;
        registers.push(Register {
            name: if name == "R01" { "R01" } else { "R02" },
            till,
            engine,
            card_refused: std::sync::atomic::AtomicU64::new(0),
        });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while registers
        .iter()
        .any(|r| r.till.catalog_cursor(STORE).ok().flatten().is_none())
    {
        if Instant::now() > deadline {
            return Err("the registers did not receive the catalogue".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for r in &registers {
        let s = r.engine.status();
        println!(
            "  {} {} | catalogue cursor {} | {} mugs in stock",
            r.name,
            pill(&s),
            r.till.catalog_cursor(STORE)?.unwrap_or_default(),
            r.till.product("mug-ltd")?.stock
        );
    }

    println!(
        "\n== 3. The internet drops. Both registers keep selling ({} sales each)",
        args.sales
    );
    for r in &registers {
        r.engine.set_network_available(false);
    }
    let mut device_takings = Decimal::ZERO;
    for (i, r) in registers.iter().enumerate() {
        device_takings += ring_sales(r, args.sales, i, true)?;
    }
    let offline_refund = refund_offline(&registers[0])?;
    device_takings += offline_refund.sale_total;
    for r in &registers {
        let s = r.engine.status();
        let age = s
            .oldest_pending_age()
            .map(|a| format!("{:.1}s", a.as_secs_f64()))
            .unwrap_or_default();
        println!(
            "  {} {} | pending {} | oldest {age} | server has none of them",
            r.name,
            pill(&s),
            s.pending
        );
    }
    for r in &registers {
        println!(
            "  {} {} | {} card payment(s) refused, taken in cash",
            r.name,
            limits_line(&r.till)?,
            r.card_refused.load(std::sync::atomic::Ordering::Relaxed)
        );
    }

    println!("\n== 4. Connectivity returns: the queues drain by themselves");
    let subscriptions: Vec<_> = registers
        .iter()
        .map(|r| {
            r.engine.subscribe(Arc::new(Progress {
                name: r.name,
                last: Mutex::new(None),
            }))
        })
        .collect();
    let started = Instant::now();
    for r in &registers {
        r.engine.set_network_available(true);
    }
    for r in &registers {
        if !r.engine.wait_until_drained(Duration::from_secs(60)) {
            return Err(format!("{} did not drain within a minute", r.name).into());
        }
    }
    println!(
        "  both queues empty {} ms after the network came back",
        started.elapsed().as_millis()
    );
    for r in &registers {
        // The window closes in the transaction that empties the queue.
        println!(
            "  {} {}: card sales allowed again",
            r.name,
            limits_line(&r.till)?
        );
    }
    // Let the listeners print the final state before they are dropped.
    std::thread::sleep(Duration::from_millis(100));
    drop(subscriptions);

    let (server, outage_takings) = server_outage(&rt, server, &registers)?;
    device_takings += outage_takings;
    // The croissants of the refund's sale (step 3b) are a sale too.
    let rung = 2 * args.sales + 2 * SERVER_DOWN.as_secs() as usize + 1;

    println!("\n== 7. What the server holds");
    let summary = rt.block_on(store.summary(STORE))?;
    println!(
        "  sales: {} (devices rang {rung}), takings £{} (devices: £{}), VAT £{}",
        summary.sale_count, summary.total, device_takings, summary.tax_total
    );
    if summary.sale_count as usize != rung || summary.total != device_takings {
        return Err("the server's totals do not match the devices'".into());
    }
    println!(
        "  sales whose tax the server computed differently: {}",
        summary.sales_with_tax_difference
    );
    let audit = rt.block_on(store.stock_audit(STORE))?;
    for p in audit.products.iter().filter(|p| !p.below_zero.is_empty()) {
        let regs: Vec<String> = p
            .registers
            .iter()
            .map(|m| format!("{} sold {}", m.register_id, -m.total))
            .collect();
        println!(
            "  OVERSOLD {}: started at {}, now {} ({})",
            p.name.as_deref().unwrap_or(&p.product_id),
            p.starting_stock,
            p.current_stock,
            regs.join(", ")
        );
        for b in p.below_zero.iter().take(3) {
            println!(
                "    {} on {} left stock at {}",
                b.receipt_no, b.register_id, b.stock_after
            );
        }
        if p.below_zero.len() > 3 {
            println!("    ... {} more sales below zero", p.below_zero.len() - 3);
        }
    }

    refund_held(&rt, store.as_ref(), &offline_refund)?;

    println!("\n== 8. Operator metrics");
    for r in &registers {
        let m = r.till.metrics()?;
        println!(
            "  {}: sales completed while offline {}/{} ({}), sync latency after an outage p50 {} / p95 {} ({} outages), database {} KiB, queued {} B, free space {} MiB",
            r.name,
            m.offline_completed,
            m.offline_attempts,
            m.offline_success_rate
                .map(|x| format!("{:.0}%", x * 100.0))
                .unwrap_or("-".into()),
            m.sync_latency_p50_ms
                .map(|x| format!("{x} ms"))
                .unwrap_or("-".into()),
            m.sync_latency_p95_ms
                .map(|x| format!("{x} ms"))
                .unwrap_or("-".into()),
            m.latency_samples,
            m.database_bytes / 1024,
            m.queued_bytes,
            m.free_bytes
                .map(|b| (b / (1024 * 1024)).to_string())
                .unwrap_or("-".into()),
        );
    }
    journal_audit(&rt, store.as_ref(), &registers)?;
    drop(registers);
    server.stop(&rt)?;
    println!("\nDone: every sale made offline reached the server exactly once.");
    Ok(())
}

/// The refund given offline (step 3b), for the server's check in step 7b.
struct OfflineRefund {
    register: &'static str,
    sale_receipt: String,
    sale_total: Decimal,
    refund_receipt: String,
    refund_total: Decimal,
}

/// Step 3b: with the network still off, a customer brings one of two croissants back. The
/// refund is its own record with its own receipt number, queued behind its sale; the refund
/// screen re-sends it with the same refund id and gets the same refund back.
fn refund_offline(r: &Register) -> Result<OfflineRefund, Box<dyn std::error::Error>> {
    use tillkit_core::refund::{RefundItem, RefundLines, RefundRequest, RefundTender, SaleRef};
    println!("\n== 3b. Still offline, a customer brings a croissant back");
    let mut cart = r.till.new_cart()?;
    r.till.add_product(&mut cart, "croissant", d("2"))?;
    let total = cart.totals()?.total;
    let sale = r
        .till
        .complete_sale(
            &cart,
            &[Payment {
                method: PaymentMethod::Cash,
                amount: total,
                reference: None,
            }],
        )?
        .record;
    // Made once when the refund screen opens; every retry of this refund sends it again.
    let request = RefundRequest {
        refund_id: uuid::Uuid::now_v7(),
        sale: SaleRef::Receipt(sale.receipt_no.clone()),
        lines: RefundLines::Items(vec![RefundItem {
            line_no: 1,
            quantity: d("1"),
            restock: true,
        }]),
        tender: RefundTender::Cash,
        reason: Some("not wanted".into()),
    };
    let refund = r.till.refund(&request)?;
    println!(
        "  {} sold {} (£{}), then refunded 1 of its 2 croissants as {}: £{} back in cash (VAT £{})",
        r.name,
        sale.receipt_no,
        sale.total,
        refund.record.receipt_no,
        refund.record.amount_paid,
        refund.record.tax_total
    );
    let resent = r.till.refund(&request)?;
    if !resent.already_written || resent.record != refund.record {
        return Err("the re-sent refund was written twice".into());
    }
    println!(
        "  the refund screen re-sends it with the same refund id: {} again, nothing written twice",
        resent.record.receipt_no
    );
    let queue = r.till.pending_sales(1_000)?;
    let at = |receipt: &str| queue.iter().position(|q| q.receipt_no == receipt);
    let (Some(sale_at), Some(refund_at)) = (at(&sale.receipt_no), at(&refund.record.receipt_no))
    else {
        return Err("the sale and its refund are not both queued".into());
    };
    if refund_at < sale_at {
        return Err("the refund is queued before its sale".into());
    }
    println!(
        "  {} {} | pending {} | the refund is queued offline behind its sale ({} of {}, after {})",
        r.name,
        pill(&r.engine.status()),
        queue.len(),
        refund_at + 1,
        queue.len(),
        sale_at + 1
    );
    Ok(OfflineRefund {
        register: r.name,
        sale_receipt: sale.receipt_no,
        sale_total: sale.total,
        refund_receipt: refund.record.receipt_no,
        refund_total: refund.record.total,
    })
}

/// Step 7b: the refund given offline reached the server once, after its sale (the server
/// accepts a refund only once it holds the sale, and the queue sends it behind it).
fn refund_held(
    rt: &tokio::runtime::Runtime,
    store: &dyn ServerStore,
    refund: &OfflineRefund,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== 7b. The refund given offline");
    let summary = rt.block_on(store.summary(STORE))?;
    println!(
        "  the server holds refunds: {}, £{} given back (VAT £{})",
        summary.refund_count, summary.refund_total, summary.refund_tax_total
    );
    if summary.refund_count != 1 || summary.refund_total != refund.refund_total {
        return Err("the server's refunds do not match the device's".into());
    }
    println!(
        "  {}'s {} uploaded after its sale {} once the connection was back",
        refund.register, refund.refund_receipt, refund.sale_receipt
    );
    Ok(())
}

/// Step 9: each register's chain of records as the server verifies it, and as the device's
/// own export verifies it, agreeing on the newest record.
fn journal_audit(
    rt: &tokio::runtime::Runtime,
    store: &dyn ServerStore,
    registers: &[Register],
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== 9. The journal: every record chained to the one before it (SHA-256)");
    let audit = rt.block_on(store.journal_audit(STORE))?;
    for r in registers {
        let Some(on_server) = audit.registers.iter().find(|j| j.register_id == r.name) else {
            return Err(format!("the server has no journal of {}", r.name).into());
        };
        let on_device = r.till.verify_journal()?;
        let head = |h: &Option<tillkit_core::journal::Anchor>| {
            h.as_ref().map_or("none".to_string(), |a| {
                format!("{} {}...", a.seq, a.hash.get(..12).unwrap_or(&a.hash))
            })
        };
        println!(
            "  {}: server {} ({} records, {} gaps, {} forks, {} breaks), device {}, head {}",
            r.name,
            if on_server.intact {
                "intact"
            } else {
                "NOT INTACT"
            },
            on_server.records,
            on_server.gaps.len(),
            on_server.forks.len(),
            on_server.breaks.len(),
            if on_device.intact {
                "intact"
            } else {
                "NOT INTACT"
            },
            head(&on_server.head),
        );
        if on_device.head != on_server.head {
            return Err(
                format!("{}: the device and the server disagree on the head", r.name).into(),
            );
        }
    }
    if !audit.intact {
        return Err("the server's journal audit is not intact".into());
    }
    Ok(())
}

/// The server, restarted on the address it had: the registers were never told.
struct Restarted {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tillkit_server::ServerError>>,
}

impl Restarted {
    fn start(
        rt: &tokio::runtime::Runtime,
        store: Arc<dyn ServerStore>,
        addr: SocketAddr,
    ) -> Result<Restarted, Box<dyn std::error::Error>> {
        let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(tillkit_server::serve(store, listener, async {
            let _ = stopped.await;
        }));
        Ok(Restarted { stop, task })
    }

    fn stop(self, rt: &tokio::runtime::Runtime) -> Result<(), Box<dyn std::error::Error>> {
        let _ = self.stop.send(());
        rt.block_on(self.task)??;
        Ok(())
    }
}

/// Step 5 and 6: the server stops while the registers' network stays up (their connections
/// are refused), they sell a sale a second, and the server comes back on its address. The
/// registers notice by themselves (a health probe every few seconds); each one's own latency
/// metric counts from its last request that got no answer. Returns the server and the
/// takings rung meanwhile.
fn server_outage(
    rt: &tokio::runtime::Runtime,
    server: tillkit_server::ServerHandle,
    registers: &[Register],
) -> Result<(Restarted, Decimal), Box<dyn std::error::Error>> {
    println!(
        "\n== 5. The server goes down for {} s; the shop's Wi-Fi stays up, so the registers are \
         not told. They keep selling, a sale a second each",
        SERVER_DOWN.as_secs()
    );
    let (addr, store) = (server.addr(), server.store());
    rt.block_on(server.shutdown())?;
    let mut takings = Decimal::ZERO;
    let started = Instant::now();
    for second in 1..=SERVER_DOWN.as_secs() {
        for (i, r) in registers.iter().enumerate() {
            takings += ring_sales(r, 1, second as usize + i, false)?;
        }
        let next = started + Duration::from_secs(second);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let line: Vec<String> = registers
            .iter()
            .map(|r| {
                let s = r.engine.status();
                format!("{} {} pending {:>2}", r.name, pill(&s), s.pending)
            })
            .collect();
        println!("  {second} s: {}", line.join(" | "));
    }

    println!("\n== 6. The server starts again on the same address: nobody tells the registers");
    println!(
        "  (each register's own latency metric counts from its last request that got no \
         answer: the first moment it could have known the server was back)"
    );
    let restarted = Restarted::start(rt, store, addr)?;
    let back = Instant::now();
    let back_ms = tillkit_core::time::now_ms();
    let deadline = back + Duration::from_secs(60);
    let mut emptied: Vec<Option<Duration>> = vec![None; registers.len()];
    while emptied.iter().any(Option::is_none) {
        for (r, at) in registers.iter().zip(emptied.iter_mut()) {
            if at.is_none() && r.till.queue_counts()?.pending == 0 {
                *at = Some(back.elapsed());
            }
        }
        if Instant::now() > deadline {
            return Err("the registers did not drain within a minute".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for (r, empty) in registers.iter().zip(emptied.into_iter().flatten()) {
        // The engine records its sample just after the queue empties.
        let sample = loop {
            let last = r.till.metrics()?.last_recovery;
            match last {
                Some(s) if s.drained_at >= back_ms => break s,
                _ if Instant::now() > deadline => {
                    return Err(format!("{} measured no recovery", r.name).into());
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let before = back_ms - sample.since;
        println!(
            "  {} found the server by itself: queue empty {:.1} s after it came back; its own \
             metric says {:.1} s, counted from {:.1} s {} the server was back",
            r.name,
            empty.as_secs_f64(),
            sample.millis() as f64 / 1000.0,
            before.abs() as f64 / 1000.0,
            if before >= 0 { "before" } else { "after" }
        );
    }
    Ok((restarted, takings))
}
