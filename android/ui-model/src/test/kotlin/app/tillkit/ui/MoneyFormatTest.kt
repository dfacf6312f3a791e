package app.tillkit.ui

import java.math.BigDecimal
import java.util.Locale
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class MoneyFormatTest {
    private val uk = MoneyFormat(Locale.UK)

    @Test
    fun pounds_show_two_decimals_even_when_the_core_sends_fewer() {
        assertEquals("£12.50", uk.format("12.5", "GBP"))
        assertEquals("£1,200.00", uk.format("1200", "GBP"))
        assertEquals("£0.00", uk.format("0", "GBP"))
    }

    @Test
    fun yen_have_no_minor_unit() {
        assertEquals("¥1,200", MoneyFormat(Locale.US).format("1200", "JPY"))
        assertEquals("JP¥1,200", uk.format("1200", "JPY"))
    }

    @Test
    fun kuwaiti_dinars_show_three_decimals() {
        assertEquals("KWD1.500", uk.format("1.5", "KWD"))
        assertEquals("KWD0.375", uk.format("0.375", "KWD"))
    }

    @Test
    fun display_never_rounds_an_amount_the_core_sent() {
        // Half a penny must stay visible rather than be rounded away (or up) by the UI.
        assertEquals("£1.005", uk.format("1.005", "GBP"))
        assertEquals("JP¥1,200.5", uk.format("1200.5", "JPY"))
    }

    @Test
    fun negative_amounts_keep_their_sign() {
        assertEquals("-£0.02", uk.format("-0.02", "GBP"))
    }

    @Test
    fun the_cashiers_locale_decides_separators() {
        assertEquals("1.234,50\u00a0€", MoneyFormat(Locale.GERMANY).format("1234.5", "EUR"))
    }

    @Test
    fun malformed_input_is_shown_raw_rather_than_guessed() {
        assertEquals("1e3 GBP", uk.format("1e3", "GBP"))
        assertEquals("12.50 XYZW", uk.format("12.50", "XYZW"))
    }

    @Test
    fun computed_values_format_like_strings() {
        assertEquals("£7.50", uk.format(BigDecimal("7.5"), "GBP"))
    }

    @Test
    fun minor_units_follow_iso_4217() {
        assertEquals(0, minorUnits("JPY"))
        assertEquals(2, minorUnits("GBP"))
        assertEquals(3, minorUnits("KWD"))
        assertNull(minorUnits("nope"))
    }
}
