//! The sync status as a stream the apps await (Kotlin wraps it in a `Flow`, Swift in an
//! `AsyncStream`). Freeing the stream unsubscribes; the core owns the watching.

use tillkit_core::sync::StatusWatch;
use tokio::sync::Mutex;

use crate::records::SyncStatusRecord;

/// The core's status: the current one first, then each change, until the core shuts down.
#[derive(uniffi::Object)]
pub struct StatusStream {
    // An async mutex: a `next()` that waits holds it, and it works under any executor.
    watch: Mutex<StatusWatch>,
}

impl StatusStream {
    pub(crate) fn new(watch: StatusWatch) -> Self {
        StatusStream {
            watch: Mutex::new(watch),
        }
    }
}

#[uniffi::export]
impl StatusStream {
    /// The current status on the first call, then the next change; null once the core is
    /// shut down. Cancelling a waiting call loses nothing: the next call sees the change.
    /// It waits without a thread: nothing blocks while no status changes.
    pub async fn next(&self) -> Option<SyncStatusRecord> {
        self.watch.lock().await.next().await.map(Into::into)
    }
}
