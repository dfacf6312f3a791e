package app.tillkit.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class StatusPillTest {
    @Test
    fun online_with_an_empty_queue_is_a_plain_green_pill() {
        val pill = statusPill(RegisterStatus(online = true))
        assertEquals(StatusPill(PillColour.Green, "Online", detail = null, attentionBadge = null), pill)
    }

    @Test
    fun offline_with_pending_sales_is_amber_with_the_count_and_oldest_age() {
        val pill = statusPill(RegisterStatus(online = false, pending = 4, oldestPendingAgeSecs = 185))
        assertEquals(PillColour.Amber, pill.colour)
        assertEquals("Offline · 4 pending", pill.text)
        assertEquals("oldest 3 min ago", pill.detail)
    }

    @Test
    fun offline_with_nothing_queued_says_only_offline() {
        val pill = statusPill(RegisterStatus(online = false))
        assertEquals("Offline", pill.text)
        assertNull(pill.detail)
    }

    @Test
    fun online_while_the_queue_drains_stays_green_and_shows_the_count() {
        val pill = statusPill(RegisterStatus(online = true, syncing = true, pending = 2, oldestPendingAgeSecs = 5))
        assertEquals(PillColour.Green, pill.colour)
        assertEquals("Online · 2 pending", pill.text)
        assertEquals("oldest just now", pill.detail)
    }

    @Test
    fun a_refused_token_is_red_and_tells_the_cashier_what_to_do() {
        val pill = statusPill(RegisterStatus(online = true, pending = 1, attention = 1, authFailed = true))
        assertEquals(PillColour.Red, pill.colour)
        assertEquals("Register not authorised · 1 pending", pill.text)
        assertEquals("Ask a manager for a pairing code", pill.detail)
        assertEquals("1", pill.attentionBadge)
    }

    @Test
    fun a_server_too_old_for_the_app_is_red_and_says_so_with_the_sales_kept() {
        val pill = statusPill(RegisterStatus(online = true, pending = 3, protocolMismatch = ProtocolProblem.ServerTooOld))
        assertEquals(PillColour.Red, pill.colour)
        assertEquals("Server too old for this app · 3 pending", pill.text)
        assertEquals("Sales are kept on this register; call support", pill.detail)
    }

    @Test
    fun a_store_without_a_token_is_named_with_its_waiting_sales() {
        val status = RegisterStatus(
            online = true, pending = 2, attention = 1,
            blockedStores = listOf(BlockedStore("uk-02", pending = 2, tokenRefused = false)),
        )
        val pill = statusPill(status)
        assertEquals("Online · 2 pending", pill.text)
        assertEquals("2 sales of store uk-02 wait for its register token", pill.detail)
        assertEquals("1", pill.attentionBadge)
    }

    @Test
    fun attention_badge_counts_set_aside_sales_and_caps_at_99() {
        assertEquals("3", statusPill(RegisterStatus(online = true, attention = 3)).attentionBadge)
        assertEquals("99+", statusPill(RegisterStatus(online = true, attention = 120)).attentionBadge)
        assertNull(statusPill(RegisterStatus(online = true, attention = 0)).attentionBadge)
    }

    @Test
    fun ages_are_worded_in_the_largest_whole_unit() {
        assertEquals("just now", ago(59))
        assertEquals("1 min ago", ago(60))
        assertEquals("59 min ago", ago(3_599))
        assertEquals("2 h ago", ago(7_200))
        assertEquals("1 day ago", ago(86_400))
        assertEquals("3 days ago", ago(3 * 86_400 + 5))
    }
}
