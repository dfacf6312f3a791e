// The journal screen: "Export journal" saves this register's journal where the person chooses
// (the system's file picker: Drive, Downloads, a USB stick...) for an auditor; "Check journal"
// shows the verdict on it, and "Check a file…" on an export opened here.
package app.tillkit.register

import android.net.Uri
import android.provider.OpenableColumns
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.tillkit.ui.JOURNAL_MIME_TYPE
import app.tillkit.ui.JournalCheckStep
import app.tillkit.ui.JournalExportStep
import app.tillkit.ui.JournalReportView

@Composable
fun JournalScreen(viewModel: JournalViewModel, onBack: () -> Unit) {
    val view by viewModel.view.collectAsStateWithLifecycle()
    val resolver = LocalContext.current.contentResolver
    val saveAs = rememberLauncherForActivityResult(ActivityResultContracts.CreateDocument(JOURNAL_MIME_TYPE)) { uri ->
        viewModel.fileChosen(resolver, uri)
    }
    val open = rememberLauncherForActivityResult(ActivityResultContracts.OpenDocument()) { uri: Uri? ->
        viewModel.checkFile(resolver, uri, uri?.let { displayName(resolver, it) } ?: "")
    }
    // The export is made: ask where to save it, once per export.
    val choose = view.export as? JournalExportStep.ChooseFile
    LaunchedEffect(choose?.fileName) {
        if (choose != null) saveAs.launch(choose.fileName)
    }

    val check = view.check
    if (check is JournalCheckStep.Report) {
        JournalReport(check.view, onBack = viewModel::reportClosed)
        return
    }
    Column(
        Modifier.fillMaxSize().safeDrawingPadding().padding(16.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            TextButton(onClick = onBack) { Text("‹ Register") }
            Text("Journal", style = MaterialTheme.typography.titleLarge)
        }
        Text(
            "Every sale and refund of this register, each linked to the one before it. Export it for an auditor, " +
                "or check that nothing was changed, removed or slipped in.",
        )
        val export = view.export
        Button(onClick = viewModel::export, enabled = export !is JournalExportStep.Exporting && export !is JournalExportStep.Saving) {
            Text(
                when (export) {
                    JournalExportStep.Exporting -> "Exporting…"
                    is JournalExportStep.Saving -> "Saving…"
                    else -> "Export journal"
                },
            )
        }
        if (export is JournalExportStep.Finished) {
            Text(export.message, color = if (export.saved) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error)
        }
        val checking = check is JournalCheckStep.Checking
        Button(onClick = viewModel::checkThisRegister, enabled = !checking) {
            Text(if (checking) "Checking…" else "Check journal")
        }
        OutlinedButton(onClick = { open.launch(arrayOf(JOURNAL_MIME_TYPE, "application/json", "text/plain", "application/octet-stream")) }, enabled = !checking) {
            Text("Check a file…")
        }
        if (check is JournalCheckStep.Failed) {
            Text(check.message, color = MaterialTheme.colorScheme.error)
        }
    }
}

/** The report: verdict, each problem naming its records, then the notes. */
@Composable
private fun JournalReport(report: JournalReportView, onBack: () -> Unit) {
    Column(Modifier.fillMaxSize().safeDrawingPadding().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            TextButton(onClick = onBack) { Text("‹ Journal") }
            Text("Journal check", style = MaterialTheme.typography.titleLarge)
        }
        Text(report.title, style = MaterialTheme.typography.bodySmall)
        Text(
            report.verdict,
            style = MaterialTheme.typography.titleMedium,
            color = if (report.intact) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error,
        )
        LazyColumn(Modifier.fillMaxWidth().weight(1f), verticalArrangement = Arrangement.spacedBy(6.dp)) {
            items(report.problems) { Text("• $it", color = MaterialTheme.colorScheme.error) }
            items(report.notes) { Text("• $it", style = MaterialTheme.typography.bodyMedium) }
        }
    }
}

/** The name the file's provider shows, or its last path segment. */
private fun displayName(resolver: android.content.ContentResolver, uri: Uri): String =
    resolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME), null, null, null)?.use { c ->
        if (c.moveToFirst()) c.getString(0) else null
    } ?: uri.lastPathSegment ?: "file"
