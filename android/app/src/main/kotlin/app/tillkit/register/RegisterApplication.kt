// Opens the register's core once per process and signs the cashier in.
// Development wiring: server, token and register come from BuildConfig (see README.md).
package app.tillkit.register

import android.app.Application
import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.TillkitAndroid
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.startupFailure
import app.tillkit.ui.StartupFailure
import app.tillkit.ui.startupFailure
import java.io.File
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** Where opening the register stands. */
sealed interface Startup {
    data object Opening : Startup
    data class Ready(val till: TillkitAndroid) : Startup
    data class Failed(val failure: StartupFailure) : Startup
}

class RegisterApplication : Application() {
    // The process lives as long as the register; the core is closed with it.
    private val scope = MainScope()
    private val mutableStartup = MutableStateFlow<Startup>(Startup.Opening)
    val startup: StateFlow<Startup> = mutableStartup.asStateFlow()

    override fun onCreate() {
        super.onCreate()
        open()
    }

    /** "Try again" on the failure screen. Does nothing unless opening failed. */
    fun retryStartup() {
        val current = mutableStartup.value
        if (current is Startup.Failed && mutableStartup.compareAndSet(current, Startup.Opening)) open()
    }

    private fun open() {
        scope.launch {
            mutableStartup.value = try {
                Startup.Ready(openAndSignIn())
            } catch (e: TillkitException) {
                Startup.Failed(e.startupFailure())
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                // Not typed by the core: the native library missing from this build or not
                // loading on this device, a crash inside the core, anything else. The register
                // shows it instead of crashing on every launch.
                Startup.Failed(startupFailure(e))
            }
        }
    }

    private suspend fun openAndSignIn(): TillkitAndroid {
        val config = CoreConfig(
            // noBackupFilesDir: the key cannot leave the device, so neither should the file.
            dataDir = File(noBackupFilesDir, "tillkit").path,
            serverUrl = BuildConfig.TILLKIT_SERVER_URL,
            allowHttpLoopback = BuildConfig.DEBUG,
        )
        val till = TillkitAndroid.open(this, config, BuildConfig.TILLKIT_TOKEN)
        try {
            till.login(BuildConfig.TILLKIT_STORE_ID, BuildConfig.TILLKIT_REGISTER_ID, staffId = "cashier")
        } catch (e: Throwable) {
            // A retry opens the store again: never leave this one open beside it.
            withContext(NonCancellable + Dispatchers.IO) { till.close() }
            throw e
        }
        return till
    }
}
