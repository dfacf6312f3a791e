//! Outages as a shop meets them, for the latency benchmarks and tests: registers selling about
//! a sale a second while the server, or the path to it, goes away and comes back with the
//! devices' network up, and how long after each outage ends each queue is empty. It measures
//! and checks that nothing was lost or doubled; it never asserts a timing.

use std::time::{Duration, Instant};

use tillkit_core::sale::SaleRecord;
use tillkit_core::sync::SyncConfig;

use crate::chaos::Rng;
use crate::child::ChildServer;
use crate::fixtures::{Backend, Db, Device, STORE, assert_store_holds_exactly, runtime};
use crate::proxy::{Link, Proxy};

/// What goes away while the registers' network stays up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The server process is killed (SIGKILL) and started again on the same address: the
    /// devices' connections are refused meanwhile.
    Server,
    /// The path: the proxy in front of each register drops every connection, by resetting
    /// it (`Link::Reset`) or by going silent (`Link::BlackHole`, a dead shop line).
    Path(Link),
}

impl Kind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Server => "server down",
            Kind::Path(Link::BlackHole) => "path black-holed",
            Kind::Path(_) => "path reset",
        }
    }
}

/// What to run.
pub struct Plan {
    pub kind: Kind,
    pub backend: Backend,
    pub registers: usize,
    /// How long each outage lasts, in order.
    pub outages: Vec<Duration>,
    /// Sales each register rings at once when an outage starts (a queue already waiting),
    /// besides one a second throughout.
    pub backlog: usize,
    /// Each register's sync settings from (url, token): a shop's are `SyncConfig::new`'s.
    pub config: fn(&str, &str) -> SyncConfig,
    /// The test whose binary serves as the server child (see `child::serve_if_child`); a
    /// benchmark binary serves itself and may pass any name.
    pub child_test: &'static str,
}

/// The sync settings a shop gets: the defaults, over HTTPS with the test CA
/// (`fixtures::https_for`, `fixtures::trust_test_cas`).
pub fn shop_config(url: &str, token: &str) -> SyncConfig {
    let mut cfg = SyncConfig::new(&crate::fixtures::https_for(url), token);
    crate::fixtures::trust_test_cas(&mut cfg);
    cfg
}

/// One register's recovery from one outage.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub outage: usize,
    pub register: usize,
    /// How long the outage was planned to last.
    pub length: Duration,
    /// How long it actually lasted, up to the moment the server could be reached again (a
    /// restarted server takes a moment to listen).
    pub lasted: Duration,
    /// Sales it rang during the outage.
    pub sales: usize,
    /// From the outage's end until its queue was empty, on the caller's clock.
    pub latency: Duration,
    /// The device's own latency sample for this recovery (`Till::metrics`), in ms.
    pub device_ms: Option<i64>,
    /// Where the device's sample starts, in ms after the outage's start.
    pub device_since_ms: Option<i64>,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Report {
    pub recoveries: Vec<Recovery>,
    /// Health requests that reached each register's proxy while an outage was on (path
    /// outages only): when each arrived.
    pub probes: Vec<Vec<Instant>>,
    /// The outages' lengths, summed.
    pub outage_time: Duration,
    /// Sales stored, each exactly once.
    pub sales: usize,
    /// The server's peak resident memory (`VmHWM`) at the end, in KiB.
    pub server_peak_rss_kib: Option<u64>,
}

impl Report {
    /// The caller's latencies, sorted.
    pub fn latencies(&self) -> Vec<Duration> {
        let mut v: Vec<Duration> = self.recoveries.iter().map(|r| r.latency).collect();
        v.sort();
        v
    }

    /// The devices' own samples in ms, sorted.
    pub fn device_samples(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.recoveries.iter().filter_map(|r| r.device_ms).collect();
        v.sort();
        v
    }

    /// Health requests per register per minute of outage (path outages).
    pub fn probes_per_minute(&self) -> f64 {
        let probes: usize = self.probes.iter().map(Vec::len).sum();
        let minutes = self.outage_time.as_secs_f64() / 60.0 * self.probes.len().max(1) as f64;
        probes as f64 / minutes.max(f64::MIN_POSITIVE)
    }

    /// The shortest gap between two health requests of one register (path outages).
    pub fn closest_probes(&self) -> Option<Duration> {
        self.probes
            .iter()
            .flat_map(|p| p.windows(2).map(|w| w[1].duration_since(w[0])))
            .min()
    }
}

/// The nearest-rank percentile `p` (0 to 100) of `sorted`.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: usize) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// `n` outage lengths spread evenly on a log scale from 10 s to `longest`, in an order
/// fixed by a seed, so short and long outages alternate.
pub fn outage_lengths(n: usize, longest: Duration) -> Vec<Duration> {
    let shortest = Duration::from_secs(10).min(longest);
    let ratio = longest.as_secs_f64() / shortest.as_secs_f64();
    let mut lengths: Vec<Duration> = (0..n)
        .map(|i| {
            let at = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            };
            Duration::from_secs_f64(shortest.as_secs_f64() * ratio.powf(at))
        })
        .collect();
    let mut rng = Rng::new(13);
    for i in (1..lengths.len()).rev() {
        lengths.swap(i, rng.below(i as u64 + 1) as usize);
    }
    lengths
}

/// How often each register rings a sale during an outage.
const SALE_EVERY: Duration = Duration::from_secs(1);
/// Guards against a hang only; it asserts nothing about speed.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(600);

/// The server, the proxies of a path outage, and how the outage starts and ends.
enum Outage {
    Server(ChildServer),
    Path(ChildServer, Vec<Proxy>, Link),
}

impl Outage {
    fn begin(&mut self) {
        match self {
            Outage::Server(server) => {
                server.kill();
            }
            Outage::Path(_, proxies, link) => proxies.iter().for_each(|p| p.set_link_state(*link)),
        }
    }

    /// Ends the outage; returns once the server can be reached again.
    fn end(&mut self) {
        match self {
            Outage::Server(server) => server.restart(),
            Outage::Path(_, proxies, _) => proxies.iter().for_each(|p| p.set_link_state(Link::Up)),
        }
    }

    fn server(&self) -> &ChildServer {
        match self {
            Outage::Server(server) | Outage::Path(server, ..) => server,
        }
    }

    fn proxies(&self) -> &[Proxy] {
        match self {
            Outage::Server(_) => &[],
            Outage::Path(_, proxies, _) => proxies,
        }
    }
}

/// Runs `plan`: the registers come online, then live through each outage, selling, and
/// recover; `on_outage` hears each outage's recoveries as they are measured. Panics if a
/// sale is lost or stored twice, or if a queue never empties.
pub fn run(plan: &Plan, mut on_outage: impl FnMut(&[Recovery])) -> Report {
    let dir = tempfile::tempdir().expect("server dir");
    let rt = runtime();
    let db = Db::create(rt.clone(), &plan.backend, dir.path());
    let names: Vec<String> = (1..=plan.registers).map(|r| format!("R{r:02}")).collect();
    let server = ChildServer::start(plan.child_test, db.location());
    let mut outage = match plan.kind {
        Kind::Server => Outage::Server(server),
        Kind::Path(link) => {
            let proxies = (0..plan.registers)
                .map(|_| Proxy::start(rt.handle(), server.addr()))
                .collect();
            Outage::Path(server, proxies, link)
        }
    };
    let mut devices: Vec<Device> = names
        .iter()
        .enumerate()
        .map(|(r, name)| {
            let url = match outage.proxies().get(r) {
                Some(proxy) => proxy.url(),
                None => outage.server().url(),
            };
            Device::online(STORE, name, (plan.config)(&url, &db.token(STORE, name)))
        })
        .collect();

    let mut report = Report {
        probes: vec![Vec::new(); outage.proxies().len()],
        ..Report::default()
    };
    for (i, length) in plan.outages.iter().copied().enumerate() {
        settle(&devices);
        let started = Instant::now();
        let started_ms = tillkit_core::time::now_ms();
        outage.begin();
        let before: Vec<usize> = devices.iter().map(|d| d.sales.len()).collect();
        for dev in &mut devices {
            dev.ring_many(plan.backlog);
        }
        sell_until(&mut devices, started + length);
        outage.end();
        let ended = Instant::now();
        let emptied = wait_all_empty(&devices);
        report.outage_time += length;

        let recoveries: Vec<Recovery> = devices
            .iter()
            .enumerate()
            .map(|(r, dev)| {
                let sample = device_sample(dev, started_ms);
                Recovery {
                    outage: i,
                    register: r,
                    length,
                    lasted: ended.duration_since(started),
                    sales: dev.sales.len() - before[r],
                    latency: emptied[r].saturating_duration_since(ended),
                    device_ms: sample.map(|(since, drained)| drained - since),
                    device_since_ms: sample.map(|(since, _)| since - started_ms),
                }
            })
            .collect();
        for (seen, proxy) in report.probes.iter_mut().zip(outage.proxies()) {
            seen.extend(
                proxy
                    .exchanges()
                    .iter()
                    .filter(|e| e.path == "/v1/health")
                    .filter(|e| e.started >= started && e.started < ended)
                    .map(|e| e.started),
            );
        }
        on_outage(&recoveries);
        report.recoveries.extend(recoveries);
    }
    let all: Vec<SaleRecord> = devices.iter().flat_map(|d| d.sales.clone()).collect();
    report.server_peak_rss_kib = outage.server().peak_rss_kib();
    drop(devices);
    assert_store_holds_exactly(&db, STORE, &all);
    report.sales = all.len();
    report
}

/// Waits until every queue is empty and no upload is under way, then a moment more, so an
/// outage begins on a register at rest.
fn settle(devices: &[Device]) {
    for dev in devices {
        dev.wait_drained(RECOVERY_TIMEOUT);
    }
    std::thread::sleep(Duration::from_millis(500));
}

/// Each register rings a sale every `SALE_EVERY`, the registers in turn, until `until`.
fn sell_until(devices: &mut [Device], until: Instant) {
    let step = SALE_EVERY / devices.len().max(1) as u32;
    let mut next = Instant::now();
    let mut r = 0;
    while next < until {
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        devices[r].ring_many(1);
        r = (r + 1) % devices.len();
        next += step;
    }
    if let Some(wait) = until.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// When each register's queue was first seen empty, polling all of them every 2 ms.
fn wait_all_empty(devices: &[Device]) -> Vec<Instant> {
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    let mut emptied: Vec<Option<Instant>> = vec![None; devices.len()];
    while emptied.iter().any(Option::is_none) {
        for (dev, at) in devices.iter().zip(emptied.iter_mut()) {
            if at.is_none() && dev.till.queue_counts().expect("counts").pending == 0 {
                *at = Some(Instant::now());
            }
        }
        assert!(
            Instant::now() < deadline,
            "a queue did not empty in {RECOVERY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    emptied.into_iter().flatten().collect()
}

/// The device's latency sample recorded since `since_ms`: (counted from, drained at), ms.
/// `None` if it recorded none (the engine writes it just after the queue empties).
fn device_sample(dev: &Device, since_ms: i64) -> Option<(i64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sample = tillkit_core::testing::inspect(&dev.till, |c| {
            Ok(c.query_row(
                "SELECT network_up, drained_at FROM sync_latency WHERE drained_at >= ?1
                 ORDER BY id DESC LIMIT 1",
                [since_ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok())
        })
        .expect("latency rows");
        if sample.is_some() || Instant::now() >= deadline {
            return sample;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The outage benchmarks' body: `REGISTERS` registers (default 4) with the default sync
/// settings through `OUTAGES` outages (default 20) of 10 s to `LONGEST_OUTAGE_SECS` (default
/// 180) of `kind`; prints each outage, then the summary, then `headline: p95 in ms` last.
pub fn bench(kind: Kind, headline: &str) {
    let plan = Plan {
        kind,
        backend: Backend::Sqlite,
        registers: env_or("REGISTERS", 4),
        outages: outage_lengths(
            env_or("OUTAGES", 20),
            Duration::from_secs(env_or("LONGEST_OUTAGE_SECS", 180)),
        ),
        backlog: 0,
        config: shop_config,
        // The benchmark binary serves as its own server child.
        child_test: "benchmark",
    };
    let secs = |d: Duration| format!("{:.1}", d.as_secs_f64());
    let count = plan.outages.len();
    println!(
        "{}: {} registers selling a sale a second each, default SyncConfig, {count} outages \
         of {} s to {} s",
        kind.name(),
        plan.registers,
        secs(plan.outages.iter().copied().min().unwrap_or_default()),
        secs(plan.outages.iter().copied().max().unwrap_or_default()),
    );
    let report = run(&plan, |recoveries| {
        let Some(first) = recoveries.first() else {
            return;
        };
        let latencies: Vec<String> = recoveries.iter().map(|r| secs(r.latency)).collect();
        // A missing sample is a broken metric, not a figure to leave out.
        let device: Vec<String> = recoveries
            .iter()
            .map(|r| {
                let ms = r.device_ms.unwrap_or_else(|| {
                    panic!(
                        "outage {}: register {} recorded no latency sample: {r:?}",
                        r.outage + 1,
                        r.register
                    )
                });
                format!("{:.1}", ms as f64 / 1e3)
            })
            .collect();
        println!(
            "outage {}/{count}: {} s, {} sales a register; queue empty after [{}] s; the \
             devices' own samples [{}] s",
            first.outage + 1,
            secs(first.lasted),
            first.sales,
            latencies.join(", "),
            device.join(", ")
        );
    });
    let latencies = report.latencies();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} sales over {} min of outages, each stored once (checked against the server)",
        report.sales,
        secs(report.outage_time / 60)
    );
    println!(
        "outage end -> queue empty (caller's clock, {} samples): p50 {:.0} ms, p95 {:.0} ms, \
         max {:.0} ms",
        latencies.len(),
        ms(percentile(&latencies, 50)),
        ms(percentile(&latencies, 95)),
        ms(percentile(&latencies, 100))
    );
    let device = report.device_samples();
    assert_eq!(
        (device.len(), latencies.len()),
        (plan.registers * count, plan.registers * count),
        "one sample per register and outage"
    );
    // How far before the outage's end each device starts counting (negative: after it).
    let mut early: Vec<i64> = report
        .recoveries
        .iter()
        .filter_map(|r| Some(r.lasted.as_millis() as i64 - r.device_since_ms?))
        .collect();
    early.sort();
    println!(
        "the devices' own metric ({} samples): p50 {} ms, p95 {} ms; it starts counting \
         {} ms (median) and at most {} ms before the outage ended, at least {} ms",
        device.len(),
        percentile(&device, 50),
        percentile(&device, 95),
        percentile(&early, 50),
        percentile(&early, 100),
        early.first().copied().unwrap_or_default()
    );
    if !report.probes.is_empty() {
        println!(
            "health requests during outages: {:.1} per register per minute; closest two of \
             one register {:.0} ms apart",
            report.probes_per_minute(),
            report.closest_probes().map_or(0.0, ms)
        );
    }
    println!("{headline}: {:.0}", ms(percentile(&latencies, 95)));
}
