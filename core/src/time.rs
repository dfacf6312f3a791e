//! Wall-clock time as Unix milliseconds, the only time format stored or sent, and the boot
//! clock the offline limits count with. It never panics on a clock before 1970; such a clock reads as 0.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the device booted, counting time asleep, unaffected by anyone setting
/// the clock; `None` where the platform has no such clock. Linux and Android: `CLOCK_BOOTTIME`;
/// macOS and iOS: `CLOCK_MONOTONIC`, which on Darwin keeps counting while the device sleeps
/// (Rust's `Instant` does not, on either).
pub fn boot_ms() -> Option<i64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_BOOTTIME;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios"
    ))]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and CLOCK a clock id of this platform.
        let rc = unsafe { libc::clock_gettime(CLOCK, &mut ts) };
        if rc != 0 {
            return None;
        }
        // 32-bit Android has 32-bit fields; elsewhere the conversion does nothing.
        #[allow(clippy::useless_conversion)]
        Some(i64::from(ts.tv_sec) * 1000 + i64::from(ts.tv_nsec) / 1_000_000)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios"
    )))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_clock_exists_here_and_goes_forward() {
        let a = boot_ms().expect("a boot clock on this platform");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = boot_ms().expect("a boot clock on this platform");
        assert!(b - a >= 15, "{a} -> {b}");
    }
}
