// The store's offline limits through the bindings, against the real server: set by the
// admin command, pulled with the catalogue, enforced to the cent offline with a typed error
// naming the limit (nothing written), warned of in the status, reset by a full drain.
package app.tillkit.tests

import app.tillkit.core.cashierMessage
import app.tillkit.core.toRegisterStatus
import app.tillkit.ffi.OfflineLimitKind
import app.tillkit.ffi.PaymentMethod
import app.tillkit.ffi.PaymentRecord
import app.tillkit.ffi.SaleReceipt
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.OfflineLimit
import java.util.Locale
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import kotlinx.coroutines.runBlocking
import org.junit.Test

class OfflineLimitsTest {
    /** One child seat (89.00): `card` by card, the rest in cash. */
    private suspend fun sellSeat(core: TillkitCore, card: String, cashPart: String?): SaleReceipt {
        val cart = core.newCart()
        try {
            cart.addProduct("p-seat", "1")
            val payments = buildList {
                if (card != "0") add(PaymentRecord(PaymentMethod.CARD, card, "TERM-7"))
                if (cashPart != null) add(cash(cashPart))
            }
            return core.completeSale(cart, payments)
        } finally {
            cart.close()
        }
    }

    private inline fun refusal(block: () -> Unit): TillkitException.OfflineLimitReached {
        try {
            block()
        } catch (e: TillkitException.OfflineLimitReached) {
            return e
        }
        fail("expected OfflineLimitReached")
        throw AssertionError()
    }

    @Test
    fun limits_set_on_the_server_refuse_card_beyond_them_offline_while_cash_still_sells() = runBlocking<Unit> {
        TestServer.start().use { server ->
            server.admin("offline-limits", "--store", STORE, "--card-max-sale", "50.00", "--card-max-total", "60.00")
            val dir = tempDir("limits")
            val core = openPaired(dir, server)
            try {
                core.login(STORE, REGISTER, "alice")
                eventually(30, "the catalogue with its limits and a first successful round") {
                    core.status().offline?.card?.maxSale == "50.00" && core.status().lastSuccessAtMs != null
                }
                assertEquals("60.00", core.offlineStatus().card.maxTotal)
                assertNull("cash has no limits", core.offlineStatus().cash.maxSale)

                core.setNetworkAvailable(false)
                val pendingBefore = core.pendingSales(100u).size
                val tooBig = refusal { sellSeat(core, "50.01", "38.99") }
                assertEquals(OfflineLimitKind.CARD_SALE, tooBig.limit)
                assertEquals("50.01", tooBig.attempted)
                assertEquals("50.00", tooBig.max)
                assertEquals("a refusal writes nothing", pendingBefore, core.pendingSales(100u).size)
                // The Android shell's wording of the same refusal.
                assertEquals(
                    "Card offline is limited to £50.00 per sale. Take cash for the rest, or reconnect.",
                    tooBig.cashierMessage(MoneyFormat(Locale.UK), "GBP"),
                )

                sellSeat(core, "50.00", "39.00")
                val warning = core.offlineStatus().warnings.single()
                assertEquals(OfflineLimitKind.CARD_TOTAL, warning.limit)
                assertEquals(83u, warning.percent)
                assertEquals("50.00", warning.usedAmount)
                assertEquals("60.00", warning.maxAmount)
                assertEquals("10.00", core.offlineStatus().cardHeadroom)
                eventually(10, "the status to carry the warning") {
                    core.status().offline?.warnings?.any { it.limit == OfflineLimitKind.CARD_TOTAL } == true
                }
                // As the Android shell maps it: the banner's warning and the sheet's headroom.
                val shown = core.status().toRegisterStatus().offlineLimits
                assertEquals(OfflineLimit.CardTotal, shown.warnings.single().limit)
                assertEquals("10.00", shown.cardHeadroom)
                assertTrue(shown.windowOpen)

                val overTotal = refusal { sellSeat(core, "10.01", "78.99") }
                assertEquals(OfflineLimitKind.CARD_TOTAL, overTotal.limit)
                assertEquals("60.01", overTotal.attempted)
                sellSeat(core, "0", "89.00")
                assertEquals(2uL, core.offlineStatus().window!!.sales)

                core.setNetworkAvailable(true)
                eventually(30, "the queue to drain and the window to close") {
                    core.status().pending == 0uL && core.offlineStatus().window == null
                }
                assertTrue(core.offlineStatus().warnings.isEmpty())
                assertEquals("50.00", core.offlineStatus().cardHeadroom)
                assertEquals("2", jsonField(server.summary(), "sale_count"))
            } finally {
                core.shutdown()
                core.close()
                dir.deleteTree()
            }
        }
    }
}
