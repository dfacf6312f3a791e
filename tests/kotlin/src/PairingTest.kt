// The pairing promise through the bindings, against the real server: a register opened with
// no token keeps its sales and says it needs pairing; a one-time code from the operator
// becomes its token in the keychain, the kept sales upload, and the token survives a restart.
package app.tillkit.tests

import app.tillkit.core.pairingMessage
import app.tillkit.core.toRegisterStatus
import app.tillkit.ffi.PairedRegister
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.readPairingScan
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class PairingTest {
    private suspend fun sellBread(core: TillkitCore) {
        core.newCart().use { cart ->
            cart.addProduct("p-bread", "1")
            core.completeSale(cart, listOf(cash("1.45")))
        }
    }

    @Test
    fun a_register_paired_with_a_one_time_code_uploads_the_sales_it_kept_unpaired() = runBlocking<Unit> {
        TestServer.start().use { server ->
            val dir = tempDir("pairing")
            var core = openCore(dir, serverUrl = server.baseUrl)
            try {
                assertNull("no token before pairing", core.pairedRegister(STORE))
                core.login(STORE, REGISTER, "alice")
                // Unpaired, the catalogue cannot come from the server: load it as a file would.
                core.importCatalogJson(DEVICE_CATALOG)
                repeat(2) { sellBread(core) }
                eventually(30, "the status to say the register needs pairing") { core.status().needsPairing }
                val unpaired = core.status()
                assertEquals("every sale kept", 2uL, unpaired.pending)
                assertTrue("the Android pill shows it", unpaired.toRegisterStatus().needsPairing)
                assertEquals("0", jsonField(server.summary(), "sale_count"))

                // A code nobody made is refused, with words for the pairing screen; nothing is kept.
                val wrong = expectThrows<TillkitException.PairingRefused> { core.pair(server.baseUrl, "0000-0000-0000") }
                assertTrue(wrong.pairingMessage(), wrong.pairingMessage().contains("new one"))
                assertNull(core.pairedRegister(STORE))
                val code = server.pairingCode()
                // A code for another server is refused before anything is sent (the code stays live).
                expectThrows<TillkitException.InvalidInput> { core.pair("https://sync.elsewhere.test/", code) }

                // Typed as a person might: lower case, spaces for dashes.
                val paired = core.pair(server.baseUrl.trimEnd('/'), " " + code.lowercase().replace('-', ' ') + " ")
                assertEquals(PairedRegister(STORE, REGISTER), paired)
                assertEquals(REGISTER, core.pairedRegister(STORE)?.registerId)
                eventually(30, "the kept sales to upload with the new token") {
                    core.status().let { it.pending == 0uL && !it.needsPairing }
                }
                assertEquals("2", jsonField(server.summary(), "sale_count"))
                // Single use: the same code again is refused, and the token stays.
                expectThrows<TillkitException.PairingRefused> { core.pair(server.baseUrl, code) }
                assertEquals(REGISTER, core.pairedRegister(STORE)?.registerId)

                // The next start reads the token from the keychain: no pairing again.
                core.shutdown()
                core.close()
                core = openCore(dir, serverUrl = server.baseUrl)
                assertEquals(REGISTER, core.pairedRegister(STORE)?.registerId)
                core.login(STORE, REGISTER, "alice")
                eventually(30, "the catalogue from the server") { runCatching { core.product("p-bread") }.isSuccess }
                sellBread(core)
                eventually(30, "the sale after the restart to upload") { core.status().pending == 0uL }
                assertEquals("3", jsonField(server.summary(), "sale_count"))
                assertFalse(core.status().needsPairing)
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }

    @Test
    fun a_refused_token_needs_pairing_again_and_keeps_the_queue_until_a_new_code() = runBlocking<Unit> {
        TestServer.start().use { server ->
            val dir = tempDir("repairing")
            val core = openPaired(dir, server)
            try {
                core.login(STORE, REGISTER, "alice")
                eventually(30, "the catalogue from the server") { runCatching { core.product("p-bread") }.isSuccess }
                // The operator revokes the register (a lost phone found again): its token is refused.
                server.admin("revoke-register", "--store", STORE, "--register", REGISTER)
                sellBread(core)
                eventually(30, "the refusal to show as needs pairing") {
                    core.status().let { it.needsPairing && it.authFailed }
                }
                assertEquals(1uL, core.status().pending)
                core.pair(server.baseUrl, server.pairingCode())
                eventually(30, "the kept sale to upload") { core.status().let { it.pending == 0uL && !it.needsPairing } }
                assertEquals("1", jsonField(server.summary(), "sale_count"))
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }

    @Test
    fun a_register_pairs_with_the_link_its_scanned_qr_code_holds_and_a_foreign_qr_is_refused() = runBlocking<Unit> {
        TestServer.start().use { server ->
            val dir = tempDir("scan-pairing")
            val core = openCore(dir, serverUrl = server.baseUrl)
            try {
                // What the pairing screen's scanner reads off the QR code the operator shows.
                val link = server.admin("pair-register", "--store", STORE, "--register", REGISTER, "--link", server.baseUrl).trim()
                assertTrue(link, link.startsWith("tillkit://pair?"))
                val scanned = readPairingScan(link)
                assertEquals("the link names this server", server.baseUrl, scanned.serverUrl)
                val paired = core.pair(scanned.serverUrl ?: server.baseUrl, scanned.code)
                assertEquals(PairedRegister(STORE, REGISTER), paired)
                assertEquals(REGISTER, core.pairedRegister(STORE)?.registerId)

                // Any other QR code (here a Wi-Fi one) says so with words for the cashier; nothing is sent.
                val wifi = expectThrows<TillkitException.InvalidInput> { readPairingScan("WIFI:S:x;;") }
                assertTrue(wifi.pairingMessage(), wifi.pairingMessage().contains("not a Tillkit pairing code"))
                // A link made for another server fills the field but pairing with it is refused.
                val foreign = readPairingScan("tillkit://pair?code=${scanned.code}&server=https://sync.elsewhere.test/")
                assertNotNull(foreign.serverUrl)
                expectThrows<TillkitException.InvalidInput> { core.pair(foreign.serverUrl!!, foreign.code) }
                assertEquals(REGISTER, core.pairedRegister(STORE)?.registerId)
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }
}
