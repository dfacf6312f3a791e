//! Android only: the JNI entry point that hands the app's Context to the keychain store.
//! It must run before `TillkitCore.open`; it cannot be compiled on hosts without an Android target.

use jni::JNIEnv;
use jni::objects::{JClass, JObject};

/// Called from Kotlin as `TillkitAndroid.initializeKeychain(context)`, declared in
/// `android/tillkit/.../TillkitAndroid.kt` as (`@JvmStatic` in the companion object makes it a
/// static method of the class `app.tillkit.core.TillkitAndroid`, hence this symbol's name):
///
/// ```kotlin
/// package app.tillkit.core
/// class TillkitAndroid private constructor(/* ... */) {
///     companion object {
///         init { System.loadLibrary("tillkit_ffi") }
///         @JvmStatic private external fun initializeKeychain(context: android.content.Context)
///     }
/// }
/// ```
///
/// It forwards to android-native-keyring-store, which records the JavaVM and a global
/// reference to the application context in `ndk-context` (later calls are ignored).
#[unsafe(no_mangle)]
pub extern "system" fn Java_app_tillkit_core_TillkitAndroid_initializeKeychain(
    env: JNIEnv,
    class: JClass,
    context: JObject,
) {
    android_native_keyring_store::Java_io_crates_keyring_Keyring_00024Companion_initializeNdkContext(
        env,
        class.into(),
        context,
    );
}
