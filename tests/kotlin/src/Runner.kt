// Runs the given JUnit 4 test classes, prints one line per test and the closing
// "N passed, M failed" line, and exits non-zero unless every test passed.
package app.tillkit.tests

import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val junit = JUnitCore()
    val failed = mutableSetOf<Description>()
    junit.addListener(object : RunListener() {
        override fun testFailure(failure: Failure) {
            failed += failure.description
            println("FAIL ${failure.description.displayName}")
            println(failure.trace.prependIndent("    "))
        }

        override fun testFinished(description: Description) {
            if (description !in failed) println("ok   ${description.displayName}")
        }
    })
    val result = junit.run(*args.map { Class.forName(it) }.toTypedArray())
    val failures = result.failureCount
    val passed = maxOf(0, result.runCount - failures)
    println("$passed passed, $failures failed")
    exitProcess(if (failures == 0 && passed > 0) 0 else 1)
}
