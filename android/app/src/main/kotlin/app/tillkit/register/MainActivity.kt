// The cashier app's one activity: the startup state (opening, failure screen, register) and the
// two screens. It shows what RegisterApplication opened; it never opens the core itself.
package app.tillkit.register

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.BackHandler
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.text.selection.SelectionContainer
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import app.tillkit.core.TillkitAndroid
import app.tillkit.ui.StartupFailure

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as RegisterApplication
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) {
                    val startup by app.startup.collectAsStateWithLifecycle()
                    when (val s = startup) {
                        Startup.Opening -> Centered("Opening the register…")
                        is Startup.Failed -> FailureScreen(s.failure, onRetry = app::retryStartup)
                        // The session is the application's: a recovery running when this
                        // activity goes keeps running, and the next one shows where it stands.
                        is Startup.NeedsRecovery -> RecoveryScreen(s.recovery, onOpen = { app.open() })
                        is Startup.NeedsPairing -> PairingScreen(
                            viewModel(key = "pairing") {
                                PairingViewModel(s.till, app.serverUrl) { app.paired(s.till, it) }
                            },
                            app.serverUrl,
                        )
                        is Startup.Ready -> Screens(s.till, app)
                    }
                }
            }
        }
    }
}

/**
 * Five screens need no navigation library: the register, a refund, the journal, the needs-attention list, and
 * pairing while the server refuses the register's token or a store has none (the queue is
 * kept and uploads once paired again).
 */
@Composable
private fun Screens(till: TillkitAndroid, app: RegisterApplication) {
    var attention by rememberSaveable { mutableStateOf(false) }
    var refunding by rememberSaveable { mutableStateOf(false) }
    var journal by rememberSaveable { mutableStateOf(false) }
    val status by till.status.collectAsStateWithLifecycle()
    if (status.needsPairing) {
        // Paired again (perhaps as another register): the token is in the keychain, the
        // session follows the code, and the next sync round uploads with it.
        PairingScreen(
            viewModel(key = "re-pairing") { PairingViewModel(till, app.serverUrl) { app.paired(till, it) } },
            app.serverUrl,
        )
    } else if (refunding) {
        // Not while a look-up or the refund call runs: its answer must reach this screen.
        val close: () -> Unit = { if (app.closeRefund()) refunding = false }
        BackHandler(onBack = close)
        RefundScreen(app.refundSession(till), onClose = close)
    } else if (journal) {
        BackHandler { journal = false }
        JournalScreen(
            viewModel { JournalViewModel(till, app.storeId.orEmpty(), app.registerId.orEmpty()) },
            onBack = { journal = false },
        )
    } else if (attention) {
        BackHandler { attention = false }
        AttentionScreen(viewModel { AttentionViewModel(till) }, onBack = { attention = false })
    } else {
        RegisterScreen(
            viewModel { RegisterViewModel(till) },
            onOpenAttention = { attention = true },
            onOpenRefund = { refunding = true },
            onOpenJournal = { journal = true },
        )
    }
}

/** Why the register could not open and what to do; the detail can be selected for support. */
@Composable
private fun FailureScreen(failure: StartupFailure, onRetry: () -> Unit) {
    Column(
        Modifier.fillMaxSize().safeDrawingPadding().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp, Alignment.CenterVertically),
    ) {
        Text(failure.title, style = MaterialTheme.typography.headlineSmall)
        Text(failure.advice, style = MaterialTheme.typography.bodyLarge)
        SelectionContainer {
            Text(failure.detail, style = MaterialTheme.typography.bodySmall)
        }
        if (failure.canRetry) {
            Button(onClick = onRetry) { Text("Try again") }
        }
    }
}

@Composable
private fun Centered(text: String) {
    Box(Modifier.fillMaxSize().padding(24.dp), contentAlignment = Alignment.Center) {
        Text(text, style = MaterialTheme.typography.titleMedium)
    }
}
