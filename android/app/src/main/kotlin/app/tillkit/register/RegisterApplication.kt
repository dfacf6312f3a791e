// Opens the register's core once per process and signs the cashier in, or shows the pairing
// screen when this device holds no token for its register; asks for background upload
// (UploadWorker) whenever the app leaves the screen. The server URL and a private CA, if any,
// come from BuildConfig (see README.md); the register and its token come from pairing, never
// from the build.
package app.tillkit.register

import android.app.Application
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import app.tillkit.background.uploadSchedule
import app.tillkit.core.TillkitAndroid
import app.tillkit.core.rootCertificatesPem
import app.tillkit.core.startupFailure
import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.PairedRegister
import app.tillkit.ffi.TillkitException
import app.tillkit.ui.StartupFailure
import app.tillkit.ui.startupFailure
import java.io.File
import kotlinx.coroutines.CancellationException
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
    /** The core is open but this device holds no token for a register: the pairing screen. */
    data class NeedsPairing(val till: TillkitAndroid) : Startup
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

    /** The register this device was paired as (not secret: the token is in the keychain). */
    private val pairing by lazy { getSharedPreferences("tillkit-register", MODE_PRIVATE) }

    /** The server this register syncs with, and pairs with. */
    val serverUrl: String get() = BuildConfig.TILLKIT_SERVER_URL

    /** The core's configuration; the recovery screen passes the same one to the core. */
    val config: CoreConfig by lazy {
        CoreConfig(
            // noBackupFilesDir: the key cannot leave the device, so neither should the file.
            dataDir = File(noBackupFilesDir, "tillkit").path,
            serverUrl = BuildConfig.TILLKIT_SERVER_URL,
            allowHttpLoopback = BuildConfig.DEBUG,
            rootCertificatesPem = rootCertificatesPem(BuildConfig.TILLKIT_ROOT_CERTIFICATE),
        )
    }

    override fun onCreate() {
        super.onCreate()
        open()
        // The periodic upload exists from the first start on; leaving the screen with sales
        // waiting asks for one soon (expedited).
        UploadWorker.schedule(this, uploadSchedule(pending = 0, serverUrl))
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStop(owner: LifecycleOwner) {
                val till = when (val s = startup.value) {
                    is Startup.Ready -> s.till
                    is Startup.NeedsPairing -> s.till
                    else -> null
                }
                val pending = till?.status?.value?.pending ?: 0L
                UploadWorker.schedule(this@RegisterApplication, uploadSchedule(pending, serverUrl))
            }
        })
    }

    /** Opens the register (again, after a recovery). Never beside a recovery still running. */
    fun open() {
        if ((mutableStartup.value as? Startup.NeedsRecovery)?.recovery?.running == true) return
        mutableStartup.value = Startup.Opening
        scope.launch {
            mutableStartup.value = try {
                openAndSignIn()
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

    /** The store this device signs in to, or null before pairing. */
    val storeId: String? get() = pairing.getString(STORE_ID, null)

    /** The register this device signs in as, or null before pairing. */
    val registerId: String? get() = pairing.getString(REGISTER_ID, null)

    // The refund being given, if any: the application's, so a refund call running when the
    // screen goes runs to its end and the screen finds it (and its refund id) again.
    private var refund: RefundSession? = null

    /** The refund in progress, or a new one (with a new refund id). */
    fun refundSession(till: TillkitAndroid): RefundSession =
        refund ?: RefundSession(till, scope).also { refund = it }

    /** Leaves the refund screen; refused (false) while a call of it is running. */
    fun closeRefund(): Boolean {
        if (refund?.busy == true) return false
        refund = null
        return true
    }

    /** "Try again" on the failure screen. Does nothing unless opening failed. */
    fun retryStartup() {
        if (mutableStartup.value is Startup.Failed) open()
    }

    /** The pairing screen's code was accepted: remember the register and sign in. */
    fun paired(till: TillkitAndroid, register: PairedRegister) {
        pairing.edit()
            .putString(STORE_ID, register.storeId)
            .putString(REGISTER_ID, register.registerId)
            .apply()
        scope.launch {
            mutableStartup.value = try {
                till.core.login(register.storeId, register.registerId, staffId = "cashier")
                Startup.Ready(till)
            } catch (e: TillkitException) {
                Startup.Failed(e.startupFailure())
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                // As in open(): a crash inside the core shows the failure screen, never a crash.
                Startup.Failed(startupFailure(e))
            }
        }
    }

    private suspend fun openAndSignIn(): Startup {
        val till = TillkitAndroid.open(this, config)
        try {
            val storeId = pairing.getString(STORE_ID, null)
            val registerId = pairing.getString(REGISTER_ID, null)
            // Never paired, or the keychain lost the token (a new phone, a cleared keystore).
            if (storeId == null || registerId == null || till.core.pairedRegister(storeId) == null) {
                return Startup.NeedsPairing(till)
            }
            till.core.login(storeId, registerId, staffId = "cashier")
            return Startup.Ready(till)
        } catch (e: Throwable) {
            // Opening again must never find this one still open beside it.
            withContext(NonCancellable) { till.shutdown() }
            throw e
        }
    }

    private companion object {
        const val STORE_ID = "store_id"
        const val REGISTER_ID = "register_id"
    }
}
