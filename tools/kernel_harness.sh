#!/usr/bin/env bash
# Builds the C kernels of Sources/CVectorMath with Tests/KernelHarness/harness.c and runs the
# harness: every FP32 kernel entry point, at every level the CPU runs and as dispatched, against
# the plain C version and direct forms (one line per case, "N passed, N failed" at the end).
#   - here, with the host's clang: every x86 level this CPU has, then capped by YOLOV7_ISA;
#   - for aarch64 with aarch64-linux-gnu-gcc (crossbuild-essential-arm64), under qemu-aarch64
#     (qemu-user): NEON and plain, on `-cpu max` (dotprod) and `-cpu cortex-a53` (no dotprod),
#     and with YOLOV7_ISA=plain.
# A part whose tools are missing is skipped with a message. Exit status 1 if any case fails.
# The int8 kernels (Int8GEMM.c) are not built here yet: their portable versions come next.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sources=(Sources/CVectorMath/{Dispatch,VectorMath,Decode,Pointwise,PointwiseAVX512,PointwiseAVX2,PointwiseNEON,Winograd4,WinogradWeights,Winograd4AVX512,Winograd4AVX2,Winograd4NEON,Pooling}.c)
# -ffp-contract=off: GCC ignores the kernels' `#pragma clang fp contract(off)`, and the epilogues
# must not fuse multiply-adds (they equal FastMath's arithmetic exactly).
flags=(-O2 -std=gnu11 -Wall -Werror -ffp-contract=off -ISources/CVectorMath -ISources/CVectorMath/include)
failed=0

run() {  # label, command...
  local label=$1; shift
  echo "-- $label"
  if "$@" > "$out/log" 2>&1; then
    grep -E '^(cpu:|PASS dispatch|FAIL)' "$out/log" || true
    tail -1 "$out/log"
  else
    cat "$out/log"
    echo "kernel harness FAILED: $label"
    failed=1
  fi
}

host_cc=${CC:-$(command -v clang || command -v cc || true)}
if [ -n "$host_cc" ] && [ "$(uname -m)" = x86_64 ]; then
  "$host_cc" "${flags[@]}" Tests/KernelHarness/harness.c "${sources[@]}" -lm -o "$out/harness-host"
  run "x86-64 ($host_cc), every level" "$out/harness-host"
  for level in avx2 baseline; do
    run "x86-64, YOLOV7_ISA=$level" env YOLOV7_ISA=$level "$out/harness-host" --expect $level
  done
else
  echo "-- x86-64 part skipped: no C compiler or not an x86-64 machine"
fi

if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  aarch64-linux-gnu-gcc "${flags[@]}" -march=armv8-a Tests/KernelHarness/harness.c "${sources[@]}" -lm \
    -o "$out/harness-arm64"
  qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
  run "aarch64 qemu -cpu max (dotprod)" "${qemu[@]}" -cpu max "$out/harness-arm64" --expect neon,dotprod
  run "aarch64 qemu -cpu cortex-a53 (no dotprod)" "${qemu[@]}" -cpu cortex-a53 "$out/harness-arm64" \
    --expect neon,no-dotprod
  run "aarch64 qemu -cpu max, YOLOV7_ISA=plain" env YOLOV7_ISA=plain "${qemu[@]}" -cpu max "$out/harness-arm64" \
    --expect plain,no-dotprod
else
  echo "-- aarch64 part skipped: needs aarch64-linux-gnu-gcc (crossbuild-essential-arm64) and qemu-aarch64 (qemu-user)"
fi

exit $failed
