// The receipt promise: totals seen through Kotlin are the Rust engine's, to the penny. This is
// core/tests/tax_golden.rs `uk_vat_inclusive_receipt_with_standard_reduced_and_zero_rates`.
package app.tillkit.tests

import org.junit.Assert.assertEquals
import kotlinx.coroutines.runBlocking
import org.junit.Test

class TaxGoldenTest {
    @Test
    fun uk_vat_inclusive_receipt_matches_the_rust_golden_case() = runBlocking<Unit> {
        val dir = tempDir("tax")
        val core = openStocked(dir)
        try {
            core.setNetworkAvailable(false)
            core.newCart().use { cart ->
                cart.addProduct("p-head", "1")
                cart.addProduct("p-seat", "1")
                cart.addProduct("p-bread", "2")
                val t = cart.totals()
                assertEquals("GBP", t.currency)
                assertEquals(cart.lines().map { it.lineId }, t.lines.map { it.lineId })
                // amount, net, tax, gross per line, as in the snapshot.
                assertEquals(
                    listOf(
                        listOf("49.99", "41.66", "8.33", "49.99"),
                        listOf("89.00", "84.76", "4.24", "89.00"),
                        listOf("2.90", "2.90", "0.00", "2.90"),
                    ),
                    t.lines.map { listOf(it.amount, it.net, it.tax, it.gross) },
                )
                assertEquals(
                    listOf(listOf("vat20", "41.66", "8.33"), listOf("vat5", "84.76", "4.24"), listOf("vat0", "2.90", "0.00")),
                    t.lines.map { l -> l.taxes.single().let { listOf(it.rateId, it.taxableBase, it.tax) } },
                )
                assertEquals("141.89", t.subtotal)
                assertEquals("129.32", t.netTotal)
                assertEquals("12.57", t.taxTotal)
                assertEquals("141.89", t.total)
                assertEquals("no cash rounding in GBP: cash owes the total", "141.89", t.cashDue)
                val breakdown = listOf(
                    listOf("VAT 20%", "20", "41.66", "8.33"),
                    listOf("VAT 5%", "5", "84.76", "4.24"),
                    listOf("VAT 0%", "0", "2.90", "0.00"),
                )
                assertEquals(breakdown, t.breakdown.map { listOf(it.label, it.percent, it.taxableBase, it.tax) })

                val receipt = core.completeSale(cart, listOf(cash("150.00")))
                assertEquals("141.89", receipt.total)
                assertEquals("12.57", receipt.taxTotal)
                assertEquals("141.89", receipt.amountDue)
                assertEquals("8.11", receipt.changeDue)
                assertEquals(breakdown, receipt.taxes.map { listOf(it.label, it.percent, it.taxableBase, it.tax) })
                assertEquals(listOf("1", "1", "2"), receipt.lines.map { it.quantity })
                assertEquals("R07-000001", receipt.receiptNo)
            }
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }
}
