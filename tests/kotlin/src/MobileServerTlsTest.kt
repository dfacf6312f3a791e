// The device tests' server over HTTPS, as the Android shell is given it: tests/mobile-server.sh
// (the real script, its throwaway CA, the real server with --tls-cert/--tls-key) and the CA's
// one line (DIR/ca.b64) through :tillkit's rootCertificatesPem, as connected-test.sh passes it
// to OfflineSalesTest and tillkit.rootCertificate to the app. Plain HTTP is not allowed here.
package app.tillkit.tests

import app.tillkit.core.rootCertificatesPem
import app.tillkit.ffi.Connectivity
import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.useInMemoryKeychainForTests
import java.net.ServerSocket
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class MobileServerTlsTest {
    /** Runs tests/mobile-server.sh on a free port with `register`; stops the server after `block`. */
    private fun <T> withMobileServer(register: String, block: suspend (url: String, dir: Path) -> T): T {
        val binary = System.getProperty("tillkit.server")
            ?: throw IllegalStateException("-Dtillkit.server=<path to tillkit-server> is required")
        val dir = tempDir("mobile-server")
        try {
            for (attempt in 1..5) {
                // Another process may take the port between close and bind: try a few.
                val port = ServerSocket(0).use { it.localPort }
                val p = ProcessBuilder("tests/mobile-server.sh", dir.toString(), port.toString(), register)
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolveSibling(dir.fileName.toString() + ".log").toFile())
                    .also { it.environment()["TILLKIT_SERVER_BIN"] = binary }
                    .start()
                check(p.waitFor(120, TimeUnit.SECONDS)) { "tests/mobile-server.sh did not finish" }
                if (p.exitValue() == 0) return runBlocking { block("https://127.0.0.1:$port/", dir) }
                stop(dir)
            }
            throw IllegalStateException("tests/mobile-server.sh did not start a server")
        } finally {
            stop(dir)
            dir.deleteTree()
            Files.deleteIfExists(dir.resolveSibling(dir.fileName.toString() + ".log"))
        }
    }

    private fun stop(dir: Path) {
        val pid = dir.resolve("server.pid").toFile().takeIf { it.isFile }?.readText()?.trim() ?: return
        ProcessHandle.of(pid.toLong()).ifPresent { it.destroy(); it.onExit().get(10, TimeUnit.SECONDS) }
        Files.deleteIfExists(dir.resolve("server.pid"))
    }

    /** Runs `block` with a core on a fresh directory; the directory is removed even if opening fails. */
    private suspend fun withCore(prefix: String, url: String, roots: List<String>, block: suspend (TillkitCore) -> Unit) {
        val dir = tempDir(prefix)
        try {
            val core = open(dir, url, roots)
            try {
                block(core)
            } finally {
                core.shutdown()
                core.close()
            }
        } finally {
            dir.deleteTree()
        }
    }

    private suspend fun open(dir: Path, url: String, roots: List<String>): TillkitCore {
        useInMemoryKeychainForTests()
        return TillkitCore.open(
            CoreConfig(
                dataDir = dir.toString(),
                serverUrl = url,
                keychainService = "app.tillkit.tests",
                keychainAccount = "key-" + dir.fileName,
                allowHttpLoopback = false,
                rootCertificatesPem = roots,
            ),
        )
    }

    @Test
    fun a_sale_reaches_the_mobile_server_over_https_with_its_ca_given_as_one_line() =
        withMobileServer("R61") { url, server ->
            val oneLine = Files.readString(server.resolve("ca.b64"))
            assertEquals("one line, no PEM armour", 1, oneLine.lines().size)
            withCore("mobile-tls", url, rootCertificatesPem(oneLine)) { core ->
                val paired = core.pair(url, Files.readString(server.resolve("R61.code")).trim())
                assertEquals("R61", paired.registerId)
                core.login(paired.storeId, paired.registerId, "alice")
                eventually(30, "online with the catalogue") {
                    core.status().connectivity == Connectivity.ONLINE &&
                        runCatching { core.newCart().close() }.isSuccess
                }
                val receipt = core.newCart().use { cart ->
                    cart.addBarcode("5060000000031", "1")
                    core.completeSale(cart, listOf(cash(cart.totals().total))).receiptNo
                }
                core.syncNow()
                eventually(30, "sale $receipt uploaded") { core.status().pending == 0uL }
                assertTrue("no sale set aside", core.attentionSales(100u).isEmpty())
            }
        }

    @Test
    fun a_register_not_given_the_ca_does_not_pair_with_the_mobile_server() =
        withMobileServer("R62") { url, server ->
            withCore("mobile-tls-no-ca", url, rootCertificatesPem(null, "")) { core ->
                val e = expectThrows<TillkitException.Sync> {
                    runBlocking { core.pair(url, Files.readString(server.resolve("R62.code")).trim()) }
                }
                assertTrue("a certificate refusal: ${e.reason}", e.reason.contains("certificate", ignoreCase = true))
            }
        }
}
