// The "database needs recovery" screen: what it says and which step comes next.
// Wording and flow only; the core decides what is damaged, salvages and keeps the files.
package app.tillkit.ui

/** What a recovery salvaged (from `RecoveryReportRecord`). */
data class RecoveryOutcome(
    /** Every sale, queue row and receipt number the damaged file knew of was salvaged. */
    val complete: Boolean,
    val salesRecovered: Long,
    val queued: Long,
    val salesUnreadable: Long,
    val queuedLost: Long,
    /** Receipt numbers known to have been issued that could not be recovered, in order. */
    val receiptsMissing: List<String>,
    val unreadable: List<String>,
    val keptFiles: List<String>,
)

/** Where the recovery screen stands. */
sealed interface RecoveryStep {
    /** The store refused to open: explain, offer "Recover sales" first. */
    data class Needed(val reason: String, val keptFiles: List<String>) : RecoveryStep

    /** Salvage is running; nothing else may be tapped. */
    data object Recovering : RecoveryStep

    /** Starting fresh abandons the kept sales: a person must confirm by typing the word. */
    data class ConfirmFresh(val keptFiles: List<String>, val typed: String = "") : RecoveryStep

    /** Done: the register can open again; `summary` says what was saved and lost. */
    data class Done(val summary: List<String>, val keptFiles: List<String>) : RecoveryStep

    /** Recovery itself failed; it can be tried again (nothing was deleted). */
    data class Failed(val message: String, val keptFiles: List<String>) : RecoveryStep
}

/** The word a person types to confirm starting fresh without the kept sales. */
const val START_FRESH_WORD = "FRESH"

/** The recovery screen's state machine; the app calls the core when it says so. */
class RecoveryFlow(reason: String, keptFiles: List<String>) {
    var step: RecoveryStep = RecoveryStep.Needed(reason, keptFiles)
        private set
    private val kept = keptFiles

    /** The cashier tapped "Recover sales": true when the app should call `recoverDatabase`. */
    fun recoverTapped(): Boolean {
        if (step !is RecoveryStep.Needed && step !is RecoveryStep.Failed) return false
        step = RecoveryStep.Recovering
        return true
    }

    /** `recoverDatabase` returned. */
    fun recovered(outcome: RecoveryOutcome) {
        step = RecoveryStep.Done(recoverySummary(outcome), outcome.keptFiles)
    }

    /** `recoverDatabase` or `startFreshDatabase` failed. */
    fun failed(message: String) {
        step = RecoveryStep.Failed(message, kept)
    }

    /** "Start without the old sales…": only asks for confirmation, never starts fresh. */
    fun startFreshTapped() {
        if (step is RecoveryStep.Needed || step is RecoveryStep.Failed) {
            step = RecoveryStep.ConfirmFresh(kept)
        }
    }

    /** Typing in the confirmation field. */
    fun confirmationTyped(text: String) {
        val s = step
        if (s is RecoveryStep.ConfirmFresh) step = s.copy(typed = text)
    }

    /** Whether the confirm button is enabled: the word typed exactly. */
    val canConfirmFresh: Boolean
        get() = (step as? RecoveryStep.ConfirmFresh)?.typed?.trim() == START_FRESH_WORD

    /** The person confirmed: true when the app should call `startFreshDatabase`. */
    fun confirmFreshTapped(): Boolean {
        if (!canConfirmFresh) return false
        step = RecoveryStep.Recovering
        return true
    }

    /** `startFreshDatabase` returned. */
    fun startedFresh() {
        step = RecoveryStep.Done(
            listOf(
                "Started with an empty register. The old sales were not uploaded.",
                "The damaged file was kept for support.",
            ),
            kept,
        )
    }

    /** Back out of the confirmation. */
    fun cancelFresh() {
        if (step is RecoveryStep.ConfirmFresh) step = RecoveryStep.Needed(NEEDED_AGAIN, kept)
    }

    private companion object {
        const val NEEDED_AGAIN = "The register's database could not be opened."
    }
}

/** Plain sentences about a finished recovery, most important first. */
fun recoverySummary(o: RecoveryOutcome): List<String> {
    val lines = mutableListOf(
        "${count(o.salesRecovered, "sale")} recovered; ${count(o.queued, "sale")} will upload when online.",
    )
    if (o.complete) {
        lines += "Every sale could be read."
        return lines
    }
    val lost = maxOf(o.salesUnreadable, o.queuedLost, o.receiptsMissing.size.toLong())
    lines += if (lost > 0) {
        "${count(lost, "sale")} could not be recovered. " +
            "Check them against paper receipts; the damaged file was kept for support."
    } else {
        "Not every part of the old database could be read. Check today's sales against paper receipts; " +
            "the damaged file was kept for support."
    }
    if (o.receiptsMissing.isNotEmpty()) {
        lines += "Missing receipt numbers: ${receiptList(o.receiptsMissing)}."
    }
    return lines
}

/** Receipt numbers as one line, the first few in full and then how many more. */
fun receiptList(numbers: List<String>, shown: Int = MAX_RECEIPTS_SHOWN): String =
    if (numbers.size <= shown) {
        numbers.joinToString(", ")
    } else {
        numbers.take(shown).joinToString(", ") + " and ${numbers.size - shown} more"
    }

/** Receipt numbers the summary names before it counts the rest. */
const val MAX_RECEIPTS_SHOWN = 10

private fun count(n: Long, what: String) = if (n == 1L) "1 $what" else "$n ${what}s"
