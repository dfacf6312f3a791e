package app.tillkit.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class StartupFailureTest {
    @Test
    fun a_missing_native_library_is_the_incomplete_app_screen_whatever_wraps_it() {
        val missing = UnsatisfiedLinkError("dlopen failed: library \"libtillkit_ffi.so\" not found")
        // First touch of the class: ExceptionInInitializerError; every later touch: NoClassDefFoundError.
        for (error in listOf(missing, ExceptionInInitializerError(missing), NoClassDefFoundError("app/tillkit/ffi/TillkitAndroid"))) {
            val failure = startupFailure(error)
            assertEquals(StartupProblem.Library, failure.problem)
            assertEquals("This copy of the register app is incomplete", failure.title)
            assertFalse("reloading the same APK cannot help", failure.canRetry)
        }
        val wrapped = startupFailure(RuntimeException("open failed", ExceptionInInitializerError(missing)))
        assertEquals(StartupProblem.Library, wrapped.problem)
        assertTrue(wrapped.detail, wrapped.detail.contains("libtillkit_ffi.so"))
    }

    @Test
    fun any_other_throwable_is_the_could_not_start_screen_with_its_chain_as_detail() {
        // What a panic inside the core arrives as: an exception type the app never declared.
        class InternalException(message: String) : Exception(message)
        val failure = startupFailure(IllegalStateException("startup", InternalException("index out of bounds")))
        assertEquals(StartupProblem.Unexpected, failure.problem)
        assertEquals("IllegalStateException: startup ← InternalException: index out of bounds", failure.detail)
        assertTrue(failure.canRetry)
    }

    @Test
    fun a_cause_chain_is_cut_after_four_and_blank_messages_show_only_the_type() {
        var error: Throwable = IllegalStateException()
        repeat(6) { error = RuntimeException("level $it", error) }
        val detail = startupFailure(error).detail
        assertEquals(4, detail.split(" ← ").size)
        assertEquals("IllegalStateException", startupFailure(IllegalStateException(" ")).detail)
    }

    @Test
    fun try_again_is_offered_unless_only_a_new_build_can_help_and_nothing_suggests_deleting_data() {
        val needsNewBuild = setOf(StartupProblem.Configuration, StartupProblem.Library, StartupProblem.NewerSchema)
        for (problem in StartupProblem.entries) {
            val failure = startupFailure(problem, "detail")
            assertEquals(problem.name, problem !in needsNewBuild, failure.canRetry)
            // The one sentence that names clearing and uninstalling forbids them.
            val words = (failure.title + " " + failure.advice)
                .replace("Do not clear the app's data or uninstall it", "").lowercase()
            assertFalse(problem.name, Regex("\\b(delete|clear|uninstall|reinstall|reset)\\b").containsMatchIn(words))
        }
    }

    @Test
    fun key_problems_say_the_database_is_kept_and_not_to_clear_data() {
        for (problem in listOf(StartupProblem.KeyMissing, StartupProblem.KeyMismatch, StartupProblem.KeyUnreadable)) {
            val advice = startupFailure(problem, "").advice
            assertTrue(advice, advice.contains("database is kept"))
            assertTrue(advice, advice.contains("Do not clear the app's data or uninstall it"))
        }
    }
}
