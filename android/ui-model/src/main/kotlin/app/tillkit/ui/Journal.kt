// The journal screen: "Export journal" (the register's journal as a file for an auditor) and
// "Check journal" (the verdict on this register's journal, or on an export file opened here).
// Wording and flow only: the core writes the export, parses it and judges the chain.
package app.tillkit.ui

import java.time.Instant
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter

/** A record the check names (from `JournalRecordRef`). */
data class JournalRecord(val seq: Long, val kind: String, val recordId: String, val receiptNo: String)

/** What kind of break the check found (from `JournalBreakKind`). */
enum class JournalBreak { LinkMismatch, Genesis, AfterMismatch, Altered, BadLink, SkipMismatch }

/** Why the journal was started again (from `JournalSegmentReason`). */
enum class JournalRestartReason { NewRegister, JournalStarted, FreshStart, Recovered }

/** One thing the check found wrong (from `JournalProblem`). */
sealed interface JournalFinding {
    /** Numbers no record holds and no recorded skip covers: records missing. */
    data class Gap(val firstSeq: Long, val lastSeq: Long) : JournalFinding

    /** Records claiming the same predecessor (number `prevSeq`, 0 for a segment's start). */
    data class Fork(val prevSeq: Long, val records: List<JournalRecord>) : JournalFinding

    /** A link or hash that does not hold at `record`; `predecessor` the record that does not hash as claimed. */
    data class Broken(
        val kind: JournalBreak,
        val record: JournalRecord,
        val predecessor: JournalRecord?,
        val detail: String,
    ) : JournalFinding

    /** One number held by more than one record. */
    data class ReusedNumber(val seq: Long) : JournalFinding
}

/** Where the journal was started again. */
data class JournalRestartInfo(val reason: JournalRestartReason, val start: JournalRecord, val note: String?)

/** The core's verdict on one export (from `JournalReport`). */
data class JournalVerdict(
    val storeId: String,
    val registerId: String,
    val exportedAtMs: Long,
    val records: Long,
    val firstSeq: Long?,
    val lastSeq: Long?,
    val intact: Boolean,
    val findings: List<JournalFinding>,
    /** Every record a break or fork names, once each. */
    val named: List<JournalRecord>,
    val skips: List<LongRange>,
    val unchained: List<LongRange>,
    val restarts: List<JournalRestartInfo>,
)

/** What the report screen shows. */
data class JournalReportView(
    /** Whose journal, and from when. */
    val title: String,
    val intact: Boolean,
    /** One line: intact or not, and how much was checked. */
    val verdict: String,
    /** One line per problem, naming the records concerned; empty when intact. */
    val problems: List<String>,
    /** What is not a problem but an auditor should know: skips, unchained records, restarts. */
    val notes: List<String>,
)

/** Whose journal a check is of. */
sealed interface JournalSource {
    /** This register's own journal, as this device holds it. */
    data object ThisRegister : JournalSource

    /** An export file opened on this device (from this register or another). */
    data class File(val name: String) : JournalSource
}

/** A typed refusal of a journal call (mapped from `TillkitException` by `:tillkit`). */
sealed interface JournalRefusal {
    /** The text is not a journal export; nothing was checked. */
    data class NotAnExport(val reason: String) : JournalRefusal

    /** No cashier is signed in: the journal is the signed-in register's. */
    data object NoSession : JournalRefusal

    /** Anything else, already worded. */
    data class Other(val message: String) : JournalRefusal
}

/** Where the check stands. */
sealed interface JournalCheckStep {
    data object Idle : JournalCheckStep

    /** The core is checking; nothing else is checked until it answers. */
    data class Checking(val source: JournalSource) : JournalCheckStep

    data class Report(val source: JournalSource, val view: JournalReportView) : JournalCheckStep

    data class Failed(val source: JournalSource, val message: String) : JournalCheckStep
}

/** Where the export stands. */
sealed interface JournalExportStep {
    data object Idle : JournalExportStep

    /** `exportJournal` is running. */
    data object Exporting : JournalExportStep

    /** The export is made: the app asks where to save it, proposing [fileName]. */
    data class ChooseFile(val text: String, val fileName: String, val records: Long) : JournalExportStep

    /** The text is being written to the chosen file. */
    data class Saving(val text: String, val fileName: String, val records: Long) : JournalExportStep

    /** Saved, or not; [message] says which. */
    data class Finished(val saved: Boolean, val message: String) : JournalExportStep
}

/** The MIME type of an export (JSON Lines). */
const val JOURNAL_MIME_TYPE = "application/jsonl"

/**
 * The journal screen's state machine; the app calls the core (and the file system) when it
 * says so. Export and check are independent: one can run while the other shows its answer.
 */
class JournalFlow(private val nowMs: () -> Long = System::currentTimeMillis) {
    var check: JournalCheckStep = JournalCheckStep.Idle
        private set
    var export: JournalExportStep = JournalExportStep.Idle
        private set

    /** Whether an export is under way (made, or being saved): a second one is not started. */
    val exporting: Boolean
        get() = export is JournalExportStep.Exporting ||
            export is JournalExportStep.ChooseFile ||
            export is JournalExportStep.Saving

    /** "Export journal": true when the app should call `exportJournal`. */
    fun exportTapped(): Boolean {
        if (exporting) return false
        export = JournalExportStep.Exporting
        return true
    }

    /** `exportJournal` answered with the export of `registerId` of `storeId`. */
    fun exported(text: String, storeId: String, registerId: String) {
        if (export !is JournalExportStep.Exporting) return
        val records = (text.lineSequence().count { it.isNotBlank() } - 1).coerceAtLeast(0).toLong()
        export = JournalExportStep.ChooseFile(text, journalFileName(storeId, registerId, nowMs()), records)
    }

    /** `exportJournal` refused. */
    fun exportFailed(problem: JournalRefusal) {
        if (export !is JournalExportStep.Exporting) return
        export = JournalExportStep.Finished(false, "The journal could not be exported. ${message(problem)}")
    }

    /** The person chose a file: the text to write into it, or null when nothing is waiting. */
    fun fileChosen(): String? {
        val s = export as? JournalExportStep.ChooseFile ?: return null
        export = JournalExportStep.Saving(s.text, s.fileName, s.records)
        return s.text
    }

    /** The person closed the file picker without choosing: nothing was saved. */
    fun fileCancelled() {
        if (export is JournalExportStep.ChooseFile) {
            export = JournalExportStep.Finished(false, "Export cancelled: nothing was saved")
        }
    }

    /** The text is written to the chosen file. */
    fun saved() {
        val s = export as? JournalExportStep.Saving ?: return
        val what = if (s.records == 1L) "1 record" else "${s.records} records"
        export = JournalExportStep.Finished(true, "Journal saved as ${s.fileName} ($what)")
    }

    /** Writing the file failed (storage full, the provider went away). */
    fun saveFailed(reason: String) {
        if (export !is JournalExportStep.Saving) return
        export = JournalExportStep.Finished(false, "The journal could not be saved: $reason. Export it again.")
    }

    /** "Check journal" (this register's) or a file opened to check: true when the app should call the core. */
    fun checkTapped(source: JournalSource = JournalSource.ThisRegister): Boolean {
        if (check is JournalCheckStep.Checking) return false
        check = JournalCheckStep.Checking(source)
        return true
    }

    /** The core's verdict. */
    fun checked(verdict: JournalVerdict) {
        val s = check as? JournalCheckStep.Checking ?: return
        check = JournalCheckStep.Report(s.source, journalReportView(verdict, s.source))
    }

    /** The check was refused (not an export, no session...). */
    fun checkFailed(problem: JournalRefusal) {
        val s = check as? JournalCheckStep.Checking ?: return
        check = JournalCheckStep.Failed(s.source, message(problem))
    }

    /** Back from the report to the journal screen's buttons. */
    fun reportClosed() {
        if (check !is JournalCheckStep.Checking) check = JournalCheckStep.Idle
    }

    private fun message(problem: JournalRefusal): String = when (problem) {
        is JournalRefusal.NotAnExport -> "This is not a Tillkit journal export (${problem.reason}); nothing was checked"
        JournalRefusal.NoSession -> "No cashier is signed in: the journal is the signed-in register's"
        is JournalRefusal.Other -> problem.message
    }
}

/** A file name for an export: `tillkit-journal-<store>-<register>-<UTC time>.jsonl`. */
fun journalFileName(storeId: String, registerId: String, atMs: Long): String {
    fun safe(s: String) = s.replace(Regex("[^A-Za-z0-9._-]"), "_").ifEmpty { "_" }
    val at = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(Instant.ofEpochMilli(atMs))
    return "tillkit-journal-${safe(storeId)}-${safe(registerId)}-${at}Z.jsonl"
}

/** The report screen's wording of a verdict. */
fun journalReportView(v: JournalVerdict, source: JournalSource = JournalSource.ThisRegister): JournalReportView {
    val at = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm").withZone(ZoneOffset.UTC).format(Instant.ofEpochMilli(v.exportedAtMs))
    val whose = when (source) {
        JournalSource.ThisRegister -> "This register's journal"
        is JournalSource.File -> "Journal file ${source.name}"
    }
    val title = "$whose · register ${v.registerId}, store ${v.storeId} · exported $at UTC"
    val checked = when {
        v.records == 0L -> "no records"
        v.firstSeq != null && v.lastSeq != null -> {
            val what = if (v.records == 1L) "1 record" else "${v.records} records"
            if (v.firstSeq == v.lastSeq) "$what, number ${v.firstSeq}" else "$what, numbers ${v.firstSeq} to ${v.lastSeq}"
        }
        else -> if (v.records == 1L) "1 record" else "${v.records} records"
    }
    val verdict = if (v.intact) {
        "Intact: $checked checked; every record links to the one before it and none is missing"
    } else {
        val n = v.findings.size
        "Not intact: ${if (n == 1) "1 problem" else "$n problems"} found in $checked"
    }
    val notes = mutableListOf<String>()
    for (s in v.skips) {
        notes += "${numbers(s)} skipped by the register (it continued after every number it may have issued, " +
            "after a recovery or a reset receipt book): expected, not missing"
    }
    for (u in v.unchained) {
        notes += "${records(u)} made before the journal existed: not chained"
    }
    for (r in v.restarts) {
        val why = when (r.reason) {
            JournalRestartReason.FreshStart -> "the store was started fresh after damage"
            JournalRestartReason.Recovered -> "the store was recovered after damage and none of this register's records survived"
            JournalRestartReason.JournalStarted -> "the journal started after an update"
            JournalRestartReason.NewRegister -> "a new chain was started"
        }
        notes += "The journal was started again at ${name(r.start)}: $why" + (r.note?.let { " ($it)" } ?: "")
    }
    return JournalReportView(title, v.intact, verdict, v.findings.map(::findingLine), notes)
}

/** One problem in words, naming the records concerned. */
fun findingLine(f: JournalFinding): String = when (f) {
    is JournalFinding.Gap -> if (f.firstSeq == f.lastSeq) {
        "Number ${f.firstSeq} is missing: no record holds it"
    } else {
        "Numbers ${f.firstSeq} to ${f.lastSeq} are missing: no record holds them"
    }
    is JournalFinding.Fork ->
        "${f.records.joinToString(" and ") { name(it) }.replaceFirstChar(Char::uppercase)} all claim to follow " +
            (if (f.prevSeq == 0L) "the start of the journal" else "number ${f.prevSeq}") + ": the chain splits there"
    is JournalFinding.Broken -> when (f.kind) {
        JournalBreak.LinkMismatch -> f.predecessor?.let {
            "${name(it).replaceFirstChar(Char::uppercase)} was changed: ${name(f.record)} no longer matches it " +
                "(or the link of ${name(f.record)} was changed)"
        } ?: "The link of ${name(f.record)} does not match the record before it"
        JournalBreak.Altered -> "${name(f.record).replaceFirstChar(Char::uppercase)} was changed after it was written"
        JournalBreak.AfterMismatch -> "The journal restarted at ${name(f.record)} after " +
            (f.predecessor?.let { "${name(it)}, which was changed since" } ?: "a record that was changed since")
        JournalBreak.Genesis -> "${name(f.record).replaceFirstChar(Char::uppercase)} opens the journal with a start value that is not this register's"
        JournalBreak.BadLink -> "The link of ${name(f.record)} is unreadable or points forward"
        JournalBreak.SkipMismatch -> "${name(f.record).replaceFirstChar(Char::uppercase)} claims skipped numbers that do not fit its link"
    }
    is JournalFinding.ReusedNumber -> "Number ${f.seq} is held by more than one record: two receipts share it"
}

/** `sale R07-000002 (number 2, id …)`. */
private fun name(r: JournalRecord): String {
    val receipt = r.receiptNo.ifEmpty { "without a receipt number" }
    val id = if (r.recordId.isEmpty()) "" else ", id ${r.recordId}"
    return "${r.kind} $receipt (number ${r.seq}$id)"
}

private fun numbers(r: LongRange) = if (r.first == r.last) "Number ${r.first} was" else "Numbers ${r.first} to ${r.last} were"

private fun records(r: LongRange) = if (r.first == r.last) "Record ${r.first} was" else "Records ${r.first} to ${r.last} were"
