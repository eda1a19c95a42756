#!/usr/bin/env bash
# The per-level speed table of docs/PERFORMANCE.md ("Kernel levels"): yolov7-tiny and yolov7 at
# 640, FP32 and int8, at every kernel level this CPU runs, the levels alternating run by run
# (round 1: every level once, round 2: again, ...) so that a machine whose speed drifts slows all
# of them alike. Prints one markdown table: per model, precision and level the median over the
# rounds of each run's median latency and CPU time per pass, and the median over the rounds of
# each round's ratio to the first level.
#
#   tools/bench_levels.sh [--rounds 3] [--runs 5] [--warmup 2] [--threads 2] [--img 640]
#                         [--models tiny,yolov7] [--precisions fp32,int8] [--levels "avx512 avx2 ..."]
#                         [--int8-tiny FILE]
#
# Needs `swift build -c release` first. The models:
#   tiny   weights/yolov7-tiny-bccd.pt; int8 from a 4-bit affine per-filter file that stores its
#          activation ranges (--int8-tiny FILE, else made once into $TMPDIR with
#          `yolov7 quantize ... --calib ../shared/datasets/bccd`, a few minutes);
#   yolov7 random weights (Tests/Fixtures/model/cfg/training/yolov7.yaml); int8 requantizes them
#          to 8 bits and calibrates on two of images/.
# Levels default to every one the CPU has: avx512, avx2, avx2,no-vnni (int8 without AVX-VNNI;
# where the CPU has AVX-VNNI), baseline on x86-64; neon, neon,no-dotprod, plain on aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 runs=5 warmup=2 threads=2 img=640 models=tiny,yolov7 precisions=fp32,int8 levels="" int8_tiny=""
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --img) img=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --levels) levels=$2; shift 2 ;;
    --int8-tiny) int8_tiny=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench_levels: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

yolov7=.build/release/yolov7
[ -x $yolov7 ] || { echo "bench_levels: $yolov7 missing: run swift build -c release first" >&2; exit 1; }

if [ -z "$levels" ]; then
  flags=" $(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || true) "
  has() { [[ "$flags" == *" $1 "* ]]; }
  case $(uname -m) in
    x86_64)
      if has avx512f && has avx512dq && has avx512bw && has avx512vl; then levels+=" avx512"; fi
      if has avx2 && has fma; then levels+=" avx2"; if has avx_vnni; then levels+=" avx2,no-vnni"; fi; fi
      levels+=" baseline" ;;
    aarch64)
      levels="neon"; if has asimddp; then levels+=" neon,no-dotprod"; fi; levels+=" plain" ;;
    *) levels="plain" ;;
  esac
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [[ ",$models," == *,tiny,* && ",$precisions," == *,int8,* && -z "$int8_tiny" ]]; then
  int8_tiny=${TMPDIR:-/tmp}/yolov7-tiny-bccd-affine4-filter-calib$img.safetensors
  if [ ! -f "$int8_tiny" ]; then
    echo "making $int8_tiny (once)" >&2
    $yolov7 quantize --weights weights/yolov7-tiny-bccd.pt --scheme affine --bits 4 --granularity filter \
      --keep first,detect --calib ../shared/datasets/bccd --img "$img" --out "$int8_tiny" > "$out/quantize.log" 2>&1 \
      || { cat "$out/quantize.log" >&2; exit 1; }
  fi
fi

# The arguments of one model and precision.
case_args() {
  case $1:$2 in
    tiny:fp32) echo "--weights weights/yolov7-tiny-bccd.pt" ;;
    tiny:int8) echo "--weights $int8_tiny --precision int8" ;;
    yolov7:fp32) echo "--weights random --cfg Tests/Fixtures/model/cfg/training/yolov7.yaml" ;;
    yolov7:int8) echo "--weights random --cfg Tests/Fixtures/model/cfg/training/yolov7.yaml --precision int8 --calib images --calib-images 2" ;;
    *) echo "bench_levels: unknown model $1" >&2; exit 2 ;;
  esac
}

echo "levels:$levels; $rounds rounds of $runs runs ($warmup warm-up), $threads threads, ${img}x$img; load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)" >&2
for round in $(seq "$rounds"); do
  for model in ${models//,/ }; do
    for precision in ${precisions//,/ }; do
      for level in $levels; do
        json="$out/$model.$precision.$level.$round.json"
        # shellcheck disable=SC2046
        YOLOV7_ISA=$level $yolov7 bench $(case_args "$model" "$precision") --img "$img" --threads "$threads" \
          --runs "$runs" --warmup "$warmup" --json "$json" > "$out/log" 2>&1 || { cat "$out/log" >&2; exit 1; }
        echo "round $round: $model $precision $level: $(grep -m1 '^latency' "$out/log")" >&2
      done
    done
  done
done

python3 - "$out" "$models" "$precisions" "$levels" "$img" "$threads" "$rounds" <<'EOF'
import json, os, statistics, sys
out, models, precisions, levels, img, threads, rounds = sys.argv[1:]
levels, rounds = levels.split(), int(rounds)
# Ratios are taken round by round (a level against the first level of the same round, which ran
# just before it) and their median printed: a machine whose speed drifts moves both alike.
print(f"| model ({img}, {threads} threads) | " + " | ".join(levels) + " |")
print("|---|" + "---|" * len(levels))
for model in models.split(","):
    for precision in precisions.split(","):
        runs = {level: [json.load(open(os.path.join(out, f"{model}.{precision}.{level}.{r}.json")))
                        for r in range(1, rounds + 1)] for level in levels}
        base = runs[levels[0]]
        cells = []
        for level in levels:
            wall = statistics.median(r["median_ms"] for r in runs[level])
            cpu = statistics.median(r["cpu_ms"] for r in runs[level])
            kernels = runs[level][0].get("isa_int8") or runs[level][0]["isa"]
            ratio = ""
            if level != levels[0]:
                w = statistics.median(r["median_ms"] / b["median_ms"] for r, b in zip(runs[level], base))
                c = statistics.median(r["cpu_ms"] / b["cpu_ms"] for r, b in zip(runs[level], base))
                ratio = f" ({w:.2f}x; CPU {c:.2f}x)"
            cells.append(f"{wall:.0f} ms, CPU {cpu:.0f} ms{ratio} [{kernels}]")
        print(f"| {model} {precision} | " + " | ".join(cells) + " |")
EOF
