//! Arbitrary bytes as a server's answer: batch response, catalogue download, error body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tillkit_fuzz::device::sync_response(data));
