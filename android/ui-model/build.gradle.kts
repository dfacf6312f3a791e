// Plain Kotlin/JVM: view state and wording, no Android and no generated bindings, so it
// also builds and tests without the Android SDK (see test.sh).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation(libs.junit)
}
