// The journal screen's calls: export this register's journal (the text is written to the file
// the person chose with the system's file picker), check it, or check an export file opened
// here. The core writes, parses and judges the journal; :ui-model's JournalFlow says what next.
package app.tillkit.register

import android.content.ContentResolver
import android.net.Uri
import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import app.tillkit.core.TillkitAndroid
import app.tillkit.core.toJournalRefusal
import app.tillkit.core.toJournalVerdict
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.verifyJournalExport
import app.tillkit.ui.JournalCheckStep
import app.tillkit.ui.JournalExportStep
import app.tillkit.ui.JournalFlow
import app.tillkit.ui.JournalRefusal
import app.tillkit.ui.JournalSource
import app.tillkit.ui.MoneyFormat
import java.io.IOException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

class JournalViewModel(
    private val till: TillkitAndroid,
    private val storeId: String,
    private val registerId: String,
    private val money: MoneyFormat = MoneyFormat(),
) : ViewModel() {
    /** What the journal screen draws. */
    data class View(val export: JournalExportStep, val check: JournalCheckStep)

    private val flow = JournalFlow()
    private val mutableView = MutableStateFlow(snapshot())
    val view: StateFlow<View> = mutableView.asStateFlow()

    private fun snapshot() = View(flow.export, flow.check)

    private fun publish() {
        mutableView.value = snapshot()
    }

    /** "Export journal": makes the export; the screen then opens the file picker (ChooseFile). */
    fun export() {
        if (!flow.exportTapped()) return
        publish()
        viewModelScope.launch {
            try {
                flow.exported(till.core.exportJournal(), storeId, registerId)
            } catch (e: TillkitException) {
                flow.exportFailed(e.toJournalRefusal(money))
            }
            publish()
        }
    }

    /** The file picker answered: `uri` to write to, or null when the person cancelled. */
    fun fileChosen(resolver: ContentResolver, uri: Uri?) {
        if (uri == null) {
            flow.fileCancelled()
            publish()
            return
        }
        val text = flow.fileChosen() ?: return
        publish()
        viewModelScope.launch {
            try {
                withContext(Dispatchers.IO) {
                    // "wt": a file chosen again is replaced, never appended to.
                    val out = resolver.openOutputStream(uri, "wt") ?: throw IOException("the file could not be opened")
                    out.use { it.write(text.toByteArray(Charsets.UTF_8)) }
                }
                flow.saved()
            } catch (e: IOException) {
                flow.saveFailed(e.message ?: "the file could not be written")
            } catch (e: SecurityException) {
                flow.saveFailed(e.message ?: "the file could not be written")
            }
            publish()
        }
    }

    /** "Check journal": this register's journal as this device holds it. */
    fun checkThisRegister() {
        if (!flow.checkTapped(JournalSource.ThisRegister)) return
        publish()
        viewModelScope.launch {
            try {
                flow.checked(till.core.verifyJournal().toJournalVerdict())
            } catch (e: TillkitException) {
                flow.checkFailed(e.toJournalRefusal(money))
            }
            publish()
        }
    }

    /** "Check a file…": an export the person opened (from this register or another). */
    fun checkFile(resolver: ContentResolver, uri: Uri?, name: String) {
        if (uri == null || !flow.checkTapped(JournalSource.File(name))) return
        publish()
        viewModelScope.launch {
            try {
                val text = withContext(Dispatchers.IO) {
                    val input = resolver.openInputStream(uri) ?: throw IOException("the file could not be opened")
                    input.use { it.readBytes().toString(Charsets.UTF_8) }
                }
                flow.checked(verifyJournalExport(text).toJournalVerdict())
            } catch (e: TillkitException) {
                flow.checkFailed(e.toJournalRefusal(money))
            } catch (e: IOException) {
                flow.checkFailed(JournalRefusal.Other("The file could not be read: ${e.message ?: "unknown error"}"))
            } catch (e: SecurityException) {
                flow.checkFailed(JournalRefusal.Other("The file could not be read: ${e.message ?: "no permission"}"))
            }
            publish()
        }
    }

    /** Back from the report. */
    fun reportClosed() {
        flow.reportClosed()
        publish()
    }
}
