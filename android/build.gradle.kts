// Plugins are declared here once, with their versions, and applied in the modules.
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.android.library) apply false
    // Also sets the Kotlin version that AGP's built-in Kotlin compiles the Android modules with.
    alias(libs.plugins.kotlin.jvm) apply false
    alias(libs.plugins.kotlin.compose) apply false
}
