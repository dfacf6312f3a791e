// Opens the register's core once per process and signs the cashier in; asks for background
// upload (UploadWorker) whenever the app leaves the screen.
// Development wiring: server, token and register come from BuildConfig (see README.md).
package app.tillkit.register

import android.app.Application
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import app.tillkit.background.uploadSchedule
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
    /**
     * The database could not be opened with its key: the recovery screen takes over. The
     * session is the application's, so its job survives the screen.
     */
    data class NeedsRecovery(val recovery: RecoverySession) : Startup
}

class RegisterApplication : Application() {
    // The process lives as long as the register; the core is closed with it.
    private val scope = MainScope()
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
        // The periodic upload exists from the first start on; leaving the screen with sales
        // waiting asks for one soon (expedited).
        UploadWorker.schedule(this, uploadSchedule(pending = 0))
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStop(owner: LifecycleOwner) {
                val pending = (startup.value as? Startup.Ready)?.till?.status?.value?.pending ?: 0L
                UploadWorker.schedule(this@RegisterApplication, uploadSchedule(pending))
            }
        })
    }

    /** Opens the register (again, after a recovery). Never beside a recovery still running. */
    fun open() {
        if ((mutableStartup.value as? Startup.NeedsRecovery)?.recovery?.running == true) return
        mutableStartup.value = Startup.Opening
        scope.launch {
            mutableStartup.value = try {
                Startup.Ready(openAndSignIn())
            } catch (e: TillkitException.NeedsRecovery) {
                Startup.NeedsRecovery(RecoverySession(this@RegisterApplication, scope, e.reason, e.kept))
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

    /** "Try again" on the failure screen. Does nothing unless opening failed. */
    fun retryStartup() {
        if (mutableStartup.value is Startup.Failed) open()
    }

    private suspend fun openAndSignIn(): TillkitAndroid {
        val till = TillkitAndroid.open(this, config, BuildConfig.TILLKIT_TOKEN)
        try {
            till.login(BuildConfig.TILLKIT_STORE_ID, BuildConfig.TILLKIT_REGISTER_ID, staffId = "cashier")
        } catch (e: Throwable) {
            // Opening again must never find this one still open beside it.
            withContext(NonCancellable + Dispatchers.IO) { till.close() }
            throw e
        }
        return till
    }
}
