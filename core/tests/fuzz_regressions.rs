//! Replays the committed fuzz corpus (`tests/fuzz/corpus/`: seeds and every crash input
//! ever found) through the device-side fuzz properties under the normal test runner, so
//! CI checks them without cargo-fuzz. The properties live in `tests/fuzz/src/device.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

#[path = "../../tests/fuzz/src/device.rs"]
mod device;

/// Seeds are hand-picked: a handful of small files per target, never libFuzzer's growth.
const MAX_FILES: usize = 50;
const MAX_FILE_BYTES: usize = 8 * 1024;

/// Every file of one target's corpus, by name, checked to be a small hand-picked seed.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            (
                path.file_name()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{target}: empty corpus");
    assert!(
        files.len() <= MAX_FILES,
        "{target}: {} corpus files; keep at most {MAX_FILES}",
        files.len()
    );
    for (name, bytes) in &files {
        assert!(
            bytes.len() <= MAX_FILE_BYTES,
            "{target}/{name}: {} bytes; seeds stay small",
            bytes.len()
        );
    }
    files
}

/// Runs `check` on every file, names each one that panicked, and returns the results of
/// the others.
fn replay<T>(target: &str, mut check: impl FnMut(&[u8]) -> T) -> Vec<T> {
    let mut failed = Vec::new();
    let mut results = Vec::new();
    for (name, bytes) in corpus(target) {
        match catch_unwind(AssertUnwindSafe(|| check(&bytes))) {
            Ok(r) => results.push(r),
            Err(_) => failed.push(name),
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: these corpus files break a promise: {failed:?}"
    );
    results
}

#[test]
fn every_catalogue_in_the_fuzz_corpus_is_imported_exactly_or_refused_whole() {
    let fx = device::Fixture::new();
    let imported = replay("catalog_import", |bytes| device::catalog_import(&fx, bytes));
    // Seeds on both sides keep the fuzzer starting deep in the import and in validation.
    assert!(
        imported.contains(&true) && imported.contains(&false),
        "{imported:?}"
    );
}

#[test]
fn every_built_catalogue_in_the_fuzz_corpus_is_imported_exactly_or_refused_whole() {
    let fx = device::Fixture::new();
    let imported = replay("catalog_structured", |bytes| {
        device::catalog_import(&fx, device::catalog_payload_from_bytes(bytes).as_bytes())
    });
    assert!(
        imported.contains(&true) && imported.contains(&false),
        "{imported:?}"
    );
}

#[test]
fn every_server_answer_in_the_fuzz_corpus_decodes_or_errors_without_panicking() {
    replay("sync_response", device::sync_response);
}
