#!/usr/bin/env bash
# Trains YOLOv7-tiny from scratch on a dataset in YOLO layout (images/{train,val,test},
# labels/..., data.yaml with nc and names) with the official YOLOv7 training code (PyPI
# yolov7-wky-package, torch 2.5.1, CPU), on train+val; `test` is never seen.
#
# Usage: [SEED=N] [INIT=FILE.pt] [RUN=DIR] tools/train.sh DATASET_DIR IMG EPOCHS OUT.pt
#   tools/train.sh ../shared/datasets/bccd 416 100 weights/yolov7-tiny-bccd-retrained.pt
#   tools/train.sh ../shared/datasets/aquarium 416 150 weights/yolov7-tiny-aquarium.pt
# SEED: the official train.py seeds everything with init_seeds(2 + rank); SEED=N makes that
#   init_seeds(N + 2 + rank) (unset: the official seed, as the shipped models).
# INIT=FILE.pt starts from that checkpoint's weights instead of from scratch (fine-tuning).
# RUN=DIR keeps the dataset copy and the official run folder there (default: a temporary
#   folder removed at the end), so that an interrupted run resumes: run the same command again
#   and it continues from DIR/runs/train/weights/last.pt with the official `--resume`.
# Settings (as the shipped BCCD model): cfg/training/yolov7-tiny.yaml, --weights '' (from
# scratch), data/hyp.scratch.tiny.yaml, --img-size IMG IMG, --batch-size 16, SGD, mosaic,
# default anchors, --notest, EMA weights, optimizer stripped (FP16).
# Time on the 2-core CPU: about 45 s an epoch for BCCD's 292 images at 416; it grows with the
# image count and with IMG squared.
# Needs the venv of tools/README.md at .venv.
set -euo pipefail
DATA=$(cd "${1:?dataset folder}" && pwd)
IMG=${2:-416}
EPOCHS=${3:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${4:?output .pt}
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac
PY=$ROOT/.venv/bin/python
SITE=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -n "${RUN:-}" ]; then
  mkdir -p "$RUN"
  WORK=$(cd "$RUN" && pwd)
else
  WORK=$(mktemp -d /tmp/yolov7-train.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi
NAME=$(basename "$DATA")

# The official loader writes label caches next to the labels: work on a copy (../shared is
# read-only). nc and names come from the dataset's data.yaml.
if [ ! -d "$WORK/$NAME/images" ]; then
  mkdir -p "$WORK/$NAME"
  cp -r "$DATA/images" "$DATA/labels" "$WORK/$NAME/"
fi
$PY - "$DATA/data.yaml" "$WORK/$NAME" "$WORK/data.yaml" <<'PYCODE'
import sys, yaml
src, root, dst = sys.argv[1:]
d = yaml.safe_load(open(src))
out = {'train': [f'{root}/images/train', f'{root}/images/val'], 'val': f'{root}/images/val',
       'test': f'{root}/images/test', 'nc': int(d['nc']), 'names': list(d['names'])}
yaml.safe_dump(out, open(dst, 'w'), sort_keys=False)
PYCODE

# Packaged-script bug: `import test` must find the official test.py, not Python's own `test`
# package, so the package's python_scripts folder goes first on PYTHONPATH.
cd "$WORK"
# Another seed: train.py imports init_seeds from utils.general, so patching it there before
# train.py runs changes the seed and nothing else.
cat > "$WORK/train_seeded.py" <<'PYCODE'
import os, runpy, sys
import utils.general as general
offset = int(os.environ.get("SEED", "0"))
official = general.init_seeds
general.init_seeds = lambda seed=0: official(seed + offset)
# The packaged train.py has no `if __name__ == "__main__"` block (its console script
# `yolov7_train` calls main()), so load it and call main() the same way.
sys.argv[0] = os.environ["TRAIN_PY"]
runpy.run_path(sys.argv[0], run_name="yolov7_train")["main"]()
PYCODE
LAST=$WORK/runs/train/weights/last.pt
if [ -f "$LAST" ]; then
  ARGS=(--resume "$LAST")
else
  ARGS=(--weights "${INIT:-}" --cfg "$SITE/cfg/training/yolov7-tiny.yaml" --data "$WORK/data.yaml"
        --hyp "$SITE/data/hyp.scratch.tiny.yaml" --img-size "$IMG" "$IMG" --batch-size 16
        --epochs "$EPOCHS" --notest --device cpu --workers 2 --project "$WORK/runs" --name train --exist-ok)
fi
TRAIN_PY="$SITE/python_scripts/train.py" SEED="${SEED:-0}" \
PYTHONPATH="$SITE/python_scripts:$SITE" $PY "$WORK/train_seeded.py" "${ARGS[@]}"

# last.pt holds the EMA model and the optimizer; strip it as the official code does for release.
PYTHONPATH="$SITE" $PY - "$LAST" "$OUT" <<'PYCODE'
import sys, shutil
from utils.general import strip_optimizer
shutil.copy(sys.argv[1], sys.argv[2])
strip_optimizer(sys.argv[2])
print("wrote", sys.argv[2])
PYCODE
