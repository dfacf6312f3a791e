//! Where the async exports run: one small tokio runtime of the bindings, so that no call
//! blocks the thread that awaits it (Android's main thread, Swift's main actor) and every
//! future works whichever executor polls it (Kotlin coroutines, Swift tasks). It runs work;
//! it decides nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::runtime::Runtime;
use tokio::task::{JoinError, JoinHandle};

use crate::error::TillkitError;

/// Threads that run the core's blocking calls (SQLite, keychain) at once; more wait their
/// turn. The database takes one writer at a time anyway.
const BLOCKING_THREADS: usize = 4;

fn runtime() -> Result<&'static Runtime, TillkitError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(BLOCKING_THREADS)
                .thread_name("tillkit-ffi")
                // Idle blocking threads leave soon: an app that stops calling keeps no spare threads.
                .thread_keep_alive(std::time::Duration::from_secs(2))
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| TillkitError::Internal {
            reason: format!("cannot start the bindings' runtime: {e}"),
        })
}

/// A task that died instead of answering: a panic in the core, caught here so that it
/// reaches the app as a typed error rather than crossing the FFI.
fn join_error(e: JoinError) -> TillkitError {
    let reason = match e.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(e) => e.to_string(),
    };
    TillkitError::Internal { reason }
}

/// Runs a blocking core call on the runtime's blocking threads. Cancelling the awaiting
/// call does not stop it: a write under way (a sale) finishes and commits, as it must.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, TillkitError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, TillkitError> + Send + 'static,
{
    runtime()?.spawn_blocking(f).await.map_err(join_error)?
}

/// Runs `future` on the runtime to its end even if the caller is cancelled (pairing: a code
/// the server redeemed must not lose its token because the screen went away).
pub(crate) async fn detached<T, F>(future: F) -> Result<T, TillkitError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, TillkitError>> + Send + 'static,
{
    runtime()?.spawn(future).await.map_err(join_error)?
}

/// Runs `future` on the runtime (timers need it); cancelling the caller aborts it (waits).
pub(crate) async fn cancellable<T, F>(future: F) -> Result<T, TillkitError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, TillkitError>> + Send + 'static,
{
    AbortOnDrop(runtime()?.spawn(future))
        .await
        .map_err(join_error)?
}

/// A task handle that aborts its task when dropped (when the app cancels the call).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `f` on a thread of its own, outside any runtime, and waits for it without blocking
/// the caller: stopping the engine waits (up to a second) for its threads to let go of the
/// database, which a runtime thread may not do.
pub(crate) async fn own_thread<T, F>(f: F) -> Result<T, TillkitError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tillkit-shutdown".into())
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        })
        .map_err(|e| TillkitError::Internal {
            reason: format!("cannot start a thread: {e}"),
        })?;
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) | Err(_) => Err(TillkitError::Internal {
            reason: "the shutdown thread panicked".into(),
        }),
    }
}
