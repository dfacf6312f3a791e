//! Sync latency after the path to the server is cut, the devices' network up: registers sell
//! a sale a second while the proxy in front of each goes silent (a dead shop line: nothing
//! answers, the device only sees timeouts); p50 and p95 of "path back -> queue empty" over 20
//! outages of 10 s to 3 min, with the default SyncConfig. `LINK=reset` resets every
//! connection instead (a line that refuses).
//! Run: cargo bench -p tillkit-e2e --bench path_outage
//! Quick check: OUTAGES=3 LONGEST_OUTAGE_SECS=20 cargo bench -p tillkit-e2e --bench path_outage
//! Last line: `path_outage_p95_ms: N`.

use tillkit_e2e::child::serve_if_child;
use tillkit_e2e::outage::{self, Kind};
use tillkit_e2e::proxy::Link;

fn main() {
    serve_if_child();
    let link = match std::env::var("LINK").as_deref() {
        Ok("reset") => Link::Reset,
        _ => Link::BlackHole,
    };
    outage::bench(Kind::Path(link), "path_outage_p95_ms");
}
