// Sales after "Charge": the completed-sale banner and the needs-attention list.
// Wording only; the core owns the queue, the server's reasons and every amount.
package app.tillkit.ui

/** A sale the server has not acknowledged (from `QueuedSaleRecord`). */
data class QueuedSale(
    val saleId: String,
    val receiptNo: String,
    val total: String,
    val currency: String,
    /** When it was queued, Unix ms. */
    val enqueuedAtMs: Long,
    /** The server's reason, for sales set aside. */
    val reason: String? = null,
    val lastError: String? = null,
    /** Still queued and retried automatically (the network path refused it), not set aside. */
    val parked: Boolean = false,
)

/** A row of the needs-attention list; each has a Retry action. */
data class AttentionItem(
    val saleId: String,
    val receiptNo: String,
    val total: String,
    val reason: String,
    /** "rung up 2 h ago", and for a parked sale that it is retried by itself. */
    val age: String,
)

/** The needs-attention rows, as the core ordered them. */
fun attentionItems(sales: List<QueuedSale>, nowMs: Long, money: MoneyFormat): List<AttentionItem> =
    sales.map { sale ->
        AttentionItem(
            saleId = sale.saleId,
            receiptNo = sale.receiptNo,
            total = money.format(sale.total, sale.currency),
            reason = sale.reason ?: sale.lastError ?: "The server gave no reason",
            // A device clock set back must not show a negative age.
            age = "rung up ${ago(maxOf(0L, nowMs - sale.enqueuedAtMs) / 1_000)}" +
                if (sale.parked) " · retrying by itself" else "",
        )
    }

/** The core's receipt figures the cashier acts on (from `SaleReceipt`). */
data class CompletedSale(
    val receiptNo: String,
    val currency: String,
    /** What was owed after cash rounding. */
    val amountDue: String,
    val changeDue: String,
)

/** "R07-000042 · £12.50 paid · change £7.50" from the receipt, never from the preview. */
fun completedSaleBanner(sale: CompletedSale, money: MoneyFormat): String {
    val paid = "${sale.receiptNo} · ${money.format(sale.amountDue, sale.currency)} paid"
    val change = decimalOrZero(sale.changeDue).takeIf { it.signum() > 0 }
    return if (change == null) paid else "$paid · change ${money.format(sale.changeDue, sale.currency)}"
}
