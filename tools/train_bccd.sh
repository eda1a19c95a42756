#!/usr/bin/env bash
# Re-trains the shipped model (weights/yolov7-tiny-bccd.pt) from ../shared/datasets/bccd with the
# official YOLOv7 training code (PyPI yolov7-wky-package, torch 2.5.1, CPU).
#
# Usage: [SEED=N] tools/train_bccd.sh [IMG=416] [EPOCHS=100] [OUT=weights/yolov7-tiny-bccd-retrained.pt]
# SEED: the official train.py seeds everything with init_seeds(2 + rank); SEED=N makes that
# init_seeds(N + 2 + rank) (unset: the official seed, as the shipped model).
# INIT=FILE.pt starts from that checkpoint's weights instead of from scratch (fine-tuning).
# Settings (as the shipped model): cfg/training/yolov7-tiny.yaml, --weights '' (from scratch),
# data/hyp.scratch.tiny.yaml, --img-size IMG IMG, --batch-size 16, SGD, mosaic, default anchors,
# --notest, trained on train+val (292 images), EMA weights, optimizer stripped (FP16).
# Time on this 2-core CPU: about 45 s an epoch at 416 (about 75 minutes for 100 epochs);
# roughly 2.4x that at 640.
# Needs the venv of tools/README.md at .venv.
set -euo pipefail
IMG=${1:-416}
EPOCHS=${2:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${3:-$ROOT/weights/yolov7-tiny-bccd-retrained.pt}
DATA=${BCCD:-$ROOT/../shared/datasets/bccd}
PY=$ROOT/.venv/bin/python
SITE=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
WORK=$(mktemp -d /tmp/yolov7-train.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The official loader writes label caches next to the labels: work on a copy (../shared is read-only).
mkdir -p "$WORK/bccd"
cp -r "$DATA/images" "$DATA/labels" "$WORK/bccd/"
cat > "$WORK/bccd.yaml" <<YAML
train: [$WORK/bccd/images/train, $WORK/bccd/images/val]
val: $WORK/bccd/images/val
test: $WORK/bccd/images/test
nc: 3
names: ['RBC', 'WBC', 'Platelets']
YAML

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
TRAIN_PY="$SITE/python_scripts/train.py" SEED="${SEED:-0}" \
PYTHONPATH="$SITE/python_scripts:$SITE" $PY "$WORK/train_seeded.py" \
  --weights "${INIT:-}" --cfg "$SITE/cfg/training/yolov7-tiny.yaml" --data "$WORK/bccd.yaml" \
  --hyp "$SITE/data/hyp.scratch.tiny.yaml" --img-size "$IMG" "$IMG" --batch-size 16 \
  --epochs "$EPOCHS" --notest --device cpu --workers 2 --project "$WORK/runs" --name bccd --exist-ok

# last.pt holds the EMA model and the optimizer; strip it as the official code does for release.
PYTHONPATH="$SITE" $PY - "$WORK/runs/bccd/weights/last.pt" "$OUT" <<'PYCODE'
import sys
from utils.general import strip_optimizer
strip_optimizer(sys.argv[1])
import shutil
shutil.copy(sys.argv[1], sys.argv[2])
print("wrote", sys.argv[2])
PYCODE
