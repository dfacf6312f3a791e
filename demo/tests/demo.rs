//! The README's first command must work: run the demo end to end and check its claims.

use std::process::Command;

#[test]
fn demo_sells_through_an_outage_and_syncs_every_sale_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tillkit-demo"))
        .args(["--sales", "30", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 30 each through the network outage and the refund's sale, then 6 each while the
    // server was down.
    assert!(stdout.contains("sales: 73 (devices rang 73)"), "{stdout}");
    assert!(
        stdout.contains("6 s: R01 [OFFLINE amber] pending  6 | R02 [OFFLINE amber] pending  6"),
        "the server outage shows amber with its sales pending: {stdout}"
    );
    assert_eq!(
        stdout.matches("found the server by itself").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("OVERSOLD Limited Edition Mug"), "{stdout}");
    assert!(stdout.contains("[OFFLINE amber] | pending 30"), "{stdout}");
    // The network outage's 30, and those rung after each register found the server gone.
    assert_eq!(stdout.matches(" (100%)").count(), 2, "{stdout}");
    assert_eq!(
        stdout.matches("completed while offline 3").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("exactly once"), "{stdout}");
    // The offline limits: a card sale above the per-sale limit was refused and paid in cash,
    // and the status warned as the card total came near its limit.
    assert_eq!(
        stdout
            .matches("card refused: offline limit reached (card amount of one offline sale)")
            .count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("| WARNING card_total ").count(),
        2,
        "each register's status warned of the card total: {stdout}"
    );
    assert_eq!(
        stdout
            .matches("no offline window open: card sales allowed again")
            .count(),
        2,
        "the window closed once the queue drained: {stdout}"
    );
    // The refund was given offline, queued behind its sale, and reached the server once.
    assert!(
        stdout.contains("R01 [OFFLINE amber] | pending 32 | the refund is queued offline behind its sale (32 of 32, after 31)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("with the same refund id: R01-000032 again, nothing written twice"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the server holds refunds: 1, "),
        "the refund reached the server once: {stdout}"
    );
    assert!(
        stdout.contains(
            "R01's R01-000032 uploaded after its sale R01-000031 once the connection was back"
        ),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches(": server intact (").count(),
        2,
        "each register's journal verifies on the server: {stdout}"
    );
    // Everything was kept in the data directory asked for.
    assert!(dir.path().join("server.db").exists());
    assert!(dir.path().join("R01").join("tillkit.db").exists());
}

#[test]
fn demo_refuses_bad_arguments_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_tillkit-demo"))
        .args(["--sales", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number"));
}

#[test]
fn the_demo_at_trace_level_logs_no_key_and_no_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tillkit-demo"))
        .args(["--sales", "5", "--data-dir"])
        .arg(dir.path())
        .env("TILLKIT_LOG", "trace")
        .output()
        .unwrap();
    assert!(out.status.success());
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(logs.contains("TRACE"), "trace logging must actually be on");
    assert!(logs.contains("upload_batch"), "sync spans are logged");
    let lower = logs.to_lowercase();
    assert!(
        !lower.contains("bearer "),
        "an authorization header reached the logs"
    );
    // Where this machine has no usable OS keychain the demo keeps keys in files: check
    // that no key from them appears either.
    for register in ["R01", "R02"] {
        if let Ok(secret) = std::fs::read_to_string(dir.path().join(format!("{register}.key"))) {
            let hex = secret.split_once(':').unwrap().1.trim().to_string();
            assert_eq!(hex.len(), 64);
            assert!(
                !lower.contains(&hex[..16]),
                "{register}'s key reached the logs"
            );
        }
    }
}
