//! Arbitrary bytes as a catalogue payload, imported into one real encrypted till.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tillkit_fuzz::device::{self, Fixture};

// One till per process: opening SQLCipher per input would dominate the run.
static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    device::catalog_import(FIXTURE.get_or_init(Fixture::new), data);
});
