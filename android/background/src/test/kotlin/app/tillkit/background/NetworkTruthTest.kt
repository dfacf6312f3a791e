package app.tillkit.background

import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class NetworkTruthTest {
    @Test
    fun an_unblocked_internet_network_counts() {
        assertTrue(networkUsable(hasInternet = true, blocked = false))
    }

    @Test
    fun a_shop_lan_whose_internet_is_down_still_counts_so_its_local_server_gets_the_sales() {
        // Android never validates it (its probe goes to the internet), and it does not have to:
        // the core's health probe of the sync server decides whether anything is sent. The
        // same holds for a captive portal: its page reads "server unreachable" in the core.
        assertTrue(networkUsable(hasInternet = true, blocked = false))
    }

    @Test
    fun a_network_blocked_for_the_app_or_without_internet_does_not_count() {
        assertFalse(networkUsable(hasInternet = true, blocked = true))
        assertFalse(networkUsable(hasInternet = false, blocked = false))
    }
}
