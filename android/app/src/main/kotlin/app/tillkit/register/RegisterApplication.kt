// Opens the register's core once per process and signs the cashier in.
// Development wiring: server, token and register come from BuildConfig (see README.md).
package app.tillkit.register

import android.app.Application
import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.TillkitAndroid
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.cashierMessage
import app.tillkit.ui.MoneyFormat
import java.io.File
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/** Where opening the register stands. */
sealed interface Startup {
    data object Opening : Startup
    data class Ready(val till: TillkitAndroid) : Startup
    data class Failed(val message: String) : Startup
    /** The database could not be opened with its key: the recovery screen takes over. */
    data class NeedsRecovery(val reason: String, val keptFiles: List<String>) : Startup
}

class RegisterApplication : Application() {
    private val mutableStartup = MutableStateFlow<Startup>(Startup.Opening)
    val startup: StateFlow<Startup> = mutableStartup.asStateFlow()

    /** The core's configuration; the recovery screen passes the same one to the core. */
    val config: CoreConfig by lazy {
        CoreConfig(
            // noBackupFilesDir: the key cannot leave the device, so neither should the file.
            dataDir = File(noBackupFilesDir, "tillkit").path,
            serverUrl = BuildConfig.TILLKIT_SERVER_URL,
            allowHttpLoopback = BuildConfig.DEBUG,
        )
    }

    override fun onCreate() {
        super.onCreate()
        open()
    }

    /** Opens the register (again, after a recovery). */
    fun open() {
        mutableStartup.value = Startup.Opening
        // The process lives as long as the register; the core is closed with it.
        MainScope().launch {
            mutableStartup.value = try {
                val till = TillkitAndroid.open(this@RegisterApplication, config, BuildConfig.TILLKIT_TOKEN)
                till.login(BuildConfig.TILLKIT_STORE_ID, BuildConfig.TILLKIT_REGISTER_ID, staffId = "cashier")
                Startup.Ready(till)
            } catch (e: TillkitException.NeedsRecovery) {
                Startup.NeedsRecovery(e.reason, e.kept)
            } catch (e: TillkitException) {
                Startup.Failed(e.cashierMessage(MoneyFormat(), currency = null))
            }
        }
    }
}
