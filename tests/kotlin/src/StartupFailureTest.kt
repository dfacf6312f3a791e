// The Android app's startup screen for the core's real refusals: the mapping in
// android/tillkit's Errors.kt, fed by errors the core itself raised on open.
package app.tillkit.tests

import app.tillkit.core.startupFailure
import app.tillkit.ffi.CoreConfig
import app.tillkit.ffi.TillkitCore
import app.tillkit.ffi.TillkitException
import app.tillkit.ffi.useInMemoryKeychainForTests
import app.tillkit.ui.StartupProblem
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.Test

class StartupFailureTest {
    @Test
    fun a_database_whose_key_is_missing_gets_the_key_missing_screen_with_try_again() = runBlocking<Unit> {
        val dir = tempDir("startup-key")
        try {
            openCore(dir).use { it.shutdown() }
            val e = expectThrows<TillkitException.KeyMissing> { openCore(dir, keychainAccount = "other") }
            val failure = e.startupFailure()
            assertEquals(StartupProblem.KeyMissing, failure.problem)
            assertTrue(failure.advice, failure.advice.contains("database is kept"))
            assertTrue(failure.canRetry)
            // Trying again with the right key opens it: the refusal touched nothing.
            openCore(dir).use { it.shutdown() }
        } finally {
            dir.deleteTree()
        }
    }

    @Test
    fun a_refused_setting_is_the_configuration_screen_without_try_again() = runBlocking<Unit> {
        val dir = tempDir("startup-config")
        try {
            useInMemoryKeychainForTests()
            val config = CoreConfig(
                dataDir = dir.toString(),
                serverUrl = "http://sync.tillkit.test/",
                keychainService = "app.tillkit.tests",
                keychainAccount = "key-" + dir.fileName,
            )
            val e = expectThrows<TillkitException.InvalidInput> { TillkitCore.open(config) }
            val failure = e.startupFailure()
            assertEquals(StartupProblem.Configuration, failure.problem)
            assertFalse("the same build would be refused again", failure.canRetry)
            assertTrue(failure.detail, failure.detail.contains("InvalidInput"))
        } finally {
            dir.deleteTree()
        }
    }
}
