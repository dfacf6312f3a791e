//! Seeded random fault schedules for the proxy: the same seed gives the same fault to the
//! n-th request, so a failing run can be replayed. It only picks faults; it checks nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::proxy::{Fault, Mangle, Schedule};

/// SplitMix64: small, seeded, reproducible; good enough to pick faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The kinds of fault a schedule picks from, one per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Forward,
    DropResponse,
    ResetMidRequest,
    ServerError,
    RateLimitedNow,
    RateLimitedOneSecond,
    Stall,
    TruncatedBody,
    MalformedJson,
    HtmlPage,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 10] = [
        Kind::Forward,
        Kind::DropResponse,
        Kind::ResetMidRequest,
        Kind::ServerError,
        Kind::RateLimitedNow,
        Kind::RateLimitedOneSecond,
        Kind::Stall,
        Kind::TruncatedBody,
        Kind::MalformedJson,
        Kind::HtmlPage,
    ];

    /// The proxy fault; a stall lasts `stall`, which should outlast the client's timeout.
    pub fn fault(self, stall: Duration) -> Fault {
        match self {
            Kind::Forward => Fault::Forward,
            Kind::DropResponse => Fault::DropResponse,
            Kind::ResetMidRequest => Fault::ResetMidRequest,
            Kind::ServerError => Fault::Answer {
                status: 500,
                retry_after: None,
            },
            Kind::RateLimitedNow => Fault::Answer {
                status: 429,
                retry_after: Some(0),
            },
            Kind::RateLimitedOneSecond => Fault::Answer {
                status: 429,
                retry_after: Some(1),
            },
            Kind::Stall => Fault::Stall(stall),
            Kind::TruncatedBody => Fault::Mangle(Mangle::TruncatedBody),
            Kind::MalformedJson => Fault::Mangle(Mangle::MalformedJson),
            Kind::HtmlPage => Fault::Mangle(Mangle::HtmlPage),
        }
    }
}

/// How often each kind is picked, relative to the others.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(Kind, u32)>);

impl Mix {
    /// Half the requests forwarded, the rest spread over every fault; the slow ones (a
    /// one-second Retry-After, a stall until the client's timeout) are rarer so thousands
    /// of sales still drain in seconds.
    pub fn chaos() -> Mix {
        Mix(vec![
            (Kind::Forward, 50),
            (Kind::DropResponse, 7),
            (Kind::ResetMidRequest, 7),
            (Kind::ServerError, 7),
            (Kind::RateLimitedNow, 5),
            (Kind::RateLimitedOneSecond, 1),
            (Kind::Stall, 2),
            (Kind::TruncatedBody, 7),
            (Kind::MalformedJson, 7),
            (Kind::HtmlPage, 7),
        ])
    }

    /// Mostly forwarded, 5% of the quick faults: a busy day, not a disaster.
    pub fn background() -> Mix {
        Mix(vec![
            (Kind::Forward, 95),
            (Kind::DropResponse, 1),
            (Kind::ResetMidRequest, 1),
            (Kind::ServerError, 1),
            (Kind::RateLimitedNow, 1),
            (Kind::TruncatedBody, 1),
        ])
    }

    fn pick(&self, rng: &mut Rng) -> Kind {
        let total: u64 = self.0.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut at = rng.below(total.max(1));
        for (kind, weight) in &self.0 {
            if at < u64::from(*weight) {
                return *kind;
            }
            at -= u64::from(*weight);
        }
        Kind::Forward
    }
}

/// What a schedule has picked so far: (kind, request method and path) in request order.
#[derive(Clone, Default)]
pub struct Picks(Arc<Mutex<Vec<(Kind, String)>>>);

impl Picks {
    /// How many times each kind was picked for a batch upload.
    pub fn upload_counts(&self) -> BTreeMap<Kind, usize> {
        let mut counts = BTreeMap::new();
        for (kind, path) in self.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if path.ends_with("/sales/batch") {
                *counts.entry(*kind).or_default() += 1;
            }
        }
        counts
    }

    /// Requests scheduled so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True before the first request.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A proxy schedule: the n-th request gets the n-th kind `mix` draws from `seed`. Every
/// request counts (health checks and catalogue pulls too), so those paths see faults as well.
pub fn schedule(seed: u64, mix: Mix, stall: Duration) -> (Schedule, Picks) {
    let picks = Picks::default();
    let log = picks.clone();
    let mut rng = Rng::new(seed);
    let schedule: Schedule = Box::new(move |method, path| {
        let kind = mix.pick(&mut rng);
        log.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((kind, format!("{method} {path}")));
        kind.fault(stall)
    });
    (schedule, picks)
}
