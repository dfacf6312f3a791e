// The "database needs recovery" screen: explains, recovers the sales, or (only after a
// person types the word) starts fresh. The core salvages; the job belongs to the app's
// RecoverySession (it outlives this screen); this screen only asks and shows.
package app.tillkit.register

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.tillkit.ui.RecoveryStep
import app.tillkit.ui.START_FRESH_WORD

@Composable
fun RecoveryScreen(model: RecoverySession, onOpen: () -> Unit) {
    val step by model.step.collectAsStateWithLifecycle()
    Column(
        Modifier.fillMaxSize().padding(24.dp).verticalScroll(rememberScrollState()),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text("The register's database needs recovery", style = MaterialTheme.typography.headlineSmall)
        when (val s = step) {
            is RecoveryStep.Needed -> {
                Text("It could not be opened: ${s.reason}. Nothing has been deleted.")
                Text("Recovering copies every sale that can still be read into a new database; unsent sales upload as usual.")
                Button(onClick = model::recover) { Text("Recover sales") }
                TextButton(onClick = model::startFresh) { Text("Start without the old sales…") }
                KeptFiles(s.keptFiles)
            }
            RecoveryStep.Recovering -> CircularProgressIndicator()
            is RecoveryStep.ConfirmFresh -> {
                Text("Starting fresh means sales in the damaged file that were not uploaded will not be. Ask a manager.")
                OutlinedTextField(
                    value = s.typed,
                    onValueChange = model::typed,
                    label = { Text("Type $START_FRESH_WORD to confirm") },
                    singleLine = true,
                )
                Button(onClick = model::confirmFresh, enabled = model.canConfirmFresh) { Text("Start fresh") }
                OutlinedButton(onClick = model::cancelFresh) { Text("Back") }
            }
            is RecoveryStep.Done -> {
                s.summary.forEach { Text(it) }
                Button(onClick = onOpen) { Text("Open the register") }
                KeptFiles(s.keptFiles)
            }
            is RecoveryStep.Failed -> {
                Text("Recovery did not finish: ${s.message}. Nothing has been deleted.")
                Button(onClick = model::recover) { Text("Try again") }
                KeptFiles(s.keptFiles)
            }
        }
    }
}

@Composable
private fun KeptFiles(files: List<String>) {
    if (files.isEmpty()) return
    Text("Kept for support:", style = MaterialTheme.typography.labelLarge)
    files.forEach { Text(it, style = MaterialTheme.typography.bodySmall) }
}
