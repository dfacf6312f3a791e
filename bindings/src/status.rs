//! Status subscriptions: the app's observer is called from a core thread with each status.
//! Dropping or cancelling the subscription unsubscribes; the core owns the watching.

use std::sync::{Arc, Mutex, PoisonError};

use tillkit_core::sync::{StatusListener, Subscription, SyncEngine, SyncStatus};

use crate::records::SyncStatusRecord;

/// Receives sync status changes, on a background thread (never the caller's).
#[uniffi::export(callback_interface)]
pub trait StatusObserver: Send + Sync {
    /// The new status; the current one arrives first, right after subscribing.
    /// Must return quickly and must not throw: post to the UI thread instead.
    fn on_status(&self, status: SyncStatusRecord);
}

/// Adapts the app's observer to the core's listener.
struct Forward(Box<dyn StatusObserver>);

impl StatusListener for Forward {
    fn on_status(&self, status: SyncStatus) {
        self.0.on_status(status.into());
    }
}

/// Keeps an observer subscribed until `cancel()` is called or the handle is freed.
#[derive(uniffi::Object)]
pub struct StatusSubscription {
    inner: Mutex<Option<Subscription>>,
}

impl StatusSubscription {
    pub(crate) fn new(engine: &SyncEngine, observer: Box<dyn StatusObserver>) -> Self {
        StatusSubscription {
            inner: Mutex::new(Some(engine.subscribe(Arc::new(Forward(observer))))),
        }
    }
}

#[uniffi::export]
impl StatusSubscription {
    /// Stops the callbacks (a callback already running finishes). Idempotent.
    pub fn cancel(&self) {
        let subscription = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(subscription);
    }
}
