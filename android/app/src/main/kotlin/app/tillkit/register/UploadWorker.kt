// Uploads queued sales while the register is not in front: WorkManager runs it (expedited when
// sales wait, periodically otherwise) and it drains through the app's one open core.
// Every decision (retry or not, which network to wait for) is :background's; the core decides
// what uploads.
package app.tillkit.register

import android.content.Context
import android.util.Log
import androidx.core.app.NotificationChannelCompat
import androidx.core.app.NotificationCompat
import androidx.core.app.NotificationManagerCompat
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.ForegroundInfo
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.OutOfQuotaPolicy
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import app.tillkit.background.DRAIN_BUDGET_MS
import app.tillkit.background.OPEN_BUDGET_MS
import app.tillkit.background.PERIODIC_INTERVAL_MINUTES
import app.tillkit.background.RETRY_BACKOFF_SECONDS
import app.tillkit.background.RunVerdict
import app.tillkit.background.UploadNetwork
import app.tillkit.background.UploadSchedule
import app.tillkit.background.afterOpenFailure
import app.tillkit.background.afterOpenTimeout
import app.tillkit.background.drainVerdict
import app.tillkit.core.TillkitAndroid
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeoutOrNull

class UploadWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {

    override suspend fun doWork(): Result {
        val app = applicationContext as RegisterApplication
        // A process started for this work opens the core in Application.onCreate: wait for it.
        val startup = withTimeoutOrNull(OPEN_BUDGET_MS) { app.startup.first { it !is Startup.Opening } }
        val verdict = when (startup) {
            null, Startup.Opening -> afterOpenTimeout(runAttemptCount)
            is Startup.Ready -> drain(startup.till)
            // Sales of a store without a token wait (NeedsAttention: done); any other store's go up.
            is Startup.NeedsPairing -> drain(startup.till)
            is Startup.Failed -> afterOpenFailure(startup.failure.problem, runAttemptCount).also {
                // The next run finds a fresh attempt to open, not this failure.
                if (it == RunVerdict.RetryLater) app.retryStartup()
            }
            // Only a person on the recovery screen can go on.
            is Startup.NeedsRecovery -> RunVerdict.Done
        }
        return when (verdict) {
            RunVerdict.Done -> Result.success()
            RunVerdict.RetryLater -> Result.retry()
        }
    }

    // A drain that throws (the core closed under it, a crash inside it) is logged and retried,
    // never a failure that would end this request for good; a stopped worker's cancellation
    // goes through.
    private suspend fun drain(till: TillkitAndroid): RunVerdict =
        drainVerdict(runAttemptCount, onError = { Log.w(TAG, "background upload failed; retrying later", it) }) {
            till.drainNow(DRAIN_BUDGET_MS)
        }

    /** Android 11 and older run expedited work as a foreground service, which shows this. */
    override suspend fun getForegroundInfo(): ForegroundInfo {
        val context = applicationContext
        val notifications = NotificationManagerCompat.from(context)
        notifications.createNotificationChannel(
            NotificationChannelCompat.Builder(CHANNEL_ID, NotificationManagerCompat.IMPORTANCE_LOW)
                .setName(context.getString(R.string.upload_channel))
                .build(),
        )
        val notification = NotificationCompat.Builder(context, CHANNEL_ID)
            .setSmallIcon(android.R.drawable.stat_notify_sync)
            .setContentTitle(context.getString(R.string.upload_notification))
            .setOngoing(true)
            .setSilent(true)
            .build()
        return ForegroundInfo(NOTIFICATION_ID, notification)
    }

    companion object {
        private const val TAG = "TillkitUpload"
        private const val CHANNEL_ID = "tillkit-upload"
        private const val NOTIFICATION_ID = 7301
        private const val PERIODIC_WORK = "tillkit-upload-periodic"
        private const val SOON_WORK = "tillkit-upload-soon"

        /** Asks WorkManager for [schedule]: the periodic work is updated in place, a one-off already enqueued is kept. */
        fun schedule(context: Context, schedule: UploadSchedule) {
            val workManager = WorkManager.getInstance(context)
            // WorkManager's CONNECTED waits for a network Android validated (JobScheduler's default
            // request, and its own tracker from API 26), which a shop LAN without internet never
            // is: with the server on the local network the runs wait for nothing (NOT_REQUIRED).
            val type = when (schedule.network) {
                UploadNetwork.Validated -> NetworkType.CONNECTED
                UploadNetwork.Any -> NetworkType.NOT_REQUIRED
            }
            val network = Constraints.Builder().setRequiredNetworkType(type).build()
            if (schedule.periodic) {
                workManager.enqueueUniquePeriodicWork(
                    PERIODIC_WORK,
                    // UPDATE, not KEEP: periodic work enqueued by an earlier build takes these
                    // constraints, keeping its schedule.
                    ExistingPeriodicWorkPolicy.UPDATE,
                    PeriodicWorkRequestBuilder<UploadWorker>(PERIODIC_INTERVAL_MINUTES, TimeUnit.MINUTES)
                        .setConstraints(network)
                        .build(),
                )
            }
            if (schedule.uploadSoon) {
                workManager.enqueueUniqueWork(
                    SOON_WORK,
                    ExistingWorkPolicy.KEEP,
                    OneTimeWorkRequestBuilder<UploadWorker>()
                        .setConstraints(network)
                        // Out of expedited quota it still runs, as ordinary work.
                        .setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST)
                        .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, RETRY_BACKOFF_SECONDS, TimeUnit.SECONDS)
                        .build(),
                )
            }
        }
    }
}
