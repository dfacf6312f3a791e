// What the register shows when it cannot open: what happened, what to do, and the detail for
// support, for every failure. Wording only: it never retries, deletes or opens anything itself.
package app.tillkit.ui

/** Why the register could not open, as far as the app can tell. */
enum class StartupProblem {
    /** The database exists but the keychain holds no key for it. */
    KeyMissing,

    /** The keychain's key does not open the database. */
    KeyMismatch,

    /** A key is stored but this device cannot unwrap it (its keystore key did not come along). */
    KeyUnreadable,

    /** The database cannot be opened with its key; its files were kept for recovery. */
    NeedsRecovery,

    /** The database was written by a newer version of the app; it was not touched. */
    NewerSchema,

    /** The database's write-ahead log is gone while it held sales. */
    WalMissing,

    /** Another copy of the register (or a recovery) has the database open; it passes once that one closes. */
    Busy,

    /** The device storage is full. */
    StorageFull,

    /** The keychain could not be read (locked, unavailable). */
    Keychain,

    /** Any other storage failure. */
    Storage,

    /** This build's settings were refused (server address, certificates, pins). */
    Configuration,

    /** The core's native library is missing from this build or does not load on this device. */
    Library,

    /** Anything else, a crash inside the core included. */
    Unexpected,
}

/** The failure screen. [detail] is for support; [canRetry] offers "Try again". */
data class StartupFailure(
    val problem: StartupProblem,
    val title: String,
    val advice: String,
    val detail: String,
    val canRetry: Boolean,
)

/** Unsent sales may be on this device: never suggest anything that deletes app data. */
private const val KEEP_DATA = "Do not clear the app's data or uninstall it: unsent sales are on this device."

/** The screen for [problem]; [detail] is the technical description. */
fun startupFailure(problem: StartupProblem, detail: String): StartupFailure {
    val (title, advice) = when (problem) {
        StartupProblem.KeyMissing ->
            "The register's database key is missing" to "The database is kept, unopened. $KEEP_DATA Call support."
        StartupProblem.KeyMismatch ->
            "The database key does not match" to "The database is kept, unopened. $KEEP_DATA Call support."
        StartupProblem.KeyUnreadable ->
            "This device cannot unlock the register's key" to
                "The key was stored on another device or its keystore entry is gone. The database is kept. $KEEP_DATA Call support."
        StartupProblem.NeedsRecovery ->
            "The register's database needs recovery" to
                "Its files were kept. Try again to reach the recovery screen, which salvages the sales. $KEEP_DATA"
        StartupProblem.NewerSchema ->
            "This register's data is from a newer app version" to "Update the app; the data was not touched. $KEEP_DATA"
        StartupProblem.WalMissing ->
            "Part of the register's database is missing" to
                "Nothing was opened and every file was kept for recovery. $KEEP_DATA Call support."
        StartupProblem.Busy ->
            "The register's database is in use" to
                "Another copy of the register, or a recovery, has it open. Wait a moment, then try again. $KEEP_DATA"
        StartupProblem.StorageFull ->
            "The device storage is full" to "Free some space, then try again."
        StartupProblem.Keychain ->
            "The device's keychain could not be read" to "Unlock the device and try again. $KEEP_DATA"
        StartupProblem.Storage ->
            "The register's storage could not be opened" to "Try again. $KEEP_DATA If it happens again, call support."
        StartupProblem.Configuration ->
            "This build of the register is set up wrongly" to "Its server or certificate settings were refused. Call support."
        StartupProblem.Library ->
            "This copy of the register app is incomplete" to
                "Its core library did not load on this device. Install the app again over this copy. $KEEP_DATA"
        StartupProblem.Unexpected ->
            "The register could not start" to "Sales on this device are kept. Try again; if it happens again, call support."
    }
    // Opening again never changes the store (a damaged one keeps answering "needs recovery"
    // until a person recovers it), so "Try again" is offered wherever it can help.
    return StartupFailure(problem, title, advice, detail, canRetry = problem !in NO_RETRY)
}

/**
 * The screen for a failure the core did not type: a native library that would not load
 * (`UnsatisfiedLinkError`, or the class-initialisation errors that wrap it), a crash inside
 * the core, or anything else.
 */
fun startupFailure(error: Throwable): StartupFailure {
    val chain = generateSequence(error) { it.cause }.take(MAX_CAUSES).toList()
    val problem = if (chain.any { it is LinkageError }) StartupProblem.Library else StartupProblem.Unexpected
    val detail = chain.joinToString(" ← ") { e ->
        val name = e::class.simpleName ?: e.javaClass.name
        e.message?.takeIf { it.isNotBlank() }?.let { "$name: $it" } ?: name
    }
    return startupFailure(problem, detail)
}

/** Failures that opening again cannot cure: the build or the app version must change. */
private val NO_RETRY = setOf(StartupProblem.Configuration, StartupProblem.Library, StartupProblem.NewerSchema)

/** Causes shown in the detail line; a deeper chain adds nothing support can use. */
private const val MAX_CAUSES = 4
