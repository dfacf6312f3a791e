package app.tillkit.ui

import java.util.Locale
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class OfflineLimitsTest {
    private val money = MoneyFormat(Locale.UK)

    private fun cardTotal(percent: Int, used: String, reached: Boolean = false) =
        OfflineLimitWarning(OfflineLimit.CardTotal, percent, reached, usedAmount = used, maxAmount = "100.00")

    @Test
    fun no_warning_no_banner() {
        assertNull(offlineLimitBanner(OfflineLimitsState(), money, "GBP"))
    }

    @Test
    fun a_near_total_warns_with_which_limit_and_how_close() {
        val banner = offlineLimitBanner(OfflineLimitsState(listOf(cardTotal(80, "80.00"))), money, "GBP")
        assertEquals(LimitBanner(BannerLevel.Warning, "Card sales offline: £80.00 of £100.00 (80%): reconnect soon"), banner)
    }

    @Test
    fun a_reached_time_limit_stops_card_and_points_to_cash() {
        val time = OfflineLimitWarning(OfflineLimit.CardOfflineTime, 100, true, usedSecs = 86_460, maxSecs = 86_400)
        val banner = offlineLimitBanner(OfflineLimitsState(listOf(time, cardTotal(85, "85.00"))), money, "GBP")!!
        assertEquals(BannerLevel.Stop, banner.level)
        assertEquals("Card limit reached (Card offline for 24 h 1 min of 24 h): take cash or reconnect to sync", banner.text)
    }

    @Test
    fun the_payment_sheet_blocks_a_card_amount_beyond_the_headroom_to_the_cent() {
        val state = OfflineLimitsState(cardHeadroom = "20.00", windowOpen = true)
        assertNull(offlineLimitProblem(state, online = false, card = true, amount = "20.00", money, "GBP"))
        assertEquals(
            "Card offline is limited to £20.00 for this sale",
            offlineLimitProblem(state, online = false, card = true, amount = "20.01", money, "GBP"),
        )
        // Cash has no limit here.
        assertNull(offlineLimitProblem(state, online = false, card = false, amount = "500.00", money, "GBP"))
    }

    @Test
    fun no_headroom_left_says_take_cash() {
        val state = OfflineLimitsState(cardHeadroom = "0", windowOpen = true)
        assertEquals(
            "Card is not taken offline any more: take cash or reconnect",
            offlineLimitProblem(state, online = false, card = true, amount = "0.01", money, "GBP"),
        )
    }

    @Test
    fun online_with_no_window_the_limits_do_not_apply_but_an_open_window_still_counts() {
        val closed = OfflineLimitsState(cardHeadroom = "20.00", windowOpen = false)
        assertNull(offlineLimitProblem(closed, online = true, card = true, amount = "500.00", money, "GBP"))
        val draining = closed.copy(windowOpen = true)
        assertEquals(
            "Card offline is limited to £20.00 for this sale",
            offlineLimitProblem(draining, online = true, card = true, amount = "20.01", money, "GBP"),
        )
    }

    @Test
    fun refusals_name_the_limit_and_what_still_works() {
        assertEquals(
            "Card offline is limited to £50.00 per sale. Take cash for the rest, or reconnect.",
            offlineRefusalMessage(OfflineRefusal(OfflineLimit.CardSale, "50.01", "50.00"), money, "GBP"),
        )
        assertEquals(
            "Card sales offline would pass £100.00 in all. Take cash, or reconnect to sync.",
            offlineRefusalMessage(OfflineRefusal(OfflineLimit.CardTotal, "100.01", "100.00"), money, "GBP"),
        )
        assertEquals(
            "Cash is not taken after 2 h offline. Take card, or reconnect to sync.",
            offlineRefusalMessage(OfflineRefusal(OfflineLimit.CashOfflineTime, "7260", "7200"), money, "GBP"),
        )
    }

    @Test
    fun durations_read_as_a_cashier_says_them() {
        assertEquals("1 h 30 min", duration(5_400))
        assertEquals("10 min", duration(600))
        assertEquals("42 s", duration(42))
    }
}
