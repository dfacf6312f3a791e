//! Sync latency after a server outage, the devices' network up: registers sell a sale a
//! second while the server process is killed and started again on its address (connections
//! refused meanwhile); p50 and p95 of "server back -> queue empty" over 20 outages of 10 s
//! to 3 min, with the default SyncConfig.
//! Run: cargo bench -p tillkit-e2e --bench server_outage
//! Quick check: OUTAGES=3 LONGEST_OUTAGE_SECS=20 cargo bench -p tillkit-e2e --bench server_outage
//! Last line: `server_outage_p95_ms: N`.

use tillkit_e2e::child::serve_if_child;
use tillkit_e2e::outage::{self, Kind};

fn main() {
    // This binary is also the server it kills and restarts (see child.rs).
    serve_if_child();
    outage::bench(Kind::Server, "server_outage_p95_ms");
}
