// The pairing screen: the cashier types (or pastes) the one-time code a manager made with
// `tillkit-server admin pair-register`; the core trades it for the register's token and keeps
// it in the keychain. Shown when the register has no token or the server refused it.
// No camera scanning: typing and paste only (a scanner needs a barcode library or app).
package app.tillkit.register

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalClipboard
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardCapitalization
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import app.tillkit.core.TillkitAndroid
import app.tillkit.core.pairingMessage
import app.tillkit.ffi.PairedRegister
import app.tillkit.ffi.TillkitException
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** The code being typed, whether the exchange is under way, and why the last one failed. */
data class PairingUiState(val code: String = "", val busy: Boolean = false, val error: String? = null) {
    val canPair: Boolean get() = !busy && code.isNotBlank()
}

/** Trades the typed code for the register's token through the core. */
class PairingViewModel(
    private val till: TillkitAndroid,
    private val serverUrl: String,
    private val onPaired: (PairedRegister) -> Unit,
) : ViewModel() {
    private val mutableState = MutableStateFlow(PairingUiState())
    val state: StateFlow<PairingUiState> = mutableState.asStateFlow()

    fun onCodeChange(code: String) = mutableState.update { it.copy(code = code, error = null) }

    fun pair() {
        val current = state.value
        if (!current.canPair) return
        mutableState.update { it.copy(busy = true, error = null) }
        viewModelScope.launch {
            try {
                // Suspends off the main thread; finishes even if this screen goes away.
                val paired = till.core.pair(serverUrl, current.code.trim())
                mutableState.update { PairingUiState() }
                onPaired(paired)
            } catch (e: TillkitException) {
                mutableState.update { it.copy(busy = false, error = e.pairingMessage()) }
            }
        }
    }
}

@Composable
fun PairingScreen(viewModel: PairingViewModel, serverUrl: String) {
    val state by viewModel.state.collectAsStateWithLifecycle()
    val clipboard = LocalClipboard.current
    val scope = rememberCoroutineScope()
    Column(
        Modifier.fillMaxSize().safeDrawingPadding().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp, Alignment.CenterVertically),
    ) {
        Text("Pair this register", style = MaterialTheme.typography.headlineSmall)
        Text(
            "Ask a manager for a pairing code for this register and type it here. " +
                "Sales already rung up are kept and upload once it is paired.",
            style = MaterialTheme.typography.bodyLarge,
        )
        Text("Server: $serverUrl", style = MaterialTheme.typography.bodySmall)
        OutlinedTextField(
            value = state.code,
            onValueChange = viewModel::onCodeChange,
            label = { Text("Pairing code") },
            singleLine = true,
            enabled = !state.busy,
            keyboardOptions = KeyboardOptions(capitalization = KeyboardCapitalization.Characters, imeAction = ImeAction.Done),
            keyboardActions = KeyboardActions(onDone = { viewModel.pair() }),
            modifier = Modifier.fillMaxWidth(),
        )
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp), verticalAlignment = Alignment.CenterVertically) {
            Button(onClick = viewModel::pair, enabled = state.canPair) { Text("Pair") }
            OutlinedButton(
                onClick = {
                    scope.launch {
                        val clip = clipboard.getClipEntry()?.clipData
                        clip?.takeIf { it.itemCount > 0 }?.getItemAt(0)?.text?.toString()?.let(viewModel::onCodeChange)
                    }
                },
                enabled = !state.busy,
            ) { Text("Paste") }
            if (state.busy) CircularProgressIndicator()
        }
    }
}
