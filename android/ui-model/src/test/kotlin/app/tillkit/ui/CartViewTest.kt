package app.tillkit.ui

import java.util.Locale
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class CartViewTest {
    private val money = MoneyFormat(Locale.UK)

    // Figures as the core computed them for a tax-inclusive UK shop.
    private val lines = listOf(
        CartLine(lineId = 1, name = "Flat White", unitPrice = "3.40", quantity = "2"),
        CartLine(lineId = 2, name = "Cheddar", unitPrice = "16.00", quantity = "0.375", discountLabel = "Staff 10%"),
    )
    private val totals = CartTotals(
        currency = "GBP",
        lines = listOf(
            LineTotals(2, amount = "6.00", lineDiscount = "0.60", tax = "0.00", taxes = listOf(TaxAmount("VAT 0%", "0.00"))),
            LineTotals(1, amount = "6.80", lineDiscount = "0", tax = "1.13", taxes = listOf(TaxAmount("VAT 20%", "1.13"))),
        ),
        subtotal = "12.80",
        discountTotal = "0.60",
        taxTotal = "1.13",
        total = "12.20",
        taxes = listOf(TaxAmount("VAT 20%", "1.13"), TaxAmount("VAT 0%", "0.00")),
    )

    @Test
    fun lines_keep_cart_order_and_take_their_amounts_from_the_core_by_line_id() {
        val view = cartView(lines, totals, money)
        assertEquals(listOf("Flat White", "Cheddar"), view.lines.map { it.name })
        assertEquals("2 × £3.40", view.lines[0].quantityAndPrice)
        assertEquals("£6.80", view.lines[0].amount)
        assertEquals("VAT 20% £1.13", view.lines[0].tax)
        assertEquals("£6.00", view.lines[1].amount)
        assertEquals("VAT 0% £0.00", view.lines[1].tax)
    }

    @Test
    fun totals_and_per_rate_tax_are_the_cores_figures() {
        val view = cartView(lines, totals, money)
        assertEquals("£12.80", view.subtotal)
        assertEquals("-£0.60", view.discounts)
        assertEquals(listOf("VAT 20%" to "£1.13", "VAT 0%" to "£0.00"), view.taxes)
        assertEquals("£1.13", view.taxTotal)
        assertEquals("£12.20", view.total)
    }

    @Test
    fun a_line_discount_shows_with_its_label_and_none_shows_when_zero() {
        val view = cartView(lines, totals, money)
        assertNull(view.lines[0].discount)
        assertEquals("-£0.60 Staff 10%", view.lines[1].discount)
        assertNull(cartView(lines, totals.copy(discountTotal = "0.00"), money).discounts)
    }

    @Test
    fun whole_quantities_step_by_one_and_minus_stops_before_zero() {
        val view = cartView(lines, totals, money)
        assertEquals("3", view.lines[0].plusQuantity)
        assertEquals("1", view.lines[0].minusQuantity)
        val single = cartView(listOf(lines[0].copy(quantity = "1")), totals, money)
        assertNull(single.lines[0].minusQuantity)
        assertEquals("2", single.lines[0].plusQuantity)
    }

    @Test
    fun weighed_quantities_have_no_stepper() {
        val view = cartView(lines, totals, money)
        assertNull(view.lines[1].plusQuantity)
        assertNull(view.lines[1].minusQuantity)
    }

    @Test
    fun yen_cart_shows_no_decimals() {
        val yen = CartTotals("JPY", listOf(LineTotals(1, "1200", "0", "109", listOf(TaxAmount("消費税 10%", "109")))),
            "1200", "0", "109", "1200")
        val view = cartView(listOf(CartLine(1, "Bento", "1200", "1")), yen, MoneyFormat(Locale.US))
        assertEquals("¥1,200", view.total)
        assertEquals("消費税 10% ¥109", view.lines[0].tax)
    }

    @Test
    fun an_empty_cart_is_empty() {
        assertTrue(cartView(emptyList(), totals.copy(lines = emptyList()), money).isEmpty)
        assertTrue(CartView.EMPTY.isEmpty)
    }
}
