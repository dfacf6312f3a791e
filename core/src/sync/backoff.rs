//! Retry timing: exponential backoff with full jitter and a cap, the jitter source itself,
//! `Retry-After` parsing, and deadline arithmetic that saturates. It only computes delays; it
//! never sleeps or decides what is retryable, and nothing here can overflow or panic whatever
//! a header or config says.

use std::time::{Duration, SystemTime};

/// Exponential backoff with full jitter ("AWS full jitter"): delay = random(0, min(cap, base * 2^n)).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    jitter: Jitter,
}

/// Uniform random fractions for spreading retries (xorshift64, seeded by the OS): registers
/// that failed together must not retry together. Spread, not secrecy, is the point.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

/// The resolution of a jitter draw: one ten-thousandth of the range.
const JITTER_STEPS: u64 = 10_000;

impl Jitter {
    /// A generator seeded from the OS.
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        // Without randomness we still wait, just without spread.
        let _ = getrandom::fill(&mut seed);
        Jitter(u64::from_le_bytes(seed) | 1)
    }

    /// A duration drawn uniformly from `[0, d]`.
    pub fn up_to(&mut self, d: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        fraction(d, self.0 % (JITTER_STEPS + 1), JITTER_STEPS)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::new()
    }
}

impl Backoff {
    /// A backoff starting at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
            jitter: Jitter::new(),
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

    /// The delay before the next try. `retry_after` from the server is a floor, but never
    /// beyond the cap: a server (or a middlebox) cannot stop a register for longer.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = ceiling(self.base, self.cap, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let jittered = self.jitter.up_to(ceiling);
        match retry_after {
            Some(floor) => jittered.max(floor.min(self.cap)),
            None => jittered,
        }
    }
}

/// `min(cap, base * 2^attempt)`, saturating.
pub fn ceiling(base: Duration, cap: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(20)).min(cap)
}

/// `d * num / den` in integer nanoseconds (`Duration::mul_f64` panics near `Duration::MAX`).
fn fraction(d: Duration, num: u64, den: u64) -> Duration {
    let nanos = d.as_nanos() * u128::from(num) / u128::from(den.max(1));
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits.
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// The wait a `Retry-After` value asks for, at `now`: delay-seconds or an HTTP-date
/// (RFC 9110 §10.2.3). A date in the past is no wait; a value that parses as neither is
/// ignored (`None`). Absurd values are returned as they are: callers cap them.
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still a (very long) delay.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The instant `d` after `from`, or a year later when that cannot be represented: a
/// deadline from a config value or header never overflows.
pub fn deadline_after(from: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
    from.checked_add(d)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_under_the_cap_and_respect_retry_after_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..50 {
            assert!(b.next_delay(None) <= Duration::from_secs(2));
        }
        assert_eq!(b.attempts(), 50);
        assert!(b.next_delay(Some(Duration::from_secs(1))) >= Duration::from_secs(1));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(u64::MAX))),
            Duration::from_secs(2),
            "Retry-After never stops the register beyond the cap"
        );
        b.reset();
        assert!(b.next_delay(None) <= Duration::from_millis(100));
    }

    #[test]
    fn absurd_bases_caps_and_attempts_never_panic() {
        for (base, cap) in [
            (Duration::MAX, Duration::MAX),
            (Duration::ZERO, Duration::MAX),
            (Duration::MAX, Duration::ZERO),
            (Duration::from_nanos(1), Duration::from_nanos(1)),
        ] {
            let mut b = Backoff::new(base, cap);
            for _ in 0..100 {
                assert!(b.next_delay(Some(Duration::MAX)) <= cap);
            }
        }
        let now = tokio::time::Instant::now();
        assert!(deadline_after(now, Duration::MAX) > now);
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date_and_ignores_anything_else() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        let parse = |v: &str| parse_retry_after(v.as_bytes(), now);
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse("99999999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:51:37 GMT"),
            Some(Duration::from_secs(120))
        );
        // The obsolete forms recipients must accept, too.
        assert_eq!(
            parse("Sunday, 06-Nov-94 08:50:37 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse("Sun Nov  6 08:49:47 1994"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse("Sat, 05 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert!(parse("Fri, 31 Dec 9999 23:59:59 GMT").is_some_and(|d| d > Duration::ZERO));
        for garbage in ["", "-1", "1.5", "soon", "12 s", "0x10", "+5", "∞"] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
        assert_eq!(parse_retry_after(&[0xff, 0xfe], now), None);
    }
}
