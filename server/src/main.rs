//! The `tillkit-server` command: `serve` the protocol, or run an `admin` action on the
//! database (a SQLite file or PostgreSQL). It prints a new token once, to stdout, never logs
//! one, and never takes one on its command line (where `ps` and shell history would show it).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tillkit_server::forwarded::Cidr;
use tillkit_server::protocol::{JournalAudit, StockAudit};
use tillkit_server::store::{self, RegisterInfo};
use tillkit_server::{ServerConfig, ServerStore, admin, tls};

const USAGE: &str = "usage:
  tillkit-server serve DB [--listen 127.0.0.1:8787] [--trusted-proxy CIDR[,CIDR...]]
                         [--tls-cert chain.pem --tls-key key.pem] [--store-wait-ms 3000]
                         (--store-wait-ms: longest a request waits for the database; then 503)
  tillkit-server admin create-store    DB --id ID --name NAME
  tillkit-server admin create-register DB --store ID --register R07   (prints the token once)
  tillkit-server admin pair-register   DB --store ID --register R07 [--minutes 10]
                                       [--link SERVER_URL]
                                       (prints a one-time pairing code once; with --link,
                                       as the pairing link a QR code holds)
  tillkit-server admin revoke-register DB --store ID --register R07   (every token of it)
  tillkit-server admin registers       DB --store ID [--json]
  tillkit-server admin revoke-token    DB [--token-file FILE]        (else the token on stdin)
  tillkit-server admin load-catalog    DB --store ID --file catalog.json
  tillkit-server admin offline-limits  DB --store ID [--card-max-offline 24h] [--card-max-sale 200.00]
                         [--card-max-total 2000.00] [--cash-max-offline D] [--cash-max-sale A]
                         [--cash-max-total A]   (sets them all: one not given is no limit)
  tillkit-server admin audit           DB --store ID [--json]        (stock, oversells, over-refunds)
  tillkit-server admin journal         DB --store ID [--json]        (each register's chain)
DB is --data FILE (SQLite, created if missing), or PostgreSQL: --database URL, --database-file FILE
  (the URL in a file), or no option and the URL in TILLKIT_DATABASE_URL; the URL is
  postgres://USER[:PASSWORD]@HOST[:PORT]/NAME[?sslmode=verify-full&sslrootcert=ca.pem]
logging: RUST_LOG (default info), to stderr";

/// Default listen address: loopback only, so exposing the server is a deliberate choice.
const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// A command-line failure: the message printed and the exit code.
#[derive(Debug)]
struct CliError(String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

/// `--key value` options plus bare `--flag`s.
struct Options {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

impl Options {
    fn parse(args: &[String], flags: &[&str]) -> Result<Options, CliError> {
        let mut values = HashMap::new();
        let mut found = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(key) = arg.strip_prefix("--") else {
                return Err(CliError(format!("unexpected argument {arg:?}")));
            };
            if flags.contains(&key) {
                found.push(key.to_string());
                continue;
            }
            let value = it
                .next()
                .ok_or_else(|| CliError(format!("--{key} needs a value")))?;
            if values.insert(key.to_string(), value.clone()).is_some() {
                return Err(CliError(format!("--{key} given twice")));
            }
        }
        Ok(Options {
            values,
            flags: found,
        })
    }

    fn get(&self, key: &str) -> Result<&str, CliError> {
        self.values
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| CliError(format!("--{key} is required")))
    }

    fn flag(&self, key: &str) -> bool {
        self.flags.iter().any(|f| f == key)
    }

    /// Where the database is: `--data FILE`, `--database URL` or `--database-file FILE`
    /// (one of them), else the URL in `TILLKIT_DATABASE_URL`. The last two keep a password
    /// out of `ps` and shell history.
    fn location(&self) -> Result<String, CliError> {
        let given: Vec<&str> = DB_OPTIONS
            .iter()
            .copied()
            .filter(|k| self.values.contains_key(*k))
            .collect();
        if given.len() > 1 {
            return Err(CliError(format!(
                "give one of --data, --database, --database-file, not {}",
                given.join(" and --")
            )));
        }
        let url_only = |url: String, from: &str| {
            if store::is_postgres_url(&url) {
                Ok(url)
            } else {
                Err(CliError(format!(
                    "{from} takes a postgres:// URL; give a SQLite file with --data"
                )))
            }
        };
        match given.first().copied() {
            Some("data") => {
                let file = &self.values["data"];
                if store::is_postgres_url(file) {
                    return Err(CliError(
                        "--data takes a file; give a PostgreSQL URL with --database".into(),
                    ));
                }
                Ok(file.clone())
            }
            Some("database") => url_only(self.values["database"].clone(), "--database"),
            Some(_) => {
                let path = &self.values["database-file"];
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CliError(format!("--database-file {path}: {e}")))?;
                url_only(text.trim().to_string(), "--database-file")
            }
            None => match std::env::var(DATABASE_URL_VAR) {
                Ok(url) if !url.trim().is_empty() => {
                    url_only(url.trim().to_string(), DATABASE_URL_VAR)
                }
                _ => Err(CliError(format!(
                    "--data FILE, --database URL, --database-file FILE or {DATABASE_URL_VAR} is required"
                ))),
            },
        }
    }

    /// The backend `location` names, opened and migrated.
    async fn store(&self) -> Result<Arc<dyn ServerStore>, CliError> {
        Ok(store::open(&self.location()?).await?)
    }

    /// Refuses options other than `allowed` and the database options.
    fn only(&self, allowed: &[&str]) -> Result<(), CliError> {
        if self.values.contains_key("token") {
            return Err(CliError(
                "tokens never go on the command line: pipe it on stdin or use --token-file".into(),
            ));
        }
        match self
            .values
            .keys()
            .find(|k| !allowed.contains(&k.as_str()) && !DB_OPTIONS.contains(&k.as_str()))
        {
            Some(k) => Err(CliError(format!("unknown option --{k}"))),
            None => Ok(()),
        }
    }
}

/// The options that pick the database, accepted by every command.
const DB_OPTIONS: &[&str] = &["data", "database", "database-file"];
/// The variable naming the PostgreSQL URL when no database option is given.
const DATABASE_URL_VAR: &str = "TILLKIT_DATABASE_URL";

/// A token for a command that needs one: from `--token-file`, else the first line of stdin.
fn read_token(o: &Options) -> Result<String, CliError> {
    let text = match o.values.get("token-file") {
        Some(path) => std::fs::read_to_string(path)?,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line
        }
    };
    Ok(text.trim().to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only help a person at a terminal; they garble log files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), CliError> {
    let runtime = || tokio::runtime::Runtime::new().map_err(CliError::from);
    match args.first().map(String::as_str) {
        Some("serve") => {
            let o = Options::parse(&args[1..], &[])?;
            runtime()?.block_on(serve(&o))
        }
        Some("admin") => {
            let command = args.get(1).map(String::as_str);
            let o = Options::parse(&args[args.len().min(2)..], &["json"])?;
            runtime()?.block_on(admin_command(command, &o))
        }
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(CliError("expected `serve` or `admin`".into())),
    }
}

async fn serve(o: &Options) -> Result<(), CliError> {
    o.only(&[
        "listen",
        "trusted-proxy",
        "tls-cert",
        "tls-key",
        "store-wait-ms",
    ])?;
    let listen: SocketAddr = o
        .values
        .get("listen")
        .map_or(DEFAULT_LISTEN, String::as_str)
        .parse()?;
    let mut config = ServerConfig::default();
    if let Some(list) = o.values.get("trusted-proxy") {
        config.trusted_proxies = list
            .split(',')
            .map(|c| c.parse::<Cidr>().map_err(CliError))
            .collect::<Result<_, _>>()?;
    }
    config.tls = match (o.values.get("tls-cert"), o.values.get("tls-key")) {
        (Some(cert), Some(key)) => Some(tls::load_pem(Path::new(cert), Path::new(key))?),
        (None, None) => None,
        _ => return Err(CliError("--tls-cert and --tls-key go together".into())),
    };
    let location = o.location()?;
    let wait = match o.values.get("store-wait-ms") {
        Some(ms) => Some(std::time::Duration::from_millis(ms.parse().map_err(
            |_| CliError(format!("--store-wait-ms takes milliseconds, not {ms:?}")),
        )?)),
        None => None,
    };
    let store = store::open_with_wait(&location, wait).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let backend = if store::is_postgres_url(&location) {
        "postgres"
    } else {
        "sqlite"
    };
    let trusted: Vec<String> = config.trusted_proxies.iter().map(Cidr::to_string).collect();
    tracing::info!(
        addr = %listener.local_addr()?,
        backend,
        tls = config.tls.is_some(),
        trusted_proxies = ?trusted,
        "serving"
    );
    tillkit_server::serve_with_config(store, listener, config, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM so in-flight batches finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

async fn admin_command(command: Option<&str>, o: &Options) -> Result<(), CliError> {
    match command {
        Some("create-store") => {
            o.only(&["id", "name"])?;
            admin::create_store(&*o.store().await?, o.get("id")?, o.get("name")?).await?;
            println!("store {} created", o.get("id")?);
        }
        Some("create-register") => {
            o.only(&["store", "register"])?;
            let token =
                admin::create_register(&*o.store().await?, o.get("store")?, o.get("register")?)
                    .await?;
            // The only place a token is ever shown: give it to the device, it cannot be recovered.
            println!("{}", token.expose());
        }
        Some("pair-register") => {
            o.only(&["store", "register", "minutes", "link"])?;
            let minutes = match o.values.get("minutes") {
                Some(m) => m
                    .parse::<u64>()
                    .map_err(|_| CliError("--minutes takes a whole number".into()))?,
                None => tillkit_server::config::PAIRING_CODE_TTL.as_secs() / 60,
            };
            let ttl = std::time::Duration::from_secs(minutes.saturating_mul(60));
            let (code, expires_at) =
                admin::pair_register(&*o.store().await?, o.get("store")?, o.get("register")?, ttl)
                    .await?;
            // Shown once: the device trades it for the register's token, once, within the time.
            // With --link, as the pairing link a QR code holds (`... | qrencode -t ansiutf8`).
            match o.values.get("link") {
                Some(server) => println!(
                    "{}",
                    tillkit_core::sync::pairing_link(server, &code.display())
                ),
                None => println!("{}", code.display()),
            }
            eprintln!(
                "one-time pairing code for register {}: valid for {minutes} minute(s), until {expires_at} (Unix ms); pairing revokes the register's earlier tokens",
                o.get("register")?
            );
        }
        Some("revoke-register") => {
            o.only(&["store", "register"])?;
            let (store_id, register) = (o.get("store")?, o.get("register")?);
            let n = admin::revoke_register(&*o.store().await?, store_id, register).await?;
            println!("{n} token(s) of register {register} revoked");
        }
        Some("registers") => {
            o.only(&["store"])?;
            let registers = admin::registers(&*o.store().await?, o.get("store")?).await?;
            if o.flag("json") {
                println!("{}", serde_json::to_string_pretty(&registers)?);
            } else {
                print_registers(&registers);
            }
        }
        Some("revoke-token") => {
            o.only(&["token-file"])?;
            let token = read_token(o)?;
            if admin::revoke_token(&*o.store().await?, &token).await? {
                println!("token revoked");
            } else {
                return Err(CliError("no live token matches".into()));
            }
        }
        Some("load-catalog") => {
            o.only(&["store", "file"])?;
            let text = std::fs::read_to_string(o.get("file")?)?;
            let value: serde_json::Value = serde_json::from_str(&text)?;
            let cursor =
                admin::load_catalog_json(&*o.store().await?, o.get("store")?, value).await?;
            println!("catalogue loaded; cursor {cursor}");
        }
        Some("offline-limits") => {
            let mut allowed = vec!["store"];
            allowed.extend(admin::OFFLINE_LIMIT_OPTIONS);
            o.only(&allowed)?;
            let limits = admin::offline_limits_from(|k| o.values.get(k).cloned())?;
            let store_id = o.get("store")?;
            let cursor = admin::set_offline_limits(&*o.store().await?, store_id, &limits).await?;
            println!(
                "offline limits of {store_id} set; catalogue cursor {cursor}\n{}",
                serde_json::to_string_pretty(&limits)?
            );
        }
        Some("audit") => {
            o.only(&["store"])?;
            let audit = o.store().await?.stock_audit(o.get("store")?).await?;
            if o.flag("json") {
                println!("{}", serde_json::to_string_pretty(&audit)?);
            } else {
                print_audit(&audit);
            }
        }
        Some("journal") => {
            o.only(&["store"])?;
            let audit = o.store().await?.journal_audit(o.get("store")?).await?;
            if o.flag("json") {
                println!("{}", serde_json::to_string_pretty(&audit)?);
            } else {
                print_journal(&audit);
            }
            if !audit.intact {
                return Err(CliError(
                    "the journal is not intact (see the report above)".into(),
                ));
            }
        }
        _ => return Err(CliError("unknown admin command".into())),
    }
    Ok(())
}

fn print_registers(registers: &[RegisterInfo]) {
    for r in registers {
        let state = if r.live_tokens > 0 {
            "active"
        } else {
            "no live token"
        };
        println!(
            "{}: {state}; {} live, {} revoked token(s); registered {}, last token issued {}",
            r.register_id,
            r.live_tokens,
            r.revoked_tokens,
            r.created_at,
            r.last_issued_at
                .map_or("never".to_string(), |t| t.to_string())
        );
    }
}

fn print_audit(audit: &StockAudit) {
    println!("stock audit of store {}", audit.store_id);
    for p in &audit.products {
        let name = p.name.as_deref().unwrap_or("(not in catalogue)");
        println!(
            "\n{} {name}: started {}, now {}{}",
            p.product_id,
            p.starting_stock,
            p.current_stock,
            if p.below_zero.is_empty() {
                ""
            } else {
                "  << OVERSOLD"
            }
        );
        for r in &p.registers {
            println!(
                "  register {}: {} movements, total {}",
                r.register_id, r.movements, r.total
            );
        }
        for b in &p.below_zero {
            println!(
                "  below zero: sale {} ({}) on register {}: {} -> stock {} (received {}, device time {})",
                b.sale_id,
                b.receipt_no,
                b.register_id,
                b.delta,
                b.stock_after,
                b.received_at,
                b.created_at
            );
        }
    }
    if audit.over_refunds_total > 0 {
        println!(
            "\nOVER-REFUNDED: {} sale line(s) refunded beyond what was sold (every refund stored and counted){}",
            audit.over_refunds_total,
            if audit.over_refunds_total > audit.over_refunds.len() as u64 {
                format!("; the first {} listed", audit.over_refunds.len())
            } else {
                String::new()
            }
        );
    }
    for o in &audit.over_refunds {
        println!(
            "  sale {} ({}) line {} {}: {} sold for {} with {} tax, {} refunded for {} with {} tax",
            o.sale_id,
            o.receipt_no,
            o.line_no,
            o.product_id,
            o.sold,
            o.sold_gross,
            o.sold_tax,
            o.refunded,
            o.refunded_gross,
            o.refunded_tax
        );
        for r in &o.refunds {
            println!(
                "    refund {} ({}) on register {}: {} back for {} (received {}, device time {})",
                r.refund_id,
                r.receipt_no,
                r.register_id,
                r.quantity,
                r.gross,
                r.received_at,
                r.created_at
            );
        }
    }
}

fn print_journal(audit: &JournalAudit) {
    println!(
        "journal audit of store {}: {}",
        audit.store_id,
        if audit.intact { "intact" } else { "NOT INTACT" }
    );
    for id in &audit.unreadable {
        println!("  record {id}: stored text unreadable");
    }
    for r in &audit.registers {
        let range = |g: &tillkit_core::journal::SeqRange| {
            if g.first == g.last {
                g.first.to_string()
            } else {
                format!("{}-{}", g.first, g.last)
            }
        };
        let list = |rs: &[tillkit_core::journal::SeqRange]| {
            rs.iter().map(range).collect::<Vec<_>>().join(", ")
        };
        println!(
            "\nregister {}: {} records, head {}{}",
            r.register_id,
            r.records,
            r.head.as_ref().map_or("none".to_string(), |h| format!(
                "{} ({}...)",
                h.seq,
                h.hash.get(..12).unwrap_or(&h.hash)
            )),
            if r.intact { "" } else { "  << NOT INTACT" }
        );
        if !r.unchained.is_empty() {
            println!(
                "  unchained (made before the journal): {}",
                list(&r.unchained)
            );
        }
        for s in &r.segments {
            println!(
                "  segment from {} ({}): {:?}{}{}",
                s.start.seq,
                s.start.receipt_no,
                s.reason,
                if s.restart { "  << RESTART" } else { "" },
                s.note.as_ref().map_or(String::new(), |n| format!(": {n}"))
            );
        }
        if !r.skips.is_empty() {
            println!("  skips (recorded by the register): {}", list(&r.skips));
        }
        if !r.gaps.is_empty() {
            println!("  gaps (numbers never received): {}", list(&r.gaps));
        }
        if !r.reused_numbers.is_empty() {
            println!("  numbers used twice: {:?}", r.reused_numbers);
        }
        for f in &r.forks {
            let who: Vec<String> = f
                .records
                .iter()
                .map(|x| format!("{} ({})", x.seq, x.receipt_no))
                .collect();
            println!("  fork after {}: {}", f.prev_seq, who.join(", "));
        }
        for b in &r.breaks {
            println!(
                "  break at {} ({}), {:?}: {}",
                b.record.seq, b.record.receipt_no, b.kind, b.detail
            );
        }
    }
}
