// Set-aside sales have a way back: the server's rejection is shown with its reason, and
// retryAttentionSales (all, or by sale id) sends them again once the cause is fixed.
package app.tillkit.tests

import app.tillkit.ffi.QueueState
import java.nio.file.Files
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.Test

class RetryAttentionTest {
    @Test
    fun sales_the_server_rejected_are_retried_on_request_by_id_or_all_and_arrive_once() = runBlocking<Unit> {
        TestServer.start().use { server ->
            val dir = tempDir("retry")
            val core = openPaired(dir, server)
            try {
                core.login(STORE, REGISTER, "alice")
                eventually(30, "the catalogue from the server and a first successful round") {
                    runCatching { core.product("p-head") }.isSuccess && core.status().lastSuccessAtMs != null
                }
                core.setNetworkAvailable(false)
                val receipts = (1..2).map {
                    val cart = core.newCart()
                    cart.addProduct("p-bread", "1")
                    core.completeSale(cart, listOf(cash("1.45"))).also { cart.close() }
                }
                // While the register was offline the store moved to euros: the server
                // rejects the sales rung in pounds.
                loadCatalog(server, SERVER_CATALOG.replace("\"GBP\"", "\"EUR\""))
                core.setNetworkAvailable(true)
                eventually(30, "both sales set aside by the server") { core.status().attention == 2uL }
                assertEquals(0uL, core.status().pending)
                val aside = core.attentionSales(10u)
                assertEquals(receipts.map { it.saleId }, aside.map { it.saleId })
                assertTrue(aside.all { it.state == QueueState.ATTENTION && it.reason!!.contains("currency") })

                // The operator puts the store back on pounds; the cashier retries one, then all.
                loadCatalog(server, SERVER_CATALOG)
                assertEquals(1uL, core.retryAttentionSales(listOf(receipts[0].saleId)))
                eventually(30, "the retried sale on the server") { jsonField(server.summary(), "sale_count") == "1" }
                assertEquals(1uL, core.status().attention)
                assertEquals(1uL, core.retryAttentionSales(null))
                eventually(30, "every sale on the server") { jsonField(server.summary(), "sale_count") == "2" }
                eventually(30, "the queue to be empty") { core.status().let { it.pending == 0uL && it.attention == 0uL } }
                assertEquals(0uL, core.retryAttentionSales(null))
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }

    private fun loadCatalog(server: TestServer, json: String) {
        val file = server.dir.resolve("catalog-now.json")
        Files.writeString(file, json)
        server.admin("load-catalog", "--store", STORE, "--file", file.toString())
    }
}
