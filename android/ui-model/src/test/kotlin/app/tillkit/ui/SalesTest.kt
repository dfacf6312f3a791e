package app.tillkit.ui

import java.util.Locale
import org.junit.Assert.assertEquals
import org.junit.Test

class SalesTest {
    private val money = MoneyFormat(Locale.UK)
    private val now = 1_800_000_000_000L

    @Test
    fun attention_rows_show_the_servers_reason_amount_and_age() {
        val sale = QueuedSale("s1", "R07-000042", "12.5", "GBP", enqueuedAtMs = now - 2 * 3_600_000,
            reason = "product mug-ltd is unknown to the server")
        val item = attentionItems(listOf(sale), now, money).single()
        assertEquals(AttentionItem("s1", "R07-000042", "£12.50", "product mug-ltd is unknown to the server", "rung up 2 h ago"), item)
    }

    @Test
    fun a_missing_reason_falls_back_to_the_last_error_then_to_a_plain_sentence() {
        val base = QueuedSale("s1", "R07-1", "1", "GBP", now)
        assertEquals("HTTP 422", attentionItems(listOf(base.copy(lastError = "HTTP 422")), now, money).single().reason)
        assertEquals("The server gave no reason", attentionItems(listOf(base), now, money).single().reason)
    }

    @Test
    fun a_parked_sale_says_it_is_retried_by_itself() {
        val sale = QueuedSale("s1", "R07-9", "1", "GBP", now - 60_000, lastError = "HTTP 413", parked = true)
        val item = attentionItems(listOf(sale), now, money).single()
        assertEquals("HTTP 413", item.reason)
        assertEquals("rung up 1 min ago · retrying by itself", item.age)
    }

    @Test
    fun a_clock_set_back_never_shows_a_negative_age() {
        val sale = QueuedSale("s1", "R07-1", "1", "GBP", enqueuedAtMs = now + 60_000)
        assertEquals("rung up just now", attentionItems(listOf(sale), now, money).single().age)
    }

    @Test
    fun the_banner_uses_the_receipts_change_not_the_preview() {
        // CHF cash rounding: 10.02 was rounded to 10.00 by the core, so 20 gives 10.00 change.
        val sale = CompletedSale("R07-000043", "CHF", amountDue = "10.00", changeDue = "10.00")
        assertEquals("R07-000043 · CHF10.00 paid · change CHF10.00", completedSaleBanner(sale, money))
        val exact = CompletedSale("R07-000044", "GBP", amountDue = "12.50", changeDue = "0.00")
        assertEquals("R07-000044 · £12.50 paid", completedSaleBanner(exact, money))
    }
}
