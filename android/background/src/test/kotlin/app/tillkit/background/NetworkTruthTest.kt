package app.tillkit.background

import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class NetworkTruthTest {
    @Test
    fun only_a_validated_unblocked_internet_network_counts() {
        assertTrue(networkUsable(hasInternet = true, validated = true, blocked = false))
    }

    @Test
    fun a_captive_portal_wifi_does_not_count() {
        // Associated and offering internet, but Android's validation probe was answered by the portal.
        assertFalse(networkUsable(hasInternet = true, validated = false, blocked = false))
    }

    @Test
    fun a_network_blocked_for_the_app_or_without_internet_does_not_count() {
        assertFalse(networkUsable(hasInternet = true, validated = true, blocked = true))
        assertFalse(networkUsable(hasInternet = false, validated = true, blocked = false))
    }
}
