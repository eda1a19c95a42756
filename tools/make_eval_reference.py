#!/usr/bin/env python3
"""Reference evaluation figures from the official YOLOv7 test.py on the BCCD test split.

Writes OUT/official_eval.json (default OUT: Tests/Fixtures/detect): for img 416 and 640, the
official `test.test(...)` run on BCCD test with batch size 1, conf 0.001, IoU 0.65 (rect
inference, pad 0.5, multi-label NMS, as `python test.py --task test --batch-size 1`):
P, R, mAP@0.5, mAP@0.5:0.95 overall and per class, in the engine's eval JSON format
(DESIGN.md section 2) with precision/recall added per class:

  {"settings": {...},
   "416": {"mAP50", "mAP50_95", "precision", "recall", "images", "labels",
           "per_class": [{"class", "class_id", "labels", "AP50", "AP50_95", "precision", "recall"}]},
   "640": {...}}

How: the package's python_scripts folder goes first on sys.path so `import test` finds the
official test.py (not Python's own `test` package); its module-global `opt` (which the packaged
script never sets: the NameError bug in ../shared/weights/README.md) is set here; the official
`ap_per_class` is wrapped to capture the per-class figures test() only prints. The split is
copied to a temporary folder first, because the official loader writes a labels cache file next
to the labels. Model tracing is off (trace=False); plots off.

Usage:  .venv/bin/python tools/make_eval_reference.py [--out DIR] [--weights W] [--data-dir D]
Time:   about 2-4 minutes on 2 busy CPU cores (144 forward passes). Deterministic.
"""
import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from official_test_hooks import PerClassCapture, official_test_module  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / 'shared'
SIZES = [416, 640]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(REPO / 'Tests' / 'Fixtures' / 'detect'))
    ap.add_argument('--weights', default=str(SHARED / 'weights' / 'yolov7-tiny-bccd.pt'))
    ap.add_argument('--data-dir', default=str(SHARED / 'datasets' / 'bccd'))
    ap.add_argument('--split', default='test')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()

    import torch
    import yaml
    torch.set_num_threads(args.threads)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)

    official_test = official_test_module()
    data_dir = Path(args.data_dir)
    src_cfg = yaml.safe_load((data_dir / 'data.yaml').read_text())
    names = list(src_cfg['names'])
    capture = PerClassCapture(official_test)

    result = {'settings': {
        'generator': 'tools/make_eval_reference.py',
        'code': 'official test.test() from yolov7-wky-package 2024.9.23.1 (python_scripts/test.py)',
        'weights': Path(args.weights).name, 'data': f'BCCD {args.split} split', 'batch_size': 1,
        'conf_thres': 0.001, 'iou_thres': 0.65, 'rect': True, 'pad': 0.5, 'multi_label_nms': True,
        'v5_metric': False, 'trace': False,
        'torch': torch.__version__, 'numpy': np.__version__}}

    with tempfile.TemporaryDirectory(prefix='yolov7_eval_') as tmp:
        tmp = Path(tmp)
        for sub in ('images', 'labels'):
            shutil.copytree(data_dir / sub / args.split, tmp / 'bccd' / sub / args.split)
        split_dir = str(tmp / 'bccd' / 'images' / args.split)
        data_yaml = tmp / 'data.yaml'
        data_yaml.write_text(yaml.safe_dump({'train': split_dir, 'val': split_dir, 'test': split_dir,
                                             'nc': len(names), 'names': names}))
        for size in SIZES:
            official_test.opt = argparse.Namespace(
                device='cpu', project=str(tmp / 'runs'), name=f'img{size}', exist_ok=True, task=args.split,
                single_cls=False, batch_size=1, img_size=size, conf_thres=0.001, iou_thres=0.65)
            capture.calls.clear()
            (mp, mr, map50, map5095, *_), maps, _ = official_test.test(
                str(data_yaml), weights=args.weights, batch_size=1, imgsz=size, conf_thres=0.001,
                iou_thres=0.65, save_json=False, single_cls=False, augment=False, verbose=True,
                plots=False, trace=False, v5_metric=False)
            assert len(capture.calls) == 1
            per_class, nt = capture.per_class(names)
            n_images = len(list(Path(split_dir).glob('*.*')))
            result[str(size)] = {'mAP50': float(map50), 'mAP50_95': float(map5095), 'precision': float(mp),
                                 'recall': float(mr), 'images': n_images, 'labels': int(nt.sum()),
                                 'per_class': per_class}
            print(f'img {size}: P {mp:.3f} R {mr:.3f} mAP@0.5 {map50:.3f} mAP@0.5:0.95 {map5095:.3f}')

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    f = out / 'official_eval.json'
    f.write_text(json.dumps(result, indent=1) + '\n')
    print(f'wrote {f}')


if __name__ == '__main__':
    main()
