// The register's journal for an auditor through the bindings: the export after sales and a
// refund verifies intact (here and through the journal screen's flow); one amount edited in
// the exported text makes the verification name that record; a text that is no export is
// the typed InvalidJournalExport, never a crash.
package app.tillkit.tests

import app.tillkit.core.toJournalRefusal
import app.tillkit.core.toJournalVerdict
import app.tillkit.ffi.JournalBreakKind
import app.tillkit.ffi.JournalProblem
import app.tillkit.ffi.RefundItemRecord
import app.tillkit.ffi.RefundLinesRecord
import app.tillkit.ffi.RefundRequestRecord
import app.tillkit.ffi.RefundTenderRecord
import app.tillkit.ffi.SaleRefRecord
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.verifyJournalExport
import app.tillkit.ui.JournalCheckStep
import app.tillkit.ui.JournalFlow
import app.tillkit.ui.JournalRefusal
import app.tillkit.ui.JournalSource
import app.tillkit.ui.MoneyFormat
import java.util.Locale
import java.util.UUID
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class JournalExportTest {
    private val money = MoneyFormat(Locale.UK)

    @Test
    fun an_export_verifies_and_an_edited_amount_names_its_record() = runBlocking<Unit> {
        val dir = tempDir("journal")
        val core = openStocked(dir)
        try {
            val sales = (1..3).map { n ->
                core.newCart().use { cart ->
                    cart.addProduct("p-head", "$n")
                    core.completeSale(cart, listOf(cash(cart.totals().total)))
                }
            }
            val refund = core.refund(
                RefundRequestRecord(
                    refundId = UUID.randomUUID().toString(),
                    sale = SaleRefRecord.SaleId(sales[0].saleId),
                    lines = RefundLinesRecord.Items(listOf(RefundItemRecord(1u, "1", true))),
                    tender = RefundTenderRecord.Cash,
                    reason = null,
                ),
            )
            val text = core.exportJournal()
            assertEquals("a header and one line per record", 5, text.lines().count { it.isNotBlank() })

            val clean = verifyJournalExport(text)
            assertTrue("$clean", clean.intact)
            assertEquals(STORE, clean.storeId)
            assertEquals(REGISTER, clean.registerId)
            assertEquals(4uL, clean.records)
            assertEquals(1uL, clean.firstSeq)
            assertEquals(4uL, clean.lastSeq)
            assertTrue(clean.problems.isEmpty() && clean.namedRecords.isEmpty())
            assertEquals("the device's own check is the same verdict", clean.copy(exportedAtMs = 0), core.verifyJournal().copy(exportedAtMs = 0))

            // An auditor's copy with the second sale's total lowered.
            val victim = sales[1]
            val edited = text.lines().joinToString("\n") { line ->
                if (line.contains("\"receipt_no\":\"${victim.receiptNo}\"")) {
                    line.replace("\"total\":\"${victim.total}\"", "\"total\":\"1.00\"")
                } else {
                    line
                }
            }
            assertNotEquals("the edit changed the text", text.trimEnd(), edited.trimEnd())
            val tampered = verifyJournalExport(edited)
            assertFalse(tampered.intact)
            val broken = tampered.problems.single() as JournalProblem.ChainBreak
            assertEquals(JournalBreakKind.LINK_MISMATCH, broken.kind)
            assertEquals("it shows at the next record", 3uL, broken.record.seq)
            val named = broken.predecessor!!
            assertEquals(victim.saleId, named.recordId)
            assertEquals(victim.receiptNo, named.receiptNo)
            assertEquals(listOf(victim.receiptNo, sales[2].receiptNo), tampered.namedRecords.map { it.receiptNo })

            // The refund, newest, is protected by the recorded head.
            val lastEdited = text.lines().joinToString("\n") { line ->
                if (line.contains("\"receipt_no\":\"${refund.receiptNo}\"")) line.replace("\"reason\":null", "\"reason\":\"x\"")
                    .replace("\"total\":\"${refund.total}\"", "\"total\":\"0.01\"") else line
            }
            assertNotEquals(text.trimEnd(), lastEdited.trimEnd())
            val altered = verifyJournalExport(lastEdited).problems.single() as JournalProblem.ChainBreak
            assertEquals(JournalBreakKind.ALTERED, altered.kind)
            assertEquals(refund.refundId, altered.record.recordId)

            // The journal screen's flow with the real core's answers.
            val flow = JournalFlow()
            assertTrue(flow.checkTapped(JournalSource.File("audit.jsonl")))
            flow.checked(verifyJournalExport(edited).toJournalVerdict())
            val report = (flow.check as JournalCheckStep.Report).view
            assertFalse(report.intact)
            assertEquals(
                listOf(
                    "Sale ${victim.receiptNo} (number 2, id ${victim.saleId}) was changed: sale ${sales[2].receiptNo} " +
                        "(number 3, id ${sales[2].saleId}) no longer matches it (or the link of sale ${sales[2].receiptNo} " +
                        "(number 3, id ${sales[2].saleId}) was changed)",
                ),
                report.problems,
            )
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun text_that_is_no_export_is_a_typed_exception() = runBlocking<Unit> {
        val header = """{"format":"tillkit-journal-v1","store_id":"s","register_id":"R1","exported_at":0,"last_seq":0,"head":null,"records":0}"""
        for (text in listOf("", "hello auditor", "{}", "$header\nnot json", "$header\n{\"sale_id\":\"x\"}", "[".repeat(100_000))) {
            val e = expectThrows<TillkitException.InvalidJournalExport> { verifyJournalExport(text) }
            assertTrue(e.reason.isNotEmpty())
        }
        val flow = JournalFlow()
        flow.checkTapped(JournalSource.File("notes.txt"))
        val e = expectThrows<TillkitException.InvalidJournalExport> { verifyJournalExport("hello auditor") }
        flow.checkFailed(e.toJournalRefusal(money))
        assertTrue((flow.check as JournalCheckStep.Failed).message.startsWith("This is not a Tillkit journal export"))
        // Without a session there is no register's journal to export.
        val dir = tempDir("journal-nosession")
        val core = openCore(dir)
        try {
            val refused = expectThrows<TillkitException.NoSession> { core.exportJournal() }
            assertEquals(JournalRefusal.NoSession, refused.toJournalRefusal(money))
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }
}
