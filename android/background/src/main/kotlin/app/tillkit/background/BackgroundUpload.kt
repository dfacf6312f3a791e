// When the register asks the OS for background upload, and what a background run's ending
// means for the next one. Decisions only: the shells schedule, the core uploads.
package app.tillkit.background

import app.tillkit.ui.StartupProblem
import kotlin.coroutines.cancellation.CancellationException

/** How long one background run may wait for the queue to drain (WorkManager allows 10 min). */
const val DRAIN_BUDGET_MS: Long = 3 * 60 * 1000L

/** How long a background run waits for the register to open before trying again later. */
const val OPEN_BUDGET_MS: Long = 60 * 1000L

/** The periodic safety net's interval; WorkManager's minimum is 15 minutes. */
const val PERIODIC_INTERVAL_MINUTES: Long = 15

/** First retry delay after a run that did not finish; WorkManager doubles it each time. */
const val RETRY_BACKOFF_SECONDS: Long = 30

/** Runs of one upload request before it stops retrying and leaves it to the periodic work. */
const val MAX_ATTEMPTS: Int = 8

/** Which network a background run waits for before the OS starts it. */
enum class UploadNetwork {
    /** A network Android validated (WorkManager's `CONNECTED`): the server is on the internet. */
    Validated,

    /**
     * No wait (WorkManager's `NOT_REQUIRED`): the server is on the shop's local network, which
     * Android never validates while the internet line is down, so a run that waited for
     * validation would never start. The core's health probe finds whether the server answers;
     * a run with no network at all waits out its drain budget and is retried with backoff.
     */
    Any,
}

/** What to ask the OS scheduler for. */
data class UploadSchedule(
    /** A one-off run as soon as a usable network allows (expedited on Android). */
    val uploadSoon: Boolean,
    /** The periodic run; always kept, so a sale never waits for the app to come back. */
    val periodic: Boolean = true,
    /** The network both runs wait for. */
    val network: UploadNetwork = UploadNetwork.Validated,
)

/**
 * The schedule for [pending] unsent sales of a register syncing with [serverUrl], asked when
 * the app leaves the screen and when it starts. Sales set aside or blocked for a person still
 * count: a run costs little and the core decides what can move.
 */
fun uploadSchedule(pending: Long, serverUrl: String): UploadSchedule =
    UploadSchedule(uploadSoon = pending > 0, network = uploadNetwork(serverUrl))

/** [UploadNetwork.Any] for a server on the local network ([serverOnLocalNetwork]), else validated. */
fun uploadNetwork(serverUrl: String): UploadNetwork =
    if (serverOnLocalNetwork(serverUrl)) UploadNetwork.Any else UploadNetwork.Validated

/** How the core's drain ended (the bindings' `DrainOutcome`). */
enum class DrainResult {
    /** Nothing is left to upload. */
    Drained,

    /** What is left needs a person (no token, a refused token, parked sales, no common protocol). */
    NeedsAttention,

    /** The time limit passed with sales still uploadable. */
    TimedOut,
}

/** What a background run tells the OS scheduler. */
enum class RunVerdict {
    /** Finished: no retry of this request (the periodic work stays). */
    Done,

    /** Run this request again later, with the scheduler's backoff. */
    RetryLater,
}

/** After a drain; [attempt] counts this request's runs from 0 (WorkManager's `runAttemptCount`). */
fun afterDrain(result: DrainResult, attempt: Int): RunVerdict = when (result) {
    DrainResult.Drained -> RunVerdict.Done
    // Retrying cannot lift a refusal only a person can: the app shows it when next opened.
    DrainResult.NeedsAttention -> RunVerdict.Done
    DrainResult.TimedOut -> retryUnlessExhausted(attempt)
}

/**
 * After the register could not open for a background run. Problems that pass by themselves
 * (the keychain locked, storage busy or full, anything unexpected) are retried; problems only
 * a person or a new build can solve are not, and the app shows them when next opened.
 */
fun afterOpenFailure(problem: StartupProblem, attempt: Int): RunVerdict = when (problem) {
    StartupProblem.Keychain,
    StartupProblem.Storage,
    StartupProblem.StorageFull,
    StartupProblem.Busy,
    StartupProblem.Unexpected,
    -> retryUnlessExhausted(attempt)
    StartupProblem.KeyMissing,
    StartupProblem.KeyMismatch,
    StartupProblem.KeyUnreadable,
    StartupProblem.NeedsRecovery,
    StartupProblem.WalMissing,
    StartupProblem.NewerSchema,
    StartupProblem.Configuration,
    StartupProblem.Library,
    -> RunVerdict.Done
}

/**
 * The verdict of a run that drains with [drain]: [afterDrain] of its result, or, when it
 * throws (the core closed under it, a crash inside the core, anything else), [onError] is told
 * and the run is retried like a time-out: a throw must never end the request for good.
 * Cancellation (the OS stopped the worker) is rethrown, as a coroutine must. Inline, so
 * [drain] may suspend.
 */
inline fun drainVerdict(attempt: Int, onError: (Throwable) -> Unit, drain: () -> DrainResult): RunVerdict {
    val result = try {
        drain()
    } catch (e: CancellationException) {
        throw e
    } catch (e: Throwable) {
        onError(e)
        return afterDrainError(attempt)
    }
    return afterDrain(result, attempt)
}

/** After a drain that threw: retried until the attempts are used up, as a time-out is. */
fun afterDrainError(attempt: Int): RunVerdict = retryUnlessExhausted(attempt)

/** After the register did not finish opening within [OPEN_BUDGET_MS]. */
fun afterOpenTimeout(attempt: Int): RunVerdict = retryUnlessExhausted(attempt)

private fun retryUnlessExhausted(attempt: Int): RunVerdict =
    if (attempt + 1 < MAX_ATTEMPTS) RunVerdict.RetryLater else RunVerdict.Done
