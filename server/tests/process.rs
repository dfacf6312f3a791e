//! The `tillkit-server` binary as an operator and a crash see it: admin commands on a data
//! file, and a server killed with SIGKILL mid-upload that never leaves part of a batch.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tillkit_core::sale::SaleRecord;
use tillkit_server::protocol::{BatchResponse, SaleStatus, StockAudit};
use tillkit_server::testkit::{TestDatabase, postgres_url};
use tillkit_server::{ServerStore, SqliteStore, admin};

const BIN: &str = env!("CARGO_BIN_EXE_tillkit-server");

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, "")
}

/// Runs the binary with `input` on its stdin (how a token reaches `revoke-token`).
fn run_with_stdin(args: &[&str], input: &str) -> Output {
    run_with(args, input, &[])
}

/// Runs the binary with `input` on its stdin and `env` set (and no database URL inherited).
fn run_with(args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("TILLKIT_DATABASE_URL")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tillkit-server");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("tillkit-server output")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Every admin command through the binary, on the database `db` names (`--data FILE` or
/// `--database URL`), checked through the library's own view of that database.
async fn admin_commands_work_on(db: [&str; 2], dir: &Path) {
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args[..2].iter().map(|s| s.to_string()).collect();
        v.extend(db.iter().map(|s| s.to_string()));
        v.extend(args[2..].iter().map(|s| s.to_string()));
        v
    };
    let admin = |args: &[&str]| {
        let v = with(args);
        run(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let file = dir.join("catalog.json");
    let catalog =
        serde_json::to_string_pretty(&tillkit_server::testkit::uk_catalog()).expect("json");
    std::fs::write(&file, catalog).expect("write catalogue");

    stdout(&admin(&[
        "admin",
        "create-store",
        "--id",
        STORE,
        "--name",
        "Camden",
    ]));
    let loaded = stdout(&admin(&[
        "admin",
        "load-catalog",
        "--store",
        STORE,
        "--file",
        file.to_str().expect("path"),
    ]));
    assert!(loaded.contains("cursor 1"), "{loaded}");
    // Offline limits: set by the command, served in the catalogue devices pull.
    let set = stdout(&admin(&[
        "admin",
        "offline-limits",
        "--store",
        STORE,
        "--card-max-offline",
        "24h",
        "--card-max-sale",
        "200.00",
        "--card-max-total",
        "2000.00",
    ]));
    assert!(
        set.contains("cursor 2") && set.contains("\"200.00\""),
        "{set}"
    );
    let bad = admin(&[
        "admin",
        "offline-limits",
        "--store",
        STORE,
        "--card-max-sale",
        "-5",
    ]);
    assert!(!bad.status.success(), "a negative limit is refused");
    let typo = admin(&[
        "admin",
        "offline-limits",
        "--store",
        STORE,
        "--card-max",
        "1",
    ]);
    assert!(!typo.status.success(), "an unknown option is refused");
    {
        let store = tillkit_server::store::open(db[1]).await.expect("open");
        let limits = store
            .catalog(STORE, None)
            .await
            .expect("catalogue")
            .offline_limits
            .expect("limits served");
        assert_eq!(limits.card.max_offline_secs, Some(86_400));
        assert_eq!(limits.card.max_total, Some(d("2000.00")));
        assert!(limits.cash.max_sale.is_none());
    }
    let token = stdout(&admin(&[
        "admin",
        "create-register",
        "--store",
        STORE,
        "--register",
        "R07",
    ]));
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    let store = tillkit_server::store::open(db[1]).await.expect("open");
    let who = |t: &str| {
        let hash = tillkit_server::auth::Token::parse(t).expect("token").hash();
        let store = store.clone();
        async move { store.authenticate(&hash).await.expect("lookup") }
    };
    assert_eq!(who(&token).await.map(|p| p.register_id), Some("R07".into()));

    let text = stdout(&admin(&["admin", "audit", "--store", STORE]));
    assert!(
        text.contains("p-kettle") && text.contains("started 3"),
        "{text}"
    );
    let json = stdout(&admin(&["admin", "audit", "--store", STORE, "--json"]));
    let audit: StockAudit = serde_json::from_str(&json).expect("audit json");
    assert_eq!(audit.products.len(), 2);

    // The journal: intact exits 0; a chain with a gap is reported and exits non-zero.
    let chain = tillkit_server::testkit::chained(
        (1..=3)
            .map(|i| {
                let c = tillkit_server::testkit::uk_catalog();
                tillkit_server::testkit::sale(
                    &tillkit_server::testkit::uk_tax(),
                    STORE,
                    "R07",
                    i,
                    &[(tillkit_server::testkit::product(&c, "p-bread"), d("1"))],
                )
            })
            .collect(),
    );
    let ctx = |at| tillkit_server::store::UploadContext {
        store_id: STORE.into(),
        uploaded_by: "R07".into(),
        received_at: at,
    };
    store
        .upload_batch(&ctx(1), vec![chain[0].clone(), chain[1].clone()])
        .await
        .expect("upload");
    let text = stdout(&admin(&["admin", "journal", "--store", STORE]));
    assert!(
        text.contains(": intact") && text.contains("register R07: 2 records"),
        "{text}"
    );
    store
        .upload_batch(
            &ctx(2),
            vec![{
                let mut late = chain[2].clone();
                late.seq = 5;
                late
            }],
        )
        .await
        .expect("upload");
    let gap = admin(&["admin", "journal", "--store", STORE]);
    assert!(!gap.status.success(), "a journal with a gap is not intact");
    let text = String::from_utf8_lossy(&gap.stdout);
    assert!(
        text.contains("gaps (numbers never received): 3-4"),
        "{text}"
    );
    let json =
        String::from_utf8_lossy(&admin(&["admin", "journal", "--store", STORE, "--json"]).stdout)
            .into_owned();
    let journal: tillkit_server::protocol::JournalAudit =
        serde_json::from_str(&json).expect("journal json");
    assert!(!journal.intact);

    // A token is never an argument: refused even before anything is looked up.
    let refused = admin(&["admin", "revoke-token", "--token", &token]);
    assert!(!refused.status.success());
    assert!(who(&token).await.is_some(), "nothing was revoked");
    // From stdin, then from a file.
    let v = with(&["admin", "revoke-token"]);
    let args: Vec<&str> = v.iter().map(String::as_str).collect();
    assert_eq!(
        stdout(&run_with_stdin(&args, &format!("{token}\n"))),
        "token revoked"
    );
    assert!(who(&token).await.is_none());
    let again = run_with_stdin(&args, &token);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!err.contains(&token), "a token is never echoed in an error");
    let second = stdout(&admin(&[
        "admin",
        "create-register",
        "--store",
        STORE,
        "--register",
        "R07",
    ]));
    let token_file = dir.join("token.txt");
    std::fs::write(&token_file, &second).expect("token file");
    let path = token_file.to_str().expect("path");
    assert_eq!(
        stdout(&admin(&["admin", "revoke-token", "--token-file", path])),
        "token revoked"
    );

    // A replaced device: every token of the register stops at once; the list shows it.
    let old = stdout(&admin(&[
        "admin",
        "create-register",
        "--store",
        STORE,
        "--register",
        "R08",
    ]));
    let copy = stdout(&admin(&[
        "admin",
        "create-register",
        "--store",
        STORE,
        "--register",
        "R08",
    ]));
    let revoked = stdout(&admin(&[
        "admin",
        "revoke-register",
        "--store",
        STORE,
        "--register",
        "R08",
    ]));
    assert!(revoked.starts_with("2 token(s)"), "{revoked}");
    // A typo in the register id revokes nothing and says so, with a failing exit status.
    let typo = admin(&[
        "admin",
        "revoke-register",
        "--store",
        STORE,
        "--register",
        "R8",
    ]);
    let said = String::from_utf8_lossy(&typo.stderr);
    assert!(
        !typo.status.success() && said.contains("has no register \"R8\""),
        "{said}"
    );
    let typo = admin(&[
        "admin",
        "revoke-register",
        "--store",
        "no-such-store",
        "--register",
        "R08",
    ]);
    assert!(!typo.status.success(), "an unknown store fails too");
    assert!(who(&old).await.is_none() && who(&copy).await.is_none());
    let new = stdout(&admin(&[
        "admin",
        "create-register",
        "--store",
        STORE,
        "--register",
        "R08",
    ]));
    assert!(who(&new).await.is_some(), "the new device's token works");
    let listed = stdout(&admin(&["admin", "registers", "--store", STORE]));
    assert!(
        listed.contains("R07: no live token; 0 live, 2 revoked"),
        "{listed}"
    );
    assert!(
        listed.contains("R08: active; 1 live, 2 revoked"),
        "{listed}"
    );
    assert!(!listed.contains(&new), "the listing never shows a token");
    let json: serde_json::Value = serde_json::from_str(&stdout(&admin(&[
        "admin",
        "registers",
        "--store",
        STORE,
        "--json",
    ])))
    .expect("registers json");
    assert_eq!(json.as_array().map(Vec::len), Some(2));

    for bad in [
        vec!["admin", "create-store", "--id", STORE, "--name", "Again"],
        vec![
            "admin",
            "create-register",
            "--store",
            "nope",
            "--register",
            "R1",
        ],
        vec![
            "admin",
            "load-catalog",
            "--store",
            STORE,
            "--file",
            "/no/such/file.json",
        ],
        vec!["admin", "frobnicate"],
        vec!["admin", "create-store", "--id"],
        vec!["serve", "--listen", "not-an-address"],
    ] {
        let o = admin(&bad);
        assert!(!o.status.success(), "{bad:?} should fail");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("usage:"),
            "{bad:?} prints usage"
        );
    }

    // A one-time pairing code: printed once, in groups of four, redeemable once.
    let code = stdout(&admin(&[
        "admin",
        "pair-register",
        "--store",
        STORE,
        "--register",
        "R08",
        "--minutes",
        "5",
    ]));
    assert_eq!(code.len(), 14, "{code}");
    let (paired, paired_token) = tillkit_server::admin::redeem_pairing_code(&*store, &code)
        .await
        .expect("redeem")
        .expect("the printed code pairs");
    assert_eq!(paired.register_id, "R08");
    assert!(
        who(&new).await.is_none(),
        "pairing revoked the earlier token"
    );
    assert!(who(paired_token.expose()).await.is_some());
    assert!(
        tillkit_server::admin::redeem_pairing_code(&*store, &code)
            .await
            .expect("again")
            .is_none(),
        "a code works once"
    );
    // With --link: the pairing link a QR code holds, naming the server; the device reads
    // the same code and server back from it, and the code pairs.
    let server_url = "https://sync.example:8443/";
    let link = stdout(&admin(&[
        "admin",
        "pair-register",
        "--store",
        STORE,
        "--register",
        "R08",
        "--link",
        server_url,
    ]));
    let scanned = tillkit_core::sync::read_pairing_scan(&link).expect("a pairing link");
    assert_eq!(scanned.server_url.as_deref(), Some(server_url), "{link}");
    assert!(
        tillkit_server::admin::redeem_pairing_code(&*store, &scanned.code)
            .await
            .expect("redeem")
            .is_some(),
        "the linked code pairs: {link}"
    );
    for minutes in ["0", "1441", "ten"] {
        let o = admin(&[
            "admin",
            "pair-register",
            "--store",
            STORE,
            "--register",
            "R08",
            "--minutes",
            minutes,
        ]);
        assert!(!o.status.success(), "--minutes {minutes} is refused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_manage_stores_registers_catalogues_and_audits_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    admin_commands_work_on(["--data", db.to_str().expect("utf-8 path")], dir.path()).await;
    for bad in [
        vec![],
        vec!["admin", "registers", "--store", STORE],
        vec![
            "admin",
            "registers",
            "--data",
            "x.db",
            "--database",
            "postgres://a@b/c",
        ],
        vec!["admin", "registers", "--database", "x.db", "--store", STORE],
        vec![
            "admin",
            "registers",
            "--data",
            "postgres://a@b/c",
            "--store",
            STORE,
        ],
    ] {
        let o = run(&bad);
        assert!(!o.status.success(), "{bad:?} should fail");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_manage_stores_registers_catalogues_and_audits_on_postgres() {
    let Some(server) =
        postgres_url("admin_commands_manage_stores_registers_catalogues_and_audits_on_postgres")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create(&server).await;
    admin_commands_work_on(["--database", &db.url], dir.path()).await;
}

/// Two registers that each refunded one sale line while offline, together beyond what was
/// sold, on the database `db` names: `admin audit` prints the line under OVER-REFUNDED with
/// what was sold and refunded and each refund by register and receipt, in arrival order;
/// `--json` carries the same under `over_refunds`.
async fn an_over_refund_shows_in_admin_audit_on(db: [&str; 2], dir: &Path) {
    use tillkit_server::store::{UploadContext, UploadRecord};
    use tillkit_server::testkit::{product, refund, sale, uk_catalog, uk_tax};
    let admin = |args: &[&str]| {
        let mut v: Vec<&str> = args[..2].to_vec();
        v.extend(db);
        v.extend(&args[2..]);
        run(&v)
    };
    let file = dir.join("catalog.json");
    std::fs::write(&file, serde_json::to_string(&uk_catalog()).expect("json")).expect("write");
    stdout(&admin(&[
        "admin",
        "create-store",
        "--id",
        STORE,
        "--name",
        "Camden",
    ]));
    let path = file.to_str().expect("path");
    stdout(&admin(&[
        "admin",
        "load-catalog",
        "--store",
        STORE,
        "--file",
        path,
    ]));
    let text = stdout(&admin(&["admin", "audit", "--store", STORE]));
    assert!(
        !text.contains("OVER-REFUNDED"),
        "nothing refunded yet: {text}"
    );

    let store = tillkit_server::store::open(db[1]).await.expect("open");
    let upload = |register: &str, received_at: i64, record: UploadRecord| {
        let store = store.clone();
        let ctx = UploadContext {
            store_id: STORE.into(),
            uploaded_by: register.into(),
            received_at,
        };
        async move {
            let r = store
                .upload_records(&ctx, vec![record])
                .await
                .expect("upload");
            assert_eq!(
                r.iter().map(|r| r.status).collect::<Vec<_>>(),
                [SaleStatus::Accepted],
                "{r:?}"
            );
        }
    };
    let c = uk_catalog();
    let s = sale(
        &uk_tax(),
        STORE,
        "R1",
        1,
        &[
            (product(&c, "p-kettle"), d("2")),
            (product(&c, "p-bread"), d("1")),
        ],
    );
    upload("R1", 1_000, UploadRecord::Sale(s.clone())).await;
    // R1 takes back both kettles; R2, offline and holding the sale, takes back one more.
    let first = refund(&s, "R1", 2, 1, d("2"));
    let second = refund(&s, "R2", 1, 1, d("1"));
    upload("R1", 2_000, UploadRecord::Refund(first.clone())).await;
    upload("R2", 3_000, UploadRecord::Refund(second.clone())).await;

    let text = stdout(&admin(&["admin", "audit", "--store", STORE]));
    let kettle = &s.lines[0];
    let (a, b) = (&first.lines[0], &second.lines[0]);
    let expected = [
        "OVER-REFUNDED: 1 sale line(s) refunded beyond what was sold (every refund stored and counted)".to_string(),
        format!(
            "  sale {} ({}) line 1 p-kettle: 2 sold for {} with {} tax, 3 refunded for {} with {} tax",
            s.sale_id,
            s.receipt_no,
            kettle.gross,
            kettle.tax,
            a.gross + b.gross,
            a.tax + b.tax
        ),
        format!(
            "    refund {} (R1-000002) on register R1: 2 back for {} (received 2000, device time {})",
            first.refund_id, a.gross, first.created_at
        ),
        format!(
            "    refund {} (R2-000001) on register R2: 1 back for {} (received 3000, device time {})",
            second.refund_id, b.gross, second.created_at
        ),
    ];
    let at = text
        .find(&expected[0])
        .unwrap_or_else(|| panic!("no OVER-REFUNDED section: {text}"));
    let section: Vec<&str> = text[at..].lines().collect();
    assert_eq!(section, expected, "{text}");

    let json = stdout(&admin(&["admin", "audit", "--store", STORE, "--json"]));
    let raw: serde_json::Value = serde_json::from_str(&json).expect("audit json");
    assert_eq!(raw["over_refunds_total"], 1, "{json}");
    let over = raw["over_refunds"].as_array().expect("over_refunds");
    assert_eq!(over.len(), 1, "{json}");
    let o = &over[0];
    assert_eq!(
        (
            &o["sale_id"],
            &o["receipt_no"],
            &o["register_id"],
            &o["line_no"],
            &o["product_id"],
            &o["sold"],
            &o["refunded"]
        ),
        (
            &serde_json::json!(s.sale_id),
            &serde_json::json!(s.receipt_no),
            &serde_json::json!("R1"),
            &serde_json::json!(1),
            &serde_json::json!("p-kettle"),
            &serde_json::json!("2"),
            &serde_json::json!("3")
        ),
        "{json}"
    );
    let refunds: Vec<_> = o["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .map(|r| {
            (
                r["refund_id"].as_str().unwrap_or_default().to_string(),
                r["register_id"].as_str().unwrap_or_default().to_string(),
                r["receipt_no"].as_str().unwrap_or_default().to_string(),
                r["quantity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = |r: &tillkit_core::refund::RefundRecord, qty: &str| {
        (
            r.refund_id.to_string(),
            r.register_id.clone(),
            r.receipt_no.clone(),
            qty.to_string(),
        )
    };
    assert_eq!(refunds, [want(&first, "2"), want(&second, "1")], "{json}");
    let audit: StockAudit = serde_json::from_str(&json).expect("the library reads it back");
    assert_eq!(audit.over_refunds[0].refunded_gross, a.gross + b.gross);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_audit_prints_a_line_two_registers_refunded_beyond_its_sale_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    an_over_refund_shows_in_admin_audit_on(
        ["--data", db.to_str().expect("utf-8 path")],
        dir.path(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_audit_prints_a_line_two_registers_refunded_beyond_its_sale_on_postgres() {
    let Some(server) = postgres_url(
        "admin_audit_prints_a_line_two_registers_refunded_beyond_its_sale_on_postgres",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create(&server).await;
    an_over_refund_shows_in_admin_audit_on(["--database", &db.url], dir.path()).await;
}

/// A PostgreSQL password belongs in neither `ps` nor shell history: the URL can come from
/// `TILLKIT_DATABASE_URL` or `--database-file`, and both name the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_url_can_come_from_the_environment_or_a_file() {
    let Some(server) = postgres_url("the_database_url_can_come_from_the_environment_or_a_file")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create(&server).await;
    let created = run_with(
        &["admin", "create-store", "--id", STORE, "--name", "Camden"],
        "",
        &[("TILLKIT_DATABASE_URL", &db.url)],
    );
    assert_eq!(stdout(&created), format!("store {STORE} created"));
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("{}\n", db.url)).expect("write");
    let file = url_file.to_str().expect("path");
    let again = run(&[
        "admin",
        "create-store",
        "--database-file",
        file,
        "--id",
        STORE,
        "--name",
        "Camden",
    ]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && said.contains("already exists"),
        "the file names the database the variable named: {said}"
    );
    let store = tillkit_server::store::open(&db.url).await.expect("open");
    assert!(
        store
            .registers(STORE)
            .await
            .expect("the store is there")
            .is_empty()
    );
    // An option still wins over the variable; two options are refused.
    let sqlite = dir.path().join("server.db");
    let o = run_with(
        &[
            "admin",
            "create-store",
            "--data",
            sqlite.to_str().expect("path"),
            "--id",
            "x",
            "--name",
            "X",
        ],
        "",
        &[("TILLKIT_DATABASE_URL", &db.url)],
    );
    stdout(&o);
    assert!(sqlite.exists());
    let o = run(&[
        "admin",
        "registers",
        "--database-file",
        file,
        "--database",
        &db.url,
        "--store",
        STORE,
    ]);
    assert!(!o.status.success());
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "not a url").expect("write");
    let o = run(&[
        "admin",
        "registers",
        "--database-file",
        junk.to_str().expect("path"),
        "--store",
        STORE,
    ]);
    assert!(!o.status.success());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Ids in a request path are percent-decoded: a `%0A` in one must not start a log line of its
/// own, where it could pass for the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newline_in_a_requested_id_cannot_forge_a_log_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            dir.path().join("server.db").to_str().expect("path"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn server");
    let server = Server(child);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forged = "x%0D%0AFORGED%20%20INFO%20admin%20token%20issued%0A";
    for path in [
        format!("/v1/stores/{forged}/catalog"),
        format!("/v1/stores/{forged}/stock-audit"),
        format!("/v1/stores/s/registers/{forged}/last-seq"),
    ] {
        let r = client
            .get(format!("{base}{path}"))
            .bearer_auth("0".repeat(64))
            .send()
            .await
            .expect("request");
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    // The log is written as it goes; give the last line a moment, then stop the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(server);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED")),
        "a request started a log line:\n{text}"
    );
    assert!(
        text.contains("x\\r\\nFORGED"),
        "the id is logged, escaped:\n{text}"
    );
}

async fn start_server(db: &Path, port: u16, client: &reqwest::Client) -> Server {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            db.to_str().expect("path"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = client
            .get(format!("http://127.0.0.1:{port}/v1/health"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_never_leaves_a_partial_batch() {
    const BATCH: u64 = 150;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    let catalog = tillkit_server::testkit::uk_catalog();
    let token = {
        let store = SqliteStore::open(&db).expect("open");
        admin::create_store(&store, STORE, "Camden")
            .await
            .expect("store");
        admin::load_catalog(&store, STORE, &catalog)
            .await
            .expect("catalogue");
        admin::create_register(&store, STORE, "R1")
            .await
            .expect("token")
            .expose()
            .to_string()
    };
    let client = client();
    let port = free_port();
    let mut sent: Vec<Vec<SaleRecord>> = Vec::new();
    let mut seq = 0;
    for round in 0..4u64 {
        let server = start_server(&db, port, &client).await;
        let url = format!("http://127.0.0.1:{port}/v1/stores/{STORE}/sales/batch");
        // Keep uploading fresh batches until the server dies under us.
        let uploads = {
            let (client, url, token, catalog) =
                (client.clone(), url.clone(), token.clone(), catalog.clone());
            let start_seq = seq;
            tokio::spawn(async move {
                let mut batches = Vec::new();
                let mut seq = start_seq;
                loop {
                    let batch: Vec<SaleRecord> = (0..BATCH)
                        .map(|_| {
                            seq += 1;
                            sale(
                                &uk_tax(),
                                STORE,
                                "R1",
                                seq,
                                &[(product(&catalog, "p-seat"), d("1"))],
                            )
                        })
                        .collect();
                    batches.push(batch.clone());
                    let body = serde_json::json!({ "sales": batch }).to_string();
                    match client
                        .post(&url)
                        .bearer_auth(&token)
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {}
                        _ => return (batches, seq),
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(80 + 70 * round)).await;
        drop(server); // SIGKILL, mid-batch more often than not.
        let (batches, last) = uploads.await.expect("upload task");
        seq = last;
        sent.extend(batches);

        let store = SqliteStore::open(&db).expect("reopen after kill");
        eprintln!(
            "round {round}: {} batches sent, {} sales stored",
            sent.len(),
            store.summary(STORE).await.expect("summary").sale_count
        );
        for batch in &sent {
            let mut stored = 0;
            for s in batch {
                if store
                    .stored_sale(STORE, &s.sale_id.to_string())
                    .await
                    .expect("read")
                    .is_some()
                {
                    stored += 1;
                }
            }
            assert!(
                stored == 0 || stored == batch.len(),
                "round {round}: {stored} of {} stored",
                batch.len()
            );
        }
    }

    // The devices retry everything: each sale ends up stored exactly once.
    let server = start_server(&db, port, &client).await;
    let url = format!("http://127.0.0.1:{port}/v1/stores/{STORE}/sales/batch");
    let mut ids = HashSet::new();
    for batch in &sent {
        let body = serde_json::json!({ "sales": batch }).to_string();
        let r: BatchResponse = client
            .post(&url)
            .bearer_auth(&token)
            .body(body)
            .send()
            .await
            .expect("retry")
            .json()
            .await
            .expect("json");
        assert!(
            r.results
                .iter()
                .all(|r| matches!(r.status, SaleStatus::Accepted | SaleStatus::Duplicate))
        );
        ids.extend(batch.iter().map(|s| s.sale_id));
    }
    drop(server);
    let store = SqliteStore::open(&db).expect("open");
    let summary = store.summary(STORE).await.expect("summary");
    assert_eq!(summary.sale_count, ids.len() as u64);
    let audit = store.stock_audit(STORE).await.expect("audit");
    let seat = audit
        .products
        .iter()
        .find(|p| p.product_id == "p-seat")
        .expect("seat");
    assert_eq!(
        seat.current_stock,
        d("10") - rust_decimal::Decimal::from(ids.len() as u64),
        "one movement per sale"
    );
}

/// A private CA and a server certificate for 127.0.0.1 signed by it, as PEM files in `dir`;
/// returns (certificate chain file, key file, the CA in PEM).
fn certificate_files(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    let (chain, key_file) = (dir.join("chain.pem"), dir.join("key.pem"));
    std::fs::write(&chain, format!("{}{}", cert.pem(), ca.pem())).expect("chain file");
    std::fs::write(&key_file, key.serialize_pem()).expect("key file");
    (chain, key_file, ca.pem().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_https_with_its_own_certificate_and_believes_only_a_trusted_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    let data = db.to_str().expect("path");
    let (chain, key, ca) = certificate_files(dir.path());
    let token = {
        let store = SqliteStore::open(&db).expect("open");
        admin::create_store(&store, STORE, "Camden")
            .await
            .expect("store");
        admin::create_register(&store, STORE, "R1")
            .await
            .expect("token")
            .expose()
            .to_string()
    };
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            data,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--tls-cert", chain.to_str().expect("path")])
        .args(["--tls-key", key.to_str().expect("path")])
        .args(["--trusted-proxy", "127.0.0.1/32,10.0.0.0/8"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let _server = Server(child);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .build()
        .expect("client");
    let base = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !https
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the HTTPS server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No plain-HTTP fallback on the TLS port.
    let plain = client()
        .get(format!("http://127.0.0.1:{port}/v1/health"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.is_ok_and(|r| r.status().is_success()));
    // A client that does not trust the CA is refused.
    assert!(
        client()
            .get(format!("{base}/v1/health"))
            .send()
            .await
            .is_err()
    );

    // Behind the trusted proxy (this test, on 127.0.0.1), one guesser is blocked alone.
    let summary = format!("{base}/v1/stores/{STORE}/summary");
    let get = |token: String, client_ip: &'static str| {
        let (https, summary) = (https.clone(), summary.clone());
        async move {
            https
                .get(summary)
                .bearer_auth(token)
                .header("x-forwarded-for", client_ip)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    for i in 0..20 {
        assert_eq!(get(format!("{i:064x}"), "203.0.113.7").await.as_u16(), 401);
    }
    assert_eq!(get(token.clone(), "203.0.113.7").await.as_u16(), 429);
    assert_eq!(get(token, "198.51.100.2").await.as_u16(), 200);

    for bad in [
        vec!["serve", "--data", data, "--tls-cert", "/no/such.pem"],
        vec![
            "serve",
            "--data",
            data,
            "--tls-cert",
            "/no/such.pem",
            "--tls-key",
            "/no/key.pem",
        ],
        vec!["serve", "--data", data, "--trusted-proxy", "10.0.0.0/33"],
    ] {
        let o = run(&bad);
        assert!(!o.status.success(), "{bad:?} should fail");
    }
}

/// `serve` on `database` at `port`, logging at info into `log`.
fn spawn_pg_server(database: &str, port: u16, log: &Path) -> Server {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--database",
            database,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("TILLKIT_DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn server");
    Server(child)
}

/// Two instances started at the same moment on a database nobody has migrated: both come
/// up, and the schema is migrated once, by one of them (the other waits for the migration
/// lock and then finds nothing to do). Without the lock both would try, and one would fail
/// on the tables the other just made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_started_together_on_a_fresh_database_both_serve_and_migrate_it_once() {
    let Some(pg) = postgres_url("two_servers_started_together_on_a_fresh_database") else {
        return;
    };
    let db = TestDatabase::create(&pg).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port()];
    let logs = [dir.path().join("a.log"), dir.path().join("b.log")];
    let mut servers: Vec<Server> = ports
        .iter()
        .zip(&logs)
        .map(|(&port, log)| spawn_pg_server(&db.url, port, log))
        .collect();
    let client = client();
    for (server, port) in servers.iter_mut().zip(ports) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = client
                .get(format!("http://127.0.0.1:{port}/v1/health"))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if let Ok(Some(status)) = server.0.try_wait() {
                let log: Vec<String> = logs
                    .iter()
                    .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                    .collect();
                panic!("a server exited while starting ({status}): {log:#?}");
            }
            assert!(Instant::now() < deadline, "server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(servers);
    let (pg_client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let versions: Vec<i32> = pg_client
        .query("SELECT version FROM tillkit_schema ORDER BY version", &[])
        .await
        .expect("schema table")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!versions.is_empty());
    assert_eq!(versions, (1..=versions.len() as i32).collect::<Vec<_>>());
    let applied: Vec<usize> = logs
        .iter()
        .map(|l| {
            std::fs::read_to_string(l)
                .expect("log")
                .matches("server database migrated")
                .count()
        })
        .collect();
    assert_eq!(
        applied.iter().sum::<usize>(),
        versions.len(),
        "each migration applied once in all: {applied:?}"
    );
    assert!(
        applied.contains(&0),
        "one instance found the schema migrated: {applied:?}"
    );
}
