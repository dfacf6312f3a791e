// The cart as the register screen draws it: lines, quantities, per-line tax and totals.
// Every amount comes from the core's totals; nothing here prices, discounts or taxes.
package app.tillkit.ui

import java.math.BigDecimal

/** A cart line as the cashier added it (from `CartLineRecord`). */
data class CartLine(
    val lineId: Long,
    val name: String,
    val unitPrice: String,
    /** Decimal string: "2", or "0.375" for weighed goods. */
    val quantity: String,
    /** The applied discount's label, e.g. "Staff 10%". */
    val discountLabel: String? = null,
)

/** Tax of one rate (from `TaxLineRecord`). */
data class TaxAmount(val label: String, val tax: String)

/** The core's amounts for one line (from `LineTotalsRecord`). */
data class LineTotals(
    val lineId: Long,
    /** Unit price times quantity, as the core rounded it. */
    val amount: String,
    val lineDiscount: String,
    val tax: String,
    val taxes: List<TaxAmount> = emptyList(),
)

/** The core's live totals of the cart (from `TotalsRecord`). */
data class CartTotals(
    val currency: String,
    val lines: List<LineTotals>,
    val subtotal: String,
    val discountTotal: String,
    val taxTotal: String,
    /** What the customer pays (before cash rounding). */
    val total: String,
    val taxes: List<TaxAmount> = emptyList(),
    /** What a customer paying all in cash owes, after the store's cash rounding. */
    val cashDue: String = total,
)

/** One line on screen. */
data class CartLineView(
    val lineId: Long,
    val name: String,
    /** "2 × £3.40". */
    val quantityAndPrice: String,
    /** The quantity alone, for the stepper. */
    val quantity: String,
    val amount: String,
    /** "-£1.25 Staff 10%"; null without a line discount. */
    val discount: String?,
    /** "VAT 20% £1.13". */
    val tax: String,
    /** Quantity after "+", or null for weighed quantities (edited by typing the weight). */
    val plusQuantity: String?,
    /** Quantity after "-", or null when "-" would remove the line or the quantity is weighed. */
    val minusQuantity: String?,
)

/** The whole cart on screen. */
data class CartView(
    val lines: List<CartLineView>,
    val subtotal: String,
    /** Null when nothing is discounted. */
    val discounts: String?,
    /** Tax per rate, "VAT 20%" to "£2.08". */
    val taxes: List<Pair<String, String>>,
    val taxTotal: String,
    val total: String,
) {
    val isEmpty: Boolean get() = lines.isEmpty()

    companion object {
        /** The empty cart, before the core has answered. */
        val EMPTY = CartView(emptyList(), "", null, emptyList(), "", "")
    }
}

/** Builds the cart screen from the core's lines and totals. */
fun cartView(lines: List<CartLine>, totals: CartTotals, money: MoneyFormat): CartView {
    val currency = totals.currency
    fun fmt(amount: String) = money.format(amount, currency)
    val byLine = totals.lines.associateBy { it.lineId }
    val views = lines.map { line ->
        val t = byLine[line.lineId]
        val step = parseDecimalOrNull(line.quantity)?.takeIf { it.isWhole() }
        CartLineView(
            lineId = line.lineId,
            name = line.name,
            quantityAndPrice = "${line.quantity} × ${fmt(line.unitPrice)}",
            quantity = line.quantity,
            amount = t?.let { fmt(it.amount) } ?: "",
            discount = t?.lineDiscount?.takeIf { decimalOrZero(it).signum() != 0 }?.let { d ->
                listOfNotNull("-${fmt(d)}", line.discountLabel).joinToString(" ")
            },
            tax = t?.let { lineTax(it, ::fmt) } ?: "",
            plusQuantity = step?.add(BigDecimal.ONE)?.plain(),
            minusQuantity = step?.subtract(BigDecimal.ONE)?.takeIf { it.signum() > 0 }?.plain(),
        )
    }
    return CartView(
        lines = views,
        subtotal = fmt(totals.subtotal),
        discounts = totals.discountTotal.takeIf { decimalOrZero(it).signum() != 0 }?.let { "-${fmt(it)}" },
        taxes = totals.taxes.map { it.label to fmt(it.tax) },
        taxTotal = fmt(totals.taxTotal),
        total = fmt(totals.total),
    )
}

private fun lineTax(t: LineTotals, fmt: (String) -> String): String =
    if (t.taxes.isEmpty()) "Tax ${fmt(t.tax)}" else t.taxes.joinToString(" + ") { "${it.label} ${fmt(it.tax)}" }

private fun BigDecimal.plain(): String = stripTrailingZeros().toPlainString()

private fun BigDecimal.isWhole(): Boolean = signum() == 0 || stripTrailingZeros().scale() <= 0
