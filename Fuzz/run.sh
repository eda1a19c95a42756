#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each on its seed corpus, one after the other.
#
#   Fuzz/run.sh                      build all, run each 10 minutes or 1,000,000 inputs
#   Fuzz/run.sh FuzzPickle FuzzPNG   only these
#   FUZZ_TIME=60 FUZZ_RUNS=100000 Fuzz/run.sh     shorter runs
#   FUZZ_BUILD_ONLY=1 Fuzz/run.sh    build only
#   Fuzz/run.sh --repro FuzzPNG FILE...   run a target once on saved inputs (no fuzzing)
#
# The build (Swift 6.3, Linux): SwiftPM, release, with the sanitizers on every Swift module:
#
#   swift build -c release --package-path Fuzz --product FuzzPickle \
#       -Xswiftc -sanitize=fuzzer,address
#
# -parse-as-library comes from the targets' settings (Package.swift). SwiftPM links each
# executable with `--defsym main=<Target>_main`, so libFuzzer's main() is never linked; each
# target defines <Target>_main and starts libFuzzer through LLVMFuzzerRunDriver (see
# Sources/CFuzzerDriver). The C shims and libjpeg/libpng are not instrumented (system
# libraries): coverage guidance comes from the Swift side.
#
# Output: the grown corpus in Fuzz/work/<target>/, the log in Fuzz/work/<target>.log, and any
# crash-/leak-/timeout-/oom- input in Fuzz/artifacts/<target>/ (all git-ignored). A finding
# becomes a regression test under Tests/ with its input in Tests/Fixtures/fuzz/.
set -uo pipefail
# Crashes go to libFuzzer's and ASan's handlers: the Swift runtime's own backtracer would
# otherwise take over a trapping process and symbolicate for a long time first.
export SWIFT_BACKTRACE=enable=no
caller="$PWD"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

targets_all=(FuzzPickle FuzzCheckpoint FuzzSafeTensors FuzzModelConfig FuzzJPEG FuzzPNG FuzzLabels)
corpus_of() {
    case "$1" in
        FuzzPickle) echo pickle ;; FuzzCheckpoint) echo checkpoint ;;
        FuzzSafeTensors) echo safetensors ;; FuzzModelConfig) echo modelconfig ;;
        FuzzJPEG) echo jpeg ;; FuzzPNG) echo png ;; FuzzLabels) echo labels ;;
        *) echo "unknown target $1" >&2; exit 2 ;;
    esac
}

build() {
    nice -n 10 swift build -c release --product "$1" -Xswiftc -sanitize=fuzzer,address
}

if [ "${1:-}" = "--repro" ]; then
    shift
    target="$1"; shift
    build "$target" >/dev/null || exit 1
    inputs=()
    for f in "$@"; do case "$f" in /*|-*) inputs+=("$f") ;; *) inputs+=("$caller/$f") ;; esac; done
    exec .build/release/"$target" -runs=1 -rss_limit_mb=2048 -timeout=10 "${inputs[@]}"
fi

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${targets_all[@]}")
time_s="${FUZZ_TIME:-600}"
runs="${FUZZ_RUNS:-1000000}"

for t in "${targets[@]}"; do
    corpus_of "$t" >/dev/null
    echo "== building $t"
    build "$t" || exit 1
done
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0

status=0
for t in "${targets[@]}"; do
    seeds="corpus/$(corpus_of "$t")"
    mkdir -p "work/$t" "artifacts/$t"
    echo "== fuzzing $t for ${time_s}s or $runs inputs (log: Fuzz/work/$t.log)"
    # rss/malloc limits: 2 GiB (ASan's shadow memory included); -timeout: one input may take
    # 10 s (unoptimised by ASan) before it counts as a hang; -len_control=0 lets inputs grow
    # to the seed sizes at once (the checkpoint seeds are 200 KB).
    nice -n 10 ".build/release/$t" "work/$t" "$seeds" \
        -max_total_time="$time_s" -runs="$runs" \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -len_control=0 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 > "work/$t.log" 2>&1
    rc=$?
    grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb|^Done|ERROR|SUMMARY" "work/$t.log" | sed "s/^/   /"
    if [ $rc -ne 0 ]; then
        echo "   $t stopped with status $rc: see Fuzz/work/$t.log and Fuzz/artifacts/$t/"
        status=1
    fi
done
exit $status
