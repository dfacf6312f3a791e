#!/usr/bin/env bash
# Compiles :ui-model (plain Kotlin, no Android SDK) and runs its JUnit 4 tests on the host
# JVM (see ../jvm-module-test.sh). Prints "N passed, M failed" last.
exec "$(dirname "$0")/../jvm-module-test.sh" ui-model
