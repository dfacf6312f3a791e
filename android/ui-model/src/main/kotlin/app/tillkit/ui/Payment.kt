// The payment sheet: what the cashier typed, whether "Charge" may be pressed, change due.
// A preview only: the core checks the payments again, cash-rounds, and its receipt is final.
package app.tillkit.ui

import java.math.BigDecimal

/** A payment ready for `complete_sale` (mapped to `PaymentRecord` by `:tillkit`). */
sealed interface Tender {
    /** Cash tendered: plain decimal string; the core gives change. */
    data class Cash(val amount: String) : Tender

    /** Paid on the external card terminal, for the exact amount due. */
    data class Card(val amount: String, val reference: String) : Tender
}

/** The payment sheet's state. */
data class PaymentState(
    /** What will be sent when "Charge" is pressed; null while "Charge" is disabled. */
    val tender: Tender?,
    /** Why "Charge" is disabled, or null. */
    val problem: String?,
    /** "£7.50" for cash paid over the total; null otherwise. */
    val changeDue: String?,
)

/**
 * Cash: `tendered` as typed against what cash must cover: pass the totals' `cashDue`, which
 * already includes the store's cash rounding (e.g. CHF to 0.05). Change is previewed as
 * tendered minus that; the receipt the core returns is what the cashier hands back.
 */
fun cashPayment(total: String, currency: String, tendered: String, money: MoneyFormat): PaymentState {
    val due = parseDecimalOrNull(total) ?: return blocked("The total is not known yet")
    val typed = tendered.trim()
    if (typed.isEmpty()) return blocked("Enter the cash tendered")
    val amount = parseTyped(typed) ?: return blocked("Enter an amount like ${example(currency)}")
    val minor = minorUnits(currency)
    if (minor != null && amount.stripTrailingZeros().scale() > minor) {
        return blocked(if (minor == 0) "$currency has no decimals" else "$currency has at most $minor decimals")
    }
    if (amount < due) return blocked("Short by ${money.format(due - amount, currency)}")
    val change = (amount - due).takeIf { it.signum() > 0 }?.let { money.format(it, currency) }
    return PaymentState(Tender.Cash(amount.toPlainString()), problem = null, changeDue = change)
}

/** Card: the terminal charged the exact total; its reference goes on the sale. */
fun cardPayment(total: String, reference: String): PaymentState {
    if (parseDecimalOrNull(total) == null) return blocked("The total is not known yet")
    val ref = reference.trim()
    if (ref.isEmpty()) return blocked("Enter the card terminal's reference")
    return PaymentState(Tender.Card(total, ref), problem = null, changeDue = null)
}

private fun blocked(problem: String) = PaymentState(tender = null, problem = problem, changeDue = null)

// Cashiers type "20", "20.5", or "20,50" on a comma keyboard; no grouping separators, no signs.
private val TYPED_AMOUNT = Regex("[0-9]{1,12}([.,][0-9]+)?")

private fun parseTyped(text: String): BigDecimal? =
    if (TYPED_AMOUNT.matches(text)) BigDecimal(text.replace(',', '.')) else null

private fun example(currency: String): String = when (minorUnits(currency)) {
    0 -> "2000"
    3 -> "20.000"
    else -> "20.00"
}
