// The recovery promise through the bindings: a damaged database keeps answering the typed
// NeedsRecovery (an app that restarts sees it again), recovery salvages its sales still
// queued, and starting fresh is a separate call that keeps the damaged file listed.
package app.tillkit.tests

import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.keptDatabaseFiles
import app.tillkit.ffi.recoverDatabase
import app.tillkit.ffi.startFreshDatabase
import java.io.RandomAccessFile
import java.nio.file.Files
import java.nio.file.Path
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class RecoveryTest {
    private val sales = 120

    /** A closed core with `sales` sales queued; returns its data directory. */
    private fun closedWithSales(name: String): Path {
        val dir = tempDir(name)
        val core = openStocked(dir)
        repeat(sales) {
            core.newCart().use { cart ->
                cart.addProduct("p-bread", "1")
                core.completeSale(cart, listOf(cash("1.45")))
            }
        }
        core.shutdown()
        core.close()
        // The sync engine lets go of the database on a background thread: once it has,
        // the WAL is checkpointed into the file and removed.
        eventually(30, "the database to be closed") { !Files.exists(dir.resolve("tillkit.db-wal")) }
        return dir
    }

    private fun damagePage(dir: Path, page: Long) {
        RandomAccessFile(dir.resolve("tillkit.db").toFile(), "rw").use { f ->
            val at = (page - 1) * 4096 + 500
            f.seek(at)
            val b = f.read()
            f.seek(at)
            f.write(b xor 0xff)
        }
    }

    private fun pages(dir: Path) = Files.size(dir.resolve("tillkit.db")) / 4096

    private fun refusedTwice(dir: Path): TillkitException.NeedsRecovery {
        val first = assertThrows(TillkitException.NeedsRecovery::class.java) { openCore(dir) }
        val again = assertThrows(TillkitException.NeedsRecovery::class.java) { openCore(dir) }
        assertEquals("the same kept file is named after a restart", first.kept, again.kept)
        assertTrue(first.kept.single().contains("tillkit.db.damaged-"))
        return first
    }

    @Test
    fun a_damaged_database_keeps_refusing_until_recovery_salvages_its_sales_still_queued() {
        val dir = closedWithSales("recover")
        // Pages in the middle of the file: the sales and their queue rows fill most of it.
        for (page in pages(dir) / 2 until pages(dir) / 2 + 4) damagePage(dir, page)
        val refused = refusedTwice(dir)
        val report = recoverDatabase(coreConfig(dir))
        assertEquals("every sale is recovered or counted unreadable", sales.toULong(),
            report.salesRecovered + report.salesUnreadable)
        assertTrue(report.salesRecovered > 0uL)
        assertEquals(report.salesRecovered, report.queued)
        if (report.salesUnreadable > 0uL || report.queuedLost > 0uL) {
            assertFalse("a salvage that lost sales is not complete", report.complete)
        }
        assertEquals("every lost sale's receipt number is named", report.salesUnreadable,
            report.receiptsMissing.size.toULong())
        assertEquals(refused.kept, report.keptFiles)
        val core = openCore(dir)
        try {
            core.login(STORE, REGISTER, "alice")
            assertEquals(report.queued.toInt(), core.pendingSales(1000u).size)
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }

    @Test
    fun starting_fresh_is_its_own_call_and_the_damaged_file_stays_listed() {
        val dir = closedWithSales("fresh")
        damagePage(dir, 1)
        val refused = refusedTwice(dir)
        startFreshDatabase(coreConfig(dir))
        val core = openCore(dir)
        try {
            core.login(STORE, REGISTER, "alice")
            assertEquals(0, core.pendingSales(10u).size)
            assertEquals(refused.kept, keptDatabaseFiles(coreConfig(dir)))
            assertTrue(Files.exists(Path.of(refused.kept.single())))
        } finally {
            core.shutdown()
            core.close()
            dir.deleteTree()
        }
    }
}
