#!/usr/bin/env bash
# The project's whole test run: README.md's test command, which .ci/run calls after installing
# the Debian packages. Each step says what it checks; a step whose tools are missing on this
# machine says so and is skipped (CI installs them all, so nothing is skipped there).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== portability: x86 intrinsics and attributes only under __x86_64__, NEON only under __aarch64__"
tools/check_portable_c.sh

echo "== C kernel harness: every FP32 and int8 kernel at every level, here and for aarch64 under qemu"
tools/kernel_harness.sh

echo "== swift test (release)"
swift test -c release -Xswiftc -enable-testing

# The parity suites again with the kernels capped at each lower x86 level (the test binary is
# reused: no rebuild): forward passes against the official fixtures, Winograd and the other
# fast convs against the direct reference, every kernel against its plain form, the packed path,
# and the int8 suites (kernel against reference, exact codes; the whole int8 pass against the
# reference's codes) on that level's int8 product: avx2 runs AVX-VNNI where the CPU has it,
# avx2,no-vnni the vpmaddubsw one, baseline plain C. KernelDispatchTests fails if the cap did not apply.
parity='KernelDispatchTests|KernelLevelTests|ParityTests|PlannedForwardTests|SiblingFusionTests|WinogradTuningTests'
parity+='|ConvKernelTests|FeatureOpsTests|VectorEpilogueTests|ThreadedConvTests|WorkspaceOpsTests|WinogradTests'
parity+='|WinogradWeightTransformTests|StagedWeightTests|PointwiseKernelTests|PointwiseSiblingTests|Im2colTests'
parity+='|Winograd4Tests|WinogradStrideTwoTests|PackedDecodingTests'
int8='Int8ConvTests|U8MapTests|Int8ExecutionTests|Int8PassTests'
parity+="|$int8"
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
if [ "$(uname -m)" != x86_64 ]; then
  echo "== per-level parity runs skipped: not an x86-64 machine"
else
  for level in avx2 avx2,no-vnni baseline; do
    if [ "$level" != baseline ] && ! { [[ " $cpu_flags " == *" avx2 "* ]] && [[ " $cpu_flags " == *" fma "* ]]; }; then
      echo "== YOLOV7_ISA=$level skipped: this CPU has no AVX2 + FMA"
      continue
    fi
    # avx2,no-vnni changes only the int8 product: the FP32 suites ran at avx2 just before.
    suites=$parity
    if [ "$level" = avx2,no-vnni ]; then suites="KernelDispatchTests|$int8"; fi
    echo "== parity suites at YOLOV7_ISA=$level"
    YOLOV7_ISA=$level swift test -c release -Xswiftc -enable-testing --skip-build --filter "$suites"
  done
fi

echo "== compare --report in headless Chromium (desktop and phone widths)"
# The executable swift test built for CLITests (building it again with other flags would
# recompile everything).
[ -x .build/release/yolov7 ] || swift build -c release --product yolov7 > /dev/null
tools/check_report_browser.sh

echo "== Examples/: the library used from a package of its own"
(cd Examples && swift build -c release)
examples="$(Examples/.build/release/DetectImages)"
echo "$examples"
if [[ $(grep -c " objects: " <<<"$examples") -ne 4 ]]; then
  echo "Examples: expected one line for each of the 4 pictures in images/" >&2
  exit 1
fi

echo "== yolov7 serve: 2 replicas behind nginx, driven by wrk (tools/serve_cluster.sh)"
if command -v nginx >/dev/null && command -v wrk >/dev/null; then
  cluster="$(tools/serve_cluster.sh 2 --img 320 --connections 4 --duration 5)"
  echo "$cluster"
  # Every request answered 200, none failed or timed out.
  if ! grep -Eq "RESULT requests=[1-9][0-9]* .* statuses=200:[0-9]+ timeouts=0 errors=0" <<<"$cluster"; then
    echo "serve_cluster.sh: not every request was answered 200" >&2
    exit 1
  fi
else
  echo "skipped: nginx or wrk not installed (apt-get install nginx wrk)"
fi
