//! Retry timing: exponential backoff with full jitter and a cap, honouring Retry-After.
//! It only computes delays; it never sleeps or decides what is retryable.

use std::time::Duration;

/// Exponential backoff with full jitter ("AWS full jitter"): delay = random(0, min(cap, base * 2^n)).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A backoff starting at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        let mut seed = [0u8; 8];
        // Without randomness we still back off, just without jitter spread.
        let _ = getrandom::fill(&mut seed);
        Backoff {
            base,
            cap,
            attempt: 0,
            rng: u64::from_le_bytes(seed) | 1,
        }
    }

    /// Forget past failures (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next try; `retry_after` from the server is a floor.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(20));
        let ceiling = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jittered = ceiling.mul_f64((self.rng % 10_000) as f64 / 10_000.0);
        match retry_after {
            Some(floor) => jittered.max(floor),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_under_the_cap_and_respect_retry_after() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..50 {
            assert!(b.next_delay(None) <= Duration::from_secs(2));
        }
        assert_eq!(b.attempts(), 50);
        assert!(b.next_delay(Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        b.reset();
        assert!(b.next_delay(None) <= Duration::from_millis(100));
    }
}
