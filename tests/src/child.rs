//! The real server in a child process, so a test can SIGKILL it and measure its memory: the
//! test binary re-executes itself with one test selected, and that test serves the
//! protocol on a fixed loopback port over a SQLite file or PostgreSQL until it is killed.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const DATA: &str = "TILLKIT_E2E_SERVER_DATA";
const PORT: &str = "TILLKIT_E2E_SERVER_PORT";
/// How long a (re)started child may take to listen; only a guard against a hang.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The child's body. Call it from a `#[test]` whose name is given to `ChildServer::start`;
/// in a normal test run (no child variables set) it returns at once.
pub fn serve_if_child() {
    let (Ok(data), Ok(port)) = (std::env::var(DATA), std::env::var(PORT)) else {
        return;
    };
    let port: u16 = port.parse().expect("server child: port");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server child: runtime");
    runtime.block_on(async move {
        let store = tillkit_server::store::open(&data)
            .await
            .expect("server child: store");
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("server child: the port is free");
        // The parent holds our stdin open; if it dies without killing us, we stop too.
        let orphaned = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut byte = [0u8; 1];
                while std::io::stdin().read(&mut byte).is_ok_and(|n| n > 0) {}
            })
            .await;
        };
        tillkit_server::serve(store, listener, orphaned)
            .await
            .expect("server child: serve");
    });
}

/// A server child process on a fixed port; killed when dropped.
pub struct ChildServer {
    test: String,
    data: String,
    port: u16,
    child: Option<(Child, ChildStdin)>,
}

impl ChildServer {
    /// Starts the child running `test` (which calls `serve_if_child`) over the database at
    /// `data` (a SQLite file or a PostgreSQL URL, see `Db::location`) on a free port, and
    /// waits until it listens.
    pub fn start(test: &str, data: &str) -> ChildServer {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = ChildServer {
            test: test.to_string(),
            data: data.to_string(),
            port,
            child: None,
        };
        server.restart();
        server
    }

    /// Starts the child again on the same port and file (after `kill`), and waits until it
    /// listens.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server child is still running");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                self.test.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DATA, &self.data)
            .env(PORT, self.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server child starts");
        let stdin = child.stdin.take().expect("child stdin");
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(self.addr()).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server child exited before listening: {status}");
            }
            assert!(Instant::now() < deadline, "the server child never listened");
            std::thread::sleep(Duration::from_millis(5));
        }
        self.child = Some((child, stdin));
    }

    /// SIGKILLs the child and reaps it; false if it was not running.
    pub fn kill(&mut self) -> bool {
        let Some((mut child, _stdin)) = self.child.take() else {
            return false;
        };
        child.kill().expect("SIGKILL the server child");
        child.wait().expect("reap the server child");
        true
    }

    /// The port the child listens on, across restarts.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The running child's peak resident memory (`VmHWM`) in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let (child, _) = self.child.as_ref()?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}
