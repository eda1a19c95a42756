#!/usr/bin/env bash
# Issue 21's rule for the C kernels: <immintrin.h> and x86 intrinsics appear only inside
# `#if defined(__x86_64__)` blocks, <arm_neon.h> and NEON intrinsics only inside
# `#if defined(__aarch64__)` ones, `target` / `target_clones` attributes only inside one of the
# two, so the package compiles on any architecture. Checks every
# .c and .h under Sources/ by following the #if nesting; prints each offending line.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
while IFS= read -r -d '' file; do
  awk -v file="$file" '
    # A stack of the #if blocks we are in: 1 where the condition is an x86 guard, 2 an arm one.
    /^[ \t]*#[ \t]*if/ {
      kind = 0
      if ($0 ~ /^[ \t]*#[ \t]*if(def)?[ \t(]*(defined[ \t(]*)?__x86_64__/) kind = 1
      else if ($0 ~ /^[ \t]*#[ \t]*if(def)?[ \t(]*(defined[ \t(]*)?__aarch64__/) kind = 2
      stack[++depth] = kind
      next
    }
    /^[ \t]*#[ \t]*(elif|else)/ { stack[depth] = 0; next }
    /^[ \t]*#[ \t]*endif/ { depth--; next }
    {
      x86 = 0; arm = 0
      for (i = 1; i <= depth; i++) { if (stack[i] == 1) x86 = 1; if (stack[i] == 2) arm = 1 }
      line = $0
      sub(/\/\/.*/, "", line)
      if (!x86 && (line ~ /#[ \t]*include[ \t]*<(imm|x86|[a-z0-9]*mm)intrin\.h>/ ||
                   line ~ /_mm(256|512)?_[a-z]/ || line ~ /__builtin_ia32_/)) {
        printf "%s:%d: x86-only code outside an __x86_64__ guard: %s\n", file, NR, $0; bad = 1
      }
      # Target attributes name one architecture'"'"'s features: inside that architecture'"'"'s guard only.
      if (!x86 && !arm && line ~ /target(_clones)?[ \t]*\(/) {
        printf "%s:%d: target attribute outside an __x86_64__ or __aarch64__ guard: %s\n", file, NR, $0; bad = 1
      }
      # NEON intrinsics (vaddq_f32(, vdotq_s32(, ...) and vector types (int8x16_t, ...). No \< in
      # the patterns: mawk, Debian'"'"'s awk, does not know it.
      if (!arm && (line ~ /#[ \t]*include[ \t]*<arm_neon\.h>/ ||
                   line ~ /(^|[^A-Za-z0-9_])v[a-z0-9_]*_[suf](8|16|32|64)[ \t]*\(/ ||
                   line ~ /(^|[^A-Za-z0-9_])(u?int|float|poly)(8|16|32|64)x[0-9]+(x[0-9])?_t/)) {
        printf "%s:%d: NEON code outside an __aarch64__ guard: %s\n", file, NR, $0; bad = 1
      }
    }
    END { exit bad }
  ' "$file" || status=1
done < <(find Sources -name '*.[ch]' -print0 | sort -z)

if [ $status = 0 ]; then echo "ok: no x86 or NEON code outside its guard"; fi
exit $status
