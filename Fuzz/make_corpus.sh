#!/usr/bin/env bash
# Re-makes the seed corpora under Fuzz/corpus/<target>/ from the committed fixtures, plus the
# seeds of make_seeds.py (a small real checkpoint and its safetensors forms, which need the
# venv of tools/README.md and a built CLI). Run from anywhere; takes about 15 s.
#   Fuzz/make_corpus.sh [path/to/yolov7]    (default: .build-fuzz/release/yolov7)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${1:-$root/.build-fuzz/release/yolov7}"
corpus="$root/Fuzz/corpus"
fx="$root/Tests/Fixtures"
rm -rf "$corpus"
mkdir -p "$corpus"/{pickle,checkpoint,safetensors,modelconfig,jpeg,png,labels}

# checkpoint: whole .pt files, honest and hostile (the small ones).
cp "$fx"/checkpoint/*.pt "$corpus/checkpoint/"
for f in bad_crc big_endian builtins_eval cycle deflated ext_code missing_storage not_a_zip \
         os_system short_storage stride_overrun truncated shared_blowup; do
    cp "$fx/hostile/$f.pt" "$corpus/checkpoint/"
done

# pickle: the data.pkl of those checkpoints, and the plain pickles of every protocol.
cp "$fx"/checkpoint/*.pkl "$corpus/pickle/"
python3 - "$corpus" "$fx" <<'PY'
import sys, zipfile, pathlib
corpus, fx = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for pt in sorted(corpus.glob('checkpoint/*.pt')):
    try:
        z = zipfile.ZipFile(pt)
        name = next(n for n in z.namelist() if n.endswith('/data.pkl'))
        (corpus / 'pickle' / (pt.stem + '.pkl')).write_bytes(z.read(name))
    except Exception:
        pass  # the hostile zips that are not zips, or deflated
PY

# safetensors: the hostile headers (the honest files come from make_seeds.py).
cp "$fx"/hostile/*.safetensors "$corpus/safetensors/"

# modelconfig: the official tiny and yolov7 configs as they are, and all 15 at 1/16 width so
# that random weights stay under the harness's budget (make_seeds.py adds the flow form).
cp "$fx/model/cfg/training/yolov7-tiny.yaml" "$corpus/modelconfig/training-yolov7-tiny.yaml"
cp "$fx/model/cfg/deploy/yolov7.yaml" "$corpus/modelconfig/deploy-yolov7.yaml"
for f in "$fx"/model/cfg/training/*.yaml "$fx"/model/cfg/deploy/*.yaml; do
    kind="$(basename "$(dirname "$f")")"
    sed -E 's/^width_multiple: .*/width_multiple: 0.0625  # fuzz seed: 1\/16 width/' "$f" \
        > "$corpus/modelconfig/$kind-$(basename "$f" .yaml)-w16.yaml"
done

# images: the decoder fixtures (every JPEG and PNG variant the decoders support).
cp "$fx"/vision/decode/*.jpg "$corpus/jpeg/"
cp "$fx"/vision/decode/*.png "$corpus/png/"

# labels: a few real BCCD label files, a polygon file, and the odd forms the parser accepts.
labels=/work/shared/datasets/bccd/labels/train
[ -d "$labels" ] || labels="$root/../shared/datasets/bccd/labels/train"
if [ -d "$labels" ]; then
    ls "$labels" | head -4 | while read -r f; do cp "$labels/$f" "$corpus/labels/"; done
fi
printf '0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4 0.2 0.25\n' > "$corpus/labels/polygon.txt"
printf '\n  2\t0.25 0.75  1e-1 0.5  \r\n\n' > "$corpus/labels/spacing.txt"
: > "$corpus/labels/empty.txt"

"$root/.venv/bin/python" "$root/Fuzz/make_seeds.py" --cli "$cli" --out "$corpus"
du -sh "$corpus"/*
