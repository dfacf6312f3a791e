//! The `tillkit-server` command: `serve` the protocol, or run an `admin` action on the
//! database file. It prints a new token once, to stdout, and never logs one.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tillkit_server::protocol::StockAudit;
use tillkit_server::{SqliteStore, admin};

const USAGE: &str = "usage:
  tillkit-server serve --data PATH [--listen 127.0.0.1:8787]
  tillkit-server admin create-store    --data PATH --id ID --name NAME
  tillkit-server admin create-register --data PATH --store ID --register R07
  tillkit-server admin revoke-token    --data PATH --token TOKEN
  tillkit-server admin load-catalog    --data PATH --store ID --file catalog.json
  tillkit-server admin audit           --data PATH --store ID [--json]
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

    fn only(&self, allowed: &[&str]) -> Result<(), CliError> {
        match self.values.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(CliError(format!("unknown option --{k}"))),
            None => Ok(()),
        }
    }

    fn store(&self) -> Result<SqliteStore, CliError> {
        Ok(SqliteStore::open(&PathBuf::from(self.get("data")?))?)
    }
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
    match args.first().map(String::as_str) {
        Some("serve") => serve(&Options::parse(&args[1..], &[])?),
        Some("admin") => admin_command(args.get(1).map(String::as_str), &args[args.len().min(2)..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(CliError("expected `serve` or `admin`".into())),
    }
}

fn serve(o: &Options) -> Result<(), CliError> {
    o.only(&["data", "listen"])?;
    let listen: SocketAddr = o
        .values
        .get("listen")
        .map_or(DEFAULT_LISTEN, String::as_str)
        .parse()?;
    let store = Arc::new(o.store()?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        tracing::info!(addr = %listener.local_addr()?, data = %store.path().display(), "serving");
        tillkit_server::serve(store, listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
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

fn admin_command(command: Option<&str>, args: &[String]) -> Result<(), CliError> {
    let o = Options::parse(args, &["json"])?;
    match command {
        Some("create-store") => {
            o.only(&["data", "id", "name"])?;
            admin::create_store(&o.store()?, o.get("id")?, o.get("name")?)?;
            println!("store {} created", o.get("id")?);
        }
        Some("create-register") => {
            o.only(&["data", "store", "register"])?;
            let token = admin::create_register(&o.store()?, o.get("store")?, o.get("register")?)?;
            // The only place a token is ever shown: give it to the device, it cannot be recovered.
            println!("{}", token.expose());
        }
        Some("revoke-token") => {
            o.only(&["data", "token"])?;
            if admin::revoke_token(&o.store()?, o.get("token")?)? {
                println!("token revoked");
            } else {
                return Err(CliError("no live token matches".into()));
            }
        }
        Some("load-catalog") => {
            o.only(&["data", "store", "file"])?;
            let text = std::fs::read_to_string(o.get("file")?)?;
            let value: serde_json::Value = serde_json::from_str(&text)?;
            let cursor = admin::load_catalog_json(&o.store()?, o.get("store")?, value)?;
            println!("catalogue loaded; cursor {cursor}");
        }
        Some("audit") => {
            o.only(&["data", "store"])?;
            let audit = tillkit_server::ServerStore::stock_audit(&o.store()?, o.get("store")?)?;
            if o.flag("json") {
                println!("{}", serde_json::to_string_pretty(&audit)?);
            } else {
                print_audit(&audit);
            }
        }
        _ => return Err(CliError("unknown admin command".into())),
    }
    Ok(())
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
}
