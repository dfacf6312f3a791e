// The error promise: every refusal reaches Kotlin as a typed TillkitException variant with
// the detail an app acts on, never a crash or an untyped exception.
package app.tillkit.tests

import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.PaymentMethod
import app.tillkit.ffi.PaymentRecord
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.recoverDatabase
import app.tillkit.ffi.startFreshDatabase
import app.tillkit.ffi.useInMemoryKeychainForTests
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class TypedErrorsTest {
    private inline fun <reified E : TillkitException> expect(noinline call: () -> Unit): E =
        assertThrows(E::class.java) { call() }

    private fun withStocked(block: (app.tillkit.ffi.TillkitCore) -> Unit) {
        val dir = tempDir("errors")
        val core = openStocked(dir)
        try {
            block(core)
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun underpaying_is_refused_with_the_amount_due_and_paid() = withStocked { core ->
        core.newCart().use { cart ->
            cart.addProduct("p-bread", "2")
            val e = expect<TillkitException.Underpaid> { core.completeSale(cart, listOf(cash("2.00"))) }
            assertEquals("2.90", e.due)
            assertEquals("2.00", e.paid)
            assertEquals("nothing was queued", 0, core.pendingSales(10u).size)
        }
    }

    @Test
    fun unknown_products_barcodes_and_lines_are_not_found() = withStocked { core ->
        core.newCart().use { cart ->
            assertTrue(expect<TillkitException.NotFound> { cart.addProduct("p-nope", "1") }.what.contains("p-nope"))
            expect<TillkitException.NotFound> { cart.addBarcode("0000000000000", "1") }
            expect<TillkitException.NotFound> { core.productByBarcode("0000000000000") }
            expect<TillkitException.NotFound> { cart.remove(42u) }
            expect<TillkitException.NotFound> { cart.applyDiscount("no-such-discount", null, null) }
        }
    }

    @Test
    fun malformed_quantities_and_amounts_are_invalid_input() = withStocked { core ->
        core.newCart().use { cart ->
            for (bad in listOf("", "abc", "1e3", "1,5", " 1", "0", "-1", "0.0001", "100001", "1".repeat(60))) {
                expect<TillkitException.InvalidInput> { cart.addProduct("p-bread", bad) }
            }
            val line = cart.addProduct("p-bread", "1")
            expect<TillkitException.InvalidInput> { cart.setQuantity(line, "two") }
            expect<TillkitException.InvalidInput> { cart.applyDiscount("damaged", line, "80") }
            expect<TillkitException.InvalidInput> { core.completeSale(cart, listOf(cash("1.5.0"))) }
            expect<TillkitException.InvalidInput> {
                core.completeSale(cart, listOf(PaymentRecord(PaymentMethod.CARD, "1.45", null)))
            }
            assertEquals("the cart is unchanged", "1", cart.lines().single().quantity)
        }
    }

    @Test
    fun selling_needs_a_session_a_catalogue_lines_and_active_products() {
        val dir = tempDir("errors-session")
        val core = openCore(dir)
        try {
            expect<TillkitException.NoSession> { core.newCart() }
            core.login("fr-01", REGISTER, "alice")
            assertEquals("fr-01", expect<TillkitException.NoCatalog> { core.newCart() }.storeId)
            core.login(STORE, REGISTER, "alice")
            core.importCatalogJson(DEVICE_CATALOG)
            core.newCart().use { cart ->
                expect<TillkitException.EmptyCart> { core.completeSale(cart, listOf(cash("1"))) }
                assertEquals("p-mug", expect<TillkitException.ProductInactive> { cart.addProduct("p-mug", "1") }.productId)
            }
            expect<TillkitException.InvalidInput> { core.login("", REGISTER, "alice") }
            core.logout()
            expect<TillkitException.NoSession> { core.search("bread") }
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun server_backed_tenders_and_discounts_need_a_connection() = withStocked { core ->
        core.newCart().use { cart ->
            cart.addProduct("p-head", "1")
            expect<TillkitException.NeedsConnection> { cart.applyDiscount("online20", null, null) }
            expect<TillkitException.NeedsConnection> {
                core.completeSale(cart, listOf(PaymentRecord(PaymentMethod.GIFT_CARD, "49.99", null)))
            }
        }
    }

    @Test
    fun a_bad_catalogue_is_refused_whole() = withStocked { core ->
        expect<TillkitException.InvalidCatalog> { core.importCatalogJson("{not json") }
        expect<TillkitException.InvalidCatalog> {
            core.importCatalogJson(DEVICE_CATALOG.replace("\"price\": \"1.45\"", "\"price\": \"1.455\""))
        }
        assertEquals("the previous catalogue stays", "1.45", core.product("p-bread").price)
    }

    @Test
    fun a_database_without_its_key_is_kept_and_reported() {
        val dir = tempDir("errors-key")
        openCore(dir).use { it.shutdown() }
        expect<TillkitException.KeyMissing> { openCore(dir, keychainAccount = "another-account") }
        openCore(dir).use { it.shutdown() }
        dir.deleteTree()
    }

    @Test
    fun a_second_core_on_an_open_database_is_busy_and_recovery_beside_it_too() {
        val dir = tempDir("errors-busy")
        val first = openCore(dir)
        try {
            expect<TillkitException.Busy> { openCore(dir) }
            expect<TillkitException.Busy> { recoverDatabase(coreConfig(dir)) }
            expect<TillkitException.Busy> { startFreshDatabase(coreConfig(dir)) }
        } finally {
            first.shutdown()
            first.close()
        }
        openCore(dir).use { it.shutdown() }
        dir.deleteTree()
    }

    @Test
    fun a_malformed_certificate_pin_or_root_is_invalid_input_and_the_database_stays() {
        val dir = tempDir("errors-tls")
        useInMemoryKeychainForTests()
        fun config(pins: List<String>, roots: List<String>) = CoreConfig(
            dataDir = dir.toString(),
            serverUrl = "https://sync.tillkit.test/",
            keychainService = "app.tillkit.tests",
            keychainAccount = "key-" + dir.fileName,
            rootCertificatesPem = roots,
            pinnedSpkiSha256 = pins,
        )
        val wrongLength = "sha256/" + "A".repeat(40) + "=="
        for (pins in listOf(listOf("not base64!"), listOf(wrongLength), listOf(""))) {
            val e = expect<TillkitException.InvalidInput> { TillkitCore.open(config(pins, emptyList()), UNUSED_TOKEN) }
            assertTrue(e.reason, e.reason.contains("pin"))
        }
        expect<TillkitException.InvalidInput> { TillkitCore.open(config(emptyList(), listOf("no certificate here")), UNUSED_TOKEN) }
        // A well-formed pin opens the same store: nothing was damaged by the refusals.
        val pin = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        TillkitCore.open(config(listOf(pin), emptyList()), UNUSED_TOKEN).use { it.shutdown() }
        dir.deleteTree()
    }

    @Test
    fun a_shut_down_core_refuses_calls_and_its_carts() = withStocked { core ->
        val cart = core.newCart()
        core.shutdown()
        expect<TillkitException.Closed> { core.search("bread") }
        expect<TillkitException.Closed> { core.status() }
        expect<TillkitException.Closed> { cart.addProduct("p-bread", "1") }
        core.shutdown() // idempotent
        cart.close()
    }
}
