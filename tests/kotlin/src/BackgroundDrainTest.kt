// The background worker's one core call, against the real server: drainNow uploads what is
// queued and says how it ended, within its time limit, and never loses or drops a sale.
package app.tillkit.tests

import app.tillkit.background.DrainResult
import app.tillkit.background.RunVerdict
import app.tillkit.background.afterDrain
import app.tillkit.background.drainVerdict
import app.tillkit.core.toDrainResult
import app.tillkit.ffi.DrainOutcome
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.Test

/** The result of [block] and how many seconds it took. */
private inline fun <T> timed(block: () -> T): Pair<T, Double> {
    val started = System.nanoTime()
    val result = block()
    return result to (System.nanoTime() - started) / 1e9
}

class BackgroundDrainTest {
    private suspend fun sell(core: TillkitCore, n: Int) = repeat(n) {
        core.newCart().use { cart ->
            cart.addProduct("p-bread", "1")
            core.completeSale(cart, listOf(cash("1.45")))
        }
    }

    /** A core of the test server's register with its catalogue and sales rung while the
     *  network was down (still down: the block brings it back when it wants). */
    private suspend fun <T> withQueuedSales(server: TestServer, sales: Int, block: suspend (TillkitCore) -> T): T {
        val dir = tempDir("drain")
        val core = openPaired(dir, server)
        try {
            core.login(STORE, REGISTER, "alice")
            eventually(30, "the catalogue from the server") { runCatching { core.product("p-bread") }.isSuccess }
            core.setNetworkAvailable(false)
            sell(core, sales)
            assertEquals(sales.toULong(), core.status().pending)
            return block(core)
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun drain_now_uploads_every_queued_sale_and_reports_drained() = runBlocking<Unit> {
        TestServer.start().use { server ->
            withQueuedSales(server, sales = 4) { core ->
                core.setNetworkAvailable(true)
                val report = core.drainNow(60_000uL)
                assertEquals(DrainOutcome.DRAINED, report.outcome)
                assertEquals(0uL, report.status.pending)
                // What the Android worker makes of it: done, no retry.
                assertEquals(DrainResult.Drained, report.outcome.toDrainResult())
                assertEquals(RunVerdict.Done, afterDrain(report.outcome.toDrainResult(), attempt = 0))
                assertEquals("4", jsonField(server.summary(), "sale_count"))
            }
        }
    }

    @Test
    fun an_unreachable_server_times_out_within_the_limit_and_keeps_every_sale() = runBlocking<Unit> {
        // Paired (a store without a token would be NEEDS_ATTENTION), then the server goes away.
        val server = TestServer.start()
        val dir = tempDir("drain-offline")
        val core = openPaired(dir, server)
        server.close()
        try {
            core.login(STORE, REGISTER, "alice")
            core.importCatalogJson(DEVICE_CATALOG)
            sell(core, 2)
            val (report, seconds) = timed { core.drainNow(700uL) }
            assertEquals(DrainOutcome.TIMED_OUT, report.outcome)
            assertEquals(RunVerdict.RetryLater, afterDrain(report.outcome.toDrainResult(), attempt = 0))
            assertEquals(2uL, report.status.pending)
            assertEquals(2, core.pendingSales(10u).size)
            // The limit is kept: generous for a loaded machine, far below "waits forever".
            assertTrue("returned after $seconds s", seconds < 15)
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun a_drain_the_core_refuses_is_retried_by_the_worker_not_failed_for_good() = runBlocking<Unit> {
        // The worker's drain racing the register's shutdown: the core answers Closed.
        val dir = tempDir("drain-closed")
        val core = openStocked(dir)
        try {
            sell(core, 1)
            core.shutdown()
            val seen = mutableListOf<Throwable>()
            val verdict = drainVerdict(attempt = 0, onError = { seen += it }) {
                core.drainNow(5_000uL).outcome.toDrainResult()
            }
            assertEquals(RunVerdict.RetryLater, verdict)
            assertTrue("$seen", seen.single() is TillkitException.Closed)
        } finally {
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun a_refused_token_ends_the_drain_early_as_needing_attention_and_keeps_the_sales() = runBlocking<Unit> {
        TestServer.start().use { server ->
            withQueuedSales(server, sales = 3) { core ->
                server.admin("revoke-register", "--store", STORE, "--register", REGISTER)
                core.setNetworkAvailable(true)
                val (report, seconds) = timed { core.drainNow(120_000uL) }
                assertEquals(DrainOutcome.NEEDS_ATTENTION, report.outcome)
                assertEquals(RunVerdict.Done, afterDrain(report.outcome.toDrainResult(), attempt = 0))
                assertTrue(report.status.authFailed)
                assertEquals("every sale still queued", 3uL, report.status.pending)
                // Not the whole limit: a worker must not sit on a refusal only a person can lift.
                assertTrue("returned after $seconds s", seconds < 60)
            }
        }
    }
}
