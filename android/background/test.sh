#!/usr/bin/env bash
# Compiles :background (plain Kotlin, no Android SDK) with :ui-model and runs its JUnit 4
# tests on the host JVM (see ../jvm-module-test.sh). Prints "N passed, M failed" last.
exec "$(dirname "$0")/../jvm-module-test.sh" background ui-model
