//! Arbitrary bytes as a sales batch upload body, through the handler's decoding and the
//! per-sale validation.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tillkit_fuzz::server::{self, Settings};

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    server::server_request(SETTINGS.get_or_init(Settings::new), data);
});
