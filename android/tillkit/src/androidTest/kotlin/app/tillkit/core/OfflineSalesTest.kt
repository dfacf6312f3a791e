package app.tillkit.core

import android.content.Context
import androidx.test.core.app.ApplicationProvider
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.Tender
import java.io.File
import java.util.UUID
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.NonCancellable
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
 *       -Pandroid.testInstrumentationRunnerArguments.tillkitPairingCode=CODE
 *
 * Other arguments: tillkitServerUrl (default https://10.0.2.2:8787/, the emulator's name for
 * the host), tillkitRootCertificate (the server's private CA, one line of base64 DER or PEM:
 * tests/mobile-server.sh writes it to DIR/ca.b64; without it only the bundled Mozilla roots
 * are trusted), tillkitBarcode (5060000000031, a product of demo/src/catalog.json). The
 * code names the register (connected-test.sh makes one for R99, a register of its own, so
 * its receipts never mix with the app's). The code (tests/mobile-server.sh prints one) is traded for the
 * register's token with `pair`, as the app's pairing screen does. Skipped without a code.
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
        val code = args.getString("tillkitPairingCode")
        assumeTrue("pass -e tillkitPairingCode CODE (see android/README.md)", !code.isNullOrBlank())
        val config = CoreConfig(
            dataDir = dataDir.path,
            serverUrl = args.getString("tillkitServerUrl") ?: "https://10.0.2.2:8787/",
            keychainAccount = "test-$run",
            allowHttpLoopback = true,
            rootCertificatesPem = rootCertificatesPem(args.getString("tillkitRootCertificate")),
        )
        till = TillkitAndroid.open(context, config)
        val paired = till.core.pair(config.serverUrl, code!!)
        till.core.login(paired.storeId, paired.registerId, staffId = "androidTest")
    }

    @After
    fun close() = runBlocking(NonCancellable) {
        if (::till.isInitialized) till.shutdown()
        dataDir.deleteRecursively()
        Unit
    }

    @Test
    fun sales_rung_up_offline_upload_once_the_network_is_back() = runBlocking {
        val barcode = args.getString("tillkitBarcode") ?: "5060000000031"
        // The catalogue arrives with the first sync after login.
        withTimeout(30_000) { till.status.first { it.online } }
        val firstCart = withTimeout(30_000) { retryWhileNoCatalog { till.core.newCart() } }
        firstCart.close()

        till.setNetworkAvailable(false)
        withTimeout(5_000) { till.status.first { !it.online } }
        val receipts = List(3) {
            till.core.newCart().use { cart ->
                cart.addBarcode(barcode, "2")
                val total = cart.snapshot().totals.total
                till.core.completeSale(cart, listOf(Tender.Cash(total).toPaymentRecord())).receiptNo
            }
        }
        assertEquals(receipts, till.core.pendingSales(100u).map { it.receiptNo })
        assertEquals(3L, withTimeout(5_000) { till.status.first { it.pending == 3L } }.pending)

        till.setNetworkAvailable(true)
        val drained = withTimeout(60_000) { till.status.first { it.online && it.pending == 0L } }
        assertFalse(drained.authFailed)
        assertTrue(till.core.pendingSales(100u).isEmpty())
        assertTrue("no sale set aside", till.core.attentionSales(100u).isEmpty())
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
