// The recovery job's owner, held by RegisterApplication for the life of the process: a salvage
// that is running when the screen goes (rotation, the cashier leaving the app, the activity
// destroyed) runs to its end, and its result is there when a screen comes back. Screens only
// read the step and forward taps; they never own the job.
package app.tillkit.register

import app.tillkit.ffi.TillkitAndroid
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.cashierMessage
import app.tillkit.ui.MoneyFormat
import app.tillkit.ui.RecoveryFlow
import app.tillkit.ui.RecoveryStep
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/**
 * One "database needs recovery" episode. [scope] is the application's (main thread): the
 * core's calls move to the IO dispatcher inside [TillkitAndroid], and the flow is only
 * touched on the main thread.
 */
class RecoverySession(
    private val app: RegisterApplication,
    private val scope: CoroutineScope,
    reason: String,
    keptFiles: List<String>,
) {
    private val flow = RecoveryFlow(reason, keptFiles)
    private val mutableStep = MutableStateFlow(flow.step)
    val step: StateFlow<RecoveryStep> = mutableStep.asStateFlow()
    val canConfirmFresh get() = flow.canConfirmFresh

    /** True while a recovery call is running: the register must not be opened beside it. */
    val running get() = flow.step == RecoveryStep.Recovering

    private fun publish() {
        mutableStep.value = flow.step
    }

    fun recover() {
        if (!flow.recoverTapped()) return
        publish()
        scope.launch {
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
        scope.launch {
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
