//! Outage probing: while the server does not answer, one cheap `GET /v1/health` every few
//! seconds, jittered, tells the engine when to upload again. It never uploads, never touches
//! the queue, never has more than one probe out, and never sends more than one per spacing,
//! however long the outage.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

use super::backoff::{Jitter, deadline_after};
use super::engine::{Shared, panic_text};
use super::error::SyncError;

/// Farther than any probe's timeout: "not by itself".
const FAR: Duration = Duration::from_secs(24 * 3600);

/// How one probe ended, and when it was sent.
pub(super) struct Probed {
    pub(super) sent_at: std::time::Instant,
    pub(super) result: Result<(), SyncError>,
}

/// The probe schedule of one outage.
pub(super) struct Prober {
    interval: Duration,
    jitter: Jitter,
    /// How long one probe waits for its answer: no longer than the probe interval, so that a
    /// probe lost in a path that swallows requests holds back the next one by little.
    timeout: Duration,
    /// When the next probe goes out (or, if one is still out then, as soon as it ends).
    pub(super) due: Instant,
    /// The probe not answered yet: at most one, so a register never piles requests onto a
    /// path or a server that is struggling.
    in_flight: JoinSet<Probed>,
    /// When each probe still out was sent.
    sent: Vec<(Id, std::time::Instant)>,
}

impl Prober {
    /// A schedule probing about every `interval`, each probe waiting at most `timeout` (or
    /// `interval`, if shorter) for its answer; nothing is due until `schedule_from_now`.
    pub(super) fn new(interval: Duration, timeout: Duration) -> Self {
        Prober {
            interval,
            timeout: timeout.min(interval),
            jitter: Jitter::new(),
            due: deadline_after(Instant::now(), interval),
            in_flight: JoinSet::new(),
            sent: Vec::new(),
        }
    }

    /// The wait before the next probe: uniform between half and one and a half intervals.
    /// Never shorter than half, so probing stays cheap; random, so registers that lost the
    /// server at the same moment spread out at once and stay spread.
    pub(super) fn spacing(&mut self) -> Duration {
        (self.interval / 2).saturating_add(self.jitter.up_to(self.interval))
    }

    /// The server just failed to answer: the first probe goes out one spacing from now.
    pub(super) fn schedule_from_now(&mut self) {
        let spacing = self.spacing();
        self.due = deadline_after(Instant::now(), spacing);
    }

    /// The server should be asked at once (a person pressed "sync now").
    pub(super) fn hurry(&mut self) {
        self.due = Instant::now();
    }

    /// Sends a probe if one is due and none is out, and schedules the next one from this
    /// one's start (not its end: a probe that hangs must not stretch the spacing beyond its
    /// own timeout).
    pub(super) fn send_if_due(&mut self, shared: &Arc<Shared>) {
        let now = Instant::now();
        if now < self.due || self.out() {
            return;
        }
        let sent_at = std::time::Instant::now();
        let shared = shared.clone();
        let timeout = self.timeout;
        let probe = async move {
            Probed {
                sent_at,
                result: shared.client.health_within(timeout).await,
            }
        };
        let handle = self
            .in_flight
            .spawn(probe.instrument(tracing::info_span!("health_probe")));
        self.sent.push((handle.id(), sent_at));
        let spacing = self.spacing();
        self.due = deadline_after(now, spacing);
    }

    /// True while a probe is out.
    pub(super) fn out(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// When the engine must next look at the schedule: the due time, or, while a probe is
    /// out, never by itself (its end wakes the engine, and the next probe goes out then if
    /// it is due).
    pub(super) fn wake_at(&self) -> Instant {
        if self.out() {
            deadline_after(Instant::now(), FAR)
        } else {
            self.due
        }
    }

    /// Waits until a probe ends. A probe task that panicked is logged and gives `None`: it
    /// is neither an answer nor evidence of an outage.
    pub(super) async fn next(&mut self) -> Option<Probed> {
        let ended = self.in_flight.join_next_with_id().await?;
        let id = match &ended {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        self.sent.retain(|(sent, _)| *sent != id);
        match ended {
            Ok((_, probed)) => Some(probed),
            Err(e) => {
                let text = if e.is_panic() {
                    panic_text(e.into_panic().as_ref())
                } else {
                    "cancelled".into()
                };
                tracing::error!(panic = %text, "health probe failed unexpectedly");
                None
            }
        }
    }

    /// The latest send time of a probe still unanswered that went out before `before`: it
    /// got no answer while a later one did, so it was lost in the outage.
    pub(super) fn unanswered_before(
        &self,
        before: std::time::Instant,
    ) -> Option<std::time::Instant> {
        self.sent
            .iter()
            .map(|(_, at)| *at)
            .filter(|at| *at <= before)
            .max()
    }

    /// Ends the outage's probing: probes still out are abandoned with their connections.
    pub(super) fn stop(&mut self) {
        // Dropping a JoinSet aborts its tasks; their answers no longer matter.
        self.in_flight = JoinSet::new();
        self.sent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_spaced_half_to_one_and_a_half_intervals_apart() {
        let interval = Duration::from_secs(5);
        let mut p = Prober::new(interval, interval);
        let draws: Vec<Duration> = (0..10_000).map(|_| p.spacing()).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= interval / 2 && *d <= interval * 3 / 2)
        );
        // Uniform: each fifth of the range holds about a fifth of the draws.
        let mut fifths = [0usize; 5];
        for d in &draws {
            let into = (*d - interval / 2).as_secs_f64() / interval.as_secs_f64();
            fifths[((into * 5.0) as usize).min(4)] += 1;
        }
        for count in fifths {
            assert!((1_600..=2_400).contains(&count), "{fifths:?}");
        }
        // Absurd intervals never overflow.
        let mut huge = Prober::new(Duration::MAX, Duration::MAX);
        assert!(huge.spacing() >= Duration::MAX / 2);
    }

    #[test]
    fn a_thousand_registers_losing_the_server_together_probe_spread_out() {
        // Each register's probe times over a minute-long outage that began at the same
        // moment for all: no second of it may see more than twice the average.
        let interval = Duration::from_secs(5);
        let mut per_second = vec![0u32; 60];
        let mut probes = 0u32;
        for _ in 0..1_000 {
            let mut p = Prober::new(interval, interval);
            let mut at = p.spacing();
            while at < Duration::from_secs(60) {
                per_second[at.as_secs() as usize] += 1;
                probes += 1;
                at += p.spacing();
            }
        }
        // The first half interval holds none: nobody probes right after the failure.
        assert!(per_second[..2].iter().all(|n| *n == 0));
        let mean = f64::from(probes) / 57.5;
        let busiest = per_second.iter().copied().max().unwrap_or_default();
        assert!(
            f64::from(busiest) <= 2.0 * mean,
            "busiest second {busiest}, mean {mean:.0}: {per_second:?}"
        );
        // About one probe per register per interval.
        assert!((11_000..=12_500).contains(&probes), "{probes}");
    }
}
