// A retry never writes a second record through the bindings: a cancelled completeSale or
// refund still commits, and the app's natural retry (the same cart; the same refundId) gets
// the record already written back, with one queue row, and the server holds each once.
package app.tillkit.tests

import app.tillkit.ffi.CartHandle
import app.tillkit.ffi.RefundItemRecord
import app.tillkit.ffi.RefundLinesRecord
import app.tillkit.ffi.RefundRequestRecord
import app.tillkit.ffi.RefundTenderRecord
import app.tillkit.ffi.SaleReceipt
import app.tillkit.ffi.SaleRefRecord
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import java.util.UUID
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Test

class RetryTest {
    /**
     * Starts `call` (its native call begins before `launch` returns), cancels it as a screen
     * that went away would, and waits until its write shows in the queue (`pending` rows).
     */
    private suspend fun CoroutineScope.cancelled(core: TillkitCore, pending: Int, call: suspend () -> Unit) {
        val job = launch(start = CoroutineStart.UNDISPATCHED) { call() }
        job.cancel()
        eventually(30, "the cancelled call's record written") { core.pendingSales(10u).size == pending }
    }

    private suspend fun CoroutineScope.saleCancelledThenRetried(core: TillkitCore, cart: CartHandle): SaleReceipt {
        val payments = listOf(cash(cart.totals().total))
        cancelled(core, 1) { core.completeSale(cart, payments) }
        val retry = core.completeSale(cart, payments)
        val queued = core.pendingSales(10u)
        assertEquals("one sale, one queue row", 1, queued.size)
        assertEquals("the retry answers the sale the cancelled call wrote", queued.single().receiptNo, retry.receiptNo)
        assertEquals(cart.saleId(), retry.saleId)
        assertEquals(retry, core.completeSale(cart, payments))
        return retry
    }

    private fun oneHeadphone(refundId: String, sale: SaleReceipt, tender: RefundTenderRecord = RefundTenderRecord.Cash) =
        RefundRequestRecord(
            refundId = refundId,
            sale = SaleRefRecord.Receipt(sale.receiptNo),
            lines = RefundLinesRecord.Items(listOf(RefundItemRecord(1u, "1", true))),
            tender = tender,
            reason = "faulty",
        )

    @Test
    fun a_cancelled_sale_or_refund_retried_the_same_way_is_written_once() = runBlocking<Unit> {
        val dir = tempDir("retries")
        val core = openStocked(dir)
        try {
            val cart = core.newCart()
            cart.addProduct("p-head", "2")
            val sale = saleCancelledThenRetried(core, cart)

            // Other payments for that cart, or an edit of it: typed, naming the sale.
            val other = expectThrows<TillkitException.SaleAlreadyCompleted> {
                core.completeSale(cart, listOf(cash("500")))
            }
            assertEquals(sale.saleId, other.saleId)
            assertEquals(sale.receiptNo, other.receiptNo)
            expectThrows<TillkitException.SaleAlreadyCompleted> { cart.addProduct("p-bread", "1") }
            expectThrows<TillkitException.SaleAlreadyCompleted> { cart.remove(1u) }
            assertEquals(1, core.pendingSales(10u).size)
            cart.close()

            // The refund screen made its id once; the cancelled call and the retry share it.
            val refundId = UUID.randomUUID().toString()
            cancelled(core, 2) { core.refund(oneHeadphone(refundId, sale)) }
            val refund = core.refund(oneHeadphone(refundId, sale))
            assertEquals(refundId, refund.refundId)
            assertEquals("one refund, one more queue row", 2, core.pendingSales(10u).size)
            assertEquals(listOf("1"), core.refundable(SaleRefRecord.SaleId(sale.saleId)).lines.map { it.left })
            assertEquals(refund, core.refund(oneHeadphone(refundId, sale)))

            val card = RefundTenderRecord.Card("AUTH-R1")
            val reused = expectThrows<TillkitException.RefundAlreadyGiven> {
                core.refund(oneHeadphone(refundId, sale, card))
            }
            assertEquals(refundId, reused.refundId)
            assertEquals(refund.receiptNo, reused.receiptNo)
            expectThrows<TillkitException.InvalidInput> { core.refund(oneHeadphone("not-a-uuid", sale)) }
            assertEquals("nothing more was written", 2, core.pendingSales(10u).size)
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun a_cancelled_sale_and_refund_retried_reach_the_server_once_each() = runBlocking<Unit> {
        TestServer.start().use { server ->
            val dir = tempDir("retries-e2e")
            val core = openPaired(dir, server)
            try {
                core.login(STORE, REGISTER, "alice")
                eventually(30, "the catalogue from the server") { runCatching { core.product("p-head") }.isSuccess }
                // Offline, so both are still queued when retried.
                core.setNetworkAvailable(false)
                val sale = core.newCart().use { cart ->
                    cart.addProduct("p-head", "2")
                    saleCancelledThenRetried(core, cart)
                }
                val refundId = UUID.randomUUID().toString()
                cancelled(core, 2) { core.refund(oneHeadphone(refundId, sale)) }
                val refund = core.refund(oneHeadphone(refundId, sale))
                assertEquals(2, core.pendingSales(10u).size)

                core.setNetworkAvailable(true)
                eventually(30, "the queue to drain") { core.status().pending == 0uL }
                val summary = server.summary()
                assertEquals(summary, "1", jsonField(summary, "sale_count"))
                assertEquals(summary, "1", jsonField(summary, "refund_count"))
                assertEquals(summary, sale.total, jsonField(summary, "total"))
                assertEquals(summary, refund.total, jsonField(summary, "refund_total"))
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }
}
