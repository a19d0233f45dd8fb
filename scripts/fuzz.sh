#!/usr/bin/env bash
# fuzz.sh [SECONDS_PER_HARNESS] — builds the fuzz preset (clang, libFuzzer, ASan+UBSan)
# and runs every harness of tests/fuzz for a bounded time (default 6 s each, about a
# minute and a half for all), starting from the seed corpus tests/fuzz/corpus/<name>/.
# Fails on any crash, leak, sanitizer report or broken property; the input that did it
# is kept as build-fuzz/artifacts/<harness>-crash-*. What a run finds that is new goes
# to build-fuzz/corpus/<name>/ (kept between runs), never into the repository.
# Extra libFuzzer flags can be passed in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-runs=10000000).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-6}"
case "$secs" in
'' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS_PER_HARNESS]" >&2
    exit 2
    ;;
esac

echo "== build (preset fuzz)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)"

mkdir -p build-fuzz/artifacts
fail=0
for bin in build-fuzz/bin/fuzz_*; do
    name="$(basename "$bin")"
    seeds="tests/fuzz/corpus/${name#fuzz_}"
    work="build-fuzz/corpus/${name#fuzz_}"
    mkdir -p "$work"
    echo "== $name (${secs}s)"
    # The first folder collects new inputs; the seeds are only read.
    # shellcheck disable=SC2086
    if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/artifacts/$name-" ${FUZZ_FLAGS:-} "$work" "$seeds" \
        >"build-fuzz/$name.log" 2>&1; then
        echo "fuzz.sh: $name FAILED (log: build-fuzz/$name.log)" >&2
        grep -E "ERROR|FUZZ-PROPERTY|SUMMARY|Test unit written" "build-fuzz/$name.log" >&2 || true
        fail=1
        continue
    fi
    grep -E "^#[0-9]+[[:space:]]+DONE" "build-fuzz/$name.log" || tail -n 1 "build-fuzz/$name.log"
done

if [ "$fail" -ne 0 ]; then
    echo "fuzz.sh: FAILED" >&2
    exit 1
fi
echo "fuzz.sh: every harness ran ${secs}s without a crash"
