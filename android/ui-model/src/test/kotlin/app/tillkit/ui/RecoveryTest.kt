package app.tillkit.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class RecoveryTest {
    private val kept = listOf("/data/tillkit/tillkit.db.damaged-1")

    @Test
    fun recovering_is_offered_first_and_reports_what_was_saved_and_lost() {
        val flow = RecoveryFlow("the database file is missing", kept)
        assertTrue(flow.recoverTapped())
        assertFalse("a second tap does not start a second recovery", flow.recoverTapped())
        flow.recovered(RecoveryOutcome(false, 38, 38, 2, 2, listOf("R1-000017", "R1-000018"), listOf("page 7"), kept))
        val done = flow.step as RecoveryStep.Done
        assertEquals(
            listOf(
                "38 sales recovered; 38 sales will upload when online.",
                "2 sales could not be recovered. Check them against paper receipts; the damaged file was kept for support.",
                "Missing receipt numbers: R1-000017, R1-000018.",
            ),
            done.summary,
        )
        assertEquals(kept, done.keptFiles)
    }

    @Test
    fun starting_fresh_needs_the_word_typed_and_never_happens_on_one_tap() {
        val flow = RecoveryFlow("damaged", kept)
        flow.startFreshTapped()
        assertFalse(flow.confirmFreshTapped())
        flow.confirmationTyped("fresh")
        assertFalse("the exact word", flow.canConfirmFresh)
        flow.confirmationTyped(START_FRESH_WORD)
        assertTrue(flow.confirmFreshTapped())
        flow.startedFresh()
        assertEquals(kept, (flow.step as RecoveryStep.Done).keptFiles)
    }

    @Test
    fun a_failed_recovery_can_be_retried_and_cancelling_fresh_goes_back() {
        val flow = RecoveryFlow("damaged", kept)
        flow.recoverTapped()
        flow.failed("keychain error")
        assertTrue(flow.recoverTapped())
        flow.failed("again")
        flow.startFreshTapped()
        flow.cancelFresh()
        assertTrue(flow.step is RecoveryStep.Needed)
        flow.recoverTapped()
        flow.recovered(RecoveryOutcome(true, 1, 1, 0, 0, emptyList(), emptyList(), kept))
        assertEquals("Every sale could be read.", (flow.step as RecoveryStep.Done).summary[1])
    }

    @Test
    fun an_incomplete_salvage_never_says_every_sale_was_read_and_names_what_is_missing() {
        // Numbers the counter issued but no page held: nothing counted as unreadable.
        val cut = RecoveryOutcome(false, 180, 180, 0, 0, (181..300).map { "R1-%06d".format(it) }, emptyList(), kept)
        val lines = recoverySummary(cut)
        assertFalse(lines.any { it.contains("Every sale") })
        assertEquals("120 sales could not be recovered. Check them against paper receipts; the damaged file was kept for support.", lines[1])
        assertEquals("Missing receipt numbers: R1-000181, R1-000182, R1-000183, R1-000184, R1-000185, R1-000186, " +
            "R1-000187, R1-000188, R1-000189, R1-000190 and 110 more.", lines[2])
        // The file was missing altogether: nothing known lost, but not complete either.
        val missing = recoverySummary(RecoveryOutcome(false, 0, 0, 0, 0, emptyList(), listOf("missing"), kept))
        assertTrue(missing[1].startsWith("Not every part of the old database could be read."))
    }
}
