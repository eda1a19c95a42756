#!/usr/bin/env bash
# Soak test: does a long run leak memory or file descriptors?
#
#   tools/soak.sh [--cli PATH] [--img 320] [--images 2000] [--eval-repeats 3] [--keep]
#
# 1. Makes N images (default 2,000) in a temporary folder from the BCCD photos
#    (../shared/datasets/bccd/images/*): each a copy of one photo resized to a different size
#    (0.3x to 1.6x, aspect changed up to 20%), one in five as PNG, with its label file (labels
#    are normalised, so they stay valid). Uses OpenCV from the project's .venv.
# 2. `yolov7 detect --img IMG --out DIR` over all of them, sampling the process's
#    resident memory (VmRSS in /proc/PID/status) and open descriptors (ls /proc/PID/fd) every
#    second, and the number of images reported so far (its "image i/N" lines).
# 3. `yolov7 eval --img IMG` over the same images as one split (one long process, sampled the
#    same way; eval prints no progress off a terminal, so "after 100 images" is taken at 5% of
#    the run time), then the real BCCD test split `--eval-repeats` times, each a fresh process:
#    peak RSS and mAP must be the same every time.
#
# Pass criteria (printed at the end): open descriptors do not grow (the fewest seen in the last
# tenth of the run is no more than in the tenth after image 100, and no sample is more than 4
# above that); for detect, RSS after all images within 10% of RSS after 100. eval must keep every
# image's detections and match statistics until the end to compute mAP (as official test.py
# keeps its `stats`): up to 300 detections an image at conf 0.001, about 50 bytes each in memory.
# So its RSS may grow by up to 300 x 64 bytes an image, and no more. Exit status 1 on failure.
# Runs niced; about 5 minutes at --img 320 on 2 busy cores. Samples go to $OUT/*.tsv if set.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="$root/.build/release/yolov7"
img=320
count=2000
repeats=3
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cli) cli="$2"; shift 2 ;;
        --img) img="$2"; shift 2 ;;
        --images) count="$2"; shift 2 ;;
        --eval-repeats) repeats="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "usage: $0 [--cli PATH] [--img N] [--images N] [--eval-repeats N] [--keep]" >&2; exit 2 ;;
    esac
done
weights="$root/weights/yolov7-tiny-bccd.pt"
bccd="$root/../shared/datasets/bccd"
[ -x "$cli" ] || { echo "no CLI at $cli (swift build -c release, or pass --cli)" >&2; exit 2; }
[ -d "$bccd/images" ] || { echo "no BCCD dataset at $bccd" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/yolov7-soak.XXXXXX")"
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
echo "soak: working in $work"

# ---- 1. images
nice -n 10 "$root/.venv/bin/python" - "$bccd" "$work/data" "$count" <<'PY'
import random, shutil, sys
from pathlib import Path
import cv2
bccd, out, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
sources = sorted(p for p in (bccd / 'images').glob('*/*') if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))
(out / 'images' / 'test').mkdir(parents=True)
(out / 'labels' / 'test').mkdir(parents=True)
rng = random.Random(7)
for i in range(count):
    src = sources[i % len(sources)]
    im = cv2.imread(str(src))
    scale = rng.uniform(0.3, 1.6)
    aspect = rng.uniform(0.8, 1.2)
    w, h = max(8, round(im.shape[1] * scale * aspect)), max(8, round(im.shape[0] * scale))
    im = cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ext = '.png' if i % 5 == 4 else '.jpg'
    name = f'soak_{i:05d}_{src.stem}'
    cv2.imwrite(str(out / 'images' / 'test' / (name + ext)), im)
    label = bccd / 'labels' / src.parent.name / (src.stem + '.txt')
    if label.exists():
        shutil.copy(label, out / 'labels' / 'test' / (name + '.txt'))
print(f'soak: {count} images from {len(sources)} photos in {out}/images/test')
PY

# ---- sampling helpers
# sample PID TSV PROGRESS_CMD: one line a second "seconds rss_kb fds progress" while PID lives.
sample() {
    local pid=$1 tsv=$2 progress=$3 start rss fds
    start=$(date +%s.%N)
    printf 'seconds\trss_kb\tfds\tprogress\n' > "$tsv"
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
        [ -n "$rss" ] && printf '%s\t%s\t%s\t%s\n' "$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')" \
            "$rss" "$fds" "$(eval "$progress")" >> "$tsv"
        sleep 1
    done
}

# judge TSV LABEL MODE: compares the sample at "100 images" with the last one.
# MODE progress: the progress column counts images; MODE time: 100 images = 5% of the run.
judge() {
    python3 - "$1" "$2" "$3" "$count" <<'PY'
import sys
tsv, label, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = [l.rstrip('\n').split('\t') for l in open(tsv)][1:]
rows = [(float(t), int(r), int(f), int(p or 0)) for t, r, f, p in rows]
if len(rows) < 3:
    print(f'{label}: too few samples ({len(rows)})'); sys.exit(1)
if mode == 'progress':
    early = next((r for r in rows if r[3] >= 100), rows[0])
else:
    early = next((r for r in rows if r[0] >= rows[-1][0] * 100 / count), rows[0])
last = rows[-1]
peak_rss = max(r[1] for r in rows)
fd_after = [r[2] for r in rows if r[0] >= early[0]]
# Descriptors come and go as images are read and written (a sample may catch one or two in
# flight), so the baseline is the fewest seen in a window: the baseline of the last tenth of the
# run must not exceed that of the tenth after image 100 (one leaked descriptor an image would
# raise it by hundreds), and no sample may exceed that baseline by more than 4.
tenth = max(1, len(rows) // 10)
first_window = [r[2] for r in rows if r[0] >= early[0]][:tenth]
last_window = [r[2] for r in rows[-tenth:]]
fds_ok = min(last_window) <= min(first_window) and max(fd_after) <= min(first_window) + 4
growth = (last[1] - early[1]) / early[1]
per_image_kb = (last[1] - early[1]) / (count - 100)
if mode == 'progress':
    ok = abs(growth) <= 0.10 and fds_ok
    rule = 'within 10%'
else:
    ok = per_image_kb <= 300 * 64 / 1024 and fds_ok
    rule = f'{per_image_kb:.1f} KiB an image, allowance {300 * 64 / 1024:.2f}'
print(f'{label}: {len(rows)} samples over {last[0]:.0f} s; RSS after ~100 images {early[1] / 1024:.1f} MiB, '
      f'at the end {last[1] / 1024:.1f} MiB ({growth * 100:+.1f}%, {rule}), peak {peak_rss / 1024:.1f} MiB; '
      f'fds: baseline {min(first_window)} after ~100 images, {min(last_window)} in the last tenth, '
      f'max {max(fd_after)}, at the end {last[2]} -> {"PASS" if ok else "FAIL"}')
sys.exit(0 if ok else 1)
PY
}

status=0

# ---- 2. detect over all images
mkdir -p "$work/out"
echo "soak: detect --img $img over $count images"
# No --json: it keeps every detection for one file written at the end (memory that grows with
# the detections by design), which would hide a leak's growth in this comparison.
nice -n 10 "$cli" detect --weights "$weights" --img "$img" --out "$work/out" \
    "$work/data/images/test" > "$work/detect.log" 2>&1 &
pid=$!
sample "$pid" "$work/detect.tsv" "grep -c '^image ' '$work/detect.log'" &
wait "$pid" || { echo "detect failed:"; tail -5 "$work/detect.log"; status=1; }
wait
tail -1 "$work/detect.log"
judge "$work/detect.tsv" "detect" progress || status=1

# ---- 3. eval: one process over all images, then the real test split repeated
echo "soak: eval --img $img over the same $count images (one split)"
nice -n 10 "$cli" eval --weights "$weights" --data "$work/data" --img "$img" > "$work/eval.log" 2>&1 &
pid=$!
sample "$pid" "$work/eval.tsv" "echo 0" &
wait "$pid" || { echo "eval failed:"; tail -5 "$work/eval.log"; status=1; }
wait
grep -E "^ +all|ms per image" "$work/eval.log" || tail -3 "$work/eval.log"
judge "$work/eval.tsv" "eval" time || status=1

echo "soak: eval --img $img on the BCCD test split, $repeats fresh runs"
for i in $(seq 1 "$repeats"); do
    /usr/bin/time -f "%M" -o "$work/eval_time_$i" nice -n 10 "$cli" eval --weights "$weights" \
        --data "$bccd" --img "$img" > "$work/eval_$i.log" 2>&1 || status=1
    echo "  run $i: peak RSS $(( $(cat "$work/eval_time_$i") / 1024 )) MiB; $(grep -E '^ +all' "$work/eval_$i.log" | tr -s ' ')"
done

if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$work"/*.tsv "$OUT/"; fi
[ $status = 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit $status
