package app.tillkit.background

import app.tillkit.ui.StartupProblem
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import kotlin.coroutines.cancellation.CancellationException
import org.junit.Test

class BackgroundUploadTest {
    @Test
    fun sales_waiting_ask_for_an_upload_soon_and_the_periodic_run_is_always_kept() {
        val url = "https://sync.example.com/"
        assertEquals(UploadSchedule(uploadSoon = true, periodic = true), uploadSchedule(pending = 3, url))
        assertEquals(UploadSchedule(uploadSoon = false, periodic = true), uploadSchedule(pending = 0, url))
    }

    @Test
    fun a_server_on_the_shop_network_is_uploaded_to_without_waiting_for_a_validated_network() {
        for (url in listOf("https://192.168.1.20:8787/", "https://till-server.local/", "http://10.0.0.5/", "https://[fd12::1]/")) {
            assertEquals(url, UploadNetwork.Any, uploadSchedule(pending = 1, url).network)
            assertEquals(url, UploadNetwork.Any, uploadSchedule(pending = 0, url).network)
        }
        for (url in listOf("https://sync.example.com/", "https://8.8.8.8/", "not a url")) {
            assertEquals(url, UploadNetwork.Validated, uploadSchedule(pending = 1, url).network)
        }
    }

    @Test
    fun a_drain_that_throws_is_retried_and_reported_never_a_failure_for_good() {
        val seen = mutableListOf<Throwable>()
        val boom = IllegalStateException("the core is closed")
        val verdict = drainVerdict(attempt = 0, onError = { seen += it }) { throw boom }
        assertEquals(RunVerdict.RetryLater, verdict)
        assertEquals(listOf<Throwable>(boom), seen)
        // As a time-out: retried until the attempts are used up, then left to the periodic run.
        val verdicts = (0 until MAX_ATTEMPTS).map { attempt ->
            drainVerdict(attempt, onError = {}) { throw RuntimeException("crash inside the core") }
        }
        assertEquals((0 until MAX_ATTEMPTS).map { afterDrain(DrainResult.TimedOut, it) }, verdicts)
        assertEquals(RunVerdict.Done, verdicts.last())
    }

    @Test
    fun a_drain_that_returns_is_judged_by_its_result_and_reports_nothing() {
        for (result in DrainResult.entries) {
            val verdict = drainVerdict(attempt = 0, onError = { fail("no error: $it") }) { result }
            assertEquals(result.name, afterDrain(result, 0), verdict)
        }
    }

    @Test
    fun a_cancelled_drain_is_not_swallowed() {
        var reported = false
        try {
            drainVerdict(attempt = 0, onError = { reported = true }) { throw CancellationException("worker stopped") }
            fail("the cancellation must reach the caller")
        } catch (_: CancellationException) {
        }
        assertFalse(reported)
    }

    @Test
    fun a_drained_queue_or_one_needing_a_person_ends_the_run() {
        for (attempt in listOf(0, 3, MAX_ATTEMPTS - 1)) {
            assertEquals(RunVerdict.Done, afterDrain(DrainResult.Drained, attempt))
            assertEquals(RunVerdict.Done, afterDrain(DrainResult.NeedsAttention, attempt))
        }
    }

    @Test
    fun a_drain_that_ran_out_of_time_is_retried_until_the_attempts_are_used_up() {
        val verdicts = (0 until MAX_ATTEMPTS + 2).map { afterDrain(DrainResult.TimedOut, it) }
        assertEquals(List(MAX_ATTEMPTS - 1) { RunVerdict.RetryLater }, verdicts.take(MAX_ATTEMPTS - 1))
        assertTrue(verdicts.drop(MAX_ATTEMPTS - 1).all { it == RunVerdict.Done })
    }

    @Test
    fun an_open_failure_that_passes_by_itself_is_retried_and_one_needing_a_person_is_not() {
        val passing = setOf(
            StartupProblem.Keychain, StartupProblem.Storage, StartupProblem.StorageFull, StartupProblem.Busy,
            StartupProblem.Unexpected,
        )
        for (problem in StartupProblem.entries) {
            val expected = if (problem in passing) RunVerdict.RetryLater else RunVerdict.Done
            assertEquals(problem.name, expected, afterOpenFailure(problem, attempt = 0))
            assertEquals(problem.name, RunVerdict.Done, afterOpenFailure(problem, attempt = MAX_ATTEMPTS))
        }
        assertEquals(RunVerdict.RetryLater, afterOpenTimeout(0))
        assertEquals(RunVerdict.Done, afterOpenTimeout(MAX_ATTEMPTS - 1))
    }

    @Test
    fun budgets_fit_the_schedulers_limits() {
        // WorkManager stops a worker after 10 minutes; its periodic minimum is 15.
        assertTrue(DRAIN_BUDGET_MS + OPEN_BUDGET_MS < 10 * 60 * 1000L)
        assertTrue(PERIODIC_INTERVAL_MINUTES >= 15)
        assertFalse(RETRY_BACKOFF_SECONDS < 10)
    }
}
