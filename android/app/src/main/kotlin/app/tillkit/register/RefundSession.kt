// One refund, from the receipt number to the refund receipt, held by RegisterApplication for
// the life of the process: a refund call that is running when the screen goes (rotation, the
// cashier leaving the app) runs to its end, and its receipt is there when the screen comes
// back. The refund id is made here once and sent on every try. Screens only read the view and
// forward taps; the core checks and writes the refund.
package app.tillkit.register

import app.tillkit.core.TillkitAndroid
import app.tillkit.core.toRefundDone
import app.tillkit.core.toRefundProblem
import app.tillkit.core.toRefundRequestRecord
import app.tillkit.core.toRefundableSaleInfo
import app.tillkit.ffi.SaleRefRecord
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.RefundFlow
import app.tillkit.ui.RefundForm
import app.tillkit.ui.RefundMethod
import app.tillkit.ui.RefundProblem
import app.tillkit.ui.RefundReview
import app.tillkit.ui.RefundStep
import java.util.UUID
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/**
 * [scope] is the application's (main thread): the core's calls are suspend functions that
 * never block it, and the flow is only touched on the main thread.
 */
class RefundSession(
    private val till: TillkitAndroid,
    private val scope: CoroutineScope,
    private val money: MoneyFormat = MoneyFormat(),
) {
    /** What the refund screen draws. */
    data class View(val step: RefundStep, val review: RefundReview?, val canConfirm: Boolean)

    private val flow = RefundFlow(UUID.randomUUID().toString(), money)
    private val mutableView = MutableStateFlow(snapshot())
    val view: StateFlow<View> = mutableView.asStateFlow()

    /** A call is running: the screen cannot be left and nothing can be sent again. */
    val busy: Boolean get() = flow.step is RefundStep.LookingUp || flow.step is RefundStep.Sending

    private fun snapshot() = View(flow.step, flow.review, flow.canConfirm)

    private fun publish() {
        mutableView.value = snapshot()
    }

    fun receiptTyped(text: String) = publishAfter { flow.receiptTyped(text) }
    fun lookup() = lookUp(flow.lookupTapped())
    fun scanned(code: String) = lookUp(flow.scanned(code))
    fun otherReceipt() = publishAfter { flow.otherReceipt() }
    fun wholeSale(whole: Boolean) = publishAfter { flow.wholeSale(whole) }
    fun quantityTyped(lineNo: Long, text: String) = publishAfter { flow.quantityTyped(lineNo, text) }
    fun allOfLine(lineNo: Long) = publishAfter { flow.allOfLine(lineNo) }
    fun restockChanged(lineNo: Long, restock: Boolean) = publishAfter { flow.restockChanged(lineNo, restock) }
    fun methodChosen(method: RefundMethod) = publishAfter { flow.methodChosen(method) }
    fun cardReferenceTyped(text: String) = publishAfter { flow.cardReferenceTyped(text) }
    fun reasonTyped(text: String) = publishAfter { flow.reasonTyped(text) }

    private inline fun publishAfter(action: () -> Unit) {
        action()
        publish()
    }

    private fun lookUp(receiptNo: String?) {
        publish()
        receiptNo ?: return
        scope.launch {
            try {
                flow.found(till.core.refundable(SaleRefRecord.Receipt(receiptNo)).toRefundableSaleInfo())
            } catch (e: TillkitException) {
                flow.online = till.status.value.online
                flow.lookupFailed(e.toRefundProblem(money, null))
            } catch (e: CancellationException) {
                flow.lookupFailed(RefundProblem.Other("The search was interrupted: try again"))
                publish()
                throw e
            }
            publish()
        }
    }

    /** Confirm (or "Confirm again" after an interruption): sends at most once at a time. */
    fun confirm() {
        val order = flow.confirmTapped() ?: return
        val currency = (flow.step as? RefundStep.Sending)?.form?.sale?.currency
        publish()
        scope.launch {
            try {
                flow.refunded(till.core.refund(order.toRefundRequestRecord()).toRefundDone())
            } catch (e: TillkitException) {
                flow.online = till.status.value.online
                flow.refundFailed(e.toRefundProblem(money, currency))
            } catch (e: CancellationException) {
                // The core may have written it: only the same order, under the same id, goes again.
                flow.interrupted()
                publish()
                throw e
            }
            publish()
        }
    }

    /** The form being edited, for fields the screen keeps as typed. */
    val form: RefundForm?
        get() = when (val s = flow.step) {
            is RefundStep.Choose -> s.form
            is RefundStep.Sending -> s.form
            is RefundStep.Interrupted -> s.form
            else -> null
        }
}
