//! Replays the committed fuzz corpus (`tests/fuzz/corpus/server_request/`: seeds and every
//! crash input ever found) through the upload decoding and validation under the normal test
//! runner, so CI checks it without cargo-fuzz. The property lives in `tests/fuzz/src/server.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

#[path = "../../tests/fuzz/src/server.rs"]
mod server;

/// Seeds are hand-picked: a handful of small files, never libFuzzer's growth.
const MAX_FILES: usize = 50;
const MAX_FILE_BYTES: usize = 8 * 1024;

#[test]
fn every_upload_body_in_the_fuzz_corpus_is_decided_or_refused_with_a_typed_error() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/corpus/server_request");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty() && files.len() <= MAX_FILES,
        "{} corpus files",
        files.len()
    );
    let settings = server::Settings::new();
    let (mut failed, mut accepted) = (Vec::new(), 0);
    for path in &files {
        let bytes = std::fs::read(path).expect("corpus file");
        assert!(
            bytes.len() <= MAX_FILE_BYTES,
            "{}: {} bytes; seeds stay small",
            path.display(),
            bytes.len()
        );
        match catch_unwind(AssertUnwindSafe(|| {
            server::server_request(&settings, &bytes)
        })) {
            Ok(n) => accepted += n,
            Err(_) => failed.push(
                path.file_name()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned(),
            ),
        }
    }
    assert!(
        failed.is_empty(),
        "these corpus files break a promise: {failed:?}"
    );
    // Valid seeds keep the fuzzer starting past validation, in the tax recomputation.
    assert!(accepted > 0, "no seed reaches an accepted sale");
}
