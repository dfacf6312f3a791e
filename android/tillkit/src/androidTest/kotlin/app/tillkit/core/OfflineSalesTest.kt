package app.tillkit.ffi

import android.content.Context
import androidx.test.core.app.ApplicationProvider
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import app.tillkit.ui.Tender
import java.io.File
import java.util.UUID
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith

/**
 * The offline promise on a real device: sales rung up with the network off are kept and
 * uploaded by themselves once it is back. Needs the reference server (see README.md):
 *
 *     ./gradlew :tillkit:connectedAndroidTest \
 *       -Pandroid.testInstrumentationRunnerArguments.tillkitToken=TOKEN
 *
 * Other arguments: tillkitServerUrl (default http://127.0.0.1:8787/, reached through
 * `adb reverse`), tillkitStoreId (store-1), tillkitRegisterId (R99: a register of its own,
 * so its receipts never mix with the app's), tillkitBarcode (5060000000031, a product of
 * demo/src/catalog.json). Skipped without a token.
 */
@RunWith(AndroidJUnit4::class)
class OfflineSalesTest {
    private val args = InstrumentationRegistry.getArguments()
    private val context = ApplicationProvider.getApplicationContext<Context>()
    // A fresh database and keychain entry per run: earlier runs' sales do not count here.
    private val run = UUID.randomUUID().toString()
    private val dataDir = File(context.noBackupFilesDir, "tillkit-test-$run")
    private lateinit var till: TillkitAndroid

    @Before
    fun open() = runBlocking {
        val token = args.getString("tillkitToken")
        assumeTrue("pass -e tillkitToken TOKEN (see android/README.md)", !token.isNullOrBlank())
        val config = CoreConfig(
            dataDir = dataDir.path,
            serverUrl = args.getString("tillkitServerUrl") ?: "http://127.0.0.1:8787/",
            keychainAccount = "test-$run",
            allowHttpLoopback = true,
        )
        till = TillkitAndroid.open(context, config, token!!)
        val store = args.getString("tillkitStoreId") ?: "store-1"
        till.login(store, args.getString("tillkitRegisterId") ?: "R99", staffId = "androidTest")
    }

    @After
    fun close() {
        if (::till.isInitialized) till.close()
        dataDir.deleteRecursively()
    }

    @Test
    fun sales_rung_up_offline_upload_once_the_network_is_back() = runBlocking {
        val barcode = args.getString("tillkitBarcode") ?: "5060000000031"
        // The catalogue arrives with the first sync after login.
        withTimeout(30_000) { till.status.first { it.online } }
        val firstCart = withTimeout(30_000) { retryWhileNoCatalog { till.newCart() } }
        firstCart.close()

        till.setNetworkAvailable(false)
        withTimeout(5_000) { till.status.first { !it.online } }
        val receipts = List(3) {
            till.newCart().use { cart ->
                cart.addBarcode(barcode, "2")
                val total = cart.snapshot().totals.total
                till.completeSale(cart, listOf(Tender.Cash(total))).receiptNo
            }
        }
        assertEquals(receipts, till.pendingSales().map { it.receiptNo })
        assertEquals(3L, withTimeout(5_000) { till.status.first { it.pending == 3L } }.pending)

        till.setNetworkAvailable(true)
        val drained = withTimeout(60_000) { till.status.first { it.online && it.pending == 0L } }
        assertFalse(drained.authFailed)
        assertTrue(till.pendingSales().isEmpty())
        assertTrue("no sale set aside", till.attentionSales().isEmpty())
    }

    private suspend fun <T> retryWhileNoCatalog(block: suspend () -> T): T {
        while (true) {
            try {
                return block()
            } catch (_: TillkitException.NoCatalog) {
                delay(200)
            }
        }
    }
}
