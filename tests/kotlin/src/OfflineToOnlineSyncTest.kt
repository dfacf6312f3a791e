// The promise of offline-first selling, end to end against the real reference server:
// sales rung while offline are kept, and each reaches the server exactly once after reconnect.
package app.tillkit.tests

import app.tillkit.ffi.Connectivity
import java.math.BigDecimal
import org.junit.Assert.assertEquals
import kotlinx.coroutines.runBlocking
import org.junit.Test

class OfflineToOnlineSyncTest {
    @Test
    fun sales_rung_offline_reach_the_server_exactly_once_after_the_network_returns() = runBlocking<Unit> {
        TestServer.start().use { server ->
            val dir = tempDir("e2e")
            val core = openPaired(dir, server)
            try {
                core.login(STORE, REGISTER, "alice")
                // The session starts a sync round: it pulls the catalogue and drains the (empty) queue.
                eventually(30, "the catalogue from the server and a first successful round") {
                    runCatching { core.product("p-head") }.isSuccess && core.status().lastSuccessAtMs != null
                }
                assertEquals(Connectivity.ONLINE, core.status().connectivity)

                core.setNetworkAvailable(false)
                val receipts = (1..5).map { i ->
                    val cart = core.newCart()
                    cart.addProduct("p-head", "1")
                    cart.addBarcode("5000000000017", "1")
                    cart.addProduct("p-bread", "$i")
                    core.completeSale(cart, listOf(cash("200"))).also { cart.close() }
                }
                assertEquals(5, core.pendingSales(100u).size)
                val offline = core.status()
                assertEquals(Connectivity.OFFLINE, offline.connectivity)
                assertEquals(5uL, offline.pending)
                assertEquals("nothing is uploaded while offline", "0", jsonField(server.summary(), "sale_count"))

                core.setNetworkAvailable(true)
                eventually(30, "the queue to drain") { core.status().pending == 0uL }
                assertEquals(Connectivity.ONLINE, core.status().connectivity)
                assertEquals(0, core.pendingSales(100u).size)
                assertEquals(0, core.attentionSales(100u).size)

                // Ask for another round: acknowledged sales are never sent again.
                core.syncNow()
                Thread.sleep(300)
                val summary = server.summary()
                assertEquals(summary, "5", jsonField(summary, "sale_count"))
                val expected = receipts.map { BigDecimal(it.total) }.reduce(BigDecimal::add)
                assertEquals(0, expected.compareTo(BigDecimal(jsonField(summary, "total"))))
                assertEquals(summary, "0", jsonField(summary, "sales_with_tax_difference"))
                assertEquals(5, receipts.map { it.saleId }.toSet().size)

                val metrics = core.metrics()
                assertEquals(5uL, metrics.offlineAttempts)
                assertEquals(5uL, metrics.offlineCompleted)
                assertEquals(1.0, metrics.offlineSuccessRate!!, 0.0)
                assertEquals(1uL, metrics.latencySamples)
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }
}
