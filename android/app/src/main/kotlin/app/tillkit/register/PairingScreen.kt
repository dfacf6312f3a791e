// The pairing screen: the cashier scans, types or pastes the one-time code a manager made with
// `tillkit-server admin pair-register`; the core trades it for the register's token and keeps
// it in the keychain. Shown when the register has no token or the server refused it.
// Scan reads a QR code through Google's code scanner (Google Play services shows the camera:
// no camera permission here). The manager shows the code as a QR code with
// `tillkit-server admin pair-register DB --store S --register R --link https://sync.example/ | qrencode -t ansiutf8`;
// the core reads the link (readPairingScan) and pairing refuses a link made for another server.
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
import androidx.compose.ui.platform.LocalContext
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
import app.tillkit.ffi.readPairingScan
import app.tillkit.ui.PairingUiState
import app.tillkit.ui.SCAN_UNAVAILABLE
import app.tillkit.ui.isPairingLink
import com.google.mlkit.common.MlKitException
import com.google.mlkit.vision.barcode.common.Barcode
import com.google.mlkit.vision.codescanner.GmsBarcodeScannerOptions
import com.google.mlkit.vision.codescanner.GmsBarcodeScanning
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** Trades the typed or scanned code for the register's token through the core. */
class PairingViewModel(
    private val till: TillkitAndroid,
    private val serverUrl: String,
    private val onPaired: (PairedRegister) -> Unit,
) : ViewModel() {
    private val mutableState = MutableStateFlow(PairingUiState())
    val state: StateFlow<PairingUiState> = mutableState.asStateFlow()

    /** A typed or pasted code is for this register's server: a scanned link's server is dropped. */
    fun onCodeChange(code: String) = mutableState.update { it.typed(code) }

    /**
     * What the scanner read: a pairing link or bare code goes in the field (with the server
     * the link names); anything else leaves the field alone and says why. Nothing is sent.
     */
    fun onScanned(text: String) {
        if (state.value.busy) return
        try {
            val scanned = readPairingScan(text)
            mutableState.update { it.scanned(scanned.code, scanned.serverUrl) }
        } catch (e: TillkitException) {
            mutableState.update { it.copy(error = e.pairingMessage()) }
        }
    }

    /** Pasted text: a pairing link is read as a scan would be; anything else is typed text. */
    fun onPasted(text: String) =
        if (isPairingLink(text)) onScanned(text) else onCodeChange(text)

    /** The scanner could not run: the cashier types the code instead. */
    fun onScanUnavailable() = mutableState.update { it.copy(error = SCAN_UNAVAILABLE) }

    fun pair() {
        val current = state.value
        if (!current.canPair) return
        mutableState.update { it.copy(busy = true, error = null) }
        viewModelScope.launch {
            try {
                // Suspends off the main thread; finishes even if this screen goes away.
                // A scanned link's server goes to the core, which refuses one that is not ours.
                val paired = till.core.pair(current.server(serverUrl), current.code.trim())
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
    val context = LocalContext.current
    Column(
        Modifier.fillMaxSize().safeDrawingPadding().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp, Alignment.CenterVertically),
    ) {
        Text("Pair this register", style = MaterialTheme.typography.headlineSmall)
        Text(
            "Ask a manager for a pairing code for this register and scan or type it here. " +
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
        state.scannedServer?.let { Text("Scanned code for server: $it", style = MaterialTheme.typography.bodySmall) }
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp), verticalAlignment = Alignment.CenterVertically) {
            Button(onClick = viewModel::pair, enabled = state.canPair) { Text("Pair") }
            OutlinedButton(
                onClick = {
                    scope.launch {
                        val clip = clipboard.getClipEntry()?.clipData
                        clip?.takeIf { it.itemCount > 0 }?.getItemAt(0)?.text?.toString()?.let(viewModel::onPasted)
                    }
                },
                enabled = !state.busy,
            ) { Text("Paste") }
            OutlinedButton(onClick = { scanPairingCode(context, viewModel) }, enabled = !state.busy) { Text("Scan") }
            if (state.busy) CircularProgressIndicator()
        }
    }
}

/**
 * Opens Google's code scanner for QR codes and hands its text to the view model. Closing the
 * scanner does nothing; a scanner that cannot run (no Google Play services, its module not
 * installed) says to type the code.
 */
private fun scanPairingCode(context: android.content.Context, viewModel: PairingViewModel) {
    val options = GmsBarcodeScannerOptions.Builder()
        .setBarcodeFormats(Barcode.FORMAT_QR_CODE)
        .build()
    GmsBarcodeScanning.getClient(context, options).startScan()
        // A QR code holding bytes rather than text has no rawValue: the core says it is not ours.
        .addOnSuccessListener { barcode -> viewModel.onScanned(barcode.rawValue.orEmpty()) }
        // Closing the scanner cancels the task (no listener: nothing to do); the failure
        // branch keeps CODE_SCANNER_CANCELLED too, since the API still defines it for a close.
        .addOnFailureListener { e ->
            when ((e as? MlKitException)?.errorCode) {
                MlKitException.CODE_SCANNER_CANCELLED, MlKitException.CODE_SCANNER_TASK_IN_PROGRESS -> Unit
                else -> viewModel.onScanUnavailable()
            }
        }
}
