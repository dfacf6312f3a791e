// Plain Kotlin/JVM: when to ask for background upload, what a run's result means, and which
// network counts. No Android and no bindings, so it builds and tests without the SDK (test.sh).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // Startup problems decide whether a worker that could not open the core tries again.
    api(project(":ui-model"))
    testImplementation(libs.junit)
}
