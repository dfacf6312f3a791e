// The refund flow: receipt number in, what is left to refund, the cashier's choice, confirm
// once, the refund receipt out. Wording and flow only: the core checks every quantity again,
// reverses the tax with the sale's own figures and writes the refund; its receipt is final.
package app.tillkit.ui

import java.math.BigDecimal

/** One line of the sale and what is left to refund of it (from `RefundableLineRecord`). */
data class RefundableLine(
    val lineNo: Long,
    val name: String,
    /** The sale line's unit price (from the sale's receipt line), for display. */
    val unitPrice: String,
    /** Decimal strings: "2", or "0.375" for weighed goods; `left = sold - refunded`. */
    val sold: String,
    val refunded: String,
    val left: String,
    val stockTracked: Boolean,
)

/** The sale being refunded (from `RefundableSale`). */
data class RefundableSaleInfo(
    val saleId: String,
    val receiptNo: String,
    val currency: String,
    val total: String,
    val createdAtMs: Long,
    val lines: List<RefundableLine>,
    /** Some of it was paid by card: only then can money go back to a card (the core caps it). */
    val paidByCard: Boolean,
)

/** What comes back: all that is left (one restock flag for all), or these lines. */
sealed interface RefundPick {
    data class Everything(val restock: Boolean) : RefundPick

    data class Lines(val items: List<RefundPickItem>) : RefundPick
}

/** Some quantity of one line; `restock` false for goods that cannot be sold again. */
data class RefundPickItem(val lineNo: Long, val quantity: String, val restock: Boolean)

/** How the money goes back. */
sealed interface RefundTender {
    /** Cash, with the store's cash rounding (the core's receipt says how much). */
    data object Cash : RefundTender

    /** To card on the external terminal; its reference goes on the refund. */
    data class Card(val reference: String) : RefundTender
}

/** A refund ready for `refund` (mapped to `RefundRequestRecord` by `:tillkit`). */
data class RefundOrder(
    /** Made once when the refund was started; the same on every retry of this refund. */
    val refundId: String,
    /** The sale `refundable` found (by id, so the refund is of exactly that sale). */
    val saleId: String,
    val pick: RefundPick,
    val tender: RefundTender,
    val reason: String?,
)

enum class RefundMethod { Cash, Card }

/** What the cashier has chosen so far on the refund screen. */
data class RefundForm(
    val sale: RefundableSaleInfo,
    /** The whole sale (all that is left) or only the quantities typed in [quantities]. */
    val whole: Boolean = true,
    /** Typed quantity per line number, in partial mode; blank or missing is none of it. */
    val quantities: Map<Long, String> = emptyMap(),
    /** Lines marked not restockable (damaged, perishable): they do not go back to stock. */
    val notRestocked: Set<Long> = emptySet(),
    val method: RefundMethod = RefundMethod.Cash,
    val cardReference: String = "",
    val reason: String = "",
    /** Why the last `refund` call failed, in the cashier's words; null before any failure. */
    val failure: String? = null,
)

/** The form checked: what Confirm would send, or why it is disabled. */
data class RefundReview(
    /** Null while Confirm is disabled. */
    val order: RefundOrder?,
    /** Why Confirm is disabled, or null. */
    val problem: String?,
    /** A problem with one line's typed quantity, by line number. */
    val lineProblems: Map<Long, String>,
)

/** The refund receipt's figures the screen shows (from `RefundReceipt`). */
data class RefundDone(
    val refundId: String,
    /** The refund's own number in the register's sequence. */
    val receiptNo: String,
    /** The sale it reverses. */
    val refundOfReceipt: String,
    val currency: String,
    val total: String,
    /** What went back after cash rounding (cash) or to the card. */
    val amountPaid: String,
    val lines: List<RefundedLine>,
    val card: Boolean,
    val cardReference: String?,
    val reason: String?,
)

/** One refunded line on the receipt. */
data class RefundedLine(val name: String, val quantity: String, val gross: String, val restock: Boolean)

/** A typed refusal of `refundable` or `refund` (mapped from `TillkitException` by `:tillkit`). */
sealed interface RefundProblem {
    /** More than is left of a line; nothing was written. */
    data class OverRefund(val lineNo: Long, val requested: String, val sold: String, val refunded: String) : RefundProblem

    /** The sale is not on this device and the server could not be asked (offline, no answer). */
    data class NeedsConnection(val what: String) : RefundProblem

    /**
     * No sale has this receipt number: the core found it is this register's own number and
     * never printed, or the store's server holds no such sale.
     */
    data class UnknownReceipt(val receipt: String) : RefundProblem

    data class NotFound(val what: String) : RefundProblem

    /**
     * This refund's id was already used for a refund given as `receiptNo` with other lines or
     * another tender; nothing more was written.
     */
    data class AlreadyGiven(val receiptNo: String) : RefundProblem

    /** A quantity, receipt number or reference the core refused. */
    data class InvalidInput(val reason: String) : RefundProblem

    /** Anything else, already worded. */
    data class Other(val message: String) : RefundProblem
}

/** Where the refund screen stands. */
sealed interface RefundStep {
    /** Type or scan the receipt number. */
    data class EnterReceipt(val typed: String = "", val problem: String? = null) : RefundStep

    /** `refundable` is running. */
    data class LookingUp(val receiptNo: String) : RefundStep

    /** The sale's lines are shown; the cashier chooses what comes back and how. */
    data class Choose(val form: RefundForm) : RefundStep

    /** `refund` is running with `order`; nothing can be sent again until it answers. */
    data class Sending(val form: RefundForm, val order: RefundOrder) : RefundStep

    /**
     * The call was cancelled (screen left, app sent away) before it answered: the refund may
     * or may not have been written. Only the same order can be sent again, under the same
     * refund id, so the core returns the refund it already wrote instead of a second one.
     */
    data class Interrupted(val form: RefundForm, val order: RefundOrder) : RefundStep

    /** The refund is written: its receipt. */
    data class Done(val refund: RefundDone, val lines: List<String>) : RefundStep
}

/**
 * The refund screen's state machine; the app calls the core when it says so.
 * `refundId` is made once per refund (a UUID) and sent on every try of it. Whether a receipt
 * number exists is the core's answer (`UnknownReceipt`), never guessed from its register part.
 */
class RefundFlow(
    val refundId: String,
    private val money: MoneyFormat,
) {
    var step: RefundStep = RefundStep.EnterReceipt()
        private set

    /** Whether the register is online now (the status pill's), for the wording of a missing sale. */
    var online: Boolean = false

    /** Typing in the receipt number field. */
    fun receiptTyped(text: String) {
        val s = step
        if (s is RefundStep.EnterReceipt) step = s.copy(typed = text)
    }

    /**
     * "Find" or the field's Enter (a keyboard-wedge scanner types the receipt's barcode,
     * which carries the receipt number, and Enter): the receipt number to pass to
     * `refundable`, or null when there is nothing to look up or a look-up is running.
     */
    fun lookupTapped(): String? {
        val s = step as? RefundStep.EnterReceipt ?: return null
        val receipt = normalisedReceipt(s.typed)
        if (receipt.isEmpty()) {
            step = s.copy(problem = "Type or scan the receipt number")
            return null
        }
        step = RefundStep.LookingUp(receipt)
        return receipt
    }

    /** A scanned receipt barcode: the same as typing its number and pressing Enter. */
    fun scanned(code: String): String? {
        if (step !is RefundStep.EnterReceipt) return null
        step = RefundStep.EnterReceipt(code)
        return lookupTapped()
    }

    /** `refundable` answered. */
    fun found(sale: RefundableSaleInfo) {
        if (step is RefundStep.LookingUp) step = RefundStep.Choose(RefundForm(sale))
    }

    /** `refundable` refused: back to the receipt field, its text kept, with the reason. */
    fun lookupFailed(problem: RefundProblem) {
        val s = step as? RefundStep.LookingUp ?: return
        step = RefundStep.EnterReceipt(s.receiptNo, lookupMessage(problem, s.receiptNo))
    }

    /** Another receipt: only while choosing (never while a refund is being sent). */
    fun otherReceipt() {
        val s = step
        if (s is RefundStep.Choose) step = RefundStep.EnterReceipt(s.form.sale.receiptNo)
    }

    /** Edits the choice; ignored unless the cashier is choosing. */
    fun edit(change: (RefundForm) -> RefundForm) {
        val s = step as? RefundStep.Choose ?: return
        step = RefundStep.Choose(change(s.form))
    }

    fun wholeSale(whole: Boolean) = edit { it.copy(whole = whole) }

    fun quantityTyped(lineNo: Long, text: String) = edit { it.copy(whole = false, quantities = it.quantities + (lineNo to text)) }

    /** "All of it" for one line: what is left of it. */
    fun allOfLine(lineNo: Long) = edit { f ->
        val left = f.sale.lines.firstOrNull { it.lineNo == lineNo }?.left ?: return@edit f
        f.copy(whole = false, quantities = f.quantities + (lineNo to left))
    }

    fun restockChanged(lineNo: Long, restock: Boolean) =
        edit { it.copy(notRestocked = if (restock) it.notRestocked - lineNo else it.notRestocked + lineNo) }

    fun methodChosen(method: RefundMethod) = edit { it.copy(method = method) }

    fun cardReferenceTyped(text: String) = edit { it.copy(cardReference = text) }

    fun reasonTyped(text: String) = edit { it.copy(reason = text) }

    /** The current choice checked (for the screen: line problems, why Confirm is off). */
    val review: RefundReview?
        get() = when (val s = step) {
            is RefundStep.Choose -> reviewRefund(s.form, refundId)
            else -> null
        }

    /** Whether Confirm (or "Confirm again" after an interruption) is enabled. */
    val canConfirm: Boolean
        get() = when (val s = step) {
            is RefundStep.Choose -> review?.order != null
            is RefundStep.Interrupted -> true
            else -> false
        }

    /**
     * Confirm: the order to pass to `refund`, or null when Confirm is disabled or a refund is
     * already being sent (a second tap sends nothing). After an interruption it is the very
     * same order, under the same refund id.
     */
    fun confirmTapped(): RefundOrder? {
        return when (val s = step) {
            is RefundStep.Choose -> {
                val order = reviewRefund(s.form, refundId).order ?: return null
                step = RefundStep.Sending(s.form.copy(failure = null), order)
                order
            }
            is RefundStep.Interrupted -> {
                step = RefundStep.Sending(s.form, s.order)
                s.order
            }
            else -> null
        }
    }

    /** `refund` returned: the refund is written. */
    fun refunded(done: RefundDone) {
        if (step is RefundStep.Sending || step is RefundStep.Interrupted) {
            step = RefundStep.Done(done, refundReceiptLines(done, money))
        }
    }

    /**
     * `refund` refused with a typed error: nothing was written, so the choice can be changed
     * and confirmed again (still under the same refund id).
     */
    fun refundFailed(problem: RefundProblem) {
        val s = step as? RefundStep.Sending ?: return
        step = RefundStep.Choose(s.form.copy(failure = refundMessage(problem, s.form.sale)))
    }

    /** The `refund` call was cancelled or its answer lost: the same order may be sent again. */
    fun interrupted() {
        val s = step as? RefundStep.Sending ?: return
        step = RefundStep.Interrupted(s.form, s.order)
    }

    /** The receipt field's wording of a refusal of `refundable`. */
    fun lookupMessage(problem: RefundProblem, receiptNo: String): String = when (problem) {
        is RefundProblem.UnknownReceipt ->
            "No sale has receipt number ${problem.receipt}: check the number on the receipt"
        is RefundProblem.NeedsConnection -> if (!online) {
            "Receipt $receiptNo is not on this register. Refunding it needs a connection to the server: " +
                "try again once this register is online"
        } else {
            "Receipt $receiptNo is not on this register and the server did not answer: try again in a moment"
        }
        is RefundProblem.NotFound -> "Not found: ${problem.what}"
        is RefundProblem.InvalidInput -> "Receipt $receiptNo cannot be refunded: ${problem.reason}"
        is RefundProblem.OverRefund, is RefundProblem.AlreadyGiven -> refundMessage(problem, null)
        is RefundProblem.Other -> problem.message
    }

    /** The choose screen's wording of a refusal of `refund`. */
    fun refundMessage(problem: RefundProblem, sale: RefundableSaleInfo?): String = when (problem) {
        is RefundProblem.OverRefund -> {
            val name = sale?.lines?.firstOrNull { it.lineNo == problem.lineNo }?.name ?: "Line ${problem.lineNo}"
            val left = leftOf(problem.sold, problem.refunded)
            "$name: ${problem.sold} sold and ${problem.refunded} already refunded, so at most $left can come back " +
                "(not ${problem.requested}). Nothing was refunded."
        }
        is RefundProblem.NeedsConnection -> sale?.let { lookupMessage(problem, it.receiptNo) } ?: "${problem.what} needs a connection to the server"
        is RefundProblem.UnknownReceipt -> lookupMessage(problem, problem.receipt)
        is RefundProblem.AlreadyGiven ->
            "This refund was already given as receipt ${problem.receiptNo}; nothing more was refunded. " +
                "Start a new refund to give back more."
        is RefundProblem.NotFound -> "Not found: ${problem.what}. Nothing was refunded."
        is RefundProblem.InvalidInput -> "${problem.reason}. Nothing was refunded."
        is RefundProblem.Other -> problem.message
    }
}

/**
 * Checks the form as the core will (quantities within what is left, a card reference for
 * card) so the cashier sees the problem at the line; the core checks again and decides.
 */
fun reviewRefund(form: RefundForm, refundId: String): RefundReview {
    val lineProblems = mutableMapOf<Long, String>()
    val items = mutableListOf<RefundPickItem>()
    val refundable = form.sale.lines.filter { decimalOrZero(it.left).signum() > 0 }
    if (refundable.isEmpty()) {
        return RefundReview(null, "Everything on receipt ${form.sale.receiptNo} has already been refunded", emptyMap())
    }
    val pick: RefundPick? = if (form.whole) {
        if (refundable.none { it.lineNo in form.notRestocked }) {
            RefundPick.Everything(restock = true)
        } else {
            // One line is not restockable: name every line, each with its own flag.
            RefundPick.Lines(refundable.map { RefundPickItem(it.lineNo, it.left, it.lineNo !in form.notRestocked) })
        }
    } else {
        for (line in form.sale.lines) {
            val typed = form.quantities[line.lineNo]?.trim().orEmpty()
            if (typed.isEmpty()) continue
            val quantity = parseQuantity(typed)
            val left = decimalOrZero(line.left)
            when {
                quantity == null -> lineProblems[line.lineNo] = "Enter a quantity like 1 or 0.25"
                quantity.signum() == 0 -> Unit
                quantity > left -> lineProblems[line.lineNo] = if (left.signum() == 0) {
                    "Already refunded in full (${line.sold} sold)"
                } else {
                    "At most ${line.left} can come back: ${line.sold} sold, ${line.refunded} already refunded"
                }
                else -> items += RefundPickItem(line.lineNo, quantity.toPlainString(), line.lineNo !in form.notRestocked)
            }
        }
        if (items.isEmpty()) null else RefundPick.Lines(items)
    }
    val tender = when (form.method) {
        RefundMethod.Cash -> RefundTender.Cash
        RefundMethod.Card -> form.cardReference.trim().takeIf { it.isNotEmpty() }?.let { RefundTender.Card(it) }
    }
    val problem = when {
        lineProblems.isNotEmpty() -> "Check the quantities marked in red"
        pick == null -> "Enter what comes back, or choose the whole sale"
        form.method == RefundMethod.Card && !form.sale.paidByCard -> "This sale was paid in cash: refund it in cash"
        tender == null -> "Enter the card terminal's reference for the refund"
        else -> null
    }
    if (problem != null) return RefundReview(null, problem, lineProblems)
    val reason = form.reason.trim().takeIf { it.isNotEmpty() }
    return RefundReview(RefundOrder(refundId, form.sale.saleId, pick!!, tender!!, reason), null, lineProblems)
}

/** The refund receipt as lines: its own number and the sale it reverses first. */
fun refundReceiptLines(done: RefundDone, money: MoneyFormat): List<String> {
    val lines = mutableListOf("Refund ${done.receiptNo} · of receipt ${done.refundOfReceipt}")
    for (l in done.lines) {
        val stock = if (l.restock) "" else " · not back to stock"
        lines += "${l.name} × ${l.quantity} · ${money.format(l.gross, done.currency)}$stock"
    }
    val paid = money.format(done.amountPaid, done.currency)
    lines += if (done.card) {
        "Back to card $paid" + (done.cardReference?.let { " · terminal ref. $it" } ?: "")
    } else {
        "Cash back $paid"
    }
    done.reason?.let { lines += "Reason: $it" }
    return lines
}

/** A receipt number as typed or scanned: surrounding spaces and line ends dropped. */
fun normalisedReceipt(text: String): String = text.trim()

// "1", "0.375" or "0,375" on a comma keyboard; no signs, no grouping.
private val TYPED_QUANTITY = Regex("[0-9]{1,9}([.,][0-9]+)?")

private fun parseQuantity(text: String): BigDecimal? =
    if (TYPED_QUANTITY.matches(text)) BigDecimal(text.replace(',', '.')).stripTrailingZeros().let {
        if (it.scale() < 0) it.setScale(0) else it
    } else {
        null
    }

private fun leftOf(sold: String, refunded: String): String {
    val s = parseDecimalOrNull(sold) ?: return "?"
    val r = parseDecimalOrNull(refunded) ?: return "?"
    return (s - r).max(BigDecimal.ZERO).toPlainString()
}
