//! The properties Tillkit's fuzz targets check, shared by the libFuzzer binaries in
//! `fuzz_targets/` and by the crates' `tests/fuzz_regressions.rs` (which include these
//! files by path, so CI replays the corpus without cargo-fuzz).

pub mod device;
pub mod server;
