// The status pill's promise: an observer hears the current status at once and every change
// after, on a background thread (never the caller's), until its subscription is cancelled.
package app.tillkit.tests

import app.tillkit.ffi.Connectivity
import app.tillkit.ffi.StatusObserver
import app.tillkit.ffi.SyncStatusRecord
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNotSame
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.Test

class StatusObserverTest {
    private class Recorder : StatusObserver {
        val seen = LinkedBlockingQueue<Pair<SyncStatusRecord, Thread>>()

        override fun onStatus(status: SyncStatusRecord) {
            seen.put(status to Thread.currentThread())
        }

        fun next(millis: Long) = seen.poll(millis, TimeUnit.MILLISECONDS)
    }

    private suspend fun sellBread(core: app.tillkit.ffi.TillkitCore) {
        core.newCart().use { cart ->
            cart.addProduct("p-bread", "1")
            core.completeSale(cart, listOf(cash("2"))).also { assertEquals("0.55", it.changeDue) }
        }
    }

    @Test
    fun observer_hears_the_current_status_first_then_changes_on_a_background_thread() = runBlocking<Unit> {
        val dir = tempDir("status")
        val core = openStocked(dir)
        try {
            core.setNetworkAvailable(false)
            repeat(2) { sellBread(core) }
            val current = core.status()
            assertEquals(2uL, current.pending)

            val recorder = Recorder()
            val subscription = core.subscribeStatus(recorder)
            val got = recorder.next(5000)
            assertNotNull("a status at once", got)
            val (first, thread) = got!!
            assertEquals(Connectivity.OFFLINE, first.connectivity)
            assertEquals("the current value comes first", 2uL, first.pending)
            assertNotSame("never on the caller's thread", Thread.currentThread(), thread)
            assertTrue("not the JVM main thread: ${thread.name}", thread.name != "main")

            sellBread(core)
            var change: SyncStatusRecord? = null
            while (change?.pending != 3uL) {
                val next = recorder.next(5000)
                assertNotNull("the change after a sale", next)
                change = next!!.first
            }
            assertTrue(change!!.oldestPendingAgeSecs != null)

            subscription.cancel()
            subscription.cancel() // idempotent
            recorder.seen.clear()
            sellBread(core)
            assertNull("no callback after cancel", recorder.next(500))
            subscription.close()
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun freeing_a_subscription_handle_stops_its_callbacks() = runBlocking<Unit> {
        val dir = tempDir("status-free")
        val core = openStocked(dir)
        try {
            core.setNetworkAvailable(false)
            val recorder = Recorder()
            core.subscribeStatus(recorder).use { assertNotNull(recorder.next(5000)) }
            recorder.seen.clear()
            sellBread(core)
            assertNull("no callback once the handle is freed", recorder.next(500))
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }
}
