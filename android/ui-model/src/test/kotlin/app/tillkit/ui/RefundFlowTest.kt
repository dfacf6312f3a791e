package app.tillkit.ui

import java.util.Locale
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test

class RefundFlowTest {
    private val money = MoneyFormat(Locale.UK)
    private val refundId = "0193a6f2-7c1e-7b4a-9f1e-2a6d1c9e5b01"

    // Two heads at 49.99 (one already refunded), 0.375 kg of cheese, bread all refunded.
    private val sale = RefundableSaleInfo(
        saleId = "0193a6f0-0000-7000-8000-000000000042",
        receiptNo = "R07-000042",
        currency = "GBP",
        total = "104.48",
        createdAtMs = 1_764_000_000_000,
        lines = listOf(
            RefundableLine(1, "Headphones", "49.99", sold = "2", refunded = "1", left = "1", stockTracked = true),
            RefundableLine(2, "Comté", "18.40", sold = "0.375", refunded = "0", left = "0.375", stockTracked = true),
            RefundableLine(3, "Bread", "2.50", sold = "1", refunded = "1", left = "0", stockTracked = false),
        ),
        paidByCard = true,
    )

    private fun choosing(flow: RefundFlow = RefundFlow(refundId, money)): RefundFlow {
        flow.receiptTyped("  R07-000042\n")
        assertEquals("R07-000042", flow.lookupTapped())
        flow.found(sale)
        return flow
    }

    @Test
    fun the_receipt_number_is_looked_up_once_and_a_scan_is_the_same_as_typing_it() {
        val flow = RefundFlow(refundId, money)
        assertNull(flow.lookupTapped())
        assertEquals("Type or scan the receipt number", (flow.step as RefundStep.EnterReceipt).problem)
        assertEquals("R07-000042", flow.scanned("R07-000042\r\n"))
        assertNull("a second Enter while looking up sends nothing", flow.lookupTapped())
        assertNull(flow.scanned("R07-000043"))
        assertEquals(RefundStep.LookingUp("R07-000042"), flow.step)
        flow.found(sale)
        assertEquals(sale, (flow.step as RefundStep.Choose).form.sale)
    }

    @Test
    fun the_whole_sale_refunds_what_is_left_and_a_line_not_restockable_names_every_line() {
        val flow = choosing()
        val whole = flow.review!!.order!!
        assertEquals(RefundOrder(refundId, sale.saleId, RefundPick.Everything(restock = true), RefundTender.Cash, null), whole)
        flow.restockChanged(2, false)
        assertEquals(
            "bread (nothing left) is not named; the cheese keeps its weight and does not go back to stock",
            RefundPick.Lines(listOf(RefundPickItem(1, "1", true), RefundPickItem(2, "0.375", false))),
            flow.review!!.order!!.pick,
        )
        flow.restockChanged(2, true)
        assertEquals(RefundPick.Everything(restock = true), flow.review!!.order!!.pick)
    }

    @Test
    fun quantities_are_decimal_checked_against_what_is_left_and_named_at_their_line() {
        val flow = choosing()
        flow.quantityTyped(2, "0,125")
        assertEquals(RefundPick.Lines(listOf(RefundPickItem(2, "0.125", true))), flow.review!!.order!!.pick)
        flow.quantityTyped(1, "2")
        var review = flow.review!!
        assertNull(review.order)
        assertEquals("At most 1 can come back: 2 sold, 1 already refunded", review.lineProblems[1])
        assertEquals("Check the quantities marked in red", review.problem)
        assertFalse(flow.canConfirm)
        assertNull(flow.confirmTapped())
        flow.quantityTyped(1, "1.")
        assertEquals("Enter a quantity like 1 or 0.25", flow.review!!.lineProblems[1])
        flow.quantityTyped(1, "-1")
        assertEquals("Enter a quantity like 1 or 0.25", flow.review!!.lineProblems[1])
        flow.quantityTyped(3, "1")
        assertEquals("Already refunded in full (1 sold)", flow.review!!.lineProblems[3])
        flow.quantityTyped(1, "1.000")
        flow.quantityTyped(2, "0.4")
        flow.quantityTyped(3, "")
        review = flow.review!!
        assertEquals(setOf(2L), review.lineProblems.keys)
        assertEquals("At most 0.375 can come back: 0.375 sold, 0 already refunded", review.lineProblems[2])
        flow.allOfLine(2)
        review = flow.review!!
        assertEquals(
            RefundPick.Lines(listOf(RefundPickItem(1, "1", true), RefundPickItem(2, "0.375", true))),
            review.order!!.pick,
        )
        // Zero of every line is nothing chosen, not a refund of nothing.
        flow.quantityTyped(1, "0")
        flow.quantityTyped(2, "0.000")
        assertEquals("Enter what comes back, or choose the whole sale", flow.review!!.problem)
        flow.wholeSale(true)
        assertEquals(RefundPick.Everything(true), flow.review!!.order!!.pick)
    }

    @Test
    fun card_needs_the_terminal_reference_and_the_reason_is_optional() {
        val flow = choosing()
        flow.methodChosen(RefundMethod.Card)
        assertEquals("Enter the card terminal's reference for the refund", flow.review!!.problem)
        flow.cardReferenceTyped("  TRM-88121 ")
        flow.reasonTyped("   ")
        assertEquals(RefundTender.Card("TRM-88121"), flow.review!!.order!!.tender)
        assertNull(flow.review!!.order!!.reason)
        flow.reasonTyped(" faulty left ear ")
        assertEquals("faulty left ear", flow.review!!.order!!.reason)
        flow.methodChosen(RefundMethod.Cash)
        assertEquals(RefundTender.Cash, flow.review!!.order!!.tender)

        // Paid all in cash: nothing can go back to a card.
        val cashSale = RefundFlow(refundId, money)
        cashSale.scanned(sale.receiptNo)
        cashSale.found(sale.copy(paidByCard = false))
        cashSale.methodChosen(RefundMethod.Card)
        cashSale.cardReferenceTyped("TRM-1")
        assertEquals("This sale was paid in cash: refund it in cash", cashSale.review!!.problem)
        assertNull(cashSale.confirmTapped())
    }

    @Test
    fun confirm_sends_once_and_every_retry_carries_the_same_refund_id() {
        val flow = choosing()
        flow.quantityTyped(1, "1")
        val first = flow.confirmTapped()!!
        assertEquals(refundId, first.refundId)
        assertNull("a second tap while sending sends nothing", flow.confirmTapped())
        assertFalse(flow.canConfirm)
        flow.quantityTyped(1, "0")
        assertEquals("no edit while sending", first, (flow.step as RefundStep.Sending).order)
        flow.otherReceipt()
        assertTrue(flow.step is RefundStep.Sending)

        // Another register refunded the same line meanwhile: nothing written, choose again.
        flow.refundFailed(RefundProblem.OverRefund(1, requested = "1", sold = "2", refunded = "2"))
        val form = (flow.step as RefundStep.Choose).form
        assertEquals(
            "Headphones: 2 sold and 2 already refunded, so at most 0 can come back (not 1). Nothing was refunded.",
            form.failure,
        )
        flow.quantityTyped(1, "")
        flow.quantityTyped(2, "0.2")
        val second = flow.confirmTapped()!!
        assertEquals(refundId, second.refundId)
        assertNull("the failure is cleared once sent again", (flow.step as RefundStep.Sending).form.failure)

        // The call was cancelled: only the same order goes again, under the same id.
        flow.interrupted()
        assertTrue(flow.canConfirm)
        flow.quantityTyped(2, "0.1")
        assertEquals("the choice is locked after an interruption", second, (flow.step as RefundStep.Interrupted).order)
        val again = flow.confirmTapped()!!
        assertSame(second, again)
        assertNull(flow.confirmTapped())
        // The id was used for a refund with other content (an answer lost otherwise): said plainly.
        flow.refundFailed(RefundProblem.AlreadyGiven("R07-000051"))
        assertEquals(
            "This refund was already given as receipt R07-000051; nothing more was refunded. Start a new refund to give back more.",
            (flow.step as RefundStep.Choose).form.failure,
        )
    }

    @Test
    fun the_refund_receipt_shows_its_own_number_linked_to_the_sale() {
        val flow = choosing()
        flow.methodChosen(RefundMethod.Card)
        flow.cardReferenceTyped("TRM-1")
        flow.restockChanged(2, false)
        flow.confirmTapped()!!
        val done = RefundDone(
            refundId = refundId, receiptNo = "R07-000051", refundOfReceipt = "R07-000042", currency = "GBP",
            total = "56.89", amountPaid = "56.89",
            lines = listOf(RefundedLine("Headphones", "1", "49.99", true), RefundedLine("Comté", "0.375", "6.90", false)),
            card = true, cardReference = "TRM-1", reason = "faulty",
        )
        flow.refunded(done)
        assertEquals(
            listOf(
                "Refund R07-000051 · of receipt R07-000042",
                "Headphones × 1 · £49.99",
                "Comté × 0.375 · £6.90 · not back to stock",
                "Back to card £56.89 · terminal ref. TRM-1",
                "Reason: faulty",
            ),
            (flow.step as RefundStep.Done).lines,
        )
        assertNull("nothing more to send", flow.confirmTapped())
        // Cash back is what the core paid after cash rounding, not the total.
        val cash = done.copy(total = "56.89", amountPaid = "56.90", card = false, cardReference = null, reason = null)
        assertEquals("Cash back £56.90", refundReceiptLines(cash, money).last())
    }

    @Test
    fun a_receipt_the_core_calls_unknown_says_check_the_number_and_one_not_held_says_whether_online() {
        val flow = RefundFlow(refundId, money)
        flow.scanned("R07-000999")
        flow.lookupFailed(RefundProblem.UnknownReceipt("R07-000999"))
        var step = flow.step as RefundStep.EnterReceipt
        assertEquals("R07-000999", step.typed)
        assertEquals("No sale has receipt number R07-000999: check the number on the receipt", step.problem)
        // Not held and the server not reachable: the number's register part is never read.
        val missing = RefundProblem.NeedsConnection("a refund of receipt R07-000998, which this device does not hold,")
        flow.receiptTyped("R07-000998")
        flow.lookupTapped()
        flow.lookupFailed(missing)
        step = flow.step as RefundStep.EnterReceipt
        assertEquals(
            "Receipt R07-000998 is not on this register. Refunding it needs a connection to the server: " +
                "try again once this register is online",
            step.problem,
        )
        flow.online = true
        assertEquals(
            "Receipt R99-000001 is not on this register and the server did not answer: try again in a moment",
            flow.lookupMessage(missing, "R99-000001"),
        )
        assertEquals(
            "Receipt R07-000051 cannot be refunded: R07-000051 is a refund, not a sale",
            flow.lookupMessage(RefundProblem.InvalidInput("R07-000051 is a refund, not a sale"), "R07-000051"),
        )
    }

    @Test
    fun a_sale_with_nothing_left_cannot_be_confirmed() {
        val spent = sale.copy(lines = sale.lines.map { it.copy(refunded = it.sold, left = "0") })
        val flow = RefundFlow(refundId, money)
        flow.scanned("R07-000042")
        flow.found(spent)
        assertEquals("Everything on receipt R07-000042 has already been refunded", flow.review!!.problem)
        assertFalse(flow.canConfirm)
        assertNull(flow.confirmTapped())
        flow.otherReceipt()
        assertEquals(RefundStep.EnterReceipt("R07-000042"), flow.step)
    }
}
