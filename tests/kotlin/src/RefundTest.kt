// Refunds through the bindings: what is left to refund per line, a partial refund with its
// receipt, an over-refund as its own typed exception with the line and quantities (never a
// string to parse), a refund of a sale this device does not hold as NeedsConnection, and,
// online, a receipt number the store's server does not hold as UnknownReceipt.
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
            // Paid in cash: nothing can go back to a card, and the refusal says with what figures.
            val toCard = expectThrows<TillkitException.RefundExceedsCard> {
                core.refund(
                    RefundRequestRecord(
                        refundId = UUID.randomUUID().toString(),
                        sale = bySaleId,
                        lines = RefundLinesRecord.Items(listOf(RefundItemRecord(2u, "1", true))),
                        tender = RefundTenderRecord.Card("T-R1"),
                        reason = null,
                    ),
                )
            }
            assertEquals(listOf("0", "0"), listOf(toCard.paidByCard, toCard.refundedToCard))
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

    @Test
    fun online_a_receipt_number_no_sale_has_is_an_unknown_receipt_and_nothing_is_written() = runBlocking<Unit> {
        TestServer.start().use { server ->
            val dir = tempDir("refunds-unknown")
            val core = openPaired(dir, server)
            try {
                core.login(STORE, REGISTER, "alice")
                eventually(30, "the catalogue from the server") { runCatching { core.product("p-head") }.isSuccess }
                // Another register's number: only the server can say, and it holds no such sale.
                val unknown = expectThrows<TillkitException.UnknownReceipt> {
                    core.refundable(SaleRefRecord.Receipt("R99-000001"))
                }
                assertEquals("R99-000001", unknown.receipt)
                expectThrows<TillkitException.UnknownReceipt> {
                    core.refund(
                        RefundRequestRecord(
                            refundId = UUID.randomUUID().toString(),
                            sale = SaleRefRecord.Receipt("R99-000001"),
                            lines = RefundLinesRecord.Everything(true),
                            tender = RefundTenderRecord.Cash,
                            reason = null,
                        ),
                    )
                }
                assertEquals("nothing was written", 0, core.pendingSales(10u).size)
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }
}
