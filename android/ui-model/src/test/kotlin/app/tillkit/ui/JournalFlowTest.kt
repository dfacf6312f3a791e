package app.tillkit.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class JournalFlowTest {
    // 2026-12-05 06:30:15 UTC
    private val now = 1_796_452_215_000L

    private fun record(seq: Long, kind: String = "sale") =
        JournalRecord(seq, kind, "id-$seq", "R07-%06d".format(seq))

    private fun verdict(
        findings: List<JournalFinding> = emptyList(),
        records: Long = 4,
        skips: List<LongRange> = emptyList(),
        unchained: List<LongRange> = emptyList(),
        restarts: List<JournalRestartInfo> = emptyList(),
    ) = JournalVerdict(
        storeId = "uk-01",
        registerId = "R07",
        exportedAtMs = now,
        records = records,
        firstSeq = if (records == 0L) null else 1,
        lastSeq = if (records == 0L) null else records,
        intact = findings.isEmpty(),
        findings = findings,
        named = emptyList(),
        skips = skips,
        unchained = unchained,
        restarts = restarts,
    )

    @Test
    fun an_export_is_made_once_then_saved_under_a_proposed_name() {
        val flow = JournalFlow { now }
        assertTrue(flow.exportTapped())
        assertFalse("a second tap starts no second export", flow.exportTapped())
        flow.exported("{\"format\":\"tillkit-journal-v1\"}\n{\"seq\":1}\n{\"seq\":2}\n", "uk-01", "R07")
        val choose = flow.export as JournalExportStep.ChooseFile
        assertEquals("tillkit-journal-uk-01-R07-20261205-063015Z.jsonl", choose.fileName)
        assertEquals(2, choose.records)
        assertFalse("not while the file is being chosen", flow.exportTapped())
        assertEquals(choose.text, flow.fileChosen())
        assertNull("the text is handed out once", flow.fileChosen())
        flow.saved()
        assertEquals(
            JournalExportStep.Finished(true, "Journal saved as tillkit-journal-uk-01-R07-20261205-063015Z.jsonl (2 records)"),
            flow.export,
        )
        assertTrue("another export can start", flow.exportTapped())
    }

    @Test
    fun a_cancelled_picker_or_a_failed_write_says_nothing_was_saved() {
        val flow = JournalFlow { now }
        flow.exportTapped()
        flow.exported("{}\n", "uk-01", "R07")
        flow.fileCancelled()
        assertEquals(JournalExportStep.Finished(false, "Export cancelled: nothing was saved"), flow.export)
        flow.exportTapped()
        flow.exported("{}\n", "uk-01", "R07")
        flow.fileChosen()
        flow.saveFailed("the storage is full")
        assertEquals(
            JournalExportStep.Finished(false, "The journal could not be saved: the storage is full. Export it again."),
            flow.export,
        )
        flow.exportTapped()
        flow.exportFailed(JournalRefusal.NoSession)
        assertEquals(
            "The journal could not be exported. No cashier is signed in: the journal is the signed-in register's",
            (flow.export as JournalExportStep.Finished).message,
        )
    }

    @Test
    fun file_names_keep_only_safe_characters() {
        assertEquals("tillkit-journal-a_b-R_1-19700101-000000Z.jsonl", journalFileName("a/b", "R 1", 0))
    }

    @Test
    fun an_intact_journal_says_what_was_checked() {
        val flow = JournalFlow { now }
        assertTrue(flow.checkTapped())
        assertFalse("one check at a time", flow.checkTapped())
        flow.checked(verdict())
        val report = (flow.check as JournalCheckStep.Report).view
        assertTrue(report.intact)
        assertEquals("This register's journal · register R07, store uk-01 · exported 2026-12-05 06:30 UTC", report.title)
        assertEquals(
            "Intact: 4 records, numbers 1 to 4 checked; every record links to the one before it and none is missing",
            report.verdict,
        )
        assertEquals(emptyList<String>(), report.problems)
        flow.reportClosed()
        assertEquals(JournalCheckStep.Idle, flow.check)
    }

    @Test
    fun every_problem_names_the_records_concerned() {
        val view = journalReportView(
            verdict(
                listOf(
                    JournalFinding.Broken(JournalBreak.LinkMismatch, record(3), record(2), "detail"),
                    JournalFinding.Broken(JournalBreak.Altered, record(4, "refund"), null, "detail"),
                    JournalFinding.Gap(5, 5),
                    JournalFinding.Gap(7, 9),
                    JournalFinding.Fork(1, listOf(record(2), record(3))),
                    JournalFinding.ReusedNumber(2),
                ),
            ),
            JournalSource.File("audit.jsonl"),
        )
        assertFalse(view.intact)
        assertTrue(view.title.startsWith("Journal file audit.jsonl · register R07"))
        assertEquals("Not intact: 6 problems found in 4 records, numbers 1 to 4", view.verdict)
        assertEquals(
            listOf(
                "Sale R07-000002 (number 2, id id-2) was changed: sale R07-000003 (number 3, id id-3) no longer matches it " +
                    "(or the link of sale R07-000003 (number 3, id id-3) was changed)",
                "Refund R07-000004 (number 4, id id-4) was changed after it was written",
                "Number 5 is missing: no record holds it",
                "Numbers 7 to 9 are missing: no record holds them",
                "Sale R07-000002 (number 2, id id-2) and sale R07-000003 (number 3, id id-3) all claim to follow number 1: " +
                    "the chain splits there",
                "Number 2 is held by more than one record: two receipts share it",
            ),
            view.problems,
        )
    }

    @Test
    fun skips_unchained_records_and_restarts_are_notes_not_problems() {
        val view = journalReportView(
            verdict(
                skips = listOf(4L..10L),
                unchained = listOf(1L..1L),
                restarts = listOf(JournalRestartInfo(JournalRestartReason.FreshStart, record(11), "damaged page")),
            ),
        )
        assertTrue(view.intact)
        assertEquals(
            listOf(
                "Numbers 4 to 10 were skipped by the register (it continued after every number it may have issued, " +
                    "after a recovery or a reset receipt book): expected, not missing",
                "Record 1 was made before the journal existed: not chained",
                "The journal was started again at sale R07-000011 (number 11, id id-11): the store was started fresh " +
                    "after damage (damaged page)",
            ),
            view.notes,
        )
    }

    @Test
    fun a_file_that_is_no_export_is_reported_as_such() {
        val flow = JournalFlow { now }
        val source = JournalSource.File("notes.txt")
        assertTrue(flow.checkTapped(source))
        flow.checkFailed(JournalRefusal.NotAnExport("the export is empty"))
        assertEquals(
            JournalCheckStep.Failed(source, "This is not a Tillkit journal export (the export is empty); nothing was checked"),
            flow.check,
        )
        assertTrue("it can be checked again", flow.checkTapped())
    }

    @Test
    fun an_empty_journal_checks_as_no_records() {
        val view = journalReportView(verdict(records = 0))
        assertEquals(
            "Intact: no records checked; every record links to the one before it and none is missing",
            view.verdict,
        )
    }
}
