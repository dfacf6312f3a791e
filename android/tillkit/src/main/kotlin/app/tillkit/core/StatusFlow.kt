// The core's status as a Kotlin Flow: a callbackFlow over the bindings' status listener.
// Plain Kotlin (no android.*), tested on the host JVM; it forwards, it decides nothing.
package app.tillkit.core

import app.tillkit.ffi.StatusObserver
import app.tillkit.ffi.SyncStatusRecord
import app.tillkit.ffi.TillkitCore
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate

/**
 * The current status at once, then every change. Each collector subscribes on its own;
 * cancelling the collector cancels and frees its subscription. A slow collector sees the
 * newest status, never a queue of old ones. Throws `TillkitException.Closed` after shutdown.
 */
fun TillkitCore.statusFlow(): Flow<SyncStatusRecord> = callbackFlow {
    val subscription = subscribeStatus(object : StatusObserver {
        // On a core thread; conflated below, so trySend never fails for want of room.
        override fun onStatus(status: SyncStatusRecord) {
            trySend(status)
        }
    })
    awaitClose {
        subscription.cancel()
        subscription.close()
    }
}.conflate()
