// The receipt book through the bindings: a person-confirmed reset of the keychain's
// receipt-number reservations makes the next open skip every counter ahead, once, and say
// so (receiptBookNote); numbers are never reused.
package app.tillkit.tests

import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.resetReceiptBook
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class ReceiptBookTest {
    private suspend fun sell(core: TillkitCore): String =
        core.newCart().use { cart ->
            cart.addProduct("p-bread", "1")
            core.completeSale(cart, listOf(cash("1.45"))).receiptNo
        }

    private suspend fun closed(core: TillkitCore) {
        core.shutdown()
        core.close()
    }

    @Test
    fun a_confirmed_reset_of_the_receipt_book_skips_numbers_ahead_once_and_says_so() = runBlocking<Unit> {
        val dir = tempDir("receipt-book")
        try {
            val first = openStocked(dir)
            assertNull("a book that was read says nothing", first.receiptBookNote())
            assertEquals(listOf("R07-000001", "R07-000002"), listOf(sell(first), sell(first)))
            closed(first)

            resetReceiptBook(coreConfig(dir))

            val reset = openCore(dir)
            reset.login(STORE, REGISTER, "alice")
            val note = reset.receiptBookNote()
            assertNotNull("the open after a reset says numbers skipped ahead", note)
            assertTrue(note!!, note.contains("reset"))
            // Two blocks of the default 100 skipped: whatever the old book reserved stays unused.
            assertEquals("R07-000203", sell(reset))
            closed(reset)

            val again = openCore(dir)
            again.login(STORE, REGISTER, "alice")
            assertNull("the reset is applied once", again.receiptBookNote())
            assertEquals("R07-000204", sell(again))
            closed(again)
        } finally {
            dir.deleteTree()
        }
    }
}
