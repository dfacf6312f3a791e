// The long-shift promise: a till that makes thousands of carts and reopens its core many
// times neither crashes nor leaks file descriptors or threads.
package app.tillkit.tests

import app.tillkit.ffi.TillkitCore
import org.junit.Assert.assertEquals
import kotlinx.coroutines.runBlocking
import org.junit.Test

class ManyObjectsTest {
    @Test
    fun a_thousand_carts_are_freed_and_let_go_of_their_core() = runBlocking<Unit> {
        val dir = tempDir("carts")
        try {
            openStocked(dir).use { warmUp ->
                warmUp.newCart().close()
                warmUp.shutdown()
            }
            val fds = openFds()
            val threads = threadCount()
            val core = openStocked(dir)
            core.setNetworkAvailable(false)
            repeat(1000) { i ->
                val cart = core.newCart()
                val line = cart.addProduct("p-bread", "${i % 7 + 1}")
                cart.setQuantity(line, "2")
                assertEquals("2.90", cart.totals().total)
                // Half are freed explicitly, half are left to the garbage collector's cleaner.
                if (i % 2 == 0) cart.close()
            }
            core.newCart().use { cart ->
                cart.addProduct("p-bread", "1")
                assertEquals("1.45", core.completeSale(cart, listOf(cash("1.45"))).total)
            }
            // Without shutdown(), each cart keeps the core open: it closes only once all
            // 1,001 carts were freed.
            core.close()
            eventually(20, "every cart freed and the core closed ($fds fds, $threads threads)") {
                System.gc()
                openFds() <= fds + 2 && threadCount() <= threads + 2
            }
        } finally {
            dir.deleteTree()
        }
    }

    @Test
    fun fifty_cores_open_and_close_without_leaking_descriptors_or_threads() = runBlocking<Unit> {
        val dir = tempDir("cores")
        suspend fun cycle(n: Int): TillkitCore {
            val core = openCore(dir)
            core.login(STORE, REGISTER, "alice")
            if (n == 0) core.importCatalogJson(DEVICE_CATALOG)
            core.newCart().use { cart ->
                cart.addProduct("p-bread", "1")
                core.completeSale(cart, listOf(cash("1.45")))
            }
            core.status()
            core.shutdown()
            core.close()
            return core
        }
        try {
            cycle(0) // warm-up: loads the library and JVM classes
            val fds = openFds()
            val threads = threadCount()
            // Held, so that only shutdown/close can release them, not the garbage collector.
            val closed = (1..50).map { cycle(it) }
            // Runtime threads exit shortly after shutdown.
            eventually(15, "descriptors and threads back to their baseline ($fds fds, $threads threads)") {
                openFds() <= fds + 2 && threadCount() <= threads + 2
            }
            assertEquals(50, closed.size)
            val core = openCore(dir)
            core.login(STORE, REGISTER, "alice")
            assertEquals("every sale kept across reopenings", 51, core.pendingSales(100u).size)
            core.shutdown()
            core.close()
        } finally {
            dir.deleteTree()
        }
    }
}
