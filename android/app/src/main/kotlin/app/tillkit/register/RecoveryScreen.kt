// The "database needs recovery" screen: explains, recovers the sales, or (only after a
// person types the word) starts fresh. The core salvages; this screen only asks and shows.
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
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import app.tillkit.core.TillkitAndroid
import app.tillkit.core.cashierMessage
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.RecoveryFlow
import app.tillkit.ui.RecoveryStep
import app.tillkit.ui.START_FRESH_WORD
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/** Runs the recovery calls for [RecoveryFlow] and publishes its step. */
class RecoveryViewModel(
    private val app: RegisterApplication,
    reason: String,
    keptFiles: List<String>,
) : ViewModel() {
    private val flow = RecoveryFlow(reason, keptFiles)
    private val mutableStep = MutableStateFlow(flow.step)
    val step: StateFlow<RecoveryStep> = mutableStep.asStateFlow()
    val canConfirmFresh get() = flow.canConfirmFresh

    private fun publish() {
        mutableStep.value = flow.step
    }

    fun recover() {
        if (!flow.recoverTapped()) return
        publish()
        viewModelScope.launch {
            try {
                flow.recovered(TillkitAndroid.recover(app, app.config))
            } catch (e: TillkitException) {
                flow.failed(e.cashierMessage(MoneyFormat(), currency = null))
            }
            publish()
        }
    }

    fun startFresh() = flow.startFreshTapped().also { publish() }
    fun typed(text: String) = flow.confirmationTyped(text).also { publish() }
    fun cancelFresh() = flow.cancelFresh().also { publish() }

    fun confirmFresh() {
        if (!flow.confirmFreshTapped()) return
        publish()
        viewModelScope.launch {
            try {
                TillkitAndroid.startFresh(app, app.config)
                flow.startedFresh()
            } catch (e: TillkitException) {
                flow.failed(e.cashierMessage(MoneyFormat(), currency = null))
            }
            publish()
        }
    }
}

@Composable
fun RecoveryScreen(model: RecoveryViewModel, onOpen: () -> Unit) {
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
