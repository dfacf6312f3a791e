// The Android refund screen's flow (:ui-model's RefundFlow) driven through :tillkit's
// mappers against the real core, as RefundViewModel drives it: receipt number in, what is
// left, a partial refund of a decimal quantity, an over-refund worded with the core's own
// figures, another register's receipt offline, the refund receipt linked to the sale, and a
// retry under the same refund id returning that refund instead of a second one.
package app.tillkit.tests

import app.tillkit.core.toRefundDone
import app.tillkit.core.toRefundProblem
import app.tillkit.core.toRefundRequestRecord
import app.tillkit.core.toRefundableSaleInfo
import app.tillkit.ffi.SaleRefRecord
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.RefundMethod
import app.tillkit.ui.RefundFlow
import app.tillkit.ui.RefundStep
import java.util.Locale
import java.util.UUID
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNull
import org.junit.Test

class RefundScreenTest {
    private val money = MoneyFormat(Locale.UK)

    @Test
    fun the_refund_screen_flow_against_the_real_core() = runBlocking<Unit> {
        val dir = tempDir("refund-screen")
        val core = openStocked(dir)
        try {
            val sale = core.newCart().use { cart ->
                cart.addProduct("p-head", "2")
                cart.addProduct("p-bread", "0.5")
                core.completeSale(cart, listOf(cash(cart.totals().total)))
            }
            val flow = RefundFlow(UUID.randomUUID().toString(), money)

            // Another register's receipt while offline: the core's NeedsConnection, worded.
            val other = "${REGISTER}X-000001"
            val otherRef = flow.scanned(other)!!
            val missing = expectThrows<TillkitException.NeedsConnection> { core.refundable(SaleRefRecord.Receipt(otherRef)) }
            flow.lookupFailed(missing.toRefundProblem(money, null))
            assertEquals(
                "Receipt $other is not on this register. Refunding it needs a connection to the server: " +
                    "try again once this register is online",
                (flow.step as RefundStep.EnterReceipt).problem,
            )

            flow.receiptTyped(" ${sale.receiptNo} ")
            val receipt = flow.lookupTapped()!!
            flow.found(core.refundable(SaleRefRecord.Receipt(receipt)).toRefundableSaleInfo())
            val form = (flow.step as RefundStep.Choose).form
            assertEquals(sale.saleId, form.sale.saleId)
            assertEquals(listOf("49.99", "1.45"), form.sale.lines.map { it.unitPrice })
            assertEquals(listOf("2", "0.5"), form.sale.lines.map { it.left })

            // Half of the bread (a decimal quantity), not back to stock, in cash.
            flow.quantityTyped(2, "0,25")
            flow.restockChanged(2, false)
            flow.reasonTyped("stale")
            val order = flow.confirmTapped()!!
            assertNull(flow.confirmTapped())
            val refund = core.refund(order.toRefundRequestRecord())
            flow.refunded(refund.toRefundDone())
            val done = flow.step as RefundStep.Done
            assertEquals(sale.receiptNo, done.refund.refundOfReceipt)
            assertNotEquals(sale.receiptNo, done.refund.receiptNo)
            assertEquals("Refund ${refund.receiptNo} · of receipt ${sale.receiptNo}", done.lines[0])
            assertEquals("Bread × 0.25 · ${money.format(refund.lines.single().gross, "GBP")} · not back to stock", done.lines[1])
            assertEquals("Reason: stale", done.lines.last())
            // A retry of the same order (an answer the screen never saw) carries the same refund
            // id: the core returns the refund it wrote, and nothing more comes back.
            val retried = core.refund(order.toRefundRequestRecord())
            assertEquals(refund.receiptNo, retried.receiptNo)
            assertEquals(order.refundId, retried.refundId)
            assertEquals(listOf("2", "0.25"), core.refundable(SaleRefRecord.SaleId(sale.saleId)).lines.map { it.left })

            // A second refund started before the first was seen: the core refuses the
            // over-refund with its figures, and the screen words them at the line's name.
            val late = RefundFlow(UUID.randomUUID().toString(), money)
            late.scanned(sale.receiptNo)
            late.found(core.refundable(SaleRefRecord.SaleId(sale.saleId)).toRefundableSaleInfo())
            assertEquals(listOf("2", "0.25"), (late.step as RefundStep.Choose).form.sale.lines.map { it.left })
            assertNotEquals("each refund has its own id", flow.refundId, late.refundId)
            late.quantityTyped(1, "2")
            // Paid in cash: the screen does not offer the card (the core would refuse it).
            late.methodChosen(RefundMethod.Card)
            late.cardReferenceTyped("TRM-7")
            assertEquals("This sale was paid in cash: refund it in cash", late.review!!.problem)
            late.methodChosen(RefundMethod.Cash)
            val lateOrder = late.confirmTapped()!!
            // Meanwhile the headphones came back through another refund of this register.
            core.refund(lateOrder.copy(refundId = UUID.randomUUID().toString()).toRefundRequestRecord())
            val over = expectThrows<TillkitException.OverRefund> { core.refund(lateOrder.toRefundRequestRecord()) }
            late.refundFailed(over.toRefundProblem(money, "GBP"))
            assertEquals(
                "Headphones: 2 sold and 2 already refunded, so at most 0 can come back (not 2). Nothing was refunded.",
                (late.step as RefundStep.Choose).form.failure,
            )
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }
}
