package app.tillkit.ui

import java.util.Locale
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class PaymentStateTest {
    private val money = MoneyFormat(Locale.UK)

    @Test
    fun change_due_is_exact_where_binary_floating_point_is_not() {
        // 0.30 - 0.10 - 0.10 - 0.10 is not 0 in Double; tendering 0.30 for 0.20 gives exactly 0.10.
        val state = cashPayment(total = "0.20", currency = "GBP", tendered = "0.30", money = money)
        assertEquals("£0.10", state.changeDue)
        assertEquals(Tender.Cash("0.30"), state.tender)
        assertNull(state.problem)
    }

    @Test
    fun tendering_twenty_for_twelve_fifty_gives_seven_fifty_change() {
        val state = cashPayment("12.50", "GBP", "20", money)
        assertEquals("£7.50", state.changeDue)
        assertEquals(Tender.Cash("20"), state.tender)
    }

    @Test
    fun exact_cash_has_no_change_line() {
        val state = cashPayment("12.50", "GBP", "12.5", money)
        assertNull(state.changeDue)
        assertEquals(Tender.Cash("12.5"), state.tender)
    }

    @Test
    fun underpaying_blocks_charge_and_says_by_how_much() {
        val state = cashPayment("12.50", "GBP", "10", money)
        assertNull(state.tender)
        assertEquals("Short by £2.50", state.problem)
    }

    @Test
    fun a_comma_keyboard_is_understood() {
        assertEquals(Tender.Cash("20.50"), cashPayment("12.50", "GBP", "20,50", money).tender)
    }

    @Test
    fun more_decimals_than_the_currency_has_are_refused() {
        assertEquals("GBP has at most 2 decimals", cashPayment("12.50", "GBP", "20.001", money).problem)
        assertEquals("JPY has no decimals", cashPayment("1200", "JPY", "1500.5", money).problem)
        // Trailing zeros are not extra precision.
        assertEquals(Tender.Cash("1500.00"), cashPayment("1200", "JPY", "1500.00", money).tender)
    }

    @Test
    fun kuwaiti_change_keeps_fils() {
        val state = cashPayment("3.125", "KWD", "5", money)
        assertEquals("KWD1.875", state.changeDue)
    }

    @Test
    fun yen_change_has_no_decimals() {
        assertEquals("JP¥800", cashPayment("1200", "JPY", "2000", money).changeDue)
    }

    @Test
    fun empty_or_junk_tender_asks_for_an_amount() {
        assertEquals("Enter the cash tendered", cashPayment("12.50", "GBP", "  ", money).problem)
        assertEquals("Enter an amount like 20.00", cashPayment("12.50", "GBP", "twenty", money).problem)
        assertEquals("Enter an amount like 2000", cashPayment("1200", "JPY", "-5", money).problem)
        assertEquals("Enter an amount like 20.000", cashPayment("1.5", "KWD", "1,000.000", money).problem)
    }

    @Test
    fun card_needs_the_terminal_reference_and_pays_the_exact_total() {
        assertEquals("Enter the card terminal's reference", cardPayment("12.50", "   ").problem)
        val state = cardPayment("12.50", " T-4411 ")
        assertEquals(Tender.Card("12.50", "T-4411"), state.tender)
        assertNull(state.changeDue)
    }
}
