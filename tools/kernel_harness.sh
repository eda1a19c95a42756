#!/usr/bin/env bash
# Builds the C kernels of Sources/CVectorMath with Tests/KernelHarness/harness*.c and runs the
# harness: every kernel entry point, FP32 and int8, at every level the CPU runs and as
# dispatched, against the plain C version and direct forms (one line per case, "N passed, N
# failed" at the end).
#   - here, with the host's clang: every x86 level this CPU has, then capped by YOLOV7_ISA
#     (avx2 with and without AVX-VNNI, baseline);
#   - for aarch64 with aarch64-linux-gnu-gcc (crossbuild-essential-arm64), under qemu-aarch64
#     (qemu-user): NEON and plain, on `-cpu max` (dotprod) and `-cpu cortex-a53` (no dotprod),
#     and with YOLOV7_ISA=plain; and every kernel file compiled for aarch64 by clang too (the
#     compiler of Apple platforms), where this clang can target it.
# A part whose tools are missing is skipped with a message. Exit status 1 if any case fails.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sources=(Sources/CVectorMath/*.c)
harness=(Tests/KernelHarness/harness.c Tests/KernelHarness/harness_int8.c)
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
  "$host_cc" "${flags[@]}" "${harness[@]}" "${sources[@]}" -lm -o "$out/harness-host"
  run "x86-64 ($host_cc), every level" "$out/harness-host"
  for level in avx2 avx2,no-vnni baseline; do
    case $level in
      avx2) int8=$(grep -qw avx_vnni /proc/cpuinfo 2>/dev/null && echo avx2-vnni || echo avx2) ;;
      avx2,no-vnni) int8=avx2 ;;
      *) int8=baseline ;;
    esac
    run "x86-64, YOLOV7_ISA=$level" env YOLOV7_ISA=$level "$out/harness-host" --expect "$level,int8=$int8"
  done
else
  echo "-- x86-64 part skipped: no C compiler or not an x86-64 machine"
fi

if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  aarch64-linux-gnu-gcc "${flags[@]}" -march=armv8-a "${harness[@]}" "${sources[@]}" -lm -o "$out/harness-arm64"
  qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
  run "aarch64 qemu -cpu max (dotprod)" "${qemu[@]}" -cpu max "$out/harness-arm64" --expect neon,dotprod,int8=neon-dotprod
  run "aarch64 qemu -cpu cortex-a53 (no dotprod)" "${qemu[@]}" -cpu cortex-a53 "$out/harness-arm64" \
    --expect neon,no-dotprod,int8=neon
  run "aarch64 qemu -cpu max, YOLOV7_ISA=neon,no-dotprod" env YOLOV7_ISA=neon,no-dotprod "${qemu[@]}" -cpu max \
    "$out/harness-arm64" --expect neon,no-dotprod,int8=neon
  run "aarch64 qemu -cpu max, YOLOV7_ISA=plain" env YOLOV7_ISA=plain "${qemu[@]}" -cpu max "$out/harness-arm64" \
    --expect plain,no-dotprod,int8=plain
else
  echo "-- aarch64 part skipped: needs aarch64-linux-gnu-gcc (crossbuild-essential-arm64) and qemu-aarch64 (qemu-user)"
fi

# Apple's compiler is clang: every kernel file must compile for aarch64 with it as well (no
# macOS SDK here, so Linux headers stand in for the system ones).
if [ -n "$host_cc" ] && [ -d /usr/aarch64-linux-gnu/include ] \
   && "$host_cc" --target=aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include -x c -c /dev/null -o /dev/null 2>/dev/null; then
  echo "-- aarch64 compile with $host_cc --target=aarch64-linux-gnu"
  compiled=0
  for file in "${sources[@]}"; do
    if "$host_cc" --target=aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include "${flags[@]}" -c "$file" \
         -o "$out/$(basename "$file").o"; then
      compiled=$((compiled + 1))
    else
      echo "kernel harness FAILED: $file does not compile for aarch64 with $host_cc"
      failed=1
    fi
  done
  echo "$compiled of ${#sources[@]} kernel files compile"
else
  echo "-- clang aarch64 compile skipped: no clang that targets aarch64-linux-gnu, or no aarch64 headers"
fi

exit $failed
