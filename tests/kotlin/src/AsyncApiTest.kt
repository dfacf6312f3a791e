// The native-feeling API's promises on the JVM: the core's calls suspend without holding the
// caller's thread and can be cancelled, and the status Flow gives the current status first,
// then changes, and frees its subscription when its collector is cancelled.
package app.tillkit.tests

import app.tillkit.core.statusFlow
import app.tillkit.ffi.SyncStatusRecord
import app.tillkit.ffi.TillkitCore
import java.util.concurrent.atomic.AtomicReference
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class AsyncApiTest {
    private suspend fun sellBread(core: TillkitCore) {
        core.newCart().use { cart ->
            cart.addProduct("p-bread", "1")
            core.completeSale(cart, listOf(cash("1.45")))
        }
    }

    private suspend fun <T> withOfflineCore(block: suspend (TillkitCore) -> T): T {
        val dir = tempDir("async")
        val core = openStocked(dir)
        try {
            core.setNetworkAvailable(false)
            return block(core)
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun a_waiting_call_holds_no_thread_and_cancelling_it_ends_it() = runBlocking<Unit> {
        // runBlocking's one thread runs everything below: were drainNow to block it, the
        // second sale could not be made until the drain's 10 minutes were up.
        withOfflineCore { core ->
            val thread = Thread.currentThread()
            // A queued sale and no server: the drain waits for its whole limit.
            sellBread(core)
            val drain = async(start = CoroutineStart.UNDISPATCHED) { core.drainNow(600_000uL) }
            assertTrue("the drain is waiting", drain.isActive)
            withTimeout(60_000) {
                sellBread(core)
                assertEquals(2uL, core.status().pending)
            }
            assertEquals("everything ran on the caller's one thread", thread, Thread.currentThread())
            assertTrue("the drain still waits: the sales are queued, the server unreachable", drain.isActive)
            withTimeout(60_000) { drain.cancelAndJoin() }
            assertTrue(drain.isCancelled)
            assertEquals("a cancelled wait loses nothing", 2, core.pendingSales(10u).size)
        }
    }

    @Test
    fun calls_from_many_coroutines_at_once_each_write_their_sale() = runBlocking<Unit> {
        withOfflineCore { core ->
            val sales = (1..20).map { async(Dispatchers.Default) { sellBread(core) } }
            sales.forEach { it.await() }
            assertEquals(20, core.pendingSales(100u).size)
            assertEquals(20uL, core.status().pending)
        }
    }

    @Test
    fun status_flow_gives_the_current_status_then_changes_and_cancelling_frees_the_subscription() = runBlocking<Unit> {
        withOfflineCore { core ->
            sellBread(core)
            val baseline = core.statusWatchers()
            val seen = Channel<SyncStatusRecord>(Channel.UNLIMITED)
            val collector = launch(Dispatchers.Default) { core.statusFlow().collect { seen.send(it) } }
            val first = withTimeout(10_000) { seen.receive() }
            assertEquals("the current status comes first", 1uL, first.pending)
            eventually(10, "the collector's subscription") { core.statusWatchers() == baseline + 1uL }

            sellBread(core)
            withTimeout(10_000) {
                while (seen.receive().pending != 2uL) { /* statuses in between */ }
            }

            collector.cancelAndJoin()
            eventually(10, "the subscription freed by the collector's cancellation") {
                core.statusWatchers() == baseline
            }
            while (seen.tryReceive().isSuccess) { /* drain what arrived before the cancel */ }
            sellBread(core)
            delay(300)
            assertNull("nothing reaches a cancelled collector", seen.tryReceive().getOrNull())
        }
    }

    @Test
    fun operators_that_stop_early_free_the_subscription_too() = runBlocking<Unit> {
        withOfflineCore { core ->
            val baseline = core.statusWatchers()
            assertEquals(0uL, core.statusFlow().first().pending)
            // Two collectors at once each have their own subscription.
            val second = AtomicReference<List<SyncStatusRecord>>()
            val both = launch(Dispatchers.Default) { second.set(core.statusFlow().take(2).toList()) }
            eventually(10, "the second collector subscribed") { core.statusWatchers() >= baseline + 1uL }
            sellBread(core)
            withTimeout(10_000) { both.join() }
            assertEquals(2, second.get().size)
            eventually(10, "every subscription freed") { core.statusWatchers() == baseline }
        }
    }
}
