#!/usr/bin/env bash
# Runs every fuzz target for SECONDS_PER_TARGET (default 60) and fails if any finds a crash.
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET]
# Env: FUZZ_SANITIZER (default address; `none` if the ASan runtime is unavailable),
#      FUZZ_TARGETS (default: all targets, space-separated).
set -uo pipefail

seconds="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
cd "$(dirname "$0")"
targets="${FUZZ_TARGETS:-catalog_import catalog_structured sync_response server_request}"

# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, coverage instrumentation); the
# stable toolchain accepts them with RUSTC_BOOTSTRAP and ships the sanitizer runtimes.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (a few minutes)..."
    cargo install cargo-fuzz --locked || exit 1
fi

echo "building fuzz targets (sanitizer: $sanitizer)..."
if ! cargo fuzz build -s "$sanitizer"; then
    echo "fuzz targets failed to build"
    echo "0 passed, $(wc -w <<<"$targets") failed"
    exit 1
fi

passed=0
failed=0
for target in $targets; do
    # New inputs libFuzzer finds go to corpus-work/ (ignored by git); the committed seeds
    # in corpus/ are only read.
    mkdir -p "corpus-work/$target" "artifacts/$target"
    log="artifacts/$target/last-run.log"
    echo "== $target: ${seconds}s"
    cargo fuzz run -s "$sanitizer" "$target" "corpus-work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -dict="$PWD/json.dict" -print_final_stats=1 >"$log" 2>&1
    status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ "$status" -eq 0 ]; then
        echo "   ok: ${runs:-?} runs, ${rate:-?} exec/s"
        passed=$((passed + 1))
    else
        echo "   FAILED (exit $status); log: tests/fuzz/$log"
        grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written to|Crash input' "$log" | head -20 | sed 's/^/   /'
        echo "   reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $target <artifact above>"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
