// Display of the core's money strings ("12.50", "1200", "0.375") with a currency.
// Formatting only: it never rounds, never computes an amount, never touches Double.
package app.tillkit.ui

import java.math.BigDecimal
import java.text.NumberFormat
import java.util.Currency
import java.util.Locale

/** Formats the core's exact decimal strings as money in the cashier's locale. */
class MoneyFormat(private val locale: Locale = Locale.getDefault()) {

    /**
     * "12.5" GBP -> "£12.50", "1200" JPY -> "¥1,200", "1.5" KWD -> "KWD 1.500". Amounts are
     * shown to at least the currency's minor unit and never rounded: a value with more
     * decimals than the currency has is shown whole, because the core's figure is the truth.
     */
    fun format(amount: String, currency: String): String {
        val value = parseDecimalOrNull(amount)
        val unit = currencyOrNull(currency)
        if (value == null || unit == null) return "$amount $currency"
        val digits = maxOf(unit.defaultFractionDigits, value.scale())
        // NumberFormat is not thread-safe; one per call is cheap next to a recomposition.
        val format = NumberFormat.getCurrencyInstance(locale).apply {
            this.currency = unit
            minimumFractionDigits = digits
            maximumFractionDigits = digits
        }
        return format.format(value)
    }

    /** [format] for a value computed here (change due, shortfall). */
    fun format(amount: BigDecimal, currency: String): String = format(amount.toPlainString(), currency)
}

/** Digits after the decimal point in cash for `currency` (JPY 0, GBP 2, KWD 3), or null if unknown. */
fun minorUnits(currency: String): Int? = currencyOrNull(currency)?.defaultFractionDigits?.takeIf { it >= 0 }

private fun currencyOrNull(code: String): Currency? =
    try {
        Currency.getInstance(code)
    } catch (_: IllegalArgumentException) {
        null
    }

private val PLAIN_DECIMAL = Regex("-?[0-9]+(\\.[0-9]+)?")

/** Parses plain decimal notation exactly, as the core writes it; anything else is null. */
internal fun parseDecimalOrNull(text: String): BigDecimal? =
    if (PLAIN_DECIMAL.matches(text)) BigDecimal(text) else null

/** A core decimal string known to be well formed; zero when it is not (display only). */
internal fun decimalOrZero(text: String): BigDecimal = parseDecimalOrNull(text) ?: BigDecimal.ZERO
