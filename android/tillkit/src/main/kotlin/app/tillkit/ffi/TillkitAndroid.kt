// The Android face of the Rust core: keychain context, network events, a status flow, and
// the core's blocking calls moved to Dispatchers.IO. No sale, tax or sync rule lives here.
package app.tillkit.ffi

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import app.tillkit.background.DrainResult
import app.tillkit.background.networkUsable
import app.tillkit.ui.QueuedSale
import app.tillkit.ui.RecoveryOutcome
import app.tillkit.ui.RegisterStatus
import app.tillkit.ui.Tender
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext

/** One register's open core. Open it once per process with [open]; [close] it on shutdown. */
class TillkitAndroid private constructor(
    /** The bindings' core, for calls this class does not wrap. Its calls block: not on the main thread. */
    val core: TillkitCore,
    private val connectivity: ConnectivityManager,
) : AutoCloseable {

    private val mutableStatus = MutableStateFlow(core.status().toRegisterStatus())

    /** The core's sync status; updated from a core thread, collect it anywhere. */
    val status: StateFlow<RegisterStatus> = mutableStatus.asStateFlow()

    // Declared after mutableStatus: the core calls the observer at once with the current status.
    private val subscription = core.subscribeStatus(object : StatusObserver {
        override fun onStatus(status: SyncStatusRecord) {
            mutableStatus.value = status.toRegisterStatus()
        }
    })

    // A network counts only once Android has validated it and while it is not blocked for
    // this app (networkUsable): a captive-portal Wi-Fi is offline. The core's health probe of
    // the server still decides Online. Callbacks arrive one at a time on ConnectivityManager's
    // thread, so this state needs no lock.
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

        private fun report() = reportNetwork(capabilities?.let { usable(it, blocked) } ?: false)
    }

    private fun watchNetwork() {
        // Registering reports the current default network, if any; with none it says nothing.
        val active = connectivity.activeNetwork?.let { connectivity.getNetworkCapabilities(it) }
        reportNetwork(active?.let { usable(it, blocked = false) } ?: false)
        connectivity.registerDefaultNetworkCallback(networkCallback)
    }

    private fun reportNetwork(available: Boolean) {
        try {
            core.setNetworkAvailable(available)
        } catch (_: TillkitException) {
            // Only `Closed`, for an event that raced close(): nothing is listening any more.
        }
    }

    /**
     * For background work with a time limit: syncs now and waits up to [timeoutMs] until
     * nothing uploadable is left. Holds an IO thread until then even if the caller is
     * cancelled (the core call blocks); the limit bounds it.
     */
    suspend fun drainNow(timeoutMs: Long): DrainResult = io { core.drainNow(timeoutMs.toULong()).outcome.toDrainResult() }

    /** Opens a cashier session; sync of this store starts at once. */
    suspend fun login(storeId: String, registerId: String, staffId: String) =
        io { core.login(storeId, registerId, staffId) }

    /** Closes the session; unsent sales stay queued. */
    suspend fun logout() = io { core.logout() }

    /** Active products of the store matching a name, SKU or barcode. */
    suspend fun search(query: String): List<ProductRecord> = io { core.search(query) }

    /** A new empty cart with the store's current prices and tax settings. */
    suspend fun newCart(): RegisterCart = io { RegisterCart(core.newCart()) }

    /** Writes the sale durably with its queue row; start a new cart for the next customer. */
    suspend fun completeSale(cart: RegisterCart, tenders: List<Tender>): SaleReceipt =
        io { core.completeSale(cart.handle, tenders.map { it.toPaymentRecord() }) }

    /** Sales waiting for upload, oldest first. */
    suspend fun pendingSales(limit: Int = 100): List<QueuedSale> =
        io { core.pendingSales(limit.toUInt()).map { it.toQueuedSale() } }

    /** Sales that need a person: set aside by the server (with its reasons) or parked. */
    suspend fun attentionSales(limit: Int = 100): List<QueuedSale> =
        io { core.attentionSales(limit.toUInt()).map { it.toQueuedSale() } }

    /** Sends set-aside and parked sales again now: these ids, or all of them (`null`). */
    suspend fun retryAttentionSales(saleIds: List<String>? = null): Long =
        io { core.retryAttentionSales(saleIds).toLong() }

    /**
     * Overrides what the network callback last reported (tests, a kiosk "offline" switch).
     * The next network event reports the real state again.
     */
    suspend fun setNetworkAvailable(available: Boolean) = io { core.setNetworkAvailable(available) }

    /** Sync as soon as possible. */
    suspend fun syncNow() = io { core.syncNow() }

    /** Operator metrics for the current store. */
    suspend fun metrics(): MetricsRecord = io { core.metrics() }

    /**
     * Stops network events and status callbacks, stops sync and closes the database.
     * Blocks until sync has stopped: not on the main thread.
     */
    override fun close() {
        connectivity.unregisterNetworkCallback(networkCallback)
        subscription.cancel()
        subscription.close()
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
         * created on first run), starts sync with the register's bearer `token` and starts
         * forwarding network changes.
         */
        suspend fun open(context: Context, config: CoreConfig, token: String): TillkitAndroid = io {
            val app = context.applicationContext
            initializeKeychain(app)
            val core = TillkitCore.open(config, token)
            try {
                TillkitAndroid(core, app.getSystemService(ConnectivityManager::class.java)).also { it.watchNetwork() }
            } catch (e: Throwable) {
                core.shutdown()
                core.close()
                throw e
            }
        }

        /**
         * Salvages the sales of a store whose [open] threw `NeedsRecovery` into a fresh
         * store, still queued; [open] works again afterwards.
         */
        suspend fun recover(context: Context, config: CoreConfig): RecoveryOutcome = io {
            initializeKeychain(context.applicationContext)
            recoverDatabase(config).toRecoveryOutcome()
        }

        /** Starts an empty store without salvage: only after a person confirmed it. */
        suspend fun startFresh(context: Context, config: CoreConfig) = io {
            initializeKeychain(context.applicationContext)
            startFreshDatabase(config)
        }
    }
}

/** A cart being rung up. Its calls reach the core's store (catalogue look-ups): IO dispatcher. */
class RegisterCart internal constructor(internal val handle: CartHandle) : AutoCloseable {
    /** Adds a product by id; returns its line id (the same product is merged into one line). */
    suspend fun addProduct(productId: String, quantity: String = "1"): Long =
        io { handle.addProduct(productId, quantity).toLong() }

    /** Adds a product by barcode; returns its line id. */
    suspend fun addBarcode(code: String, quantity: String = "1"): Long =
        io { handle.addBarcode(code, quantity).toLong() }

    /** Sets a line's quantity (decimal string). */
    suspend fun setQuantity(lineId: Long, quantity: String) = io { handle.setQuantity(lineId.toULong(), quantity) }

    /** Removes a line. */
    suspend fun remove(lineId: Long) = io { handle.remove(lineId.toULong()) }

    /** The lines and the core's live totals, read together. */
    suspend fun snapshot(): CartSnapshot = io {
        CartSnapshot(handle.lines().map { it.toCartLine() }, handle.totals().toCartTotals())
    }

    override fun close() = handle.close()
}

private suspend fun <T> io(block: () -> T): T = withContext(Dispatchers.IO) { block() }

private fun usable(capabilities: NetworkCapabilities, blocked: Boolean) = networkUsable(
    hasInternet = capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET),
    validated = capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED),
    blocked = blocked,
)
