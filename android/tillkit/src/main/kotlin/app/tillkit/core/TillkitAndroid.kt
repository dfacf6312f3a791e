// The Android face of the Rust core: keychain context, network events and a status
// StateFlow. The core's own calls are suspend functions: call them on `core` directly.
// No sale, tax or sync rule lives here.
package app.tillkit.core

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import app.tillkit.background.DrainResult
import app.tillkit.background.networkUsable
import app.tillkit.background.serverOnLocalNetwork
import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.recoverDatabase
import app.tillkit.ffi.startFreshDatabase
import app.tillkit.ui.RecoveryOutcome
import app.tillkit.ui.RegisterStatus
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** One register's open core. Open it once per process with [open]; [shutdown] it when done. */
class TillkitAndroid private constructor(
    /** The bindings' core: its disk and network calls are `suspend`, safe from any dispatcher. */
    val core: TillkitCore,
    initial: RegisterStatus,
    private val connectivity: ConnectivityManager,
    // The sync server is on the shop's LAN: a network Android did not validate still counts.
    private val serverIsLocal: Boolean,
) {
    // Status collection and network forwarding; cancelled by shutdown().
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** The core's sync status (one subscription, shared); collect it anywhere. */
    val status: StateFlow<RegisterStatus> = core.statusFlow()
        .map { it.toRegisterStatus() }
        .stateIn(scope, SharingStarted.Eagerly, initial)

    // The latest network state, forwarded in order by one collector (a StateFlow keeps only
    // the newest: the engine needs the state, not every flap). Null until the first report.
    private val network = MutableStateFlow<Boolean?>(null)

    // A network counts when it offers internet, is not blocked for this app and Android
    // validated it; when the sync server is on the local network, unvalidated too (networkUsable):
    // a shop LAN with its sync server inside and its internet line down never validates, and
    // must still upload. The core's health probe of the server decides Online. Callbacks arrive one at a time on ConnectivityManager's thread, so this state
    // needs no lock; losing or gaining validation arrives as onCapabilitiesChanged, reports the
    // same, and the core ignores a report that changes nothing.
    private val networkCallback = object : ConnectivityManager.NetworkCallback() {
        private var current: Network? = null
        private var capabilities: NetworkCapabilities? = null
        private var blocked = false

        // Followed at once by onCapabilitiesChanged (API 26+), which reports.
        override fun onAvailable(network: Network) {
            if (network != current) {
                current = network
                capabilities = null
                blocked = false
            }
        }

        override fun onCapabilitiesChanged(network: Network, networkCapabilities: NetworkCapabilities) {
            current = network
            capabilities = networkCapabilities
            report()
        }

        // Data saver, background restrictions (API 29+; never blocked before).
        override fun onBlockedStatusChanged(network: Network, blocked: Boolean) {
            if (network != current) return
            this.blocked = blocked
            report()
        }

        override fun onLost(network: Network) {
            if (network != current) return
            current = null
            capabilities = null
            blocked = false
            report()
        }

        private fun report() = setNetworkAvailable(capabilities?.let { usable(it, blocked) } ?: false)
    }

    private fun usable(capabilities: NetworkCapabilities, blocked: Boolean) = networkUsable(
        hasInternet = capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET),
        validated = capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED),
        blocked = blocked,
        serverOnLocalNetwork = serverIsLocal,
    )

    private fun watchNetwork() {
        scope.launch {
            network.filterNotNull().collect { available ->
                try {
                    core.setNetworkAvailable(available)
                } catch (_: TillkitException) {
                    // Only `Closed`, for an event that raced shutdown: nothing is listening any more.
                }
            }
        }
        // Registering reports the current default network, if any; with none it says nothing.
        val active = connectivity.activeNetwork?.let { connectivity.getNetworkCapabilities(it) }
        setNetworkAvailable(active?.let { usable(it, blocked = false) } ?: false)
        connectivity.registerDefaultNetworkCallback(networkCallback)
    }

    /**
     * Overrides what the network callback last reported (tests, a kiosk "offline" switch).
     * The next network event reports the real state again. Returns at once.
     */
    fun setNetworkAvailable(available: Boolean) {
        network.value = available
    }

    /**
     * For background work with a time limit: syncs now and waits up to [timeoutMs] until
     * nothing uploadable is left. Cancelling the caller ends the wait; sync goes on.
     */
    suspend fun drainNow(timeoutMs: Long): DrainResult = core.drainNow(timeoutMs.toULong()).outcome.toDrainResult()

    /** Stops network events and status updates, stops sync and closes the database. */
    suspend fun shutdown() {
        connectivity.unregisterNetworkCallback(networkCallback)
        scope.cancel()
        core.shutdown()
        core.close()
    }

    companion object {
        init {
            // The same library JNA loads for the bindings; loaded here for the JNI entry point.
            System.loadLibrary("tillkit_ffi")
        }

        /** Hands the application context to the Android keychain store (bindings/src/android.rs). */
        @JvmStatic
        private external fun initializeKeychain(context: Context)

        /**
         * Opens the encrypted store (its key lives in the Android keystore-backed keychain,
         * created on first run), starts sync (each store's token from the same keychain,
         * put there by `core.pair`) and starts forwarding network changes.
         */
        suspend fun open(context: Context, config: CoreConfig): TillkitAndroid {
            val app = context.applicationContext
            initializeKeychain(app)
            val core = TillkitCore.open(config)
            try {
                val initial = core.status().toRegisterStatus()
                val connectivity = app.getSystemService(ConnectivityManager::class.java)
                return TillkitAndroid(core, initial, connectivity, serverOnLocalNetwork(config.serverUrl))
                    .also { it.watchNetwork() }
            } catch (e: Throwable) {
                withContext(NonCancellable) { core.shutdown() }
                core.close()
                throw e
            }
        }

        /**
         * Salvages the sales of a store whose [open] threw `NeedsRecovery` into a fresh
         * store, still queued; [open] works again afterwards.
         */
        suspend fun recover(context: Context, config: CoreConfig): RecoveryOutcome {
            initializeKeychain(context.applicationContext)
            return recoverDatabase(config).toRecoveryOutcome()
        }

        /** Starts an empty store without salvage: only after a person confirmed it. */
        suspend fun startFresh(context: Context, config: CoreConfig) {
            initializeKeychain(context.applicationContext)
            startFreshDatabase(config)
        }

        /**
         * Resets the keychain's receipt book when its entry keeps the register from working:
         * only after a person confirmed it, with no core open. The next [open] skips every
         * receipt counter ahead and says so (`receiptBookNote`).
         */
        suspend fun resetReceiptBook(context: Context, config: CoreConfig) {
            initializeKeychain(context.applicationContext)
            app.tillkit.ffi.resetReceiptBook(config)
        }
    }
}
