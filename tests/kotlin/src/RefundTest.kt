// Refunds through the bindings: what is left to refund per line, a partial refund with its
// receipt, an over-refund as its own typed exception with the line and quantities (never a
// string to parse), and a refund of a sale this device does not hold as NeedsConnection.
package app.tillkit.tests

import app.tillkit.ffi.RefundItemRecord
import app.tillkit.ffi.RefundLinesRecord
import app.tillkit.ffi.RefundRequestRecord
import app.tillkit.ffi.RefundTenderRecord
import app.tillkit.ffi.SaleRefRecord
import app.tillkit.ffi.TillkitException
import java.util.UUID
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class RefundTest {
    @Test
    fun a_partial_refund_then_an_over_refund_is_a_typed_error_with_the_quantities() = runBlocking<Unit> {
        val dir = tempDir("refunds")
        val core = openStocked(dir)
        try {
            val sale = core.newCart().use { cart ->
                cart.addProduct("p-head", "2")
                cart.addProduct("p-bread", "1")
                core.completeSale(cart, listOf(cash(cart.totals().total)))
            }
            val bySaleId = SaleRefRecord.SaleId(sale.saleId)
            val before = core.refundable(bySaleId)
            assertEquals(sale.receiptNo, before.sale.receiptNo)
            assertEquals(listOf("2", "1"), before.lines.map { it.left })
            assertTrue(before.lines[0].stockTracked)

            val refund = core.refund(
                RefundRequestRecord(
                    refundId = UUID.randomUUID().toString(),
                    sale = bySaleId,
                    lines = RefundLinesRecord.Items(listOf(RefundItemRecord(1u, "1", true))),
                    tender = RefundTenderRecord.Cash,
                    reason = "faulty",
                ),
            )
            assertEquals(sale.saleId, refund.refundOf)
            assertEquals(sale.receiptNo, refund.refundOfReceipt)
            assertNotEquals("a refund takes its own number", sale.receiptNo, refund.receiptNo)
            assertEquals("49.99", refund.total)
            assertEquals("1", refund.lines.single().quantity)
            assertEquals("faulty", refund.reason)
            val after = core.refundable(SaleRefRecord.Receipt(sale.receiptNo))
            assertEquals(listOf("1", "0"), after.lines.map { it.refunded })
            assertEquals(listOf("1", "1"), after.lines.map { it.left })
            assertEquals("the sale and its refund are queued", 2, core.pendingSales(10u).size)

            val over = expectThrows<TillkitException.OverRefund> {
                core.refund(
                    RefundRequestRecord(
                        refundId = UUID.randomUUID().toString(),
                        sale = bySaleId,
                        lines = RefundLinesRecord.Items(listOf(RefundItemRecord(1u, "2", true))),
                        tender = RefundTenderRecord.Cash,
                        reason = null,
                    ),
                )
            }
            assertEquals(1u, over.lineNo)
            assertEquals("2", over.requested)
            assertEquals("2", over.sold)
            assertEquals("1", over.refunded)
            assertEquals("nothing was written", 2, core.pendingSales(10u).size)

            expectThrows<TillkitException.NeedsConnection> {
                core.refundable(SaleRefRecord.Receipt("R99-000001"))
            }
            // What is left, all at once, by receipt number.
            val rest = core.refund(
                RefundRequestRecord(
                    refundId = UUID.randomUUID().toString(),
                    sale = SaleRefRecord.Receipt(sale.receiptNo),
                    lines = RefundLinesRecord.Everything(false),
                    tender = RefundTenderRecord.Cash,
                    reason = null,
                ),
            )
            assertEquals(listOf("1", "1"), rest.lines.map { it.quantity })
            assertEquals(listOf("0", "0"), core.refundable(bySaleId).lines.map { it.left })
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }
}
