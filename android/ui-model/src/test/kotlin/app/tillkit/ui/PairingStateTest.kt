package app.tillkit.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class PairingStateTest {
    private val own = "https://sync.example/"

    @Test
    fun a_scanned_link_pairs_with_its_server_until_the_cashier_types_over_it() {
        val scanned = PairingUiState(error = "old").scanned("ABCD-EFGH-JKMN", "https://other.example/")
        assertEquals("ABCD-EFGH-JKMN", scanned.code)
        assertNull("a new scan clears the last error", scanned.error)
        assertEquals("https://other.example/", scanned.server(own))
        val typed = scanned.typed("ABCD-EFGH-JKMP")
        assertEquals("typed or pasted text is for this register's server", own, typed.server(own))
        assertEquals(own, PairingUiState().scanned("ABCD-EFGH-JKMN", null).server(own))
    }

    @Test
    fun only_a_non_blank_code_can_be_paired_and_not_twice_at_once() {
        assertFalse(PairingUiState().canPair)
        assertFalse(PairingUiState().typed("   ").canPair)
        assertTrue(PairingUiState().typed("ABCD").canPair)
        assertFalse(PairingUiState(busy = true).typed("ABCD").canPair)
    }

    @Test
    fun pasted_pairing_links_are_read_like_scans_and_anything_else_is_typed() {
        assertTrue(isPairingLink("tillkit://pair?code=ABCD-EFGH-JKMN"))
        assertTrue(isPairingLink("  TILLKIT://pair?code=x\n"))
        assertFalse(isPairingLink("ABCD-EFGH-JKMN"))
        assertFalse(isPairingLink("https://sync.example/?tillkit:"))
    }
}
