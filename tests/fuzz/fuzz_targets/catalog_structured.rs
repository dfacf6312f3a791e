//! Fuzz bytes as choices that build a catalogue payload colliding with the base catalogue,
//! imported like `catalog_import`: this one reaches the import transaction's late failures.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tillkit_fuzz::device::{self, Fixture};

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let json = device::catalog_payload_from_bytes(data);
    device::catalog_import(FIXTURE.get_or_init(Fixture::new), json.as_bytes());
});
