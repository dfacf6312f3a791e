package app.tillkit.background

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class NetworkTruthTest {
    private fun usable(internet: Boolean = true, validated: Boolean = true, blocked: Boolean = false, local: Boolean = false) =
        networkUsable(hasInternet = internet, validated = validated, blocked = blocked, serverOnLocalNetwork = local)

    @Test
    fun a_validated_unblocked_internet_network_counts() {
        assertTrue(usable())
    }

    @Test
    fun an_unvalidated_network_such_as_a_captive_portals_wifi_does_not_count_for_a_server_on_the_internet() {
        assertFalse(usable(validated = false))
    }

    @Test
    fun a_shop_lan_whose_internet_is_down_still_counts_so_its_local_server_gets_the_sales() {
        // Android never validates it (no route to Google), but the sync server is inside.
        assertTrue(usable(validated = false, local = true))
    }

    @Test
    fun a_network_blocked_for_the_app_or_without_internet_does_not_count() {
        assertFalse(usable(blocked = true))
        assertFalse(usable(internet = false))
        assertFalse(usable(blocked = true, validated = false, local = true))
    }

    @Test
    fun a_server_is_local_only_for_addresses_and_names_that_cannot_be_on_the_internet() {
        val cases = mapOf(
            "https://10.0.2.2:8787/" to true,
            "https://192.168.1.20/" to true,
            "https://172.16.0.1/" to true,
            "https://172.31.255.255/" to true,
            "https://127.0.0.1:8787/" to true,
            "https://169.254.10.1/" to true,
            "https://[fd12:3456::1]:8787/" to true,
            "https://[fe80::1]/" to true,
            "https://[::1]/" to true,
            "https://till-server/" to true,
            "https://sync.shop.local/" to true,
            "https://172.32.0.1/" to false,
            "https://8.8.8.8/" to false,
            "https://sync.example.com/" to false,
            "https://[2001:db8::1]/" to false,
            "https://10.0.0.256/" to false,
            "not a url" to false,
            "" to false,
        )
        for ((url, local) in cases) assertEquals(url, local, serverOnLocalNetwork(url))
    }
}
