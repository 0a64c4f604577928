#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (fuzz/), on stable Rust: the sanitizer-coverage
# flags cargo-fuzz passes, given to rustc directly (only for the target, never build scripts).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target (default: all) for SECONDS (default: FUZZ_SECONDS or 20) starting from its
# checked-in seeds (fuzz/corpus/<target>), keeping what it learns in .cache/fuzz/corpus/<target>
# so later runs start further on. A crash, a failed check, a leak or a timeout fails the run:
# the input is saved in .cache/fuzz/artifacts/<target>/ and printed; check it in under
# fuzz/corpus/<target>/ with the fix so every `cargo test` replays it.
# scripts/test.sh runs this briefly; run it for hours with e.g. `scripts/fuzz.sh 3600 upload`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-20}}"
shift || true
all=(frame_json frame_proto http_request access_token upload store_records store_keys)
targets=("${@:-${all[@]}}")

triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="$PWD/target/fuzz"
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
echo "building fuzz targets (${targets[*]})"
cargo build --locked --release --manifest-path fuzz/Cargo.toml --target "$triple" \
    $(printf -- '--bin %s ' "${targets[@]}")

status=0
for t in "${targets[@]}"; do
    corpus=".cache/fuzz/corpus/$t"
    artifacts=".cache/fuzz/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    log="$(mktemp)"
    echo "fuzzing $t for ${seconds}s"
    if "$CARGO_TARGET_DIR/$triple/release/$t" "$corpus" "fuzz/corpus/$t" \
        -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
        grep -E "stat::(number_of_executed_units|new_units_added)|cov: " "$log" | tail -n 3
    else
        status=1
        echo "FUZZ FAILURE in $t:" >&2
        # The panic and libFuzzer's summary, without the backtrace frames.
        grep -vE '^#[0-9]|^ +[0-9]+: |^ +at ' "$log" | tail -n 25 >&2
    fi
    rm -f "$log"
done
exit "$status"
