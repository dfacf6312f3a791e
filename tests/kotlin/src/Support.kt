// Shared fixtures of the Kotlin binding tests: the UK catalogue, opening cores in temporary
// directories, polling helpers and a real tillkit-server started on a free loopback port.
package app.tillkit.tests

import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.PaymentMethod
import app.tillkit.ffi.PaymentRecord
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.useInMemoryKeychainForTests
import java.io.File
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URI
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.delay

const val STORE = "uk-01"
const val REGISTER = "R07"

/** Nothing listens here: a core pointed at it stays offline. */
const val UNREACHABLE_SERVER = "http://127.0.0.1:9/"

/** The register the test server's own calls use (summary), never a device's. */
const val OPERATOR_REGISTER = "OPS"

/** UK VAT, prices include tax: the rates of the Rust golden case (20%, 5%, 0%). */
private const val UK_TAX = """{
  "currency": "GBP", "price_mode": "tax_inclusive", "rounding_rule": "half_up",
  "rounding_level": "line",
  "rates": [
    {"id": "vat20", "label": "VAT 20%", "percent": "20"},
    {"id": "vat5", "label": "VAT 5%", "percent": "5"},
    {"id": "vat0", "label": "VAT 0%", "percent": "0"}
  ],
  "categories": [
    {"id": "standard", "rate_ids": ["vat20"]},
    {"id": "reduced", "rate_ids": ["vat5"]},
    {"id": "zero", "rate_ids": ["vat0"]}
  ]
}"""

private const val PRODUCTS_AND_DISCOUNTS = """
  "products": [
    {"id": "p-head", "sku": "HDP-001", "name": "Headphones", "price": "49.99",
     "tax_category": "standard", "barcodes": ["5000000000017"], "stock_tracked": true, "stock": "40"},
    {"id": "p-seat", "sku": "CCS-002", "name": "Child car seat", "price": "89.00", "tax_category": "reduced"},
    {"id": "p-bread", "sku": "BRD-003", "name": "Bread", "price": "1.45", "tax_category": "zero"},
    {"id": "p-mug", "sku": "MUG-004", "name": "Discontinued mug", "price": "5.00",
     "tax_category": "standard", "active": false}
  ],
  "discounts": [
    {"id": "staff10", "label": "Staff 10%", "kind": "percent", "scope": "cart", "value": "10", "offline_allowed": true},
    {"id": "online20", "label": "Online 20%", "kind": "percent", "scope": "cart", "value": "20", "offline_allowed": false},
    {"id": "damaged", "label": "Damaged", "kind": "percent", "scope": "line", "max": "50", "offline_allowed": true}
  ]"""

/** The catalogue as `tillkit-server admin load-catalog` takes it. */
const val SERVER_CATALOG = """{"store_id": "$STORE", "store_name": "Camden High St", "tax": $UK_TAX, $PRODUCTS_AND_DISCOUNTS}"""

/** The same catalogue as the sync protocol delivers it to a device. */
const val DEVICE_CATALOG =
    """{"store_id": "$STORE", "kind": "snapshot", "cursor": "1", "tax": $UK_TAX, $PRODUCTS_AND_DISCOUNTS}"""

fun cash(amount: String) = PaymentRecord(PaymentMethod.CASH, amount, null)

fun tempDir(prefix: String): Path = Files.createTempDirectory("tillkit-kt-$prefix")

fun Path.deleteTree() {
    toFile().deleteRecursively()
}

/**
 * Opens a core on `dir`; its database key and tokens are kept in memory (see
 * useInMemoryKeychainForTests). Unpaired: it holds no token until `pair`.
 */
suspend fun openCore(
    dir: Path,
    serverUrl: String = UNREACHABLE_SERVER,
    keychainAccount: String = "key-" + dir.fileName,
): TillkitCore {
    useInMemoryKeychainForTests()
    return TillkitCore.open(coreConfig(dir, serverUrl, keychainAccount))
}

/** A core on `dir` paired, as the pairing screen does, as the test server's register. */
suspend fun openPaired(dir: Path, server: TestServer): TillkitCore {
    val core = openCore(dir, serverUrl = server.baseUrl)
    core.pair(server.baseUrl, server.pairingCode())
    return core
}

/** The configuration `openCore` uses for `dir` (recovery calls take the same one). */
fun coreConfig(
    dir: Path,
    serverUrl: String = UNREACHABLE_SERVER,
    keychainAccount: String = "key-" + dir.fileName,
) = CoreConfig(
    dataDir = dir.toString(),
    serverUrl = serverUrl,
    keychainService = "app.tillkit.tests",
    keychainAccount = keychainAccount,
    allowHttpLoopback = true,
)

/** A core logged in to the UK store with the catalogue imported locally (no server needed). */
suspend fun openStocked(dir: Path): TillkitCore {
    val core = openCore(dir)
    core.login(STORE, REGISTER, "alice")
    core.importCatalogJson(DEVICE_CATALOG)
    return core
}

/** Polls `condition` until it holds or `seconds` pass; fails with `what`. */
suspend fun eventually(seconds: Long, what: String, condition: suspend () -> Boolean) {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
    while (!condition()) {
        if (System.nanoTime() > deadline) throw AssertionError("timed out after ${seconds}s waiting for: $what")
        delay(20)
    }
}

/** The `E` that `block` throws; fails if it throws nothing or something else. */
inline fun <reified E : Throwable> expectThrows(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e", e)
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

/** The raw value of a top-level field of a flat JSON object (enough for the server's summary). */
fun jsonField(json: String, name: String): String {
    val match = Regex("\"" + Regex.escape(name) + "\"\\s*:\\s*(\"[^\"]*\"|[^,}\\s]+)").find(json)
        ?: throw AssertionError("no field $name in $json")
    return match.groupValues[1].trim('"')
}

/**
 * A real `tillkit-server` on a free loopback port, with the UK store and its catalogue.
 * Devices pair as [REGISTER] with [pairingCode]; the server's own calls use a token of
 * [OPERATOR_REGISTER], which no pairing revokes.
 */
class TestServer private constructor(private val binary: String, val dir: Path) : AutoCloseable {
    private val db = dir.resolve("server.db").toString()
    lateinit var token: String
        private set
    lateinit var baseUrl: String
        private set
    private var process: Process? = null

    companion object {
        fun start(): TestServer {
            val binary = System.getProperty("tillkit.server")
                ?: throw IllegalStateException("-Dtillkit.server=<path to tillkit-server> is required")
            val server = TestServer(binary, tempDir("server"))
            try {
                server.setUp()
            } catch (e: Throwable) {
                server.close()
                throw e
            }
            return server
        }
    }

    private fun setUp() {
        admin("create-store", "--id", STORE, "--name", "Camden High St")
        val catalog = dir.resolve("catalog.json")
        Files.writeString(catalog, SERVER_CATALOG)
        admin("load-catalog", "--store", STORE, "--file", catalog.toString())
        token = admin("create-register", "--store", STORE, "--register", OPERATOR_REGISTER).trim()
        // Another process may take the port between close and bind: try a few.
        for (attempt in 1..5) {
            val port = ServerSocket(0).use { it.localPort }
            val log = dir.resolve("serve-$attempt.log").toFile()
            val p = ProcessBuilder(binary, "serve", "--data", db, "--listen", "127.0.0.1:$port")
                .redirectErrorStream(true)
                .redirectOutput(log)
                .start()
            baseUrl = "http://127.0.0.1:$port/"
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
            while (p.isAlive && System.nanoTime() < deadline) {
                if (runCatching { get("v1/health", auth = false).first == 200 }.getOrDefault(false)) {
                    process = p
                    return
                }
                Thread.sleep(25)
            }
            p.destroyForcibly()
        }
        throw IllegalStateException("tillkit-server did not start; see logs in $dir")
    }

    /** Runs `tillkit-server admin <command> --data <db> <args>`; returns its stdout. */
    fun admin(command: String, vararg args: String): String {
        val p = ProcessBuilder(listOf(binary, "admin", command, "--data", db) + args)
            .redirectError(dir.resolve("admin.log").toFile())
            .start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) { "admin $command failed; see $dir/admin.log" }
        return out
    }

    /** A one-time pairing code for `register` (registered if new), as an operator makes it. */
    fun pairingCode(register: String = REGISTER): String =
        admin("pair-register", "--store", STORE, "--register", register).trim()

    /** GET with the operator register's token; returns (status, body). */
    fun get(path: String, auth: Boolean = true): Pair<Int, String> {
        val c = URI(baseUrl + path).toURL().openConnection() as HttpURLConnection
        try {
            c.connectTimeout = 2000
            c.readTimeout = 5000
            if (auth) c.setRequestProperty("Authorization", "Bearer $token")
            val status = c.responseCode
            val body = (if (status < 400) c.inputStream else c.errorStream)?.bufferedReader()?.readText() ?: ""
            return status to body
        } finally {
            c.disconnect()
        }
    }

    /** The store's summary (sale count and sums of what the devices recorded). */
    fun summary(): String {
        val (status, body) = get("v1/stores/$STORE/summary")
        check(status == 200) { "summary answered $status: $body" }
        return body
    }

    override fun close() {
        process?.let {
            it.destroy()
            if (!it.waitFor(10, TimeUnit.SECONDS)) it.destroyForcibly()
        }
        dir.deleteTree()
    }
}

/** Open file descriptors of this process. */
fun openFds(): Int = File("/proc/self/fd").list()?.size ?: -1

/** Threads of this process (JVM and native). */
fun threadCount(): Int =
    File("/proc/self/status").readLines().first { it.startsWith("Threads:") }.substringAfter(':').trim().toInt()
