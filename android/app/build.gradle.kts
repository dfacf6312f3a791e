// The cashier app: Jetpack Compose screens over :tillkit, with view state from :ui-model.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.compose)
}

// Development wiring from gradle.properties or -P (see README.md): only the server and, for a
// server with a private CA, that CA (one line, base64 DER: tests/mobile-server.sh writes it
// to DIR/ca.b64). The register and its token come from the pairing screen, never from the build.
fun tillkitProperty(name: String): String = "\"${providers.gradleProperty("tillkit.$name").getOrElse("")}\""

android {
    namespace = "app.tillkit.register"
    compileSdk = 36
    // The NDK that strips the packaged .so files: the one that built them (see :tillkit).
    ndkVersion = libs.versions.ndk.get()

    defaultConfig {
        applicationId = "app.tillkit.register"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        buildConfigField("String", "TILLKIT_SERVER_URL", tillkitProperty("serverUrl"))
        buildConfigField("String", "TILLKIT_ROOT_CERTIFICATE", tillkitProperty("rootCertificate"))
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"))
        }
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

dependencies {
    implementation(project(":tillkit"))
    // Background upload: WorkManager, the app-in-front signal, the notification it needs
    // on Android 11 and older.
    implementation(libs.androidx.work.runtime.ktx)
    implementation(libs.androidx.lifecycle.process)
    implementation(libs.androidx.core)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    // The pairing screen's Scan: Google Play services shows the camera and returns the QR
    // code's text, so the app asks for no camera permission.
    implementation(libs.play.services.code.scanner)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)
}
