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
        flow.recovered(RecoveryOutcome(38, 38, 2, 2, listOf("page 7"), kept))
        val done = flow.step as RecoveryStep.Done
        assertEquals(
            listOf(
                "38 sales recovered; 38 sales will upload when online.",
                "2 sales could not be read. Check them against paper receipts; the damaged file was kept for support.",
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
        flow.recovered(RecoveryOutcome(1, 1, 0, 0, emptyList(), kept))
        assertEquals("Every sale could be read.", (flow.step as RecoveryStep.Done).summary[1])
    }
}
